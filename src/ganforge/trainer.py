"""The trainer: the seed's generator step, the discriminator step, and their alternation."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import Tensor, nn

from ganforge.ema import EMA
from ganforge.errors import GanforgeError, NonFiniteError
from ganforge.losses import Loss, get_loss, realness
from ganforge.noise import Noise
from ganforge.penalties import clip_weights, gradient_penalty, r1_penalty


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Holds ``module`` fixed while the other network trains.

    Its parameters stop requiring grad, so no gradient is computed for them and their
    ``.grad`` stays as it was; its buffers (BatchNorm statistics, spectral-norm vectors)
    are put back bitwise on exit, whatever its forward passes did to them.
    """
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    buffers = list(module.buffers())
    saved = [b.clone() for b in buffers]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(buffers, saved, strict=True):
                b.copy_(s)
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Puts ``module`` in eval mode, and back in the mode it had on exit."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _dcgan_adam(module: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))


def _mean(t: Tensor) -> Tensor:
    return t.detach().float().mean()


def _match_layout(optimizer: torch.optim.Optimizer) -> None:
    """Gives each per-parameter state tensor its parameter's memory layout (strides).

    Checkpoints store tensors contiguous; a channels-last parameter's moments must be
    channels-last again, or a fused update would pair elements in different orders.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Trainer:
    """Trains any generator/discriminator pair with the course's alternating scheme.

    Args:
        generator: maps noise ``(N, *noise.shape)`` to data.
        discriminator: maps data to one realness logit per sample.
        noise: the random input.
        loss: a name from :data:`ganforge.losses.LOSSES` or a :class:`Loss`.
        g_optimizer: optimizer over the generator's parameters only
            (default: Adam, lr 2e-4, betas (0.5, 0.999), as in DCGAN).
        d_optimizer: optimizer over the discriminator's parameters only (same default).
        n_critic: discriminator updates per step.
        g_steps: generator updates per step.
        d_first: whether a step starts with the discriminator phase.
        r1_gamma: weight γ of the R1 penalty (0 turns it off).
        r1_every: apply R1 on every k-th discriminator update only, weighted by k
            (lazy regularisation, as in StyleGAN2), which saves most of its cost.
        ema: an :class:`EMA` of the generator, updated after every generator update.
        on_nonfinite: ``"stop"`` stops with :class:`NonFiniteError` when a loss or gradient
            is NaN or Inf, before the update; ``"skip"`` drops that update and goes on.
        joint_forward: score real and generated batches in one discriminator call (faster;
            only for discriminators without batch statistics such as BatchNorm, where two
            calls and one call compute the same).
        reuse_fake: with ``n_critic = g_steps = 1``, let the generator update reuse the
            batch that the discriminator update judged (one generator forward per step, as
            in the DCGAN example) instead of drawing a fresh one.
        augment: a differentiable augmentation ``(x, generator) -> x`` applied to every
            input of the discriminator, real and generated alike (e.g. DiffAugment).
        instance_noise: standard deviation of Gaussian noise added to every input of the
            discriminator (the course's remedy; the training loop may anneal it).
        precision: ``"fp32"``; ``"bf16"`` autocast (CPU and CUDA); ``"fp16"`` autocast with
            a gradient scaler per network (CUDA only).
        seed: seed of the trainer's own random draws (gradient-penalty mixing weights,
            augmentation, instance noise).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        noise: Noise,
        loss: str | Loss = "nonsaturating",
        g_optimizer: torch.optim.Optimizer | None = None,
        d_optimizer: torch.optim.Optimizer | None = None,
        n_critic: int = 1,
        g_steps: int = 1,
        d_first: bool = True,
        r1_gamma: float = 0.0,
        r1_every: int = 1,
        ema: EMA | None = None,
        joint_forward: bool = False,
        reuse_fake: bool = False,
        augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
        instance_noise: float = 0.0,
        precision: str = "fp32",
        on_nonfinite: str = "stop",
        seed: int = 0,
    ) -> None:
        if on_nonfinite not in ("stop", "skip"):
            raise GanforgeError(f"on_nonfinite must be 'stop' or 'skip', got {on_nonfinite!r}")
        if min(n_critic, g_steps, r1_every) < 1:
            raise GanforgeError(
                f"n_critic, g_steps and r1_every must be at least 1, "
                f"got {n_critic}, {g_steps} and {r1_every}"
            )
        if precision not in PRECISIONS:
            raise GanforgeError(
                f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}"
            )
        if precision == "fp16" and noise.device.type != "cuda":
            raise GanforgeError("fp16 precision needs a CUDA device; use bf16 on the CPU")
        self.generator = generator
        self.discriminator = discriminator
        self.noise = noise
        self.loss = get_loss(loss)
        self.g_optimizer = g_optimizer or _dcgan_adam(generator)
        self.d_optimizer = d_optimizer or _dcgan_adam(discriminator)
        self.n_critic = n_critic
        self.g_steps = g_steps
        self.d_first = d_first
        self.r1_gamma = r1_gamma
        self.r1_every = r1_every
        self.num_d_updates = 0
        self.ema = ema
        self.joint_forward = joint_forward
        self.reuse_fake = reuse_fake
        self.augment = augment
        self.instance_noise = instance_noise
        self.precision = precision
        scaled = precision == "fp16"
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=scaled)
        self.d_scaler = torch.amp.GradScaler("cuda", enabled=scaled)
        self.on_nonfinite = on_nonfinite
        self.num_skipped = 0
        self.rng = torch.Generator(noise.device).manual_seed(seed)
        self.num_steps = 0

    def check(self, real: Tensor) -> None:
        """A dry forward pass of both networks, so that a mismatch fails early and clearly.

        Nothing changes: no weights, no buffers, no random stream.
        """
        noise_state = self.noise.state_dict()
        try:
            with frozen(self.generator), frozen(self.discriminator), torch.no_grad():
                fake = self.generator(self.noise(real.shape[0]))
                if fake.shape[1:] != real.shape[1:]:
                    raise GanforgeError(
                        f"the generator makes samples of shape {tuple(fake.shape[1:])} but the "
                        f"data have shape {tuple(real.shape[1:])}; make its output match the data"
                    )
                try:
                    logits = self.discriminator(fake)
                except RuntimeError as e:
                    raise GanforgeError(
                        f"the discriminator cannot take samples of shape {tuple(fake.shape[1:])}"
                        f" ({str(e).splitlines()[0]}); make its input match the data"
                    ) from None
                realness(logits)
        finally:
            self.noise.load_state_dict(noise_state)

    def generator_step(self, batch_size: int, fake: Tensor | None = None) -> dict[str, float]:
        """One generator iteration: the seed's six steps, with the discriminator frozen.

        ``fake``, when given, is generator output made (with its graph) from fresh noise
        by the caller: steps 1 and 2 already done.
        """
        with frozen(self.discriminator):
            if fake is None:
                z = self.noise(batch_size)  # 1. sample random noise
                with self._autocast():
                    fake = self.generator(z)  # 2. produce generator output
            fake_logits = self._critic(fake)  # 3. D's "real" classification
            g_loss = self.loss.g_loss(fake=fake_logits)  # 4. loss from that classification
            self.g_optimizer.zero_grad(set_to_none=True)
            self.g_scaler.scale(g_loss).backward()  # 5. backpropagate through D and G
            if self._finite("generator", self.generator, self.g_scaler, g_loss=g_loss):
                self._update(self.g_optimizer, self.g_scaler)  # 6. change only G's weights
        stats = torch.stack([g_loss.detach(), _mean(fake_logits), _mean(fake_logits < 0)])
        return dict(zip(("g_loss", "d_fake", "acc_fake"), stats.tolist(), strict=True))

    def discriminator_step(self, real: Tensor, fake: Tensor | None = None) -> dict[str, float]:
        """One discriminator iteration: real data are positives, generated data negatives.

        The generator is fixed: its output is produced without a graph and its buffers are
        restored afterwards. ``fake``, when given, is a generated batch to judge instead; it
        is detached, so nothing flows into the generator.
        """
        if fake is None:
            with frozen(self.generator), torch.no_grad(), self._autocast():
                fake = self.generator(self.noise(real.shape[0]))
        fake = fake.detach().to(real.dtype)
        use_r1 = self.r1_gamma > 0 and self.num_d_updates % self.r1_every == 0
        if use_r1:
            real = real.detach().requires_grad_(True)
        self.d_optimizer.zero_grad(set_to_none=True)
        if self.joint_forward or not self.loss.separable:
            real_logits, fake_logits = self._score(real, fake)
            d_loss = self.loss.d_loss(real=real_logits, fake=fake_logits)
            penalty = self._r1(real, real_logits, use_r1) + self._gp(real, fake)
            self.d_scaler.scale(d_loss + penalty).backward()
        else:
            # The loss is a sum of a real and a generated half: backpropagating the real half
            # first frees its graph before the generated batch is judged, so one graph of
            # the discriminator is alive at a time. Each half's gradient is exact.
            real_logits = self._critic(real)
            zeros = torch.zeros_like(real_logits)
            r1 = self._r1(real, real_logits, use_r1)
            self.d_scaler.scale(self.loss.d_loss(real=real_logits, fake=zeros) + r1).backward()
            fake_logits = self._critic(fake)
            gp = self._gp(real, fake)
            self.d_scaler.scale(self.loss.d_loss(real=zeros, fake=fake_logits) + gp).backward()
            real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
            d_loss = self.loss.d_loss(real=real_logits, fake=fake_logits)
            penalty = r1.detach() + gp.detach()
        if self._finite(
            "discriminator", self.discriminator, self.d_scaler, d_loss=d_loss, penalty=penalty
        ):
            self._update(self.d_optimizer, self.d_scaler)
            if self.loss.clip_value is not None:
                clip_weights(self.discriminator, self.loss.clip_value)
        self.num_d_updates += 1
        stats = torch.stack(
            [
                d_loss.detach(),
                penalty.detach(),
                _mean(real_logits),
                _mean(fake_logits),
                _mean(real_logits > 0),
                _mean(fake_logits < 0),
            ]
        )
        keys = ("d_loss", "penalty", "d_real", "d_fake", "acc_real", "acc_fake")
        return dict(zip(keys, stats.tolist(), strict=True))

    def _r1(self, real: Tensor, real_logits: Tensor, use: bool) -> Tensor:
        """The (lazy) R1 penalty of this update, or 0."""
        if not use:
            return torch.zeros((), device=real_logits.device)
        return r1_penalty(real_logits, real, self.r1_gamma * self.r1_every)

    def _gp(self, real: Tensor, fake: Tensor) -> Tensor:
        """The loss's gradient penalty, or 0."""
        if self.loss.gp_weight == 0:
            return torch.zeros((), device=real.device)
        return gradient_penalty(self._critic, real, fake, self.loss.gp_weight, generator=self.rng)

    def _autocast(self) -> AbstractContextManager:
        """Mixed-precision autocast for forward passes, or nothing in fp32."""
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return nullcontext()
        return torch.autocast(self.noise.device.type, dtype=dtype)

    def _critic(self, x: Tensor) -> Tensor:
        """The discriminator's fp32 realness logits of ``x`` as it sees it: augmented, then
        with instance noise."""
        if self.augment is not None:
            x = self.augment(x, self.rng)
        if self.instance_noise > 0:
            noise = torch.randn(x.shape, generator=self.rng, device=x.device, dtype=x.dtype)
            x = x + self.instance_noise * noise
        with self._autocast():
            return realness(self.discriminator(x)).float()

    @staticmethod
    def _update(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        """One optimizer step; with fp16, through the scaler (which skips overflowed steps)."""
        if scaler.is_enabled():
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def _finite(
        self, network: str, module: nn.Module, scaler: torch.amp.GradScaler, **losses: Tensor
    ) -> bool:
        """Whether the losses and ``module``'s gradients are finite (one check, one sync).

        With fp16 the gradient scaler owns the gradients' check (an overflow there is routine
        and only lowers the scale), so only the losses are checked. If not finite: raises
        :class:`NonFiniteError`, or with ``on_nonfinite="skip"`` clears the gradients,
        counts the skip and returns False.
        """
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        norms = torch._foreach_norm(grads) if grads and not scaler.is_enabled() else []
        values = torch.stack([t.detach().float().reshape(()) for t in (*losses.values(), *norms)])
        if bool(torch.isfinite(values).all()):
            return True
        if self.on_nonfinite == "stop":
            named = {k: float(v.detach()) for k, v in losses.items()}
            raise NonFiniteError(network, self.num_steps + 1, named)
        module.zero_grad(set_to_none=True)
        self.num_skipped += 1
        return False

    def _score(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """The discriminator's realness logits of a real and a generated batch."""
        if self.joint_forward:
            both = self._critic(torch.cat([real, fake]))
            return both[: len(both) // 2], both[len(both) // 2 :]
        return self._critic(real), self._critic(fake)

    def step(self, real: Tensor | Sequence[Tensor]) -> dict[str, float]:
        """``n_critic`` discriminator updates and ``g_steps`` generator updates.

        ``real`` is one batch, used by every discriminator update, or a sequence of
        ``n_critic`` batches, one per update. Returns the discriminator statistics
        averaged over its updates and the last generator loss.
        """
        batches = [real] * self.n_critic if isinstance(real, Tensor) else list(real)
        if len(batches) != self.n_critic:
            raise GanforgeError(
                f"step() got {len(batches)} real batches for n_critic={self.n_critic}; "
                "pass one batch or exactly n_critic of them"
            )
        batch_size = batches[0].shape[0]
        d_stats: list[dict[str, float]] = []
        g_stats: dict[str, float] = {}

        if self.reuse_fake and self.n_critic == self.g_steps == 1 and self.d_first:
            with self._autocast():
                fake = self.generator(self.noise(batch_size))  # steps 1 and 2, once
            stats = self.discriminator_step(batches[0], fake=fake)
            stats["g_loss"] = self.generator_step(batch_size, fake=fake)["g_loss"]
            if self.ema is not None:
                self.ema.update(self.generator)
            self.num_steps += 1
            return stats

        def d_phase() -> None:
            d_stats.extend(self.discriminator_step(b) for b in batches)

        def g_phase() -> None:
            for _ in range(self.g_steps):
                g_stats.update(self.generator_step(batch_size))
                if self.ema is not None:
                    self.ema.update(self.generator)

        for phase in (d_phase, g_phase) if self.d_first else (g_phase, d_phase):
            phase()
        self.num_steps += 1
        stats = {k: sum(s[k] for s in d_stats) / len(d_stats) for k in d_stats[0]}
        stats["g_loss"] = g_stats["g_loss"]
        return stats

    @property
    def sampling_generator(self) -> nn.Module:
        """The network to sample from: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.generator

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
            "num_steps": self.num_steps,
            "num_d_updates": self.num_d_updates,
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
            _match_layout(optimizer)
        self.noise.load_state_dict(state["noise"])
        self.rng.set_state(state["rng"].cpu())
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.g_scaler.load_state_dict(state.get("g_scaler", {}))
        self.d_scaler.load_state_dict(state.get("d_scaler", {}))
        self.instance_noise = float(state.get("instance_noise", self.instance_noise))
        self.num_steps = int(state["num_steps"])
        self.num_d_updates = int(state["num_d_updates"])
