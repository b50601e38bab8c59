"""ganforge's table synthesizer against SDV 2.0's GaussianCopula and CTGAN on mixed tables.

Tables: ``seattle-weather`` (dates, one-decimal floats, a category; ``temp_min <= temp_max``),
``cars`` (high-cardinality names, year dates, missing values, ints), ``airports`` (a unique
key, free text, city/state with missing values, many-decimal coordinates; the city/state
pairs fixed) and ``stocks`` (symbol, monthly date, price), all from the ``vega_datasets``
package's bundled files, read in the SDV venv and written as CSV (dates ``%Y-%m-%d``).

Protocol, per table and seed (the order of the three models alternates by seed):

* ganforge as a user runs it: ``GAN(df, holdout=0, constraints=[...]).fit(out=RUN)``
  (what ``ganforge train TABLE.csv --holdout 0 --constraint ...`` runs: column kinds
  inferred, its preset and thread choice, the whole run directory written), its fit timed
  in-process as SDV's is; then ``ganforge sample RUN -n ROWS`` timed as a whole process,
  start-up included.
* SDV ``GaussianCopulaSynthesizer`` and ``CTGANSynthesizer``, defaults, given the
  benchmark's own metadata (the judge's truth) and the equivalent ``sdv.cag`` constraints
  (``Inequality``, ``FixedCombinations``); fit and sample timed inside the worker.
* Real halves: the table split at random in two; one half scored against the other.

Every synthetic table has as many rows as the real one and is scored against it with
SDMetrics' ``QualityReport`` (overall, Column Shapes, Column Pair Trends) and the judge's
checks: dates parse in their format and lie in the real range; categories were seen (for
free-text columns the share seen is reported, not judged); no more decimals than the real
column (ints stay ints); missing share within 5 points of the real; keys unique and
present; every constraint holds on every row (fixed: each combination seen in the real).
Targets: all checks pass; quality >= max(SDV) + 0.02; fit <= half SDV CTGAN's; sampling
<= 5 s.

SDV is installed into this benchmark's own venv (``benchmarks/.sdv-venv``, made on the first
run with the project's CPU torch pinned first); it is never a dependency of ganforge.

Run: ``python benchmarks/tables_vs_sdv.py [--seeds 3] [--tables cars,airports]``; a quick
look: ``--steps 200 --sdv-epochs 10 --no-record`` (``--sdv-python PATH`` or ``SDV_PYTHON``
for an existing venv with sdv and vega_datasets).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import machine, markdown_table, record

VENV = Path(__file__).resolve().parent / ".sdv-venv"
SDV_VERSION = "2.0.0"
TORCH_PIN = "torch==2.13.0"  # the project's CPU build; its pandas pin is too new for SDV
MODELS = ("ganforge", "GaussianCopula", "CTGAN")
HALVES = "real halves"
NUM, CAT = {"sdtype": "numerical"}, {"sdtype": "categorical"}
DATE = {"sdtype": "datetime", "datetime_format": "%Y-%m-%d"}
# The judge's truth per table: SDV single-table metadata, constraints in ganforge's syntax,
# and the free-text columns whose unseen values are reported, not failed.
TABLES = {
    "seattle-weather": {
        "columns": {"date": DATE, "precipitation": NUM, "temp_max": NUM, "temp_min": NUM,
                    "wind": NUM, "weather": CAT},
        "constraints": ["temp_min <= temp_max"], "text": [],
    },
    "cars": {
        "columns": {"Name": CAT, "Miles_per_Gallon": NUM, "Cylinders": NUM,
                    "Displacement": NUM, "Horsepower": NUM, "Weight_in_lbs": NUM,
                    "Acceleration": NUM, "Year": DATE, "Origin": CAT},
        "constraints": [], "text": ["Name"],
    },
    "airports": {
        "columns": {"iata": {"sdtype": "id"}, "name": CAT, "city": CAT, "state": CAT,
                    "country": CAT, "latitude": NUM, "longitude": NUM},
        "primary_key": "iata", "constraints": ["fixed: city, state"], "text": ["name", "city"],
    },
    "stocks": {
        "columns": {"symbol": CAT, "date": DATE, "price": NUM}, "constraints": [], "text": [],
    },
}  # fmt: skip

WORKER = r"""
import json, random, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd

