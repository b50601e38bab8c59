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

    data: str = _opt(
        "mnist",
        "built-in data set (ring, grid, digits, mnist, stacked-mnist, sines, macro) or a path: "
        "a folder of images, MNIST-format IDX files, .npy/.npz arrays (uint8 (N, H, W, C) "
        "pictures, float (N, T, d) sequences or (N, d) points), or a .csv point set or long "
        "table of series",
    )
    steps: int = _opt(6000, "number of steps (generator updates)")
    batch_size: int = _opt(256, "samples per batch, real and generated alike")
    loss: str = _opt(
        "nonsaturating",
        "GAN loss (rpgan: R3GAN's relativistic pairing loss, best with --r1-gamma and "
        "--r2-gamma at the same value)",
        ("minimax", "nonsaturating", "wasserstein", "wgan-gp", "hinge", "least-squares", "rpgan"),
    )
    latent_dim: int = _opt(8, "dimension of the random input")
    noise: str = _opt("normal", "distribution of the random input", ("normal", "uniform"))
    net: str = _opt(
        "auto",
        "network family (auto: mlp for points, dcgan for pictures, seq for sequences; "
        "resnet: R3GAN-style residual nets for pictures; rcgan: the recurrent baseline for "
        "sequences)",
        ("auto", "mlp", "dcgan", "resnet", "seq", "rcgan", "custom"),
    )
    g_width: int = _opt(
        128,
        "generator width: hidden units (mlp) or channels at full resolution (dcgan, resnet)",
    )
    g_depth: int = _opt(
        3,
        "generator depth: hidden layers (mlp), convolutions per block (dcgan) or residual "
        "blocks per resolution (resnet)",
    )
    g_act: str = _opt("relu", "generator activation (mlp)")
    d_width: int = _opt(
        128,
        "discriminator width: hidden units (mlp) or channels of its first layer (dcgan, resnet)",
    )
    d_depth: int = _opt(
        3,
        "discriminator depth: hidden layers (mlp), convolutions per block (dcgan) or "
        "residual blocks per resolution (resnet)",
    )
    d_act: str = _opt("leaky_relu", "discriminator activation (mlp)")
    d_norm: str = _opt("none", "normalisation in the dcgan discriminator", ("none", "batch"))
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
    lr_end: float = _opt(
        1.0,
        "final learning rates as a fraction of --lr-g and --lr-d, reached along "
        "--schedule-ramp after --schedule-kimg and kept after (1 = off; R3GAN: 0.25)",
    )
    beta2_end: float = _opt(
        0.0,
        "final Adam beta2 of both networks, ramped from --beta2 as --lr-end "
        "(0 = off; R3GAN: 0.99 from --beta2 0.9)",
    )
    n_critic: int = _opt(1, "discriminator updates per step")
    reuse_fake: bool = _opt(
        False,
        "with --n-critic 1, the generator update reuses the batch the discriminator just "
        "judged (one generator forward per step, as in DCGAN) instead of a fresh one",
    )
    g_topk: float = _opt(
        1.0,
        "top-k training: the generator learns only from this fraction of each generated "
        "batch, the samples D rates most real (1 = all)",
    )
    g_topk_anneal: float = _opt(
        0.75, "fraction of the steps over which the kept share falls linearly from 1 to --g-topk"
    )
    resolution: str = _opt("", "pictures: resize and centre-crop to N or HxW (empty = as stored)")
    channels: str = _opt(
        "auto", "pictures: colour channels (auto = the majority of files)", ("auto", "gray", "rgb")
    )
    hflip: bool = _opt(False, "pictures: flip real images left-right at random")
    skip_bad_files: bool = _opt(False, "pictures: skip unreadable image files (with a count)")
    seq_len: int = _opt(
        0, "sequences: steps per window T cut from longer series (0 = the data's own or 24)"
    )
    stride: int = _opt(1, "sequences: steps between the starts of consecutive windows")
    entity: str = _opt("", "sequences: the long CSV's column naming each series (empty = one)")
    time: str = _opt("", "sequences: the long CSV's time column (empty = the file's order)")
    augment: str = _opt(
        "",
        "D's input augmentation: a DiffAugment policy, e.g. translation,cutout,color, or ada "
        "(adaptive probability, StyleGAN2-ADA); empty = off",
    )
    instance_noise: float = _opt(0.0, "std of Gaussian noise on D's inputs (0 = off)")
    instance_noise_anneal: float = _opt(
        1.0, "fraction of the steps over which the instance noise falls linearly to 0"
    )
    precision: str = _opt(
        "fp32",
        "fp32, bf16 autocast (CPU and CUDA), or fp16 with gradient scaling (CUDA)",
        ("fp32", "bf16", "fp16"),
    )
    channels_last: bool = _opt(True, "pictures: channels-last memory layout for convolutions")
    compile: bool = _opt(
        False,
        "compile the networks with torch.compile (D stays eager under R1 or the gradient "
        "penalty, whose double backward pass compiled modules do not support)",
    )
    cuda_graph: bool = _opt(
        False,
        "on CUDA, replay each training step from captured CUDA graphs (fused Adam); where a "
        "step cannot be captured it runs eagerly, with a note",
    )
    label_smoothing: float = _opt(
        0.0, "one-sided label smoothing: D's target for real data is 1 - this (0 = off)"
    )
    d_l2: float = _opt(0.0, "weight of an L2 penalty on the discriminator's weights (0 = off)")
    unrolled_steps: int = _opt(
        0, "unrolled GAN: the generator learns against D after k more updates (0 = off)"
    )
    r1_gamma: float = _opt(0.1, "R1 penalty weight gamma on real data (0 = off)")
    r1_every: int = _opt(4, "apply R1 every k discriminator updates, weighted by k (lazy R1)")
    r2_gamma: float = _opt(
        0.0, "R2 penalty weight gamma on generated data, lazy with R1 (--r1-every) (0 = off)"
    )
    ema_decay: float = _opt(
        0.999,
        "largest EMA decay of the generator's weights; samples use the EMA (0 = off); "
        "the decay ramps up as (1 + n)/(10 + n), an average over about the last tenth of "
        "the updates, until it reaches this value",
    )
    gamma_end: float = _opt(
        1.0,
        "final R1 and R2 weights as a fraction of --r1-gamma and --r2-gamma, ramped as "
        "--lr-end (1 = off; R3GAN: 0.1)",
    )
    ema_half_life_kimg: float = _opt(
        0.0,
        "EMA half-life in thousands of images seen, in place of --ema-decay and its ramp-up: "
        "each update's decay is 0.5^(batch / (1000 x half-life)) (0 with "
        "--ema-half-life-end-kimg 0 = off)",
    )
    ema_half_life_end_kimg: float = _opt(
        0.0,
        "EMA half-life (kimg) reached from --ema-half-life-kimg as --lr-end (0 = constant "
        "at --ema-half-life-kimg; R3GAN: 0 to 500, or 5000 on CIFAR-10)",
    )
    schedule_kimg: float = _opt(
        0.0,
        "thousands of images seen over which --lr-end, --beta2-end, --gamma-end and the EMA "
        "half-life ramp, constant after (0 = the whole run: steps x batch size x processes; "
        "R3GAN: 20000)",
    )
    schedule_ramp: str = _opt(
        "cosine", "shape of those ramps from start to end value", ("cosine", "linear")
    )
    drs: bool = _opt(False, "discriminator rejection sampling when sampling (DRS)")
    drs_quantile: float = _opt(0.95, "DRS: quantile of the scores that sets the shift gamma")
    conditional: bool = _opt(
        False,
        "class-conditional pictures: G and D see each picture's class (a projection "
        "discriminator); needs labelled data (built-ins, sub-folders, IDX label files)",
    )
    dot_steps: int = _opt(
        0,
        "latent discriminator optimal transport when sampling (DOT): Adam steps moving each "
        "latent toward a higher D logit at a transport cost (0 = off; 30 is typical)",
    )
    jbt: float = _opt(
        0.0,
        "Jacobian-based truncation when sampling (JBT): the share of latents, drawn extra, "
        "dropped where the generator stretches most (between modes) (0 = off; 0.1-0.2 typical)",
    )
    sharp_critic_steps: int = _opt(
        0,
        "points: once training is over, fit a sharp critic (random Fourier features of the "
        "input) on real data against the generator for this many steps; DOT and DRS then "
        "ask it in place of the discriminator (0 = off; 1000 is typical)",
    )
    sharp_critic_freq: float = _opt(
        7.0,
        "the sharp critic's frequency scale, in cycles per standard deviation of the data "
        "(7 was chosen on grid and checked on ring and a mixture of broader modes)",
    )
    on_nonfinite: str = _opt(
        "stop",
        "on a NaN or Inf loss or gradient: stop the run, or skip the update",
        ("stop", "skip"),
    )
    seed: int = _opt(0, "seed of every random draw")
    log_every: int = _opt(100, "steps between metrics.jsonl lines")
    tensorboard: bool = _opt(
        False, "also log every metrics.jsonl number to RUN/tensorboard/ (TensorBoard events)"
    )
    ckpt_every: int = _opt(1000, "steps between checkpoints (0 = only the final one)")
    ckpt_keep: int = _opt(3, "periodic checkpoints to keep")
    eval_every: int = _opt(
        1000,
        "steps between evaluations logged to metrics.jsonl, which keep the best checkpoint "
        "in checkpoints/best.safetensors (0 = off)",
    )
    eval_metrics: str = _opt(
        "",
        "metrics of --eval-every, comma-separated from fd, kid, prdc, modes, classes, cs "
        "(empty: modes on a built-in mixture, else fd)",
    )
    eval_features: str = _opt(
        "raw", "features of --eval-every: raw, classifier:PATH or inception[:PATH]"
    )
    eval_n: int = _opt(0, "samples per side in --eval-every (0: as `ganforge eval`)")
    best_metric: str = _opt(
        "",
        "number that picks the best checkpoint, e.g. fd, kid, rkl, coverage, cs "
        "(empty: the first metric's own)",
    )
    sample_every: int = _opt(1000, "steps between sample plots in samples/ (0 = only the final)")
    device: str = _opt("auto", "where to train", ("auto", "cpu", "cuda"))
    sync_bn: bool = _opt(
        False, "under torchrun: BatchNorm statistics over all processes (SyncBatchNorm; CUDA)"
    )
    dist_timeout: int = _opt(
        600, "under torchrun: seconds a process waits for the others before the job fails"
    )
    threads: int = _opt(0, "CPU threads for PyTorch (0 = time 1 and all cores, keep the faster)")
    generator: str = _opt(
        "", "your own generator: MODULE:CALLABLE returning an nn.Module (with --discriminator)"
    )
    discriminator: str = _opt(
        "", "your own discriminator: MODULE:CALLABLE returning an nn.Module (with --generator)"
    )
    net_kwargs: str = _opt("", "JSON object of keyword arguments for both callables")

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
            "dist_timeout",
            "stride",
        )
        for name in positive:
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise GanforgeError(f"{flag} must be at least 1, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise GanforgeError(f"--{name.replace('_', '-')} must be positive")
        for name in ("ckpt_every", "eval_every", "eval_n", "sample_every", "threads", "seq_len"):
            if getattr(self, name) < 0:
                raise GanforgeError(f"--{name.replace('_', '-')} must be 0 or more")
        for name in ("d_l2", "unrolled_steps", "r2_gamma"):
            if getattr(self, name) < 0:
                raise GanforgeError(f"--{name.replace('_', '-')} must be 0 or more")
        if not 0 <= self.label_smoothing < 0.5:
            raise GanforgeError(
                f"--label-smoothing must be in [0, 0.5), got {self.label_smoothing}"
            )
        if not 0 <= self.ema_decay < 1:
            raise GanforgeError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if not self.lr_end > 0:
            raise GanforgeError(f"--lr-end must be positive, got {self.lr_end}")
        if self.lr_end != 1 and self.lr_schedule != "constant":
            raise GanforgeError("--lr-end ramps the rates itself; use --lr-schedule constant")
        if not 0 <= self.beta2_end < 1:
            raise GanforgeError(f"--beta2-end must be in [0, 1), got {self.beta2_end}")
        if self.gamma_end < 0:
            raise GanforgeError(f"--gamma-end must be 0 or more, got {self.gamma_end}")
        if self.gamma_end != 1 and self.r1_gamma == 0 and self.r2_gamma == 0:
            raise GanforgeError("--gamma-end scales --r1-gamma and --r2-gamma; set one above 0")
        for name in ("ema_half_life_kimg", "ema_half_life_end_kimg", "schedule_kimg"):
            if getattr(self, name) < 0:
                raise GanforgeError(f"--{name.replace('_', '-')} must be 0 or more")
        if not 0 <= self.lr_decay_start < 1:
            raise GanforgeError(f"--lr-decay-start must be in [0, 1), got {self.lr_decay_start}")
        if self.instance_noise < 0:
            raise GanforgeError(f"--instance-noise must be 0 or more, got {self.instance_noise}")
        if not 0 < self.instance_noise_anneal <= 1:
            raise GanforgeError(
                f"--instance-noise-anneal must be in (0, 1], got {self.instance_noise_anneal}"
            )
        if not 0 < self.g_topk <= 1:
            raise GanforgeError(f"--g-topk must be in (0, 1], got {self.g_topk}")
        if self.loss == "rpgan" and self.g_topk < 1:
            raise GanforgeError(
                "--g-topk drops generated samples from rpgan's real-generated pairs; "
                "use --g-topk 1 with --loss rpgan"
            )
        if not 0 < self.g_topk_anneal <= 1:
            raise GanforgeError(f"--g-topk-anneal must be in (0, 1], got {self.g_topk_anneal}")
        if self.dot_steps < 0:
            raise GanforgeError(f"--dot-steps must be 0 or more, got {self.dot_steps}")
        if not 0 <= self.jbt < 1:
            raise GanforgeError(f"--jbt must be in [0, 1), got {self.jbt}")
        if self.sharp_critic_steps < 0:
            raise GanforgeError(
                f"--sharp-critic-steps must be 0 or more, got {self.sharp_critic_steps}"
            )
        if not self.sharp_critic_freq > 0:
            raise GanforgeError(
                f"--sharp-critic-freq must be positive, got {self.sharp_critic_freq}"
            )
        if self.sharp_critic_steps and self.pack > 1:
            raise GanforgeError(
                "the sharp critic serves DOT and DRS, which need one logit per sample; "
                "use --sharp-critic-steps with --pack 1"
            )
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


def field_names() -> list[str]:
    """Names of all configuration fields."""
    return [f.name for f in fields(TrainConfig)]


def make_config(preset: dict[str, Any] | None = None, **options: Any) -> TrainConfig:
    """Defaults, then ``preset`` (a kind of data's tuned settings), then ``options``.

    Each value is checked against its field's type; the result is validated.
    """
    unknown = sorted(set(options) - set(field_names()))
    if unknown:
        raise GanforgeError(
            f"unknown option(s) {', '.join(unknown)}; valid ones: {', '.join(field_names())}"
        )
    preset = dict(preset or {})
    if options.get("pack", 1) > 1 or options.get("drs"):  # what DOT cannot go with
        preset.pop("dot_steps", None)
    if options.get("pack", 1) > 1:  # nor the critic that serves it
        preset.pop("sharp_critic_steps", None)
    if options.get("pack", 1) > 1 or options.get("drs") or options.get("jbt"):
        preset.pop("conditional", None)  # nor classes
    merged = {**preset, **options}
    for f in fields(TrainConfig):
        if f.name in merged:
            merged[f.name] = check_type(f.name, merged[f.name], type(f.default))
    return TrainConfig(**merged).validate()


def check_type(name: str, value: Any, kind: type) -> Any:
    """``value`` as an option of type ``kind`` (an int is a valid float); a clear error
    naming the option otherwise (values from files and Python are not parsed by a CLI)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    flag = "--" + name.replace("_", "-")
    raise GanforgeError(
        f"option {name} ({flag}) must be {_TYPE_NAMES.get(kind, kind.__name__)}, got "
        f"{value!r} ({type(value).__name__}); fix it in the config file or call"
    )


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


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
