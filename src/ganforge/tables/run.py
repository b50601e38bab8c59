"""What a table run adds to the synthesizer: its options and their defaults, telling a
table from a point set, the held-out split, and the data file's digest."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ganforge.config import check_type
from ganforge.errors import GanforgeError
from ganforge.tables.columns import is_point_set, read_table
from ganforge.tables.options import TableOptions
from ganforge.tables.scores import holdout_split

# Settings of a table run besides the synthesizer's own, with their defaults; they may
# differ between a run and its resumption, except ``holdout`` (it decides the training rows).
RUN_DEFAULTS: dict[str, Any] = {
    "log_every": 100,
    "ckpt_every": 1000,
    "ckpt_keep": 3,
    "holdout": 0.2,
    "tensorboard": False,
    "device": "auto",
}
RESUMABLE = {"steps", "threads", "log_every", "ckpt_every", "ckpt_keep", "tensorboard", "device"}
METRICS = ("shapes", "pairs", "range", "copied", "dcr", "ml", "quality")
EVAL_ROWS = 5000  # synthetic rows that `ganforge eval` scores by default
MIN_HOLDOUT = 2  # fewer held-out rows than this: train on every row


def table_options() -> list[str]:
    """Every option a table run accepts: the synthesizer's and the run's."""
    return [f.name for f in dataclasses.fields(TableOptions)] + list(RUN_DEFAULTS)


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(synthesizer options, run options)`` from the options given for a table run, with
    the run's defaults filled in; options that only make sense for points or pictures get a
    clear error."""
    synth_names = {f.name for f in dataclasses.fields(TableOptions)}
    given = {k: v for k, v in options.items() if k != "data"}
    foreign = sorted(set(given) - synth_names - set(RUN_DEFAULTS))
    if foreign:
        raise GanforgeError(
            f"option(s) {', '.join(foreign)} do not apply to tables; table options: "
            + ", ".join(table_options())
        )
    defaults = {f.name: f.default for f in dataclasses.fields(TableOptions)} | RUN_DEFAULTS
    given = {k: check_type(k, v, type(defaults[k])) for k, v in given.items()}
    run = {**RUN_DEFAULTS, **{k: v for k, v in given.items() if k in RUN_DEFAULTS}}
    for name in ("log_every", "ckpt_keep"):
        if run[name] < 1:
            raise GanforgeError(f"--{name.replace('_', '-')} must be at least 1, got {run[name]}")
    if run["ckpt_every"] < 0:
        raise GanforgeError("--ckpt-every must be 0 or more")
    if not 0 <= run["holdout"] < 1:
        raise GanforgeError(f"--holdout must be in [0, 1), got {run['holdout']}")
    if run["device"] == "cuda":
        raise GanforgeError("tables train on the CPU; use --device cpu or auto")
    return {k: v for k, v in given.items() if k in synth_names}, run


def as_table(data: Any, forced: bool = False) -> pd.DataFrame | None:
    """The table that ``data`` holds, or None when it holds points or pictures.

    A DataFrame is a table; so is a ``.csv`` file, unless it is a plain numeric point set
    (then it trains as points, as before) and no column kind or rule was ``forced``.
    """
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)) and Path(data).suffix.lower() == ".csv":
        if not forced and _headerless(Path(data)):
            return None  # numbers from the first line on: a point set
        df = read_table(data)
        if forced or not is_point_set(df):
            return df
    if forced:
        raise GanforgeError(
            "column kinds, constraints and metadata apply to tables: give a .csv file with a "
            "header or a pandas DataFrame"
        )
    return None


def _headerless(path: Path) -> bool:
    """Whether a CSV file's first line holds numbers only (no header: a point set)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return False
    cells = [c.strip() for c in first.split(",")]
    try:
        [float(c) for c in cells]
    except ValueError:
        return False
    return bool(first.strip())


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: a run notices when its data file changed."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(training rows, held-out rows)``; no held-out rows when fewer than
    ``MIN_HOLDOUT`` would be."""
    if round(fraction * len(df)) < MIN_HOLDOUT:
        return df.reset_index(drop=True), df.iloc[:0]
    return holdout_split(df, fraction, seed=seed)
