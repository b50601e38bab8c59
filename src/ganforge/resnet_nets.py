"""Residual networks for pictures after R3GAN (Huang, Gokaslan, Kuleshov, Tompkin, "The GAN
is dead; long live the GAN! A Modern GAN Baseline", NeurIPS 2024).

Both networks are stacks of stages, one per resolution from 4x4 to the picture's side,
each holding ``depth`` residual blocks: 1x1 convolution → leaky ReLU → grouped 3x3
convolution (``cardinality`` groups) → leaky ReLU → 1x1 convolution, added to the block's
input. There is no normalisation layer anywhere. The last convolution of every block starts
at zero, so that each block, and so each network's residual part, is the identity at
initialisation; the other weights are drawn with He's scale shrunk by ``L ** -1/4`` for
``L`` blocks in the network (R3GAN's fix-up style variance scaling: 3 layers a block give
the exponent ``-1 / (2 * 3 - 2)``). Resolution changes by 2 with the bilinear filter
that R3GAN builds from its ``[1, 2, 1]`` taps (convolved with ``[1, 1]``: ``[1, 3, 3, 1]``
a side), low-pass before dropping every other pixel and after inserting zeros; where the
channels change, a 1x1 convolution does it at the lower resolution.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.nets import (
    _check_classes,
    _check_image_shape,
    _check_pictures,
    _classes,
    _layout,
    _noise,
    _pack,
)

LEAK = 0.2  # leaky ReLU slope (R3GAN)
ACT_GAIN = math.sqrt(2 / (1 + LEAK**2))  # He's gain of a leaky ReLU
FILTER = (1, 2, 1)  # R3GAN's resampling taps
BASE, MIN_SIDE, MAX_SIDE = 4, 8, 1024
CARDINALITY, EXPANSION = 4, 2  # R3GAN: expansion 2; 16 channels a group at width 32
Layer = TypeVar("Layer", nn.Conv2d, nn.Linear)


def resnet_plan(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(channels, side, stages)`` of a square picture whose side is a power of two from
    8 to 1024: one stage at 4x4 and one per doubling, e.g. 32 → 4 stages."""
    channels, height, side = _check_image_shape(shape)
    if height != side or side < MIN_SIDE or side > MAX_SIDE or side & (side - 1):
        raise GanforgeError(
            f"--net resnet needs square pictures with a power-of-two side from {MIN_SIDE} to "
            f"{MAX_SIDE}, got {height}x{side}: use --resolution with a power of two such as 32"
        )
    return channels, side, side.bit_length() - BASE.bit_length() + 1


def stage_widths(width: int, stages: int) -> list[int]:
    """Channels of each stage from 4x4 up: ``width`` at full resolution, doubling with each
    halving of the resolution up to ``8 * width`` (as the DCGAN nets), e.g. 32 → 8w 4w 2w w."""
    return [min(8 * width, width * 2 ** (stages - 1 - i)) for i in range(stages)]


def _check_sizes(width: int, depth: int, cardinality: int, expansion: int) -> None:
    sizes = {"width": width, "depth": depth, "cardinality": cardinality, "expansion": expansion}
    for name, value in sizes.items():
        if value < 1:
            raise GanforgeError(f"{name} must be at least 1, got {value}: pass a positive size")
    if (width * expansion) % cardinality:  # every stage's channels are width * 2**k
        multiple = cardinality // math.gcd(cardinality, expansion)
        raise GanforgeError(
            f"the residual blocks split width {width} x expansion {expansion} channels into "
            f"cardinality {cardinality} groups: choose a width that is a multiple of {multiple}"
        )


@torch.no_grad()
def _he(layer: Layer, gain: float = 1.0) -> Layer:
    """Weights N(0, (gain / sqrt(fan_in))²), bias 0 (R3GAN's initialisation)."""
    fan_in = layer.weight[0].numel()  # input channels per group × kernel area
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def lowpass_kernel(taps: tuple[int, ...] = FILTER) -> Tensor:
    """The 2-D interpolation kernel of ``taps``: ``taps * [1, 1]`` per side, outer product,
    summing to 1; ``[1, 2, 1]`` → ``[1, 3, 3, 1]ᵀ[1, 3, 3, 1] / 64``, shape ``(4, 4)``."""
    side = np.convolve(taps, [1, 1]).astype(np.float64)
    return torch.tensor(np.outer(side, side) / side.sum() ** 2, dtype=torch.float32)


