"""Networks: MLP generator and discriminator for vectors, DCGAN-style ones for images."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ganforge.errors import GanforgeError
from ganforge.fewchannel import FewChannelConv2d, FewChannelConvTranspose2d

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name; an unknown name lists the valid ones."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise GanforgeError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        ) from None


def mlp(
    in_dim: int,
    out_dim: int,
    width: int,
    depth: int,
    act: str,
    spectral_norm: bool = False,
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with activation ``act``, then a linear out."""
    if min(in_dim, out_dim, width, depth) < 1:
        raise GanforgeError(
            f"network sizes must be positive: in {in_dim}, out {out_dim}, "
            f"width {width}, depth {depth}"
        )
    wrap = _spectral_norm if spectral_norm else (lambda m: m)
    dims = [in_dim] + [width] * depth
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [wrap(nn.Linear(a, b)), activation(act)]
    layers.append(wrap(nn.Linear(dims[-1], out_dim)))
    return nn.Sequential(*layers)


def _pack(x: Tensor, pack: int) -> Tensor:
    """Groups of ``pack`` consecutive samples side by side (PacGAN): ``(N, C, ...)`` →
    ``(N / pack, pack * C, ...)``."""
    if x.shape[0] % pack:
        raise GanforgeError(
            f"batch of {x.shape[0]} cannot be packed in groups of {pack}: "
            "choose a batch size divisible by pack"
        )
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


class MLPGenerator(nn.Module):
    """Maps noise ``(N, latent_dim)`` to data ``(N, out_dim)``."""

    def __init__(
        self, latent_dim: int, out_dim: int, width: int = 256, depth: int = 3, act: str = "relu"
    ) -> None:
        super().__init__()
        self.net = mlp(latent_dim, out_dim, width, depth, act)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, latent_dim)`` → ``(N, out_dim)``."""
        return self.net(z.flatten(1))


class MLPDiscriminator(nn.Module):
    """Maps data ``(N, in_dim)`` to one realness logit per sample ``(N,)``.

    ``pack`` > 1 makes it a PacGAN discriminator: it judges ``pack`` samples at once,
    concatenated, and returns one logit per pack, ``(N / pack,)``.
    """

    def __init__(
        self,
        in_dim: int,
        width: int = 256,
        depth: int = 3,
        act: str = "leaky_relu",
        spectral_norm: bool = False,
        pack: int = 1,
    ) -> None:
        super().__init__()
        self.pack = pack
        self.net = mlp(in_dim * pack, 1, width, depth, act, spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_dim)`` → ``(N / pack,)`` logits."""
        return self.net(_pack(x.flatten(1), self.pack)).squeeze(-1)


NORMS = ("batch", "none")
MIN_SIDE, MAX_SIDE, MIN_BASE = 8, 1024, 4


def conv_plan(height: int, width: int) -> tuple[int, int, int]:
    """How a convolutional net reaches ``height x width``: ``(base_h, base_w, n_up)``.

    ``n_up`` is the largest number of stride-2 steps (at least one) that divides both sides
    exactly and leaves a base of at least 4 on its shorter side: 32 → ``(4, 4, 3)``,
    28 → ``(7, 7, 2)``, 32x64 → ``(4, 8, 3)``.
    """
    sides = (height, width)
    if (
        any(isinstance(v, bool) or not isinstance(v, int) for v in sides)
        or min(sides) < MIN_SIDE
        or max(sides) > MAX_SIDE
        or height % 2
        or width % 2
    ):
        raise GanforgeError(
            f"image size {height}x{width} does not suit the convolutional nets (even sides "
            f"from {MIN_SIDE} to {MAX_SIDE} needed): use --resolution with a power of two "
            "such as 32"
        )
    n_up = 1
    while True:
        step = 2 ** (n_up + 1)
        if height % step or width % step or min(sides) // step < MIN_BASE:
            break
        n_up += 1
    return height >> n_up, width >> n_up, n_up


def _check_image_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """``shape`` as a validated ``(C, H, W)`` tuple of ints; sides are checked by conv_plan."""
    try:
        channels, height, width = (operator.index(v) for v in shape)
    except (TypeError, ValueError):
        raise GanforgeError(
            f"image shape must be (channels, height, width), got {shape!r}: pass e.g. (3, 32, 32)"
        ) from None
    if channels < 1:
        raise GanforgeError(f"images need at least one channel, got {channels}: pass e.g. 1 or 3")
    return channels, height, width


