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

__all__ = ["synthetic_climate", "TINY_CONFIG", "assert_units_equal", "assert_same_grid"]

#: A network small enough to train in a second on a few-cell grid (for tests and docs).
TINY_CONFIG = {"conv_widths": (4, 4), "conv_strides": (2, 1), "hidden": 8, "head_hidden": 8}


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