class Downsample(nn.Module):
    """Halves the resolution: low-pass (edge pixels repeated), then every other pixel.
    A constant picture stays that constant."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", lowpass_kernel()[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` → ``(N, C, H/2, W/2)``."""
        c = x.shape[1]
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")  # (N, C, H+2, W+2)
        return F.conv2d(x, self.kernel.to(x.dtype).expand(c, 1, 4, 4), stride=2, groups=c)


class Upsample(nn.Module):
    """Doubles the resolution: zeros between pixels, then the low-pass with gain 4; the same
    as bilinear interpolation (``align_corners=False``). The mean stays the same."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", 4 * lowpass_kernel()[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` → ``(N, C, 2H, 2W)``."""
        c = x.shape[1]
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")  # (N, C, H+2, W+2)
        kernel = self.kernel.to(x.dtype).expand(c, 1, 4, 4)
        return F.conv_transpose2d(x, kernel, stride=2, padding=3, groups=c)


class ResidualBlock(nn.Module):
    """``x + project(act(group(act(expand(x)))))``; ``project`` starts at zero, so the
    block starts as the identity. The biases of ``expand`` and ``group`` are R3GAN's
    biases in front of each activation."""

    def __init__(self, channels: int, cardinality: int, expansion: int, blocks: int) -> None:
        super().__init__()
        hidden = channels * expansion
        gain = ACT_GAIN * blocks ** (-1 / 4)  # fix-up scaling, 3 layers: -1 / (2*3 - 2)
        self.expand = _he(nn.Conv2d(channels, hidden, 1), gain)
        self.group = _he(nn.Conv2d(hidden, hidden, 3, padding=1, groups=cardinality), gain)
        self.project = nn.Conv2d(hidden, channels, 1, bias=False)
        nn.init.zeros_(self.project.weight)
        self.act = nn.LeakyReLU(LEAK, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` → ``(N, C, H, W)``."""
        h = self.act(self.expand(x))  # (N, C * expansion, H, W)
        h = self.act(self.group(h))
        return x + self.project(h)


def _blocks(
    channels: int, depth: int, cardinality: int, expansion: int, total: int
) -> list[nn.Module]:
    return [ResidualBlock(channels, cardinality, expansion, total) for _ in range(depth)]


def _conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    return _he(nn.Conv2d(c_in, c_out, 1, bias=False))


class ResNetGenerator(nn.Module):
    """Maps noise ``(N, latent_dim)`` to pictures ``(N, C, H, W)`` in ``[-1, 1]``.

    A learned 4x4 basis, one per channel, scaled channel-wise by a linear map of the noise
    (R3GAN's generative basis); then the stages of :func:`stage_widths`, each after the
    first entered by a 1x1 convolution (where the channels halve) and a 2x upsampling;
    a 1x1 convolution to the picture's ``C`` channels and ``tanh`` finish (R3GAN has no
    ``tanh``; here pictures are in ``[-1, 1]`` as for the DCGAN nets). With ``num_classes``
    > 0 a learned embedding of the class, of the noise's size, joins the noise before the
    linear map, and :meth:`forward` takes the classes.
    """

    def __init__(
        self,
        latent_dim: int,
        shape: tuple[int, int, int],
        width: int = 64,
        depth: int = 1,
        cardinality: int = CARDINALITY,
        expansion: int = EXPANSION,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        channels, side, stages = resnet_plan(shape)
        _check_sizes(width, depth, cardinality, expansion)
        if latent_dim < 1:
            raise GanforgeError(f"latent_dim must be at least 1, got {latent_dim}")
        self.num_classes = _check_classes(num_classes)
        self.latent_dim, self.shape = latent_dim, (channels, side, side)
        widths = stage_widths(width, stages)
        # first, so that _layout finds the network's memory layout in this 4-D parameter
        self.basis = nn.Parameter(torch.randn(1, widths[0], BASE, BASE))
        if num_classes:  # a linear map of the one-hot class: N(0, 1 / num_classes)
            self.embed = nn.Embedding(num_classes, latent_dim)
            nn.init.normal_(self.embed.weight, 0.0, 1 / math.sqrt(num_classes))
        in_dim = latent_dim * (2 if num_classes else 1)
        self.project = _he(nn.Linear(in_dim, widths[0], bias=False))
        total = depth * stages
        layers = _blocks(widths[0], depth, cardinality, expansion, total)
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [_conv1x1(c_in, c_out), Upsample()] if c_in != c_out else [Upsample()]
            layers += _blocks(c_out, depth, cardinality, expansion, total)
        layers += [_conv1x1(widths[-1], channels), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)`` noise, and for a conditional
        generator the classes ``(N,)``, → ``(N, C, H, W)``."""
        z = _noise(z, self.latent_dim)
        y = _classes(y, z.shape[0], self.num_classes, "generator")
        if y is not None:
            z = torch.cat([z, self.embed(y).to(z.dtype)], 1)  # (N, 2 * latent_dim)
        scale = self.project(z)[:, :, None, None]  # (N, C0, 1, 1)
        base = self.basis * scale  # (N, C0, 4, 4)
        return self.body(base.contiguous(memory_format=_layout(self)))


class ResNetDiscriminator(nn.Module):
    """Maps pictures ``(N, C, H, W)`` to one realness logit per sample ``(N,)``.

    A 1x1 convolution from ``C`` to ``width`` channels, then the stages of
    :func:`stage_widths` from full resolution down, each left by a 2x downsampling and a
    1x1 convolution (where the channels double); at 4x4 R3GAN's discriminative basis, a
    4x4 convolution per channel, reduces each channel to one number, and a linear layer
    gives the logit. ``pack`` > 1 makes it a PacGAN discriminator: ``pack`` consecutive
    samples are stacked along the channels and judged together, ``(N / pack,)`` logits.
    With ``num_classes`` > 0 it is a projection discriminator as in R3GAN: the linear layer
    gives a vector of the base stage's channels and the logit is its inner product with a
    learned embedding of the class.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        width: int = 64,
        depth: int = 1,
        cardinality: int = CARDINALITY,
        expansion: int = EXPANSION,
        pack: int = 1,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        channels, side, stages = resnet_plan(shape)
        _check_sizes(width, depth, cardinality, expansion)
        if pack < 1:
            raise GanforgeError(f"pack must be at least 1, got {pack}: pass a positive size")
        self.num_classes = _check_classes(num_classes)
        if num_classes and pack > 1:
            raise GanforgeError(
                "a class-conditional discriminator judges one picture at a time; use --pack 1"
            )
        self.shape, self.pack = (channels, side, side), pack
        widths = stage_widths(width, stages)[::-1]  # full resolution first
        total = depth * stages
        layers: list[nn.Module] = [_conv1x1(channels * pack, widths[0])]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += _blocks(c_in, depth, cardinality, expansion, total)
            layers += [Downsample(), _conv1x1(c_in, c_out)] if c_in != c_out else [Downsample()]
        layers += _blocks(widths[-1], depth, cardinality, expansion, total)
        c = widths[-1]
        layers.append(_he(nn.Conv2d(c, c, BASE, groups=c, bias=False)))  # (N, c, 1, 1)
        self.body = nn.Sequential(*layers)
        self.head = _he(nn.Linear(c, c if num_classes else 1, bias=False))
        if num_classes:  # R3GAN: a linear map of the one-hot class with gain 1 / sqrt(c)
            self.embed = nn.Embedding(num_classes, c)
            nn.init.normal_(self.embed.weight, 0.0, 1 / math.sqrt(c * num_classes))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``(N, C, H, W)``, and for a conditional discriminator the classes ``(N,)``, →
        ``(N / pack,)`` logits."""
        _check_pictures(x, self.shape)
        h = self.body(_pack(x, self.pack)).flatten(1)  # (N / pack, c)
        out = self.head(h)  # (N / pack, 1) or (N, c)
        y = _classes(y, h.shape[0], self.num_classes, "discriminator")
        if y is None:
            return out.squeeze(1)
        return (out * self.embed(y).to(out.dtype)).sum(1)


__all__ = [
    "Downsample",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "ResidualBlock",
    "Upsample",
    "lowpass_kernel",
    "resnet_plan",
    "stage_widths",
]
