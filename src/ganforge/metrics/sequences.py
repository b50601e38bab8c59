"""Scores of generated time series: TimeGAN's discriminative and predictive scores, and ACF error.

The two learned scores follow the protocol of TimeGAN (Yoon, Jarrett and van der Schaar,
"Time-series Generative Adversarial Networks", NeurIPS 2019) as its public reference code
(``metrics/discriminative_metrics.py``, ``metrics/predictive_metrics.py``, ``utils.py``,
``main_timegan.py``) runs it, rewritten here in PyTorch:

Discriminative score (a post-hoc classifier of real against synthetic):

* network: one GRU layer with ``int(d / 2)`` units (tanh), its last hidden state into one
  linear logit; here ``max(1, d // 2)`` units, since ``d = 1`` would give none;
* split: 80 % of the real and, separately, 80 % of the synthetic sequences train it
  (``int(0.8 N)`` of a random permutation), the other 20 % of each test it;
* training: 2000 iterations of Adam (learning rate 1e-3, betas 0.9 / 0.999, ε 1e-8), each on
  128 real and 128 synthetic sequences drawn without replacement from the training parts;
  loss = mean sigmoid cross-entropy of the real batch (label 1) + that of the synthetic batch
  (label 0);
* score: ``|accuracy − 0.5|`` on the 20 % test parts together, a sequence called real when
  its sigmoid output is above 0.5. 0 means indistinguishable, 0.5 perfectly separable.

Predictive score ("train on synthetic, test on real"):

* network: one GRU layer with ``int(d / 2)`` units (tanh), a linear layer and a sigmoid on
  every step's output;
* inputs and targets: features ``0 … d−2`` at steps ``0 … T−2`` predict feature ``d−1`` at
  steps ``1 … T−1`` (the last feature one step ahead);
* training: 5000 iterations of Adam (defaults as above) on batches of 128 synthetic
  sequences drawn without replacement, loss = mean absolute error;
* score: mean absolute error of the predictions over every real sequence and step (the
  reference averages per-sequence MAEs, the same number for equal lengths).

``main_timegan.py`` repeats each score 10 times (``--metric_iteration 10``), each with a
fresh split, initialisation and batches, and reports the mean; :func:`sequence_scores`
does the same and adds the standard error.

Where this module chooses for itself (the reference is silent or undefined):

* ``d = 1``: the reference would feed the predictor no input; here the single feature at
  steps ``0 … T−2`` predicts itself at steps ``1 … T−1``, with one hidden unit.
* Real and synthetic sets of different sizes (the reference assumes equal ones): the
  discriminative score uses a random ``min(N_real, N_fake)`` of each, so that the classes
  stay balanced and 0.5 stays the chance level.
* Initialisation: the Keras defaults of the reference's discriminator (Glorot-uniform input
  weights, orthogonal recurrent weights, zero biases) for both networks. PyTorch's GRU
  applies the reset gate after the recurrent product, as Keras's GRU does by default.
* Randomness comes from a local ``torch.Generator`` and a forked global RNG, so the global
  torch and NumPy states are untouched and a seed gives the same score on the CPU.

The autocorrelation error (:func:`acf_error`) is model-free: the mean absolute difference of
the real and synthetic per-feature autocorrelations at lags ``1 … max_lag``
(see :func:`autocorrelation` for the estimator).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from ganforge.errors import GanforgeError

Device = str | torch.device

METRICS = ("acf", "discriminative", "predictive")
TRAIN_SHARE = 0.8  # the reference's train_rate for the discriminative split
DEFAULT_REPEATS = 10  # main_timegan.py's --metric_iteration
_EVAL_CHUNK = 4096  # sequences per evaluation pass: bounds memory on large sets
_FLAT = 1e-20  # mean squared deviation below which a sequence counts as constant


# Input checks ---------------------------------------------------------------------------------


def _sequences(x: object, name: str, min_rows: int = 1, min_steps: int = 2) -> np.ndarray:
    """``x`` as a finite float64 ``(N, T, d)`` array, or a :class:`GanforgeError` saying why not."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise GanforgeError(f"{name} is not numeric ({err}); pass an (N, T, d) array") from err
    if a.ndim != 3 or a.shape[2] == 0:
        raise GanforgeError(
            f"{name} must be a 3-D (N, T, d) array of sequences, got shape {a.shape}; "
            "add a feature axis of size 1 to univariate series"
        )
    if len(a) < min_rows:
        raise GanforgeError(
            f"{name} holds {len(a)} sequence(s), fewer than {min_rows}; pass at least {min_rows}"
        )
    if a.shape[1] < min_steps:
        raise GanforgeError(
            f"{name} has {a.shape[1]} time step(s), fewer than {min_steps}; "
            f"pass sequences of at least {min_steps} steps"
        )
    if not np.isfinite(a).all():
        raise GanforgeError(f"{name} contains NaN or Inf; remove or fix those sequences")
    return a


