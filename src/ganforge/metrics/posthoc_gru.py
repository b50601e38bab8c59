"""The post-hoc GRU networks behind TimeGAN's discriminative and predictive scores (see
:mod:`ganforge.metrics.sequences` for the protocol), and the pieces of their training loop:
seeded initialisation, batches, Adam and chunked evaluation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganforge.metrics.sequence_checks import Device, positive

_EVAL_CHUNK = 4096  # sequences per evaluation pass: bounds memory on large sets


def hidden_units(hidden: int | None, d: int) -> int:
    # int(d / 2) as in the reference, but at least one unit so that d = 1 works
    return max(1, d // 2) if hidden is None else positive(hidden, "hidden")


class PostHocGRU(nn.Module):
    """One GRU layer and a linear read-out: of the last state, or of every step."""

    def __init__(self, features: int, hidden: int, every_step: bool) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)
        self.every_step = every_step
        # Keras's defaults, as in the reference's classifier (see metrics/sequences.py)
        nn.init.xavier_uniform_(self.gru.weight_ih_l0)
        nn.init.orthogonal_(self.gru.weight_hh_l0)
        nn.init.zeros_(self.gru.bias_ih_l0)
        nn.init.zeros_(self.gru.bias_hh_l0)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, last = self.gru(x)
        return self.out(steps if self.every_step else last[0])


def network(
    features: int, hidden: int, every_step: bool, generator: torch.Generator, device: Device
) -> PostHocGRU:
    """A freshly initialised :class:`PostHocGRU`, seeded from ``generator``.

    Module construction draws from the global RNG; forking it keeps the caller's stream
    untouched while the draws still follow the seed.
    """
    init_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        net = PostHocGRU(features, hidden, every_step)
    return net.to(device)


def batch(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``min(size, n)`` distinct indices below ``n``, as the reference's batches are drawn."""
    return torch.randperm(n, generator=generator)[:size]


def tensor(x: np.ndarray, device: Device) -> torch.Tensor:
    # a contiguous copy: torch cannot wrap arrays with negative strides (reversed views)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)


def adam(net: nn.Module) -> torch.optim.Adam:
    # TensorFlow 1's AdamOptimizer() defaults, which are also PyTorch's
    return torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)


def outputs(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The network's outputs on all of ``x``, in chunks, without building a graph."""
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i : i + _EVAL_CHUNK]) for i in range(0, len(x), _EVAL_CHUNK)])


__all__ = ["PostHocGRU", "adam", "batch", "hidden_units", "network", "outputs", "tensor"]
