"""What points and pictures share: data as tensors, a :class:`TrainConfig`, the trainer of
:func:`~ganforge.modalities.build.build_trainer`, evaluation, health signals, the sharp
critic and sampling. :mod:`.points` and :mod:`.pictures` add what differs."""

from __future__ import annotations

import dataclasses
import logging
from abc import abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.config import TrainConfig, make_config
from ganforge.data import Source, load_data
from ganforge.distributed import Dist, Shard, broadcast, broadcast_buffers, setup
from ganforge.errors import GanforgeError
from ganforge.evaluate import Evaluator, best_key, evaluate
from ganforge.metrics import mode_stats
from ganforge.modalities.base import Batches, Evaluation, Modality, Model, trainer_state
from ganforge.modalities.build import Networks, Optimizers, build_trainer
from ganforge.modalities.custom import networks_from_config
from ganforge.noise import Noise, restore_rng
from ganforge.run import RunDir, check_same_config
from ganforge.sampling import Sampler, SamplingDefaults
from ganforge.schedule import apply_ramps, kimg_schedules, linear_decay, lr_factor, set_lr
from ganforge.seeds import child_seed, seeds
from ganforge.sharp_critic import SharpCritic, fit_critic
from ganforge.threads import trainer_step
from ganforge.trainer import evaluating, frozen
from ganforge.version import __version__

log = logging.getLogger("ganforge")

# Settings that may differ between a run and its resumption.
RUN_CONTROL = {
    "steps", "log_every", "ckpt_every", "ckpt_keep", "eval_every", "eval_metrics",
    "eval_features", "eval_n", "best_metric", "sample_every", "device", "threads", "drs",
    "drs_quantile", "dot_steps", "jbt", "sharp_critic_steps", "sharp_critic_freq",
    "on_nonfinite", "compile", "cuda_graph", "dist_timeout", "tensorboard",
}  # fmt: skip
N_SPREAD = 256  # samples whose spread gives the diversity signal
N_COVER = 1000  # samples whose modes give the coverage signal
PLAIN = {"drs": False, "dot_steps": 0, "jbt": 0.0}  # straight from the generator


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("--device cuda: no CUDA GPU is available; use --device cpu or auto")
    return torch.device(name)


def saved_config(saved: dict[str, Any]) -> dict[str, Any]:
    """A run's saved settings, with the defaults (not a preset's values) for the settings
    that did not exist when it was saved, so that it loads and resumes as it trained."""
    defaults = TrainConfig().to_dict()
    return {**{k: v for k, v in defaults.items() if k not in saved}, **saved}


