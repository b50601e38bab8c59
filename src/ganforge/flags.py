"""Command-line flags derived from configuration dataclass fields, so that every default
lives in one place (the dataclass) and the flags follow it."""

from __future__ import annotations

import argparse
from dataclasses import Field
from typing import Any


def add_field_flag(parser: Any, f: Field, help_text: str) -> None:
    """``--name`` for a config dataclass field: on/off for booleans, else typed by its
    default; absent unless given (``SUPPRESS``), so that presets fill the rest."""
    flag = "--" + f.name.replace("_", "-")
    if isinstance(f.default, bool):
        parser.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
        )
        return
    parser.add_argument(
        flag,
        type=type(f.default),
        default=argparse.SUPPRESS,
        metavar=f.name.upper(),
        choices=f.metadata.get("choices"),
        help=help_text,
    )
