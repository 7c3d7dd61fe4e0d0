"""Seasonal encodings of the month, hemisphere aware, for any calendar.

The month is read from the time coordinate (``numpy.datetime64`` or any :mod:`cftime`
calendar: noleap, 360_day, gregorian, ...). Two encodings are offered:

``"sincos"`` (xemu's default), two channels
    ``season_sin = sign(lat) * sin(2 pi (month - 1) / 12)`` and
    ``season_cos = sign(lat) * cos(2 pi (month - 1) / 12)``. Multiplying by ``sign(lat)``
    is exactly a half-year phase shift in the southern hemisphere, so January in the
    south encodes like July in the north; on the equator both channels are 0.

``"study"``, one channel, the published study's encoding
    ``season_study = sign(lat) * cos(deg2rad(lat)) * cos(2 pi (month - 1) / 12)``.

Both are broadcast over longitude and returned as named, documented DataArrays.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError, CoordinateError
from .coords import find_dim, is_datetime_like

__all__ = ["month_of", "encode_season", "ENCODINGS"]

#: Channel names produced by each encoding.
ENCODINGS: dict[str, tuple[str, ...]] = {
    "sincos": ("season_sin", "season_cos"),
    "study": ("season_study",),
    "none": (),
}


def month_of(time: xr.DataArray) -> xr.DataArray:
    """Calendar month (1..12) of each time step, for numpy datetimes and cftime dates.

    Examples
    --------
    >>> import xarray as xr
    >>> t = xr.date_range("2000-01-01", periods=3, freq="MS", calendar="360_day", use_cftime=True)
    >>> month_of(xr.DataArray(t, dims="time")).values.tolist()
    [1, 2, 3]
    """
    if not is_datetime_like(time.values):
        raise CoordinateError(
            f"time: expected datetime64 or cftime values to read months from; got dtype "
            f"{time.dtype}"
        )
    return time.dt.month.astype(np.int64)


def encode_season(
    obj: xr.Dataset | xr.DataArray,
    kind: str = "sincos",
    *,
    time: xr.DataArray | None = None,
) -> xr.Dataset:
    """Hemisphere-aware seasonal encoding on the grid of ``obj``.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Provides the latitude and longitude (the target grid) and, unless ``time`` is
        given, the time coordinate.
    kind : {"sincos", "study", "none"}
        See the module documentation.
    time : xarray.DataArray, optional
        Time coordinate to encode instead of the one of ``obj``.

    Returns
    -------
    xarray.Dataset
        One variable per channel (:data:`ENCODINGS`), each on ``(time, lat, lon)``, with
        ``long_name``, ``formula`` and ``units`` attributes.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=3)
    >>> enc = xemu.encode_season(ds)
    >>> list(enc.data_vars), enc["season_cos"].dims
    (['season_sin', 'season_cos'], ('time', 'lat', 'lon'))
    """
    if kind not in ENCODINGS:
        raise ConfigError(f"kind: expected one of {sorted(ENCODINGS)}; got {kind!r}")
    if time is None:
        tdim = find_dim(obj, "time", name="encode_season")
        time = obj[tdim]
    hint = None
    if isinstance(obj, xr.Dataset):  # a Dataset may hold variables on several grids
        maps = [str(v) for v in obj.data_vars if obj[v].ndim >= 3]
        first = "tas" if "tas" in obj.data_vars else (maps or ["<variable>"])[0]
        hint = (f"This Dataset holds variables on more than one grid: encode on the grid of "
                f"one variable, e.g. ds[{first!r}].emu.encode_season()")
    lat_dim = find_dim(obj, "latitude", name="encode_season", ambiguous_hint=hint)
    lon_dim = find_dim(obj, "longitude", name="encode_season", ambiguous_hint=hint)
    lat = obj[lat_dim].reset_coords(drop=True)
    phase = 2 * np.pi * (month_of(time) - 1) / 12.0
    sign = np.sign(lat)
    ones = xr.ones_like(obj[lon_dim], dtype=np.float32)
    out = {}
    if kind == "sincos":
        out["season_sin"] = (np.sin(phase) * sign * ones, "sign(lat) * sin(2 pi (month - 1) / 12)")
        out["season_cos"] = (np.cos(phase) * sign * ones, "sign(lat) * cos(2 pi (month - 1) / 12)")
    elif kind == "study":
        amp = sign * np.cos(np.deg2rad(lat))
        out["season_study"] = (
            np.cos(phase) * amp * ones,
            "sign(lat) * cos(deg2rad(lat)) * cos(2 pi (month - 1) / 12)",
        )
    variables = {}
    for name, (da, formula) in out.items():
        da = da.transpose(time.dims[0], lat_dim, lon_dim).astype(np.float32)
        da.attrs = {
            "long_name": f"hemisphere-aware seasonal encoding ({kind})",
            "formula": formula,
            "units": "1",
            "description": "southern-hemisphere seasons are shifted by half a year",
        }
        variables[name] = da.rename(name)
    return xr.Dataset(variables, attrs={"xemu_encoding": kind})
