r"""Baselines with the emulator's interface: :class:`LinearPatternScaling` (ridge regression
per calendar month on the global-mean inputs, :mod:`~xemu.baselines.linear` and
:mod:`~xemu.baselines.regression`) and :class:`Climatology` (:mod:`~xemu.baselines.climatology`),
both :class:`~xemu.baselines.base.Baseline`\ s. The CNN-GRU corrects one of them; each is also a
model of its own (``fit(model="linear" | "climatology")``, :data:`~xemu.baselines.registry.BASELINES`).
"""

from .climatology import Climatology
from .linear import LinearPatternScaling
from .registry import BASELINES, load_baseline

__all__ = ["LinearPatternScaling", "Climatology", "BASELINES", "load_baseline"]
