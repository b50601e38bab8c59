"""Sequences: ``(N, T, d)`` windows of time series, from the built-ins (``sines``,
``macro``), a float ``.npy``/``.npz`` array, or a long CSV (``--entity``, ``--time``,
``--seq-len``, ``--stride``). The networks see each feature min-max scaled to ``[0, 1]``
(TimeGAN's scaling), samples come back in data units, and the metrics are TimeGAN's
(discriminative, predictive) and the autocorrelation error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ganforge.config import TrainConfig
from ganforge.data.sequences import (
    SequenceSource,
    is_sequence_data,
    load_sequences,
    write_long_csv,
)
from ganforge.errors import GanforgeError
from ganforge.metrics.sequences import METRICS, sequence_scores
from ganforge.modalities.base import Evaluation, Model
from ganforge.modalities.tensor import PLAIN, TensorModality, TensorModel
from ganforge.run import RunDir
from ganforge.seeds import seeds

DEFAULT_METRICS = ("discriminative", "predictive", "acf")  # ganforge eval's, in this order

# Settings for every sequence data set over the generic defaults (chosen on sines and
# checked on macro; benchmarks/RESULTS.md, sequences): the recurrent generator with one
# code per sequence, the temporal-convolution discriminator, no EMA ramp beyond the usual.
KIND_PRESETS: dict[str, Any] = {
    "steps": 6000,
    "batch_size": 128,
    "latent_dim": 4,  # noise per step, and the size of the sequence's code
    "g_width": 64,
    "g_depth": 2,
    "d_width": 64,
    "d_depth": 3,
    "lr_g": 1e-3,
    "lr_d": 1e-3,
    "beta1": 0.5,
    "beta2": 0.99,
    "r1_gamma": 0.1,
    "eval_every": 0,
    "sample_every": 1000,
}


# The built-in sets' own settings. sines: the discriminative score falls until about 8,000
# steps (0.040 at 4,000, 0.028 at 6,000, 0.019 at 8,000 and 10,000 on one seed); macro's
# 180 windows need fewer (3,000 steps are about 2,100 passes).
PRESETS: dict[str, dict[str, Any]] = {"sines": {"steps": 10000}, "macro": {"steps": 3000}}


class SequenceModel(TensorModel):
    """A sequence model: a :class:`TensorModel` whose ``--eval-every`` scores are the
    sequence metrics (the autocorrelation error unless ``--eval-metrics`` says otherwise)."""

    def evaluation(self) -> Evaluation | None:
        cfg = self.config_
        if not cfg.eval_every:
            return None
        names = [m.strip() for m in cfg.eval_metrics.split(",") if m.strip()] or ["acf"]
        metrics = checked_metrics(names, " in --eval-metrics")
        key = cfg.best_metric or metrics[0]
        if key not in metrics:
            raise GanforgeError(
                f"--best-metric {key!r} is not among --eval-metrics ({', '.join(metrics)})"
            )
        source = self.source_
        n = min(cfg.eval_n or 1000, len(source))

        def scores() -> dict[str, Any]:
            real = scaled(self, source.reference(n, seed=cfg.seed))
            fake = scaled(self, self.sample(n, seed=cfg.seed + 1, **PLAIN))
            return score(real, fake, metrics, seed=cfg.seed, repeats=1)

        return scores, key


def checked_metrics(names: list[str], where: str = "") -> list[str]:
    """``names`` when each is a sequence metric; else a clear error naming the choices."""
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise GanforgeError(
            f"unknown sequence metric {unknown[0]!r}{where}; choose from {', '.join(METRICS)}"
        )
    return names


def scaled(model: TensorModel, x: np.ndarray) -> np.ndarray:
    """Sequences in data units → the ``[0, 1]`` scale of ``model``'s training data."""
    shift, scale = model.shift_.numpy(), model.scale_.numpy()
    return ((x - shift) / scale).astype(np.float32)


def score(
    real: np.ndarray, fake: np.ndarray, metrics: list[str], *, seed: int, repeats: int = 0
) -> dict[str, float]:
    """The sequence ``metrics`` of ``fake`` against ``real``, both scaled to ``[0, 1]``
    (``repeats``: runs of each learned metric, 0 = the module's default)."""
    options = {"repeats": repeats} if repeats else {}
    return sequence_scores(real, fake, tuple(metrics), seed=seed, **options)


