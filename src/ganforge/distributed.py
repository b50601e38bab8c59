"""Training on several processes and machines under ``torchrun``, with PyTorch's own
``DistributedDataParallel``.

``torchrun`` names the job in each process's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); :func:`setup` joins it, with the ``gloo``
backend on the CPU and ``nccl`` on CUDA. Every rank sees a disjoint share of each global
batch (:class:`Shard`), draws its own noise, and averages gradients through DDP; only rank 0
writes.
"""

from __future__ import annotations

import atexit
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ganforge.errors import GanforgeError


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: one process of one (``world = 1``) when alone."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def active(self) -> bool:
        """Whether there are other processes to work with."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Whether this process logs, draws progress and writes files (rank 0)."""
        return self.rank == 0


def launched() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> Dist:
    """The job this process has joined (a lone process when it has joined none)."""
    if not dist.is_available() or not dist.is_initialized():
        return Dist()
    return Dist(
        dist.get_rank(),
        dist.get_world_size(),
        int(os.environ.get("LOCAL_RANK", "0")),
        dist.get_backend(),
    )


def setup(device: torch.device, timeout_s: float = 600.0) -> tuple[Dist, torch.device]:
    """Joins the ``torchrun`` job of the environment, if any, and picks this rank's device.

    On CUDA each process takes the GPU of its local rank and the ``nccl`` backend; on the
    CPU the backend is ``gloo``. A collective that waits longer than ``timeout_s`` (a peer
    that hangs) fails the job instead of hanging it. Calling it again returns the same job.
    """
    if not launched():
        return Dist(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise GanforgeError(
                f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                "start at most one process per GPU with --nproc_per_node"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo",
            timeout=timedelta(seconds=timeout_s),
        )
        atexit.register(_leave)
    return current(), device


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own random streams: ``seed`` itself on rank 0 (so that one
    process trains as it always did), independent ones on the others."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`.

    Rank 0's weights and buffers are broadcast to all ranks here; gradients are averaged
    across ranks in every backward pass through the wrapper.
    """
    # DDP lays out its gradient buckets by each parameter's strides; a (1, n) weight's
    # gradient may come with other (equally valid) strides, for which it warns at every
    # step. Only a process that trains under torchrun gets here, so the filter stays there.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with its BatchNorm layers computing statistics over all ranks (CUDA only)."""
    if device.type != "cuda":
        raise GanforgeError(
            "--sync-bn needs CUDA (PyTorch's SyncBatchNorm does not run on the CPU); "
            "drop --sync-bn or train with --device cuda"
        )
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def _reduce(values: list[float], op: dist.ReduceOp, job: Dist) -> list[float]:
    device = torch.device("cuda", torch.cuda.current_device()) if job.backend == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op)
    return t.tolist()


def mean_over_ranks(record: dict[str, float], job: Dist) -> dict[str, float]:
    """Each value averaged over all ranks (the same keys on every rank)."""
    if not job.active or not record:
        return record
    keys = sorted(record)
    sums = _reduce([float(record[k]) for k in keys], dist.ReduceOp.SUM, job)
    return {k: s / job.world for k, s in zip(keys, sums, strict=True)}


def any_rank(flag: bool, job: Dist) -> bool:
    """Whether ``flag`` is set on at least one rank (so that all ranks decide alike)."""
    if not job.active:
        return flag
    return bool(_reduce([float(flag)], dist.ReduceOp.MAX, job)[0])


def gather(obj: Any, job: Dist) -> list[Any]:
    """``obj`` of every rank, in rank order (in memory only; nothing is read from disk)."""
    if not job.active:
        return [obj]
    out: list[Any] = [None] * job.world
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, job: Dist) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not job.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(job: Dist) -> None:
    """Waits until every rank gets here."""
    if job.active:
        dist.barrier()


def broadcast_buffers(module: nn.Module, job: Dist) -> None:
    """Gives every rank rank 0's buffers of ``module`` (BatchNorm statistics)."""
    if job.active:
        for b in module.buffers():
            dist.broadcast(b, src=0)


class Shard:
    """A data source that gives this rank its share of each global batch.

    All ranks hold the same seeded source, so they draw the same global batch of
    ``batch_size × world`` samples (the same per-epoch shuffle); rank ``r`` keeps its
    ``r``-th slice. Two ranks with batch ``b`` therefore see exactly the data one process
    with batch ``2b`` would see. Everything else is the wrapped source's.
    """

    def __init__(self, source: Any, job: Dist) -> None:
        self.source, self.job = source, job

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def __len__(self) -> int:
        return len(self.source)

    def check_batch_size(self, batch_size: int) -> None:
        """Raises when the global batch would not fit in the data."""
        try:
            self.source.check_batch_size(batch_size * self.job.world)
        except GanforgeError:
            raise GanforgeError(
                f"batch size {batch_size} per process × {self.job.world} processes is larger "
                f"than the data ({len(self.source)} samples); choose a smaller --batch-size"
            ) from None

    def batch(self, batch_size: int) -> Tensor:
        """This rank's ``batch_size`` samples of the next global batch."""
        start = self.job.rank * batch_size
        return self.source.batch(batch_size * self.job.world)[start : start + batch_size]

    def labelled_batch(self, batch_size: int) -> tuple[Tensor, Tensor | None]:
        """:meth:`batch` with the samples' classes (``None`` when the data have none)."""
        start = self.job.rank * batch_size
        x, y = self.source.labelled_batch(batch_size * self.job.world)
        mine = slice(start, start + batch_size)
        return x[mine], None if y is None else y[mine]


__all__ = [
    "Dist",
    "Shard",
    "any_rank",
    "barrier",
    "broadcast",
    "broadcast_buffers",
    "current",
    "ddp",
    "gather",
    "launched",
    "mean_over_ranks",
    "rank_seed",
    "setup",
    "sync_batchnorm",
]
