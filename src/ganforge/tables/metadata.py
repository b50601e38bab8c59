"""Column kinds in SDV's single-table metadata layout: written to ``RUN/metadata.json`` after
inference, read back with ``--metadata FILE`` so that a user fixes the inference once.

The layout is ``{"METADATA_SPEC_VERSION": "SINGLE_TABLE_V1", "primary_key": KEY,
"columns": {name: {"sdtype": ..., ...}}}``. SDV's multi-table layout (``{"tables": {name:
{...}}}``) with one table is read as well.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ganforge.errors import GanforgeError
from ganforge.tables import datetimes as dt
from ganforge.tables.columns import ColumnSpec
from ganforge.tables.frame import TableFrame

NUMERIC_SDTYPES = {"numerical", "latitude", "longitude"}
CATEGORICAL_SDTYPES = {"categorical", "ordinal", "boolean"}


def to_sdv(frame: TableFrame, specs: Sequence[ColumnSpec]) -> dict[str, Any]:
    """The columns' kinds as SDV metadata: ``frame`` knows dates, keys and text; ``specs``
    (the transformer's) whether the other columns are numbers or categories."""
    modelled = {s.name: s for s in specs}
    columns: dict[str, Any] = {}
    for name in frame.columns_:
        kind, dtype = frame.kind(name), frame.dtypes_[name]
        spec = modelled.get(name)
        if kind == "datetime":
            fmt = frame.formats_[name]
            if fmt == dt.NATIVE:
                fmt = "%Y-%m-%d" if frame.grids_[name] == 1.0 else "%Y-%m-%d %H:%M:%S"
            columns[str(name)] = {"sdtype": "datetime", "datetime_format": fmt}
        elif kind == "key":
            columns[str(name)] = {"sdtype": "id"}
        elif kind == "text":
            columns[str(name)] = {"sdtype": "categorical", "high_cardinality": True}
        elif pd.api.types.is_bool_dtype(dtype):
            columns[str(name)] = {"sdtype": "boolean"}
        elif pd.api.types.is_numeric_dtype(dtype) and (spec is None or spec.kind != "categorical"):
            integer = pd.api.types.is_integer_dtype(dtype)
            columns[str(name)] = {
                "sdtype": "numerical",
                "computer_representation": "Int64" if integer else "Float",
            }
        else:
            columns[str(name)] = {"sdtype": "categorical"}
    out: dict[str, Any] = {"METADATA_SPEC_VERSION": "SINGLE_TABLE_V1"}
    keys = [str(n) for n in frame.keys_]
    if keys:
        out["primary_key"] = keys[0]
    out["columns"] = columns
    return out


def write_metadata(path: str | Path, metadata: dict[str, Any]) -> None:
    """Writes metadata as indented JSON."""
    Path(path).write_text(json.dumps(metadata, indent=2) + "\n")


def read_metadata(source: str | Path | dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """``{column: (kind, datetime format)}`` from an SDV metadata file or dict. Kinds:
    ``continuous`` (numerical, latitude, longitude), ``datetime``, ``key`` (id, the primary
    key), ``text`` (categorical with high cardinality, and SDV's other semantic types such as
    names or addresses), ``auto`` (categorical, ordinal, boolean: inferred as usual)."""
    if isinstance(source, dict):
        meta, where = source, "the metadata"
    else:
        path = Path(source)
        if not path.is_file():
            raise GanforgeError(f"metadata file {path} does not exist; give an existing path")
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise GanforgeError(f"cannot read {path} as JSON metadata: {e}") from None
        where = str(path)
    if isinstance(meta, dict) and "tables" in meta:
        tables = meta["tables"]
        if not isinstance(tables, dict) or len(tables) != 1:
            raise GanforgeError(f"{where} describes {len(tables)} tables; give one table's")
        meta = next(iter(tables.values()))
    if not isinstance(meta, dict) or not isinstance(meta.get("columns"), dict):
        raise GanforgeError(
            f"{where} is not SDV single-table metadata: expected "
            '{"columns": {"name": {"sdtype": ...}}}'
        )
    keys = meta.get("primary_key") or []
    keys = set([keys] if isinstance(keys, str) else keys)
    out: dict[str, tuple[str, str | None]] = {}
    for name, column in meta["columns"].items():
        sdtype = column.get("sdtype") if isinstance(column, dict) else None
        if not isinstance(sdtype, str):
            raise GanforgeError(f"{where}: column {name!r} has no sdtype; give one")
        if name in keys or sdtype == "id":
            out[name] = ("key", None)
        elif sdtype == "datetime":
            out[name] = ("datetime", column.get("datetime_format"))
        elif sdtype in NUMERIC_SDTYPES:
            out[name] = ("continuous", None)
        elif sdtype in CATEGORICAL_SDTYPES:
            out[name] = ("text" if column.get("high_cardinality") else "auto", None)
        else:
            out[name] = ("text", None)
    return out
