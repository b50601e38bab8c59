"""Stacked MNIST: modes and KL to uniform of the `stacked-mnist` preset beside published GANs.

    python benchmarks/stacked_mnist.py [--seed 0] [--threads 1] [--steps N] [--set KEY=VALUE]

Protocol (VEEGAN, PacGAN): train the small digit classifier of `ganforge.metrics.classifier`
on the `mnist` built-in (its held-out accuracy is printed); train the `stacked-mnist` preset
through `ganforge.GAN(...).fit()` and time it; draw 26,000 pictures; classify each colour
channel on its own; report the distinct digit triples among them (of 1,000) and
KL(sample shares ‖ uniform over 1,000). As the limit of the protocol, 26,000 real
`stacked-mnist` pictures are measured the same way. Target: 1,000 modes and KL ≤ 0.05 in at
most 30 minutes of training on the benchmark machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, markdown_table, record  # noqa: E402

import ganforge as gf  # noqa: E402
from ganforge.data.images import load_images  # noqa: E402
from ganforge.metrics.classifier import train_classifier  # noqa: E402
from ganforge.metrics.stacked import N_SAMPLES, stacked_modes  # noqa: E402

TARGET_MODES, TARGET_KL, TARGET_S = 1000, 0.05, 30 * 60
PUBLISHED = [  # (run, modes, KL)
    ("DCGAN (as reported by VEEGAN, Srivastava et al. 2017)", "99", "3.4"),
    ("PacDCGAN2 (PacGAN, Lin et al. 2018)", "1000", "0.06"),
    ("GDPP-GAN (Elfeki et al. 2019)", "1000", "0.135"),
]


def parse_value(text: str) -> Any:
    """``KEY=VALUE``'s value as JSON (numbers, true/false) where it parses, else as text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0: PyTorch's default); 1 is robust on a shared machine, where two "
        "threads competing with other work for two cores ran 5-10x slower",
    )
    parser.add_argument("--steps", type=int, default=0, help="override the preset's steps")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset option, e.g. --set pack=2 (repeatable)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = {k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.steps:
        options["steps"] = args.steps
    print(machine())

    start = time.perf_counter()
    digits = load_images("mnist")
    classifier = train_classifier(digits.images, digits.labels, digits.classes, seed=args.seed)
    print(
        f"digit classifier: held-out accuracy {100 * classifier.accuracy:.1f} % "
        f"({time.perf_counter() - start:.0f} s)"
    )
    real = load_images("stacked-mnist").images
    pick = np.random.default_rng(args.seed).choice(len(real), N_SAMPLES, replace=False)
    limit = stacked_modes(real[pick], classifier)
    print(f"real pictures: {limit['modes']} modes, KL {limit['kl']:.4f}")

    gan = gf.GAN("stacked-mnist", seed=args.seed, threads=args.threads, **options)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gan.fit(out=Path(tmp) / "stacked-mnist")
        wall = time.perf_counter() - start
    cfg = gan.config_
    fake = gan.sample(N_SAMPLES, seed=args.seed + 1)
    ours = stacked_modes(fake, classifier)
    met = ours["modes"] >= TARGET_MODES and ours["kl"] <= TARGET_KL and wall <= TARGET_S
    changed = ", ".join(f"{k}={v}" for k, v in options.items())
    print(f"config: {json.dumps(cfg.to_dict())}")

    header = ["run", "modes (of 1,000)", "KL to uniform", "train s", "target met"]
    rows = [
        [
            f"**ganforge** `stacked-mnist` preset{f' ({changed})' if changed else ''}, "
            f"{cfg.steps} steps",
            str(ours["modes"]),
            f"{ours['kl']:.3f}",
            f"{wall:.0f}",
            "yes" if met else "no",
        ],
        *[[name, modes, kl, "—", "—"] for name, modes, kl in PUBLISHED],
        ["real `stacked-mnist` pictures (limit)", str(limit["modes"]), f"{limit['kl']:.3f}"]
        + ["—", "—"],
    ]
    note = (
        f"Protocol: {N_SAMPLES:,} pictures, each channel classified by ganforge's small digit "
        f"classifier trained on `mnist` (held-out accuracy {100 * classifier.accuracy:.1f} %), "
        f"modes = distinct digit triples, KL(p ‖ uniform over 1,000) in nats; seed {args.seed}, "
        f"{torch.get_num_threads()} threads. Target: 1,000 modes, KL ≤ {TARGET_KL}, training "
        f"≤ {TARGET_S // 60} min. Published rows as reported in their papers (their own "
        "classifiers, 26,000 samples)."
    )
    table = markdown_table(header, rows)
    if args.no_record:
        print(table)
    else:
        record("Stacked MNIST", table, note)


if __name__ == "__main__":
    main()
