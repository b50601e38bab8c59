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
from ganforge.metrics.posthoc_gru import adam, batch, hidden_units, network, outputs, tensor
from ganforge.metrics.sequence_acf import acf_error, autocorrelation
from ganforge.metrics.sequence_checks import Device, as_sequences, positive, same_shape

METRICS = ("acf", "discriminative", "predictive")
TRAIN_SHARE = 0.8  # the reference's train_rate for the discriminative split
DEFAULT_REPEATS = 10  # main_timegan.py's --metric_iteration


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
    a, b = as_sequences(real, "real", min_rows=2), as_sequences(fake, "fake", min_rows=2)
    same_shape(a, b, "real and fake")
    iterations, batch_size = positive(iterations, "iterations"), positive(batch_size, "batch")
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

    net = network(a.shape[2], hidden_units(hidden, a.shape[2]), False, generator, device)
    optimiser = adam(net)
    # one tensor of both training parts lets each step run a single forward pass
    train = tensor(np.concatenate([train_real, train_fake]), device)
    size = min(batch_size, cut)
    labels = torch.cat([torch.ones(size, 1), torch.zeros(size, 1)]).to(device)
    loss_fn = nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(iterations):
        rows = torch.cat([batch(cut, size, generator), cut + batch(cut, size, generator)])
        logits = net(train[rows.to(device)])
        # mean loss of each class, summed, as the reference weighs them
        loss = loss_fn(logits[:size], labels[:size]) + loss_fn(logits[size:], labels[size:])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    # logit > 0 is sigmoid > 0.5, the reference's threshold
    hits = int((outputs(net, tensor(test_real, device)) > 0).sum())
    hits += int((outputs(net, tensor(test_fake, device)) <= 0).sum())
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
    a, b = as_sequences(train, "train"), as_sequences(test, "test")
    same_shape(a, b, "train and test", steps=False)
    iterations, batch_size = positive(iterations, "iterations"), positive(batch_size, "batch")
    generator = torch.Generator().manual_seed(int(seed))
    inputs, targets = (tensor(x, device) for x in _inputs_targets(a))
    net = network(inputs.shape[2], hidden_units(hidden, a.shape[2]), True, generator, device)
    optimiser = adam(net)
    net.train()
    for _ in range(iterations):
        rows = batch(len(a), batch_size, generator).to(device)
        loss = (torch.sigmoid(net(inputs[rows])) - targets[rows]).abs().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    test_inputs, test_targets = _inputs_targets(b)
    predicted = torch.sigmoid(outputs(net, tensor(test_inputs, device)))
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
    repeats = positive(repeats, "repeats")
    steps = {} if iterations is None else {"iterations": positive(iterations, "iterations")}
    a, b = as_sequences(real, "real"), as_sequences(fake, "fake")
    same_shape(a, b, "real and fake")
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


__all__ = [
    "DEFAULT_REPEATS",
    "METRICS",
    "TRAIN_SHARE",
    "acf_error",
    "autocorrelation",
    "discriminative_score",
    "predictive_score",
    "sequence_scores",
]
