"""Marginal calibration, fitted once after training from a large generated sample.

Continuous columns: a monotone map per column from the generator's marginal to the real
one, ``x ↦ F_real⁻¹(F_gen(x))``, applied after decoding. A monotone map changes no row's
rank within its column, so the dependence the generator learnt (its copula) is kept, while
each column's distribution is moved onto the real one. Both quantile functions are
piecewise linear through ``LEVELS`` quantiles, so the map is continuous: values between
real ones, none copied, none outside the real range.

One-hot groups (categories, missing-value indicators): one logit shift per entry, added to
every row's logits before the Gumbel-max draw, chosen so that the average probability of
each entry equals its real frequency. Rows keep their order of preference, so the
dependence on the other columns is kept too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

LEVELS = 256  # quantiles per column on each side of the map
TOLERANCE = 1e-6  # logit shifts stop once no step moves a share by more than about this


class MarginalCalibration:
    """Per-column monotone maps, fitted from real and generated values.

    Attributes:
        maps: column index → ``(generated quantiles, real quantiles)``, each ``(LEVELS,)``.
        bias: ``(d,)`` logit shifts in the encoded layout (0 outside calibrated groups).
    """

    def __init__(
        self,
        maps: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
        bias: np.ndarray | None = None,
    ) -> None:
        self.maps = maps or {}
        self.bias = bias

    @classmethod
    def fit(
        cls,
        real: dict[int, np.ndarray],
        generated: dict[int, np.ndarray],
        levels: int = LEVELS,
    ) -> MarginalCalibration:
        """Maps for the columns in both dicts (values of one column each; NaNs ignored)."""
        p = np.linspace(0.0, 1.0, levels)
        maps = {}
        for i, r in real.items():
            r = r[~np.isnan(r)]
            g = generated[i][~np.isnan(generated[i])]
            if len(r) < 2 or len(g) < 2:
                continue
            q_gen = np.quantile(g, p)
            spread = max(float(q_gen[-1] - q_gen[0]), 1e-12)
            # strictly increasing knots, so that ties in the generated values stay a function
            q_gen = np.maximum.accumulate(q_gen) + np.arange(levels) * spread * 1e-9
            maps[i] = (q_gen, np.quantile(r, p))
        return cls(maps)

    @staticmethod
    def fit_bias(
        logits: np.ndarray,
        groups: list[tuple[int, int, np.ndarray, np.ndarray]],
        iterations: int = 100,
    ) -> np.ndarray:
        """Logit shifts ``(d,)`` for generated ``logits`` ``(N, d)``.

        ``groups`` holds ``(start, end, target frequencies, rows)``: each group's average
        softmax over ``rows`` (a boolean mask) is moved onto its targets by iterative
        proportional fitting, ``b ← b + log p_real - log p_model``, until no step is larger
        than ``TOLERANCE`` (or after ``iterations``).
        """
        bias = np.zeros(logits.shape[1])
        for start, end, target, rows in groups:
            part = logits[rows, start:end]
            if len(part) == 0:
                continue
            want = np.log(np.clip(target, 1e-12, None))
            b = np.zeros(end - start)
            for _ in range(iterations):
                z = part + b
                z = np.exp(z - z.max(axis=1, keepdims=True))
                have = (z / z.sum(axis=1, keepdims=True)).mean(axis=0)
                step = want - np.log(np.clip(have, 1e-12, None))
                b += step
                if np.abs(step).max() < TOLERANCE:  # the shares match: later steps change nothing
                    break
            bias[start:end] = b - b.mean()
        return bias

    def apply(self, column: int, values: np.ndarray) -> np.ndarray:
        """``values`` of ``column`` mapped onto the real marginal (NaNs stay NaN)."""
        if column not in self.maps:
            return values
        q_gen, q_real = self.maps[column]
        return np.where(np.isnan(values), np.nan, np.interp(values, q_gen, q_real))

    def state_dict(self) -> dict[str, Any]:
        """The maps as tensors (float64)."""
        columns = sorted(self.maps)
        stack = (
            (lambda k: torch.as_tensor(np.stack([self.maps[c][k] for c in columns])))
            if columns
            else (lambda k: torch.zeros(0, 0, dtype=torch.float64))
        )
        bias = torch.as_tensor(self.bias) if self.bias is not None else None
        return {"columns": columns, "generated": stack(0), "real": stack(1), "bias": bias}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> MarginalCalibration | None:
        """Inverse of :meth:`state_dict` (``None`` stays ``None``)."""
        if state is None:
            return None
        gen, real = state["generated"].numpy(), state["real"].numpy()
        bias = state.get("bias")
        return cls(
            {int(c): (gen[k], real[k]) for k, c in enumerate(state["columns"])},
            bias.numpy() if bias is not None else None,
        )
