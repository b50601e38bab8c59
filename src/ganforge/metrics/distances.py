"""Distances between two sets of features: Fréchet distance, KID and PRDC.

All computations run in float64 on the CPU; inputs may be numpy arrays, torch tensors (on any
device) or nested lists of shape ``(N, d)``.
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.errors import GanforgeError

ArrayLike = np.ndarray | torch.Tensor

_U = np.finfo(np.float64).eps / 2  # unit roundoff of float64
_BLOCK = 1 << 22  # matrix entries per block in the pairwise computations


def _as_float64(x: object, name: str) -> np.ndarray:
    """``x`` as a float64 numpy array (a copy when the input is a tensor)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise GanforgeError(f"{name} is not numeric ({err}); pass a numeric (N, d) array") from err


def _features(x: object, name: str, min_rows: int = 2) -> np.ndarray:
    """Check that ``x`` is a finite ``(N, d)`` array with at least ``min_rows`` rows."""
    a = _as_float64(x, name)
    if a.ndim != 2 or a.shape[1] == 0:
        raise GanforgeError(
            f"{name} must be a 2-D (N, d) array of features, got shape {a.shape}; "
            "reshape it to one row per sample"
        )
    if len(a) < min_rows:
        raise GanforgeError(
            f"{name} holds {len(a)} sample(s), fewer than {min_rows}; pass at least {min_rows}"
        )
    if not np.isfinite(a).all():
        raise GanforgeError(f"{name} contains NaN or Inf; remove or fix those samples")
    return a


