"""Every table score of ``ganforge eval`` in one call."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ganforge.tables.columns import ColumnSpec, infer_columns
from ganforge.tables.metrics import column_shapes, ml_efficacy, pair_trends, range_fidelity
from ganforge.tables.privacy import copied_rows, dcr


def holdout_split(
    df: pd.DataFrame, fraction: float = 0.2, seed: int = 0, stratify: Any = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, holdout)``: a random ``fraction`` of the rows held out (stratified by the
    column ``stratify`` when given), so that DCR and ML efficacy have unseen real rows."""
    from sklearn.model_selection import train_test_split

    train, holdout = train_test_split(
        df,
        test_size=fraction,
        random_state=seed,
        stratify=df[stratify] if stratify is not None else None,
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def table_metrics(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    specs: list[ColumnSpec] | None = None,
    holdout: pd.DataFrame | None = None,
    target: Any = None,
    seed: int = 0,
) -> dict[str, float]:
    """Fidelity and privacy of ``synthetic`` against the ``train`` rows it was learnt from.

    Always: ``shapes``, ``pairs``, ``range`` and ``copied`` (share of synthetic rows equal to
    a training row). With ``holdout`` (real rows not trained on): ``dcr_synthetic``,
    ``dcr_holdout`` and ``dcr_ratio``; with a ``target`` column as well: ``ml_real``,
    ``ml_synthetic`` and ``ml_ratio``.
    """
    specs = specs if specs is not None else infer_columns(train)
    out = {
        "shapes": column_shapes(train, synthetic, specs),
        "pairs": pair_trends(train, synthetic, specs),
        "range": range_fidelity(train, synthetic, specs),
        "copied": copied_rows(train, synthetic),
    }
    if holdout is not None:
        out.update(dcr(train, synthetic, holdout, specs))
        if target is not None:
            out.update(ml_efficacy(train, holdout, synthetic, target, specs, seed=seed))
    return out
