"""The GAN facade: ``GAN(...).fit()``, ``sample``, ``save`` and ``load``, for points,
pictures and tables alike (tables go to :class:`ganforge.tables.run.TableRun`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ganforge import __version__
from ganforge.augment import DiffAugment
from ganforge.checkpoint import checkpoint_path
from ganforge.config import TrainConfig, make_config
from ganforge.data import Source, data_kind, load_data
from ganforge.data.images import to_uint8
from ganforge.distributed import (
    Dist,
    Shard,
    any_rank,
    barrier,
    broadcast,
    broadcast_buffers,
    ddp,
    gather,
    mean_over_ranks,
    rank_seed,
    setup,
    sync_batchnorm,
)
from ganforge.ema import EMA
from ganforge.errors import GanforgeError, NonFiniteError
from ganforge.evaluate import Evaluator, best_key, is_better
from ganforge.loop import SHOWN, Meter, TrainingInterrupted, sigint_flag
from ganforge.losses import LOSSES, realness
from ganforge.metrics import mode_stats
from ganforge.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ganforge.noise import Noise, restore_rng
from ganforge.plots import image_grid, loss_plot, save_picture, scatter_plot
from ganforge.rejection import rejection_sample
from ganforge.run import RunDir, check_same_config
from ganforge.schedule import linear_decay, lr_factor, set_lr
from ganforge.sharp_critic import SharpCritic, fit_critic
from ganforge.tables.run import TableRun, as_table
from ganforge.trainer import Trainer, evaluating, frozen
from ganforge.transport import N_PAIRS, effective_lipschitz, transport
from ganforge.truncation import draws_needed, truncate

# Settings that may differ between a run and its resumption.
RUN_CONTROL = {
    "steps",
    "log_every",
    "ckpt_every",
    "ckpt_keep",
    "eval_every",
    "eval_metrics",
    "eval_features",
    "eval_n",
    "best_metric",
    "sample_every",
    "device",
    "threads",
    "drs",
    "drs_quantile",
    "dot_steps",
    "jbt",
    "sharp_critic_steps",
    "sharp_critic_freq",
    "on_nonfinite",
    "compile",
    "dist_timeout",
    "tensorboard",
}
N_GRID = 64  # pictures in a sample grid


N_SPREAD = 256  # samples whose spread gives the diversity signal
N_COVER = 1000  # samples whose modes give the coverage signal
PLAIN = {"drs": False, "dot_steps": 0, "jbt": 0.0}  # sample() straight from the generator


def _summary_writer() -> type:
    """TensorBoard's ``SummaryWriter``; a clear error when the package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GanforgeError(
            "--tensorboard needs the tensorboard package; install it with "
            "pip install 'ganforge[tensorboard]' (or pip install tensorboard)"
        ) from None
    return SummaryWriter


def _spread(x: np.ndarray) -> float:
    """Mean pairwise Euclidean distance of samples (pictures as pixels in [-1, 1])."""
    flat = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float64)
    if x.dtype == np.uint8:
        flat = flat / 127.5 - 1
    return float(torch.pdist(flat).mean())


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("--device cuda: no CUDA GPU is available; use --device cpu or auto")
    return torch.device(name)


def _saved_config(saved: dict[str, Any]) -> dict[str, Any]:
    """A run's saved settings, with the defaults (not a preset's values) for the settings
    that did not exist when it was saved, so that it loads and resumes as it trained."""
    defaults = TrainConfig().to_dict()
    return {**{k: v for k, v in defaults.items() if k not in saved}, **saved}


def _seeds(seed: int) -> list[int]:
    """Independent seeds for networks, noise, data and the trainer, from one seed."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(4)]


def _child_seed(seed: int, key: int) -> int:
    """A seed of its own for one use ``key`` of the run's ``seed`` (apart from :func:`_seeds`)."""
    return int(np.random.SeedSequence(seed, spawn_key=(key,)).generate_state(1)[0])


def _networks(
    cfg: TrainConfig, shape: tuple[int, ...], num_classes: int = 0
) -> tuple[torch.nn.Module, torch.nn.Module, bool]:
    """The generator and discriminator for data of ``shape`` (class-conditional with
    ``num_classes`` > 0), and whether D is convolutional."""
    conv = cfg.net == "dcgan" or (cfg.net == "auto" and len(shape) == 3)
    if conv:
        if len(shape) != 3:
            raise GanforgeError(f"--net dcgan needs pictures, but the data have shape {shape}")
        generator = DCGANGenerator(
            cfg.latent_dim, shape, cfg.g_width, cfg.g_depth, num_classes=num_classes
        )
        discriminator = DCGANDiscriminator(
            shape, cfg.d_width, cfg.d_depth, cfg.d_norm, cfg.spectral_norm, cfg.pack, num_classes
        )
        return generator, discriminator, True
    if num_classes:
        raise GanforgeError(
            "--conditional needs the convolutional networks of pictures; drop --conditional"
        )
    dim = int(np.prod(shape))
    generator = MLPGenerator(cfg.latent_dim, dim, cfg.g_width, cfg.g_depth, cfg.g_act)
    discriminator = MLPDiscriminator(
        dim, cfg.d_width, cfg.d_depth, cfg.d_act, cfg.spectral_norm, cfg.pack
    )
    if len(shape) > 1:  # an MLP on pictures: flat vectors in, pictures out
        generator = torch.nn.Sequential(generator, torch.nn.Unflatten(1, shape))
    return generator, discriminator, False


