"""Random input for the generator: the seed's "Zufallseingabe"."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganforge.errors import GanforgeError

DISTRIBUTIONS = ("normal", "uniform")


class Noise:
    """Draws latent vectors ``(N, *shape)`` from an explicit, seeded ``torch.Generator``.

    The course notes that the noise distribution matters little, so two simple ones are
    offered: a standard normal and a uniform on ``[-1, 1)``.

    Args:
        shape: size of one latent sample, an int or a tuple such as ``(64, 1, 1)``.
        distribution: ``"normal"`` (default) or ``"uniform"``.
        seed: seed of the generator that every draw comes from.
        device: where the noise is drawn.
    """

    def __init__(
        self,
        shape: int | Sequence[int],
        distribution: str = "normal",
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if distribution not in DISTRIBUTIONS:
            raise GanforgeError(
                f"unknown noise distribution {distribution!r}; choose one of: "
                + ", ".join(DISTRIBUTIONS)
            )
        self.shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        if not self.shape or any(s <= 0 for s in self.shape):
            raise GanforgeError(f"noise shape must be positive, got {self.shape}")
        self.distribution = distribution
        self.device = torch.device(device)
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def __call__(self, n: int) -> torch.Tensor:
        """Returns ``n`` latent samples of shape ``(n, *shape)``."""
        size = (n, *self.shape)
        if self.distribution == "normal":
            return torch.randn(size, generator=self.generator, device=self.device)
        # uniform on [-1, 1)
        u = torch.rand(size, generator=self.generator, device=self.device)
        return u.mul_(2).sub_(1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The generator's state, so that a resumed run draws the same noise."""
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restores the state saved by :meth:`state_dict`."""
        self.generator.set_state(state["rng"].cpu())

    def __repr__(self) -> str:
        return f"Noise({self.shape}, distribution={self.distribution!r})"
