"""Internal variability around a forced response: calibration of the variance
(:mod:`~xemu.variability.calibration`), residual models that draw realizations
(:class:`~xemu.variability.ResidualModel`, parametric, :mod:`~xemu.variability.parametric`;
:class:`~xemu.variability.bootstrap.BlockBootstrap`, whole years resampled; both built on
:mod:`~xemu.variability.residuals`), anchoring of draws to the forced response
(:mod:`~xemu.variability.anchor`), and the :class:`~xemu.variability.Variability` an emulator keeps
(:mod:`~xemu.variability.core`). It works on predictions and residuals as DataArrays and
knows nothing of the network that made them.
"""

from .anchor import ANCHORS, anchor_blocks, anchor_draws, anchor_years, hold_block_means
from .bootstrap import BlockBootstrap
from .calibration import (
    BLOCK_MONTHS,
    added_variance_ratio,
    calibrate,
    internal_variance,
    keep_mean_clip,
    variance_ratio,
)
from .copula import QUANTILE_LEVELS
from .core import OUTPUTS, Variability, apply
from .parametric import ResidualModel
from .parametric_fit import PHI_MAX
from .residuals import KINDS

__all__ = ['ResidualModel', 'BlockBootstrap', 'Variability', 'variance_ratio', 'internal_variance',
           'added_variance_ratio', 'calibrate', 'keep_mean_clip', 'apply', 'OUTPUTS', 'anchor_draws', 'anchor_blocks', 'anchor_years', 'hold_block_means', 'ANCHORS',
           'BLOCK_MONTHS', 'KINDS', 'QUANTILE_LEVELS', 'PHI_MAX']
