"""Table runs: a :class:`TableSynthesizer` trained into a run directory (config.json,
metrics.jsonl, checkpoints/, samples/final.png, losses.png), resumed, loaded, sampled and
evaluated. :class:`ganforge.GAN` and the command line hand tables to :class:`TableRun`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ganforge import __version__
from ganforge.errors import GanforgeError
from ganforge.loop import Meter, TrainingInterrupted, sigint_flag
from ganforge.run import RunDir, check_same_config
from ganforge.tables.columns import infer_columns, is_point_set, read_table
from ganforge.tables.options import TableOptions
from ganforge.tables.scores import holdout_split, table_metrics
from ganforge.tables.synth import TableSynthesizer

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
METRICS = ("shapes", "pairs", "range", "copied", "dcr", "ml")
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


def as_table(
    data: Any,
    discrete_columns: Sequence[str] | None = None,
    continuous_columns: Sequence[str] | None = None,
) -> pd.DataFrame | None:
    """The table that ``data`` holds, or None when it holds points or pictures.

    A DataFrame is a table; so is a ``.csv`` file, unless it is a plain numeric point set
    (then it trains as points, as before) and no column kind was forced.
    """
    forced = bool(discrete_columns) or bool(continuous_columns)
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
            "--discrete/--continuous apply to tables: give a .csv file with a header or a "
            "pandas DataFrame"
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


def _split(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(training rows, held-out rows)``; no held-out rows when fewer than
    ``MIN_HOLDOUT`` would be."""
    if round(fraction * len(df)) < MIN_HOLDOUT:
        return df.reset_index(drop=True), df.iloc[:0]
    return holdout_split(df, fraction, seed=seed)


