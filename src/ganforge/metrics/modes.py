"""Mode statistics of samples from a Gaussian mixture (VEEGAN/PacGAN protocol)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ganforge.data.toy import MIXTURES, GaussianMixture
from ganforge.errors import GanforgeError


def mode_stats(
    samples: np.ndarray | torch.Tensor,
    mixture: str | GaussianMixture | np.ndarray,
    std: float | None = None,
) -> dict[str, float]:
    """Modes covered, high-quality share, reverse KL and mode width of generated samples.

    A sample is high quality (HQ) when its standardised distance to the nearest mode,
    ``sqrt(Σ((x - μ)/σ)²)``, is below 3. HQ share and reverse KL cannot tell modes drawn
    narrower than the data's from right ones (a squeezed mode only raises the HQ share), so
    the width is reported beside them; true samples score :func:`true_width`.

    Args:
        samples: ``(N, d)`` generated points.
        mixture: ``"ring"``, ``"grid"``, a :class:`GaussianMixture`, or an array of means.
        std: the modes' standard deviation, needed when ``mixture`` is an array of means.

    Returns:
        ``modes``: modes nearest to at least one HQ sample; ``hq``: HQ share in percent;
        ``rkl``: KL(p ‖ uniform) of the HQ samples' mode histogram p (natural log;
        NaN when no sample is HQ); ``width``: the root mean square of the HQ samples'
        offsets from their mode, per coordinate, in units of σ (NaN when no sample is HQ).
    """
    if isinstance(mixture, str):
        if mixture not in MIXTURES:
            raise GanforgeError(
                f"unknown mixture {mixture!r}; choose one of: {', '.join(MIXTURES)} "
                "or pass the means and std"
            )
        mixture = MIXTURES[mixture]()
    elif not isinstance(mixture, GaussianMixture):
        if std is None:
            raise GanforgeError("mode_stats with an array of means needs std=")
        mixture = GaussianMixture(np.asarray(mixture, dtype=np.float64), float(std))
    x = torch.as_tensor(np.asarray(samples), dtype=torch.float64)
    means = torch.as_tensor(mixture.means, dtype=torch.float64)
    if x.dim() != 2 or x.shape[1] != means.shape[1]:
        raise GanforgeError(f"samples must have shape (N, {means.shape[1]}), got {tuple(x.shape)}")
    dist = torch.cdist(x, means) / mixture.std  # (N, K) standardised distances
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist < 3
    k = len(means)
    counts = torch.bincount(nearest[hq], minlength=k).double()
    n_hq = counts.sum().item()
    if n_hq == 0:
        rkl = math.nan
    else:
        p = counts[counts > 0] / n_hq
        rkl = float((p * torch.log(p * k)).sum())
    offsets = (x[hq] - means[nearest[hq]]) / mixture.std
    return {
        "modes": int((counts > 0).sum()),
        "hq": 100.0 * n_hq / len(x) if len(x) else 0.0,
        "rkl": rkl,
        "width": float(offsets.square().mean().sqrt()) if n_hq else math.nan,
    }


def true_width(dim: int = 2) -> float:
    """The ``width`` of :func:`mode_stats` that true samples score, in the limit.

    For a sample of an isotropic Gaussian mode, ``r² = Σ((x - μ)/σ)²`` follows χ² with
    ``dim`` degrees of freedom, and ``E[r²; r² < 9] = dim · P(χ²_{dim+2} < 9)``; per
    coordinate and given HQ that is ``P(χ²_{dim+2} < 9) / P(χ²_dim < 9)``, whose root this
    returns (0.974 in two dimensions). Modes as far apart as those of ``ring`` and ``grid``
    do not overlap within 3σ, so their mixtures score the same.
    """

    def below_9(k: int) -> torch.Tensor:  # P(χ²_k < 9), the regularised gamma P(k/2, 9/2)
        a, x = torch.tensor([k / 2, 4.5], dtype=torch.float64)
        return torch.special.gammainc(a, x)

    return math.sqrt(float(below_9(dim + 2) / below_9(dim)))
