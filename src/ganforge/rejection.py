"""Discriminator rejection sampling (DRS, Azadi et al. 2019).

An optimal discriminator of the non-saturating GAN has logit ``D(x) = log p_data(x)/p_g(x)``,
so accepting a generated ``x`` with probability ``exp(D(x) - D_M)`` (``D_M`` the largest
logit) turns ``p_g`` into ``p_data`` — plain rejection sampling. DRS makes that practical
with the shifted acceptance probability ``σ(F(x))``,

    F(x) = D(x) - D_M - log(1 - exp(D(x) - D_M - ε)) - γ,

where ``γ`` is the ``quantile`` of ``F + γ`` over a burn-in batch: a higher quantile rejects
more of the samples the discriminator finds least real (the paper uses 0.95). With ``γ = 0``
the acceptance probability is ``exp(D(x) - D_M)`` up to ``ε``: plain rejection sampling.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

EPS = 1e-6


def drs_score(logits: Tensor, max_logit: float) -> Tensor:
    """``F(x) + γ``: the DRS score before the shift, for logits no larger than ``max_logit``."""
    d = logits.double() - max_logit
    # log(1 - exp(d - ε)) with expm1 for accuracy near d = 0
    return d - torch.log(-torch.expm1(d - EPS))


def acceptance_probability(logits: Tensor, max_logit: float, gamma: float) -> Tensor:
    """``σ(F(x))`` for each logit."""
    return torch.sigmoid(drs_score(logits, max_logit) - gamma)


def rejection_sample(
    draw: Callable[[int], Tensor],
    logit: Callable[[Tensor], Tensor],
    n: int,
    generator: torch.Generator,
    quantile: float = 0.95,
    gamma: float | None = None,
    burn_in: int = 10_000,
    batch: int = 10_000,
    max_draws: int = 10_000_000,
) -> Tensor:
    """``n`` samples of ``draw`` kept by DRS according to ``logit``.

    Args:
        draw: returns that many generated samples.
        logit: the discriminator's realness logits of samples, shape ``(N,)``.
        n: how many samples to return.
        generator: the source of the acceptance draws (CPU).
        quantile: sets ``γ`` as this quantile of the burn-in scores.
        gamma: a fixed ``γ`` instead (0 gives plain rejection sampling).
        burn_in: samples used to estimate ``D_M`` and ``γ``.
        batch: samples drawn per round.
        max_draws: a bound on the work; reaching it is an error.
    """
    warm_logits = logit(draw(burn_in))
    max_logit = warm_logits.max().item()
    if gamma is None:
        gamma = torch.quantile(drs_score(warm_logits, max_logit), quantile).item()
    kept: list[Tensor] = []
    total, drawn = 0, 0
    while total < n:
        if drawn >= max_draws:
            raise RuntimeError(
                f"rejection sampling kept {total} of {drawn} samples; "
                "lower the quantile or turn it off"
            )
        x = draw(batch)
        d = logit(x)
        max_logit = max(max_logit, d.max().item())
        p = acceptance_probability(d.cpu(), max_logit, gamma)
        keep = torch.rand(p.shape, generator=generator, dtype=p.dtype) < p
        kept.append(x[keep.to(x.device)])
        total += int(keep.sum())
        drawn += batch
    return torch.cat(kept)[:n]
