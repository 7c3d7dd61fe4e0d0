"""The baselines by the name ``fit(model=...)`` takes, and :func:`~xemu.baselines.registry.load_baseline`."""

from __future__ import annotations

import os

from ..errors import ConfigError, DataError, XemuError
from ..io.baseline_format import read_baseline_file
from .climatology import Climatology
from .energy_balance import ROLES, EnergyBalancePatternScaling
from .linear import LinearPatternScaling

__all__ = ['BASELINES', 'load_baseline', 'resolve_baseline']


#: Baselines by the name ``fit(model=...)`` takes.
BASELINES = {"linear": LinearPatternScaling, "climatology": Climatology,
             "energy-balance": EnergyBalancePatternScaling}


def resolve_baseline(baseline, inputs, targets, *, baseline_inputs=None) -> str | None:
    """The baseline a CNN-GRU fit corrects: ``baseline`` itself, or what ``"auto"`` (the default) means.

    ``"auto"`` is ``"energy-balance"`` when the fit can give it what it needs: cumulative CO2
    emissions among the inputs (``"CO2"``, :data:`~xemu.baselines.energy_balance.ROLES`),
    ``"tas"`` among the targets and no ``baseline_inputs`` of the user's, in memory and streamed
    alike (``fit(..., stream=True)``). Otherwise it is ``"linear"``. The energy-balance
    baseline extrapolates to scenarios never run better than ``"linear"`` and is no worse on the
    study's protocol (the user guide's "Scenarios never run"). The emulator records which one
    it corrects (``Emulator.baseline``).
    """
    if baseline != "auto":
        if baseline is not None and baseline not in BASELINES:
            raise ConfigError(f"baseline: expected 'auto', one of {list(BASELINES)} or None; got {baseline!r}")
        return baseline
    physical = ROLES["co2"] in list(inputs) and "tas" in list(targets) and baseline_inputs is None
    return "energy-balance" if physical else "linear"


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