def load(folder, *names):
    from vega_datasets import local_data
    for name in names:
        df = getattr(local_data, name.replace("-", "_"))()
        for col in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[col]):
                df[col] = df[col].dt.strftime("%Y-%m-%d")
            elif df[col].dtype.kind == "f" and (df[col].dropna() % 1 == 0).all():
                df[col] = df[col].astype("Int64")  # ints with missing values, written as ints
        df.to_csv(f"{folder}/{name}.csv", index=False)

def synth(model, real, meta, out, seed, epochs, constraints):
    import numpy as np, torch
    from sdv.cag import FixedCombinations, Inequality
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer
    random.seed(int(seed)); np.random.seed(int(seed)); torch.manual_seed(int(seed))
    data = pd.read_csv(real)
    metadata = Metadata.load_from_dict(json.load(open(meta)))
    if model == "CTGAN":
        kwargs = {"epochs": int(epochs)} if int(epochs) else {}
        synthesizer = CTGANSynthesizer(metadata, **kwargs)
    else:
        synthesizer = GaussianCopulaSynthesizer(metadata)
    cag = [Inequality(low_column_name=c[1], high_column_name=c[2]) if c[0] == "<="
           else FixedCombinations(column_names=c[1:]) for c in json.loads(constraints)]
    if cag:
        synthesizer.add_constraints(cag)
    start = time.perf_counter()
    synthesizer.fit({"table": data})  # SDV 2.0: a dict of tables, even for one
    fit = time.perf_counter() - start
    start = time.perf_counter()
    rows = synthesizer.sample(len(data))["table"]
    sample = time.perf_counter() - start
    rows.to_csv(out, index=False)
    print(json.dumps({"fit": fit, "sample": sample}))

def score(jobs):
    from sdmetrics.reports import QualityReport
    results = []
    for job in json.load(open(jobs)):
        try:
            table = json.load(open(job["meta"]))
            table.pop("METADATA_SPEC_VERSION", None)
            real = pd.read_csv(job["real"])
            syn = pd.read_csv(job["syn"])[list(real.columns)]
            report = QualityReport()
            report.generate({"table": real}, {"table": syn}, {"tables": {"table": table}},
                            verbose=False)
            props = report.get_properties().set_index("Property")["Score"]
            results.append({"quality": float(report.get_score()),
                            "shapes": float(props["Column Shapes"]),
                            "pairs": float(props["Column Pair Trends"])})
        except Exception as error:
            results.append({"error": repr(error)[:300]})
    print(json.dumps(results))

{"load": load, "synth": synth, "score": score}[sys.argv[1]](*sys.argv[2:])
"""


def sdv_python(given: str | None) -> Path:
    """The Python of a venv with SDV and vega_datasets; benchmarks/.sdv-venv, made once."""
    if given:
        return Path(given)
    python, ready = VENV / "bin" / "python", VENV / ".installed"
    if ready.exists():
        return python
    print(f"making {VENV} with sdv=={SDV_VERSION} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        pin = Path(tmp) / "torchpin.txt"
        pin.write_text(TORCH_PIN + "\n")
        pip = [str(python), "-m", "pip", "install", "-q", "-c", str(pin)]
        subprocess.run([*pip, TORCH_PIN], check=True)  # the CPU build, before SDV pulls one
        subprocess.run([*pip, f"sdv=={SDV_VERSION}", "vega_datasets"], check=True)
    ready.touch()
    return python


def parse(constraint: str) -> list[str]:
    """``"a <= b"`` -> ``["<=", a, b]``; ``"fixed: a, b"`` -> ``["fixed", a, b]``."""
    if constraint.startswith("fixed:"):
        return ["fixed", *(c.strip() for c in constraint[6:].split(","))]
    low, high = (c.strip() for c in constraint.split("<="))
    return ["<=", low, high]


def metadata(spec: dict) -> dict:
    """SDV's single-table layout of a table's judge metadata."""
    meta = {"METADATA_SPEC_VERSION": "SINGLE_TABLE_V1", "columns": spec["columns"]}
    return meta | ({"primary_key": spec["primary_key"]} if "primary_key" in spec else {})


def read(path: Path) -> pd.DataFrame:
    """A CSV as written, every cell a string; only empty cells are missing."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def decimals(values: pd.Series) -> int:
    """The most decimal places among the numbers (0: all integers)."""
    x = np.abs(values.to_numpy(dtype=float))
    x = x[np.isfinite(x)]
    for d in range(13):
        if np.all(np.abs(x - np.round(x, d)) <= 1e-11 * np.maximum(1.0, x)):
            return d
    return 13


