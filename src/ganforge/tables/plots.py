"""The picture of a table run: each column's real and generated distribution side by side."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ganforge.tables.columns import ColumnSpec

MAX_PANELS = 16  # columns shown (the first ones of the table)
MAX_BARS = 12  # categories shown per column (the commonest real ones)
BINS = 30

REAL, FAKE = "#1f77b4", "#d62728"


def _categories(
    real: pd.Series, fake: pd.Series, spec: ColumnSpec
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The column's categories in their order (the commonest real ones when there are too
    many; missing shown as "(missing)") and each side's shares."""
    r = real.astype(object).where(real.notna(), "(missing)").astype(str)
    f = fake.astype(object).where(fake.notna(), "(missing)").astype(str)
    labels = ["(missing)" if c is None else str(c) for c in spec.categories]
    if len(labels) > MAX_BARS or set(r) - set(labels):
        labels = list(r.value_counts().index[:MAX_BARS])
    shares = [s.value_counts(normalize=True).reindex(labels, fill_value=0.0) for s in (r, f)]
    return labels, shares[0].to_numpy(), shares[1].to_numpy()


def marginals_plot(
    path: Path,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    specs: list[ColumnSpec],
    title: str,
) -> None:
    """Histograms (continuous columns, shared bins) and category shares (categorical ones)
    of real and generated rows, one panel per column, saved as a PNG."""
    shown = [s for s in specs if s.kind != "constant"][:MAX_PANELS]
    ncol = min(4, max(1, len(shown)))
    nrow = max(1, math.ceil(len(shown) / ncol))
    fig = Figure(figsize=(3.2 * ncol, 2.6 * nrow + 0.6), dpi=100)
    for i, spec in enumerate(shown):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        a, b = real[spec.name], synthetic[spec.name]
        if spec.kind == "continuous":
            x = a.dropna().to_numpy(dtype=np.float64)
            y = b.dropna().to_numpy(dtype=np.float64)
            lo, hi = float(np.min(x)), float(np.max(x))
            edges = np.linspace(lo, hi if hi > lo else lo + 1, BINS + 1)
            ax.hist(x, edges, density=True, color=REAL, alpha=0.5, label="real")
            ax.hist(np.clip(y, edges[0], edges[-1]), edges, density=True, color=FAKE,
                    alpha=0.5, label="generated")  # fmt: skip
        else:
            labels, p, q = _categories(a, b, spec)
            pos = np.arange(len(labels))
            ax.bar(pos - 0.2, p, 0.4, color=REAL, label="real")
            ax.bar(pos + 0.2, q, 0.4, color=FAKE, label="generated")
            ax.set_xticks(pos, [label[:10] for label in labels], rotation=45, fontsize=7)
        name = str(spec.name)[:30]
        if spec.kind == "continuous" and spec.missing:
            name += f" (missing {a.isna().mean():.0%} / {b.isna().mean():.0%})"
        ax.set_title(name.replace("$", r"\$"), fontsize=9)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(title.replace("$", r"\$"), fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.12, top=0.88, wspace=0.3, hspace=0.7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
