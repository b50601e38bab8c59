"""Synthetic tabular data: column kinds (numbers, categories, dates, keys, free text),
constraints between columns, a reversible transformer, a conditional GAN with
training-by-sampling and packing, SDV metadata, and table metrics (SDMetrics' quality score
among them).

```python
import ganforge as gf
gan = gf.GAN(df, seed=0, discrete=["city"], constraints=["start <= end"]).fit(out="runs/p")
rows = gan.sample(1000, seed=1, conditions={"city": "rome"})
gan = gf.GAN.load("runs/p")
```
"""

from ganforge.tables.calibration import MarginalCalibration
from ganforge.tables.cli import parse_columns, parse_conditions, write_table
from ganforge.tables.columns import ColumnSpec, infer_columns, is_point_set, read_table
from ganforge.tables.constraints import Constraints, Fixed, Inequality, parse_constraint
from ganforge.tables.frame import TableFrame
from ganforge.tables.metadata import read_metadata, to_sdv, write_metadata
from ganforge.tables.metrics import (
    column_shape_scores,
    column_shapes,
    cramers_v,
    ks_statistic,
    ml_efficacy,
    pair_trend_scores,
    pair_trends,
    range_fidelity,
    total_variation,
)
from ganforge.tables.options import TableOptions, preset_steps
from ganforge.tables.privacy import copied_rows, dcr
from ganforge.tables.quality import quality_report
from ganforge.tables.scores import holdout_split, table_metrics
from ganforge.tables.synth import TableSynthesizer
from ganforge.tables.transformer import Span, TableTransformer

__all__ = [
    "ColumnSpec",
    "Constraints",
    "Fixed",
    "Inequality",
    "TableFrame",
    "parse_constraint",
    "quality_report",
    "read_metadata",
    "to_sdv",
    "write_metadata",
    "MarginalCalibration",
    "Span",
    "TableOptions",
    "TableSynthesizer",
    "TableTransformer",
    "column_shape_scores",
    "column_shapes",
    "copied_rows",
    "cramers_v",
    "dcr",
    "holdout_split",
    "infer_columns",
    "is_point_set",
    "ks_statistic",
    "ml_efficacy",
    "pair_trend_scores",
    "pair_trends",
    "parse_columns",
    "parse_conditions",
    "preset_steps",
    "range_fidelity",
    "read_table",
    "table_metrics",
    "total_variation",
    "write_table",
]
