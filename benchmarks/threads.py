"""Whole `ganforge train` processes with the default threads, `--threads 1` and `--threads 2`,
on an idle machine and beside one and two busy single-threaded processes.

Each run is a fresh `python -m ganforge train DATA --steps N --quiet` (its time: the whole
process, start-up included); the environment has no OMP_NUM_THREADS, MKL_NUM_THREADS or
OMP_WAIT_POLICY. A busy process is `python -c "while True: pass"`, started before the run
and stopped after it. Rounds are interleaved (every setup once per round, the order
reversed every other round); the table gives medians with their min–max, and each ratio
is the median of the rounds' own ratios.

Targets (issue 37): the default within 5 % of the faster of 1 and 2 threads on an idle
machine; beside one busy process at most 1.3x, beside two at most 2.2x its idle time.

The ``--spin`` data sets also run 1 and 2 threads beside one busy process, each also as
`spin`: torch loaded before ganforge, so that `OMP_WAIT_POLICY` stays unset as it was
before ganforge set it. `2 spin` against `2` shows what passive waits are worth there (and,
idle, what they cost); `1 spin` against `1` whether `torch.set_num_threads(1)` alone does
as well.

    python benchmarks/threads.py [--data digits,mnist,ring,wine]
        [--steps 200,100,200,200] [--rounds 3] [--spin digits] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, markdown_table, record  # noqa: E402

DATA = "digits,mnist,ring,wine"
STEPS = "200,100,200,200"  # three rounds: about 10-12 minutes on two idle cores (estimated)
TABLES = ("breast-cancer", "wine")  # scikit-learn's bundled tables, written to a CSV
CLEARED = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # each run's own choice
SPIN = "import sys, torch; from ganforge.cli import main; sys.exit(main())"  # torch first
TARGET_IDLE, TARGET_ONE, TARGET_TWO = 1.05, 1.3, 2.2
# (busy processes, setup): what the targets need; the --spin data sets add SPIN_MATRIX
MATRIX = [(0, "default"), (0, "1"), (0, "2"), (1, "default"), (2, "default")]
SPIN_MATRIX = [(0, "2 spin"), (1, "1"), (1, "1 spin"), (1, "2"), (1, "2 spin")]


def table_csv(name: str, folder: Path) -> Path:
    """A bundled scikit-learn table with its ``target`` column, as a CSV file."""
    from sklearn.datasets import load_breast_cancer, load_wine

    loader = {"breast-cancer": load_breast_cancer, "wine": load_wine}[name]
    path = folder / f"{name}.csv"
    loader(as_frame=True).frame.to_csv(path, index=False)
    return path


def train(data: str, steps: int, setup: str, out: Path) -> float:
    """Seconds of one whole ``ganforge train`` process."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    start = ["-c", SPIN] if setup.endswith("spin") else ["-m", "ganforge"]
    threads = [] if setup == "default" else ["--threads", setup.split()[0]]
    cmd = [
        sys.executable,
        *start,
        "train",
        data,
        "--steps",
        str(steps),
        "--quiet",
        "--out",
        str(out),
        *threads,
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def busy(n: int) -> list[subprocess.Popen]:
    """``n`` single-threaded processes that keep a core busy until stopped."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def cell(values: list[float]) -> str:
    """Median (min–max) of seconds, or of ratios."""
    if not values:
        return "–"
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def ratio_cell(a: list[float], b: list[float], target: float) -> tuple[str, bool]:
    """The median (min–max) of the rounds' ratios a / b, marked against ``target``."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    med = statistics.median(ratios)
    mark = "pass" if med <= target else "FAIL"
    return f"{med:.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) {mark}", med <= target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA, help=f"comma-separated (default: {DATA})")
    parser.add_argument("--steps", default=STEPS, help=f"steps of each data set ({STEPS})")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--spin", default="digits", help="data sets that also run 1, 2 and '2 spin' beside one"
    )
    parser.add_argument("--no-record", action="store_true", help="print only (a quick check)")
    args = parser.parse_args()
    names = [d for d in args.data.split(",") if d]
    steps = dict(zip(names, (int(s) for s in args.steps.split(",")), strict=True))
    spin = {d for d in args.spin.split(",") if d}
    print(machine(), flush=True)
    print(f"{os.cpu_count()} cores, {len(os.sched_getaffinity(0))} usable", flush=True)

    times: dict[tuple[str, int, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = {d: str(table_csv(d, folder)) if d in TABLES else d for d in names}
        jobs = [(d, n, s) for d in names for n, s in MATRIX]
        jobs += [(d, n, s) for d in names if d in spin for n, s in SPIN_MATRIX]
        for r in range(args.rounds):
            for i, (d, n, s) in enumerate(jobs if r % 2 == 0 else jobs[::-1]):
                procs = busy(n)
                try:
                    time.sleep(0.5 if n else 0)  # the busy processes are running
                    seconds = train(paths[d], steps[d], s, folder / f"run-{r}-{i}")
                finally:
                    stop(procs)
                times.setdefault((d, n, s), []).append(seconds)
                print(f"round {r + 1}: {d}, {n} busy, threads {s}: {seconds:.1f} s", flush=True)

    rows = []
    for d in names:

        def t(n: int, s: str, d: str = d) -> list[float]:
            return times.get((d, n, s), [])

        best = [min(a, b) for a, b in zip(t(0, "1"), t(0, "2"), strict=True)]
        idle, idle_ok = ratio_cell(t(0, "default"), best, TARGET_IDLE)
        one, one_ok = ratio_cell(t(1, "default"), t(0, "default"), TARGET_ONE)
        two, two_ok = ratio_cell(t(2, "default"), t(0, "default"), TARGET_TWO)
        met = "yes" if idle_ok and one_ok and two_ok else "no"
        idle_cells = [cell(t(0, s)) for s in ("default", "1", "2", "2 spin")]
        one_cells = [cell(t(1, s)) for s in ("default", "1", "1 spin", "2", "2 spin")]
        two_cells = [cell(t(2, "default"))]
        rows.append([d, str(steps[d]), *idle_cells, idle, *one_cells, one, *two_cells, two, met])
    header = [
        "data", "steps", "idle: default s", "idle: 1 thread", "idle: 2 threads", "idle: 2 spin",
        "default / faster (≤ 1.05)", "1 busy: default", "1 busy: 1 thread", "1 busy: 1 spin",
        "1 busy: 2 threads", "1 busy: 2 spin", "default 1 busy / idle (≤ 1.3)", "2 busy: default",
        "default 2 busy / idle (≤ 2.2)", "targets met",
    ]  # fmt: skip
    table = markdown_table(header, rows)
    note = (
        f"Whole `python -m ganforge train DATA --steps N --quiet` processes, {args.rounds} "
        "interleaved rounds, seconds as median (min–max); ratios: median of the rounds' "
        "ratios. Busy: `python -c 'while True: pass'`. `spin`: torch loaded before ganforge, "
        "so OMP_WAIT_POLICY unset (as before ganforge set it). Tables: "
        "scikit-learn's bundled table with its target column, as a CSV."
    )
    if args.no_record:
        print(table)
        return
    record("Threads on a busy machine (benchmarks/threads.py)", table, note)


if __name__ == "__main__":
    main()
