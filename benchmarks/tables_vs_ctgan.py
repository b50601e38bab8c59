"""ganforge's table synthesizer against CTGAN 0.12.1 on scikit-learn's bundled tables.

Protocol: breast-cancer and wine, each split 80/20 (stratified by ``target``, the split
seed = the round's seed); both models fit the same training rows with the same seed, in
the same session, interleaved (the order alternates by round), one torch thread each;
each samples ``N_SYN`` rows with the same seed; every score is against the training rows,
except ML efficacy (a histogram gradient-boosting classifier of ``target`` trained on the
synthetic rows, tested on the held-out 20 %, over the same trained on the real rows) and
the DCR ratio (median distance from synthetic rows to their closest training row over the
same for held-out rows). CTGAN runs its defaults for ``CTGAN_STEPS`` generator steps.

CTGAN is installed into this benchmark's own virtual environment (``benchmarks/.ctgan-venv``,
made on the first run with the project's pinned CPU torch); it is never a dependency of
ganforge.

Run: ``python benchmarks/tables_vs_ctgan.py [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from common import machine, markdown_table, record

import ganforge as gf
from ganforge.tables import TableSynthesizer, infer_columns, table_metrics

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(__file__).resolve().parent / ".ctgan-venv"
CTGAN_VERSION = "0.12.1"
CTGAN_STEPS = 3000
N_SYN = 5000
TARGET = "target"
# The reference figures for CTGAN 0.12.1 at 3,000 generator steps.
REFERENCE = {
    "breast-cancer": {"fit": 190, "shapes": 0.79, "pairs": 0.93, "range": 0.96, "ml": 0.92},
    "wine": {"fit": 123, "shapes": 0.84, "pairs": 0.95, "range": 0.97, "ml": 0.92},
}

CTGAN_WORKER = """
import json, sys, time
import numpy as np, pandas as pd, torch
torch.set_num_threads(1)
from ctgan import CTGAN
train_path, out, target = sys.argv[1], sys.argv[2], sys.argv[3]
epochs, seed, n = (int(a) for a in sys.argv[4:7])
train = pd.read_csv(train_path)
np.random.seed(seed); torch.manual_seed(seed)
model = CTGAN(epochs=epochs, verbose=False)
start = time.perf_counter()
model.fit(train, discrete_columns=[target])
fit = time.perf_counter() - start
model.set_random_state(seed)
model.sample(n).to_csv(out, index=False)
print(json.dumps({"fit": fit}))
"""


def ctgan_python() -> Path:
    """The benchmark venv's Python, with CTGAN installed (made on first use)."""
    python = VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"making {VENV} with ctgan=={CTGAN_VERSION} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the project's CPU build, first
    subprocess.run([*pip, f"ctgan=={CTGAN_VERSION}"], check=True)
    return python


def load(name: str) -> pd.DataFrame:
    """A bundled scikit-learn table with its ``target`` column."""
    from sklearn.datasets import load_breast_cancer, load_wine

    return {"breast-cancer": load_breast_cancer, "wine": load_wine}[name](as_frame=True).frame


