"""The model-free autocorrelation error of generated time series: per-feature sample
autocorrelations of real and synthetic sequences, and their mean absolute difference."""

from __future__ import annotations

import numpy as np

from ganforge.errors import GanforgeError
from ganforge.metrics.sequence_checks import as_sequences, positive, same_shape

_FLAT = 1e-20  # mean squared deviation below which a sequence counts as constant


def autocorrelation(sequences: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Mean per-sequence sample autocorrelation of each feature at lags ``1 … max_lag``.

    For one sequence ``x_0 … x_{T−1}`` of one feature, with mean ``x̄``, the lag-``k``
    autocorrelation is the textbook (Box–Jenkins) estimator

        ``r_k = Σ_{t=0}^{T−1−k} (x_t − x̄)(x_{t+k} − x̄) / Σ_{t=0}^{T−1} (x_t − x̄)²``,

    which lies in ``[−1, 1]``. The result averages ``r_k`` over the sequences. Each sequence is
    centred on its own mean, so differences of level between sequences (a random phase or
    offset per sample) do not pass for temporal correlation. A sequence that is constant in a
    feature has no defined ``r_k``; it counts as 0 at every lag rather than being left out,
    so that flat synthetic sequences lower the average instead of hiding from it.

    Args:
        sequences: ``(N, T, d)`` array, ``T ≥ 2``.
        max_lag: largest lag, ``1 ≤ max_lag ≤ T − 1``; default ``T // 2``.

    Returns:
        ``(max_lag, d)`` float64 array; row ``k − 1`` holds lag ``k``.
    """
    x = as_sequences(sequences, "sequences")
    lag = _max_lag(max_lag, x.shape[1])
    centred = x - x.mean(axis=1, keepdims=True)
    power = np.einsum("ntd,ntd->nd", centred, centred)
    flat = power <= _FLAT * x.shape[1]
    safe = np.where(flat, 1.0, power)
    out = np.empty((lag, x.shape[2]))
    for k in range(1, lag + 1):
        lagged = np.einsum("ntd,ntd->nd", centred[:, k:], centred[:, :-k])
        out[k - 1] = np.where(flat, 0.0, lagged / safe).mean(axis=0)
    return out


def _max_lag(max_lag: int | None, steps: int) -> int:
    if max_lag is None:
        return steps // 2
    lag = positive(max_lag, "max_lag")
    if lag > steps - 1:
        raise GanforgeError(
            f"max_lag {lag} needs sequences longer than {lag} steps, got {steps}; "
            f"pass max_lag ≤ {steps - 1}"
        )
    return lag


def acf_error(real: np.ndarray, fake: np.ndarray, max_lag: int | None = None) -> float:
    """Mean absolute difference of the real and synthetic autocorrelations.

    Both sets' :func:`autocorrelation` (mean per-sequence sample autocorrelation per feature)
    are compared at lags ``1 … max_lag`` and the absolute differences averaged over lags and
    features. 0 for identical sets; at most 2.

    Args:
        real: ``(N, T, d)`` real sequences.
        fake: ``(M, T, d)`` synthetic sequences (``M`` may differ from ``N``).
        max_lag: largest lag, ``1 ≤ max_lag ≤ T − 1``; default ``T // 2``.

    Returns:
        The error as a float.
    """
    a, b = as_sequences(real, "real"), as_sequences(fake, "fake")
    same_shape(a, b, "real and fake")
    return float(np.abs(autocorrelation(a, max_lag) - autocorrelation(b, max_lag)).mean())


__all__ = ["acf_error", "autocorrelation"]
