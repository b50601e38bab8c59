"""Schedules as pure functions of the step or of the images seen, so that a resumed run
sets every scheduled value again from its step alone: learning-rate factors by step, and
R3GAN's ramps (learning rates, Adam's beta2, the penalty weights, the EMA half-life) by
images seen."""

from __future__ import annotations

import math
from typing import Any

import torch

SCHEDULES = ("constant", "linear", "cosine")
RAMPS = ("cosine", "linear")


def lr_factor(step: int, total: int, kind: str = "constant", start: float = 0.0) -> float:
    """The factor for update ``step`` (1-based) of ``total``.

    The rate stays at its base value until ``start · total`` steps, then decays to 0 at
    ``total``, linearly or along a half cosine. Being a function of the step alone, it
    needs no state of its own to resume exactly.
    """
    if kind == "constant":
        return 1.0
    begin = start * total
    if step <= begin:
        return 1.0
    t = min(1.0, (step - begin) / max(1.0, total - begin))  # progress of the decay, 0..1
    if kind == "linear":
        return 1.0 - t
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {kind!r}; choose one of: {', '.join(SCHEDULES)}")


def linear_decay(step: int, total: int, fraction: float) -> float:
    """Falls linearly from 1 at step 1 to 0 after ``fraction · total`` steps, then stays 0."""
    return max(0.0, 1.0 - (step - 1) / max(1.0, fraction * total))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Sets the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def set_beta2(optimizer: torch.optim.Optimizer, beta2: float) -> None:
    """Sets Adam's beta2 of every parameter group, keeping its beta1."""
    for group in optimizer.param_groups:
        group["betas"] = (group["betas"][0], beta2)


def ramp(
    images_seen: float, total_images: float, start: float, end: float, kind: str = "cosine"
) -> float:
    """The value of a ramp from ``start`` to ``end`` after ``images_seen`` images.

    With progress ``t = images_seen / total_images`` (0..1), the value is
    ``start + (end - start)·w``, ``w = (1 - cos(πt))/2`` (cosine, R3GAN's) or ``w = t``
    (linear); from ``total_images`` on it is ``end`` exactly.
    """
    if kind not in RAMPS:
        raise ValueError(f"unknown ramp {kind!r}; choose one of: {', '.join(RAMPS)}")
    t = max(0.0, images_seen / total_images)
    if t >= 1.0:
        return end
    w = t if kind == "linear" else 0.5 * (1.0 - math.cos(math.pi * t))
    return start + (end - start) * w


def half_life_decay(batch: int, half_life_kimg: float) -> float:
    """The EMA decay per update of ``batch`` images for a half-life of ``half_life_kimg``
    thousand images: ``0.5 ** (batch / (1000·half_life_kimg))`` (StyleGAN's and R3GAN's
    definition: after that many images an old weight counts half); 0 for a half-life of 0."""
    if half_life_kimg <= 0:
        return 0.0
    return 0.5 ** (batch / (1000.0 * half_life_kimg))


def kimg_schedules(cfg: Any, step: int, world: int = 1) -> dict[str, float]:
    """The values that ``cfg``'s ramps by images seen give update ``step`` (1-based), with
    ``step × batch_size × world`` images seen: ``lr_g``/``lr_d`` (``--lr-end``), ``beta2``
    (``--beta2-end``), ``r1_gamma``/``r2_gamma`` (``--gamma-end``) and ``ema_decay`` (the
    EMA half-life); only those whose schedule is on (empty when none is)."""
    batch = cfg.batch_size * world  # images per update over all processes
    total = cfg.schedule_kimg * 1000 or cfg.steps * batch
    seen, kind = step * batch, cfg.schedule_ramp
    values: dict[str, float] = {}
    if cfg.lr_end != 1:
        fraction = ramp(seen, total, 1.0, cfg.lr_end, kind)
        values.update(lr_g=cfg.lr_g * fraction, lr_d=cfg.lr_d * fraction)
    if cfg.beta2_end:
        values["beta2"] = ramp(seen, total, cfg.beta2, cfg.beta2_end, kind)
    if cfg.gamma_end != 1:
        fraction = ramp(seen, total, 1.0, cfg.gamma_end, kind)
        values["r1_gamma"] = cfg.r1_gamma * fraction
        if cfg.r2_gamma:
            values["r2_gamma"] = cfg.r2_gamma * fraction
    if cfg.ema_half_life_kimg or cfg.ema_half_life_end_kimg:
        start = cfg.ema_half_life_kimg
        half_life = ramp(seen, total, start, cfg.ema_half_life_end_kimg or start, kind)
        values["ema_decay"] = half_life_decay(batch, half_life)
    return values


def apply_ramps(trainer: Any, ramps: dict[str, float]) -> None:
    """Sets a trainer's β2, penalty weights and EMA decay to this step's ramps (those of
    :func:`kimg_schedules` that are on; the learning rates are set with the others)."""
    if "beta2" in ramps:
        set_beta2(trainer.g_optimizer, ramps["beta2"])
        set_beta2(trainer.d_optimizer, ramps["beta2"])
    if "r1_gamma" in ramps:
        trainer.r1_gamma = ramps["r1_gamma"]
        trainer.r2_gamma = ramps.get("r2_gamma", trainer.r2_gamma)
    if "ema_decay" in ramps:
        trainer.ema.decay = ramps["ema_decay"]
