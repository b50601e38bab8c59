"""The trainer's parts that surround its two steps: the settings check, the wrappers
(DDP), the penalties of a discriminator update, the generator's loss, the classes of
conditional runs, the dry run, the read of an update's statistics with the non-finite
policy, and the state that a checkpoint holds.
:class:`ganforge.trainer.Trainer` builds on :class:`TrainerParts`."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError, NonFiniteError
from ganforge.losses import Loss, realness
from ganforge.noise import restore_rng
from ganforge.penalties import gradient_penalty, r1_penalty, r2_penalty
from ganforge.updates import PRECISIONS, clear_grads, frozen, match_layout


def check_settings(
    n_critic: int,
    g_steps: int,
    r1_every: int,
    d_l2: float,
    unrolled_steps: int,
    g_topk: float,
    precision: str,
    on_nonfinite: str,
    device: torch.device,
) -> None:
    """Refuses trainer settings out of range, with the allowed ones named."""
    if on_nonfinite not in ("stop", "skip"):
        raise GanforgeError(f"on_nonfinite must be 'stop' or 'skip', got {on_nonfinite!r}")
    if min(n_critic, g_steps, r1_every) < 1:
        raise GanforgeError(
            f"n_critic, g_steps and r1_every must be at least 1, "
            f"got {n_critic}, {g_steps} and {r1_every}"
        )
    if d_l2 < 0 or unrolled_steps < 0:
        raise GanforgeError(
            f"d_l2 and unrolled_steps must be 0 or more, got {d_l2} and {unrolled_steps}"
        )
    if not 0 < g_topk <= 1:
        raise GanforgeError(f"g_topk must be in (0, 1], got {g_topk}")
    if precision not in PRECISIONS:
        raise GanforgeError(
            f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}"
        )
    if precision == "fp16" and device.type != "cuda":
        raise GanforgeError("fp16 precision needs a CUDA device; use bf16 on the CPU")


class TrainerParts:
    """What :class:`~ganforge.trainer.Trainer` needs besides its steps (see there)."""

    generator: nn.Module
    discriminator: nn.Module
    loss: Loss
    r1_gamma: float
    r1_every: int
    r2_gamma: float
    num_d_updates: int
    g_topk: float
    rng: torch.Generator
    _last_real: Tensor | None
    _last_labels: Tensor | None
    _critic: Callable[..., Tensor]
    _wrapped: tuple[nn.Module, nn.Module] | None
    precision: str
    on_nonfinite: str
    num_skipped: int
    num_steps: int
    _records: list | None
    _bad: Tensor | None
    _found_inf: Tensor | None

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        """Trains each network through ``wrapper(network)``, e.g. DistributedDataParallel.

        The wrapped generator makes the batches that the generator update learns from,
        and the wrapped discriminator judges in the discriminator update; everywhere else
        (the frozen discriminator in the generator step, the generator's output for the
        discriminator step, sampling) the bare networks run, so a wrapper that averages
        gradients across processes sees only the network that is learning.
        """
        self._wrapped = (wrapper(self.generator), wrapper(self.discriminator))

    @property
    def _g_train(self) -> nn.Module:
        """What the generator learns through: its wrapper, or itself."""
        return self._wrapped[0] if self._wrapped is not None else self.generator

    @property
    def _d_train(self) -> nn.Module:
        """What the discriminator learns through: its wrapper, or itself."""
        return self._wrapped[1] if self._wrapped is not None else self.discriminator

    def _no_sync(self) -> AbstractContextManager:
        """Gradients of the discriminator accumulate locally until the next backward pass
        outside this context (no all-reduce when training across processes)."""
        no_sync = getattr(self._d_train, "no_sync", None)
        return no_sync() if no_sync is not None else nullcontext()

    def _autocast(self) -> AbstractContextManager:
        """Mixed-precision autocast for forward passes, or nothing in fp32. While a step
        is captured, without autocast's cache of cast weights, which a CUDA graph must not
        keep (PyTorch's documentation on graphs and autocast); the values are the same."""
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return nullcontext()
        cache = self._records is None
        return torch.autocast(self.noise.device.type, dtype=dtype, cache_enabled=cache)

    def _lazy(self, gamma: float) -> bool:
        """Whether this discriminator update applies a penalty of weight ``gamma``: R1 and
        R2 are on every ``r1_every``-th update (lazy regularisation)."""
        return gamma > 0 and self.num_d_updates % self.r1_every == 0

    def _r1(self, real: Tensor, real_logits: Tensor, use: bool) -> Tensor:
        """The (lazy) R1 penalty of this update, or 0."""
        if not use:
            return torch.zeros((), device=real_logits.device)
        return r1_penalty(real_logits, real, self.r1_gamma * self.r1_every)

    def _r2(self, fake: Tensor, fake_logits: Tensor) -> Tensor:
        """The (lazy) R2 penalty of this update, weighted like R1."""
        return r2_penalty(fake_logits, fake, self.r2_gamma * self.r1_every)

    def _gp(self, real: Tensor, fake: Tensor, labels: Tensor | None = None) -> Tensor:
        """The loss's gradient penalty, or 0; a conditional critic judges the mixtures of
        real and generated samples with the real samples' classes."""
        if self.loss.gp_weight == 0:
            return torch.zeros((), device=real.device)
        return gradient_penalty(
            lambda x: self._critic(x, train=True, y=labels),
            real,
            fake,
            self.loss.gp_weight,
            generator=self.rng,
        )

    def _g_loss(self, judged: Tensor) -> Tensor:
        """The generator's loss at the frozen discriminator's logits of its samples.

        A relativistic loss (RpGAN) pairs the i-th generated sample with the i-th sample of
        the real batch of the last discriminator update, which the frozen discriminator
        judges again here. Those real logits carry no graph: nothing of the generator
        reaches them, and the discriminator does not learn in this step (as in R3GAN's
        code, where its parameters are frozen and the real batch detached).
        """
        if not self.loss.relativistic:
            return self.loss.g_loss(fake=judged)
        if self._last_real is None:
            raise GanforgeError(
                f"the {self.loss.name} generator loss compares generated samples with the real "
                "batch of the last discriminator update, and there has been none yet: run a "
                "discriminator step first (d_first=True)"
            )
        if self.g_topk < 1:
            raise GanforgeError(
                f"top-k training (g_topk={self.g_topk}) drops generated samples from the "
                f"{self.loss.name} loss's real-generated pairs; use g_topk 1 with it"
            )
        with torch.no_grad():
            real_logits = self._critic(self._last_real, y=self._last_labels)
        return self.loss.g_loss(fake=judged, real=real_logits)

    def _read(
        self,
        network: str,
        params: list[Tensor],
        stats: dict[str, Tensor],
        num_losses: int,
    ) -> tuple[dict[str, float], bool]:
        """An update's statistics as floats, and whether the update may go ahead.

        ``stats`` are fp32 scalars: first the ``num_losses`` losses, then the gradient
        norm, then statistics that are only shown (the norm is listed last in the result).
        All are read in one transfer; the update may go ahead when the losses and the
        gradient norm among them are finite, which is decided on the values read, so the
        check adds no operation on the device. With fp16 the gradient scaler owns the
        gradients' check (an overflow there is routine and only lowers the scale), so only
        the losses are checked. If one is not finite: raises :class:`NonFiniteError`, or
        with ``on_nonfinite="skip"`` clears the gradients of ``params``, counts the skip
        and returns False.
        """
        checked = num_losses + (self.precision != "fp16")
        if self._records is not None:
            return self._defer(network, stats, num_losses, checked)
        floats = torch.stack(list(stats.values())).tolist()
        read = dict(zip(stats, floats, strict=True))
        norm = list(stats)[num_losses]
        read[norm] = read.pop(norm)  # last, where it always was in the logs
        if all(map(math.isfinite, floats[:checked])):
            return read, True
        if self.on_nonfinite == "stop":
            losses = {k: read[k] for k in list(stats)[:num_losses]}
            raise NonFiniteError(network, self.num_steps + 1, losses)
        clear_grads(params)
        self.num_skipped += 1
        return read, False

    def _defer(
        self, network: str, stats: dict[str, Tensor], num_losses: int, checked: int
    ) -> tuple[dict[str, float], bool]:
        """:meth:`_read` in device mode (while a step is captured): nothing is read. The
        statistics and a finite flag are recorded for the read after the replay, and the
        update goes ahead with a flag (``_found_inf``) that drops it in the kernel when a
        value is not finite; under ``"stop"`` the flag stays up for every later update of
        the step, which the eager step would never have reached."""
        values = torch.stack(list(stats.values()))
        ok = torch.isfinite(values[:checked]).all()
        bad = ~ok
        if self.on_nonfinite == "stop":
            bad = bad if self._bad is None else bad | self._bad
            self._bad = bad
        self._found_inf = bad.float()
        self._records.append((network, list(stats), num_losses, values, ok.float()))
        return {}, True

    @property
    def conditional(self) -> bool:
        """Whether the networks take classes (the noise draws them)."""
        return self.noise.num_classes > 0

    def _real_labels(self, labels: Tensor | None) -> Tensor | None:
        """The real batch's classes, checked against whether the trainer is conditional."""
        if self.conditional and labels is None:
            raise GanforgeError(
                "this trainer is class-conditional: give the real batches' classes "
                "(step(real, labels))"
            )
        if not self.conditional and labels is not None:
            raise GanforgeError("this trainer is not class-conditional; give no labels")
        return labels

    def check(self, real: Tensor, labels: Tensor | None = None) -> None:
        """A dry forward pass of both networks, so that a mismatch fails early and clearly.

        Nothing changes: no weights, no buffers, no random stream.
        """
        noise_state = self.noise.state_dict()
        try:
            with frozen(self.generator), frozen(self.discriminator), torch.no_grad():
                z, y = self.draw(real.shape[0])
                fake = self.generate(self.generator, z, y)
                if fake.shape[1:] != real.shape[1:]:
                    raise GanforgeError(
                        f"the generator makes samples of shape {tuple(fake.shape[1:])} but the "
                        f"data have shape {tuple(real.shape[1:])}; make its output match the data"
                    )
                try:
                    logits = self.judge(self.discriminator, fake, y)
                except RuntimeError as e:
                    raise GanforgeError(
                        f"the discriminator cannot take samples of shape {tuple(fake.shape[1:])}"
                        f" ({str(e).splitlines()[0]}); make its input match the data"
                    ) from None
                realness(logits)
        finally:
            self.noise.load_state_dict(noise_state)

    @property
    def sampling_generator(self) -> nn.Module:
        """The network to sample from: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.generator

    @property
    def _adaptive(self) -> bool:
        """Whether the augmentation has state of its own (ADA's probability)."""
        return hasattr(self.augment, "observe") and hasattr(self.augment, "state_dict")

    def state_dict(self) -> dict:
        """Everything needed to continue training exactly."""
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "noise": self.noise.state_dict(),
            "rng": self.rng.get_state(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "g_scaler": self.g_scaler.state_dict(),
            "d_scaler": self.d_scaler.state_dict(),
            "instance_noise": self.instance_noise,
            "g_topk": self.g_topk,
            "num_steps": self.num_steps,
            "num_d_updates": self.num_d_updates,
            # an adaptive augmentation's probability and statistics (ADA)
            **({"augment": self.augment.state_dict()} if self._adaptive else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        for optimizer, key in (
            (self.g_optimizer, "g_optimizer"),
            (self.d_optimizer, "d_optimizer"),
        ):
            optimizer.load_state_dict(state[key])
            match_layout(optimizer)
        same_device = self.noise.load_state_dict(state["noise"])
        same_device &= restore_rng(self.rng, state["rng"])
        self.streams_continued = same_device
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.g_scaler.load_state_dict(state.get("g_scaler", {}))
        self.d_scaler.load_state_dict(state.get("d_scaler", {}))
        self.instance_noise = float(state.get("instance_noise", self.instance_noise))
        self.g_topk = float(state.get("g_topk", self.g_topk))
        self.num_steps = int(state["num_steps"])
        self.num_d_updates = int(state["num_d_updates"])
        if self._adaptive and "augment" in state:
            self.augment.load_state_dict(state["augment"])
        if getattr(self, "_graphs", None) is not None:
            self._graphs.reset()  # the optimizer state is new memory: capture again
