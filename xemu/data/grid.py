"""The grid's geometry: latitude weights of the study's area-weighted metrics
(:func:`area_weights`, re-exported by :mod:`xemu.metrics`), used by preparation, baselines
and the residual models too.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError

__all__ = ["area_weights"]


def area_weights(lat: xr.DataArray, kind: str = "cos") -> xr.DataArray:
    """Latitude weights normalised to mean 1.

    Parameters
    ----------
    lat : xarray.DataArray
        Latitude coordinate in degrees (1-D).
    kind : {"cos", "area"}
        ``"cos"``: ``cos(lat) / mean(cos(lat))`` (the study's). ``"area"``: the exact
        spherical area of each latitude band, ``sin(north edge) - sin(south edge)``, with
        edges halfway between cell centres (and +-90 at the poles), normalised to mean 1.

    Examples
    --------
    >>> import xarray as xr
    >>> w = area_weights(xr.DataArray([-60.0, 0.0, 60.0], dims="lat"))
    >>> [round(float(v), 3) for v in w]
    [0.75, 1.5, 0.75]
    """
    values = np.asarray(lat, dtype=float)
    if kind == "cos":
        w = np.cos(np.deg2rad(values))
    elif kind == "area":
        mid = (values[1:] + values[:-1]) / 2
        edges = np.clip(np.concatenate([[-90.0], mid, [90.0]]), -90, 90)
        if values[0] > values[-1]:
            edges = np.clip(np.concatenate([[90.0], mid, [-90.0]]), -90, 90)
        w = np.abs(np.diff(np.sin(np.deg2rad(edges))))
    else:
        raise ConfigError(f"kind: expected 'cos' or 'area'; got {kind!r}")
    w = w / w.mean()
    dim = lat.dims[0] if isinstance(lat, xr.DataArray) else "lat"
    return xr.DataArray(
        w,
        dims=(dim,),
        coords={dim: lat.values} if isinstance(lat, xr.DataArray) else None,
        name="area_weights",
        attrs={"long_name": f"latitude weights ({kind}), mean 1", "units": "1"},
    )
