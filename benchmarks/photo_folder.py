"""Ordinary photos at ``--resolution``: 600 crops of scikit-learn's two sample photographs.

Builds the folder of issue 36 in a temporary directory: crops 40 to 120 px on a side, half
of them square, as PNG and JPEG, grayscale and RGB. Loads it at 28, 32 and 64 px and checks
that every file is read (none skipped), counting the files whose resize box the old
floating-point formula put outside the picture. With ``--train-steps N`` it also runs
``ganforge train`` and ``ganforge sample`` on the folder at each size. Prints one table and
appends it to RESULTS.md.

    python benchmarks/photo_folder.py [--train-steps 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402
from common import machine, markdown_table, record  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_sample_images  # noqa: E402

from ganforge.data.images import load_images  # noqa: E402

FILES, SMALLEST, LARGEST = 600, 40, 120
RESOLUTIONS = (28, 32, 64)


def build_folder(root: Path, seed: int = 0) -> list[tuple[int, int]]:
    """Writes the crops into ``root``; returns their sizes ``(width, height)``."""
    photos = load_sample_images().images  # two RGB photographs, 427 x 640
    rng = np.random.default_rng(seed)
    sizes = []
    for i in range(FILES):
        photo = photos[i % 2]
        w = int(rng.integers(SMALLEST, LARGEST + 1))
        h = w if i % 4 < 2 else int(rng.integers(SMALLEST, LARGEST + 1))
        top = int(rng.integers(0, photo.shape[0] - h + 1))
        left = int(rng.integers(0, photo.shape[1] - w + 1))
        im = Image.fromarray(photo[top : top + h, left : left + w])
        if rng.random() < 0.5:
            im = im.convert("L")
        if rng.random() < 0.5:
            im.save(root / f"crop{i:04d}.jpg", quality=90)
        else:
            im.save(root / f"crop{i:04d}.png")
        sizes.append((w, h))
    return sizes


def old_box_outside(width: int, height: int, size: tuple[int, int]) -> bool:
    """Whether the resize box of ganforge before issue 36 left the picture (Pillow refused it)."""
    h, w = size
    scale = max(h / height, w / width)
    if (height, width) == size or scale == 1:
        return False  # no resampling box there
    bw, bh = w / scale, h / scale
    left, top = (width - bw) / 2, (height - bh) / 2
    return left < 0 or top < 0 or left + bw > width or top + bh > height


def run(command: list[str]) -> tuple[int, float]:
    """Exit code and seconds of a ganforge command."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ganforge", *command], capture_output=True)
    if done.returncode:
        print(done.stderr.decode()[-2000:], file=sys.stderr)
    return done.returncode, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=0, help="also train and sample")
    parser.add_argument("--keep", type=Path, help="build the folder here and keep it")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "photos"
        root.mkdir(parents=True, exist_ok=True)
        sizes = build_folder(root)
        squares = sum(w == h for w, h in sizes)
        print(f"{len(sizes)} crops ({squares} square) in {root}")
        rows = []
        for r in RESOLUTIONS:
            start = time.perf_counter()
            found = load_images(root, resolution=r)
            seconds = time.perf_counter() - start
            old = sum(old_box_outside(w, h, (r, r)) for w, h in sizes)
            row = [f"{r}x{r}", str(len(sizes)), str(len(found.images)), str(len(found.skipped))]
            row += [str(old), f"{seconds:.2f}"]
            if args.train_steps:
                out = Path(tmp) / f"run{r}"
                train = ["train", str(root), "--resolution", str(r), "--out", str(out)]
                train += ["--steps", str(args.train_steps), "--overwrite"]
                code, train_s = run(train)
                code_s, sample_s = run(["sample", str(out), "-n", "16", "-o", f"{out}.png"])
                row += [f"{code} / {train_s:.1f}", f"{code_s} / {sample_s:.1f}"]
            rows.append(row)
            print(" ".join(row), flush=True)
    header = ["size", "files", "loaded", "skipped", "old box outside", "load s"]
    if args.train_steps:
        header += [f"train ({args.train_steps} steps) exit / s", "sample 16 exit / s"]
    note = (
        f"{FILES} crops of scikit-learn's sample photographs (china, flower), {SMALLEST}–"
        f"{LARGEST} px a side, {squares} square, PNG or JPEG and gray or RGB at random "
        "(seed 0), loaded with `load_images(folder, resolution=N)`. 'old box outside': "
        "files whose resize box the formula before issue 36 put outside the picture."
    )
    record("Photo folder at --resolution (issue 36)", markdown_table(header, rows), note)


if __name__ == "__main__":
    main()
