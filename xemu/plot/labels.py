"""What every figure of :mod:`xemu.plot` shares: matplotlib imported on demand, labels from the
data's attrs (``long_name [units]``), units made alike, and time axes for any calendar."""

from __future__ import annotations

import importlib.util

import numpy as np
import xarray as xr

from ..data.coords import find_dim, is_datetime_like
from ..data.units import convert_units, units_of

__all__ = ["INSTALL", "pyplot", "name_of", "label_of", "scalar_coords", "in_units_of", "decimal_years", "time_axis",
           "lat_lon", "reduce_hint"]

#: How to install what the figures need (matplotlib, and the land outlines of the maps).
INSTALL = 'pip install "xemu[plot]"'


def pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it.

    Examples
    --------
    >>> from xemu.plot.labels import pyplot
    >>> pyplot().__name__
    'matplotlib.pyplot'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(f"xemu.plot needs matplotlib, which is not installed: {INSTALL}") from err
    return plt


def name_of(da: xr.DataArray, default: str = "data") -> str:
    """What ``da`` is: its ``long_name``, else its ``standard_name``, else its name, else ``default``.

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot.labels import name_of
    >>> name_of(xr.DataArray(1.0, name="tas", attrs={"long_name": "near-surface air temperature"}))
    'near-surface air temperature'
    """
    return str(da.attrs.get("long_name") or da.attrs.get("standard_name") or da.name or default)


def label_of(da: xr.DataArray, default: str = "data") -> str:
    """``long_name [units]``, as xarray labels its plots.

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot.labels import label_of
    >>> label_of(xr.DataArray(1.0, name="tas", attrs={"units": "K"}))
    'tas [K]'
    """
    units = units_of(da)
    return name_of(da, default) + (f" [{units}]" if units else "")


def scalar_coords(da: xr.DataArray) -> str:
    """The scalar coordinates of ``da`` as ``name = value, ...`` (dates as ``YYYY-MM-DD``), for a title.

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot.labels import scalar_coords
    >>> scalar_coords(xr.DataArray(1.0, coords={"scenario": "low", "member": 0}))
    'scenario = low, member = 0'
    """
    parts = []
    for name, coord in da.coords.items():
        if coord.ndim == 0 and name not in da.dims:
            value = coord.values.item() if hasattr(coord.values, "item") else coord.values
            if is_datetime_like(coord.values):
                value = str(value)[:10]
            parts.append(f"{name} = {value}")
    return ", ".join(parts)


def in_units_of(da: xr.DataArray, ref: xr.DataArray, name: str) -> xr.DataArray:
    """``da`` converted to ``ref``'s units when both carry units and they differ (errors name ``name``).

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot.labels import in_units_of
    >>> pr = xr.DataArray([1.0], dims="t", attrs={"units": "mm/day"})
    >>> in_units_of(pr, xr.DataArray([0.0], dims="t", attrs={"units": "mm/day"}), name="pr") is pr
    True
    """
    have, want = units_of(da), units_of(ref)
    if have is None or want is None or have == want:
        return da
    return convert_units(da, want, name=name)


def decimal_years(values) -> np.ndarray:
    """Dates as decimal years (``2015.0`` is 1 January 2015), for any cftime calendar.

    Parameters
    ----------
    values : array-like of cftime dates or numpy datetime64

    Examples
    --------
    >>> import cftime
    >>> from xemu.plot import decimal_years
    >>> decimal_years([cftime.DatetimeNoLeap(2015, 1, 1), cftime.DatetimeNoLeap(2015, 7, 2, 12)])
    array([2015. , 2015.5])
    """
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        import pandas as pd

        values = pd.DatetimeIndex(values.ravel()).to_pydatetime()
    out = []
    for d in values.ravel():
        start = d.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=d.year + 1)
        out.append(d.year + (d - start) / (end - start))
    return np.asarray(out, dtype=float).reshape(np.shape(values))


def time_axis(time: xr.DataArray):
    """x values for a time coordinate and the axis label: numpy dates as they are, cftime dates
    through nc-time-axis when it is installed, else as decimal years (the label says ``[year]``).

    Examples
    --------
    >>> import xemu
    >>> from xemu.plot.labels import time_axis
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)
    >>> x, label = time_axis(ds.time)
    >>> len(x), label.startswith("time")
    (12, True)
    """
    label = str(time.attrs.get("long_name") or time.attrs.get("standard_name") or time.name)
    values = np.asarray(time.values)
    if np.issubdtype(values.dtype, np.datetime64):
        return values, label
    if is_datetime_like(values):
        if importlib.util.find_spec("nc_time_axis") is not None:
            import nc_time_axis  # noqa: F401  (registers matplotlib converters for cftime dates)

            return values, label
        return decimal_years(values), f"{label} [year]"
    return values, label_of(time, label)


def lat_lon(da: xr.DataArray, name: str) -> tuple[str, str]:
    """The latitude and longitude dims of ``da`` (:func:`~xemu.data.coords.find_dim`; errors name ``name``).

    Examples
    --------
    >>> import xemu
    >>> from xemu.plot.labels import lat_lon
    >>> lat_lon(xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)["tas"], "tas")
    ('lat', 'lon')
    """
    return find_dim(da, "latitude", name=name), find_dim(da, "longitude", name=name)


def reduce_hint(dim: str) -> str:
    """How to select or reduce ``dim``, for a message.

    Examples
    --------
    >>> from xemu.plot.labels import reduce_hint
    >>> reduce_hint("member")
    'e.g. .isel(member=0) or .mean("member")'
    """
    return f'e.g. .isel({dim}=0) or .mean("{dim}")'