class Sequences(TensorModality):
    """The sequences modality."""

    kind = "sequences"
    model_class = SequenceModel
    kind_presets = KIND_PRESETS
    presets = PRESETS
    outputs = (".npy", ".npz", ".csv", ".png")

    def accepts(self, data: Any, options: Mapping[str, Any]) -> bool:
        return is_sequence_data(data, options)

    def load_source(self, data: Any, cfg: TrainConfig, seed: int) -> SequenceSource:
        found = load_sequences(
            data, seq_len=cfg.seq_len, stride=cfg.stride, entity=cfg.entity, time=cfg.time,
            seed=seed,
        )  # fmt: skip
        return SequenceSource(found, seed=seed)

    def data_info(self, source: SequenceSource) -> dict[str, Any]:
        """:meth:`TensorModality.data_info` with the features' names, the long CSV's
        entity and time columns and the number of windows."""
        return {
            **super().data_info(source),
            "features": list(source.features),
            "entity": source.sequences.entity,
            "time": source.sequences.time,
            "windows": len(source),
        }

    def decode(self, model: TensorModel, x: Tensor) -> np.ndarray:
        """Float32 sequences ``(N, T, d)`` in data units."""
        return (x.float().cpu() * model.scale_ + model.shift_).numpy().astype(np.float32)

    def _features(self, model: TensorModel) -> list[str]:
        info = model.data_info_
        return info.get("features") or [f"x{i}" for i in range(info["shape"][-1])]

    def preview(self, model: TensorModel, path: Path, title: str, refine: bool) -> None:
        from ganforge.sequence_plots import sequence_plot

        how = {} if refine else PLAIN
        if model.reference_ is None:  # the same real series in every plot
            model.reference_ = model.source_.reference(64, seed=model.config_.seed)
        fake = model.sample(64, **how)
        sequence_plot(path, model.reference_, fake, self._features(model), f"{model.name}, {title}")

    def extra_pictures(self, model: TensorModel, run: RunDir) -> None:
        """``pca.png`` and ``tsne.png``: real and generated sequences in the plane."""
        from ganforge.sequence_plots import embedding_plot

        source, seed = model.source_, model.config_.seed
        n = min(1000, len(source))
        real = scaled(model, source.reference(n, seed=seed))
        fake = scaled(model, model.sample(n, seed=seed))
        for method in ("pca", "tsne"):
            embedding_plot(run.samples / f"{method}.png", real, fake, method, seed)

    def write_samples(self, samples: np.ndarray, path: Path, model: Model | None = None) -> None:
        """``.npy`` ``(N, T, d)``, ``.npz`` (key ``x``), a long ``.csv`` (entity and time
        columns, then the features) or a ``.png`` of the series."""
        info = model.data_info_ if isinstance(model, TensorModel) else {}
        features = self._features(model) if info else [f"x{i}" for i in range(samples.shape[2])]
        suffix = path.suffix.lower()
        if suffix == ".npy":
            np.save(path, samples)
        elif suffix == ".npz":
            np.savez(path, x=samples)
        elif suffix == ".csv":
            write_long_csv(samples, path, features, info.get("entity"), info.get("time"))
        else:
            from ganforge.sequence_plots import sequence_plot

            sequence_plot(path, samples, samples[:0], features, f"{len(samples)} samples")

    def evaluate(
        self,
        model: Model,
        *,
        metrics: list[str] | None = None,
        n: int | None = None,
        features: str = "raw",
        data: Any = None,
        seed: int = 0,
        target: Any = None,
        repeats: int = 0,
    ) -> dict[str, Any]:
        """TimeGAN's scores of ``n`` generated sequences (default: as many as the data has
        windows) against the training windows (or ``data``), both scaled by the training
        data's minima and ranges: ``discriminative``, ``predictive`` and ``acf``."""
        if target is not None or features != "raw":
            raise GanforgeError("--target and --features apply to tables and pictures")
        metrics = checked_metrics(list(metrics or DEFAULT_METRICS))
        cfg = model.config_  # type: ignore[attr-defined]
        name = data or cfg.data
        if name == "array":
            raise GanforgeError(
                "this run was trained on an in-memory array; pass the real data with --data PATH"
            )
        source = self.load_source(name, cfg, seeds(cfg.seed)[2])
        n = min(n or len(source), len(source))
        real = scaled(model, source.reference(n, seed=seed))  # type: ignore[arg-type]
        fake = scaled(model, model.sample(n, seed=seed))  # type: ignore[arg-type]
        return {"n": n, **score(real, fake, metrics, seed=seed, repeats=repeats)}

    def summary(self, model: TensorModel, out: Path) -> Iterable[str]:
        yield (
            f"run written to {out}/ (samples/final.png, pca.png, tsne.png, losses.png, "
            "metrics.jsonl, checkpoints/)"
        )
