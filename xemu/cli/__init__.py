"""The ``xemu`` command: ``demo``, ``fit``, ``predict``, ``evaluate`` (:func:`main`)."""

from .main import main

__all__ = ["main"]
