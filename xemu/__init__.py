"""xemu: xarray-native emulation of climate models.

``import xemu`` registers the ``.emu`` accessor on Datasets and DataArrays and stays quick:
torch is imported only when an emulator is built, trained, loaded or used.
"""

from __future__ import annotations

from . import metrics
from .accessor import EmuAccessor
from .data import coords, encoding, units
from .data.encoding import encode_season
from .data.readers import find_cse151b, open_cse151b
from .data.synthetic import synthetic_climate
from .data.units import declare_units
from .data.windows import windows
from .errors import (
    ConfigError,
    CoordinateError,
    DataError,
    GridError,
    NotFittedError,
    PathError,
    UnitsError,
    XemuError,
)
from .metrics.deterministic import (
    area_weights,
    competition_score,
    monthly_rmse,
    noise_floor,
    nrmse,
    score,
    time_mean_rmse,
    time_stddev_mae,
)
from .version import __version__ as __version__  # re-exported: xemu.__version__

_LAZY = {
    "Emulator": "emulator",
    "fit": "emulator",
    "load": "emulator",
    "LinearPatternScaling": "baselines.linear",
    "Climatology": "baselines.climatology",
    "EnergyBalancePatternScaling": "baselines.energy_balance",
    "evaluate": "evaluation",
    "ModelConfig": "nn.model",
    "TrainConfig": "nn.training",
}
#: Submodules imported on first access (``xemu.plot`` needs matplotlib only when it draws).
_LAZY_MODULES = ("plot",)

__all__ = [
    "EmuAccessor",
    "ConfigError",
    "CoordinateError",
    "DataError",
    "GridError",
    "NotFittedError",
    "PathError",
    "UnitsError",
    "XemuError",
    "area_weights",
    "competition_score",
    "coords",
    "declare_units",
    "encode_season",
    "encoding",
    "find_cse151b",
    "metrics",
    "monthly_rmse",
    "noise_floor",
    "nrmse",
    "open_cse151b",
    "score",
    "synthetic_climate",
    "time_mean_rmse",
    "time_stddev_mae",
    "units",
    "windows",
    *_LAZY,
    *_LAZY_MODULES,
]


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"xemu.{_LAZY[name]}"), name)
    if name in _LAZY_MODULES:
        from importlib import import_module

        return import_module(f"xemu.{name}")
    raise AttributeError(f"module 'xemu' has no attribute {name!r}")
