"""Same seeds, same bytes: trains and samples with this checkout and with an earlier
commit, and compares the sample files byte for byte.

    python benchmarks/same_results.py [--before REV] [--threads N]

The earlier commit's ``src/`` is exported with ``git archive`` into a temporary folder and
run with the same Python (``PYTHONPATH`` chooses the source tree), one thread on both
sides. Cases: ``ring --steps 400 --seed 3`` sampled with ``-n 500 --seed 1``, ``digits
--steps 150``, and a CSV table (scikit-learn's wine table) ``--steps 150`` sampled to CSV.
Prints the machine, then one table: each case's SHA-256 on both sides and whether they
match; exit code 1 when any differs. Appends the table to RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "ring": (["ring", "--steps", "400", "--seed", "3"], ["-n", "500", "--seed", "1"], "x.npy"),
    "digits": (["digits", "--steps", "150"], ["-n", "500"], "x.npy"),
    "table": (["{csv}", "--steps", "150"], ["-n", "500"], "rows.csv"),
}


def export(rev: str, folder: Path) -> Path:
    """``src/`` of ``rev`` in ``folder``; returns the folder to put on PYTHONPATH."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def run_case(src: Path, work: Path, train: list[str], sample: list[str], out: str,
             threads: int) -> tuple[str, float]:  # fmt: skip
    """Trains and samples with the source tree ``src``; the samples' SHA-256 and seconds."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    run = work / "run"
    cli = [sys.executable, "-m", "ganforge"]
    t0 = time.perf_counter()
    subprocess.run(
        [*cli, "train", *train, "--out", str(run), "--threads", str(threads), "--quiet"],
        check=True, env=env, cwd=work, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*cli, "sample", str(run), *sample, "-o", str(work / out)],
        check=True, env=env, cwd=work, capture_output=True,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    return hashlib.sha256((work / out).read_bytes()).hexdigest(), seconds


def main() -> int:
    """Runs every case on both sides; prints and records the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="0ba6478", help="the earlier commit")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{args.threads} thread(s); {args.before} vs {commit}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sides = {"before": export(args.before, tmp / "before"), "after": ROOT / "src"}
        from sklearn.datasets import load_wine

        csv = tmp / "wine.csv"
        load_wine(as_frame=True).frame.to_csv(csv, index=False)
        for name in args.cases.split(","):
            train, sample, out = CASES[name]
            train = [a.format(csv=csv) for a in train]
            found = {}
            for side, src in sides.items():
                work = tmp / f"{name}-{side}"
                work.mkdir()
                found[side] = run_case(src, work, train, sample, out, args.threads)
            same = found["before"][0] == found["after"][0]
            rows.append((name, found["before"], found["after"], same))
    lines = [
        f"| case | {args.before} sha256 | {commit} sha256 | same bytes | s before | s after |",
        "|---|---|---|---|---|---|",
    ]
    for name, (h0, s0), (h1, s1), same in rows:
        lines.append(f"| {name} | {h0[:16]} | {h1[:16]} | {'yes' if same else 'NO'} | "
                     f"{s0:.1f} | {s1:.1f} |")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    with (ROOT / "benchmarks" / "RESULTS.md").open("a") as f:
        f.write(f"\n## same_results ({time.strftime('%Y-%m-%d')}, {commit})\n\n{table}\n")
    return 0 if all(same for *_, same in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
