"""The trainer of points, pictures and sequences: the built-in networks (or the user's own), noise,
optimizers, EMA and the :class:`~ganforge.trainer.Trainer`, all from a
:class:`~ganforge.config.TrainConfig`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganforge.ada import AdaptiveAugment
from ganforge.augment import DiffAugment
from ganforge.config import TrainConfig
from ganforge.distributed import Dist, ddp, rank_seed, sync_batchnorm
from ganforge.ema import EMA
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ganforge.noise import Noise
from ganforge.resnet_nets import ResNetDiscriminator, ResNetGenerator
from ganforge.seeds import seeds
from ganforge.sequence_nets import sequence_networks
from ganforge.trainer import Trainer

Networks = tuple[nn.Module, nn.Module]
Optimizers = tuple[torch.optim.Optimizer | None, torch.optim.Optimizer | None]


def builtin_networks(
    cfg: TrainConfig, shape: tuple[int, ...], num_classes: int = 0
) -> tuple[nn.Module, nn.Module, bool]:
    """The generator and discriminator for data of ``shape`` (class-conditional with
    ``num_classes`` > 0), and whether D is convolutional."""
    if cfg.net in ("seq", "rcgan") or (cfg.net == "auto" and len(shape) == 2):
        if len(shape) != 2 or num_classes:
            raise GanforgeError(
                f"--net {cfg.net} needs sequences (N, T, d) without classes, but the data have "
                f"shape {shape}; choose --net auto"
            )
        generator, discriminator = sequence_networks(
            "rcgan" if cfg.net == "rcgan" else "seq", cfg.latent_dim, (shape[0], shape[1]),
            cfg.g_width, cfg.g_depth, cfg.d_width, cfg.d_depth,
        )  # fmt: skip
        return generator, discriminator, False
    if cfg.net == "resnet":
        return (*resnet_networks(cfg, shape, num_classes), True)
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
        generator = nn.Sequential(generator, nn.Unflatten(1, shape))
    return generator, discriminator, False


def resnet_networks(cfg: TrainConfig, shape: tuple[int, ...], num_classes: int = 0) -> Networks:
    """The R3GAN-style residual pair of ``--net resnet`` for pictures ``(C, H, W)``; their
    cardinality and expansion are the constructors' defaults."""
    if len(shape) != 3:
        raise GanforgeError(
            f"--net resnet needs pictures (C, H, W), but the data have shape {shape}; "
            "choose --net auto"
        )
    if cfg.d_norm != "none" or cfg.spectral_norm:
        raise GanforgeError(
            "the resnet nets have no normalisation layers (their residual blocks start at zero):"
            " drop --d-norm and --spectral-norm, or choose --net dcgan"
        )
    generator = ResNetGenerator(
        cfg.latent_dim, shape, cfg.g_width, cfg.g_depth, num_classes=num_classes
    )
    discriminator = ResNetDiscriminator(
        shape, cfg.d_width, cfg.d_depth, pack=cfg.pack, num_classes=num_classes
    )
    return generator, discriminator


def _has_batch_statistics(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def build_trainer(
    cfg: TrainConfig,
    shape: tuple[int, ...],
    device: torch.device,
    job: Dist | None = None,
    class_shares: list[float] | None = None,
    networks: Networks | None = None,
    optimizers: Optimizers = (None, None),
) -> Trainer:
    """Networks, noise, optimizers, EMA and trainer for data of ``shape`` (one sample).

    ``networks``: the user's own pair, used as given (initialised by the user); else the
    built-in ones for ``cfg.net``, initialised from the run's seed. ``optimizers``: the
    user's own, else Adam with the configured rates. In a ``torchrun`` job (``job``), the
    noise and the trainer's own draws are seeded per rank and both networks train through
    DistributedDataParallel. Under ``cfg.conditional`` the networks take classes, drawn for
    generated samples with ``class_shares`` (the data's).
    """
    job = job or Dist()
    if cfg.conditional and not class_shares:
        raise GanforgeError("--conditional needs the data's classes; drop --conditional")
    shares = class_shares if cfg.conditional else None
    net_seed, noise_seed, _, trainer_seed = seeds(cfg.seed)
    if networks is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(net_seed)  # weight initialisation, the same on every rank
            num_classes = len(shares) if shares else 0
            generator, discriminator, conv = builtin_networks(cfg, tuple(shape), num_classes)
        # the MLP discriminator has no batch statistics and is faster judging real and
        # generated batches in one call; a convolutional one (perhaps with BatchNorm) judges
        # them apart, keeping one graph in memory at a time
        joint = not conv
    else:
        generator, discriminator = networks
        conv = len(shape) == 3
        joint = not _has_batch_statistics(discriminator)
    if cfg.sync_bn:
        generator = sync_batchnorm(generator, device)
        discriminator = sync_batchnorm(discriminator, device)
    layout = torch.channels_last if conv and cfg.channels_last else torch.contiguous_format
    generator.to(device, memory_format=layout)
    discriminator.to(device, memory_format=layout)
    half_life = cfg.ema_half_life_kimg > 0 or cfg.ema_half_life_end_kimg > 0
    # with an EMA half-life the decay is set before every step (see kimg_schedules)
    ema = None
    if cfg.ema_decay > 0 or half_life:
        ema = EMA(generator, cfg.ema_decay, warmup=not half_life)
    if cfg.compile:
        generator.compile()
        # R1, R2 and the gradient penalty backpropagate through D's input gradient, a double
        # backward pass that compiled modules do not support: D then stays eager
        if cfg.r1_gamma == 0 and cfg.r2_gamma == 0 and LOSSES[cfg.loss].gp_weight == 0:
            discriminator.compile()

    def adam(module: nn.Module, lr: float) -> torch.optim.Adam:
        # fused: one kernel for all parameters (the same update, less per-tensor overhead)
        fused = device.type in ("cpu", "cuda")
        return torch.optim.Adam(module.parameters(), lr, (cfg.beta1, cfg.beta2), fused=fused)

    g_opt, d_opt = optimizers
    trainer = Trainer(
        generator,
        discriminator,
        noise=Noise(
            getattr(generator, "noise_dim", cfg.latent_dim),  # sequences: a code and per step
            cfg.noise,
            seed=rank_seed(noise_seed, job.rank),
            device=device,
            class_shares=shares,
        ),
        loss=cfg.loss,
        g_optimizer=g_opt or adam(generator, cfg.lr_g),
        d_optimizer=d_opt or adam(discriminator, cfg.lr_d),
        n_critic=cfg.n_critic,
        r1_gamma=cfg.r1_gamma,
        r2_gamma=cfg.r2_gamma,
        r1_every=cfg.r1_every,
        ema=ema,
        joint_forward=joint,
        reuse_fake=cfg.reuse_fake,
        augment=_augment(cfg.augment, device),
        instance_noise=cfg.instance_noise,
        g_topk=cfg.g_topk,
        precision=cfg.precision,
        on_nonfinite=cfg.on_nonfinite,
        label_smoothing=cfg.label_smoothing,
        d_l2=cfg.d_l2,
        unrolled_steps=cfg.unrolled_steps,
        seed=rank_seed(trainer_seed, job.rank),
        cuda_graph=cfg.cuda_graph,
    )
    if job.active:
        trainer.wrap(lambda module: ddp(module, device))
    return trainer


def _augment(policy: str, device: torch.device) -> DiffAugment | AdaptiveAugment | None:
    """``--augment``: off (empty), ADA (``ada``), or a DiffAugment policy."""
    if not policy:
        return None
    if policy.strip().lower() == "ada":
        return AdaptiveAugment(device=device)
    return DiffAugment(policy)
