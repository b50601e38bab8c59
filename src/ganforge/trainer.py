"""The trainer: the seed's generator step, the discriminator step, and their alternation."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import Tensor, nn

from ganforge import losses
from ganforge.ema import EMA
from ganforge.errors import GanforgeError, NonFiniteError
from ganforge.losses import Loss, realness
from ganforge.noise import Noise, restore_rng
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
        noise: the random input. Noise with classes (``class_shares``) makes the trainer
            class-conditional: the generator is called as ``G(z, y)`` and the discriminator
            as ``D(x, y)``, with classes drawn by the noise for generated samples and given
            with the real batches (``step(real, labels)``).
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
        g_topk: top-k training (Sinha et al. 2020): the share of each generated batch that
            the generator update learns from, the samples with the highest realness logits;
            the others contribute no gradient (1 = all; the training loop may anneal it).
        precision: ``"fp32"``; ``"bf16"`` autocast (CPU and CUDA); ``"fp16"`` autocast with
            a gradient scaler per network (CUDA only).
        label_smoothing: one-sided label smoothing: the discriminator's target for real data
            is ``1 - label_smoothing`` (losses with targets only).
        d_l2: weight λ of an L2 penalty ``λ·Σ‖w‖²`` on the discriminator's weights (not its
            biases), added to its loss in the same backward pass.
        unrolled_steps: k > 0 makes each generator update learn against the discriminator
            as it will be after k more updates (unrolled GAN): k discriminator updates on
            the step's last real batch, the generator update, then the discriminator is
            put back bitwise (weights, buffers, gradients, optimizer state). This is the
            first-order form: no gradient flows through the k updates themselves.
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
        g_topk: float = 1.0,
        precision: str = "fp32",
        on_nonfinite: str = "stop",
        label_smoothing: float = 0.0,
        d_l2: float = 0.0,
        unrolled_steps: int = 0,
        seed: int = 0,
    ) -> None:
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
        if precision == "fp16" and noise.device.type != "cuda":
            raise GanforgeError("fp16 precision needs a CUDA device; use bf16 on the CPU")
        self.generator = generator
        self.discriminator = discriminator
        self.noise = noise
        self.loss = losses.label_smoothing(loss, float(label_smoothing))
        self.d_l2 = d_l2
        self.unrolled_steps = unrolled_steps
        self._last_real: Tensor | None = None  # the unrolled updates train on it
        self._last_labels: Tensor | None = None  # and on its classes
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
        self.g_topk = g_topk
        self.precision = precision
        scaled = precision == "fp16"
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=scaled)
        self.d_scaler = torch.amp.GradScaler("cuda", enabled=scaled)
        self.on_nonfinite = on_nonfinite
        self.num_skipped = 0
        self.rng = torch.Generator(noise.device).manual_seed(seed)
        self.num_steps = 0
        # False after loading a state saved on another device type (see restore_rng)
        self.streams_continued = True
        self._wrapped: tuple[nn.Module, nn.Module] | None = None  # see wrap()

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

    @property
    def conditional(self) -> bool:
        """Whether the networks take classes (the noise draws them)."""
        return self.noise.num_classes > 0

    def draw(self, n: int) -> tuple[Tensor, Tensor | None]:
        """``n`` latents and, when conditional, their classes, from the noise's stream."""
        z = self.noise(n)
        return z, self.noise.labels(n) if self.conditional else None

    @staticmethod
    def generate(generator: nn.Module, z: Tensor, y: Tensor | None) -> Tensor:
        """``generator(z)``, or ``generator(z, y)`` with classes."""
        return generator(z) if y is None else generator(z, y)

    @staticmethod
    def judge(discriminator: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
        """``discriminator(x)``, or ``discriminator(x, y)`` with classes."""
        return discriminator(x) if y is None else discriminator(x, y)

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

    def generator_step(
        self, batch_size: int, fake: Tensor | None = None, labels: Tensor | None = None
    ) -> dict[str, float]:
        """One generator iteration: the seed's six steps, with the discriminator frozen.

        ``fake``, when given, is generator output made (with its graph) from fresh noise
        by the caller: steps 1 and 2 already done; ``labels`` are then its classes.
        """
        with self._unrolled(), frozen(self.discriminator):
            if fake is None:
                z, labels = self.draw(batch_size)  # 1. sample random noise
                with self._autocast():
                    fake = self.generate(self._g_train, z, labels)  # 2. produce output
            fake_logits = self._critic(fake, y=labels)  # 3. D's "real" classification
            judged = self._top(fake_logits)  # all, or under top-k the most real-looking
            g_loss = self.loss.g_loss(fake=judged)  # 4. loss from that classification
            self.g_optimizer.zero_grad(set_to_none=True)
            self.g_scaler.scale(g_loss).backward()  # 5. backpropagate through D and G
            stats = {
                "g_loss": g_loss,
                "d_fake": _mean(fake_logits),
                "acc_fake": _mean(fake_logits < 0),
                "g_grad_norm": self._grad_norm(self.generator, self.g_scaler),
            }
            read, admitted = self._read(
                "generator", self.generator, stats, ("g_loss",), "g_grad_norm"
            )
            if admitted:
                self._update(self.g_optimizer, self.g_scaler)  # 6. change only G's weights
        return read

    def discriminator_step(
        self,
        real: Tensor,
        fake: Tensor | None = None,
        *,
        real_labels: Tensor | None = None,
        fake_labels: Tensor | None = None,
    ) -> dict[str, float]:
        """One discriminator iteration: real data are positives, generated data negatives.

        The generator is fixed: its output is produced without a graph and its buffers are
        restored afterwards. ``fake``, when given, is a generated batch to judge instead; it
        is detached, so nothing flows into the generator. A conditional trainer takes the
        classes of the real batch (``real_labels``) and of a given ``fake`` batch.
        """
        real_labels = self._real_labels(real_labels)
        if fake is None:
            with frozen(self.generator), torch.no_grad(), self._autocast():
                z, fake_labels = self.draw(real.shape[0])
                fake = self.generate(self.generator, z, fake_labels)
        fake = fake.detach().to(real.dtype)
        self._last_real, self._last_labels = real, real_labels
        use_r1 = self.r1_gamma > 0 and self.num_d_updates % self.r1_every == 0
        if use_r1:
            real = real.detach().requires_grad_(True)
        self.d_optimizer.zero_grad(set_to_none=True)
        if self.joint_forward or not self.loss.separable:
            real_logits, fake_logits = self._score(real, fake, real_labels, fake_labels)
            d_loss = self.loss.d_loss(real=real_logits, fake=fake_logits)
            gp = self._gp(real, fake, real_labels)
            penalty = self._r1(real, real_logits, use_r1) + gp + self._l2()
            self.d_scaler.scale(d_loss + penalty).backward()
        else:
            # The loss is a sum of a real and a generated half: backpropagating the real half
            # first frees its graph before the generated batch is judged, so one graph of
            # the discriminator is alive at a time. Each half's gradient is exact; across
            # processes, the sum of both halves is averaged once.
            with self._no_sync():
                real_logits = self._critic(real, train=True, y=real_labels)
                zeros = torch.zeros_like(real_logits)
                r1 = self._r1(real, real_logits, use_r1)
                half = self.loss.d_loss(real=real_logits, fake=zeros) + r1
                self.d_scaler.scale(half).backward()
            fake_logits = self._critic(fake, train=True, y=fake_labels)
            gp = self._gp(real, fake, real_labels) + self._l2()
            self.d_scaler.scale(self.loss.d_loss(real=zeros, fake=fake_logits) + gp).backward()
            real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
            d_loss = self.loss.d_loss(real=real_logits, fake=fake_logits)
            penalty = r1.detach() + gp.detach()
        stats = {
            "d_loss": d_loss,
            "penalty": penalty,
            "d_real": _mean(real_logits),
            "d_fake": _mean(fake_logits),
            "acc_real": _mean(real_logits > 0),
            "acc_fake": _mean(fake_logits < 0),
            "d_grad_norm": self._grad_norm(self.discriminator, self.d_scaler),
        }
        read, admitted = self._read(
            "discriminator", self.discriminator, stats, ("d_loss", "penalty"), "d_grad_norm"
        )
        if admitted:
            self._update(self.d_optimizer, self.d_scaler)
            if self.loss.clip_value is not None:
                clip_weights(self.discriminator, self.loss.clip_value)
        self.num_d_updates += 1
        return read

    def _top(self, fake_logits: Tensor) -> Tensor:
        """The ``g_topk`` share of ``fake_logits`` (at least one) that D rates most real."""
        n = fake_logits.shape[0]
        k = max(1, round(self.g_topk * n))
        return fake_logits if k >= n else fake_logits.topk(k).values

    def _r1(self, real: Tensor, real_logits: Tensor, use: bool) -> Tensor:
        """The (lazy) R1 penalty of this update, or 0."""
        if not use:
            return torch.zeros((), device=real_logits.device)
        return r1_penalty(real_logits, real, self.r1_gamma * self.r1_every)

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

    def _l2(self) -> Tensor:
        """The L2 penalty on the discriminator's weights, or 0."""
        weights = (
            [] if self.d_l2 == 0 else [p for p in self.discriminator.parameters() if p.dim() > 1]
        )
        if not weights:
            return torch.zeros((), device=self.noise.device)
        return self.d_l2 * torch.stack([w.square().sum() for w in weights]).sum()

    @contextmanager
    def _unrolled(self) -> Iterator[None]:
        """The discriminator after ``unrolled_steps`` more updates, put back bitwise on exit."""
        if not self.unrolled_steps or self._last_real is None:
            yield
            return
        d, real, labels = self.discriminator, self._last_real, self._last_labels
        saved = (
            copy.deepcopy(d.state_dict()),
            copy.deepcopy(self.d_optimizer.state_dict()),
            [None if p.grad is None else p.grad.clone() for p in d.parameters()],
            self.d_scaler.state_dict(),
            (self.num_d_updates, self.num_skipped),
        )
        try:
            for _ in range(self.unrolled_steps):
                self.discriminator_step(real, real_labels=labels)
            yield
        finally:
            state, opt_state, grads, scaler, (self.num_d_updates, self.num_skipped) = saved
            d.load_state_dict(state)
            self.d_optimizer.load_state_dict(opt_state)
            _match_layout(self.d_optimizer)
            for p, g in zip(d.parameters(), grads, strict=True):
                p.grad = g
            self.d_scaler.load_state_dict(scaler)
            self._last_real, self._last_labels = real, labels

    def _no_sync(self) -> AbstractContextManager:
        """Gradients of the discriminator accumulate locally until the next backward pass
        outside this context (no all-reduce when training across processes)."""
        no_sync = getattr(self._d_train, "no_sync", None)
        return no_sync() if no_sync is not None else nullcontext()

    def _autocast(self) -> AbstractContextManager:
        """Mixed-precision autocast for forward passes, or nothing in fp32."""
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return nullcontext()
        return torch.autocast(self.noise.device.type, dtype=dtype)

    def _critic(self, x: Tensor, train: bool = False, y: Tensor | None = None) -> Tensor:
        """The discriminator's fp32 realness logits of ``x`` (of classes ``y``) as it sees
        it: augmented, then with instance noise. ``train``: through the wrapper the
        discriminator learns with."""
        if self.augment is not None:
            x = self.augment(x, self.rng)
        if self.instance_noise > 0:
            noise = torch.randn(x.shape, generator=self.rng, device=x.device, dtype=x.dtype)
            x = x + self.instance_noise * noise
        d = self._d_train if train else self.discriminator
        with self._autocast():
            return realness(self.judge(d, x, y)).float()

    @staticmethod
    def _update(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        """One optimizer step; with fp16, through the scaler (which skips overflowed steps)."""
        if scaler.is_enabled():
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    @staticmethod
    def _grad_norm(module: nn.Module, scaler: torch.amp.GradScaler) -> Tensor:
        """The L2 norm of all of ``module``'s gradients (unscaled under fp16), as a tensor."""
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return torch.zeros((), device=next(module.parameters()).device)
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float())
        return norm / scaler.get_scale() if scaler.is_enabled() else norm

    def _read(
        self,
        network: str,
        module: nn.Module,
        stats: dict[str, Tensor],
        losses: tuple[str, ...],
        grad_norm: str,
    ) -> tuple[dict[str, float], bool]:
        """An update's statistics as floats, and whether the update may go ahead: one read
        of the device for both.

        The update may go ahead when the ``losses`` and the gradient norm named among
        ``stats`` are finite. With fp16 the gradient scaler owns the gradients' check (an
        overflow there is routine and only lowers the scale), so only the losses are
        checked. If one is not finite: raises :class:`NonFiniteError`, or with
        ``on_nonfinite="skip"`` clears ``module``'s gradients, counts the skip and returns
        False.
        """
        values = {k: t.detach().float().reshape(()) for k, t in stats.items()}
        checked = [*losses] + ([] if self.precision == "fp16" else [grad_norm])
        finite = torch.isfinite(torch.stack([values[k] for k in checked])).all().float()
        *floats, ok = torch.stack([*values.values(), finite]).tolist()
        read = dict(zip(stats, floats, strict=True))
        if ok:
            return read, True
        if self.on_nonfinite == "stop":
            raise NonFiniteError(network, self.num_steps + 1, {k: read[k] for k in losses})
        module.zero_grad(set_to_none=True)
        self.num_skipped += 1
        return read, False

    def _score(
        self, real: Tensor, fake: Tensor, real_y: Tensor | None, fake_y: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """The discriminator's realness logits of a real and a generated batch."""
        if self.joint_forward:
            y = None if real_y is None else torch.cat([real_y, fake_y])
            both = self._critic(torch.cat([real, fake]), train=True, y=y)
            return both[: len(both) // 2], both[len(both) // 2 :]  # packs: N / pack each
        return self._critic(real, train=True, y=real_y), self._critic(fake, train=True, y=fake_y)

    def step(
        self,
        real: Tensor | Sequence[Tensor],
        labels: Tensor | Sequence[Tensor] | None = None,
    ) -> dict[str, float]:
        """``n_critic`` discriminator updates and ``g_steps`` generator updates.

        ``real`` is one batch, used by every discriminator update, or a sequence of
        ``n_critic`` batches, one per update; a conditional trainer takes their classes in
        ``labels``, in the same form. Returns the discriminator statistics averaged over its
        updates and the last generator loss.
        """
        batches = [real] * self.n_critic if isinstance(real, Tensor) else list(real)
        if len(batches) != self.n_critic:
            raise GanforgeError(
                f"step() got {len(batches)} real batches for n_critic={self.n_critic}; "
                "pass one batch or exactly n_critic of them"
            )
        if labels is None:
            classes: list[Tensor | None] = [None] * len(batches)
        else:
            classes = [labels] * len(batches) if isinstance(labels, Tensor) else list(labels)
            if len(classes) != len(batches):
                raise GanforgeError("step() needs one labels tensor per real batch")
        batch_size = batches[0].shape[0]
        d_stats: list[dict[str, float]] = []
        g_stats: dict[str, float] = {}

        if self.reuse_fake and self.n_critic == self.g_steps == 1 and self.d_first:
            z, y = self.draw(batch_size)
            with self._autocast():
                fake = self.generate(self._g_train, z, y)  # steps 1 and 2, once
            stats = self.discriminator_step(
                batches[0], fake=fake, real_labels=classes[0], fake_labels=y
            )
            g_stats = self.generator_step(batch_size, fake=fake, labels=y)
            stats.update({k: v for k, v in g_stats.items() if k.startswith("g_")})
            if self.ema is not None:
                self.ema.update(self.generator)
            self.num_steps += 1
            return stats

        def d_phase() -> None:
            for b, c in zip(batches, classes, strict=True):
                d_stats.append(self.discriminator_step(b, real_labels=c))

        def g_phase() -> None:
            for _ in range(self.g_steps):
                g_stats.update(self.generator_step(batch_size))
                if self.ema is not None:
                    self.ema.update(self.generator)

        for phase in (d_phase, g_phase) if self.d_first else (g_phase, d_phase):
            phase()
        self.num_steps += 1
        stats = {k: sum(s[k] for s in d_stats) / len(d_stats) for k in d_stats[0]}
        stats.update({k: v for k, v in g_stats.items() if k.startswith("g_")})  # loss, norm
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
            "g_topk": self.g_topk,
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
