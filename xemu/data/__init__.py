"""The ground floor: what a climate Dataset means to xemu, before any model.

Modules: :mod:`~xemu.data.coords` (coordinate roles and grid alignment),
:mod:`~xemu.data.units` (pint-checked units), :mod:`~xemu.data.grid` (latitude weights),
:mod:`~xemu.data.encoding` (the seasonal encoding), :mod:`~xemu.data.checks` (checks of a
Dataset, its variables, time, dtypes and values), :mod:`~xemu.data.prepare` (checked arrays
from a Dataset), :mod:`~xemu.data.labels` (from arrays back to a labelled Dataset),
:mod:`~xemu.data.windows` (12-month windows),
:mod:`~xemu.data.readers` (the CSE 151B store) and :mod:`~xemu.data.synthetic` (a synthetic
climate). It knows nothing of networks, baselines, metrics or files on disk.
"""
