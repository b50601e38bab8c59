"""Pictures: uint8 ``(N, H, W, C)`` at the edges, float NCHW in [-1, 1] inside: the
built-ins (``digits``, ``mnist``, ``stacked-mnist``), folders of image files, IDX files
and arrays. Previews are grids (a column per class when conditional) and latent walks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ganforge.data import data_kind
from ganforge.data.images import to_uint8
from ganforge.errors import GanforgeError
from ganforge.modalities.base import Model
from ganforge.modalities.tensor import PLAIN, TensorModality, TensorModel
from ganforge.run import RunDir

N_GRID = 64  # pictures in a sample grid

# Tuned settings over the defaults and under the user's own options: first those of every
# picture set (a user's own pictures get these), then those of a built-in one
# (benchmarks/RESULTS.md records the path).
KIND_PRESETS: dict[str, Any] = {
    "batch_size": 64,
    "latent_dim": 64,
    "g_width": 32,
    "g_depth": 1,
    "d_width": 32,
    "d_depth": 1,
    "lr_g": 2e-4,
    "lr_d": 2e-4,
    "r1_gamma": 1.0,
    "r1_every": 4,
    "ema_decay": 0.999,
    "steps": 5000,
    "sample_every": 500,
    "eval_every": 0,
}
PRESETS: dict[str, dict[str, Any]] = {
    "digits": {"g_width": 64, "d_width": 64, "g_depth": 2, "d_depth": 2},
    # Adam 2e-3 decaying linearly over the second half: FD ratio 7.4 against 22 at 2e-4;
    # the generator learning from the batch D just judged makes a step 1.18x faster;
    # sampling with 20 steps of latent DOT lowered it by about 2; a 3x3 convolution
    # after each of G's upsamplings (depth 2) makes a step 1.3x slower but gains more than
    # the steps it costs: 6,750 steps at depth 2 score 4.41 and 4.45 on two seeds
    # where 9,500 at depth 1 score 5.62 and 4.49; 8,000 take the time 9,500 took; decaying
    # from the first step rather than from the middle: 3.56 against 4.33 over four seeds;
    # class-conditional (one-hot class into G, projection D): 1.35 over four seeds, where
    # DOT no longer helps (RESULTS.md)
    "mnist": {
        "steps": 8000,
        "g_depth": 2,
        "lr_g": 2e-3,
        "lr_d": 2e-3,
        "lr_schedule": "linear",
        "lr_decay_start": 0.0,
        "reuse_fake": True,
        "conditional": True,
    },
    # PacGAN's packing of two, wider nets (three digits to draw at once), Adam 5e-4 decaying
    # linearly over the second half: 1,000 modes, KL 0.047 in 14,000 steps (1,500 s, 1 thread)
    "stacked-mnist": {
        "pack": 2,
        "g_width": 64,
        "d_width": 64,
        "lr_g": 5e-4,
        "lr_d": 5e-4,
        "lr_schedule": "linear",
        "steps": 14000,
    },
}


class Pictures(TensorModality):
    """The pictures modality."""

    kind = "pictures"
    kind_presets = KIND_PRESETS
    presets = PRESETS
    chunk = 1024
    outputs = (".npy", ".npz", ".png")

    def accepts(self, data: Any, options: Mapping[str, Any]) -> bool:
        return data_kind(data) == "pictures"

    def check(self, cfg: Any, info: dict[str, Any]) -> None:
        super().check(cfg, info)
        if cfg.sharp_critic_steps:
            raise GanforgeError(
                "the sharp critic (--sharp-critic-steps) is for point data; "
                "train pictures with --sharp-critic-steps 0"
            )

    def decode(self, model: TensorModel, x: Tensor) -> np.ndarray:
        """Uint8 ``(N, H, W, C)`` pictures."""
        return to_uint8(x.float().cpu())

    def preview(self, model: TensorModel, path: Path, title: str, refine: bool) -> None:
        from ganforge.plots import image_grid, save_picture

        how = {} if refine else PLAIN
        if model.trainer.conditional:  # column c shows class c
            c = model.trainer.noise.num_classes
            rows = max(1, N_GRID // c)
            labels = np.tile(np.arange(c), rows)
            save_picture(path, image_grid(model.sample(c * rows, labels=labels, **how), ncol=c))
        else:
            save_picture(path, image_grid(model.sample(N_GRID, **how)))

    def extra_pictures(self, model: TensorModel, run: RunDir) -> None:
        """``interpolation.png``: walks between random inputs."""
        from ganforge.plots import image_grid, save_picture

        walk = image_grid(model.sampler().interpolate(rows=8, steps=10), ncol=10)
        save_picture(run.samples / "interpolation.png", walk)

    def write_samples(self, samples: np.ndarray, path: Path, model: Model | None = None) -> None:
        """``.npy``, ``.npz`` (key ``x``) or a ``.png`` grid."""
        suffix = path.suffix.lower()
        if suffix == ".npy":
            np.save(path, samples)
        elif suffix == ".npz":
            np.savez(path, x=samples)
        else:
            from ganforge.plots import image_grid, save_picture

            save_picture(path, image_grid(samples))

    def summary(self, model: TensorModel, out: Path) -> Iterable[str]:
        skipped = getattr(model.source_, "skipped", [])
        if skipped:
            yield f"skipped {len(skipped)} unreadable image file(s), e.g. {skipped[0]}"
        yield (
            f"run written to {out}/ (samples/final.png, samples/interpolation.png, losses.png, "
            "metrics.jsonl, checkpoints/)"
        )
