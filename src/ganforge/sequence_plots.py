"""Pictures of sequences: real against generated series per feature, and both sets of
sequences mapped to the plane (PCA or t-SNE over each sequence's steps averaged over the
features, as TimeGAN draws them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

MAX_FEATURES = 4  # panels drawn; more features make the picture unreadable
N_LINES = 8  # series drawn per side and panel


def sequence_plot(
    path: Path, real: np.ndarray, fake: np.ndarray, features: Sequence[str], title: str
) -> None:
    """A panel per feature (the first four): ``N_LINES`` real series beside as many
    generated ones, ``(N, T, d)`` each, in data units."""
    shown = min(real.shape[2], MAX_FEATURES)
    fig = Figure(figsize=(7, 1.9 * shown + 0.6), dpi=100)
    axes = np.atleast_1d(fig.subplots(shown, 1, sharex=True, squeeze=False)[:, 0])
    steps = np.arange(real.shape[1])
    for k, ax in enumerate(axes):
        for i in range(min(N_LINES, len(real))):
            ax.plot(steps, real[i, :, k], c="#1f77b4", alpha=0.6, lw=1, label="real" * (i == 0))
        for i in range(min(N_LINES, len(fake))):
            ax.plot(
                steps, fake[i, :, k], c="#d62728", alpha=0.6, lw=1, label="generated" * (i == 0)
            )
        ax.set_ylabel(str(features[k]))
    axes[0].set_title(title)
    axes[0].legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path)


def embedding_plot(path: Path, real: np.ndarray, fake: np.ndarray, method: str, seed: int) -> None:
    """Real and generated sequences ``(N, T, d)`` (scaled alike) in two dimensions: each
    sequence is its ``T`` steps averaged over the features, then ``method`` (``pca``, fitted
    on the real ones, or ``tsne``, on both) maps it to the plane."""
    n = min(len(real), len(fake), 1000)
    a, b = real[:n].mean(axis=2), fake[:n].mean(axis=2)  # (n, T) each
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(a)
        pa, pb = pca.transform(a), pca.transform(b)
    else:
        from sklearn.manifold import TSNE

        both = TSNE(2, perplexity=min(40.0, (2 * n - 1) / 3), random_state=seed, init="pca")
        both = both.fit_transform(np.concatenate([a, b]))
        pa, pb = both[:n], both[n:]
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(pa[:, 0], pa[:, 1], s=5, c="#1f77b4", alpha=0.4, label="real")
    ax.scatter(pb[:, 0], pb[:, 1], s=5, c="#d62728", alpha=0.4, label="generated")
    ax.set_title(f"{method.upper() if method == 'pca' else 't-SNE'}: real and generated")
    ax.legend(loc="upper right", markerscale=3)
    fig.tight_layout()
    fig.savefig(path)
