"""Pictures written during training: sample scatter plots, image grids and loss curves."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# Figures are built and saved without pyplot: no backend is chosen, no GUI toolkit imported
# and no global figure registry touched, so importing ganforge changes nothing in matplotlib.
from matplotlib.figure import Figure
from PIL import Image


def scatter_plot(path: Path, real: np.ndarray, fake: np.ndarray, title: str) -> None:
    """Generated points over real ones (first two coordinates), saved as a PNG."""
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(real[:, 0], real[:, 1 % real.shape[1]], s=4, c="#1f77b4", alpha=0.5, label="real")
    ax.scatter(
        fake[:, 0], fake[:, 1 % fake.shape[1]], s=4, c="#d62728", alpha=0.5, label="generated"
    )
    lo = np.minimum(real.min(0), np.percentile(fake, 1, axis=0))
    hi = np.maximum(real.max(0), np.percentile(fake, 99, axis=0))
    pad = 0.1 * (hi - lo + 1e-6)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    j = 1 % real.shape[1]
    ax.set_ylim(lo[j] - pad[j], hi[j] + pad[j])
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title)
    ax.legend(loc="upper right", markerscale=3)
    fig.tight_layout()
    fig.savefig(path)


def loss_plot(path: Path, records: Sequence[dict]) -> None:
    """Discriminator and generator losses, and D's accuracies, against the step."""
    rows = [r for r in records if "d_loss" in r]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(7, 6), dpi=100)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.plot(steps, [r["d_loss"] for r in rows], label="discriminator loss")
    ax1.plot(steps, [r["g_loss"] for r in rows], label="generator loss")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(steps, [r["acc_real"] for r in rows], label="D accuracy on real")
    ax2.plot(steps, [r["acc_fake"] for r in rows], label="D accuracy on fake")
    ax2.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_xlabel("step")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path)


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles uint8 pictures ``(N, H, W, C)`` into one ``(H', W', C)`` picture.

    ``ncol`` pictures per row (default: a near-square grid), ``pad`` pixels of white
    between them; cells smaller than 64 pixels are enlarged by an integer factor (nearest
    neighbour) so that they stay visible.
    """
    n, h, w, c = images.shape
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = int(np.ceil(n / ncol))
    zoom = max(1, 64 // max(h, w))
    if zoom > 1:
        images = images.repeat(zoom, axis=1).repeat(zoom, axis=2)
        h, w = h * zoom, w * zoom
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    for i, img in enumerate(images):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top : top + h, left : left + w] = img
    return grid


def save_picture(path: Path, picture: np.ndarray) -> None:
    """Writes a uint8 ``(H, W, C)`` picture (C = 1 or 3) to ``path`` through Pillow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(path)


def figure_png(fig: Figure) -> bytes:
    """A matplotlib figure as PNG bytes, drawn in memory (nothing touches the disk)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def curves_png(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    *,
    ylabel: str = "",
    hline: float | None = None,
    ylim: tuple[float, float] | None = None,
    size: tuple[float, float] = (5.0, 3.0),
) -> bytes:
    """Lines ``label -> (steps, values)`` against the step, as PNG bytes.

    NaN and infinite values leave gaps; every point is marked, so that a series with one
    value still shows. Labels are drawn as plain text (a ``$`` starts no formula).
    """
    fig = Figure(figsize=size, dpi=100)
    ax = fig.add_subplot()
    for label, (steps, values) in series.items():
        y = np.asarray(values, dtype=float)
        y[~np.isfinite(y)] = np.nan
        ax.plot(steps, y, marker="o", markersize=2.5, lw=1.2, label=_plain(label))
    if hline is not None:
        ax.axhline(hline, color="grey", lw=0.8, ls="--")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(_plain(title), fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(_plain(ylabel))
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def _plain(text: str) -> str:
    """Text that matplotlib draws as it is (a ``$`` would otherwise start mathtext)."""
    return text.replace("$", r"\$")
