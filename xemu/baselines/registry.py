"""The baselines by the name ``fit(model=...)`` takes, and :func:`~xemu.baselines.registry.load_baseline`."""

from __future__ import annotations

import os

from ..errors import DataError, XemuError
from ..io.baseline_format import read_baseline_file
from .climatology import Climatology
from .energy_balance import EnergyBalancePatternScaling
from .linear import LinearPatternScaling

__all__ = ['BASELINES', 'load_baseline']


#: Baselines by the name ``fit(model=...)`` takes.
BASELINES = {"linear": LinearPatternScaling, "climatology": Climatology,
             "energy-balance": EnergyBalancePatternScaling}


def load_baseline(path: str | os.PathLike):
    """Load a baseline saved with ``save`` (netCDF only; no code runs), after checking it.

    Raises
    ------
    PathError
        ``path`` is missing or a folder.
    DataError
        ``path`` is not a netCDF file xemu can read, or not a valid xemu baseline (see
        :func:`xemu.io.read_baseline_file`); the message names the file.
    """
    params = read_baseline_file(path)
    baseline = BASELINES[params.attrs["xemu_kind"]].from_params(params)
    try:
        baseline.variability  # noqa: B018 (read and check the variability model now, not at the first predict)
    except XemuError as err:
        raise DataError(f"{path}: {err}") from None
    return baseline
