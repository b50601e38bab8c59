"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for data-efficient GANs.

The same random transformations are applied to real and generated images before the
discriminator sees them. Every operation is differentiable with respect to the images, so
the generator still receives gradients through the augmented fakes. Images are float
tensors ``(N, C, H, W)`` in ``[-1, 1]``; every sample gets its own random draw.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.errors import GanforgeError

POLICIES = ("color", "translation", "cutout")
# Powers of two: side * ratio is exact in floating point, so int() gives exactly side // 8
# and side // 2 at every size (with 0.35, int(180 * 0.35) would be 62, not 63).
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _uniform(
    n: int, low: float, high: float, x: Tensor, generator: torch.Generator | None
) -> Tensor:
    """``n`` draws from ``U(low, high)`` shaped ``(n, 1, 1, 1)``, in ``x``'s dtype and device."""
    u = torch.rand(n, 1, 1, 1, generator=generator, device=x.device)
    return (low + (high - low) * u).to(x.dtype)


def _color(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Random brightness, then saturation, then contrast, one draw of each per sample."""
    n = x.shape[0]
    x = x + _uniform(n, -0.5, 0.5, x, generator)
    pixel_mean = x.mean(dim=1, keepdim=True)
    x = pixel_mean + (x - pixel_mean) * _uniform(n, 0.0, 2.0, x, generator)
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return image_mean + (x - image_mean) * _uniform(n, 0.5, 1.5, x, generator)


def _shifted_index(size: int, shift: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample source indices ``i - shift`` along one axis, clamped, and their validity."""
    source = torch.arange(size, device=shift.device).unsqueeze(0) - shift.unsqueeze(1)
    valid = (source >= 0) & (source < size)
    return source.clamp(0, size - 1), valid


def _translation(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Shifts each image by whole pixels, up to ``ratio`` of each side, filling with zeros."""
    n, _, height, width = x.shape
    max_dy, max_dx = int(height * TRANSLATION_RATIO), int(width * TRANSLATION_RATIO)
    dy = torch.randint(-max_dy, max_dy + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n,), generator=generator, device=x.device)
    rows, row_ok = _shifted_index(height, dy)  # (N, H)
    cols, col_ok = _shifted_index(width, dx)  # (N, W)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    moved = x.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]  # (N, H, W, C)
    keep = (row_ok.unsqueeze(2) & col_ok.unsqueeze(1)).unsqueeze(1)  # (N, 1, H, W)
    return moved.permute(0, 3, 1, 2) * keep.to(x.dtype)


def _cutout(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Zeroes one ``ratio``-sized rectangle per image at a random centre, clipped at borders."""
    n, _, height, width = x.shape
    cut_h, cut_w = int(height * CUTOUT_RATIO), int(width * CUTOUT_RATIO)
    cy = torch.randint(0, height, (n, 1), generator=generator, device=x.device)
    cx = torch.randint(0, width, (n, 1), generator=generator, device=x.device)
    top, left = cy - cut_h // 2, cx - cut_w // 2
    rows = torch.arange(height, device=x.device).unsqueeze(0)
    cols = torch.arange(width, device=x.device).unsqueeze(0)
    in_rows = (rows >= top) & (rows < top + cut_h)  # (N, H)
    in_cols = (cols >= left) & (cols < left + cut_w)  # (N, W)
    hole = (in_rows.unsqueeze(2) & in_cols.unsqueeze(1)).unsqueeze(1)  # (N, 1, H, W)
    return x * (~hole).to(x.dtype)


_OPERATIONS = {"color": _color, "translation": _translation, "cutout": _cutout}


class DiffAugment:
    """Differentiable augmentation of image batches, applied alike to real and fake images.

    ``policy`` is a comma-separated subset of ``"color"``, ``"translation"`` and
    ``"cutout"``; they always run in that order, whatever order they are listed in. An empty
    policy leaves the images unchanged.

    - color: brightness ``+U(-0.5, 0.5)``, saturation (deviation from each pixel's channel
      mean scaled by ``U(0, 2)``), contrast (deviation from the image mean scaled by
      ``U(0.5, 1.5)``);
    - translation: a shift by whole pixels of up to 1/8 of the height and width, zero-filled;
    - cutout: a zeroed rectangle of half the height and width at a random centre.
    """

    def __init__(self, policy: str = "translation,cutout,color") -> None:
        names = {name.strip().lower() for name in policy.split(",")} - {""}
        unknown = sorted(names - set(POLICIES))
        if unknown:
            raise GanforgeError(
                f"unknown augmentation {', '.join(map(repr, unknown))}; "
                f"choose from: {', '.join(POLICIES)} (comma-separated)"
            )
        self.policy: tuple[str, ...] = tuple(name for name in POLICIES if name in names)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augments ``(N, C, H, W)`` images; all random draws come from ``generator``.

        ``generator`` must live on ``x``'s device; ``None`` uses torch's global generator.
        """
        if x.dim() != 4 or not x.is_floating_point():
            raise GanforgeError(
                f"DiffAugment expects float images (N, C, H, W), got {x.dtype} of shape "
                f"{tuple(x.shape)}: convert the batch to a float image tensor"
            )
        if generator is not None and generator.device.type != x.device.type:
            raise GanforgeError(
                f"augmentation generator is on {generator.device} but the images are on "
                f"{x.device}: create it with torch.Generator(device=images.device)"
            )
        if not self.policy or x.shape[0] == 0:
            return x
        channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        for name in self.policy:
            x = _OPERATIONS[name](x, generator)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        return x.contiguous(memory_format=layout)

    def __repr__(self) -> str:
        """``DiffAugment(policy='color,translation,cutout')``, in the order applied."""
        return f"DiffAugment(policy={','.join(self.policy)!r})"


__all__ = ["POLICIES", "DiffAugment"]