def build_trainer(
    cfg: TrainConfig,
    shape: tuple[int, ...],
    device: torch.device,
    job: Dist | None = None,
    class_shares: list[float] | None = None,
) -> Trainer:
    """Networks, noise, optimizers, EMA and trainer for data of ``shape`` (one sample).

    In a ``torchrun`` job (``job``), the noise and the trainer's own draws are seeded per
    rank and both networks train through DistributedDataParallel. Under
    ``cfg.conditional`` the networks take classes, drawn for generated samples with
    ``class_shares`` (the data's).
    """
    job = job or Dist()
    if cfg.conditional and not class_shares:
        raise GanforgeError("--conditional needs the data's classes; drop --conditional")
    shares = class_shares if cfg.conditional else None
    net_seed, noise_seed, _, trainer_seed = _seeds(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(net_seed)  # weight initialisation, the same on every rank
        num_classes = len(shares) if shares else 0
        generator, discriminator, conv = _networks(cfg, tuple(shape), num_classes)
    if cfg.sync_bn:
        generator = sync_batchnorm(generator, device)
        discriminator = sync_batchnorm(discriminator, device)
    layout = torch.channels_last if conv and cfg.channels_last else torch.contiguous_format
    generator.to(device, memory_format=layout)
    discriminator.to(device, memory_format=layout)
    ema = EMA(generator, cfg.ema_decay) if cfg.ema_decay > 0 else None
    if cfg.compile:
        generator.compile()
        # R1 and the gradient penalty backpropagate through D's input gradient, a double
        # backward pass that compiled modules do not support: D then stays eager
        if cfg.r1_gamma == 0 and LOSSES[cfg.loss].gp_weight == 0:
            discriminator.compile()

    def adam(module: torch.nn.Module, lr: float) -> torch.optim.Adam:
        # fused: one kernel for all parameters (the same update, less per-tensor overhead)
        fused = device.type in ("cpu", "cuda")
        return torch.optim.Adam(module.parameters(), lr, (cfg.beta1, cfg.beta2), fused=fused)

    trainer = Trainer(
        generator,
        discriminator,
        noise=Noise(
            cfg.latent_dim,
            cfg.noise,
            seed=rank_seed(noise_seed, job.rank),
            device=device,
            class_shares=shares,
        ),
        loss=cfg.loss,
        g_optimizer=adam(generator, cfg.lr_g),
        d_optimizer=adam(discriminator, cfg.lr_d),
        n_critic=cfg.n_critic,
        r1_gamma=cfg.r1_gamma,
        r1_every=cfg.r1_every,
        ema=ema,
        # the MLP discriminator has no batch statistics and is faster judging real and
        # generated batches in one call; a convolutional one (perhaps with BatchNorm) judges
        # them apart, keeping one graph in memory at a time
        joint_forward=not conv,
        reuse_fake=cfg.reuse_fake,
        augment=DiffAugment(cfg.augment) if cfg.augment else None,
        instance_noise=cfg.instance_noise,
        g_topk=cfg.g_topk,
        precision=cfg.precision,
        on_nonfinite=cfg.on_nonfinite,
        label_smoothing=cfg.label_smoothing,
        d_l2=cfg.d_l2,
        unrolled_steps=cfg.unrolled_steps,
        seed=rank_seed(trainer_seed, job.rank),
    )
    if job.active:
        trainer.wrap(lambda module: ddp(module, device))
    return trainer


class GAN:
    """A GAN with the estimator face: ``fit``, then ``sample``.

    Args:
        data: a built-in data set name, a file or folder path, an ``(N, d)`` array of
            points, a uint8 ``(N, H, W, C)`` array of pictures, or a table: a pandas
            DataFrame or a ``.csv`` file with a header (a plain numeric point set in a
            ``.csv`` file trains as points).
        **options: any field of :class:`ganforge.config.TrainConfig` (``steps``,
            ``loss``, ``seed``, ...); unset ones come from the data set's preset. Tables
            take the fields of :class:`ganforge.tables.TableOptions` and the run settings
            of :data:`ganforge.tables.run.RUN_DEFAULTS` instead.
    """

    def __init__(self, data: Any = None, **options: Any) -> None:
        self.data = data
        self.options = options

    def get_config(self, X: Any = None) -> TrainConfig:
        """The resolved configuration: defaults, presets, then the given options.

        ``X`` is the data given to :meth:`fit`, when it was given there.
        """
        options = dict(self.options)
        data = X if X is not None else self.data
        if isinstance(data, (str, Path)):
            options["data"] = str(data)
        elif data is not None:
            options["data"] = "array"
            return make_config(kind=data_kind(data), **options)
        return make_config(**options)

    def fit(
        self,
        X: Any = None,
        *,
        discrete_columns: list[str] | None = None,
        continuous_columns: list[str] | None = None,
        out: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        progress: bool = False,
    ) -> GAN:
        """Trains; with ``out``, writes a run directory as it goes. Returns ``self``.

        ``discrete_columns`` and ``continuous_columns`` force the kind of a table's columns
        (by default numbers are continuous, unless integers with few distinct values).
        """
        data = next((d for d in (X, self.data, self.options.get("data")) if d is not None), None)
        table = as_table(data, discrete_columns, continuous_columns)
        if table is not None:
            self.table_ = TableRun(**self.options)
            self.table_.fit(
                table,
                discrete_columns,
                continuous_columns,
                out=out,
                resume=resume,
                overwrite=overwrite,
                progress=progress,
                source=data if isinstance(data, (str, Path)) else None,
            )
            self.data_info_ = self.table_.data_info_
            return self
        self.__dict__.pop("table_", None)
        cfg = self.get_config(X)
        job, device = setup(resolve_device(cfg.device), cfg.dist_timeout)
        data = X if X is not None else (self.data if self.data is not None else cfg.data)
        source = load_data(
            data,
            seed=_seeds(cfg.seed)[2],
            resolution=cfg.resolution,
            channels=cfg.channels,
            hflip=cfg.hflip,
            skip_bad_files=cfg.skip_bad_files,
        )
        if job.active:
            source = Shard(source, job)
        source.check_batch_size(cfg.batch_size)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.data_info_ = self._data_info(source)
        if cfg.sharp_critic_steps and self.is_pictures:
            raise GanforgeError(
                "the sharp critic (--sharp-critic-steps) is for point data; "
                "train pictures with --sharp-critic-steps 0"
            )
        shares = self.data_info_.get("class_shares")
        if cfg.conditional and shares is None:
            raise GanforgeError(
                f"--conditional needs labelled pictures (built-ins, sub-folders, IDX label "
                f"files), but {source.name} has no labels; drop --conditional"
            )
        trainer = build_trainer(cfg, source.shape, device, job, shares)
        self.config_, self.trainer_, self.source_, self.dist_ = cfg, trainer, source, job
        self.sharp_critic_: SharpCritic | None = None
        self.shift_ = getattr(source, "shift", None)
        self.scale_ = getattr(source, "scale", None)
        self._dry_run()
        run = RunDir(out) if out is not None else None
        self.best_: dict[str, Any] | None = None
        self.__dict__.pop("_history", None)  # the records the progress line's doctor reads
        self._evaluator = self._make_evaluator() if run is not None and cfg.eval_every else None
        if cfg.tensorboard:
            _summary_writer()  # a missing package fails here, before anything is written
        start = 0
        if run is not None:
            self._prepare(run, resume, overwrite)
            start = self._resume(run) if resume else 0
            if job.is_main:
                run.write_config(self._info())
        if job.active and job.is_main and progress:
            tqdm.write(
                f"{job.world} processes ({job.backend}): batch {cfg.batch_size} per process, "
                f"{cfg.batch_size * job.world} in all"
            )
        self._train(start, run, progress)
        return self

    def _prepare(self, run: RunDir, resume: bool, overwrite: bool) -> None:
        """Rank 0 creates (or checks) the run directory; every rank learns how that went."""
        job = self.dist_
        problem = None
        if job.is_main:
            try:
                run.prepare(resume=resume, overwrite=overwrite)
            except GanforgeError as e:
                problem = str(e)
        problem = broadcast(problem, job)
        if problem is not None:
            raise GanforgeError(problem)

    def _dry_run(self) -> None:
        """Both networks once on a batch of the data's shape, before anything is written."""
        n = 2 * self.config_.pack
        labels = torch.zeros(n, dtype=torch.long) if self.trainer_.conditional else None
        self.trainer_.check(
            self._to_device(torch.zeros(n, *self.source_.shape)),
            None if labels is None else labels.to(self.trainer_.noise.device),
        )

    def _make_evaluator(self) -> Evaluator:
        """The evaluation of ``--eval-every`` and the number that ranks checkpoints."""
        cfg = self.config_
        default = ["modes"] if self.source_.mixture is not None else ["fd"]
        metrics = [m.strip() for m in cfg.eval_metrics.split(",") if m.strip()] or default
        evaluator = Evaluator(
            self.source_,
            metrics=metrics,
            n=cfg.eval_n or None,
            features=cfg.eval_features,
            seed=cfg.seed,
        )
        self._best_key = best_key(evaluator, cfg.best_metric)
        return evaluator

    def _evaluate(
        self, step: int, run: RunDir, ranks: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Scores the generator; a new best by ``--best-metric`` replaces the best checkpoint."""
        assert self._evaluator is not None
        scores = self._evaluator(self)
        key = self._best_key
        if is_better(key, scores[key], None if self.best_ is None else self.best_["value"]):
            self.best_ = {"metric": key, "value": scores[key], "step": step}
            run.save_best(self._state(ranks))
        return scores

    def _to_device(self, x: Tensor) -> Tensor:
        """A batch moved where the networks are, in their memory layout."""
        cfg = self.config_
        if x.dim() == 4 and cfg.channels_last:
            return x.to(self.trainer_.noise.device, memory_format=torch.channels_last)
        return x.to(self.trainer_.noise.device)

    def _resume(self, run: RunDir) -> int:
        latest = run.latest()
        if latest is None:  # killed before its first checkpoint: start over
            run.truncate_metrics(0)
            return 0
        step, state = latest
        world = int(state.get("world", 1))
        if world != self.dist_.world:
            raise GanforgeError(
                f"{run.path} was trained by {world} process(es) and cannot continue on "
                f"{self.dist_.world}; resume it with torchrun --nproc_per_node {world} "
                "(in all) or start a new --out"
            )
        saved = _saved_config(state["config"])
        check_same_config(run.path, saved, self.config_.to_dict(), RUN_CONTROL)
        self.trainer_.load_state_dict(state["trainer"])
        self.source_.load_state_dict(state["data"])
        self.sharp_critic_ = self._load_sharp_critic(state)
        if world > 1:  # this rank's own random streams
            mine = state["ranks"][self.dist_.rank]
            same_device = self.trainer_.noise.load_state_dict(mine["noise"])
            same_device &= restore_rng(self.trainer_.rng, mine["rng"])
            self.trainer_.streams_continued &= same_device
        if not self.trainer_.streams_continued and self.dist_.is_main:
            print(
                f"ganforge: note: {run.path} was trained on another device type; its random "
                f"streams restart from the saved state on {self.trainer_.noise.device.type} "
                "(a resume across devices cannot be bitwise)",
                file=sys.stderr,
            )
        best = state.get("best")
        if self._evaluator is not None and best and best["metric"] == self._best_key:
            self.best_ = best
        if self.dist_.is_main:
            run.truncate_metrics(step)
        return step

    @staticmethod
    def _data_info(source: Source) -> dict[str, Any]:
        """What a run records of its data: name, kind, sample shape, mixture, classes and
        their shares of the data (pictures with labels)."""
        mixture = source.mixture
        labels = getattr(source, "labels", None)
        classes = getattr(source, "classes", None)
        shares = None
        if labels is not None and classes:
            counts = np.bincount(np.asarray(labels), minlength=len(classes))
            shares = (counts / counts.sum()).tolist()
        return {
            "name": source.name,
            "kind": "pictures" if len(source.shape) == 3 else "points",
            "shape": list(source.shape),
            "dim": int(np.prod(source.shape)),
            "mixture": None
            if mixture is None
            else {"means": mixture.means.tolist(), "std": mixture.std},
            "classes": classes,
            "class_shares": shares,
        }

    @property
    def is_pictures(self) -> bool:
        """Whether this GAN makes pictures (else points or table rows)."""
        return self.data_info_["kind"] == "pictures"

    @property
    def is_table(self) -> bool:
        """Whether this GAN makes table rows (a pandas DataFrame from :meth:`sample`)."""
        return getattr(self, "table_", None) is not None

    def _info(self) -> dict[str, Any]:
        info = {"config": self.config_.to_dict(), "data": self.data_info_, "version": __version__}
        job = self.dist_
        if job.active:
            batch = self.config_.batch_size
            info["distributed"] = {
                "world_size": job.world,
                "backend": job.backend,
                "batch_per_process": batch,
                "batch": batch * job.world,
            }
        return info

    def _rank_states(self) -> list[dict[str, Any]] | None:
        """Every rank's own random streams, gathered (all ranks must call it together)."""
        if not self.dist_.active:
            return None
        trainer = self.trainer_
        return gather(
            {"noise": trainer.noise.state_dict(), "rng": trainer.rng.get_state()}, self.dist_
        )

    def _state(self, ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The whole training state; ``ranks``: the random streams of every rank."""
        parallel = {"world": len(ranks), "ranks": ranks} if ranks else {}
        critic = getattr(self, "sharp_critic_", None)
        return {
            **parallel,
            "trainer": self.trainer_.state_dict(),
            "data": self.source_.state_dict(),
            **({"shift": self.shift_, "scale": self.scale_} if self.shift_ is not None else {}),
            "config": self.config_.to_dict(),
            "version": __version__,
            "best": self.best_,
            **({"sharp_critic": critic.state_dict()} if critic is not None else {}),
        }

    def _train(self, start: int, run: RunDir | None, progress: bool) -> None:
        cfg, trainer, source, job = self.config_, self.trainer_, self.source_, self.dist_
        pictures = self.is_pictures
        writes = run is not None and job.is_main  # only rank 0 writes
        reference = source.reference(1000, seed=cfg.seed) if writes and not pictures else None
        meter = Meter()
        board = None
        if writes and cfg.tensorboard:  # events after the resumed step are dropped
            board = _summary_writer()(str(run.path / "tensorboard"), purge_step=start + 1)
        bar = tqdm(
            total=cfg.steps,
            initial=start,
            disable=not progress or not job.is_main,
            unit="step",
            desc=f"train {source.name}",
            dynamic_ncols=True,
        )
        with bar, sigint_flag() as interrupted:
            for step in range(start + 1, cfg.steps + 1):
                factor = lr_factor(step, cfg.steps, cfg.lr_schedule, cfg.lr_decay_start)
                set_lr(trainer.g_optimizer, cfg.lr_g * factor)
                set_lr(trainer.d_optimizer, cfg.lr_d * factor)
                if cfg.instance_noise:
                    anneal = linear_decay(step, cfg.steps, cfg.instance_noise_anneal)
                    trainer.instance_noise = cfg.instance_noise * anneal
                if cfg.g_topk < 1:
                    anneal = linear_decay(step, cfg.steps, cfg.g_topk_anneal)
                    trainer.g_topk = cfg.g_topk + (1 - cfg.g_topk) * anneal
                batches, labels = self._batches()
                try:
                    meter.add(trainer.step(batches, labels))
                except NonFiniteError as e:  # its last record tells the doctor what happened
                    if writes:
                        run.append_metrics({"step": step, **e.losses, "nonfinite": e.network})
                    raise
                bar.update(1)
                if step == cfg.steps and cfg.sharp_critic_steps:
                    bar.set_postfix_str("fitting the sharp critic", refresh=True)
                    self._fit_sharp_critic()
                record = meter.flush() if step % cfg.log_every == 0 or step == cfg.steps else {}
                if record:
                    record = mean_over_ranks(record, job)
                    record["skipped"] = trainer.num_skipped
                    bar.set_postfix({k: f"{record[k]:.3f}" for k in SHOWN}, refresh=False)
                stop = any_rank(interrupted() and step < cfg.steps, job)
                if run is None:
                    if stop:
                        raise TrainingInterrupted(step, None)
                    continue
                evaluate = self._evaluator is not None and step % cfg.eval_every == 0
                save = (cfg.ckpt_every and step % cfg.ckpt_every == 0) or step == cfg.steps
                ranks = self._rank_states() if evaluate or save or stop else None
                if not job.is_main:
                    if stop:
                        raise TrainingInterrupted(step, checkpoint_path(run.checkpoints, step))
                    continue
                if record:
                    record.update(self._signals())
                if evaluate:
                    record.update(self._evaluate(step, run, ranks))
                if record:
                    run.append_metrics({"step": step, **record})
                    self._watch(bar, run, {"step": step, **record})
                    if board is not None:
                        for key, value in record.items():
                            board.add_scalar(key, value, step)
                if cfg.sample_every and step % cfg.sample_every == 0:
                    path = run.samples / f"step_{step:06d}.png"
                    self._picture(path, reference, f"step {step}", refine=False)
                if save or stop:
                    path = run.save(step, self._state(ranks), cfg.ckpt_keep)
                    if stop:
                        raise TrainingInterrupted(step, path)
        if board is not None:
            board.close()
        self._share_buffers()
        if writes:
            self._picture(
                run.samples / "final.png", reference, f"final (step {cfg.steps})", refine=True
            )
            if pictures:
                walk = image_grid(self.interpolate(rows=8, steps=10), ncol=10)
                save_picture(run.samples / "interpolation.png", walk)
            loss_plot(run.path / "losses.png", run.read_metrics())
        barrier(job)

    def _new_sharp_critic(self) -> SharpCritic:
        """An unfitted sharp critic for this run's points, seeded from the run's seed."""
        cfg = self.config_
        critic = SharpCritic(
            self.data_info_["dim"],
            cfg.sharp_critic_freq,
            generator=torch.Generator().manual_seed(_child_seed(cfg.seed, 1)),
        )
        return critic.to(self.trainer_.noise.device)

    def _fit_sharp_critic(self) -> None:
        """Fits the sampler's sharp critic on rank 0, on the training data against the
        sampling (EMA) generator; every rank ends with rank 0's critic. The data stream is
        put back where it was, so that a run resumed past this point trains as one that
        never stopped."""
        cfg, trainer = self.config_, self.trainer_
        critic = self._new_sharp_critic()
        state = None
        if self.dist_.is_main:
            position = self.source_.state_dict()
            generator = trainer.sampling_generator
            seed = _child_seed(cfg.seed, 2)
            noise = Noise(cfg.latent_dim, cfg.noise, seed=seed, device=trainer.noise.device)
            with evaluating(generator), frozen(generator):
                fit_critic(
                    critic,
                    lambda n: self._to_device(self.source_.batch(n)),
                    lambda n: generator(noise(n)).float(),
                    cfg.sharp_critic_steps,
                )
            self.source_.load_state_dict(position)
            state = {k: v.cpu() for k, v in critic.state_dict().items()}
        critic.load_state_dict(broadcast(state, self.dist_))
        self.sharp_critic_ = critic.eval().requires_grad_(False)

    def _load_sharp_critic(self, state: dict[str, Any]) -> SharpCritic | None:
        """The sharp critic saved in a checkpoint, or ``None`` when it holds none."""
        if "sharp_critic" not in state:
            return None
        critic = self._new_sharp_critic()
        critic.load_state_dict(state["sharp_critic"])
        return critic.eval().requires_grad_(False)

    def _batches(self) -> tuple[list[Tensor], list[Tensor] | None]:
        """The step's ``n_critic`` real batches, and their classes when conditional."""
        cfg, source, device = self.config_, self.source_, self.trainer_.noise.device
        if not self.trainer_.conditional:
            return [
                self._to_device(source.batch(cfg.batch_size)) for _ in range(cfg.n_critic)
            ], None
        drawn = [source.labelled_batch(cfg.batch_size) for _ in range(cfg.n_critic)]
        return [self._to_device(x) for x, _ in drawn], [y.to(device) for _, y in drawn]

    def _watch(self, bar: tqdm, run: RunDir, record: dict[str, Any]) -> None:
        """The doctor's findings so far, in the progress line (rank 0, at log steps)."""
        from ganforge.health import diagnose, progress_note

        if not hasattr(self, "_history"):  # a resumed run's earlier records count too
            self._history = [r for r in run.read_metrics() if r["step"] < record["step"]]
        self._history.append(record)
        if bar.disable:
            return
        note = progress_note(diagnose(self._history, self._info(), final=False))
        if note:
            bar.set_postfix_str(f"{bar.postfix}, {note}" if bar.postfix else note, refresh=False)

    def _signals(self) -> dict[str, float]:
        """Health signals of the generator at a log step: the spread of a fixed batch of its
        samples against real ones (``diversity``, 1 = as spread as the data) and, on a known
        mixture, the modes a fixed batch hits. Both describe the generator itself, without
        sampling-time refinement (DRS, DOT)."""
        seed = self.config_.seed + 1  # fixed noise, apart from the run's own samples
        if not hasattr(self, "_real_spread"):
            self._real_spread = _spread(self.source_.reference(N_SPREAD, seed=seed))
        fake = self.sample(N_SPREAD, seed=seed, **PLAIN)
        signals = {"diversity": _spread(fake) / max(self._real_spread, 1e-12)}
        mixture = self.source_.mixture
        if mixture is not None:
            modes = mode_stats(self.sample(N_COVER, seed=seed, **PLAIN), mixture)["modes"]
            signals.update(modes_covered=modes, modes_total=len(mixture.means))
        return signals

    def _share_buffers(self) -> None:
        """Every rank ends with rank 0's buffers (each rank's last BatchNorm statistics came
        from its own batch), so that all ranks hold the same model."""
        trainer = self.trainer_
        for module in (trainer.generator, trainer.discriminator, trainer.sampling_generator):
            broadcast_buffers(module, self.dist_)

    def _picture(self, path: Path, reference: np.ndarray | None, title: str, refine: bool) -> None:
        """A grid of pictures from fixed noise, or a scatter plot of points over real ones.

        ``refine``: drawn as :meth:`sample` draws them (with the run's DRS or DOT); without
        it, straight from the generator, which is cheaper and shows training as it goes.
        """
        how = {} if refine else PLAIN
        if self.is_pictures and self.trainer_.conditional:  # column c shows class c
            c = self.trainer_.noise.num_classes
            rows = max(1, N_GRID // c)
            labels = np.tile(np.arange(c), rows)
            save_picture(path, image_grid(self.sample(c * rows, labels=labels, **how), ncol=c))
        elif self.is_pictures:
            save_picture(path, image_grid(self.sample(N_GRID, **how)))
        else:
            points = self.sample(1000, **how)
            scatter_plot(path, reference, points, f"{self.source_.name}, {title}")

    def sample(
        self,
        n: int,
        seed: int | None = None,
        drs: bool | None = None,
        conditions: dict[str, Any] | None = None,
        dot_steps: int | None = None,
        jbt: float | None = None,
        labels: int | Sequence[int] | np.ndarray | None = None,
        sharp_critic: bool | None = None,
    ) -> Any:
        """``n`` generated samples: float32 ``(n, d)`` points in data units, uint8
        ``(n, H, W, C)`` pictures, or a table's rows as a DataFrame with its column names,
        types and categories.

        Samples come from the EMA generator when there is one, in eval mode. The same
        ``seed`` gives the same samples; ``None`` uses the run's seed. ``drs`` turns
        discriminator rejection sampling on or off (``None``: the run's ``drs`` setting).
        ``dot_steps`` sets latent discriminator optimal transport (``None``: the run's
        ``dot_steps``, or 0 when ``drs`` is asked for; 0: off; see
        :mod:`ganforge.transport`). ``jbt`` drops that share of the latents at which the
        generator stretches most before anything else (``None``: the run's ``jbt``; 0: off;
        see :mod:`ganforge.truncation`). ``conditions`` (tables) ``{column: value}``
        restricts categorical columns. ``labels`` (class-conditional runs): the class of
        every sample, one class for all, or ``None`` to draw them with the data's class
        shares. ``sharp_critic``: whether DOT and DRS ask the run's sharp critic in place of
        the discriminator (``None``: when the run has one; see
        :mod:`ganforge.sharp_critic`).
        """
        if self.is_table:
            if drs or dot_steps or jbt or sharp_critic:
                raise GanforgeError("drs, dot_steps, jbt and sharp_critic do not apply to tables")
            return self.table_.sample(n, seed=seed, conditions=conditions)
        if conditions:
            raise GanforgeError("conditions apply to tables; this GAN makes points or pictures")
        chunks = self.sample_chunks(n, seed, drs, dot_steps, jbt, labels, sharp_critic)
        return np.concatenate(list(chunks))

    def sample_chunks(
        self,
        n: int,
        seed: int | None = None,
        drs: bool | None = None,
        dot_steps: int | None = None,
        jbt: float | None = None,
        labels: int | Sequence[int] | np.ndarray | None = None,
        sharp_critic: bool | None = None,
    ) -> Iterator[np.ndarray]:
        """The samples of :meth:`sample`, a chunk at a time (all at once with DRS), so that
        a consumer never holds the network outputs of all ``n`` at once."""
        if not hasattr(self, "trainer_"):
            raise GanforgeError("this GAN is not fitted; call fit() or GAN.load() first")
        if n < 1:
            raise GanforgeError(f"number of samples must be at least 1, got {n}")
        cfg = self.config_
        seed = cfg.seed if seed is None else seed
        use_drs = cfg.drs if drs is None else drs
        # the run's DOT gives way to rejection sampling asked for here
        dot = (0 if drs else cfg.dot_steps) if dot_steps is None else dot_steps
        if dot < 0:
            raise GanforgeError(f"dot_steps must be 0 or more, got {dot}")
        if (use_drs or dot) and cfg.pack > 1:
            raise GanforgeError(
                "rejection sampling and DOT need one logit per sample; use them with pack 1"
            )
        if use_drs and dot:
            raise GanforgeError("choose one of rejection sampling (drs) and DOT (dot_steps)")
        share = cfg.jbt if jbt is None else jbt
        if not 0 <= share < 1:
            raise GanforgeError(f"jbt must be in [0, 1), got {share}")
        classes = self._sample_classes(n, labels, seed)
        if classes is not None and (use_drs or share):
            raise GanforgeError(
                "rejection sampling (drs) and jbt do not take classes; use them with "
                "unconditional runs (dot_steps works with both)"
            )
        generate = self.trainer_.generate
        generator = self.trainer_.sampling_generator
        discriminator = self._sampling_critic(sharp_critic)
        device = self.trainer_.noise.device
        noise = Noise(cfg.latent_dim, cfg.noise, seed=seed, device=device)
        probes = torch.Generator(device).manual_seed(_seeds(seed)[1])

        def latents(k: int) -> Tensor:
            """``k`` latents, drawn past the generator's steepest ``share`` under JBT."""
            if not share:
                return noise(k)
            return truncate(generator, noise(draws_needed(k, share)), k, rng=probes)

        chunk = 65536 if not self.is_pictures else 1024
        with (
            evaluating(generator),
            evaluating(discriminator),
            frozen(generator),
            torch.no_grad(),
        ):
            if use_drs:
                x = rejection_sample(
                    lambda k: generator(latents(k)),
                    lambda x: realness(discriminator(x)),
                    n,
                    torch.Generator().manual_seed(_seeds(seed)[3]),
                    quantile=cfg.drs_quantile,
                )
                yield self._decode(x)
                return
            moved = self._transport(generator, discriminator, seed, dot) if dot else None
            for i in range(0, n, chunk):
                z = latents(min(chunk, n - i))
                y = None if classes is None else classes[i : i + len(z)]
                if moved is not None:
                    z = moved(z, y)
                yield self._decode(generate(generator, z, y))

    def _sampling_critic(self, sharp: bool | None) -> torch.nn.Module:
        """What DOT and DRS ask: the sharp critic when the run has one (or ``sharp`` asks
        for it), else the discriminator."""
        critic = getattr(self, "sharp_critic_", None)
        if sharp and critic is None:
            raise GanforgeError(
                "this run has no sharp critic; train it with --sharp-critic-steps 1000, "
                "or sample without --sharp-critic"
            )
        return critic if critic is not None and sharp is not False else self.trainer_.discriminator

    def _sample_classes(
        self, n: int, labels: int | Sequence[int] | np.ndarray | None, seed: int
    ) -> Tensor | None:
        """The classes of ``n`` samples of a conditional run: the given ones, or drawn with
        the data's class shares from ``seed``; ``None`` for an unconditional run."""
        noise = self.trainer_.noise
        if not self.trainer_.conditional:
            if labels is not None:
                raise GanforgeError("labels are for class-conditional runs (--conditional)")
            return None
        if labels is None:
            g = torch.Generator(noise.device).manual_seed(_seeds(seed)[0])
            return torch.multinomial(noise.class_shares, n, replacement=True, generator=g)
        y = np.broadcast_to(np.asarray(labels), (n,)) if np.ndim(labels) == 0 else labels
        y = np.array(y)
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise GanforgeError(f"labels must be one class or {n} integer classes")
        if y.min() < 0 or y.max() >= noise.num_classes:
            raise GanforgeError(
                f"labels must be classes 0 to {noise.num_classes - 1}, got {y.min()} to {y.max()}"
            )
        return torch.as_tensor(y, dtype=torch.long, device=noise.device)

    def _transport(
        self, generator: torch.nn.Module, discriminator: torch.nn.Module, seed: int, steps: int
    ) -> Callable[[Tensor, Tensor | None], Tensor]:
        """Latent DOT with ``steps`` steps, its ``k`` estimated on seeded random pairs; a
        conditional run moves each latent with its class held fixed."""
        cfg = self.config_
        generate = self.trainer_.generate

        def critic(y: Tensor | None) -> Callable[[Tensor], Tensor]:
            def judge(z: Tensor) -> Tensor:
                x = generate(generator, z, y)
                return realness(self.trainer_.judge(discriminator, x, y))

            return judge

        device = self.trainer_.noise.device
        pairs = Noise(cfg.latent_dim, cfg.noise, seed=_seeds(seed)[2], device=device)
        z1, z2 = pairs(N_PAIRS), pairs(N_PAIRS)
        y = self._sample_classes(N_PAIRS, None, _seeds(seed)[2])  # a pair shares its class
        k = effective_lipschitz(critic(y), z1, z2)
        bounds = (-1.0, 1.0) if cfg.noise == "uniform" else None

        def moved(z: Tensor, y: Tensor | None) -> Tensor:
            with frozen(generator), frozen(discriminator):
                return transport(critic(y), z, max(k, 1e-12), steps, bounds=bounds)

        return moved

    def _decode(self, x: Tensor) -> np.ndarray:
        """Network output → the edge format: uint8 pictures or float32 points in data units."""
        if self.is_pictures:
            return to_uint8(x.float().cpu())
        return (x.float().cpu() * self.scale_ + self.shift_).numpy().astype(np.float32)

    def interpolate(self, rows: int = 8, steps: int = 10, seed: int | None = None) -> np.ndarray:
        """A latent walk: ``rows`` pairs of random inputs, each joined in ``steps`` samples
        along the great circle (spherical interpolation), row after row; a conditional
        run keeps class ``r`` (modulo the number of classes) along row ``r``."""
        if not hasattr(self, "trainer_"):
            raise GanforgeError("this GAN is not fitted; call fit() or GAN.load() first")
        cfg = self.config_
        seed = cfg.seed if seed is None else seed
        noise = Noise(cfg.latent_dim, cfg.noise, seed=seed, device=self.trainer_.noise.device)
        a, b = noise(rows), noise(rows)
        t = torch.linspace(0, 1, steps, device=a.device).view(1, steps, 1)
        cos = torch.nn.functional.cosine_similarity(a, b).clamp(-1 + 1e-6, 1 - 1e-6)
        omega = torch.acos(cos).view(rows, 1, 1)
        z = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / (
            torch.sin(omega)
        )
        generator = self.trainer_.sampling_generator
        y = None
        if self.trainer_.conditional:  # row r keeps class r (mod the number of classes)
            rows_y = torch.arange(rows, device=z.device) % self.trainer_.noise.num_classes
            y = rows_y.repeat_interleave(steps)
        with evaluating(generator), torch.no_grad():
            return self._decode(self.trainer_.generate(generator, z.reshape(rows * steps, -1), y))

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Writes the model as a run directory that :meth:`load` and the CLI read."""
        if not hasattr(self, "trainer_") and not self.is_table:
            raise GanforgeError("this GAN is not fitted; call fit() before save()")
        run = RunDir(path)
        run.prepare(resume=False, overwrite=overwrite)
        if self.is_table:
            run.write_config(self.table_.info)
            run.save(self.table_.synth.step_, self.table_.state(), 1)
            return
        run.write_config(self._info())
        run.save(self.trainer_.num_steps, self._state(), self.config_.ckpt_keep)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto", checkpoint: str = "latest") -> GAN:
        """Rebuilds a fitted GAN from a run directory: its ``latest`` checkpoint, or the
        ``best`` one kept by ``--eval-every``."""
        run = RunDir(path)
        info = run.read_config()
        if (info.get("data") or {}).get("kind") == "table":
            gan = cls()
            gan.table_ = TableRun.load(path, checkpoint)
            gan.data_info_ = gan.table_.data_info_
            return gan
        state = run.checkpoint(checkpoint)
        saved = _saved_config(state["config"])
        gan = cls(**saved)
        gan.config_ = make_config(**saved)
        data = info["data"]
        data.setdefault("shape", [data["dim"]])
        data.setdefault("kind", "points")
        shape = tuple(data["shape"])
        gan.trainer_ = build_trainer(
            gan.config_, shape, resolve_device(device), class_shares=data.get("class_shares")
        )
        gan.trainer_.load_state_dict(state["trainer"])
        gan.shift_, gan.scale_ = state.get("shift"), state.get("scale")
        gan.data_info_ = data
        gan.best_ = state.get("best")
        gan.dist_ = Dist()
        gan.sharp_critic_ = gan._load_sharp_critic(state)
        return gan
