"""The mechanics around each network's update that the trainer shares between its two
phases: freezing the other network, eval mode, the gradient norm, the (scaled) optimizer
step, the optimizer state's memory layout, and the unrolled discriminator."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Holds ``module`` fixed while the other network trains.

    Its parameters stop requiring grad, so no gradient is computed for them and their
    ``.grad`` stays as it was; its buffers (BatchNorm statistics, spectral-norm vectors)
    are put back bitwise on exit, whatever its forward passes did to them.
    """
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    buffers = list(module.buffers())
    saved = [b.clone() for b in buffers]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(buffers, saved, strict=True):
                b.copy_(s)
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Puts ``module`` in eval mode, and back in the mode it had on exit."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def dcgan_adam(module: nn.Module) -> torch.optim.Optimizer:
    """The DCGAN paper's optimizer: Adam, lr 2e-4, betas (0.5, 0.999)."""
    return torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))


def detached_mean(t: Tensor) -> Tensor:
    """``t``'s mean as a detached fp32 scalar (a statistic, read later)."""
    return t.detach().float().mean()


def match_layout(optimizer: torch.optim.Optimizer) -> None:
    """Gives each per-parameter state tensor its parameter's memory layout (strides).

    Checkpoints store tensors contiguous; a channels-last parameter's moments must be
    channels-last again, or a fused update would pair elements in different orders.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """One optimizer step; with fp16, through the scaler (which skips overflowed steps)."""
    if scaler.is_enabled():
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def grad_norm(module: nn.Module, scaler: torch.amp.GradScaler) -> Tensor:
    """The L2 norm of all of ``module``'s gradients (unscaled under fp16), as a tensor."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float())
    return norm / scaler.get_scale() if scaler.is_enabled() else norm


def top_share(fake_logits: Tensor, share: float) -> Tensor:
    """Top-k training (Sinha et al. 2020): the ``share`` of ``fake_logits`` (at least one)
    that D rates most real."""
    n = fake_logits.shape[0]
    k = max(1, round(share * n))
    return fake_logits if k >= n else fake_logits.topk(k).values


@contextmanager
def unrolled(
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    steps: int,
    update: Callable[[], None],
) -> Iterator[None]:
    """The discriminator after ``steps`` more calls of ``update`` (unrolled GAN, first
    order), put back bitwise on exit: weights, buffers, gradients, optimizer state."""
    if not steps:
        yield
        return
    saved = (
        copy.deepcopy(discriminator.state_dict()),
        copy.deepcopy(optimizer.state_dict()),
        [None if p.grad is None else p.grad.clone() for p in discriminator.parameters()],
        scaler.state_dict(),
    )
    try:
        for _ in range(steps):
            update()
        yield
    finally:
        state, opt_state, grads, scaler_state = saved
        discriminator.load_state_dict(state)
        optimizer.load_state_dict(opt_state)
        match_layout(optimizer)
        for p, g in zip(discriminator.parameters(), grads, strict=True):
            p.grad = g
        scaler.load_state_dict(scaler_state)
