"""Networks for sequences ``(N, T, d)`` in ``[0, 1]`` (min-max scaled per feature).

Two pairs:

- ``seq`` (the default): a recurrent generator driven by one code per sequence (what stays
  fixed along a series: its level, frequency, phase) and fresh noise per step (what does
  not), and a discriminator of dilated temporal convolutions over the values and their
  first differences, read out over the whole window so that it sees where in time a pattern
  lies as well as how the series moves from step to step.
- ``rcgan``: the RCGAN-style baseline (Esteban et al. 2017): a GRU generator fed noise per
  step and a GRU discriminator whose per-step logits are averaged.

A generator's input is flat noise of ``noise_dim`` numbers, so that the trainer's noise,
sampling and latent tools treat sequences as they treat every other kind of data.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError


def _check_sizes(seq_len: int, features: int, width: int, depth: int) -> None:
    if min(seq_len, features, width, depth) < 1 or seq_len < 2:
        raise GanforgeError(
            f"sequence nets need T ≥ 2 and positive sizes: T {seq_len}, d {features}, "
            f"width {width}, depth {depth}"
        )


class SequenceGenerator(nn.Module):
    """Noise ``(N, (T + 1) · k)`` → sequences ``(N, T, d)`` in ``[0, 1]``.

    The first ``k`` numbers are the sequence's code: it sets the GRU's initial state and is
    fed at every step beside that step's own ``k`` numbers of noise.

    Attributes:
        noise_dim: the size of the flat noise, ``(T + 1) · k``.
    """

    def __init__(
        self, step_noise: int, seq_len: int, features: int, width: int = 64, depth: int = 2
    ) -> None:
        super().__init__()
        _check_sizes(seq_len, features, width, depth)
        self.k, self.seq_len, self.depth, self.width = step_noise, seq_len, depth, width
        self.noise_dim = (seq_len + 1) * step_noise
        self.start = nn.Linear(step_noise, depth * width)
        self.gru = nn.GRU(2 * step_noise, width, depth, batch_first=True)
        self.out = nn.Linear(width, features)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, (T + 1) · k)`` → ``(N, T, d)``."""
        if z.shape[1] != self.noise_dim:
            raise GanforgeError(
                f"generator expects noise of size {self.noise_dim}, got {z.shape[1]}"
            )
        n, k, t = z.shape[0], self.k, self.seq_len
        code, steps = z[:, :k], z[:, k:].reshape(n, t, k)  # (N, k), (N, T, k)
        h0 = torch.tanh(self.start(code)).reshape(n, self.depth, self.width)
        h0 = h0.transpose(0, 1).contiguous()  # (depth, N, width)
        inputs = torch.cat([steps, code[:, None, :].expand(n, t, k)], dim=2)  # (N, T, 2k)
        h, _ = self.gru(inputs, h0)  # (N, T, width)
        return torch.sigmoid(self.out(h))  # (N, T, d)


class SequenceDiscriminator(nn.Module):
    """Sequences ``(N, T, d)`` → logits ``(N,)``: dilated temporal convolutions over the
    values and their first differences, then a linear read-out over every step."""

    def __init__(self, seq_len: int, features: int, width: int = 64, depth: int = 3) -> None:
        super().__init__()
        _check_sizes(seq_len, features, width, depth)
        layers: list[nn.Module] = []
        channels = 2 * features
        for i in range(depth):
            dilation = 2**i  # receptive field 1 + 2 (2^depth - 1) steps
            layers += [
                nn.Conv1d(channels, width, 3, padding=dilation, dilation=dilation),
                nn.LeakyReLU(0.2),
            ]
            channels = width
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(width * seq_len, width), nn.LeakyReLU(0.2), nn.Linear(width, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(N, T, d)`` → ``(N,)``."""
        steps = torch.diff(x, dim=1, prepend=x[:, :1])  # (N, T, d), 0 at the first step
        h = self.convs(torch.cat([x, steps], dim=2).transpose(1, 2))  # (N, width, T)
        return self.head(h.flatten(1)).squeeze(-1)


class RecurrentGenerator(nn.Module):
    """RCGAN's generator: a GRU over noise ``(N, T · k)`` read per step → ``(N, T, d)``."""

    def __init__(
        self, step_noise: int, seq_len: int, features: int, width: int = 64, depth: int = 1
    ) -> None:
        super().__init__()
        _check_sizes(seq_len, features, width, depth)
        self.k, self.seq_len = step_noise, seq_len
        self.noise_dim = seq_len * step_noise
        self.gru = nn.GRU(step_noise, width, depth, batch_first=True)
        self.out = nn.Linear(width, features)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, T · k)`` → ``(N, T, d)``."""
        h, _ = self.gru(z.reshape(z.shape[0], self.seq_len, self.k))  # (N, T, width)
        return torch.sigmoid(self.out(h))


class RecurrentDiscriminator(nn.Module):
    """RCGAN's discriminator: a GRU with a logit per step, averaged over the steps."""

    def __init__(self, features: int, width: int = 64, depth: int = 1) -> None:
        super().__init__()
        self.gru = nn.GRU(features, width, depth, batch_first=True)
        self.out = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, T, d)`` → ``(N,)``."""
        h, _ = self.gru(x)  # (N, T, width)
        return self.out(h).squeeze(-1).mean(dim=1)


def sequence_networks(
    net: str,
    step_noise: int,
    shape: tuple[int, int],
    g_width: int,
    g_depth: int,
    d_width: int,
    d_depth: int,
) -> tuple[nn.Module, nn.Module]:
    """The ``net`` pair (``seq`` or ``rcgan``) for sequences of ``shape`` ``(T, d)``."""
    seq_len, features = shape
    if net == "rcgan":
        return (
            RecurrentGenerator(step_noise, seq_len, features, g_width, g_depth),
            RecurrentDiscriminator(features, d_width, d_depth),
        )
    return (
        SequenceGenerator(step_noise, seq_len, features, g_width, g_depth),
        SequenceDiscriminator(seq_len, features, d_width, d_depth),
    )