def _same_shape(a: np.ndarray, b: np.ndarray, what: str, steps: bool = True) -> None:
    """Raise unless ``a`` and ``b`` have the same feature count (and length, if ``steps``)."""
    if a.shape[2] != b.shape[2] or (steps and a.shape[1] != b.shape[1]):
        raise GanforgeError(
            f"{what} have different shapes (N, {a.shape[1]}, {a.shape[2]}) and "
            f"(N, {b.shape[1]}, {b.shape[2]}); pass sequences of the same length and features"
        )


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise GanforgeError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _hidden(hidden: int | None, d: int) -> int:
    # int(d / 2) as in the reference, but at least one unit so that d = 1 works
    return max(1, d // 2) if hidden is None else _positive(hidden, "hidden")


# Autocorrelation ------------------------------------------------------------------------------


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
    x = _sequences(sequences, "sequences")
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
    lag = _positive(max_lag, "max_lag")
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
    a, b = _sequences(real, "real"), _sequences(fake, "fake")
    _same_shape(a, b, "real and fake")
    return float(np.abs(autocorrelation(a, max_lag) - autocorrelation(b, max_lag)).mean())


# Post-hoc networks ----------------------------------------------------------------------------


class _PostHocGRU(nn.Module):
    """One GRU layer and a linear read-out: of the last state, or of every step."""

    def __init__(self, features: int, hidden: int, every_step: bool) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)
        self.every_step = every_step
        # Keras's defaults, as in the reference's classifier (see the module docstring)
        nn.init.xavier_uniform_(self.gru.weight_ih_l0)
        nn.init.orthogonal_(self.gru.weight_hh_l0)
        nn.init.zeros_(self.gru.bias_ih_l0)
        nn.init.zeros_(self.gru.bias_hh_l0)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, last = self.gru(x)
        return self.out(steps if self.every_step else last[0])


def _network(
    features: int, hidden: int, every_step: bool, generator: torch.Generator, device: Device
) -> _PostHocGRU:
    """A freshly initialised :class:`_PostHocGRU`, seeded from ``generator``.

    Module construction draws from the global RNG; forking it keeps the caller's stream
    untouched while the draws still follow the seed.
    """
    init_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        net = _PostHocGRU(features, hidden, every_step)
    return net.to(device)


def _batch(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``min(size, n)`` distinct indices below ``n``, as the reference's batches are drawn."""
    return torch.randperm(n, generator=generator)[:size]


def _tensor(x: np.ndarray, device: Device) -> torch.Tensor:
    # a contiguous copy: torch cannot wrap arrays with negative strides (reversed views)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)


def _adam(net: nn.Module) -> torch.optim.Adam:
    # TensorFlow 1's AdamOptimizer() defaults, which are also PyTorch's
    return torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)


def _outputs(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The network's outputs on all of ``x``, in chunks, without building a graph."""
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i : i + _EVAL_CHUNK]) for i in range(0, len(x), _EVAL_CHUNK)])


# Discriminative score -------------------------------------------------------------------------


