"""Quality of the picture presets: class coverage and Fréchet distance on classifier features.

    python benchmarks/image_quality.py [--data digits mnist] [--seed 0]

Protocol, per data set: train the data set's preset (`ganforge train DATA`, defaults only)
and time it; train the small classifier of `ganforge.metrics.classifier` on the real
pictures (its held-out accuracy is printed); split the real pictures in two random halves
A and B; draw as many generated pictures as one half holds. Reported: the classes the
classifier sees among the generated pictures, KL(class shares ‖ uniform), the Fréchet
distance between generated and A on the classifier's features, and, as the reference, the
Fréchet distance between B and A (same sample sizes). Targets: every class present,
KL ≤ 0.05, Fréchet distance ≤ 3× the real-halves distance.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, markdown_table, record  # noqa: E402

import ganforge as gf  # noqa: E402
from ganforge.data.images import load_images  # noqa: E402
from ganforge.metrics import frechet_distance, label_stats  # noqa: E402
from ganforge.metrics.classifier import train_classifier  # noqa: E402


def evaluate(name: str, seed: int, workdir: Path) -> list[str]:
    """Trains the preset of ``name``, then measures it; one table row."""
    start = time.perf_counter()
    gan = gf.GAN(name, seed=seed).fit(out=workdir / name)
    wall = time.perf_counter() - start
    cfg = gan.config_
    real = load_images(name)
    classifier = train_classifier(real.images, real.labels, real.classes, seed=seed)
    order = np.random.default_rng(seed).permutation(len(real.images))
    half = len(order) // 2
    a, b = real.images[order[:half]], real.images[order[half : 2 * half]]
    fake = gan.sample(half, seed=seed + 1)
    feats_a, _ = classifier.predict(a)
    feats_b, _ = classifier.predict(b)
    feats_fake, probs = classifier.predict(fake)
    fd_fake = frechet_distance(feats_fake, feats_a)
    fd_real = frechet_distance(feats_b, feats_a)
    stats = label_stats(probs.argmax(1), len(real.classes))
    ok = stats["classes"] == len(real.classes) and stats["kl"] <= 0.05 and fd_fake <= 3 * fd_real
    return [
        name,
        str(cfg.steps),
        f"{wall:.0f}",
        f"{cfg.steps * cfg.batch_size / wall:.0f}",
        f"{100 * classifier.accuracy:.1f}",
        f"{stats['classes']}/{len(real.classes)}",
        f"{stats['kl']:.3f}",
        f"{fd_fake:.2f}",
        f"{fd_real:.2f}",
        f"{fd_fake / fd_real:.2f}",
        "yes" if ok else "no",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits", "mnist"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        rows = [evaluate(name, args.seed, Path(tmp)) for name in args.data]
    header = [
        "data",
        "steps",
        "train s",
        "images/s",
        "classifier acc %",
        "classes",
        "KL to uniform",
        "FD gen–real",
        "FD real–real",
        "ratio",
        "target met",
    ]
    note = (
        f"Presets of `ganforge train DATA`, seed {args.seed}; Fréchet distances on the "
        "128-d features of ganforge's small classifier, generated vs one real half and the "
        "other real half vs that half, equal sizes. Targets: all classes, KL ≤ 0.05, "
        "ratio ≤ 3."
    )
    record("Image quality of the picture presets", markdown_table(header, rows), note)


if __name__ == "__main__":
    main()
