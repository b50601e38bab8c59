"""The trainer: the seed's generator step, the discriminator step, and their alternation."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

import torch
from torch import Tensor, nn

from ganforge.ema import EMA
from ganforge.errors import GanforgeError
from ganforge.graphs import StepGraphs
from ganforge.losses import Loss, realness
from ganforge.losses import label_smoothing as smoothed
from ganforge.noise import Noise
from ganforge.penalties import clip_weights, weight_l2
from ganforge.trainer_parts import TrainerParts, check_settings
from ganforge.updates import (
    PRECISIONS,
    Frozen,
    clear_grads,
    dcgan_adam,
    evaluating,
    frozen,
    grad_norm,
    optimizer_step,
    top_share,
    unrolled,
)

__all__ = ["PRECISIONS", "Trainer", "evaluating", "frozen"]


class Trainer(TrainerParts):
    """Trains any generator/discriminator pair with the course's alternating scheme.

    Args:
        generator: maps noise ``(N, *noise.shape)`` to data.
        discriminator: maps data to one realness logit per sample.
        noise: the random input. Noise with classes (``class_shares``) makes the trainer
            class-conditional: the generator is called as ``G(z, y)`` and the discriminator
            as ``D(x, y)``, with classes drawn by the noise for generated samples and given
            with the real batches (``step(real, labels)``).
        loss: a name from :data:`ganforge.losses.LOSSES` or a :class:`Loss`. A relativistic
            loss (``rpgan``) pairs each generated sample of a generator update with a real
            one: the real batch of the last discriminator update, judged by the frozen
            discriminator.
        g_optimizer: optimizer over the generator's parameters only
            (default: Adam, lr 2e-4, betas (0.5, 0.999), as in DCGAN).
        d_optimizer: optimizer over the discriminator's parameters only (same default).
        n_critic: discriminator updates per step.
        g_steps: generator updates per step.
        d_first: whether a step starts with the discriminator phase.
        r1_gamma: weight γ of the R1 penalty (0 turns it off).
        r1_every: apply R1 on every k-th discriminator update only, weighted by k
            (lazy regularisation, as in StyleGAN2), which saves most of its cost.
        r2_gamma: weight γ of the R2 penalty on generated samples (0 turns it off), applied
            with R1 in the same updates (every ``r1_every``-th, weighted by k).
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
            input of the discriminator, real and generated alike (e.g. DiffAugment). One
            with ``observe`` (ADA) gets the real logits of each discriminator update made.
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
        cuda_graph: on CUDA, replay :meth:`step` from captured CUDA graphs (see
            :mod:`ganforge.graphs`); where it cannot be captured, the step runs eagerly
            with a one-line note on the ``ganforge`` logger.
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
        r2_gamma: float = 0.0,
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
        cuda_graph: bool = False,
    ) -> None:
        check_settings(n_critic, g_steps, r1_every, d_l2, unrolled_steps, g_topk, precision,
                       on_nonfinite, noise.device)  # fmt: skip
        self.generator = generator
        self.discriminator = discriminator
        self.noise = noise
        self.loss = smoothed(loss, float(label_smoothing))
        self.d_l2 = d_l2
        self.unrolled_steps = unrolled_steps
        # the unrolled updates train on it, and a relativistic generator loss judges it
        self._last_real: Tensor | None = None
        self._last_labels: Tensor | None = None  # and its classes
        self.g_optimizer = g_optimizer or dcgan_adam(generator)
        self.d_optimizer = d_optimizer or dcgan_adam(discriminator)
        self.n_critic = n_critic
        self.g_steps = g_steps
        self.d_first = d_first
        self.r1_gamma = r1_gamma
        self.r1_every = r1_every
        self.r2_gamma = r2_gamma
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
        # each network's parameter and buffer lists, gathered once rather than every step
        self._freeze_g, self._freeze_d = Frozen(generator), Frozen(discriminator)
        self._zero = torch.zeros((), device=noise.device)  # the penalty when there is none
        # device mode, while a step is captured: each update's statistics and finite flag
        # (see _read), the chained non-finite flag, and the flag that drops the update
        self._records: list | None = None
        self._bad: Tensor | None = None
        self._found_inf: Tensor | None = None
        self._graphs = StepGraphs(self) if cuda_graph else None

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

    def generator_step(
        self, batch_size: int, fake: Tensor | None = None, labels: Tensor | None = None
    ) -> dict[str, float]:
        """One generator iteration: the seed's six steps, with the discriminator frozen.

        ``fake``, when given, is generator output made (with its graph) from fresh noise
        by the caller: steps 1 and 2 already done; ``labels`` are then its classes.
        """
        with self._unrolled() if self.unrolled_steps else nullcontext(), self._freeze_d:
            if fake is None:
                z, labels = self.draw(batch_size)  # 1. sample random noise
                with self._autocast():
                    fake = self.generate(self._g_train, z, labels)  # 2. produce output
            fake_logits = self._critic(fake, y=labels)  # 3. D's "real" classification
            judged = top_share(
                fake_logits, self.g_topk
            )  # all, or under top-k the most real-looking
            g_loss = self._g_loss(judged)  # 4. loss from that classification
            clear_grads(_params(self.g_optimizer))
            self.g_scaler.scale(g_loss).backward()  # 5. backpropagate through D and G
            fake_logits = fake_logits.detach()
            stats = {
                "g_loss": g_loss.detach(),
                "g_grad_norm": grad_norm(self._freeze_g.params, self.g_scaler),
                "d_fake": fake_logits.mean(),
                "acc_fake": (fake_logits < 0).float().mean(),
            }
            read, admitted = self._read("generator", self._freeze_g.params, stats, 1)
            if admitted:
                # 6. change only G's weights
                optimizer_step(self.g_optimizer, self.g_scaler, self._found_inf)
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
            with self._freeze_g, torch.no_grad(), self._autocast():
                z, fake_labels = self.draw(real.shape[0])
                fake = self.generate(self.generator, z, fake_labels)
        fake = fake.detach()
        if fake.dtype != real.dtype:  # (a same-type .to() is still a dispatched call)
            fake = fake.to(real.dtype)
        self._last_real, self._last_labels = real, real_labels
        use_r1, use_r2 = self._lazy(self.r1_gamma), self._lazy(self.r2_gamma)
        if use_r1:
            real = real.detach().requires_grad_(True)
        if use_r2:
            fake = fake.requires_grad_(True)  # a leaf of its own: detached above
        clear_grads(_params(self.d_optimizer))
        if self.joint_forward or not self.loss.separable:
            real_logits, fake_logits = self._score(real, fake, real_labels, fake_labels)
            d_loss = self.loss.d_loss(real=real_logits, fake=fake_logits)
            gp = self._gp(real, fake, real_labels)
            penalty = (
                self._r1(real, real_logits, use_r1) + gp + weight_l2(self.discriminator, self.d_l2)
            )
            if use_r2:  # off, it adds nothing (not even a zero)
                penalty = penalty + self._r2(fake, fake_logits)
            self.d_scaler.scale(d_loss + penalty).backward()
            d_loss, penalty = d_loss.detach(), penalty.detach()
            real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        else:  # all four come detached
            d_loss, penalty, real_logits, fake_logits = self._halves(
                real, fake, real_labels, fake_labels, use_r1, use_r2
            )
        stats = {
            "d_loss": d_loss,
            "penalty": penalty,
            "d_grad_norm": grad_norm(self._freeze_d.params, self.d_scaler),
            "d_real": real_logits.mean(),
            "d_fake": fake_logits.mean(),
            "acc_real": (real_logits > 0).float().mean(),
            "acc_fake": (fake_logits < 0).float().mean(),
        }
        adaptive = hasattr(self.augment, "observe")
        if adaptive:  # the probability this update's inputs were augmented with
            stats["augment_p"] = self.augment.p
        read, admitted = self._read("discriminator", self._freeze_d.params, stats, 2)
        if admitted:
            optimizer_step(self.d_optimizer, self.d_scaler, self._found_inf)
            if self.loss.clip_value is not None:
                clip_weights(self.discriminator, self.loss.clip_value)
            if adaptive:
                self.augment.observe(real_logits, real.shape[0])
        self.num_d_updates += 1
        return read

    def _halves(
        self,
        real: Tensor,
        fake: Tensor,
        real_labels: Tensor | None,
        fake_labels: Tensor | None,
        use_r1: bool,
        use_r2: bool,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Backpropagates a separable loss's real half, then its generated half; returns
        the loss, the penalty and both batches' logits, all detached.

        Backpropagating the real half first frees its graph before the generated batch is
        judged, so one graph of the discriminator is alive at a time. Each half's gradient
        is exact; across processes, the sum of both halves is averaged once. Penalties
        that are off add nothing (not even a zero, whose add would be one more operation).
        """
        if self.loss.halves is not None:
            real_term, fake_term = self.loss.halves
        else:  # a user's separable loss: each half is the loss with zeros for the other
            real_term = lambda r: self.loss.d_loss(real=r, fake=torch.zeros_like(r))  # noqa: E731
            fake_term = lambda f: self.loss.d_loss(real=torch.zeros_like(f), fake=f)  # noqa: E731
        with self._no_sync():
            real_logits = self._critic(real, train=True, y=real_labels)
            d_real = real_term(real_logits)
            r1 = self._r1(real, real_logits, True) if use_r1 else None
            self.d_scaler.scale(d_real if r1 is None else d_real + r1).backward()
        fake_logits = self._critic(fake, train=True, y=fake_labels)
        d_fake = fake_term(fake_logits)
        gp = self._gp(real, fake, real_labels) if self.loss.gp_weight else None
        if self.d_l2:
            l2 = weight_l2(self.discriminator, self.d_l2)
            gp = l2 if gp is None else gp + l2
        if use_r2:
            r2 = self._r2(fake, fake_logits)
            gp = r2 if gp is None else gp + r2
        self.d_scaler.scale(d_fake if gp is None else d_fake + gp).backward()
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        if self.loss.halves is not None:
            d_loss = d_real.detach() + d_fake.detach()  # the loss, bitwise (see Loss.halves)
        else:
            d_loss = self.loss.d_loss(real=real_logits, fake=fake_logits)
        terms = [t.detach() for t in (r1, gp) if t is not None]
        penalty = terms[0] + terms[1] if len(terms) == 2 else terms[0] if terms else None
        return d_loss, self._zero if penalty is None else penalty, real_logits, fake_logits

    @contextmanager
    def _unrolled(self) -> Iterator[None]:
        """The discriminator after ``unrolled_steps`` more updates, put back bitwise on exit."""
        steps = self.unrolled_steps if self._last_real is not None else 0
        real, labels = self._last_real, self._last_labels
        counts = (self.num_d_updates, self.num_skipped)
        saved = self.augment.state_dict() if steps and hasattr(self.augment, "observe") else None
        try:
            with unrolled(
                self.discriminator, self.d_optimizer, self.d_scaler, steps,
                lambda: self.discriminator_step(real, real_labels=labels),
            ):  # fmt: skip
                yield
        finally:
            if steps:
                self.num_d_updates, self.num_skipped = counts
                if saved is not None:  # lookahead updates do not steer the augmentation
                    self.augment.load_state_dict(saved)
                self._last_real, self._last_labels = real, labels

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
            logits = realness(self.judge(d, x, y))
        return logits if logits.dtype == torch.float32 else logits.float()

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
        if self._graphs is not None:
            return self._graphs.step(real, labels)
        return self._step(real, labels)

    def _step(
        self,
        real: Tensor | Sequence[Tensor],
        labels: Tensor | Sequence[Tensor] | None = None,
    ) -> dict[str, float]:
        """:meth:`step`, eagerly (or as it is captured, in device mode)."""
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


def _params(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    """The parameters that ``optimizer`` updates."""
    return [p for group in optimizer.param_groups for p in group["params"]]
