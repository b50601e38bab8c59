"""Mode-specific normalisation (Xu et al. 2019, CTGAN, section 4.2): a variational Gaussian
mixture per continuous column, and each value written as its mode and its offset in it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

MAX_MODES = 10
WEIGHT_THRESHOLD = 0.005  # modes of smaller weight are dropped, as the paper describes
SPREAD = 4.0  # α = (x - η) / (4φ): a mode's values land (mostly) inside [-1, 1]


@dataclass
class Modes:
    """The kept modes of one column: means ``η``, standard deviations ``φ``, weights."""

    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.means)

    def responsibilities(self, x: np.ndarray) -> np.ndarray:
        """``(N, K)`` posterior probability of each mode for each value of ``x`` ``(N,)``."""
        z = (x[:, None] - self.means[None]) / self.stds[None]
        log_p = np.log(self.weights)[None] - np.log(self.stds)[None] - 0.5 * z * z
        log_p -= log_p.max(axis=1, keepdims=True)
        p = np.exp(log_p)
        return p / p.sum(axis=1, keepdims=True)

    def encode(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Each value's mode, drawn from its posterior as the paper does, and its offset
        ``α = (x - η_k) / (4φ_k)``; returns ``(alpha (N,), mode (N,))``."""
        p = self.responsibilities(x)
        u = rng.random(len(x))[:, None]
        mode = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), len(self) - 1)
        alpha = (x - self.means[mode]) / (SPREAD * self.stds[mode])
        return alpha, mode

    def decode(self, alpha: np.ndarray, mode: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`: ``x = 4φ_k·α + η_k``."""
        return alpha * SPREAD * self.stds[mode] + self.means[mode]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists of floats (exact through JSON)."""
        return {k: getattr(self, k).tolist() for k in ("means", "stds", "weights")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Modes:
        """Inverse of :meth:`to_dict`."""
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("means", "stds", "weights")))


def fit_modes(
    values: np.ndarray,
    max_modes: int = MAX_MODES,
    weight_threshold: float = WEIGHT_THRESHOLD,
    seed: int = 0,
) -> Modes:
    """Fits a Dirichlet-process Gaussian mixture of up to ``max_modes`` components to a
    column's values and keeps the modes whose weight is at least ``weight_threshold``.

    The values are standardised for the fit, so that the mixture's small covariance floor is
    relative to the column's spread.
    """
    x = np.asarray(values, dtype=np.float64)
    shift, scale = float(x.mean()), float(x.std())
    scale = scale if scale > 0 else 1.0
    k = max(1, min(max_modes, len(np.unique(x))))
    if k == 1:
        return Modes(np.array([shift]), np.array([scale]), np.array([1.0]))
    vgm = BayesianGaussianMixture(
        n_components=k,
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=1e-3,  # a small prior: few modes unless the data need more
        max_iter=100,
        n_init=1,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vgm.fit(((x - shift) / scale)[:, None])
    weights = vgm.weights_
    keep = weights >= weight_threshold
    keep[np.argmax(weights)] = True
    means = vgm.means_[keep, 0] * scale + shift
    stds = np.sqrt(vgm.covariances_[keep].reshape(-1)) * scale
    order = np.argsort(means)  # modes in order of their means, for readability
    w = weights[keep][order]
    return Modes(means[order], stds[order], w / w.sum())
