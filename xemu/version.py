"""The installed version of xemu (``xemu.__version__``), readable by every layer."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("xemu")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
