"""Discriminator optimal transport in the latent space (latent DOT, Tanaka 2019).

Each generated sample is improved after training by moving its latent ``z`` from where it
started, ``z₀``, towards a higher discriminator logit while paying for the distance moved:

    minimise over z:   ‖z − z₀‖ − D(G(z)) / k,

with ``k`` the effective Lipschitz constant of ``z ↦ D(G(z))``, estimated as the largest
``|D(G(z₁)) − D(G(z₂))| / ‖z₁ − z₂‖`` over random pairs. With that ``k`` a move pays off
only where the logit rises faster than the transport cost, so samples stay near their
start and keep the modes' balance and width (benchmarks/RESULTS.md: *Discriminator-driven
refinement*). The minimisation takes a few Adam steps; the networks are not changed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

SMOOTH = 1e-3  # ‖z − z₀‖ is taken as sqrt(‖z − z₀‖² + SMOOTH): differentiable at the start
LR = 0.01  # Adam's step on the latent
BETAS = (0.0, 0.9)
N_PAIRS = 2500  # random pairs behind the Lipschitz estimate


def effective_lipschitz(critic: Callable[[Tensor], Tensor], z1: Tensor, z2: Tensor) -> float:
    """``max |critic(z₁) − critic(z₂)| / ‖z₁ − z₂‖`` over the rows of two latent batches."""
    with torch.no_grad():
        rise = (critic(z1) - critic(z2)).reshape(len(z1)).abs()
        dist = (z1 - z2).flatten(1).norm(dim=1).clamp_min(1e-12)
        return float((rise / dist).max())


def transport(
    critic: Callable[[Tensor], Tensor],
    z0: Tensor,
    k: float,
    steps: int,
    lr: float = LR,
    bounds: tuple[float, float] | None = None,
) -> Tensor:
    """The latents after ``steps`` Adam steps on ``Σ ‖z − z₀‖ − critic(z) / k``.

    ``critic`` maps latents to one logit each (``D(G(z))``); ``bounds`` clamps the latents
    after every step (for a bounded noise distribution).
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    z0 = z0.detach()
    z = z0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr, betas=BETAS)
    with torch.enable_grad():
        for _ in range(steps):
            cost = ((z - z0).flatten(1).pow(2).sum(dim=1) + SMOOTH).sqrt()
            objective = (cost - critic(z).reshape(len(z)) / k).sum()
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            if bounds is not None:
                with torch.no_grad():
                    z.clamp_(*bounds)
    return z.detach()