def discriminative_score(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    iterations: int = 2000,
    batch_size: int = 128,
    hidden: int | None = None,
    seed: int = 0,
    device: Device = "cpu",
) -> float:
    """TimeGAN's discriminative score: ``|accuracy − 0.5|`` of a post-hoc GRU classifier.

    A GRU classifier learns to tell real (label 1) from synthetic (label 0) sequences on 80 %
    of each set and is scored on the other 20 % (protocol in the module docstring). When the
    sets differ in size, a random ``min(N_real, N_fake)`` sequences of each are used.

    Args:
        real: ``(N, T, d)`` real sequences, each feature scaled to ``[0, 1]``; ``N ≥ 2``.
        fake: ``(M, T, d)`` synthetic sequences, scaled the same way; ``M ≥ 2``.
        iterations: Adam steps (the reference's 2000).
        batch_size: real and, again, synthetic sequences per step (the reference's 128).
        hidden: GRU units; default ``max(1, d // 2)``.
        seed: seed of the split, initialisation and batches.
        device: where the classifier runs.

    Returns:
        A float in ``[0, 0.5]``: 0 when the classifier does no better than chance, 0.5 when
        it separates the test sequences perfectly (or gets every one wrong).
    """
    a, b = _sequences(real, "real", min_rows=2), _sequences(fake, "fake", min_rows=2)
    _same_shape(a, b, "real and fake")
    iterations, batch_size = _positive(iterations, "iterations"), _positive(batch_size, "batch")
    generator = torch.Generator().manual_seed(int(seed))
    n = min(len(a), len(b))
    # balanced classes keep 0.5 the chance level of the accuracy
    a, b = (
        x[torch.randperm(len(x), generator=generator)[:n].numpy()] if len(x) > n else x
        for x in (a, b)
    )
    cut = int(n * TRAIN_SHARE)
    parts = []
    for x in (a, b):
        order = torch.randperm(n, generator=generator).numpy()
        parts.append((x[order[:cut]], x[order[cut:]]))
    (train_real, test_real), (train_fake, test_fake) = parts

    net = _network(a.shape[2], _hidden(hidden, a.shape[2]), False, generator, device)
    optimiser = _adam(net)
    # one tensor of both training parts lets each step run a single forward pass
    train = _tensor(np.concatenate([train_real, train_fake]), device)
    size = min(batch_size, cut)
    labels = torch.cat([torch.ones(size, 1), torch.zeros(size, 1)]).to(device)
    loss_fn = nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(iterations):
        rows = torch.cat([_batch(cut, size, generator), cut + _batch(cut, size, generator)])
        logits = net(train[rows.to(device)])
        # mean loss of each class, summed, as the reference weighs them
        loss = loss_fn(logits[:size], labels[:size]) + loss_fn(logits[size:], labels[size:])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    # logit > 0 is sigmoid > 0.5, the reference's threshold
    hits = int((_outputs(net, _tensor(test_real, device)) > 0).sum())
    hits += int((_outputs(net, _tensor(test_fake, device)) <= 0).sum())
    accuracy = hits / (len(test_real) + len(test_fake))
    return float(abs(accuracy - 0.5))


# Predictive score -----------------------------------------------------------------------------


