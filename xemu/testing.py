"""Helpers for testing code that uses xemu: a synthetic climate, a tiny network, assertions.

Examples
--------
>>> import xemu.testing as xt
>>> ds = xt.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
>>> xt.assert_units_equal(ds.tas, ds.tas)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data.coords import roles
from .data.synthetic import synthetic_climate
from .data.units import parse_units, units_of

__all__ = ["synthetic_climate", "synthetic_cmip6", "TINY_CONFIG", "assert_units_equal", "assert_same_grid"]

#: A network small enough to train in a second on a few-cell grid (for tests and docs).
TINY_CONFIG = {"conv_widths": (4, 4), "conv_strides": (2, 1), "hidden": 8, "head_hidden": 8}


def synthetic_cmip6(*, n_years: int = 30, n_lat: int = 6, n_lon: int = 8,
                    scenarios: tuple[str, ...] = ("ssp119", "ssp245", "ssp460"), n_members: int = 3,
                    start: str = "2015-01-01", seed: int = 0) -> xr.Dataset:
    """:func:`synthetic_climate` laid out as a CMIP6 ensemble is once opened with xarray.

    Dims ``experiment_id`` (the ``scenarios``), ``variant_label`` (``r1i1p1f1``, ``r2i1p1f1``, ...),
    ``time``, ``lat``, ``lon``; time on the Gregorian calendar as :class:`numpy.datetime64`
    (what xarray decodes a ``standard`` calendar to), in the middle of each month as CMIP6
    monthly files have it; ``pr`` in the CMIP6 units ``kg m-2 s-1``. The forcings keep the
    synthetic climate's names (``CO2``, ``CH4``, ``SO2``, ``BC``, ``rsdt``) and units.

    Examples
    --------
    >>> import xemu.testing as xt
    >>> ds = xt.synthetic_cmip6(n_years=2, n_lat=4, n_lon=6)
    >>> ds.tas.dims, ds.variant_label.values.tolist(), str(ds.time.values[0])[:10]
    (('experiment_id', 'variant_label', 'time', 'lat', 'lon'), ['r1i1p1f1', 'r2i1p1f1', 'r3i1p1f1'], '2015-01-16')
    """
    import pandas as pd

    from .data.units import convert_units

    ds = synthetic_climate(n_years=n_years, n_lat=n_lat, n_lon=n_lon, scenarios=scenarios, n_members=n_members,
                           start=start, calendar="standard", seed=seed)
    ds = ds.drop_vars(["tas_forced", "pr_forced"]).rename(scenario="experiment_id", member="variant_label")
    first = pd.date_range(start, periods=ds.sizes["time"], freq="MS")
    middle = first + (first + pd.offsets.MonthBegin(1) - first) / 2
    ds = ds.assign_coords(
        time=("time", middle.values, {"standard_name": "time", "axis": "T"}),
        variant_label=("variant_label", [f"r{i + 1}i1p1f1" for i in range(n_members)],
                       {"long_name": "variant label"}),
        experiment_id=("experiment_id", list(scenarios), {"long_name": "experiment identifier"}))
    ds["pr"] = convert_units(ds["pr"], "kg m-2 s-1")
    ds["pr"].attrs.pop("xemu_units_converted", None)
    ds["pr"].attrs["standard_name"] = "precipitation_flux"
    ds.attrs = {"title": "xemu synthetic climate laid out as a CMIP6 ensemble", "Conventions": "CF-1.7 CMIP-6.2",
                "xemu_seed": seed}
    return ds


def assert_units_equal(a: xr.DataArray, b: xr.DataArray) -> None:
    """Assert that ``a`` and ``b`` carry units that pint reads as the same unit."""
    ua, ub = units_of(a), units_of(b)
    assert (ua is None) == (ub is None), f"units differ: {ua!r} vs {ub!r}"
    if ua is not None:
        assert parse_units(ua) == parse_units(ub), f"units differ: {ua!r} vs {ub!r}"


def assert_same_grid(a: xr.DataArray, b: xr.DataArray, atol: float = 1e-6) -> None:
    """Assert that ``a`` and ``b`` have the same latitude/longitude dims and coordinates."""
    ra, rb = roles(a), roles(b)
    assert ra.spatial == rb.spatial, f"grid dims differ: {ra.spatial} vs {rb.spatial}"
    for dim in ra.spatial or ():
        np.testing.assert_allclose(a[dim].values, b[dim].values, atol=atol, err_msg=f"{dim} differs")
