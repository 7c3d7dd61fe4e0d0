"""xemu: xarray-native emulation of climate models.

``import xemu`` registers the ``.emu`` accessor on Datasets and DataArrays and stays quick:
torch is imported only when an emulator is built, trained, loaded or used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import coords, encoding, metrics, units
from .accessor import EmuAccessor
from .datasets import find_cse151b, open_cse151b, synthetic_climate
from .encoding import encode_season
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
from .metrics import (
    area_weights,
    competition_score,
    monthly_rmse,
    noise_floor,
    nrmse,
    score,
    time_mean_rmse,
    time_stddev_mae,
)
from .units import declare_units
from .windows import windows

try:
    __version__ = version("xemu")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_LAZY = {
    "Emulator": "emulator",
    "fit": "emulator",
    "load": "emulator",
    "LinearPatternScaling": "baselines",
    "Climatology": "baselines",
    "evaluate": "evaluate",
    "ModelConfig": "nn.model",
    "TrainConfig": "training",
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
