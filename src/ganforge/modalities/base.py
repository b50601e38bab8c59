"""The interface every kind of data implements: a :class:`Modality` (does it accept the
data; its options, presets and flags; how its samples are written) and the :class:`Model`
it builds, which the training :class:`~ganforge.session.Session` drives step by step."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ganforge.distributed import Dist
from ganforge.errors import GanforgeError
from ganforge.run import RunDir
from ganforge.trainer import Trainer

# The trainer's parts, stored at a checkpoint's top level under their own names.
TRAINER_PARTS = (
    "generator", "discriminator", "g_optimizer", "d_optimizer", "noise", "rng", "ema",
    "g_scaler", "d_scaler", "instance_noise", "g_topk", "num_steps", "num_d_updates", "augment",
)  # fmt: skip
Batches = tuple[list[Tensor], list[Tensor] | None]  # n_critic real batches, their classes
Evaluation = tuple[Callable[[], dict[str, Any]], str]  # scores of the model now, ranking key


def trainer_state(state: dict[str, Any]) -> dict[str, Any]:
    """The trainer's parts of a checkpoint (an older version nested them in ``trainer``)."""
    if "trainer" in state:
        return state["trainer"]
    return {k: state[k] for k in TRAINER_PARTS if k in state}


class Model(ABC):
    """One kind of data's trainable model: a :class:`Trainer` with its data stream,
    schedules, previews and state. The session's loop calls, per step, :meth:`before_step`,
    :meth:`batches` and ``trainer.step``; at log steps :meth:`signals`; at the end
    :meth:`after_training` and :meth:`finish`.

    Attributes:
        trainer: the generator/discriminator pair and their optimizers.
        name: the data's name (the progress line's label).
        steps: the total number of steps.
        job: the torchrun job (or a single process).
    """

    trainer: Trainer
    name: str
    steps: int
    job: Dist
    threads: int  # the CPU threads asked for (0: choose by measurement)

    @property
    @abstractmethod
    def loop(self) -> Mapping[str, Any]:
        """The loop's settings: ``log_every``, ``ckpt_every``, ``ckpt_keep``,
        ``eval_every``, ``sample_every``, ``tensorboard``."""

    @property
    @abstractmethod
    def resumable(self) -> set[str]:
        """Settings that may differ between a run and its resumption."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Every setting of the run, resolved (config.json's ``config``)."""

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """config.json's content: ``config``, ``data``, ``version`` and more."""

    def step_timer(self) -> Callable[[], Callable[[], Any]] | None:
        """Makes a function that runs one training step of a copy of the trainer (for
        timing thread counts; see :func:`ganforge.threads.trainer_step`), or None when a
        step cannot be timed apart from the run."""
        return None

    def before_step(self, step: int) -> None:  # noqa: B027 (optional)
        """Sets the schedules (learning rates, annealing) for ``step``."""

    @abstractmethod
    def batches(self) -> Batches:
        """The step's real batches (and classes), where the networks are."""

    def signals(self) -> dict[str, float]:
        """Health signals of the generator at a log step (rank 0)."""
        return {}

    def evaluation(self) -> Evaluation | None:
        """The ``--eval-every`` scoring and the number that ranks checkpoints, or None."""
        return None

    def preview(self, path: Path, title: str) -> None:  # noqa: B027 (optional)
        """Draws the generator's current samples to ``path`` (``--sample-every``)."""

    def opened(self, run: RunDir) -> None:  # noqa: B027 (optional)
        """Writes what the run directory holds besides config.json (called once it exists)."""

    def after_training(self) -> None:  # noqa: B027 (optional)
        """Work after the last step that the final checkpoint holds (every rank)."""

    def finish(self, run: RunDir) -> None:  # noqa: B027 (optional)
        """The final pictures of a run directory (rank 0)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The whole training state, the trainer's parts at the top level under their
        own names (``generator``, ``discriminator``, ``ema``, ``g_optimizer``, ...)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned (or an older version's checkpoint)."""

    def check_resumable(self, run: RunDir, state: dict[str, Any]) -> None:  # noqa: B027
        """Refuses to resume ``run`` from ``state`` when its data or settings differ."""

    def rank_state(self) -> dict[str, Any]:
        """This process's own random streams (torchrun)."""
        trainer = self.trainer
        return {"noise": trainer.noise.state_dict(), "rng": trainer.rng.get_state()}

    @abstractmethod
    def sample(self, n: int, **options: Any) -> Any:
        """``n`` samples in the edge format."""


class Modality(ABC):
    """A kind of data: what it accepts, its options and flags, how it trains and writes.

    Adding a kind of data = one module with a subclass and one line in the registry
    (:data:`ganforge.modalities.MODALITIES`).
    """

    kind: str  # config.json's data kind, e.g. "points"

    @abstractmethod
    def accepts(self, data: Any, options: Mapping[str, Any]) -> bool:
        """Whether ``data`` (a name, path, array or frame) is of this kind."""

    @abstractmethod
    def option_names(self) -> set[str]:
        """The options (keyword arguments, flags) this kind takes."""

    def add_flags(self, parser: argparse.ArgumentParser, taken: set[str]) -> None:  # noqa: B027
        """Adds this kind's own ``train`` flags (those not in ``taken``) to ``parser``."""

    @abstractmethod
    def build(
        self,
        data: Any,
        options: Mapping[str, Any],
        *,
        networks: tuple[Any, Any] | None = None,
        optimizers: tuple[Any, Any] | None = None,
    ) -> Model:
        """A model for ``data`` with ``options`` (own ``networks`` and ``optimizers`` if
        given), ready to train."""

    @abstractmethod
    def load(self, run: RunDir, state: dict[str, Any], device: str, networks: Any) -> Model:
        """The model saved in ``run``'s checkpoint ``state``."""

    @abstractmethod
    def evaluate(self, model: Model, **options: Any) -> dict[str, Any]:
        """``ganforge eval``: the metrics of ``model``'s samples against its real data."""

    @abstractmethod
    def write_samples(self, samples: Any, path: Path, model: Model | None = None) -> None:
        """Writes samples (of ``model``, whose names some formats carry) to ``path`` in one
        of the formats of :attr:`outputs`."""

    outputs: tuple[str, ...] = (".npy",)  # file suffixes of ``ganforge sample -o``

    def check_output(self, path: Path) -> None:
        """Refuses a ``ganforge sample -o`` file of a kind this data cannot be written to."""
        if path.suffix.lower() not in self.outputs:
            raise GanforgeError(f"cannot write {path}: choose a {', '.join(self.outputs)} file")

    def summary(self, model: Model, out: Path) -> Iterable[str]:
        """The lines ``ganforge train`` prints when the run is written."""
        yield f"run written to {out}/ (samples/final.png, losses.png, metrics.jsonl, checkpoints/)"
