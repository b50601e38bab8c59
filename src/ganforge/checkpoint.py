"""Checkpoints as single safetensors files: tensors as tensors, the rest as JSON metadata.

Nothing is ever unpickled. A nested state (dicts, lists, numbers, strings and tensors, as
``state_dict()`` methods return them) is split into a flat ``{name: tensor}`` map and a JSON
skeleton kept in the file's metadata. Each tensor is stored under its path in the state,
joined by dots, so that a part loads without ganforge: the keys that start with
``generator.`` are, without that prefix, the generator's own ``state_dict()`` names.
(Files of earlier versions named their tensors "0", "1", ...; they load as before.)
Writes are atomic: a temporary file in the same folder, flushed and fsynced, then renamed
over the target.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from ganforge.errors import GanforgeError

_TENSOR = "__tensor__"
_ITEMS = "__items__"


def _name(path: str, tensors: dict[str, torch.Tensor]) -> str:
    """``path``, or ``path#2``, ``path#3``, ... if a tensor already has that name."""
    name, k = path, 1
    while name in tensors:
        k += 1
        name = f"{path}#{k}"
    return name


def _flatten(obj: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    def join(key: Any) -> str:
        return f"{path}.{key}" if path else str(key)

    if isinstance(obj, torch.Tensor):
        key = _name(path or "tensor", tensors)
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _flatten(v, tensors, join(k)) for k, v in obj.items()}
        return {_ITEMS: [[k, _flatten(v, tensors, join(k))] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, tensors, join(i)) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        if _ITEMS in obj:
            return {k: _unflatten(v, tensors) for k, v in obj[_ITEMS]}
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def atomic_write(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that a crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Saves a nested state to one safetensors file, atomically."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors)
    atomic_write(Path(path), st_save(tensors, metadata={"state": json.dumps(skeleton)}))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Loads what :func:`save_checkpoint` wrote; a damaged file gets a clear error."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            skeleton = json.loads((f.metadata() or {})["state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise GanforgeError(
            f"checkpoint {path} is damaged or not a ganforge checkpoint ({e}); "
            "delete it to fall back to an older one"
        ) from None
    return _unflatten(skeleton, tensors)


BEST_FILE = "best.safetensors"  # the best checkpoint by the run's --best-metric
_STEP_FILE = re.compile(r"step_(\d+)\.safetensors$")


def checkpoint_path(folder: Path, step: int) -> Path:
    """``folder/step_000500.safetensors``."""
    return folder / f"step_{step:06d}.safetensors"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every checkpoint in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return sorted(found)


def prune_checkpoints(folder: Path, keep: int, protect: int | None = None) -> None:
    """Deletes all but the newest ``keep`` checkpoints (never step ``protect``)."""
    found = list_checkpoints(folder)
    for step, path in found[: max(0, len(found) - keep)]:
        if step != protect:
            path.unlink(missing_ok=True)