def typed(df: pd.DataFrame, col: str, spec: dict) -> pd.Series:
    """A column as numbers, dates (NaT where unparseable) or strings, by the judge's sdtype."""
    kind = spec["columns"][col]["sdtype"]
    if kind == "numerical":
        return pd.to_numeric(df[col], errors="coerce")
    if kind == "datetime":
        return pd.to_datetime(
            df[col], format=spec["columns"][col]["datetime_format"], errors="coerce"
        )
    return df[col]


def judge(real: pd.DataFrame, syn: pd.DataFrame, spec: dict, n: int) -> tuple[list, list]:
    """The judge's checks of a synthetic table of ``n`` rows: (failed checks, notes)."""
    absent = [c for c in spec["columns"] if c not in syn.columns]
    if absent or len(syn) != n:
        return [f"columns {absent}, {len(syn)} rows"], []
    failed, notes = [], []
    for col, col_spec in spec["columns"].items():
        kind, r, s = col_spec["sdtype"], real[col], syn[col]
        if abs(s.isna().mean() - r.isna().mean()) > 0.05:
            failed.append(f"{col} missing share {s.isna().mean():.0%}")
        if kind in ("numerical", "datetime"):
            rv, sv = typed(real, col, spec).dropna(), typed(syn, col, spec)
            if sv.isna().sum() > s.isna().sum():
                failed.append(f"{col} unparseable")
            elif kind == "datetime" and (sv.min() < rv.min() or sv.max() > rv.max()):
                failed.append(f"{col} out of range")
            elif kind == "numerical" and decimals(sv) > decimals(rv):
                failed.append(f"{col} decimals {decimals(sv)} > {decimals(rv)}")
        elif kind == "categorical":
            seen = s.dropna().isin(set(r.dropna()))
            if col in spec["text"]:
                notes.append(f"{col} {seen.mean():.0%} seen")
            elif not seen.all():
                failed.append(f"{col} {(~seen).sum()} unseen")
        elif kind == "id" and (s.isna().any() or s.duplicated().any()):
            failed.append(f"{col} key not unique")
    for text in spec["constraints"]:
        op, *cols = parse(text)
        if op == "<=":
            low, high = (typed(syn, c, spec) for c in cols)
            bad = (low > high).sum()  # rows where either side is missing are not judged
        else:
            combos = set(real[cols].fillna("\0").itertuples(index=False))
            bad = (~syn[cols].fillna("\0").apply(tuple, axis=1).isin(combos)).sum()
        if bad:
            failed.append(f"'{text}' broken on {bad} rows")
    return failed, notes


GANFORGE_WORKER = """
import json, sys, time
import pandas as pd
import ganforge as gf
csv, run, seed, steps, metadata = sys.argv[1:6]
constraints = json.loads(sys.argv[6])
df = pd.read_csv(csv)
options = {"steps": int(steps)} if int(steps) else {}
if metadata:
    options["metadata"] = metadata
start = time.perf_counter()
gf.GAN(df, seed=int(seed), holdout=0.0, constraints=constraints, **options).fit(out=run)
print(json.dumps({"fit": time.perf_counter() - start}))
"""


def run_ganforge(csv: Path, folder: Path, spec: dict, seed: int, args) -> dict:
    """ganforge as a user runs it: the fit of ``GAN(df).fit(out=RUN)`` (what ``ganforge
    train`` does) timed in-process, as SDV's is; ``ganforge sample`` timed as a whole
    process, start-up included."""
    run, out = folder / "ganforge-run", folder / "ganforge.csv"
    metadata = str(csv.with_suffix(".json")) if args.ganforge_metadata else ""
    train = [sys.executable, "-c", GANFORGE_WORKER, str(csv), str(run), str(seed),
             str(args.steps), metadata, json.dumps(spec["constraints"])]  # fmt: skip
    sample = [sys.executable, "-m", "ganforge", "sample", str(run), "-n",
              str(len(read(csv))), "-o", str(out), "--seed", str(seed)]  # fmt: skip
    row = {}
    for key, command in (("fit", train), ("sample", sample)):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        row[key] = time.perf_counter() - start
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["?"])[-1].split(" (see `")[0]
            return {"error": f"{key}: {last}"}
        if key == "fit":
            row["fit"] = json.loads(done.stdout.strip().splitlines()[-1])["fit"]
    inferred = run / "metadata.json"
    if inferred.exists():  # ganforge's own inference, set beside the judge's truth
        meta = json.loads(inferred.read_text())
        cols = meta.get("columns") or next(iter(meta["tables"].values()))["columns"]
        row["kinds"] = [
            f"{c} {cols.get(c, {}).get('sdtype')} (judge: {s['sdtype']})"
            for c, s in spec["columns"].items()
            if cols.get(c, {}).get("sdtype") != s["sdtype"]
        ]
    return row | {"path": out}


