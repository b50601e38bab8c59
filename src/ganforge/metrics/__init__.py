"""Metrics of generated samples."""

from ganforge.metrics.modes import mode_stats

__all__ = ["mode_stats"]