def split(df: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80/20, stratified by the target."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(df, test_size=0.2, random_state=seed, stratify=df[TARGET])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def run_ctgan(python: Path, train: pd.DataFrame, seed: int) -> tuple[float, pd.DataFrame]:
    """Fits CTGAN in its own venv for ``CTGAN_STEPS`` steps; (fit seconds, N_SYN rows)."""
    steps_per_epoch = max(len(train) // 500, 1)  # CTGAN's default batch of 500 rows
    epochs = max(1, round(CTGAN_STEPS / steps_per_epoch))
    with tempfile.TemporaryDirectory() as tmp:
        train_path, out = Path(tmp) / "train.csv", Path(tmp) / "synthetic.csv"
        train.to_csv(train_path, index=False)
        worker = Path(tmp) / "worker.py"
        worker.write_text(CTGAN_WORKER)
        done = subprocess.run(
            [str(python), str(worker), str(train_path), str(out), TARGET, str(epochs), str(seed),
             str(N_SYN)],
            capture_output=True, text=True, check=True, cwd=tmp,
        )  # fmt: skip
        fit = json.loads(done.stdout.strip().splitlines()[-1])["fit"]
        synthetic = pd.read_csv(out)
    return fit, synthetic.astype(train.dtypes.to_dict())


def run_ganforge(train: pd.DataFrame, seed: int, steps: int = 0) -> tuple[float, TableSynthesizer]:
    """Fits ganforge's synthesizer (``steps`` 0: its preset); (fit seconds, model)."""
    options = {"steps": steps} if steps else {}
    start = time.perf_counter()
    gan = gf.GAN(train, seed=seed, holdout=0.0, threads=1, **options).fit()
    return time.perf_counter() - start, gan.model_.synth


def scores(train, test, synthetic, specs, seed) -> dict[str, float]:
    """The benchmark's numbers for one synthetic table."""
    m = table_metrics(train, synthetic, specs, holdout=test, target=TARGET, seed=seed)
    return {k: m[k] for k in ("shapes", "pairs", "range", "ml_ratio", "copied", "dcr_ratio")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tables", default="breast-cancer,wine")
    parser.add_argument("--quick", action="store_true", help="30 steps each, not recorded")
    args = parser.parse_args()
    global CTGAN_STEPS
    if args.quick:
        CTGAN_STEPS = 30
    torch.set_num_threads(1)
    python = ctgan_python()
    print(machine(), flush=True)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for seed in range(args.rounds):
        for name in args.tables.split(","):
            train, test = split(load(name), seed)
            order = ("ctgan", "ganforge") if seed % 2 == 0 else ("ganforge", "ctgan")
            for which in order:
                if which == "ctgan":
                    fit, synthetic = run_ctgan(python, train, seed)
                    specs = infer_columns(train)
                    row = {"fit": fit, **scores(train, test, synthetic, specs, seed)}
                    results.setdefault((name, "CTGAN 0.12.1"), []).append(row)
                else:
                    fit, model = run_ganforge(train, seed, steps=30 if args.quick else 0)
                    for label, calibrate in (("ganforge", True), ("ganforge, raw", False)):
                        synthetic = model.sample(N_SYN, seed=seed, calibrate=calibrate)
                        row = {"fit": fit, **scores(train, test, synthetic, model.specs_, seed)}
                        results.setdefault((name, label), []).append(row)
                print(f"{name} round {seed}: {which} done", flush=True)
    print_table(results, args.rounds, record_it=not args.quick)


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def print_table(
    results: dict[tuple[str, str], list[dict[str, float]]], rounds: int, record_it: bool = True
) -> None:
    """One table: medians over rounds, CTGAN's and the issue's reference rows beside."""
    header = ["table", "model", "fit s", "fit vs CTGAN", "column shapes", "pair trends",
              "range fidelity", "ML efficacy (syn/real)", "copied rows", "DCR ratio"]  # fmt: skip
    rows = []
    for name in dict.fromkeys(k[0] for k in results):
        ctgan = results[(name, "CTGAN 0.12.1")]
        for label in ("CTGAN 0.12.1", "ganforge", "ganforge, raw"):
            rs = results[(name, label)]
            ratios = [r["fit"] / c["fit"] for r, c in zip(rs, ctgan, strict=True)]
            rows.append([
                name, label, f"{_median(rs, 'fit'):.0f}",
                f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})",
                f"{_median(rs, 'shapes'):.3f}", f"{_median(rs, 'pairs'):.3f}",
                f"{_median(rs, 'range'):.3f}", f"{_median(rs, 'ml_ratio'):.3f}",
                f"{_median(rs, 'copied'):.4f}", f"{_median(rs, 'dcr_ratio'):.2f}",
            ])  # fmt: skip
        ref = REFERENCE[name]
        rows.append([
            name, "CTGAN, issue's reference", f"{ref['fit']}", "", f"{ref['shapes']:.2f}",
            f"{ref['pairs']:.2f}", f"{ref['range']:.2f}", f"{ref['ml']:.2f}", "", "",
        ])  # fmt: skip
    note = (
        f"Protocol: 80/20 stratified split (seed = round), {rounds} rounds interleaved, medians "
        f"(fit ratio: median, min–max); CTGAN defaults for {CTGAN_STEPS} generator steps; "
        f"ganforge's preset; {N_SYN} synthetic rows each; one torch thread. "
        "Scores against the training rows; ML efficacy: HistGradientBoosting accuracy on "
        "the held-out 20 %, trained on synthetic over trained on real rows. "
        "'ganforge, raw': the same fitted models sampled without marginal calibration."
    )
    table = markdown_table(header, rows)
    if record_it:
        record("Tables: ganforge vs CTGAN", table, note)
    else:
        print(table)


if __name__ == "__main__":
    main()