def _pair(a: object, b: object, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets, checked, with equal feature dimensions."""
    x, y = _features(a, "first feature set", min_rows), _features(b, "second feature set", min_rows)
    if x.shape[1] != y.shape[1]:
        raise GanforgeError(
            f"feature dimensions differ ({x.shape[1]} vs {y.shape[1]}); "
            "extract both sets with the same feature extractor"
        )
    return x, y


def _integer(value: object, name: str, minimum: int) -> int:
    """``value`` as an int, checked to be an integer ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise GanforgeError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


# Fréchet distance ---------------------------------------------------------------------------


def gaussian_stats(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``ddof=1``) of ``(N, d)`` features, in float64.

    Args:
        features: at least two finite samples, one per row.

    Returns:
        ``(mu, sigma)`` with shapes ``(d,)`` and ``(d, d)``.
    """
    x = _features(features, "features")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False, ddof=1))


def _stats_arg(mu: object, sigma: object, which: int) -> tuple[np.ndarray, np.ndarray]:
    """One (mean, covariance) pair, checked, with the covariance made exactly symmetric."""
    m = np.atleast_1d(_as_float64(mu, f"mu{which}"))
    s = np.atleast_2d(_as_float64(sigma, f"sigma{which}"))
    if m.ndim != 1 or s.shape != (len(m), len(m)):
        raise GanforgeError(
            f"mu{which} must have shape (d,) and sigma{which} shape (d, d), got {m.shape} and "
            f"{s.shape}; pass the output of gaussian_stats"
        )
    if not (np.isfinite(m).all() and np.isfinite(s).all()):
        raise GanforgeError(f"mu{which} or sigma{which} contains NaN or Inf; recompute the stats")
    return m, (s + s.T) / 2


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative rounding eigenvalues to 0)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_from_stats(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike
) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``‖mu1 - mu2‖² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½)``, where the trace of the
    square root is the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    ``sigma1^½ sigma2 sigma1^½`` (same spectrum as ``sigma1 sigma2``). Eigenvalues that rounding
    makes slightly negative count as 0, and a result below 0 from rounding is returned as 0.

    Args:
        mu1, mu2: means, shape ``(d,)`` (a scalar for 1-D).
        sigma1, sigma2: covariances, shape ``(d, d)`` (a scalar variance for 1-D).

    Returns:
        The squared Fréchet (2-Wasserstein) distance, a float ≥ 0.
    """
    m1, s1 = _stats_arg(mu1, sigma1, 1)
    m2, s2 = _stats_arg(mu2, sigma2, 2)
    if len(m1) != len(m2):
        raise GanforgeError(
            f"feature dimensions differ ({len(m1)} vs {len(m2)}); "
            "compute both stats with the same feature extractor"
        )
    root1 = _sqrt_psd(s1)
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = m1 - m2
    value = float(diff @ diff) + float(np.trace(s1)) + float(np.trace(s2)) - 2.0 * trace_sqrt
    return max(value, 0.0)


def frechet_distance(a: ArrayLike, b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    Args:
        a, b: ``(N, d)`` and ``(M, d)`` features, at least two samples each.

    Returns:
        ``‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2(Σ₁Σ₂)^½)``, covariances with ``ddof=1``.
    """
    x, y = _pair(a, b)
    return frechet_from_stats(*gaussian_stats(x), *gaussian_stats(y))


class RunningStats:
    """Mean and covariance of features that arrive in batches, without keeping the batches.

    Accumulates, in float64, the sums of ``x`` and ``x xᵀ`` after subtracting the first
    batch's mean (a fixed shift that keeps the subtraction at the end from losing digits).

    Example:
        >>> stats = RunningStats()
        >>> for batch in batches:  # doctest: +SKIP
        ...     stats.update(extract(batch))
        >>> fid = frechet_from_stats(stats.mean, stats.cov, mu, sigma)  # doctest: +SKIP
    """

    def __init__(self) -> None:
        """Start with no samples."""
        self._n = 0
        self._shift: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None

    def update(self, batch: ArrayLike) -> RunningStats:
        """Add a ``(B, d)`` batch of features (an empty batch changes nothing); returns self."""
        x = _features(batch, "batch", min_rows=0)
        if len(x) == 0:
            return self
        if self._shift is None:
            self._shift = x.mean(axis=0)
            self._sum = np.zeros(x.shape[1])
            self._outer = np.zeros((x.shape[1], x.shape[1]))
        elif x.shape[1] != len(self._shift):
            raise GanforgeError(
                f"batch has {x.shape[1]} features, earlier batches had {len(self._shift)}; "
                "feed every batch through the same feature extractor"
            )
        centred = x - self._shift
        self._n += len(x)
        self._sum += centred.sum(axis=0)
        self._outer += centred.T @ centred
        return self

    @property
    def n(self) -> int:
        """Number of samples seen so far."""
        return self._n

    @property
    def mean(self) -> np.ndarray:
        """Mean of the samples seen, shape ``(d,)``."""
        if self._n == 0:
            raise GanforgeError("RunningStats has no samples yet; call update() with a batch")
        return self._shift + self._sum / self._n

    @property
    def cov(self) -> np.ndarray:
        """Covariance (``ddof=1``) of the samples seen, shape ``(d, d)``."""
        if self._n < 2:
            raise GanforgeError(
                f"RunningStats has {self._n} sample(s), a covariance needs at least 2; "
                "call update() with more samples"
            )
        c = (self._outer - np.outer(self._sum, self._sum) / self._n) / (self._n - 1)
        return (c + c.T) / 2


# Kernel inception distance -----------------------------------------------------------------


def kid(
    a: ArrayLike,
    b: ArrayLike,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel inception distance: unbiased MMD² with the kernel ``(x·y / d + 1)³``.

    Each of ``subsets`` rounds draws ``m = min(subset_size, len(a), len(b))`` rows of each set
    without replacement and computes ``mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j)
    - 2 mean_{i,j} k(x_i, y_j)``.

    Args:
        a, b: ``(N, d)`` and ``(M, d)`` features, at least two samples each.
        subsets: number of random subsets (≥ 1).
        subset_size: rows per subset and set (≥ 2), capped at the smaller set's size.
        seed: seed of the subset draws.

    Returns:
        ``(mean, std)`` of the estimates over the subsets (std with ``ddof=0``; it is 0 for one
        subset). The estimate is unbiased, so it can be slightly negative.
    """
    x, y = _pair(a, b)
    subsets = _integer(subsets, "subsets", 1)
    m = min(_integer(subset_size, "subset_size", 2), len(x), len(y))
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    estimates = np.empty(subsets)
    for s in range(subsets):
        xs = x[rng.choice(len(x), m, replace=False)]
        ys = y[rng.choice(len(y), m, replace=False)]
        k_xx = (xs @ xs.T / d + 1.0) ** 3
        k_yy = (ys @ ys.T / d + 1.0) ** 3
        k_xy = (xs @ ys.T / d + 1.0) ** 3
        off_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        off_yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        estimates[s] = off_xx + off_yy - 2.0 * k_xy.mean()
    return float(estimates.mean()), float(estimates.std())


# Precision, recall, density, coverage ------------------------------------------------------
#
# A squared distance is defined as the left-to-right sum over features of (x_f - y_f)², which
# gives the same bits for (x, y) and (y, x) wherever the pair sits in a matrix. The
# fast Gram form |x|² + |y|² - 2 x·y differs from it by at most `_tolerance`; comparisons that
# fall inside that band are redone with the exact definition, so ties (duplicated or shared
# points) are decided the same way a plain double loop decides them.


def _sq_dists_fast(x: np.ndarray, xn: np.ndarray, y: np.ndarray, yn: np.ndarray) -> np.ndarray:
    """Squared distances of all pairs through the Gram form (``xn``, ``yn``: squared norms)."""
    d2 = xn[:, None] + yn[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0, out=d2)


def _tolerance(xn: np.ndarray, yn: np.ndarray, d: int) -> np.ndarray:
    """A bound on |Gram form - sequential sum|, with a safety factor of 2 over rounding theory."""
    return (8.0 * (d + 4) * _U) * (xn[:, None] + yn[None, :])


def _sq_dists_exact(x: np.ndarray, xi: np.ndarray, y: np.ndarray, yi: np.ndarray) -> np.ndarray:
    """Sequential sums of squared differences of the pairs ``(x[xi[p]], y[yi[p]])``."""
    out = np.empty(len(xi))
    step = max(1, _BLOCK // (4 * x.shape[1]))
    for start in range(0, len(xi), step):
        part = slice(start, start + step)
        diff = x[xi[part]] - y[yi[part]]
        out[part] = np.cumsum(diff * diff, axis=1)[:, -1]
    return out


def _below(
    fast: np.ndarray,
    tol: np.ndarray,
    threshold: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> np.ndarray:
    """Boolean matrix: exact squared distance of ``(x[i], y[j])`` < ``threshold[i, j]``."""
    threshold = np.broadcast_to(threshold, fast.shape)
    result = fast < threshold
    rows, cols = np.nonzero(np.abs(fast - threshold) <= tol)
    if len(rows):
        result[rows, cols] = _sq_dists_exact(x, rows, y, cols) < threshold[rows, cols]
    return result


def _kth_neighbour_sq(x: np.ndarray, xn: np.ndarray, k: int) -> np.ndarray:
    """Exact squared distance from each row of ``x`` to its k-th nearest other row."""
    n, d = x.shape
    out = np.empty(n)
    step = max(1, _BLOCK // n)
    for start in range(0, n, step):
        idx = np.arange(start, min(start + step, n))
        fast = _sq_dists_fast(x[idx], xn[idx], x, xn)
        tol = _tolerance(xn[idx], xn, d)
        fast[np.arange(len(idx)), idx] = np.inf  # the point itself is no neighbour
        upper = np.partition(fast + tol, k - 1, axis=1)[:, k - 1]
        # every pair whose exact value may be ≤ the k-th smallest; at least k per row
        rows, cols = np.nonzero(fast - tol <= upper[:, None])
        exact = _sq_dists_exact(x, idx[rows], x, cols)
        order = np.lexsort((exact, rows))
        first = np.searchsorted(rows[order], np.arange(len(idx)))
        out[idx] = exact[order][first + k - 1]
    return out


def prdc(real: ArrayLike, fake: ArrayLike, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al., 2020) with k nearest neighbours.

    Each sample's radius is the distance to its k-th nearest neighbour in its own set (the
    point itself excluded; duplicates count as neighbours at distance 0); a point lies in a
    ball when its distance to the centre is strictly smaller than the radius.

    - precision: share of fake samples inside at least one real ball;
    - recall: share of real samples inside at least one fake ball;
    - density: number of (fake, real ball) containments divided by ``k * len(fake)``;
    - coverage: share of real samples whose own ball holds at least one fake sample.

    Args:
        real: ``(N, d)`` real features.
        fake: ``(M, d)`` generated features.
        k: neighbours that set the radii; must be smaller than both N and M.

    Returns:
        ``{"precision", "recall", "density", "coverage"}`` as floats.
    """
    x, y = _pair(real, fake)
    k = _integer(k, "k", 1)
    if k >= min(len(x), len(y)):
        raise GanforgeError(
            f"k = {k} needs more than {k} samples in each set, got {len(x)} real and {len(y)} "
            "fake; lower k or pass more samples"
        )
    n, m, d = len(x), len(y), x.shape[1]
    xn, yn = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
    radius_real = _kth_neighbour_sq(x, xn, k)
    radius_fake = _kth_neighbour_sq(y, yn, k)

    in_real_ball = np.zeros(m, dtype=np.int64)  # per fake sample: real balls holding it
    real_in_fake_ball = np.zeros(n, dtype=bool)
    covered = np.zeros(n, dtype=bool)
    step = max(1, _BLOCK // m)
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        fast = _sq_dists_fast(x[rows], xn[rows], y, yn)
        tol = _tolerance(xn[rows], yn, d)
        inside_real = _below(fast, tol, radius_real[rows, None], x[rows], y)
        inside_fake = _below(fast, tol, radius_fake[None, :], x[rows], y)
        in_real_ball += inside_real.sum(axis=0)
        covered[rows] = inside_real.any(axis=1)
        real_in_fake_ball[rows] = inside_fake.any(axis=1)
    return {
        "precision": int((in_real_ball > 0).sum()) / m,
        "recall": int(real_in_fake_ball.sum()) / n,
        "density": int(in_real_ball.sum()) / (k * m),
        "coverage": int(covered.sum()) / n,
    }
