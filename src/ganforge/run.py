"""The run directory: config.json, metrics.jsonl, checkpoints/, samples/ and losses.png."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ganforge.checkpoint import (
    BEST_FILE,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from ganforge.errors import GanforgeError

RUN_FILES = (
    "config.json",
    "metrics.jsonl",
    "checkpoints",
    "samples",
    "losses.png",
    "report.html",
    "tensorboard",
)


def check_same_config(
    path: Path, saved: dict[str, Any], now: dict[str, Any], free: set[str]
) -> None:
    """Refuses to resume the run at ``path`` when its saved settings differ from the new
    ones in any key outside ``free`` (settings that may change between the two)."""
    keys = sorted((set(saved) | set(now)) - free, key=str)
    diff = ", ".join(
        f"{k}: {saved.get(k)!r} → {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)
    )
    if diff:
        raise GanforgeError(
            f"cannot resume {path} with a different configuration ({diff}); "
            "use the run's own options or start a new --out"
        )


class RunDir:
    """One training run's folder on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config_file = self.path / "config.json"
        self.metrics_file = self.path / "metrics.jsonl"
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"

    def is_run(self) -> bool:
        """Whether the folder holds a run (it has a ``config.json``)."""
        return self.config_file.is_file()

    def prepare(self, *, resume: bool, overwrite: bool) -> None:
        """Creates the folder; refuses to touch an existing run without resume/overwrite."""
        if self.path.exists() and not self.path.is_dir():
            raise GanforgeError(f"--out {self.path} is a file; name a folder for the run")
        existing = self.path.is_dir() and any(self.path.iterdir())
        if existing and not self.is_run():
            raise GanforgeError(
                f"--out {self.path} is a non-empty folder that holds no run; "
                "name a new or empty folder"
            )
        if self.is_run() and not resume:
            if not overwrite:
                raise GanforgeError(
                    f"{self.path} already holds a run; pass --resume to continue it, "
                    "--overwrite to replace it, or choose another --out"
                )
            for name in RUN_FILES:
                p = self.path / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.samples.mkdir(exist_ok=True)

    def write_config(self, info: dict[str, Any]) -> None:
        """Writes ``config.json``."""
        self.config_file.write_text(json.dumps(info, indent=2) + "\n")

    def read_config(self) -> dict[str, Any]:
        """Reads ``config.json``; a folder that is not a run gets a clear error."""
        if not self.is_run():
            raise GanforgeError(
                f"{self.path} is not a ganforge run (no config.json); "
                "give the --out folder of a finished `ganforge train`"
            )
        try:
            return json.loads(self.config_file.read_text())
        except ValueError as e:
            raise GanforgeError(f"{self.config_file} is damaged ({e})") from None

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Appends one JSON line to ``metrics.jsonl``."""
        with self.metrics_file.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """All records of ``metrics.jsonl``."""
        if not self.metrics_file.is_file():
            return []
        lines = self.metrics_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def read_records(self) -> tuple[list[dict[str, Any]], int]:
        """The readable records of ``metrics.jsonl`` (objects with a numeric ``step``) and
        the number of lines that were not one (a run killed while writing leaves half a
        line); for readers that must not fail on a damaged log."""
        if not self.metrics_file.is_file():
            return [], 0
        records, damaged = [], 0
        for line in self.metrics_file.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            step = record.get("step") if isinstance(record, dict) else None
            if isinstance(step, int | float) and not isinstance(step, bool):
                records.append(record)
            else:
                damaged += 1
        return records, damaged

    def truncate_metrics(self, step: int) -> None:
        """Drops records after ``step`` (they are repeated when a run resumes from it)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        self.metrics_file.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def save(self, step: int, state: dict[str, Any], keep: int) -> Path:
        """Writes the checkpoint of ``step`` and prunes older ones down to ``keep``."""
        path = checkpoint_path(self.checkpoints, step)
        save_checkpoint(path, state)
        prune_checkpoints(self.checkpoints, keep, protect=step)
        return path

    def latest(self) -> tuple[int, dict[str, Any]] | None:
        """The newest readable checkpoint as ``(step, state)``, or None when there is none."""
        found = list_checkpoints(self.checkpoints)
        for step, path in reversed(found):
            try:
                return step, load_checkpoint(path)
            except GanforgeError:
                continue  # a damaged newest file: fall back to the one before
        return None

    def save_best(self, state: dict[str, Any]) -> Path:
        """Writes (replaces) the best checkpoint, ``checkpoints/best.safetensors``."""
        path = self.checkpoints / BEST_FILE
        save_checkpoint(path, state)
        return path

    def best(self) -> dict[str, Any] | None:
        """The best checkpoint's state, or None when the run has none."""
        path = self.checkpoints / BEST_FILE
        return load_checkpoint(path) if path.is_file() else None

    def checkpoint(self, which: str = "latest") -> dict[str, Any]:
        """The state of the ``latest`` or the ``best`` checkpoint; a clear error if missing."""
        if which not in ("latest", "best"):
            raise GanforgeError(f"unknown checkpoint {which!r}; choose latest or best")
        if which == "best":
            state = self.best()
            if state is None:
                raise GanforgeError(
                    f"{self.path} has no best checkpoint; train it with --eval-every N "
                    "(and --best-metric) or use the latest checkpoint"
                )
            return state
        latest = self.latest()
        if latest is None:
            raise GanforgeError(
                f"{self.path} has no readable checkpoint in checkpoints/; train it (again) "
                "or resume it with --resume"
            )
        return latest[1]
