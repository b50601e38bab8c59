"""Random input for the generator: the seed's "Zufallseingabe"."""

from __future__ import annotations

import hashlib
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
        class_shares: for a class-conditional generator, how often each class is drawn
            (normalised to sum to 1; usually the classes' shares of the data); ``None`` for
            an unconditional one.
    """

    def __init__(
        self,
        shape: int | Sequence[int],
        distribution: str = "normal",
        seed: int = 0,
        device: str | torch.device = "cpu",
        class_shares: Sequence[float] | None = None,
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
        self.class_shares: torch.Tensor | None = None
        if class_shares is not None:
            shares = torch.as_tensor(class_shares, dtype=torch.float64)
            if shares.dim() != 1 or len(shares) == 0 or (shares < 0).any() or shares.sum() <= 0:
                raise GanforgeError(
                    "class shares must be a non-empty list of non-negative numbers with a "
                    "positive sum"
                )
            self.class_shares = (shares / shares.sum()).to(self.device)

    @property
    def num_classes(self) -> int:
        """Number of classes a conditional generator takes; 0 for an unconditional one."""
        return 0 if self.class_shares is None else len(self.class_shares)

    def labels(self, n: int) -> torch.Tensor:
        """``n`` classes drawn with :attr:`class_shares` from the same seeded stream."""
        if self.class_shares is None:
            raise GanforgeError("this noise has no classes; give class_shares to draw them")
        return torch.multinomial(self.class_shares, n, replacement=True, generator=self.generator)

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

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> bool:
        """Restores the state saved by :meth:`state_dict`; see :func:`restore_rng`."""
        return restore_rng(self.generator, state["rng"])

    def __repr__(self) -> str:
        classes = f", classes={self.num_classes}" if self.num_classes else ""
        return f"Noise({self.shape}, distribution={self.distribution!r}{classes})"


def restore_rng(generator: torch.Generator, state: torch.Tensor) -> bool:
    """Puts ``state`` (from ``get_state``) into ``generator``; whether the stream continues.

    A state saved by a generator of another device type (a run trained on the CPU and
    continued on CUDA, say) cannot continue there: the two kinds of generator keep different
    states. ``generator`` is then seeded from a hash of the saved state instead, so that
    continuing the same run twice still draws the same numbers, and ``False`` is returned.
    """
    state = state.detach().cpu()
    if state.numel() == generator.get_state().numel():
        generator.set_state(state)
        return True
    digest = hashlib.sha256(state.contiguous().numpy().tobytes()).digest()
    generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return False
