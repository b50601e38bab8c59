"""Sampling from a trained generator: plain, with discriminator rejection sampling (DRS),
latent discriminator optimal transport (DOT), Jacobian-based truncation (JBT), classes,
and latent walks. A :class:`Sampler` turns network output into the edge format through the
``decode`` function its modality gives it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.losses import realness
from ganforge.noise import Noise
from ganforge.rejection import rejection_sample
from ganforge.seeds import seeds
from ganforge.trainer import Trainer, evaluating, frozen
from ganforge.transport import N_PAIRS, effective_lipschitz, transport
from ganforge.truncation import draws_needed, truncate

Labels = int | Sequence[int] | np.ndarray | None


@dataclass
class SamplingDefaults:
    """A run's own sampling settings, used where a call leaves one unset."""

    seed: int = 0
    drs: bool = False
    drs_quantile: float = 0.95
    dot_steps: int = 0
    jbt: float = 0.0
    pack: int = 1
    noise: str = "normal"  # the latent distribution (DOT keeps uniform latents in [-1, 1])


class Sampler:
    """Draws samples from a trainer's sampling (EMA) generator.

    Args:
        trainer: the trained pair; its noise gives the latent shape and device.
        defaults: the run's sampling settings.
        decode: network output → the edge format (numpy).
        chunk: samples generated at a time.
        sharp_critic: a critic that DOT and DRS may ask in place of the discriminator.
    """

    def __init__(
        self,
        trainer: Trainer,
        defaults: SamplingDefaults,
        decode: Callable[[Tensor], np.ndarray],
        chunk: int = 65536,
        sharp_critic: nn.Module | None = None,
    ) -> None:
        self.trainer, self.defaults, self.decode = trainer, defaults, decode
        self.chunk, self.sharp_critic = chunk, sharp_critic

    def _noise(self, seed: int) -> Noise:
        shape, device = self.trainer.noise.shape, self.trainer.noise.device
        return Noise(shape, self.defaults.noise, seed=seed, device=device)

    def sample(self, n: int, **options: object) -> np.ndarray:
        """``n`` samples at once (see :meth:`chunks` for the options)."""
        return np.concatenate(list(self.chunks(n, **options)))  # type: ignore[arg-type]

    def chunks(
        self,
        n: int,
        seed: int | None = None,
        drs: bool | None = None,
        dot_steps: int | None = None,
        jbt: float | None = None,
        labels: Labels = None,
        sharp_critic: bool | None = None,
    ) -> Iterator[np.ndarray]:
        """``n`` samples, a chunk at a time (all at once with DRS), so that a consumer
        never holds the network outputs of all ``n`` at once.

        The same ``seed`` gives the same samples; ``None`` uses the run's seed. ``drs``
        turns rejection sampling on or off (``None``: the run's setting). ``dot_steps``
        sets DOT (``None``: the run's, or 0 when ``drs`` is asked for; 0: off). ``jbt``
        drops that share of the latents at which the generator stretches most (``None``:
        the run's). ``labels``: the class of every sample of a conditional run, one class
        for all, or ``None`` to draw them with the data's shares. ``sharp_critic``: whether
        DOT and DRS ask the sharp critic (``None``: when there is one).
        """
        d = self.defaults
        if n < 1:
            raise GanforgeError(f"number of samples must be at least 1, got {n}")
        seed = d.seed if seed is None else seed
        use_drs = d.drs if drs is None else drs
        # the run's DOT gives way to rejection sampling asked for here
        dot = (0 if drs else d.dot_steps) if dot_steps is None else dot_steps
        if dot < 0:
            raise GanforgeError(f"dot_steps must be 0 or more, got {dot}")
        if (use_drs or dot) and d.pack > 1:
            raise GanforgeError(
                "rejection sampling and DOT need one logit per sample; use them with pack 1"
            )
        if use_drs and dot:
            raise GanforgeError("choose one of rejection sampling (drs) and DOT (dot_steps)")
        share = d.jbt if jbt is None else jbt
        if not 0 <= share < 1:
            raise GanforgeError(f"jbt must be in [0, 1), got {share}")
        classes = self.classes(n, labels, seed)
        if classes is not None and (use_drs or share):
            raise GanforgeError(
                "rejection sampling (drs) and jbt do not take classes; use them with "
                "unconditional runs (dot_steps works with both)"
            )
        generate = self.trainer.generate
        generator = self.trainer.sampling_generator
        discriminator = self._critic(sharp_critic)
        noise = self._noise(seed)
        probes = torch.Generator(noise.device).manual_seed(seeds(seed)[1])

        def latents(k: int) -> Tensor:
            """``k`` latents, drawn past the generator's steepest ``share`` under JBT."""
            if not share:
                return noise(k)
            return truncate(generator, noise(draws_needed(k, share)), k, rng=probes)

        with (
            evaluating(generator),
            evaluating(discriminator),
            frozen(generator),
            torch.no_grad(),
        ):
            if use_drs:
                x = rejection_sample(
                    lambda k: generator(latents(k)),
                    lambda x: realness(discriminator(x)),
                    n,
                    torch.Generator().manual_seed(seeds(seed)[3]),
                    quantile=d.drs_quantile,
                )
                yield self.decode(x)
                return
            moved = self._transport(generator, discriminator, seed, dot) if dot else None
            for i in range(0, n, self.chunk):
                z = latents(min(self.chunk, n - i))
                y = None if classes is None else classes[i : i + len(z)]
                if moved is not None:
                    z = moved(z, y)
                yield self.decode(generate(generator, z, y))

    def _critic(self, sharp: bool | None) -> nn.Module:
        """What DOT and DRS ask: the sharp critic when there is one (or ``sharp`` asks for
        it), else the discriminator."""
        critic = self.sharp_critic
        if sharp and critic is None:
            raise GanforgeError(
                "this run has no sharp critic; train it with --sharp-critic-steps 1000, "
                "or sample without --sharp-critic"
            )
        return critic if critic is not None and sharp is not False else self.trainer.discriminator

    def classes(self, n: int, labels: Labels, seed: int) -> Tensor | None:
        """The classes of ``n`` samples of a conditional run: the given ones, or drawn with
        the data's class shares from ``seed``; ``None`` for an unconditional run."""
        noise = self.trainer.noise
        if not self.trainer.conditional:
            if labels is not None:
                raise GanforgeError("labels are for class-conditional runs (--conditional)")
            return None
        if labels is None:
            g = torch.Generator(noise.device).manual_seed(seeds(seed)[0])
            return torch.multinomial(noise.class_shares, n, replacement=True, generator=g)
        y = np.broadcast_to(np.asarray(labels), (n,)) if np.ndim(labels) == 0 else labels
        y = np.array(y)
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise GanforgeError(f"labels must be one class or {n} integer classes")
        if y.min() < 0 or y.max() >= noise.num_classes:
            raise GanforgeError(
                f"labels must be classes 0 to {noise.num_classes - 1}, got {y.min()} to {y.max()}"
            )
        return torch.as_tensor(y, dtype=torch.long, device=noise.device)

    def _transport(
        self, generator: nn.Module, discriminator: nn.Module, seed: int, steps: int
    ) -> Callable[[Tensor, Tensor | None], Tensor]:
        """Latent DOT with ``steps`` steps, its ``k`` estimated on seeded random pairs; a
        conditional run moves each latent with its class held fixed."""
        trainer = self.trainer

        def critic(y: Tensor | None) -> Callable[[Tensor], Tensor]:
            def judge(z: Tensor) -> Tensor:
                x = trainer.generate(generator, z, y)
                return realness(trainer.judge(discriminator, x, y))

            return judge

        pairs = self._noise(seeds(seed)[2])
        z1, z2 = pairs(N_PAIRS), pairs(N_PAIRS)
        y = self.classes(N_PAIRS, None, seeds(seed)[2])  # a pair shares its class
        k = effective_lipschitz(critic(y), z1, z2)
        bounds = (-1.0, 1.0) if self.defaults.noise == "uniform" else None

        def moved(z: Tensor, y: Tensor | None) -> Tensor:
            with frozen(generator), frozen(discriminator):
                return transport(critic(y), z, max(k, 1e-12), steps, bounds=bounds)

        return moved

    def interpolate(self, rows: int = 8, steps: int = 10, seed: int | None = None) -> np.ndarray:
        """A latent walk: ``rows`` pairs of random inputs, each joined in ``steps`` samples
        along the great circle (spherical interpolation), row after row; a conditional
        run keeps class ``r`` (modulo the number of classes) along row ``r``."""
        noise = self._noise(self.defaults.seed if seed is None else seed)
        a, b = noise(rows).flatten(1), noise(rows).flatten(1)
        t = torch.linspace(0, 1, steps, device=a.device).view(1, steps, 1)
        cos = torch.nn.functional.cosine_similarity(a, b).clamp(-1 + 1e-6, 1 - 1e-6)
        omega = torch.acos(cos).view(rows, 1, 1)
        z = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / (
            torch.sin(omega)
        )
        generator = self.trainer.sampling_generator
        y = None
        if self.trainer.conditional:  # row r keeps class r (mod the number of classes)
            rows_y = torch.arange(rows, device=z.device) % self.trainer.noise.num_classes
            y = rows_y.repeat_interleave(steps)
        with evaluating(generator), torch.no_grad():
            return self.decode(self.trainer.generate(generator, z.reshape(-1, *noise.shape), y))
