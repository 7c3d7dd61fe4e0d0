"""Baselines with the emulator's interface: :class:`LinearPatternScaling` (ridge regression
per calendar month on the global-mean inputs, :mod:`~xemu.baselines.regression`) and
:class:`Climatology`. The CNN-GRU corrects one of them; each is also a model of its own.
"""

from .core import BASELINES, Climatology, LinearPatternScaling, load_baseline

__all__ = ["LinearPatternScaling", "Climatology", "BASELINES", "load_baseline"]
