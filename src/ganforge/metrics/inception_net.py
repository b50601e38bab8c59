"""The FID InceptionV3 network in plain PyTorch: the TensorFlow graph of 2015-12-05 that FID
is defined on, laid out as PyTorch ports (pytorch-fid) lay it out.

Module and parameter names are those of ``pt_inception-2015-12-05-6726825d.pth`` (the
layout of torchvision's ``Inception3``), so that file loads with ``strict=True``. Where this
network differs from the ImageNet InceptionV3 of torchvision, it follows TensorFlow's graph:

- the 3×3 average pools inside the blocks divide by the number of real pixels under the
  window, not by 9, at the borders (TensorFlow's ``SAME`` average pooling);
- the last block (``Mixed_7c``) max-pools its pool branch where the others average.

Only the path to the 2,048-d pool features is run; the 1,008-class classifier ``fc`` is
kept because the weights file holds it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEATURES = 2048  # size of the pool features
CLASSES = 1008  # outputs of the weights file's classifier (1,000 ImageNet classes + unused)


def _pad(kernel: int | tuple[int, int]) -> tuple[int, int]:
    """Padding that keeps the size of a stride-1 convolution (``SAME`` for odd kernels)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return kh // 2, kw // 2


class ConvBN(nn.Module):
    """Convolution without bias, batch norm, ReLU: the unit every layer is made of.

    Args:
        cin, cout: input and output channels.
        kernel: kernel size, an int or ``(height, width)``.
        stride: convolution stride.
        same: pad so that a stride-1 convolution keeps the size (else no padding).
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        same: bool = False,
    ) -> None:
        super().__init__()
        padding = _pad(kernel) if same else (0, 0)
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)  # TensorFlow's epsilon, not PyTorch's 1e-5

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: Tensor) -> Tensor:
    """3×3 average, stride 1, size kept; border windows average only their real pixels."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class Mixed35(nn.Module):
    """A 35×35 block (``Mixed_5b`` to ``Mixed_5d``): 1×1, 5×5, two 3×3 and pool branches.

    Output channels: 64 + 64 + 96 + ``pool_features``.
    """

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(cin, 64, 1)
        self.branch5x5_1 = ConvBN(cin, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, same=True)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, same=True)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, same=True)
        self.branch_pool = ConvBN(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        five = self.branch5x5_2(self.branch5x5_1(x))
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(_avg_pool(x))
        return torch.cat([self.branch1x1(x), five, double, pool], dim=1)


class Reduce35(nn.Module):
    """35×35 → 17×17 (``Mixed_6a``): strided 3×3, two 3×3 and max-pool branches.

    Output channels: 384 + 96 + ``cin``.
    """

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, same=True)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), double, pool], dim=1)


class Mixed17(nn.Module):
    """A 17×17 block (``Mixed_6b`` to ``Mixed_6e``): 7×7 convolutions factored into 1×7
    and 7×1, ``c7`` channels inside the factored branches.

    Output channels: 192 × 4.
    """

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = (1, 7), (7, 1)
        self.branch1x1 = ConvBN(cin, 192, 1)
        self.branch7x7_1 = ConvBN(cin, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, row, same=True)
        self.branch7x7_3 = ConvBN(c7, 192, col, same=True)
        self.branch7x7dbl_1 = ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, col, same=True)
        self.branch7x7dbl_3 = ConvBN(c7, c7, row, same=True)
        self.branch7x7dbl_4 = ConvBN(c7, c7, col, same=True)
        self.branch7x7dbl_5 = ConvBN(c7, 192, row, same=True)
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for layer in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            double = layer(double)
        pool = self.branch_pool(_avg_pool(x))
        return torch.cat([self.branch1x1(x), seven, double, pool], dim=1)


