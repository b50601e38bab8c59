"""Jacobian-based truncation of the latent (JBT, Tanielian et al. 2020).

A generator is continuous, so when the data lie on separate pieces (the modes of a
mixture) it still maps some of its connected latent space to the gaps between them. It
crosses a gap quickly: there its Jacobian ``∂G(z)/∂z`` is large. JBT draws more latents
than it needs and drops the ``share`` of them at which the Jacobian's Frobenius norm is
largest, before they reach the generator's output. It needs only the generator, and the
networks are not changed.

The norm is exact (one vector-Jacobian product per output coordinate) for outputs of at
most :data:`EXACT_MAX` numbers, such as points. For pictures it is Hutchinson's unbiased
estimate ``‖J‖² = E‖Jᵀv‖²`` over :data:`PROBES` standard normal probes ``v``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

EXACT_MAX = 16  # outputs with at most this many numbers get the exact norm
PROBES = 8  # Hutchinson probes per latent otherwise


def jacobian_norms(
    generator: Callable[[Tensor], Tensor],
    z: Tensor,
    probes: int = PROBES,
    rng: torch.Generator | None = None,
) -> Tensor:
    """The Frobenius norm of ``∂generator(z)/∂z`` for each row of ``z``, shape ``(N,)``.

    Exact when one output has at most :data:`EXACT_MAX` numbers; otherwise estimated from
    ``probes`` normal probes drawn from ``rng``. The generator must treat rows
    independently (eval mode for batch norm). No gradient reaches its parameters.
    """
    z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        x = generator(z).flatten(1)
        exact = x.shape[1] <= EXACT_MAX
        directions = x.shape[1] if exact else probes
        total = torch.zeros(len(z), dtype=torch.float64, device=z.device)
        for i in range(directions):
            if exact:
                v = torch.zeros_like(x)
                v[:, i] = 1
            else:
                v = torch.randn(x.shape, generator=rng, device=x.device, dtype=x.dtype)
            (row,) = torch.autograd.grad(x, z, v, retain_graph=i < directions - 1)
            total += row.flatten(1).double().pow(2).sum(1)
    return (total / (1 if exact else directions)).sqrt()


def draws_needed(n: int, share: float) -> int:
    """How many latents to draw so that ``n`` remain after dropping ``share`` of them."""
    return n if share <= 0 else math.ceil(n / (1 - share))


def truncate(
    generator: Callable[[Tensor], Tensor],
    z: Tensor,
    n: int,
    probes: int = PROBES,
    rng: torch.Generator | None = None,
) -> Tensor:
    """The ``n`` rows of ``z`` with the smallest Jacobian norms, in their original order."""
    if n >= len(z):
        return z
    norms = jacobian_norms(generator, z, probes, rng)
    keep = norms.argsort(stable=True)[:n].sort().values
    return z[keep]