def _inputs_targets(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (all features but the last, steps 0 … T−2) and targets (last feature, 1 … T−1).

    With one feature the inputs are that feature itself (the reference has no rule for it).
    """
    d = x.shape[2]
    inputs = x[:, :-1, : d - 1] if d > 1 else x[:, :-1, :]
    return inputs, x[:, 1:, d - 1 :]


def predictive_score(
    train: np.ndarray,
    test: np.ndarray,
    *,
    iterations: int = 5000,
    batch_size: int = 128,
    hidden: int | None = None,
    seed: int = 0,
    device: Device = "cpu",
) -> float:
    """TimeGAN's predictive score: one-step-ahead MAE on ``test`` of a GRU trained on ``train``.

    "Train on synthetic, test on real": pass synthetic sequences as ``train`` and real ones
    as ``test``; real ones as both (disjoint halves) give the floor a perfect generator would
    reach. Features ``0 … d−2`` at steps ``0 … T−2`` predict feature ``d−1`` at steps
    ``1 … T−1`` through a sigmoid output, trained with an L1 loss; with ``d = 1`` the feature
    predicts its own next value (protocol in the module docstring).

    Args:
        train: ``(N, T, d)`` sequences the predictor learns from, scaled to ``[0, 1]``.
        test: ``(M, T', d)`` sequences it is scored on, scaled the same way (``T'`` may
            differ from ``T``).
        iterations: Adam steps (the reference's 5000).
        batch_size: training sequences per step (the reference's 128).
        hidden: GRU units; default ``max(1, d // 2)``.
        seed: seed of the initialisation and batches.
        device: where the predictor runs.

    Returns:
        The mean absolute error over every test sequence and predicted step, in ``[0, 1]``
        for targets in ``[0, 1]``.
    """
    a, b = _sequences(train, "train"), _sequences(test, "test")
    _same_shape(a, b, "train and test", steps=False)
    iterations, batch_size = _positive(iterations, "iterations"), _positive(batch_size, "batch")
    generator = torch.Generator().manual_seed(int(seed))
    inputs, targets = (_tensor(x, device) for x in _inputs_targets(a))
    net = _network(inputs.shape[2], _hidden(hidden, a.shape[2]), True, generator, device)
    optimiser = _adam(net)
    net.train()
    for _ in range(iterations):
        rows = _batch(len(a), batch_size, generator).to(device)
        loss = (torch.sigmoid(net(inputs[rows])) - targets[rows]).abs().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    test_inputs, test_targets = _inputs_targets(b)
    predicted = torch.sigmoid(_outputs(net, _tensor(test_inputs, device)))
    return float(np.abs(predicted.cpu().double().numpy() - test_targets).mean())


# All together ---------------------------------------------------------------------------------


def _metric_names(metrics: str | Iterable[str]) -> list[str]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in names:
        if name not in METRICS:
            raise GanforgeError(f"unknown metric {name!r}; choose one of: {', '.join(METRICS)}")
    if not names:
        raise GanforgeError(f"no metric chosen; choose at least one of: {', '.join(METRICS)}")
    return list(dict.fromkeys(names))  # each once, in the order given


def _repeat_seed(seed: int, metric: str, repeat: int) -> int:
    """A seed of its own for each metric and repetition, from the one ``seed``."""
    key = (METRICS.index(metric), repeat)
    return int(np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1)[0])


def sequence_scores(
    real: np.ndarray,
    fake: np.ndarray,
    metrics: str | Iterable[str] = ("discriminative", "predictive", "acf"),
    *,
    repeats: int = DEFAULT_REPEATS,
    seed: int = 0,
    device: Device = "cpu",
    iterations: int | None = None,
) -> dict[str, float]:
    """The chosen sequence metrics of ``fake`` against ``real``, the learned ones repeated.

    The discriminative and predictive scores are each computed ``repeats`` times with
    different seeds (a fresh split, initialisation and batches each time), as
    ``main_timegan.py`` does 10 times, hence the default of 10. For the predictive score the
    predictor trains on ``fake`` and is tested on ``real``. Comparing two disjoint halves of
    the real data gives the scores of a perfect generator. On sines-size data
    (10,000 × 24 × 5) at one CPU thread a discriminative run takes about 9 s and a predictive
    run about 18 s, so the default 10 repeats of both take about 4½ minutes.

    Args:
        real: ``(N, T, d)`` real sequences, each feature scaled to ``[0, 1]``.
        fake: ``(M, T, d)`` synthetic sequences, scaled the same way.
        metrics: any of ``"acf"``, ``"discriminative"``, ``"predictive"``.
        repeats: runs of each learned metric (at least 1).
        seed: seed from which every run's own seed derives.
        device: where the learned metrics' networks run.
        iterations: training steps of both learned metrics; default each one's own
            (2000 discriminative, 5000 predictive).

    Returns:
        For each learned metric ``m``: ``m``, the mean over the runs, and ``m_se``, its
        standard error (sample standard deviation / √repeats; NaN for one run). For
        ``"acf"``: ``acf``, the :func:`acf_error` at the default lags.

    Raises:
        GanforgeError: an unknown metric name, bad shapes or a bad count.
    """
    names = _metric_names(metrics)
    repeats = _positive(repeats, "repeats")
    steps = {} if iterations is None else {"iterations": _positive(iterations, "iterations")}
    a, b = _sequences(real, "real"), _sequences(fake, "fake")
    _same_shape(a, b, "real and fake")
    out: dict[str, float] = {}
    for name in names:
        if name == "acf":
            out["acf"] = acf_error(a, b)
            continue
        runs = []
        for r in range(repeats):
            run_seed = _repeat_seed(seed, name, r)
            if name == "discriminative":
                runs.append(discriminative_score(a, b, seed=run_seed, device=device, **steps))
            else:
                runs.append(predictive_score(b, a, seed=run_seed, device=device, **steps))
        values = np.asarray(runs)
        out[name] = float(values.mean())
        out[f"{name}_se"] = (
            float(values.std(ddof=1) / math.sqrt(repeats)) if repeats > 1 else math.nan
        )
    return out
