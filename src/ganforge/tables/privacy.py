"""Privacy checks of a synthetic table: rows copied from the training table, and the
distance to the closest training record (DCR) against that of held-out real rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganforge.tables.columns import ColumnSpec, infer_columns


def _row_hashes(frame: pd.DataFrame, columns: list) -> np.ndarray:
    """One hash per row over ``columns``; values compare as objects (1 == 1.0), missing
    values as one label."""
    normal = pd.DataFrame(
        {c: frame[c].astype(object).where(frame[c].notna(), None).map(_canonical) for c in columns}
    )
    return pd.util.hash_pandas_object(normal, index=False).to_numpy()


def _canonical(value: object) -> str:
    """A text form in which equal numbers look alike (``1``, ``1.0`` and ``True`` differ from
    each other only where their types' values differ)."""
    if value is None:
        return "<missing>"
    if isinstance(value, (bool, np.bool_)):
        return f"b:{bool(value)}"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"n:{float(value)!r}"
    return f"s:{value}"


def copied_rows(train: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """The share of synthetic rows that equal some training row exactly, in every column."""
    columns = list(train.columns)
    seen = set(_row_hashes(train, columns).tolist())
    hashes = _row_hashes(synthetic, columns)
    return float(np.mean([h in seen for h in hashes.tolist()])) if len(hashes) else 0.0


def _encode(frame: pd.DataFrame, specs: list[ColumnSpec]) -> np.ndarray:
    """Rows as points in which each column counts at most 1: continuous values scaled by the
    real range (a missing value sits 1 away from every present one), categories one-hot
    scaled by 1/√2 (two different categories are 1 apart)."""
    parts = []
    for s in specs:
        col = frame[s.name]
        if s.kind == "continuous":
            x = col.to_numpy(dtype=np.float64, na_value=np.nan)
            span = (s.high - s.low) or 1.0
            missing = np.isnan(x)
            parts.append(np.where(missing, 0.0, (x - s.low) / span)[:, None])
            if s.missing:
                parts.append(missing[:, None].astype(np.float64))
        elif s.kind == "categorical":
            labels = col.astype(object).where(col.notna(), None)
            onehot = np.stack([(labels == c).to_numpy() for c in s.categories], axis=1)
            if None in s.categories:
                onehot[:, s.categories.index(None)] = col.isna().to_numpy()
            parts.append(onehot.astype(np.float64) / np.sqrt(2))
    return np.concatenate(parts, axis=1)


def dcr(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    specs: list[ColumnSpec] | None = None,
) -> dict[str, float]:
    """Distance to the closest training record: the median Euclidean distance from each
    synthetic row to its nearest training row, the same for held-out real rows, and their
    ratio (below 1: synthetic rows sit closer to the training rows than unseen real rows do,
    a sign of memorisation). Columns are encoded as in :func:`_encode`."""
    from sklearn.neighbors import NearestNeighbors

    specs = specs if specs is not None else infer_columns(train)
    index = NearestNeighbors(n_neighbors=1).fit(_encode(train, specs))
    syn = float(np.median(index.kneighbors(_encode(synthetic, specs))[0]))
    held = float(np.median(index.kneighbors(_encode(holdout, specs))[0]))
    return {"dcr_synthetic": syn, "dcr_holdout": held, "dcr_ratio": syn / held if held else 1.0}
