"""The one error family of xemu.

Every error a user can hit is an :class:`XemuError` (a :class:`ValueError`), or one of its
subclasses, and its message names the argument, what was expected and what came.
"""

from __future__ import annotations

import inspect
import os
import warnings

__all__ = [
    "XemuError",
    "CoordinateError",
    "UnitsError",
    "GridError",
    "DataError",
    "ConfigError",
    "NotFittedError",
    "PathError",
    "warn",
]


class XemuError(ValueError):
    """Base class of all errors raised by xemu on bad input."""


class CoordinateError(XemuError):
    """A time, latitude or longitude coordinate is missing or malformed."""


class UnitsError(XemuError):
    """Units are missing, unparsable or incompatible with what is expected."""


class GridError(XemuError):
    """Grids of inputs, targets or a trained emulator do not match."""


class DataError(XemuError):
    """The data itself is unusable: NaNs in targets, too few months, unknown variables."""


class ConfigError(XemuError):
    """An option or configuration value is invalid."""


class NotFittedError(XemuError):
    """An emulator was used for prediction before it was fitted."""


class PathError(XemuError):
    """A path cannot be read or written as asked: it is missing, of the wrong kind, or holds
    something that xemu did not write and will not replace."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn with the location of the first caller outside xemu (the user's line, not ours)."""
    frame = inspect.currentframe()  # warn()'s own frame, replaced at once by its caller's (no cycle kept)
    level, frame = 2, frame.f_back if frame is not None else None  # stacklevel 2: the frame that called warn()
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)
