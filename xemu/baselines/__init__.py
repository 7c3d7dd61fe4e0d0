r"""Baselines with the emulator's interface: :class:`LinearPatternScaling` (ridge regression
per calendar month on the global-mean inputs, :mod:`~xemu.baselines.linear` and
:mod:`~xemu.baselines.regression`), :class:`EnergyBalancePatternScaling` (patterns on the
global-mean temperature of an energy-balance model, :mod:`~xemu.baselines.energy_balance` and
:mod:`~xemu.baselines.global_response`) and :class:`Climatology` (:mod:`~xemu.baselines.climatology`),
all :class:`~xemu.baselines.base.Baseline`\ s. The CNN-GRU corrects one of them; each is also a
model of its own (``fit(model="linear" | "energy-balance" | "climatology")``,
:data:`~xemu.baselines.registry.BASELINES`).
"""

from .climatology import Climatology
from .energy_balance import EnergyBalancePatternScaling
from .linear import LinearPatternScaling
from .registry import BASELINES, load_baseline

__all__ = ["LinearPatternScaling", "EnergyBalancePatternScaling", "Climatology", "BASELINES", "load_baseline"]
