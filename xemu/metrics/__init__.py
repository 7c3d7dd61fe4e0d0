"""Scores as labelled DataArrays: :mod:`~xemu.metrics.deterministic` (the study's area-weighted
metrics, re-exported here) and :mod:`~xemu.metrics.probabilistic` (ensemble CRPS,
spread-skill and rank histograms). Metrics read predictions and truth only; they know nothing
of how a prediction was made.
"""

from .deterministic import (
    METRICS,
    area_weights,
    competition_score,
    monthly_rmse,
    noise_floor,
    nrmse,
    score,
    time_mean_rmse,
    time_stddev_mae,
)

__all__ = ["area_weights", "monthly_rmse", "time_mean_rmse", "time_stddev_mae", "METRICS", "score",
           "competition_score", "nrmse", "noise_floor"]