def run_sdv(python: Path, worker: Path, model: str, csv: Path, folder: Path, spec, seed, args):
    """One SDV synthesizer in its venv; fit and sample timed inside, start-up beside."""
    out = folder / f"{model}.csv"
    constraints = json.dumps([parse(c) for c in spec["constraints"]])
    command = [str(python), str(worker), "synth", model, str(csv), str(csv.with_suffix(".json")),
               str(out), str(seed), str(args.sdv_epochs or 0), constraints]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    wall = time.perf_counter() - start
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return row | {"startup": wall - row["fit"] - row["sample"], "path": out}


def one_round(name: str, csv: Path, folder: Path, seed: int, python, worker, args) -> dict:
    """The three models and the real halves on one table with one seed, scored and judged."""
    spec, real = TABLES[name], read(csv)
    folder.mkdir(parents=True)
    rows = {}
    for model in MODELS if seed % 2 == 0 else MODELS[::-1]:
        if model == "ganforge":
            rows[model] = run_ganforge(csv, folder, spec, seed, args)
        else:
            rows[model] = run_sdv(python, worker, model, csv, folder, spec, seed, args)
    shuffled = real.sample(frac=1, random_state=seed).reset_index(drop=True)
    half = len(real) // 2
    shuffled[:half].to_csv(folder / "half-a.csv", index=False)
    shuffled[half:].to_csv(folder / "half-b.csv", index=False)
    rows[HALVES] = {"path": folder / "half-b.csv", "real": folder / "half-a.csv"}
    jobs = [
        {"real": str(row.get("real", csv)), "syn": str(row["path"]),
         "meta": str(csv.with_suffix(".json"))}
        for row in rows.values() if "path" in row
    ]  # fmt: skip
    (folder / "jobs.json").write_text(json.dumps(jobs))
    score = [str(python), str(worker), "score", str(folder / "jobs.json")]
    done = subprocess.run(score, capture_output=True, text=True, check=True, cwd=folder)
    scores = iter(json.loads(done.stdout.strip().splitlines()[-1]))
    for label, row in rows.items():
        if "path" in row:  # real halves: the second half against the whole table
            row.update(next(scores))
            n = len(real) - half if label == HALVES else len(real)
            row["failed"], row["notes"] = judge(real, read(row["path"]), spec, n)
        print(f"  {name} seed {seed} {label}: " + describe(row), flush=True)
    return rows


def describe(row: dict) -> str:
    """One line of a model's numbers, checks, notes and errors."""
    parts = [f"{k} {row[k]:.3f}" for k in ("quality", "shapes", "pairs") if k in row]
    parts += [f"{k} {row[k]:.2f} s" for k in ("fit", "sample", "startup") if k in row]
    if "failed" in row:
        parts.append("FAILED: " + "; ".join(row["failed"]) if row["failed"] else "checks pass")
    parts += row.get("notes", [])
    if row.get("kinds"):
        parts.append("inferred " + ", ".join(row["kinds"]))
    return ", ".join(parts + [f"ERROR {row['error']}"] if "error" in row else parts)


def median(rows: list[dict], key: str) -> float:
    """The median of a number over seeds (NaN where no run has it)."""
    return statistics.median([r[key] for r in rows if key in r] or [float("nan")])


