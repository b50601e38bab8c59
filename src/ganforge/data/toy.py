"""2-D toy distributions: Gaussian mixtures with known modes (DESIGN.md §4)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight isotropic Gaussians with the given means and one standard deviation.

    Attributes:
        means: ``(K, d)`` mode centres.
        std: the standard deviation of every mode.
    """

    means: np.ndarray
    std: float

    @property
    def dim(self) -> int:
        """Dimension ``d`` of a sample."""
        return int(self.means.shape[1])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draws ``n`` float32 samples ``(n, d)``: a uniform mode, then Gaussian noise."""
        means = torch.as_tensor(self.means, dtype=torch.float32)
        idx = torch.randint(len(means), (n,), generator=generator)
        return means[idx] + self.std * torch.randn(n, self.dim, generator=generator)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The mixture's exact per-coordinate mean and standard deviation."""
        mean = self.means.mean(axis=0)
        var = self.means.var(axis=0) + self.std**2
        return mean, np.sqrt(var)


def ring(n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> GaussianMixture:
    """Modes at ``(r cos 2πi/K, r sin 2πi/K)``, i = 0..K-1."""
    angles = 2 * math.pi * np.arange(n_modes) / n_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture(means, std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """Modes on the square lattice ``{-(s-1), ..., s-1}² · spacing/2`` (``{-4,...,4}²``)."""
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    xx, yy = np.meshgrid(ticks, ticks, indexing="ij")
    return GaussianMixture(np.stack([xx.ravel(), yy.ravel()], axis=1), std)


MIXTURES = {"ring": ring, "grid": grid}
