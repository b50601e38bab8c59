"""The conditional vector and training-by-sampling (CTGAN, section 4.3).

Each training row is conditioned on one category of one categorical column: the column is
chosen uniformly, the category by the logarithm of its frequency, so that rare categories are
seen often enough to be learnt; real rows are then drawn among those with that category. At
sampling time categories follow their real frequencies, or a condition the user gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import GanforgeError
from ganforge.tables.columns import ColumnSpec, native
from ganforge.tables.transformer import Span


class ConditionSampler:
    """Draws conditions over the categorical columns of an encoded table.

    Args:
        spans: the transformer's output spans; its ``"category"`` spans are conditioned on.
        counts: rows per category, one array per categorical column, in span order.
    """

    def __init__(self, spans: list[Span], counts: list[np.ndarray]) -> None:
        self.spans = [s for s in spans if s.role == "category"]
        if len(counts) != len(self.spans):
            raise ValueError(f"{len(counts)} count arrays for {len(self.spans)} columns")
        self.counts = [np.asarray(c, dtype=np.int64) for c in counts]
        sizes = [s.size for s in self.spans]
        self.offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(sizes)])[:-1]).long()
        self.cond_dim = int(sum(sizes))
        width = max(sizes, default=1)
        # Cumulative distributions per column, padded with 1s: the training (log-frequency)
        # one and the real-frequency one.
        self._cdf = {
            "train": self._cdfs([np.log1p(c) for c in self.counts], width),
            "original": self._cdfs(self.counts, width),
        }

    @classmethod
    def from_data(cls, spans: list[Span], data: np.ndarray) -> ConditionSampler:
        """Counts the categories of an encoded matrix."""
        counts = [data[:, s.start : s.end].sum(axis=0).round().astype(np.int64) for s in spans]
        return cls(spans, [c for c, s in zip(counts, spans, strict=True) if s.role == "category"])

    @staticmethod
    def _cdfs(weights: list[np.ndarray], width: int) -> Tensor:
        out = np.ones((max(len(weights), 1), width), dtype=np.float64)
        for j, w in enumerate(weights):
            cdf = np.cumsum(w) / max(w.sum(), 1e-300)
            out[j, : len(w)] = cdf
        return torch.as_tensor(out)

    @property
    def n_columns(self) -> int:
        """Number of categorical columns."""
        return len(self.spans)

    def draw(
        self, n: int, generator: torch.Generator, mode: str = "train"
    ) -> tuple[Tensor, Tensor]:
        """``n`` conditions as ``(column, category)`` index pairs (two ``(n,)`` long tensors).

        ``mode`` ``"train"`` draws categories by log-frequency, ``"original"`` by frequency.
        """
        device = generator.device
        if not self.spans:
            empty = torch.zeros(n, dtype=torch.long, device=device)
            return empty, empty
        cdf = self._cdf[mode].to(device)
        column = torch.randint(self.n_columns, (n,), generator=generator, device=device)
        u = torch.rand(n, 1, generator=generator, device=device, dtype=torch.float64)
        category = (cdf[column] < u).sum(1)
        category = torch.minimum(category, torch.as_tensor(self._sizes(), device=device)[column])
        return column, category

    def _sizes(self) -> list[int]:
        return [s.size - 1 for s in self.spans]

    def one_hot(self, column: Tensor, category: Tensor) -> Tensor:
        """The conditional vectors ``(n, cond_dim)`` of ``(column, category)`` pairs."""
        if not self.spans:
            return torch.zeros(len(column), 0, device=column.device)
        flat = self.offsets.to(column.device)[column] + category
        return torch.nn.functional.one_hot(flat, self.cond_dim).float()

    def locate(self, specs: list[ColumnSpec], name: Any, value: Any) -> tuple[int, int]:
        """``(column, category)`` of the condition ``name = value``; the value may also be
        given as the text of a category (as on the command line)."""
        names = {specs[s.column].name: j for j, s in enumerate(self.spans)}
        if name not in names:
            kinds = {s.name: s.kind for s in specs}
            why = f"it is {kinds[name]}" if name in kinds else "there is no such column"
            raise GanforgeError(
                f"cannot condition on {name!r}: {why}; conditions take categorical columns: "
                + (", ".join(map(str, names)) or "none in this table")
            )
        j = names[name]
        cats = specs[self.spans[j].column].categories
        value = native(value)
        for k, c in enumerate(cats):
            if value == c and isinstance(value, bool) == isinstance(c, bool):
                return j, k
        for k, c in enumerate(cats):  # by text, e.g. "1" for 1 or "True" for True
            if c is not None and isinstance(value, str) and str(c).lower() == value.lower():
                return j, k
        shown = ", ".join("<missing>" if c is None else repr(c) for c in cats)
        raise GanforgeError(f"column {name!r} has no category {value!r}; its categories: {shown}")

    def state_dict(self) -> dict[str, Any]:
        """The category counts (the spans come from the transformer)."""
        return {"counts": [c.tolist() for c in self.counts]}

    @classmethod
    def from_state(cls, spans: list[Span], state: dict[str, Any]) -> ConditionSampler:
        """Rebuilds a sampler from :meth:`state_dict` and the transformer's spans."""
        return cls(spans, [np.asarray(c) for c in state["counts"]])


class RowIndex:
    """Finds real rows by category: for a ``(column, category)`` pair, a uniformly random
    row of the encoded matrix whose ``column`` holds ``category``."""

    def __init__(self, sampler: ConditionSampler, data: np.ndarray) -> None:
        n = len(data)
        self.n_rows = n
        order, starts, counts = [], [], []
        for j, span in enumerate(sampler.spans):
            codes = data[:, span.start : span.end].argmax(axis=1)
            order.append(np.argsort(codes, kind="stable") + 0)
            c = np.bincount(codes, minlength=span.size)
            counts.append(c)
            starts.append(j * n + np.concatenate([[0], np.cumsum(c)[:-1]]))
        self.offsets = sampler.offsets
        self.order = torch.as_tensor(np.concatenate(order) if order else np.arange(n)).long()
        self.starts = torch.as_tensor(np.concatenate(starts) if starts else [0]).long()
        self.counts = torch.as_tensor(np.concatenate(counts) if counts else [n]).long()
        self.conditional = bool(sampler.spans)

    def rows(self, column: Tensor, category: Tensor, generator: torch.Generator) -> Tensor:
        """One row index per pair; without categorical columns, uniform over all rows."""
        u = torch.rand(len(column), generator=generator, device=generator.device)
        if not self.conditional:
            return (u * self.n_rows).long().clamp_max(self.n_rows - 1)
        flat = self.offsets[column.cpu()] + category.cpu()
        count = self.counts[flat]
        pick = (u.cpu() * count).long().clamp_max(count - 1)
        return self.order[self.starts[flat] + pick].to(column.device)
