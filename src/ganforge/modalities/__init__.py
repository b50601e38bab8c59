"""The kinds of data ganforge trains on, behind one interface (:mod:`.base`), and the
registry that picks one for the data at hand. Adding a kind of data = one module and one
line in :data:`MODALITIES`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.modalities.base import Modality, Model
from ganforge.modalities.pictures import Pictures
from ganforge.modalities.points import Points
from ganforge.modalities.sequences import Sequences
from ganforge.modalities.tables import Tables

# Asked in this order; the first that accepts the data takes it (points take the rest).
MODALITIES: tuple[Modality, ...] = (Sequences(), Tables(), Pictures(), Points())


def modality_for(data: Any, options: Mapping[str, Any]) -> Modality:
    """The modality of ``data`` (a name, path, array or frame) with ``options``; an option
    that only another kind of data takes is a clear error."""
    found = next(m for m in MODALITIES if m.accepts(data, options))
    foreign = sorted(set(options) - found.option_names())
    if foreign:
        name = foreign[0]
        owners = [m.kind for m in MODALITIES if name in m.option_names()]
        flag = "--" + name.replace("_", "-")
        if owners:
            raise GanforgeError(
                f"{flag} applies to {' and '.join(owners)} data, but {data!s:.60} is "
                f"{found.kind} data"
                + ("; give a .csv file with a header" if owners == ["table"] else "")
            )
        valid = ", ".join(sorted(set().union(*(m.option_names() for m in MODALITIES))))
        raise GanforgeError(f"unknown option(s) {', '.join(foreign)}; valid ones: {valid}")
    return found


def modality_named(kind: str) -> Modality:
    """The modality that config.json's data ``kind`` names."""
    for m in MODALITIES:
        if m.kind == kind:
            return m
    raise GanforgeError(f"unknown kind of data {kind!r} in the run's config.json")


def option_names() -> set[str]:
    """Every option some kind of data takes."""
    return set().union(*(m.option_names() for m in MODALITIES))


__all__ = ["MODALITIES", "Modality", "Model", "modality_for", "modality_named", "option_names"]