def seeded_networks(config: dict[str, Any], seed: int) -> Networks | None:
    """The user's networks that ``config`` names (``--generator``/``--discriminator``),
    initialised from the run's seed as the built-in ones are; None for the built-in ones."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeds(seed)[0])
        return networks_from_config(config)


def spread(x: np.ndarray) -> float:
    """Mean pairwise Euclidean distance of samples (pictures as pixels in [-1, 1])."""
    flat = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float64)
    if x.dtype == np.uint8:
        flat = flat / 127.5 - 1
    return float(torch.pdist(flat).mean())


class TensorModel(Model):
    """A points or pictures model: a config, its trainer and data stream (see
    :class:`TensorModality` for how one is made)."""

    def __init__(
        self,
        modality: TensorModality,
        cfg: TrainConfig,
        data_info: dict[str, Any],
        job: Dist,
        device: torch.device,
        networks: Networks | None = None,
        optimizers: Optimizers = (None, None),
    ) -> None:
        self.modality, self.config_, self.data_info_, self.job = modality, cfg, data_info, job
        self.name, self.steps, self.threads = data_info["name"], cfg.steps, cfg.threads
        self.trainer = build_trainer(
            cfg, tuple(data_info["shape"]), device, job, data_info.get("class_shares"),
            networks, optimizers,
        )  # fmt: skip
        self.source_: Source | None = None
        self.shift_: Tensor | None = None
        self.scale_: Tensor | None = None
        self.sharp_critic_: SharpCritic | None = None
        self.best_: dict[str, Any] | None = None
        self.reference_: np.ndarray | None = None  # real samples the previews draw
        self.scheduled_: dict[str, float] = {}  # the ramps by images seen, this step's values

    # -- what the session reads ----------------------------------------------------------

    @property
    def loop(self) -> Mapping[str, Any]:
        cfg = self.config_
        names = ("log_every", "ckpt_every", "ckpt_keep", "eval_every", "sample_every")
        return {**{n: getattr(cfg, n) for n in names}, "tensorboard": cfg.tensorboard}

    @property
    def resumable(self) -> set[str]:
        return RUN_CONTROL

    def config(self) -> dict[str, Any]:
        return self.config_.to_dict()

    def info(self) -> dict[str, Any]:
        info = {"config": self.config(), "data": self.data_info_, "version": __version__}
        job = self.job
        if job.active:
            batch = self.config_.batch_size
            info["distributed"] = {
                "world_size": job.world,
                "backend": job.backend,
                "batch_per_process": batch,
                "batch": batch * job.world,
            }
        return info

    def to_device(self, x: Tensor) -> Tensor:
        """A batch moved where the networks are, in their memory layout."""
        device = self.trainer.noise.device
        if x.dim() == 4 and self.config_.channels_last:
            return x.to(device, memory_format=torch.channels_last)
        return x.to(device)

    def step_timer(self) -> Callable[[], Callable[[], Any]] | None:
        if self.job.active or self.config_.compile:  # no twin of DDP-wrapped or compiled nets
            return None
        batch = (self.config_.batch_size, *self.data_info_["shape"])
        return lambda: trainer_step(self.trainer, batch, self.to_device)

    def before_step(self, step: int) -> None:
        cfg, trainer = self.config_, self.trainer
        factor = lr_factor(step, cfg.steps, cfg.lr_schedule, cfg.lr_decay_start)
        ramps = self.scheduled_ = kimg_schedules(cfg, step, self.job.world)  # {} when off
        set_lr(trainer.g_optimizer, ramps.get("lr_g", cfg.lr_g * factor))
        set_lr(trainer.d_optimizer, ramps.get("lr_d", cfg.lr_d * factor))
        apply_ramps(trainer, ramps)
        if cfg.instance_noise:
            anneal = linear_decay(step, cfg.steps, cfg.instance_noise_anneal)
            trainer.instance_noise = cfg.instance_noise * anneal
        if cfg.g_topk < 1:
            anneal = linear_decay(step, cfg.steps, cfg.g_topk_anneal)
            trainer.g_topk = cfg.g_topk + (1 - cfg.g_topk) * anneal

    def batches(self) -> Batches:
        cfg, source = self.config_, self.source_
        if not self.trainer.conditional:
            return [self.to_device(source.batch(cfg.batch_size)) for _ in range(cfg.n_critic)], None
        drawn = [source.labelled_batch(cfg.batch_size) for _ in range(cfg.n_critic)]
        device = self.trainer.noise.device
        return [self.to_device(x) for x, _ in drawn], [y.to(device) for _, y in drawn]

    def signals(self) -> dict[str, float]:
        """The spread of a fixed batch of the generator's samples against real ones
        (``diversity``, 1 = as spread as the data) and, on a known mixture, the modes a
        fixed batch hits; both without sampling-time refinement (DRS, DOT); and the values
        of the ramps by images seen that are on (``lr_g``, ``beta2``, ``r1_gamma``, ...)."""
        seed = self.config_.seed + 1  # fixed noise, apart from the run's own samples
        if not hasattr(self, "_real_spread"):
            self._real_spread = spread(self.source_.reference(N_SPREAD, seed=seed))
        fake = self.sample(N_SPREAD, seed=seed, **PLAIN)
        signals = {"diversity": spread(fake) / max(self._real_spread, 1e-12)}
        mixture = self.source_.mixture
        if mixture is not None:
            modes = mode_stats(self.sample(N_COVER, seed=seed, **PLAIN), mixture)["modes"]
            signals.update(modes_covered=modes, modes_total=len(mixture.means))
        return {**signals, **self.scheduled_}

    def evaluation(self) -> Evaluation | None:
        cfg = self.config_
        if not cfg.eval_every:
            return None
        default = ["modes"] if self.source_.mixture is not None else ["fd"]
        metrics = [m.strip() for m in cfg.eval_metrics.split(",") if m.strip()] or default
        evaluator = Evaluator(
            self.source_, metrics=metrics, n=cfg.eval_n or None, features=cfg.eval_features,
            seed=cfg.seed,
        )  # fmt: skip
        return (lambda: evaluator(self.sampler().chunks)), best_key(evaluator, cfg.best_metric)

    def preview(self, path: Path, title: str) -> None:
        self.modality.preview(self, path, title, refine=False)

    def after_training(self) -> None:
        if self.config_.sharp_critic_steps:
            self._fit_sharp_critic()
        for module in (self.trainer.generator, self.trainer.discriminator):
            broadcast_buffers(module, self.job)  # every rank ends with rank 0's statistics
        broadcast_buffers(self.trainer.sampling_generator, self.job)

    def finish(self, run: RunDir) -> None:
        self.modality.preview(self, run.samples / "final.png", f"final (step {self.steps})", True)
        self.modality.extra_pictures(self, run)

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        critic = self.sharp_critic_
        return {
            **self.trainer.state_dict(),
            "data": self.source_.state_dict(),
            **({"shift": self.shift_, "scale": self.scale_} if self.shift_ is not None else {}),
            "config": self.config(),
            "version": __version__,
            "best": self.best_,
            **({"sharp_critic": critic.state_dict()} if critic is not None else {}),
        }

    def check_resumable(self, run: RunDir, state: dict[str, Any]) -> None:
        check_same_config(run.path, saved_config(state["config"]), self.config(), RUN_CONTROL)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(trainer_state(state))
        if self.source_ is not None and "data" in state:
            self.source_.load_state_dict(state["data"])
        self.shift_, self.scale_ = state.get("shift"), state.get("scale")
        self.sharp_critic_ = self._load_sharp_critic(state)
        self.best_ = state.get("best")

    def load_rank_state(self, mine: dict[str, Any]) -> None:
        """This rank's own random streams from a checkpoint of a torchrun job."""
        same_device = self.trainer.noise.load_state_dict(mine["noise"])
        same_device &= restore_rng(self.trainer.rng, mine["rng"])
        self.trainer.streams_continued &= same_device

    # -- the sharp critic ----------------------------------------------------------------

    def _new_sharp_critic(self) -> SharpCritic:
        cfg = self.config_
        critic = SharpCritic(
            self.data_info_["dim"],
            cfg.sharp_critic_freq,
            generator=torch.Generator().manual_seed(child_seed(cfg.seed, 1)),
        )
        return critic.to(self.trainer.noise.device)

    def _fit_sharp_critic(self) -> None:
        """Fits the sampler's sharp critic on rank 0, on the training data against the
        sampling (EMA) generator; every rank ends with rank 0's critic. The data stream is
        put back where it was, so that a resumed run trains as one that never stopped."""
        cfg, trainer = self.config_, self.trainer
        critic = self._new_sharp_critic()
        state = None
        if self.job.is_main:
            position = self.source_.state_dict()
            generator = trainer.sampling_generator
            seed = child_seed(cfg.seed, 2)
            noise = Noise(cfg.latent_dim, cfg.noise, seed=seed, device=trainer.noise.device)
            with evaluating(generator), frozen(generator):
                fit_critic(
                    critic,
                    lambda n: self.to_device(self.source_.batch(n)),
                    lambda n: generator(noise(n)).float(),
                    cfg.sharp_critic_steps,
                )
            self.source_.load_state_dict(position)
            state = {k: v.cpu() for k, v in critic.state_dict().items()}
        critic.load_state_dict(broadcast(state, self.job))
        self.sharp_critic_ = critic.eval().requires_grad_(False)

    def _load_sharp_critic(self, state: dict[str, Any]) -> SharpCritic | None:
        if "sharp_critic" not in state:
            return None
        critic = self._new_sharp_critic()
        critic.load_state_dict(state["sharp_critic"])
        return critic.eval().requires_grad_(False)

    # -- sampling ------------------------------------------------------------------------

    def sampler(self) -> Sampler:
        """A :class:`Sampler` with the run's sampling settings."""
        cfg = self.config_
        defaults = SamplingDefaults(
            **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(SamplingDefaults)}
        )
        return Sampler(self.trainer, defaults, self.decode, self.modality.chunk, self.sharp_critic_)

    def decode(self, x: Tensor) -> np.ndarray:
        """Network output → the edge format of the modality."""
        return self.modality.decode(self, x)

    def sample(self, n: int, **options: Any) -> np.ndarray:
        if options.pop("conditions", None):
            raise GanforgeError("conditions apply to tables; this GAN makes points or pictures")
        return self.sampler().sample(n, **options)


