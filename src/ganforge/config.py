"""The training configuration: every default lives here, and the command line derives from it."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    """Everything that defines a training run; a run's ``config.json`` holds one of these."""

    data: str = _opt("ring", "built-in data set name or path to a .npy/.npz/.csv point set")
    steps: int = _opt(6000, "number of steps (generator updates)")
    batch_size: int = _opt(256, "samples per batch, real and generated alike")
    loss: str = _opt(
        "nonsaturating",
        "GAN loss",
        ("minimax", "nonsaturating", "wasserstein", "wgan-gp", "hinge", "least-squares"),
    )
    latent_dim: int = _opt(8, "dimension of the random input")
    noise: str = _opt("normal", "distribution of the random input", ("normal", "uniform"))
    g_width: int = _opt(128, "hidden units per generator layer")
    g_depth: int = _opt(3, "hidden layers of the generator")
    g_act: str = _opt("relu", "generator activation")
    d_width: int = _opt(128, "hidden units per discriminator layer")
    d_depth: int = _opt(3, "hidden layers of the discriminator")
    d_act: str = _opt("leaky_relu", "discriminator activation")
    spectral_norm: bool = _opt(False, "spectral normalisation of the discriminator's layers")
    pack: int = _opt(1, "samples the discriminator judges together (PacGAN); 1 = off")
    lr_g: float = _opt(1e-3, "generator learning rate (Adam)")
    lr_d: float = _opt(1e-3, "discriminator learning rate (Adam)")
    lr_schedule: str = _opt(
        "constant", "learning-rate decay to 0 at the end", ("constant", "linear", "cosine")
    )
    lr_decay_start: float = _opt(0.5, "fraction of the steps after which the decay starts")
    beta1: float = _opt(0.0, "Adam beta1 for both networks")
    beta2: float = _opt(0.99, "Adam beta2 for both networks")
    n_critic: int = _opt(1, "discriminator updates per step")
    r1_gamma: float = _opt(0.1, "R1 penalty weight gamma on real data (0 = off)")
    r1_every: int = _opt(4, "apply R1 every k discriminator updates, weighted by k (lazy R1)")
    ema_decay: float = _opt(
        0.999,
        "largest EMA decay of the generator's weights; samples use the EMA (0 = off); "
        "the decay ramps up as (1 + n)/(10 + n), an average over about the last tenth of "
        "the updates, until it reaches this value",
    )
    drs: bool = _opt(False, "discriminator rejection sampling when sampling (DRS)")
    drs_quantile: float = _opt(0.95, "DRS: quantile of the scores that sets the shift gamma")
    on_nonfinite: str = _opt(
        "stop",
        "on a NaN or Inf loss or gradient: stop the run, or skip the update",
        ("stop", "skip"),
    )
    seed: int = _opt(0, "seed of every random draw")
    log_every: int = _opt(100, "steps between metrics.jsonl lines")
    ckpt_every: int = _opt(1000, "steps between checkpoints (0 = only the final one)")
    ckpt_keep: int = _opt(3, "periodic checkpoints to keep")
    eval_every: int = _opt(1000, "steps between mode statistics on known mixtures (0 = off)")
    sample_every: int = _opt(1000, "steps between sample plots in samples/ (0 = only the final)")
    device: str = _opt("auto", "where to train", ("auto", "cpu", "cuda"))
    threads: int = _opt(0, "CPU threads for PyTorch (0 = PyTorch's default)")

    def validate(self) -> TrainConfig:
        """Checks ranges and names; returns ``self``."""
        positive = (
            "steps",
            "batch_size",
            "latent_dim",
            "g_width",
            "g_depth",
            "d_width",
            "d_depth",
            "pack",
            "n_critic",
            "log_every",
            "ckpt_keep",
        )
        for name in positive:
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise GanforgeError(f"{flag} must be at least 1, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise GanforgeError(f"--{name.replace('_', '-')} must be positive")
        for name in ("ckpt_every", "eval_every", "sample_every", "threads"):
            if getattr(self, name) < 0:
                raise GanforgeError(f"--{name.replace('_', '-')} must be 0 or more")
        if not 0 <= self.ema_decay < 1:
            raise GanforgeError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.lr_decay_start < 1:
            raise GanforgeError(f"--lr-decay-start must be in [0, 1), got {self.lr_decay_start}")
        if not 0 <= self.drs_quantile < 1:
            raise GanforgeError(f"--drs-quantile must be in [0, 1), got {self.drs_quantile}")
        if self.batch_size % self.pack:
            raise GanforgeError(
                f"--batch-size {self.batch_size} must be divisible by --pack {self.pack}"
            )
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise GanforgeError(
                    f"unknown {f.name.replace('_', ' ')} {getattr(self, f.name)!r}; "
                    f"choose one of: {', '.join(choices)}"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


# Tuned settings per built-in data set, applied over the defaults above (and under the
# user's own options). A user's own file gets the generic defaults, which were tuned on
# `grid`, the harder mixture; benchmarks/RESULTS.md records the path.
PRESETS: dict[str, dict[str, Any]] = {
    "ring": {"g_depth": 2, "d_depth": 2},  # as sharp and balanced as depth 3, 25 % faster
    "grid": {},
}


def field_names() -> list[str]:
    """Names of all configuration fields."""
    return [f.name for f in fields(TrainConfig)]


def make_config(**options: Any) -> TrainConfig:
    """Defaults, then the data set's preset, then ``options``; validated."""
    unknown = sorted(set(options) - set(field_names()))
    if unknown:
        raise GanforgeError(
            f"unknown option(s) {', '.join(unknown)}; valid ones: {', '.join(field_names())}"
        )
    data = options.get("data", TrainConfig.data)
    merged = {**PRESETS.get(str(data), {}), **options}
    return TrainConfig(**merged).validate()


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Options from a ``.json`` or ``.toml`` file (a run's ``config.json`` works too)."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"config file {path} does not exist; give an existing .json or .toml")
    try:
        if path.suffix == ".toml":
            options = tomllib.loads(path.read_text())
        else:
            options = json.loads(path.read_text())
    except (ValueError, OSError) as e:
        raise GanforgeError(f"cannot parse config file {path}: {e}") from None
    return options.get("config", options)  # a run's config.json nests it
