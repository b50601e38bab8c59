"""Images (samples) per second of `ganforge train` on 1 and 2 processes under torchrun.

Each configuration trains the same data set for the same number of steps; the rate comes
from the steps per second that rank 0 logs after a warm-up, times the batch in all
(per-process batch × processes). Configurations run interleaved, `--repeats` times, and
the table shows the median rate and its ratio to 1 process. On a 2-core machine expect
little gain: both processes share the cores the single process already used.

    python benchmarks/scaling.py [--data digits] [--steps 600] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, record  # noqa: E402


def train(
    data: str, nproc: int, batch: int, threads: int, steps: int, device: str, out: Path
) -> float:
    """Runs one training under torchrun; returns samples per second after the warm-up."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "ganforge",
        "train",
        data,
        "--steps",
        str(steps),
        "--batch-size",
        str(batch),
        "--log-every",
        str(steps // 6),
        "--sample-every",
        "0",
        "--eval-every",
        "0",
        "--ckpt-every",
        "0",
        "--device",
        device,
        "--quiet",
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    rates = [json.loads(line)["steps_per_s"] for line in lines][1:]  # first interval: warm-up
    return statistics.median(rates) * batch * nproc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64, help="batch per process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--nprocs", default="1,2", help="process counts to compare")
    args = parser.parse_args()

    nprocs = [int(n) for n in args.nprocs.split(",")]
    cores = os.cpu_count() or 1
    # (processes, batch per process, threads per process): one process with all cores and
    # with one thread, then the same batch per process and the same batch in all
    configs = [(1, args.batch, cores), (1, args.batch, 1)]
    configs += [(n, args.batch, max(1, cores // n)) for n in nprocs if n > 1]
    configs += [
        (n, args.batch // n, max(1, cores // n)) for n in nprocs if n > 1 and args.batch % n == 0
    ]
    rates: dict[tuple[int, int, int], list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for n, b, t in configs:
                out = Path(tmp) / f"run-{n}-{b}-{t}-{r}"
                rates[(n, b, t)].append(train(args.data, n, b, t, args.steps, args.device, out))
    base = statistics.median(rates[configs[0]])
    rows = []
    for n, b, t in configs:
        rate = statistics.median(rates[(n, b, t)])
        row = [str(n), str(t), str(b), str(n * b), f"{rate:,.0f}", f"{rate / base:.2f}×"]
        rows.append(row)
    header = ["processes", "threads each", "batch per process", "batch in all"]
    table = markdown_table([*header, "samples/s (median)", "vs first row"], rows)
    note = (
        f"`{args.data}`, {args.steps} steps, device {args.device}, {args.repeats} interleaved "
        "repeats; rate from rank 0's logged steps/s after the first log interval."
    )
    record(f"Scaling under torchrun ({args.data})", table, note)


if __name__ == "__main__":
    main()