class TensorModality(Modality):
    """Points and pictures: options of :class:`TrainConfig`, data through
    :func:`~ganforge.data.load_data`."""

    model_class: type[TensorModel] = TensorModel
    kind_presets: dict[str, Any] = {}  # tuned for the kind of data
    presets: dict[str, dict[str, Any]] = {}  # tuned for its built-in data sets
    chunk = 65536  # samples generated at a time

    def option_names(self) -> set[str]:
        return {f.name for f in dataclasses.fields(TrainConfig)}

    def make_config(self, data: Any, options: Mapping[str, Any]) -> TrainConfig:
        """Defaults, then this kind's presets and the data set's, then ``options``."""
        name = str(data) if isinstance(data, (str, Path)) else "array"
        return make_config({**self.kind_presets, **self.presets.get(name, {})}, data=name,
                           **{k: v for k, v in options.items() if k != "data"})  # fmt: skip

    def load_source(self, data: Any, cfg: TrainConfig, seed: int) -> Source:
        """The batch stream of ``data`` as ``cfg`` reads it, seeded by ``seed``."""
        return load_data(
            data, seed=seed, resolution=cfg.resolution, channels=cfg.channels, hflip=cfg.hflip,
            skip_bad_files=cfg.skip_bad_files,
        )  # fmt: skip

    def data_info(self, source: Source) -> dict[str, Any]:
        """What a run records of its data: name, kind, sample shape, mixture, classes and
        their shares of the data (pictures with labels)."""
        mixture = source.mixture
        labels, classes = getattr(source, "labels", None), getattr(source, "classes", None)
        shares = None
        if labels is not None and classes:
            counts = np.bincount(np.asarray(labels), minlength=len(classes))
            shares = (counts / counts.sum()).tolist()
        return {
            "name": source.name,
            "kind": self.kind,
            "shape": list(source.shape),
            "dim": int(np.prod(source.shape)),
            "mixture": None
            if mixture is None
            else {"means": mixture.means.tolist(), "std": mixture.std},
            "classes": classes,
            "class_shares": shares,
        }

    def check(self, cfg: TrainConfig, info: dict[str, Any]) -> None:
        """Refuses settings that this kind of data cannot train with."""
        if cfg.conditional and info.get("class_shares") is None:
            raise GanforgeError(
                f"--conditional needs labelled pictures (built-ins, sub-folders, IDX label "
                f"files), but {info['name']} has no labels; drop --conditional"
            )

    def build(
        self,
        data: Any,
        options: Mapping[str, Any],
        *,
        networks: Networks | None = None,
        optimizers: Optimizers | None = None,
    ) -> TensorModel:
        cfg = self.make_config(data, options)
        job, device = setup(resolve_device(cfg.device), cfg.dist_timeout)
        source = self.load_source(data, cfg, seeds(cfg.seed)[2])
        if job.active:
            source = Shard(source, job)
        source.check_batch_size(cfg.batch_size)
        info = self.data_info(source)
        self.check(cfg, info)
        networks = networks or seeded_networks(cfg.to_dict(), cfg.seed)
        model = self.model_class(self, cfg, info, job, device, networks, optimizers or (None, None))
        model.source_ = source
        model.shift_ = getattr(source, "shift", None)
        model.scale_ = getattr(source, "scale", None)
        self._dry_run(model)
        return model

    @staticmethod
    def _dry_run(model: TensorModel) -> None:
        """Both networks once on a batch of the data's shape, before anything is written."""
        n = 2 * model.config_.pack
        trainer = model.trainer
        labels = torch.zeros(n, dtype=torch.long) if trainer.conditional else None
        trainer.check(
            model.to_device(torch.zeros(n, *model.data_info_["shape"])),
            None if labels is None else labels.to(trainer.noise.device),
        )

    def load(
        self, run: RunDir, state: dict[str, Any], device: str, networks: Networks | None
    ) -> TensorModel:
        saved = saved_config(state["config"])
        cfg = make_config({}, **saved)
        info = dict(run.read_config()["data"])
        info.setdefault("shape", [info.get("dim")])
        info.setdefault("kind", self.kind)
        networks = networks or seeded_networks(saved, cfg.seed)
        model = self.model_class(self, cfg, info, Dist(), resolve_device(device), networks)
        model.load_state_dict(state)
        return model

    def evaluate(
        self,
        model: Model,
        *,
        metrics: list[str] | None = None,
        n: int | None = None,
        features: str = "raw",
        data: Any = None,
        seed: int = 0,
        target: Any = None,
    ) -> dict[str, Any]:
        """Compares ``n`` generated samples with ``n`` samples of the training data (see
        :func:`ganforge.evaluate.evaluate`); ``data``: the real data (default: the run's
        own data set, loaded as it was trained)."""
        if target is not None:
            raise GanforgeError("--target applies to tables (the column ML efficacy predicts)")
        cfg = model.config_  # type: ignore[attr-defined]
        name = data or cfg.data
        if name == "array":
            raise GanforgeError(
                "this run was trained on an in-memory array; pass the real data with --data PATH"
            )
        source = load_data(name, seed=seed, resolution=cfg.resolution, channels=cfg.channels)
        chunks = model.sampler().chunks  # type: ignore[attr-defined]
        return evaluate(chunks, source, metrics=metrics, n=n, features=features, seed=seed)

    # -- what points and pictures each define --------------------------------------------

    @abstractmethod
    def decode(self, model: TensorModel, x: Tensor) -> np.ndarray:
        """Network output → the edge format."""

    @abstractmethod
    def preview(self, model: TensorModel, path: Path, title: str, refine: bool) -> None:
        """Draws samples to ``path``; ``refine``: with the run's DRS or DOT."""

    def extra_pictures(self, model: TensorModel, run: RunDir) -> None:
        """More final pictures than ``final.png``."""
