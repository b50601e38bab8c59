"""The training step as CUDA graphs (``Trainer(cuda_graph=True)``, ``--cuda-graph``).

A captured step is replayed with one launch instead of hundreds, which is what bounds a
small or medium GAN on a GPU. The step is captured as the eager code runs it, in the
trainer's *device mode*: each update's statistics stay on the device, its finite check is
a device flag, and the fused Adam kernel drops a non-finite update through that flag
(``found_inf``), so nothing inside the graph reads the device from the host. After each
replay, the statistics and flags are read once, and the host does what the eager step
would have done with them: it counts updates and skips, or raises
:class:`~ganforge.errors.NonFiniteError`. Under ``on_nonfinite="stop"`` every update after
a non-finite one is dropped too (the flags are chained), so the weights, the optimizer
state and the EMA stop exactly where the eager step would have raised.

As PyTorch's documentation describes, the first steps run eagerly on a side stream (they
are real training steps), then the step is captured with static input buffers. Each
setting that the graph bakes in keys a graph of its own: the batch shapes, which
discriminator updates apply the lazy R1 and R2 penalties, and the optimizers'
hyperparameters (a learning-rate change captures again). The EMA update is a small graph
of its own, with its weight in a device tensor. Loading a checkpoint drops the graphs (the
optimizer state is new memory); they are captured again.

Where the step cannot be captured (not CUDA, fp16's gradient scaler, distributed
training, classes, augmentation, instance noise, weight clipping, unrolled steps, more
than one generator update, optimizers other than fused Adam, or a capture that fails),
the step runs eagerly, with a one-line note on the ``ganforge`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import NonFiniteError

# The trainer imports this module, so this one names it only in words: a ``Trainer``.
Trainer = Any

log = logging.getLogger("ganforge")

WARMUP = 3  # eager steps on a side stream before the first capture
MAX_GRAPHS = 4  # distinct captures before the step stays eager (e.g. a decaying lr)


def obstacle(trainer: Trainer) -> str | None:
    """Why ``trainer``'s step cannot be captured as a CUDA graph, or None."""
    if trainer.noise.device.type != "cuda" or not torch.cuda.is_available():
        return f"the device is {trainer.noise.device.type}, not CUDA"
    checks = (
        (trainer.precision == "fp16", "fp16's gradient scaler decides on the host"),
        (trainer._wrapped is not None, "distributed (wrapped) networks are not captured"),
        (trainer.conditional, "class-conditional training is not captured"),
        (trainer.augment is not None, "augmentation is not captured"),
        (trainer.instance_noise > 0, "instance noise is not captured"),
        (trainer.loss.clip_value is not None, "weight clipping is not captured"),
        (trainer.unrolled_steps > 0, "unrolled steps are not captured"),
        (trainer.g_steps != 1, "more than one generator update per step is not captured"),
    )
    for hit, why in checks:
        if hit:
            return why
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
        fused = all(group.get("fused") for group in optimizer.param_groups)
        if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW) or not fused:
            return "both optimizers must be Adam or AdamW with fused=True"
    return None


