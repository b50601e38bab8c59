"""Tables: a pandas DataFrame or a ``.csv`` file with a header, any column types. The
model is the conditional table GAN of :mod:`ganforge.tables` (its transformer, networks
and sampler), trained by the same session as every other kind of data; after the last
step its marginal calibration is fitted."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ganforge.distributed import Dist
from ganforge.errors import GanforgeError
from ganforge.modalities.base import Batches, Modality, Model, trainer_state
from ganforge.run import RunDir, check_same_config
from ganforge.tables.cli import parse_columns, write_table
from ganforge.tables.columns import read_table
from ganforge.tables.frame import TableFrame
from ganforge.tables.metadata import read_metadata, write_metadata
from ganforge.tables.options import TableOptions
from ganforge.tables.run import (
    EVAL_ROWS,
    METRICS,
    RESUMABLE,
    RUN_DEFAULTS,
    as_table,
    file_digest,
    split,
    split_options,
)
from ganforge.tables.scores import table_metrics
from ganforge.tables.synth import TableSynthesizer
from ganforge.threads import trainer_step
from ganforge.version import __version__

COLUMNS = ("discrete", "continuous", "datetime", "key", "text")  # force columns' kinds
RULES = ("constraints", "metadata")  # the other options that shape the modelled table
KINDS = ("continuous", "categorical", "datetime", "key", "text", "fixed", "constant")
COLUMN_HELP = {
    "discrete": "categorical",
    "continuous": "continuous (numeric)",
    "datetime": "date or time",
    "key": "key (a unique id per row, not modelled; new ids when sampling)",
    "text": "high-cardinality text (rare values pooled)",
}
DATA_KEYS = ("rows", "sha256", "columns", *COLUMNS, *RULES)  # must match to resume


def _columns(value: str | Sequence[str] | None) -> list[str]:
    return parse_columns(value) if isinstance(value, str) or value is None else list(value)


class TableModel(Model):
    """A table run: the synthesizer, its options, the data's description and the split."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.columns = {k: _columns(options.get(k)) for k in COLUMNS}
        self.rules = {
            "constraints": [str(c) for c in options.get("constraints") or []],
            "metadata": options.get("metadata"),
        }
        if isinstance(self.rules["metadata"], Path):
            self.rules["metadata"] = str(self.rules["metadata"])
        rest = {k: v for k, v in options.items() if k not in COLUMNS and k not in RULES}
        self.synth_options, self.run_options = split_options(rest)
        self.synth = TableSynthesizer(**self.synth_options)
        self.job = Dist()
        self.best_ = None

    def fit_data(self, data: pd.DataFrame | str | Path) -> None:
        """Splits off the held-out rows and prepares the synthesizer on the rest."""
        path = Path(data) if isinstance(data, (str, Path)) else None
        df = read_table(data) if path is not None else data
        cols, rules = self.columns, self.rules
        meta = read_metadata(rules["metadata"]) if rules["metadata"] is not None else None
        # checked on every row first: errors count the user's rows, keys are unique across
        # the split; the model itself learns from the training rows only
        TableFrame(cols, rules["constraints"], meta).fit(df)
        self.train_, self.holdout_ = split(df, self.run_options["holdout"], self.synth.options.seed)
        self.synth.prepare(
            self.train_, cols["discrete"], cols["continuous"], datetime_columns=cols["datetime"],
            key_columns=cols["key"], text_columns=cols["text"], **self.rules,
        )  # fmt: skip
        self.data_info_ = self._data_info(df, path)
        self._bind()

    def _bind(self) -> None:
        self.trainer = self.synth.trainer_
        self.name, self.steps = self.data_info_["name"], self.synth.steps_
        self.threads = self.synth.options.threads

    def step_timer(self) -> Callable[[], Callable[[], Any]]:
        opt = self.synth.options
        batch = (opt.batch_size // opt.pack, *self.synth.source_.shape)
        return lambda: trainer_step(self.trainer, batch)

    def _data_info(self, df: pd.DataFrame, path: Path | None) -> dict[str, Any]:
        """What the run records of its data: where it came from, the rows and the columns."""
        kinds = self.synth.column_kinds()
        return {
            "name": path.stem if path is not None else "DataFrame",
            "kind": "table",
            "path": str(path.resolve()) if path is not None else None,
            "sha256": file_digest(path) if path is not None else None,
            "rows": len(df),
            "train_rows": len(self.train_),
            "holdout_rows": len(self.holdout_),
            "shape": [df.shape[1]],
            **self.columns,
            **self.rules,
            "columns": [
                {"name": n, "kind": kinds[n], "dtype": str(df[n].dtype),
                 "missing": bool(df[n].isna().any())}
                for n in df.columns
            ],
        }  # fmt: skip

    # -- what the session reads ----------------------------------------------------------

    @property
    def loop(self) -> Mapping[str, Any]:
        return {**self.run_options, "eval_every": 0, "sample_every": 0}

    @property
    def resumable(self) -> set[str]:
        return RESUMABLE

    def config(self) -> dict[str, Any]:
        steps = getattr(self.synth, "steps_", self.synth.options.steps)
        return {**dataclasses.asdict(self.synth.options), "steps": steps, **self.run_options}

    def info(self) -> dict[str, Any]:
        return {"config": self.config(), "data": self.data_info_, "version": __version__}

    def before_step(self, step: int) -> None:
        self.synth.before_step(step)

    def batches(self) -> Batches:
        return self.synth.batches(), None

    def opened(self, run: RunDir) -> None:
        if self.synth.frame_ is not None:
            write_metadata(run.path / "metadata.json", self.synth.metadata())

    def after_training(self) -> None:
        self.synth.calibrate(self.train_)

    def finish(self, run: RunDir) -> None:
        from ganforge.tables.plots import marginals_plot

        synth = self.synth
        rows = self.sample(min(5000, max(1000, len(self.train_))), seed=synth.options.seed)
        title = f"{self.data_info_['name']}: real and generated (step {synth.step_})"
        real = synth.view(self.train_)
        marginals_plot(
            run.samples / "final.png", real, synth.view(rows), synth.view_specs(real), title
        )

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        table = self.synth.state_dict()
        trainer = table.pop("trainer")
        return {**trainer, "table": table, "config": self.config(), "version": __version__}

    def check_resumable(self, run: RunDir, state: dict[str, Any]) -> None:
        if state.get("table") is None:
            raise GanforgeError(f"{run.path} is not a table run; resume it with its own data")
        before = run.read_config().get("data") or {}
        for key in DATA_KEYS:
            if (before.get(key) or None) != (self.data_info_.get(key) or None):
                raise GanforgeError(
                    f"cannot resume {run.path}: its data differ ({key}); resume with the "
                    "table and column options it was trained with, or start a new --out"
                )
        check_same_config(run.path, state["config"], self.config(), RESUMABLE)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        table = dict(state["table"])
        if "trainer" not in table:  # the trainer's parts sit at the top level
            table["trainer"] = trainer_state(state)
        steps, threads = self.synth_options.get("steps"), self.synth_options.get("threads", 0)
        self.synth = TableSynthesizer.from_state(table)
        self.synth.options.threads = threads
        if steps:
            self.synth.steps_ = int(steps)
        if hasattr(self, "train_"):
            self.synth.stream(self.train_)
        self._bind()

    def sample(self, n: int, **options: Any) -> pd.DataFrame:
        """``n`` rows like the table's (see :meth:`TableSynthesizer.sample`)."""
        foreign = sorted(k for k, v in options.items() if v and k not in ("seed", "conditions"))
        if foreign:
            raise GanforgeError(f"{', '.join(foreign)} do not apply to tables")
        return self.synth.sample(n, seed=options.get("seed"), conditions=options.get("conditions"))

    # -- evaluation ----------------------------------------------------------------------

    def real_rows(self, data: pd.DataFrame | str | Path | None = None) -> tuple[Any, Any]:
        """``(training rows, held-out rows)``: those of this session's fit, or read again
        from ``data`` (default: the run's recorded file) and split as in training."""
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
        return split(df, self.run_options["holdout"], self.synth.options.seed)

    def evaluate(
        self,
        *,
        metrics: Sequence[str] | None = None,
        n: int | None = None,
        data: Any = None,
        target: Any = None,
        seed: int = 0,
        **_: Any,
    ) -> dict[str, Any]:
        """Fidelity and privacy of ``n`` synthetic rows (see :func:`table_metrics`): column
        shapes, pair trends, range fidelity and copied rows against the training rows; the
        distance to the closest record against held-out rows'; ML efficacy for
        ``target`` (default: the last modelled column); and SDMetrics' QualityReport score
        (``quality``, with its Column Shapes and Column Pair Trends, on the user's columns as
        ``metadata.json`` describes them; see :mod:`ganforge.tables.quality`). The other
        scores compare the rows with dates as days and without their keys."""
        chosen = list(metrics) if metrics else list(METRICS)
        unknown = sorted(set(chosen) - set(METRICS))
        if unknown:
            raise GanforgeError(
                f"unknown table metric(s) {', '.join(unknown)}; choose from: {', '.join(METRICS)}"
            )
        train, holdout = self.real_rows(data)
        synth = self.synth
        real, held_view = synth.view(train), synth.view(holdout)
        specs = synth.view_specs(real)
        modelled = [s.name for s in specs if s.kind != "constant"]
        if target is None and "ml" in chosen and modelled:
            target = modelled[-1]
        needs_holdout = "dcr" in chosen or "ml" in chosen
        held = len(holdout) > 0 and needs_holdout
        if not held and needs_holdout and metrics:
            raise GanforgeError(
                "dcr and ml need held-out rows; train with --holdout 0.2 (the default)"
            )
        n = n or EVAL_ROWS
        rows = self.sample(n, seed=seed)
        scores = table_metrics(
            real, synth.view(rows), specs, holdout=held_view if held else None,
            target=target if "ml" in chosen else None, seed=seed,
        )  # fmt: skip
        if "quality" in chosen and synth.frame_ is not None:
            from ganforge.tables.quality import quality_report

            report = quality_report(train, rows, synth.metadata())
            scores["quality"] = report["score"]
            scores["quality_shapes"] = report["column_shapes"]
            scores["quality_pairs"] = report["column_pair_trends"]
        names = {
            "shapes": ["shapes"], "pairs": ["pairs"], "range": ["range"], "copied": ["copied"],
            "dcr": ["dcr_synthetic", "dcr_holdout", "dcr_ratio"],
            "ml": ["ml_real", "ml_synthetic", "ml_ratio"],
            "quality": ["quality", "quality_shapes", "quality_pairs"],
        }  # fmt: skip
        out: dict[str, Any] = {"n": n, "train_rows": len(train), "holdout_rows": len(holdout)}
        if "ml" in chosen and held:
            out["target"] = target
        for name in chosen:
            out.update({k: scores[k] for k in names[name] if k in scores})
        return out


class Tables(Modality):
    """The tables modality."""

    kind = "table"
    outputs = (".csv", ".npy", ".npz")

    def accepts(self, data: Any, options: Mapping[str, Any]) -> bool:
        columns = [_columns(options.get(k)) for k in COLUMNS]
        forced = any(columns) or any(options.get(k) for k in RULES)
        return as_table(data, forced=forced) is not None

    def option_names(self) -> set[str]:
        names = {f.name for f in dataclasses.fields(TableOptions)}
        return names | set(RUN_DEFAULTS) | set(COLUMNS) | set(RULES) | {"data"}

    def add_flags(self, parser: argparse.ArgumentParser, taken: set[str]) -> None:
        from ganforge.flags import add_field_flag

        shared = sorted(n for n in self.option_names() if n in taken and n != "data")
        group = parser.add_argument_group(
            "tables (a .csv file with a header)",
            "These flags, and of the flags above "
            + ", ".join("--" + n.replace("_", "-") for n in shared)
            + ", with the table model's own defaults (--steps: 100 passes over the rows, at "
            "least 150 per column within 1,000 to 4,000, at most 20,000; --g-width/--d-width: 128 "
            "for rows encoded in up to 128 values, else 256; --batch-size 300, --pack 2, "
            "WGAN-GP, Adam 2e-4 (0.5, 0.9)).",
        )
        for name, what in COLUMN_HELP.items():
            group.add_argument(
                f"--{name}", default=argparse.SUPPRESS, metavar="COLS",
                help=f"comma-separated {what} columns",
            )  # fmt: skip
        group.add_argument(
            "--constraint", dest="constraints", action="append", default=argparse.SUPPRESS,
            metavar="RULE", help='a rule every sampled row keeps, by construction: "A <= B" '
            '(also <, >=, >) or "fixed: A, B" (only combinations seen); repeatable',
        )  # fmt: skip
        group.add_argument(
            "--metadata", default=argparse.SUPPRESS, metavar="FILE",
            help="column kinds from SDV single-table metadata (such as a run's metadata.json)",
        )  # fmt: skip
        group.add_argument(
            "--holdout", type=float, default=argparse.SUPPRESS,
            help="share of rows held out of training for `ganforge eval`'s privacy and ML "
            "checks (default: 0.2; 0 trains on every row)",
        )  # fmt: skip
        for f in dataclasses.fields(TableOptions):
            if f.name not in taken:
                add_field_flag(group, f, f"{f.metadata['help']} (default: {f.default})")

    def build(
        self,
        data: Any,
        options: Mapping[str, Any],
        *,
        networks: Any = None,
        optimizers: Any = None,
    ) -> TableModel:
        if networks is not None or optimizers is not None:
            raise GanforgeError(
                "tables train the table model's own networks; give no generator/discriminator"
            )
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise GanforgeError("tables train in one process; run ganforge train without torchrun")
        model = TableModel({k: v for k, v in options.items() if k != "data"})
        table = data if isinstance(data, (str, Path)) else as_table(data, forced=True)
        model.fit_data(table)
        return model

    def load(self, run: RunDir, state: dict[str, Any], device: str, networks: Any) -> TableModel:
        if state.get("table") is None:
            raise GanforgeError(f"{run.path} is not a table run")
        config = dict(state["config"])
        model = TableModel.__new__(TableModel)
        model.run_options = {k: config.pop(k) for k in RUN_DEFAULTS if k in config}
        model.synth_options, model.job, model.best_ = config, Dist(), None
        model.data_info_ = run.read_config()["data"]
        model.columns = {k: list(model.data_info_.get(k) or []) for k in COLUMNS}
        model.rules = {k: model.data_info_.get(k) for k in RULES}
        model.load_state_dict(state)
        return model

    def evaluate(self, model: Model, **options: Any) -> dict[str, Any]:
        return model.evaluate(**options)  # type: ignore[attr-defined]

    def check_output(self, path: Path) -> None:
        if path.suffix.lower() not in self.outputs:
            raise GanforgeError(f"cannot write a table to {path.name}: use -o FILE.csv (or .npy)")

    def write_samples(self, samples: pd.DataFrame, path: Path, model: Model | None = None) -> None:
        write_table(samples, path)

    def summary(self, model: Model, out: Path) -> Iterable[str]:
        yield from super().summary(model, out)
        info = model.data_info_  # type: ignore[attr-defined]
        kinds = [c["kind"] for c in info["columns"]]
        held = (
            f"; {info['holdout_rows']} held out for `ganforge eval` (--holdout 0 trains on all)"
            if info["holdout_rows"]
            else ""
        )
        yield (
            f"trained on {info['train_rows']} of {info['rows']} rows{held}; columns: "
            + ", ".join(f"{kinds.count(k)} {k}" for k in KINDS if kinds.count(k) or k in KINDS[:2])
        )
