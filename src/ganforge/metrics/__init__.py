"""Metrics of generated samples."""

from ganforge.metrics.distances import (
    RunningStats,
    frechet_distance,
    frechet_from_stats,
    gaussian_stats,
    kid,
    prdc,
)
from ganforge.metrics.modes import mode_stats, true_width
from ganforge.metrics.scores import classifier_score, label_stats
from ganforge.metrics.sequences import (
    acf_error,
    discriminative_score,
    predictive_score,
    sequence_scores,
)
from ganforge.metrics.stacked import stacked_modes, triple_stats

__all__ = [
    "RunningStats",
    "acf_error",
    "classifier_score",
    "discriminative_score",
    "frechet_distance",
    "frechet_from_stats",
    "gaussian_stats",
    "kid",
    "label_stats",
    "mode_stats",
    "prdc",
    "predictive_score",
    "sequence_scores",
    "stacked_modes",
    "triple_stats",
    "true_width",
]
