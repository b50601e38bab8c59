"""The GAN facade: ``GAN(data, ...).fit()``, ``sample``, ``interpolate``, ``save`` and
``load``, for every kind of data. It picks the modality (:mod:`ganforge.modalities`),
lets it build the model, and hands the model to the training
:class:`~ganforge.session.Session`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.modalities import Modality, Model, modality_for, modality_named
from ganforge.modalities.custom import CUSTOM
from ganforge.run import RunDir
from ganforge.session import Callback, Session

log = logging.getLogger("ganforge")


class GAN:
    """A GAN with the estimator face: ``fit``, then ``sample``.

    Args:
        data: a built-in data set name, a file or folder path, an ``(N, d)`` array of
            points, a uint8 ``(N, H, W, C)`` array of pictures, or a table: a pandas
            DataFrame or a ``.csv`` file with a header (a plain numeric point set in a
            ``.csv`` file trains as points).
        generator, discriminator: your own ``nn.Module`` pair (the :class:`Trainer`
            contract: D returns one realness logit per sample), trained and saved as the
            built-in ones are; default: the data's built-in networks.
        g_optimizer, d_optimizer: optimizers over your networks' parameters (default:
            Adam with the configured rates).
        **options: any field of :class:`ganforge.config.TrainConfig` (``steps``,
            ``loss``, ``seed``, ...); unset ones come from the data set's preset. Tables
            take the fields of :class:`ganforge.tables.TableOptions`, the run settings of
            :data:`ganforge.tables.run.RUN_DEFAULTS`, the column kinds ``discrete``,
            ``continuous``, ``datetime``, ``key`` and ``text`` (lists of names),
            ``constraints`` (``["A <= B", "fixed: C, D"]``) and ``metadata`` (an SDV
            metadata file or dict).
    """

    def __init__(
        self,
        data: Any = None,
        *,
        generator: nn.Module | str | None = None,
        discriminator: nn.Module | str | None = None,
        g_optimizer: Any = None,
        d_optimizer: Any = None,
        **options: Any,
    ) -> None:
        self.data = data
        self.options = options
        self.networks: tuple[nn.Module, nn.Module] | None = None
        self.optimizers = (g_optimizer, d_optimizer)
        if isinstance(generator, nn.Module) or isinstance(discriminator, nn.Module):
            if not (isinstance(generator, nn.Module) and isinstance(discriminator, nn.Module)):
                raise GanforgeError("give both generator and discriminator as nn.Modules")
            self.networks = (generator, discriminator)
            self.options["net"] = CUSTOM
        elif generator or discriminator:  # MODULE:CALLABLE names
            self.options.update(generator=generator or "", discriminator=discriminator or "")
            self.options["net"] = CUSTOM

    def _data(self, X: Any, options: dict[str, Any]) -> Any:
        """The data to train on: ``X``, else the constructor's, else the default."""
        given = (X, self.data, options.pop("data", None))
        from ganforge.config import TrainConfig

        return next((d for d in given if d is not None), TrainConfig.data)

    def get_config(self, X: Any = None) -> Any:
        """The resolved configuration of points or pictures: defaults, presets, then the
        given options (``X``: the data given to :meth:`fit`, when it was given there)."""
        options = dict(self.options)
        data = self._data(X, options)
        modality = modality_for(data, options)
        if not hasattr(modality, "make_config"):
            raise GanforgeError(f"{modality.kind} runs have no TrainConfig; see the options")
        return modality.make_config(data, options)

    def fit(
        self,
        X: Any = None,
        *,
        discrete_columns: Sequence[str] | None = None,
        continuous_columns: Sequence[str] | None = None,
        out: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        progress: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> GAN:
        """Trains; with ``out``, writes a run directory as it goes. Returns ``self``.

        ``discrete_columns`` and ``continuous_columns`` force the kind of a table's columns.
        ``callbacks`` are called with every logged record (the fields of metrics.jsonl);
        :attr:`history_` holds them all afterwards, with or without ``out``.
        """
        options = dict(self.options)
        if discrete_columns:
            options["discrete"] = list(discrete_columns)
        if continuous_columns:
            options["continuous"] = list(continuous_columns)
        data = self._data(X, options)
        modality = modality_for(data, options)
        optimizers = self.optimizers if any(self.optimizers) else None
        model = modality.build(data, options, networks=self.networks, optimizers=optimizers)
        self.modality_, self.model_ = modality, model
        session = Session(model, RunDir(out) if out is not None else None, progress=progress,
                          callbacks=callbacks)  # fmt: skip
        start = session.open(resume=resume, overwrite=overwrite)
        job = model.job
        if job.active and job.is_main:
            batch = model.config_.batch_size  # type: ignore[attr-defined]
            log.info("%d processes (%s): batch %d per process, %d in all",
                     job.world, job.backend, batch, batch * job.world)  # fmt: skip
        self.threads_ = session.threads
        self.history_ = pd.DataFrame(session.train(start))
        return self

    @property
    def model(self) -> Model:
        """The fitted or loaded model; a clear error before :meth:`fit` or :meth:`load`."""
        if "model_" not in self.__dict__:
            raise GanforgeError("this GAN is not fitted; call fit() or GAN.load() first")
        return self.model_

    def __getattr__(self, name: str) -> Any:
        # the model's learned attributes (trainer_, config_, source_, data_info_, best_, ...)
        if name.endswith("_") and not name.startswith("_") and "model_" in self.__dict__:
            model = self.__dict__["model_"]
            if name == "trainer_":
                return model.trainer
            if hasattr(model, name):
                return getattr(model, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def kind(self) -> str:
        """The kind of data: ``points``, ``pictures`` or ``table``."""
        return self.model.data_info_["kind"]  # type: ignore[attr-defined]

    @property
    def is_pictures(self) -> bool:
        """Whether this GAN makes pictures."""
        return self.kind == "pictures"

    @property
    def is_table(self) -> bool:
        """Whether this GAN makes table rows (a pandas DataFrame from :meth:`sample`)."""
        return self.kind == "table"

    def sample(self, n: int, seed: int | None = None, **options: Any) -> Any:
        """``n`` generated samples: float32 ``(n, d)`` points in data units, uint8
        ``(n, H, W, C)`` pictures, or a table's rows as a DataFrame.

        Samples come from the EMA generator when there is one, in eval mode; the same
        ``seed`` gives the same samples (``None``: the run's seed). Points and pictures
        take ``drs``, ``dot_steps``, ``jbt``, ``labels`` and ``sharp_critic`` (see
        :meth:`ganforge.sampling.Sampler.chunks`); tables take ``conditions``
        (``{column: value}``).
        """
        return self.model.sample(n, seed=seed, **options)

    def sample_chunks(self, n: int, seed: int | None = None, **options: Any) -> Iterator[Any]:
        """The samples of :meth:`sample`, a chunk at a time (points and pictures)."""
        return self.model.sampler().chunks(n, seed, **options)  # type: ignore[attr-defined]

    def interpolate(self, rows: int = 8, steps: int = 10, seed: int | None = None) -> np.ndarray:
        """A latent walk: ``rows`` pairs of random inputs, each joined in ``steps`` samples
        along the great circle (see :meth:`ganforge.sampling.Sampler.interpolate`)."""
        return self.model.sampler().interpolate(rows, steps, seed)  # type: ignore[attr-defined]

    def evaluate(self, **options: Any) -> dict[str, Any]:
        """The metrics of :func:`ganforge.evaluate.evaluate` for this GAN's samples."""
        return self.modality_.evaluate(self.model, **options)

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Writes the model as a run directory that :meth:`load` and the CLI read."""
        model = self.model
        run = RunDir(path)
        run.prepare(resume=False, overwrite=overwrite)
        run.write_config(model.info())
        run.save(model.trainer.num_steps, model.state_dict(), 1)

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str = "auto",
        checkpoint: str = "latest",
        *,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
    ) -> GAN:
        """Rebuilds a fitted GAN from a run directory: its ``latest`` checkpoint, or the
        ``best`` one kept by ``--eval-every``. A run of your own networks loads into the
        fresh ``generator`` and ``discriminator`` you pass (a run of ``--generator
        MODULE:CALLABLE`` networks rebuilds them itself)."""
        run = RunDir(path)
        info = run.read_config()
        state = run.checkpoint(checkpoint)
        modality: Modality = modality_named((info.get("data") or {}).get("kind", "points"))
        if (generator is None) != (discriminator is None):
            raise GanforgeError("give both generator and discriminator to GAN.load, or neither")
        networks = (generator, discriminator) if generator is not None else None
        gan = cls()
        gan.modality_ = modality
        gan.model_ = modality.load(run, state, device, networks)
        return gan


def evaluate(gan: GAN, **options: Any) -> dict[str, Any]:
    """Compares ``n`` generated samples with ``n`` samples of the training data (see
    :func:`ganforge.evaluate.evaluate` for points and pictures and
    :meth:`ganforge.modalities.tables.TableModel.evaluate` for tables)."""
    return gan.evaluate(**options)
