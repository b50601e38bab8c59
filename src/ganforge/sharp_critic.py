"""A sharp critic for the sampler of point runs, fitted once training is over.

The discriminator that trains the generator has to stay smooth (R1), or it unbalances the
modes; smooth, it cannot see where inside a mode a sample lies, so DOT driven by it moves
the samples between modes but not the ones at a mode's edge. The sharp critic takes no
part in training. After the last step it is fitted once, on real data against the finished
(EMA) generator's samples, and the sampler's DOT and DRS ask it in place of the
discriminator. It sees fine detail through random Fourier features of its input
(Tancik et al. 2020): ``sin`` and ``cos`` of ``2π Bx`` with ``B ~ N(0, freq²)``, where
``freq`` is in cycles per standard deviation of the data (the networks' units).
benchmarks/RESULTS.md records how it was chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganforge.losses import d_loss
from ganforge.nets import mlp
from ganforge.penalties import r1_penalty

FEATURES = 64  # random frequencies; each gives a sine and a cosine
WIDTH, DEPTH = 128, 2  # the MLP on top
BATCH = 512  # real and generated samples per fitting step
LR, BETAS = 1e-3, (0.0, 0.99)  # Adam
R1_GAMMA = 0.1  # R1 on real data keeps it from fitting the noise of single samples


class SharpCritic(nn.Module):
    """Maps points ``(N, dim)`` to one realness logit each ``(N,)``, through ``x`` and its
    random Fourier features ``sin(2π Bx)``, ``cos(2π Bx)``.

    ``freq`` is the standard deviation of the frequencies ``B`` (cycles per unit of ``x``);
    ``generator`` seeds ``B`` and the initial weights.
    """

    def __init__(
        self,
        dim: int,
        freq: float,
        features: int = FEATURES,
        width: int = WIDTH,
        depth: int = DEPTH,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if freq <= 0:
            raise ValueError(f"freq must be positive, got {freq}")
        self.register_buffer("freqs", torch.randn(dim, features, generator=generator) * freq)
        with torch.random.fork_rng(devices=[]):
            if generator is not None:
                torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            self.net = mlp(dim + 2 * features, 1, width, depth, "leaky_relu")

    def features(self, x: Tensor) -> Tensor:
        """``[x, sin(2π Bx), cos(2π Bx)]``, shape ``(N, dim + 2 · features)``."""
        phase = 2 * math.pi * x.flatten(1) @ self.freqs
        return torch.cat([x.flatten(1), phase.sin(), phase.cos()], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, dim)`` → ``(N,)`` logits."""
        return self.net(self.features(x)).squeeze(-1)


def fit_critic(
    critic: nn.Module,
    real: Callable[[int], Tensor],
    fake: Callable[[int], Tensor],
    steps: int,
    batch: int = BATCH,
    r1_gamma: float = R1_GAMMA,
) -> list[float]:
    """Fits ``critic`` for ``steps`` Adam steps to tell ``real(batch)`` from
    ``fake(batch)`` (the non-saturating loss, plus R1 on the real batch); returns the
    losses, one per step, for the record."""
    optimizer = torch.optim.Adam(critic.parameters(), lr=LR, betas=BETAS)
    losses = []
    critic.train()
    for _ in range(steps):
        x = real(batch).detach().requires_grad_(True)
        with torch.no_grad():
            y = fake(batch)
        real_logits = critic(x)
        loss = d_loss("nonsaturating", real=real_logits, fake=critic(y))
        if r1_gamma:
            loss = loss + r1_penalty(real_logits, x, r1_gamma)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    critic.eval().requires_grad_(False)
    return torch.stack(losses).tolist() if losses else []  # one read of the device, not one a step


__all__ = ["SharpCritic", "fit_critic"]