class StepGraphs:
    """The captured steps of one trainer, and the eager fallback; see the module's text."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.off = obstacle(trainer)  # why the step runs eagerly, or None
        if self.off:
            log.warning("cuda_graph: %s; the step runs eagerly", self.off)
        self.reset()

    def reset(self) -> None:
        """Drops the graphs (after loading a checkpoint): warm-up and capture again."""
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, list[Tensor], list, Tensor]] = {}
        self.ema_graph: torch.cuda.CUDAGraph | None = None
        self.warmup = WARMUP
        self.noted: set[str] = set()

    def _eager(self, real: Tensor | Sequence[Tensor], labels, why: str | None) -> dict:
        if why and why not in self.noted:
            self.noted.add(why)
            log.warning("cuda_graph: %s; this step runs eagerly", why)
        return self.trainer._step(real, labels)

    def step(self, real: Tensor | Sequence[Tensor], labels=None) -> dict[str, float]:
        """One training step: replayed from a graph where possible, else eager."""
        tr = self.trainer
        if self.off or labels is not None:
            return tr._step(real, labels)
        batches = [real] * tr.n_critic if isinstance(real, Tensor) else list(real)
        if self.warmup > 0:  # real steps, on a side stream, as capture wants
            self.warmup -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                stats = tr._step(real, labels)
            torch.cuda.current_stream().wait_stream(side)
            return stats
        key = self._key(batches)
        if key not in self.graphs:
            self.off = obstacle(tr)  # again: e.g. wrap() for DDP comes after the trainer
            if self.off:
                log.warning("cuda_graph: %s; the step runs eagerly", self.off)
                return tr._step(real, labels)
            if len(self.graphs) >= MAX_GRAPHS:
                return self._eager(real, labels, "too many distinct steps to capture")
            try:
                self.graphs[key] = self._capture(batches)
            except Exception as e:  # any capture failure leaves the eager step intact
                self.off = f"capture failed ({str(e).splitlines()[0] if str(e) else e!r})"
                log.warning("cuda_graph: %s; the step runs eagerly", self.off)
                return tr._step(real, labels)
        graph, static, records, out = self.graphs[key]
        for buffer, batch in zip(static, batches, strict=True):
            buffer.copy_(batch)
        graph.replay()
        return self.account(records, out.tolist())

    def _key(self, batches: list[Tensor]) -> tuple:
        """What a graph bakes in: batch layouts, the lazy R1/R2 pattern, hyperparameters
        (the penalty weights among them, which --gamma-end ramps)."""
        tr = self.trainer
        r1 = tuple(
            (tr.r1_gamma > 0 or tr.r2_gamma > 0) and (tr.num_d_updates + i) % tr.r1_every == 0
            for i in range(tr.n_critic)
        )
        hyper = tuple(
            (g["lr"], tuple(g["betas"]), g["eps"], g["weight_decay"])
            for opt in (tr.g_optimizer, tr.d_optimizer)
            for g in opt.param_groups
        )
        layouts = tuple((tuple(b.shape), b.stride(), b.dtype) for b in batches)
        return layouts, r1, hyper, tr.g_topk, tr.r1_gamma, tr.r2_gamma

    def _capture(self, batches: list[Tensor]) -> tuple:
        """Captures one step on static copies of ``batches``."""
        static = [torch.empty_like(b).copy_(b) for b in batches]
        graph = torch.cuda.CUDAGraph()
        for generator in (self.trainer.noise.generator, self.trainer.rng):
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            records, out = self.record(static)
        if self.trainer.ema is not None and self.ema_graph is None:
            self.ema_graph = self._capture_ema()
        return graph, static, records, out

    def record(self, batches: list[Tensor]) -> tuple[list, Tensor]:
        """Runs one step in device mode (no read, no EMA update, which has a graph of its
        own): each update's name, statistics' names and number of losses, and one tensor
        of all statistics followed by each update's finite flag. The host's counters are
        put back afterwards (under capture, no update happened yet); :meth:`account`
        advances them from what the step read."""
        tr = self.trainer
        counters, ema = (tr.num_d_updates, tr.num_steps, tr.num_skipped), tr.ema
        tr._records, tr._bad, tr.ema = [], None, None
        try:
            tr._step(batches, None)
            records = tr._records
            out = torch.cat([r[3] for r in records] + [torch.stack([r[4] for r in records])])
        finally:
            tr._records, tr._bad, tr._found_inf, tr.ema = None, None, None, ema
            tr.num_d_updates, tr.num_steps, tr.num_skipped = counters
        return [r[:3] for r in records], out

    def _capture_ema(self) -> torch.cuda.CUDAGraph:
        """The EMA update as a graph whose weight (the ramped-up decay) is a device
        tensor set before each replay."""
        ema, generator = self.trainer.ema, self.trainer.generator
        self.ema_weight = torch.zeros((), device=self.trainer.noise.device)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad():
            for mine, theirs in zip(ema.module.parameters(), generator.parameters(), strict=True):
                mine.lerp_(theirs, self.ema_weight)
            mine_b, theirs_b = list(ema.module.buffers()), list(generator.buffers())
            if mine_b:
                torch._foreach_copy_(mine_b, theirs_b)
        return graph

    def account(self, records: list, floats: list[float]) -> dict[str, float]:
        """What the eager step does with each update's statistics, from one read: counts,
        skips, the error that stops, the EMA update and the averaged statistics."""
        tr = self.trainer
        oks = floats[-len(records) :]
        d_stats, g_stats, at = [], {}, 0
        for (network, names, num_losses), ok in zip(records, oks, strict=True):
            values, at = floats[at : at + len(names)], at + len(names)
            read = dict(zip(names, values, strict=True))
            norm = names[num_losses]
            read[norm] = read.pop(norm)  # last, as in the eager step
            if not ok:
                if tr.on_nonfinite == "stop":
                    raise NonFiniteError(
                        network, tr.num_steps + 1, {k: read[k] for k in names[:num_losses]}
                    )
                tr.num_skipped += 1
            if network == "discriminator":
                d_stats.append(read)
                tr.num_d_updates += 1
            else:
                g_stats = read
        if tr.ema is not None and self.ema_graph is None:  # a step recorded, not captured
            tr.ema.update(tr.generator)
        elif tr.ema is not None:
            self.ema_weight.fill_(1.0 - tr.ema.current_decay())
            self.ema_graph.replay()
            tr.ema.num_updates += 1
        tr.num_steps += 1
        stats = {k: sum(s[k] for s in d_stats) / len(d_stats) for k in d_stats[0]}
        stats.update({k: v for k, v in g_stats.items() if k.startswith("g_")})
        return stats