def fmt(value: float, digits: int) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def summary(results: dict, seeds: int, sdv_epochs: int | None) -> tuple[list, list[str], str]:
    """The final table's rows (medians over seeds), the target lines, and the note."""
    rows, targets = [], []
    for name, by_model in results.items():
        for label in (*MODELS, HALVES):
            rs = by_model[label]
            ok = sum(not r.get("error") and not r.get("failed") for r in rs)
            failed = sorted({f for r in rs for f in r.get("failed", [])})
            failed += sorted({r["error"][:80] for r in rs if r.get("error")})
            numbers = [fmt(median(rs, k), 3) for k in ("quality", "shapes", "pairs")]
            numbers += [fmt(median(rs, "fit"), 1), fmt(median(rs, "sample"), 2)]
            shown = label if label in ("ganforge", HALVES) else f"SDV {label}"
            rows.append([name, shown, *numbers, "; ".join([f"{ok}/{len(rs)} pass", *failed])])
        g, half_ctgan = by_model["ganforge"], median(by_model["CTGAN"], "fit") / 2
        q, fit, sample = (median(g, k) for k in ("quality", "fit", "sample"))
        sdv = [median(by_model[m], "quality") for m in MODELS[1:]]
        bar = max((x for x in sdv if x == x), default=float("nan")) + 0.02
        verdicts = [
            ("checks", all(not r.get("error") and not r.get("failed") for r in g), "every seed"),
            ("quality", q >= bar, f"{fmt(q, 3)} >= {fmt(bar, 3)}"),
            ("fit", fit <= half_ctgan, f"{fmt(fit, 1)} s <= {fmt(half_ctgan, 1)} s"),
            ("sampling", sample <= 5, f"{fmt(sample, 2)} s <= 5 s"),
        ]
        targets.append(f"{name} targets: " + "; ".join(
            f"{k} {'PASS' if ok else 'FAIL'} ({why})" for k, ok, why in verdicts))  # fmt: skip
    startup = median([r for by in results.values() for m in MODELS[1:] for r in by[m]], "startup")
    note = (
        f"Protocol: {seeds} seed(s), medians, models in alternating order. ganforge: "
        "`GAN(df, holdout=0, constraints=...).fit(out=RUN)` (as `ganforge train` runs it), "
        "column kinds inferred, its preset, fit timed in-process; `ganforge sample` timed as a "
        "whole process. SDV "
        f"{SDV_VERSION} GaussianCopula and CTGAN: defaults"
        + (f" (CTGAN {sdv_epochs} epochs)" if sdv_epochs else "")
        + ", the judge's metadata and sdv.cag constraints; fit and sample timed in-process "
        f"(the venv's start-up, imports and reading, adds {fmt(startup, 1)} s per process). "
        "Real halves: a random half against the other. Quality: SDMetrics QualityReport "
        "against the real table, as many rows; checks: see the script's docstring."
    )
    return rows, targets, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--steps", type=int, default=0, help="ganforge train --steps (0: preset)")
    parser.add_argument("--sdv-epochs", type=int, default=None, help="SDV CTGAN epochs")
    parser.add_argument("--sdv-python", default=os.environ.get("SDV_PYTHON"),
                        help="a Python with sdv and vega_datasets (default: made)")  # fmt: skip
    parser.add_argument("--ganforge-metadata", action="store_true",
                        help="ganforge gets the judge's metadata, not its inference")  # fmt: skip
    parser.add_argument("--no-record", action="store_true", help="print, don't append RESULTS.md")
    args = parser.parse_args()
    names = args.tables.split(",")
    python = sdv_python(args.sdv_python)
    print(machine(), flush=True)
    results = {name: {label: [] for label in (*MODELS, HALVES)} for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        worker = tmp / "worker.py"
        worker.write_text(WORKER)
        subprocess.run([str(python), str(worker), "load", str(tmp), *names], check=True)
        for name in names:
            (tmp / f"{name}.json").write_text(json.dumps(metadata(TABLES[name]), indent=1))
        for seed in range(args.seeds):
            for name in names:
                folder = tmp / name / f"seed{seed}"
                rows = one_round(name, tmp / f"{name}.csv", folder, seed, python, worker, args)
                for label, row in rows.items():
                    results[name][label].append(row)
    rows, targets, note = summary(results, args.seeds, args.sdv_epochs)
    header = ["table", "model", "quality", "column shapes", "pair trends", "fit s", "sample s",
              "checks"]  # fmt: skip
    table = markdown_table(header, rows) + "\n\n" + "\n".join(f"- {t}" for t in targets)
    if args.no_record:
        print(table)
    else:
        record("Tables: ganforge vs SDV", table, note)


if __name__ == "__main__":
    main()