class TableRun:
    """A table synthesizer with its run: the options, the data's description and the split.

    Args:
        **options: fields of :class:`TableOptions` and the run settings of
            :data:`RUN_DEFAULTS`.
    """

    def __init__(self, **options: Any) -> None:
        self.synth_options, self.run_options = split_options(options)
        self.synth = TableSynthesizer(**self.synth_options)

    @property
    def config(self) -> dict[str, Any]:
        """Every setting of the run, resolved (what config.json records)."""
        steps = getattr(self.synth, "steps_", self.synth.options.steps)
        return {**dataclasses.asdict(self.synth.options), "steps": steps, **self.run_options}

    # -- training ------------------------------------------------------------------------

    def fit(
        self,
        data: pd.DataFrame | str | Path,
        discrete_columns: Sequence[str] | None = None,
        continuous_columns: Sequence[str] | None = None,
        *,
        out: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        progress: bool = False,
        source: str | Path | None = None,
    ) -> TableRun:
        """Splits off the held-out rows, trains on the rest and, with ``out``, writes the
        run directory as it goes (checkpoints every ``ckpt_every`` steps, Ctrl-C saves one).

        ``data`` is a DataFrame or a CSV path; ``source`` names the file a DataFrame was
        read from (recorded with its SHA-256, so that ``ganforge eval`` can read it again).
        """
        if isinstance(data, (str, Path)):
            source, data = data, read_table(data)
        path = Path(source) if source is not None else None
        df = data
        opt = self.run_options
        self.train_, self.holdout_ = _split(df, opt["holdout"], self.synth.options.seed)
        self.data_info_ = self._data_info(df, path, discrete_columns, continuous_columns)
        if opt["tensorboard"]:
            from ganforge.api import _summary_writer

            _summary_writer()  # a missing package fails before anything is written
        run = RunDir(out) if out is not None else None
        start = 0
        if run is not None:
            run.prepare(resume=resume, overwrite=overwrite)
            if resume:
                start = self._resume(run)
            run.write_config(self.info)
        callback = _Logger(self, run, start) if run is not None else None
        try:
            self.synth.fit(
                self.train_,
                discrete_columns,
                continuous_columns,
                progress=progress,
                callback=callback,
                resume=start > 0,
            )
        finally:
            if callback is not None:
                callback.close()
        if run is not None:
            run.write_config(self.info)  # the resolved number of steps
            run.save(self.synth.step_, self.state(), opt["ckpt_keep"])
            self._pictures(run)
        return self

    def _data_info(
        self,
        df: pd.DataFrame,
        path: Path | None,
        discrete_columns: Sequence[str] | None,
        continuous_columns: Sequence[str] | None,
    ) -> dict[str, Any]:
        """What the run records of its data: where it came from, the rows and the columns."""
        specs = infer_columns(df, discrete_columns, continuous_columns)
        return {
            "name": path.stem if path is not None else "DataFrame",
            "kind": "table",
            "path": str(path.resolve()) if path is not None else None,
            "sha256": file_digest(path) if path is not None else None,
            "rows": len(df),
            "train_rows": len(self.train_),
            "holdout_rows": len(self.holdout_),
            "shape": [df.shape[1]],
            "discrete": list(discrete_columns or []),
            "continuous": list(continuous_columns or []),
            "columns": [
                {"name": s.name, "kind": s.kind, "dtype": s.dtype, "missing": s.missing}
                for s in specs
            ],
        }

    @property
    def info(self) -> dict[str, Any]:
        """config.json's content."""
        return {"config": self.config, "data": self.data_info_, "version": __version__}

    def state(self) -> dict[str, Any]:
        """A checkpoint: the synthesizer's whole state and the run's settings."""
        return {"table": self.synth.state_dict(), "config": self.config, "version": __version__}

    def _resume(self, run: RunDir) -> int:
        """Loads the newest checkpoint of ``run`` after checking the settings agree; the
        step it holds (0 when there is none yet)."""
        latest = run.latest()
        if latest is None:
            run.truncate_metrics(0)
            return 0
        step, state = latest
        if state.get("table") is None:
            raise GanforgeError(f"{run.path} is not a table run; resume it with its own data")
        before = run.read_config().get("data") or {}
        for key in ("rows", "sha256", "columns", "discrete", "continuous"):
            if before.get(key) != self.data_info_.get(key):
                raise GanforgeError(
                    f"cannot resume {run.path}: its data differ ({key}); resume with the "
                    "table and column options it was trained with, or start a new --out"
                )
        steps = self.synth_options.get("steps")
        check_same_config(run.path, state["config"], self.config, RESUMABLE)
        self.synth = TableSynthesizer.from_state(state["table"])
        self.synth.options.threads = self.synth_options.get("threads", 0)
        if steps:
            self.synth.steps_ = int(steps)
        run.truncate_metrics(step)
        return step

    def _pictures(self, run: RunDir) -> None:
        from ganforge.plots import loss_plot
        from ganforge.tables.plots import marginals_plot

        rows = self.sample(min(5000, max(1000, len(self.train_))), seed=self.synth.options.seed)
        marginals_plot(
            run.samples / "final.png",
            self.train_,
            rows,
            self.synth.specs_,
            f"{self.data_info_['name']}: real and generated (step {self.synth.step_})",
        )
        loss_plot(run.path / "losses.png", run.read_metrics())

    # -- loading and sampling ------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, checkpoint: str = "latest") -> TableRun:
        """The table run saved in the run directory ``path``."""
        run = RunDir(path)
        info = run.read_config()
        state = run.checkpoint(checkpoint)
        if state.get("table") is None:
            raise GanforgeError(f"{path} is not a table run")
        table = cls.__new__(cls)
        config = dict(state["config"])
        table.run_options = {k: config.pop(k) for k in RUN_DEFAULTS if k in config}
        table.synth_options = config
        table.synth = TableSynthesizer.from_state(state["table"])
        table.data_info_ = info["data"]
        return table

    def sample(
        self,
        n: int,
        seed: int | None = None,
        conditions: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """``n`` rows like the table's (see :meth:`TableSynthesizer.sample`)."""
        return self.synth.sample(n, seed=seed, conditions=conditions)

    # -- evaluation ----------------------------------------------------------------------

    def real_rows(self, data: pd.DataFrame | str | Path | None = None) -> tuple[Any, Any]:
        """``(training rows, held-out rows)``: those of this session's :meth:`fit`, or read
        again from ``data`` (default: the run's recorded file) and split as in training."""
        if data is None and hasattr(self, "train_"):
            return self.train_, self.holdout_
        info = self.data_info_
        if data is None:
            if info.get("path") is None:
                raise GanforgeError(
                    "this run was trained on a DataFrame; pass the table with --data FILE.csv "
                    "(or evaluate(gan, data=df))"
                )
            data = info["path"]
            if not Path(data).is_file():
                raise GanforgeError(f"the run's data file {data} is gone; pass it with --data")
            if info.get("sha256") and file_digest(data) != info["sha256"]:
                raise GanforgeError(
                    f"{data} changed since training; pass the table it was trained on with --data"
                )
        df = read_table(data) if isinstance(data, (str, Path)) else data
        if len(df) != info["rows"]:
            raise GanforgeError(
                f"the run was trained on {info['rows']} rows, the given table has {len(df)}; "
                "pass the table it was trained on"
            )
        return _split(df, self.run_options["holdout"], self.synth.options.seed)

    def evaluate(
        self,
        *,
        metrics: Sequence[str] | None = None,
        n: int | None = None,
        data: pd.DataFrame | str | Path | None = None,
        target: Any = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Fidelity and privacy of ``n`` synthetic rows (see :func:`table_metrics`): column
        shapes, pair trends, range fidelity and copied rows against the training rows; the
        distance to the closest record against held-out rows'; and ML efficacy for
        ``target`` (default: the last modelled column)."""
        chosen = list(metrics) if metrics else list(METRICS)
        unknown = sorted(set(chosen) - set(METRICS))
        if unknown:
            raise GanforgeError(
                f"unknown table metric(s) {', '.join(unknown)}; choose from: {', '.join(METRICS)}"
            )
        train, holdout = self.real_rows(data)
        specs = self.synth.specs_
        modelled = [s.name for s in specs if s.kind != "constant"]
        if target is None and "ml" in chosen and modelled:
            target = modelled[-1]
        held = len(holdout) > 0 and ("dcr" in chosen or "ml" in chosen)
        if not held and ("dcr" in chosen or "ml" in chosen) and metrics:
            raise GanforgeError(
                "dcr and ml need held-out rows; train with --holdout 0.2 (the default)"
            )
        n = n or EVAL_ROWS
        rows = self.sample(n, seed=seed)
        scores = table_metrics(
            train,
            rows,
            specs,
            holdout=holdout if held else None,
            target=target if "ml" in chosen else None,
            seed=seed,
        )
        names = {
            "shapes": ["shapes"],
            "pairs": ["pairs"],
            "range": ["range"],
            "copied": ["copied"],
            "dcr": ["dcr_synthetic", "dcr_holdout", "dcr_ratio"],
            "ml": ["ml_real", "ml_synthetic", "ml_ratio"],
        }
        out: dict[str, Any] = {
            "n": n,
            "train_rows": len(train),
            "holdout_rows": len(holdout),
        }
        if "ml" in chosen and held:
            out["target"] = target
        for name in chosen:
            out.update({k: scores[k] for k in names[name] if k in scores})
        return out


class _Logger:
    """The callback of a table run's training: averaged statistics to metrics.jsonl (and
    TensorBoard) every ``log_every`` steps, checkpoints every ``ckpt_every``, Ctrl-C."""

    def __init__(self, table: TableRun, run: RunDir, start: int) -> None:
        self.table, self.run, self.meter = table, run, Meter()
        opt = table.run_options
        self.board = None
        if opt["tensorboard"]:
            from ganforge.api import _summary_writer

            self.board = _summary_writer()(str(run.path / "tensorboard"), purge_step=start + 1)
        self._sigint = sigint_flag()
        self.interrupted = self._sigint.__enter__()

    def __call__(self, step: int, stats: dict[str, float]) -> None:
        table, opt = self.table, self.table.run_options
        self.meter.add(stats)
        total = table.synth.steps_
        if step % opt["log_every"] == 0 or step == total:
            record = {"step": step, **self.meter.flush()}
            self.run.append_metrics(record)
            if self.board is not None:
                for key, value in record.items():
                    if key != "step":
                        self.board.add_scalar(key, value, step)
        stop = self.interrupted() and step < total
        periodic = opt["ckpt_every"] and step % opt["ckpt_every"] == 0 and step < total
        if periodic or stop:
            path = self.run.save(step, table.state(), opt["ckpt_keep"])
            if stop:
                raise TrainingInterrupted(step, path)

    def close(self) -> None:
        """Restores Ctrl-C and closes TensorBoard's writer."""
        self._sigint.__exit__(None, None, None)
        if self.board is not None:
            self.board.close()