def _check_conv_sizes(width: int, depth: int, norm: str, **others: int) -> None:
    """Rejects non-positive sizes and unknown norms, naming the offending argument."""
    for name, value in {"width": width, "depth": depth, **others}.items():
        if value < 1:
            raise GanforgeError(f"{name} must be at least 1, got {value}: pass a positive size")
    if norm not in NORMS:
        raise GanforgeError(f"unknown norm {norm!r}; choose one of: {', '.join(NORMS)}")


def _norm2d(norm: str, channels: int) -> nn.Module:
    """Batch norm over ``channels``, or nothing."""
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


@torch.no_grad()
def _dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """Maps noise ``(N, latent_dim)`` to images ``(N, C, H, W)`` in ``[-1, 1]``.

    The mirror of :class:`DCGANDiscriminator`: a linear projection to a small base grid
    (see :func:`conv_plan`), then one stride-2 transposed convolution per doubling, halving
    the channels down to ``width`` at half resolution, each followed by ``depth - 1`` 3x3
    convolutions; a last transposed convolution from ``width`` channels to the picture's
    ``C`` at full resolution and ``tanh`` finish. ``norm`` is ``"batch"`` or ``"none"``.
    With ``num_classes`` > 0 it is class-conditional: the one-hot class joins the noise at
    the input of the linear projection, and :meth:`forward` takes the classes.

    The activations of both DCGAN nets work in place, as in the DCGAN example: the same
    values and gradients with less memory. A full backward hook
    (``register_full_backward_hook``) on a layer that an activation follows is therefore
    refused by PyTorch; tensor hooks and forward hooks work. The layers next to a picture
    of one or two channels (G's last, D's first) take a faster route on the CPU
    (:mod:`ganforge.fewchannel`).
    """

    def __init__(
        self,
        latent_dim: int,
        shape: tuple[int, int, int],
        width: int = 64,
        depth: int = 1,
        norm: str = "batch",
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        channels, height, side_w = _check_image_shape(shape)
        _check_conv_sizes(width, depth, norm, latent_dim=latent_dim)
        self.num_classes = _check_classes(num_classes)
        base_h, base_w, n_up = conv_plan(height, side_w)
        self.latent_dim, self.shape = latent_dim, (channels, height, side_w)
        base_ch = min(8 * width, width * 2 ** (n_up - 1))
        self.base = (base_ch, base_h, base_w)
        bias = norm == "none"  # a bias in front of batch norm would be cancelled by it
        self.project = nn.Linear(latent_dim + num_classes, base_ch * base_h * base_w, bias=bias)
        layers: list[nn.Module] = [_norm2d(norm, base_ch), nn.ReLU(inplace=True)]
        c_in = base_ch
        for i in range(n_up):
            if i > 0:
                c_out = min(8 * width, width * 2 ** (n_up - 1 - i))
                layers += [
                    nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias),
                    _norm2d(norm, c_out),
                    nn.ReLU(inplace=True),
                ]
                c_in = c_out
            for _ in range(depth - 1):
                layers += [
                    nn.Conv2d(c_in, c_in, 3, padding=1, bias=bias),
                    _norm2d(norm, c_in),
                    nn.ReLU(inplace=True),
                ]
        layers += [FewChannelConvTranspose2d(c_in, channels, 4, stride=2, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)`` noise, and for a conditional
        generator the classes ``(N,)``, → ``(N, C, H, W)``."""
        z = _noise(z, self.latent_dim)
        y = _classes(y, z.shape[0], self.num_classes, "generator")
        if y is not None:
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)
        base = self.project(z).view(z.shape[0], *self.base)
        return self.body(base.contiguous(memory_format=_layout(self.body)))


def _layout(x: nn.Module | Tensor) -> torch.memory_format:
    """The memory layout (channels-last or not) of a 4-D tensor or of a module's first
    convolution weight.

    The nets keep their activations in one layout: an elementwise backward pass over two
    layouts (a channels-last gradient and a contiguous saved input, say) is many times
    slower on the CPU.
    """
    t = x if isinstance(x, Tensor) else next((p for p in x.parameters() if p.dim() == 4), None)
    if t is None or t.dim() != 4 or t.is_contiguous():
        return torch.contiguous_format
    cl = t.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if cl else torch.contiguous_format


class DCGANDiscriminator(nn.Module):
    """Maps images ``(N, C, H, W)`` to one realness logit per sample ``(N,)``.

    A stride-2 4x4 convolution from ``C`` to ``width`` channels without norm, then more
    stride-2 convolutions doubling the channels (at most ``8 * width``) with ``norm`` until
    the base grid of :func:`conv_plan`; each downsampling is followed by ``depth - 1`` 3x3
    convolutions. A linear layer on the flattened features gives the logit.
    ``spectral_norm`` wraps every convolution and linear layer in spectral normalisation.
    ``pack`` > 1 makes it a PacGAN discriminator: ``pack`` consecutive samples are stacked
    along the channels and judged together, giving ``(N / pack,)`` logits.
    With ``num_classes`` > 0 it is a projection discriminator (Miyato & Koyama 2018): the
    logit gains ``⟨embed(y), φ(x)⟩``, the inner product of a learned embedding of the class
    with the flattened features ``φ(x)``; the embedding starts at zero.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        width: int = 64,
        depth: int = 1,
        norm: str = "none",
        spectral_norm: bool = False,
        pack: int = 1,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        channels, height, side_w = _check_image_shape(shape)
        _check_conv_sizes(width, depth, norm, pack=pack)
        self.num_classes = _check_classes(num_classes)
        if num_classes and pack > 1:
            raise GanforgeError(
                "a class-conditional discriminator judges one picture at a time; use --pack 1"
            )
        base_h, base_w, n_down = conv_plan(height, side_w)
        self.shape, self.pack = (channels, height, side_w), pack
        bias = norm == "none"
        layers: list[nn.Module] = [
            FewChannelConv2d(channels * pack, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        c_in = width
        for i in range(n_down):
            c_out = min(8 * width, width * 2**i)
            if i > 0:
                layers += [
                    nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias),
                    _norm2d(norm, c_out),
                    nn.LeakyReLU(0.2, inplace=True),
                ]
            for _ in range(depth - 1):
                layers += [
                    nn.Conv2d(c_out, c_out, 3, padding=1, bias=bias),
                    _norm2d(norm, c_out),
                    nn.LeakyReLU(0.2, inplace=True),
                ]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * base_h * base_w, 1)
        _dcgan_init(self)
        if num_classes:
            self.embed = nn.Embedding(num_classes, self.head.in_features)
            nn.init.zeros_(self.embed.weight)
        if spectral_norm:
            for m in list(self.modules()):
                if isinstance(m, nn.Conv2d | nn.Linear):
                    _spectral_norm(m)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``(N, C, H, W)``, and for a conditional discriminator the classes ``(N,)``, →
        ``(N / pack,)`` logits."""
        _check_pictures(x, self.shape)
        h = self.body(_pack(x, self.pack))
        if h.requires_grad and _layout(h) == torch.channels_last:
            # flattening makes the gradient contiguous: give it back in h's layout
            h.register_hook(lambda g: g.contiguous(memory_format=torch.channels_last))
        h = h.flatten(1)
        logits = self.head(h).squeeze(-1)
        y = _classes(y, h.shape[0], self.num_classes, "discriminator")
        if y is not None:
            logits = logits + (self.embed(y) * h).sum(1)
        return logits


def _noise(z: Tensor, latent_dim: int) -> Tensor:
    """Noise ``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)`` as ``(N, latent_dim)``, after
    checking its size."""
    z = z.flatten(1)
    if z.shape[1] != latent_dim:
        raise GanforgeError(
            f"generator expects noise of size {latent_dim}, got {z.shape[1]}: "
            "make --latent-dim match the generator"
        )
    return z


def _check_pictures(x: Tensor, shape: tuple[int, int, int]) -> None:
    """Refuses pictures ``x`` whose ``(C, H, W)`` is not the discriminator's ``shape``."""
    if tuple(x.shape[1:]) != shape:
        raise GanforgeError(
            f"discriminator expects images of shape {shape}, got "
            f"{tuple(x.shape[1:])}: make the data match --resolution and the channels"
        )


def _check_classes(num_classes: int) -> int:
    if num_classes < 0:
        raise GanforgeError(f"number of classes must be 0 or more, got {num_classes}")
    return int(num_classes)


def _classes(y: Tensor | None, n: int, num_classes: int, network: str) -> Tensor | None:
    """The classes ``y`` of ``n`` samples as integers, after checking that they fit."""
    if not num_classes:
        if y is not None:
            raise GanforgeError(f"this {network} is not class-conditional; give it no classes")
        return None
    if y is None or tuple(y.shape) != (n,):
        raise GanforgeError(
            f"this {network} is class-conditional: give it one class per sample, shape ({n},)"
        )
    return y.long()


__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "activation",
    "conv_plan",
    "mlp",
]