class Reduce17(nn.Module):
    """17×17 → 8×8 (``Mixed_7a``): strided 3×3, factored 7×7 then strided 3×3, max pool.

    Output channels: 320 + 192 + ``cin``.
    """

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(cin, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), same=True)
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), same=True)
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        three = self.branch3x3_2(self.branch3x3_1(x))
        seven = self.branch7x7x3_1(x)
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(seven)))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([three, seven, pool], dim=1)


class Mixed8(nn.Module):
    """An 8×8 block (``Mixed_7b``, ``Mixed_7c``): branches that end split into a 1×3 and a
    3×1 convolution side by side.

    Args:
        cin: input channels.
        max_pool: the pool branch max-pools (``Mixed_7c`` of the FID graph) instead of
            averaging.

    Output channels: 320 + 768 + 768 + 192 = 2,048.
    """

    def __init__(self, cin: int, max_pool: bool = False) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(cin, 320, 1)
        self.branch3x3_1 = ConvBN(cin, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), same=True)
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), same=True)
        self.branch3x3dbl_1 = ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, same=True)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), same=True)
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), same=True)
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        three = self.branch3x3_1(x)
        three = torch.cat([self.branch3x3_2a(three), self.branch3x3_2b(three)], dim=1)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        double = torch.cat([self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double)], dim=1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool(x)
        return torch.cat([self.branch1x1(x), three, double, self.branch_pool(pooled)], dim=1)


class FIDInceptionV3(nn.Module):
    """The FID InceptionV3, weights unset; ``forward`` gives the 2,048-d pool features.

    Its ``state_dict()`` has the keys and shapes of ``pt_inception-2015-12-05-6726825d.pth``
    (472 tensors, plus one batch-norm step counter per batch norm).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, same=True)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = Mixed35(192, pool_features=32)
        self.Mixed_5c = Mixed35(256, pool_features=64)
        self.Mixed_5d = Mixed35(288, pool_features=64)
        self.Mixed_6a = Reduce35(288)
        self.Mixed_6b = Mixed17(768, c7=128)
        self.Mixed_6c = Mixed17(768, c7=160)
        self.Mixed_6d = Mixed17(768, c7=160)
        self.Mixed_6e = Mixed17(768, c7=192)
        self.Mixed_7a = Reduce17(768)
        self.Mixed_7b = Mixed8(1280)
        self.Mixed_7c = Mixed8(2048, max_pool=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(FEATURES, CLASSES)  # in the weights file; not used for features

    def forward(self, x: Tensor) -> Tensor:
        """Pictures ``(N, 3, 299, 299)`` scaled to [-1, 1] → pool features ``(N, 2048)``."""
        x = self.Conv2d_1a_3x3(x)  # (N, 32, 149, 149)
        x = self.Conv2d_2a_3x3(x)  # (N, 32, 147, 147)
        x = self.Conv2d_2b_3x3(x)  # (N, 64, 147, 147)
        x = self.maxpool1(x)  # (N, 64, 73, 73)
        x = self.Conv2d_3b_1x1(x)  # (N, 80, 73, 73)
        x = self.Conv2d_4a_3x3(x)  # (N, 192, 71, 71)
        x = self.maxpool2(x)  # (N, 192, 35, 35)
        x = self.Mixed_5b(x)  # (N, 256, 35, 35)
        x = self.Mixed_5c(x)  # (N, 288, 35, 35)
        x = self.Mixed_5d(x)  # (N, 288, 35, 35)
        x = self.Mixed_6a(x)  # (N, 768, 17, 17)
        x = self.Mixed_6b(x)
        x = self.Mixed_6c(x)
        x = self.Mixed_6d(x)
        x = self.Mixed_6e(x)  # (N, 768, 17, 17)
        x = self.Mixed_7a(x)  # (N, 1280, 8, 8)
        x = self.Mixed_7b(x)  # (N, 2048, 8, 8)
        x = self.Mixed_7c(x)  # (N, 2048, 8, 8)
        return self.avgpool(x).flatten(1)  # (N, 2048, 1, 1) → (N, 2048)
