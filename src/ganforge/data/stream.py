"""What the streams of finite data sets share: a seeded order reshuffled every epoch, and
its position saved and restored, so that a resumed run sees the same batches."""

from __future__ import annotations

import torch
from torch import Tensor


class ShuffledStream:
    """Batches of indices into ``n`` items, a fresh permutation from ``self.generator``
    whenever the current one cannot fill a batch. Subclasses set ``self.generator`` (a
    seeded ``torch.Generator``) and call :meth:`_start`."""

    generator: torch.Generator

    def _start(self) -> None:
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def _next_indices(self, n: int, batch_size: int) -> Tensor:
        """The indices of the next batch of ``batch_size`` of the ``n`` items."""
        if self._pos + batch_size > len(self._order):
            self._order = torch.randperm(n, generator=self.generator)
            self._pos = 0
        idx = self._order[self._pos : self._pos + batch_size]
        self._pos += batch_size
        return idx

    def state_dict(self) -> dict[str, Tensor]:
        """The stream's position, so that a resumed run sees the same batches."""
        return {
            "rng": self.generator.get_state(),
            "order": self._order,
            "pos": torch.tensor(self._pos),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.generator.set_state(state["rng"])
        self._order = state["order"].long()
        self._pos = int(state["pos"])
