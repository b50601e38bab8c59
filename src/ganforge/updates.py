"""The mechanics around each network's update that the trainer shares between its two
phases: freezing the other network, eval mode, the gradient norm, the (scaled) optimizer
step, the optimizer state's memory layout, and the unrolled discriminator."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

import torch
import torch.optim.optimizer as _optim_hooks
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


class Frozen:
    """:func:`frozen` for a network that is frozen again and again (once per step): its
    parameter and buffer lists are gathered once, and its buffers are saved into and put
    back from snapshots kept between uses, each with one ``_foreach_copy_``.

    The lists are those of the network when this object was made; :meth:`refresh` gathers
    them again (after the network's buffers were replaced, e.g. by ``.to(device)``).
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.refresh()

    def refresh(self) -> None:
        """Gathers the network's parameters and buffers again."""
        self.params = list(self.module.parameters())
        self.buffers = list(self.module.buffers())
        self.saved = [torch.empty_like(b) for b in self.buffers]
        self.flags: list[bool] | None = None  # the requires_grad flags while frozen

    def __enter__(self) -> None:
        if self.flags is not None:
            raise RuntimeError("a Frozen network cannot be frozen again while frozen")
        self.flags = [p.requires_grad for p in self.params]
        if self.buffers:
            torch._foreach_copy_(self.saved, self.buffers)
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        flags, self.flags = self.flags, None
        if self.buffers:
            with torch.no_grad():
                torch._foreach_copy_(self.buffers, self.saved)
        for p, flag in zip(self.params, flags, strict=True):
            p.requires_grad_(flag)


def clear_grads(params: Sequence[Tensor]) -> None:
    """``optimizer.zero_grad(set_to_none=True)`` over ``params``, without the optimizer's
    per-call overhead (profiler hooks, group loops)."""
    for p in params:
        p.grad = None


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


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    found_inf: Tensor | None = None,
) -> None:
    """One optimizer step; with fp16, through the scaler (which skips overflowed steps).

    ``found_inf``: a device flag that drops the step (see :func:`fused_adam_step`, which
    then must apply).
    """
    if scaler.is_enabled():
        scaler.step(optimizer)
        scaler.update()
    elif not fused_adam_step(optimizer, found_inf):
        if found_inf is not None:
            raise RuntimeError("a step dropped on the device needs a fused Adam or AdamW")
        optimizer.step()


def fused_adam_step(optimizer: torch.optim.Optimizer, found_inf: Tensor | None = None) -> bool:
    """``optimizer.step()`` of a fused Adam or AdamW as the very kernel calls it makes,
    without its per-call overhead (profiler scope, hook loops, grouping by device); False,
    with nothing done, where that does not apply: another optimizer, a step wrapped or
    hooked (e.g. by an LR scheduler), state not yet made (the first step), or parameters
    of several devices or types.

    ``found_inf``: a device flag (1.0: skip) with which the kernel leaves parameters and
    state as they were, as it does for a gradient scaler, so that a non-finite update is
    dropped without reading the flag on the host.
    """
    if (
        type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW)
        or "step" in vars(optimizer)
        or optimizer._optimizer_step_pre_hooks
        or optimizer._optimizer_step_post_hooks
        or _optim_hooks._global_optimizer_pre_hooks
        or _optim_hooks._global_optimizer_post_hooks
    ):
        return False
    calls = []
    for group in optimizer.param_groups:
        if not group["fused"] or group["differentiable"] or torch.is_tensor(group["lr"]):
            return False
        lists: tuple[list[Tensor], ...] = ([], [], [], [], [], [])
        params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = lists
        for p in group["params"]:
            if p.grad is None:
                continue
            state = optimizer.state.get(p)
            if not state:
                return False
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            steps.append(state["step"])
        if len({(p.device, p.dtype) for p in params}) > 1:
            return False
        calls.append((group, lists))
    with torch.no_grad():
        for group, (params, *rest, steps) in calls:
            if not params:
                continue
            torch._foreach_add_(steps, 1)
            kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
            beta1, beta2 = group["betas"]
            kernel(
                params, *rest, steps, amsgrad=group["amsgrad"], lr=group["lr"], beta1=beta1,
                beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                maximize=group["maximize"], grad_scale=None, found_inf=found_inf,
            )  # fmt: skip
            if found_inf is not None:  # a dropped step does not count, as in Adam's own
                torch._foreach_sub_(steps, [found_inf] * len(steps))
    return True


def grad_norm(params: nn.Module | Sequence[Tensor], scaler: torch.amp.GradScaler) -> Tensor:
    """The L2 norm of all gradients of a module's (or a list's) parameters, unscaled under
    fp16, as a tensor."""
    if isinstance(params, nn.Module):
        params = list(params.parameters())
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device)
    norms = torch.stack(torch._foreach_norm(grads))
    norm = torch.linalg.vector_norm(norms if norms.dtype == torch.float32 else norms.float())
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
