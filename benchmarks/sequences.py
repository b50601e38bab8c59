"""Sequences at the TimeGAN level: TimeGAN's discriminative and predictive scores and the
autocorrelation error on ``sines`` (TimeGAN's definition) and on ``macro`` (statsmodels' US
macro series, 180 windows of 24 quarters × 12 features), over seeds.

Rows: ganforge's sequence preset on each data set; on ``macro`` the RCGAN-style baseline
(recurrent G and D, the GAN loss alone: no R1, no EMA) with the same steps in the same run;
and the real data's own scores, the floor: for sines a second independent draw of sines
against the first (discriminative) and training on the real data itself (predictive, as
TimeGAN's "original" row does); for macro two random halves of the windows. TimeGAN's
published sines numbers are printed beside.

Two trainings run at a time, one thread each (the machine's two cores). The metrics follow
the reference protocol (:mod:`ganforge.metrics.sequences`) with ``--repeats`` runs each.

    python benchmarks/sequences.py                # 3 seeds, the presets' steps
    python benchmarks/sequences.py --seeds 1 --steps 300 --repeats 1   # a quick look
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).with_name("RESULTS.md")
PUBLISHED = [  # Yoon et al. 2019 (sines), mean ± std over runs
    ("sines", "TimeGAN (published)", "0.011 ± 0.008", "0.093 ± 0.019", "", ""),
    ("sines", "real data (published)", "", "0.094", "", ""),
]


def train_and_score(data: str, net: str, seed: int, steps: int, repeats: int) -> dict:
    """Trains one model and scores it (in a worker process, one thread)."""
    import torch

    torch.set_num_threads(1)
    import ganforge as gf

    options: dict = {"seed": seed, "threads": 1, "sample_every": 0}
    if steps:
        options["steps"] = steps
    if net == "rcgan":  # the baseline: recurrent G and D, the GAN loss alone
        options.update(net="rcgan", r1_gamma=0.0, ema_decay=0.0)
    start = time.perf_counter()
    gan = gf.GAN(data, **options).fit()
    seconds = time.perf_counter() - start
    scores = gan.evaluate(seed=seed, repeats=repeats)
    return {"data": data, "row": net, "seed": seed, "minutes": seconds / 60, **scores}


def real_floor(data: str, seed: int, repeats: int) -> dict:
    """The real data's own scores (see the module's docstring)."""
    import torch

    torch.set_num_threads(1)
    from ganforge.data.sequences import SequenceSource, load_sequences, sines
    from ganforge.metrics.sequences import acf_error, discriminative_score, predictive_score

    source = SequenceSource(load_sequences(data, seed=seed), seed=seed)
    real = source.normalised(source.windows.numpy())
    if data == "sines":
        a, b = real, source.normalised(sines(len(real), seed=seed + 10_000))
    else:
        order = np.random.default_rng(seed).permutation(len(real))
        a, b = real[order[: len(real) // 2]], real[order[len(real) // 2 :]]
    disc = [discriminative_score(a, b, seed=seed * 100 + r) for r in range(repeats)]
    pred = [predictive_score(real, real, seed=seed * 100 + r) for r in range(repeats)]
    return {"data": data, "row": "real", "seed": seed, "minutes": 0.0,
            "discriminative": float(np.mean(disc)), "predictive": float(np.mean(pred)),
            "acf": acf_error(a, b)}  # fmt: skip


def mean_se(values: list[float]) -> str:
    """``mean ± standard error`` over seeds (no ± for one seed)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return f"{v.mean():.4f}"
    return f"{v.mean():.4f} ± {v.std(ddof=1) / np.sqrt(len(v)):.4f}"


def machine() -> str:
    import torch

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS.parent
    ).stdout.strip()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, device cpu, commit {commit}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="steps per run (0: the preset's)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each learned metric")
    parser.add_argument("--data", default="sines,macro")
    parser.add_argument("--no-save", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    datasets = args.data.split(",")

    jobs = []
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        for seed in range(args.seeds):
            for data in datasets:
                nets = ["seq", "rcgan"] if data == "macro" else ["seq"]
                for net in nets:
                    jobs.append(
                        pool.submit(train_and_score, data, net, seed, args.steps, args.repeats)
                    )
                jobs.append(pool.submit(real_floor, data, seed, args.repeats))
        rows = []
        for job in cf.as_completed(jobs):
            row = job.result()
            rows.append(row)
            print(
                f"  {row['data']:6} {row['row']:6} seed {row['seed']}: "
                f"disc {row['discriminative']:.4f} pred {row['predictive']:.4f} "
                f"acf {row['acf']:.4f} ({row['minutes']:.1f} min)",
                flush=True,
            )

    names = {"seq": "ganforge (seq preset)", "rcgan": "RCGAN-style baseline", "real": "real data"}
    lines = [
        f"sequences ({machine()}; {args.seeds} seeds, mean ± standard error over seeds; "
        f"metrics: TimeGAN's protocol, {args.repeats} runs each; steps: "
        f"{args.steps or 'the preset'}; two trainings at a time, one thread each)",
        "",
        "| data | row | discriminative ↓ | predictive ↓ | acf error ↓ | training min |",
        "|---|---|---|---|---|---|",
    ]
    for data in datasets:
        for key in ("seq", "rcgan", "real"):
            mine = [r for r in rows if r["data"] == data and r["row"] == key]
            if not mine:
                continue
            cells = [mean_se([r[m] for r in mine]) for m in ("discriminative", "predictive", "acf")]
            minutes = f"{np.mean([r['minutes'] for r in mine]):.1f}" if key != "real" else ""
            lines.append(f"| {data} | {names[key]} | {' | '.join(cells)} | {minutes} |")
        lines += [f"| {d} | {n} | {a} | {b} | {c} | {m} |" for d, n, a, b, c, m in PUBLISHED
                  if d == data]  # fmt: skip
    table = "\n".join(lines)
    print(table)
    if not args.no_save:
        with RESULTS.open("a") as f:
            f.write(f"\n## sequences, {datetime.date.today()}\n\n{table}\n")


if __name__ == "__main__":
    sys.exit(main())
