"""Internal variability around a forced response: calibration of the variance, residual
models that draw realizations (:class:`ResidualModel`, parametric;
:class:`~xemu.variability.bootstrap.BlockBootstrap`, whole years resampled), and anchoring of
draws to the forced response. It works on predictions and residuals as DataArrays and knows
nothing of the network that made them.
"""

from .bootstrap import BlockBootstrap
from .core import (
    ANCHORS,
    BLOCK_MONTHS,
    KINDS,
    OUTPUTS,
    PHI_MAX,
    QUANTILE_LEVELS,
    ResidualModel,
    Variability,
    anchor_blocks,
    anchor_draws,
    anchor_years,
    apply,
    calibrate,
    hold_block_means,
    keep_mean_clip,
    variance_ratio,
)

__all__ = ['ResidualModel', 'BlockBootstrap', 'Variability', 'variance_ratio', 'calibrate', 'keep_mean_clip',
           'apply', 'OUTPUTS', 'anchor_draws', 'anchor_blocks', 'anchor_years', 'hold_block_means', 'ANCHORS',
           'BLOCK_MONTHS', 'KINDS', 'QUANTILE_LEVELS', 'PHI_MAX']
