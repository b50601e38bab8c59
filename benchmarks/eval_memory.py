"""Peak memory of `ganforge eval` on 10,000 generated and 10,000 real 28×28 pictures.

Makes a 10,000-picture data set (the 5,000 `mnist` digits and the same digits shifted by one
pixel), trains a short run on it, then evaluates with each feature extractor in a fresh
process and reads that process's peak resident memory (``ru_maxrss``). Target: under 2 GB.

    python benchmarks/eval_memory.py [--n 10000] [--metrics fd,kid,prdc]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, record  # noqa: E402

from ganforge.data import load_data  # noqa: E402

PEAK = """
import resource, sys, time
from ganforge.api import GAN
from ganforge.evaluate import evaluate
t = time.perf_counter()
result = evaluate(GAN.load(sys.argv[1]), n=int(sys.argv[2]), metrics=sys.argv[3].split(","),
                  features=sys.argv[4], data=sys.argv[5])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - t, result["fd"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--metrics", default="fd,kid,prdc")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        digits = load_data("mnist").reference(5000)
        shifted = np.roll(digits, 1, axis=2)
        data = Path(tmp) / "mnist10k.npy"
        np.save(data, np.concatenate([digits, shifted])[: args.n])
        run, clf = Path(tmp) / "run", Path(tmp) / "clf.safetensors"
        base = [sys.executable, "-m", "ganforge"]
        subprocess.run([*base, "train", data, "--steps", "50", "--out", run, "--quiet"], check=True)
        subprocess.run([*base, "train-classifier", "mnist", "--epochs", "1", "-o", clf], check=True)
        for features in ("raw", f"classifier:{clf}"):
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", PEAK, run, str(args.n), args.metrics, features, data],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            wall = time.perf_counter() - t0
            peak_mb = int(out[0]) / 1024
            name = features.split(":")[0]
            rows.append(
                [name, str(args.n), f"{peak_mb:,.0f}", f"{float(out[1]):.1f}", f"{wall:.1f}"]
            )
    table = markdown_table(
        ["features", "samples per side", "peak memory (MB)", "evaluate (s)", "process (s)"], rows
    )
    record(
        "Evaluation memory",
        table,
        f"metrics {args.metrics}; 28×28×1 pictures; target: under 2,048 MB of peak memory.",
    )


if __name__ == "__main__":
    main()
