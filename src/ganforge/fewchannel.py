"""Convolutions to and from one or two channels, faster on the CPU.

A DCGAN's discriminator starts with a convolution from the picture's channels and its
generator ends with a transposed convolution to them. With one or two channels, oneDNN runs
two of their passes at a fraction of its usual speed: the transposed convolution's forward
pass, and the convolution's input gradient (the same operation, met when the generator's
loss backpropagates through the discriminator). Both are a matrix product followed by
``F.fold`` (col2im), which this module uses there; oneDNN keeps the passes it runs well.

:class:`FewChannelConv2d` and :class:`FewChannelConvTranspose2d` are drop-in subclasses of
``nn.Conv2d`` and ``nn.ConvTranspose2d`` with the same parameters and state-dict keys. They
take the other route only for float32 or float64 tensors on the CPU without autocast,
outside ``torch.compile``, with ``groups`` and ``dilation`` 1 and zero padding; anywhere
else they are the PyTorch modules. Values and gradients agree with PyTorch's to rounding,
double backward passes (R1, the gradient penalty) included.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEW = 2  # at most this many picture channels: beyond, oneDNN is as fast or faster

Pair = tuple[int, int]


def _fold_route(x: Tensor, w: Tensor, module: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    """Whether ``module`` with weight ``w`` should compute with a matrix product and
    ``F.fold`` for ``x``. (``w`` is passed in: reading a spectral-normalised weight runs a
    power iteration.)"""
    return (
        x.device.type == "cpu"
        and x.dim() == 4
        and x.dtype in (torch.float32, torch.float64)
        and w.dtype == x.dtype
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
        and module.groups == 1
        and module.dilation == (1, 1)
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
    )


def _like(t: Tensor, x: Tensor) -> Tensor:
    """``t`` in the memory layout of ``x`` (channels-last or not)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return t.contiguous(memory_format=torch.channels_last)
    return t.contiguous()


def _transposed(x: Tensor, w: Tensor, stride: Pair, padding: Pair, size: Pair) -> Tensor:
    """The transposed convolution of ``x (N, C, h, w)`` with ``w (C, O, kh, kw)`` to
    ``(N, O, *size)``: each input pixel's ``O·kh·kw`` contributions by one matrix product,
    summed into place by ``F.fold``."""
    n, c, h, width = x.shape
    out_ch, kh, kw = w.shape[1:]
    rows = x.permute(0, 2, 3, 1).reshape(n, h * width, c)  # a view when x is channels-last
    cols = rows @ w.reshape(c, out_ch * kh * kw)
    return F.fold(cols.transpose(1, 2), size, (kh, kw), padding=padding, stride=stride)


def _param_grads(
    ctx, g: Tensor, x: Tensor, w: Tensor, transposed: bool, output_padding: Pair
) -> tuple[Tensor | None, Tensor | None]:
    """The weight and bias gradients of a (transposed) convolution, as far as needed."""
    gw = gb = None
    if ctx.needs_input_grad[1]:
        gw = torch.ops.aten.convolution_backward(
            g, x, w, None, ctx.stride, ctx.padding, (1, 1), transposed, output_padding, 1,
            [False, True, False],
        )[1]  # fmt: skip
    if ctx.needs_input_grad[2]:
        gb = g.sum((0, 2, 3))
    return gw, gb


class _Conv(torch.autograd.Function):
    """``conv2d`` by oneDNN; its input gradient through :class:`_ConvTranspose`."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None, stride: Pair, padding: Pair):
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, w, b, stride, padding)

    @staticmethod
    def backward(ctx, g: Tensor):
        x, w = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            size = (x.shape[2], x.shape[3])
            gx = _like(_ConvTranspose.apply(g, w, None, ctx.stride, ctx.padding, size), x)
        return gx, *_param_grads(ctx, g, x, w, False, (0, 0)), None, None


class _ConvTranspose(torch.autograd.Function):
    """``conv_transpose2d`` to a given size by :func:`_transposed`; its input gradient
    through :class:`_Conv`."""

    @staticmethod
    def forward(
        ctx, x: Tensor, w: Tensor, b: Tensor | None, stride: Pair, padding: Pair, size: Pair
    ):
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.padding = stride, padding
        ctx.output_padding = tuple(  # what reaches ``size`` beyond the strided input
            size[i] - (x.shape[2 + i] - 1) * stride[i] + 2 * padding[i] - w.shape[2 + i]
            for i in range(2)
        )
        out = _transposed(x, w, stride, padding, size)
        if b is not None:
            out += b.view(1, -1, 1, 1)
        return _like(out, x)

    @staticmethod
    def backward(ctx, g: Tensor):
        x, w = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            gx = _like(_Conv.apply(g, w, None, ctx.stride, ctx.padding), x)
        return gx, *_param_grads(ctx, g, x, w, True, ctx.output_padding), None, None, None


class FewChannelConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose input gradient is computed through ``F.fold`` on the CPU when the
    input has at most two channels (see the module's docstring)."""

    def forward(self, x: Tensor) -> Tensor:
        """The convolution of ``x``, as ``nn.Conv2d`` computes it."""
        w = self.weight
        if self.in_channels > FEW or not _fold_route(x, w, self):
            return self._conv_forward(x, w, self.bias)
        return _Conv.apply(x, w, self.bias, self.stride, self.padding)


class FewChannelConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` whose forward pass is a matrix product and ``F.fold`` on the
    CPU when the output has at most two channels (see the module's docstring)."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """The transposed convolution of ``x``, as ``nn.ConvTranspose2d`` computes it."""
        w = self.weight
        stride, padding, kernel = list(self.stride), list(self.padding), list(self.kernel_size)
        extra = self._output_padding(
            x, output_size, stride, padding, kernel, 2, list(self.dilation)
        )
        if self.out_channels > FEW or not _fold_route(x, w, self):
            return F.conv_transpose2d(
                x, w, self.bias, self.stride, self.padding, extra, self.groups, self.dilation
            )
        size = tuple(
            (x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + kernel[i] + extra[i]
            for i in range(2)
        )
        return _ConvTranspose.apply(x, w, self.bias, self.stride, self.padding, size)
