"""Penalties on the discriminator, each added to its loss in the same backward pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganforge.losses import realness


def input_grad_sq_norm(logits: Tensor, inputs: Tensor) -> Tensor:
    """Per-sample squared norm ``‖∇ₓ D(x)‖²`` of the logits' gradient w.r.t. ``inputs``.

    ``inputs`` must require grad and ``logits`` must come from them. The graph is kept so
    that the penalty itself can be backpropagated into the discriminator's weights.
    """
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.square().flatten(1).sum(1)


def zero_centred_penalty(logits: Tensor, inputs: Tensor, gamma: float) -> Tensor:
    """``γ/2 · E‖∇ₓ D(x)‖²`` at ``inputs`` (which must require grad; ``logits`` from them)."""
    return 0.5 * gamma * input_grad_sq_norm(logits, inputs).mean()


def r1_penalty(real_logits: Tensor, real: Tensor, gamma: float) -> Tensor:
    """R1 (Mescheder et al. 2018): ``γ/2 · E‖∇D(x)‖²`` on real data."""
    return zero_centred_penalty(real_logits, real, gamma)


def r2_penalty(fake_logits: Tensor, fake: Tensor, gamma: float) -> Tensor:
    """R2 (Mescheder et al. 2018): ``γ/2 · E‖∇D(x)‖²`` on generated data ``x = G(z)``.

    R3GAN (Huang et al. 2024, "The GAN is dead; long live the GAN!") trains its relativistic
    pairing loss with R1 and R2 together, at the same γ.
    """
    return zero_centred_penalty(fake_logits, fake, gamma)


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``λ · E(‖∇D(x̂)‖ - 1)²``.

    ``x̂ = ε·x + (1 - ε)·G(z)`` with one ``ε ~ U[0, 1)`` per sample, and the norm per sample.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    mixed = torch.lerp(fake.detach(), real.detach(), eps).requires_grad_(True)
    logits = realness(discriminator(mixed))
    norm = input_grad_sq_norm(logits, mixed).add(1e-12).sqrt()
    return weight * (norm - 1).square().mean()


@torch.no_grad()
def clip_weights(module: nn.Module, clip_value: float) -> None:
    """Clamps every parameter to ``[-c, c]`` (WGAN, Arjovsky et al. 2017)."""
    for p in module.parameters():
        p.clamp_(-clip_value, clip_value)


def weight_l2(module: nn.Module, weight: float) -> Tensor:
    """The course's remedy of penalising the discriminator's weights: ``λ·Σ‖w‖²`` over its
    weight matrices and kernels (not its biases); 0 when ``weight`` is 0."""
    weights = [] if weight == 0 else [p for p in module.parameters() if p.dim() > 1]
    if not weights:
        return torch.zeros((), device=next(module.parameters()).device)
    return weight * torch.stack([w.square().sum() for w in weights]).sum()
