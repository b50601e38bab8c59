"""Soak test: a long toy run with frequent checkpoints, for memory growth and checkpoint cost.

    python benchmarks/soak.py [--steps 20000] [--ckpt-every 500]

Resident memory is read at every checkpoint; growth is measured from the first checkpoint
after warm-up (10 % of the steps) to the largest value after it. Checkpoint cost is the
time spent inside checkpoint writes as a share of the whole run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, markdown_table, record  # noqa: E402

import ganforge as gf  # noqa: E402
from ganforge.run import RunDir  # noqa: E402


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--ckpt-every", type=int, default=500)
    args = parser.parse_args()
    print(machine())
    samples: list[tuple[int, float]] = []
    spent = [0.0]
    save = RunDir.save

    def timed_save(self, step, state, keep):
        t0 = time.perf_counter()
        path = save(self, step, state, keep)
        spent[0] += time.perf_counter() - t0
        samples.append((step, rss_mib()))
        return path

    RunDir.save = timed_save
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gf.GAN(
            "ring", steps=args.steps, ckpt_every=args.ckpt_every, sample_every=0, eval_every=0
        ).fit(out=Path(tmp) / "run")
        wall = time.perf_counter() - t0
    warm = next(m for s, m in samples if s >= args.steps // 10)
    after = [m for s, m in samples if s >= args.steps // 10]
    growth = 100 * (max(after) - warm) / warm
    share = 100 * spent[0] / wall
    rows = [
        [
            f"{args.steps:,}",
            str(len(samples)),
            f"{warm:.1f}",
            f"{max(after):.1f}",
            f"{samples[-1][1]:.1f}",
            f"{growth:+.2f} %",
            f"{spent[0]:.2f} s of {wall:.1f} s",
            f"{share:.2f} %",
        ]
    ]
    header = [
        "steps",
        "checkpoints",
        "RSS after warm-up MiB",
        "max RSS after MiB",
        "final RSS MiB",
        "growth",
        "checkpoint time",
        "checkpoint share",
    ]
    note = (
        "`ring` preset, checkpoints every "
        f"{args.ckpt_every} steps. Targets: growth within 5 %, checkpoint share under 5 %."
    )
    record("soak", markdown_table(header, rows), note)


if __name__ == "__main__":
    main()
