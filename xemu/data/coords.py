"""Coordinate roles: time, latitude, longitude and sample dimensions; grid alignment.

Roles are found with cf-xarray first (``standard_name``, ``units``, ``axis`` of the
dimension coordinate), then by a documented guess:

* **time**: a dimension named ``time``, ``t``, ``month`` or ``date`` whose values are
  datetime-like (``numpy.datetime64`` or :mod:`cftime` objects);
* **latitude**: a dimension named ``lat``, ``latitude``, ``y``, ``rlat`` or ``nav_lat``
  whose coordinate values are numbers in degrees (units absent or degree-like);
* **longitude**: likewise with ``lon``, ``longitude``, ``x``, ``rlon`` or ``nav_lon``.

Every other dimension of a variable is a *sample* dimension (``ssp``, ``member_id``, ...).
Two sample dims have a meaning of their own for evaluation: the **scenario** (a forcing
pathway) and the **member** (a run of the same scenario), found by
:func:`find_ensemble_dim` from the names CMIP6 tools use and CF's ``realization``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import CoordinateError, GridError, warn
from .once import once

__all__ = [
    "Roles",
    "find_dim",
    "roles",
    "sample_dims",
    "is_datetime_like",
    "check_latitude",
    "check_degrees",
    "align_grid",
    "GUESS_NAMES",
    "ENSEMBLE_NAMES",
    "find_ensemble_dim",
]

#: Names tried by the documented guess, per role, after cf-xarray found nothing.
GUESS_NAMES: dict[str, tuple[str, ...]] = {
    "time": ("time", "t", "month", "date"),
    "latitude": ("lat", "latitude", "y", "rlat", "nav_lat"),
    "longitude": ("lon", "longitude", "x", "rlon", "nav_lon"),
}
#: Names of the scenario and member dims that :func:`find_ensemble_dim` looks for, in the order tried:
#: the CMIP6 attributes' names (``experiment_id``, ``variant_label``, ``member_id``), intake-esm's and
#: xMIP's, the CSE 151B store's (``ssp``, ``member_id``) and xemu's synthetic climate's.
ENSEMBLE_NAMES: dict[str, tuple[str, ...]] = {
    "scenario": ("experiment_id", "experiment", "scenario", "ssp", "scenario_id", "rcp"),
    "member": ("variant_label", "member_id", "member", "realization", "ensemble", "ensemble_member", "ens",
               "run"),
}
_CF_AXIS = {"time": "T", "latitude": "Y", "longitude": "X"}
_DEGREE_UNITS = {
    "degree",
    "degrees",
    "deg",
    "degree_north",
    "degrees_north",
    "degree_n",
    "degrees_n",
    "degreen",
    "degreesn",
    "degree_east",
    "degrees_east",
    "degree_e",
    "degrees_e",
    "degreee",
    "degreese",
}


@dataclass(frozen=True)
class Roles:
    """The dimension names playing each role for one variable.

    ``latitude`` / ``longitude`` are ``None`` for global variables (e.g. a CO2 series);
    ``time`` is ``None`` for time-invariant variables.
    """

    time: str | None
    latitude: str | None
    longitude: str | None
    sample: tuple[str, ...]

    @property
    def spatial(self) -> tuple[str, str] | None:
        """``(latitude, longitude)`` when the variable is a map, else ``None``."""
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


def is_datetime_like(values) -> bool:
    """Whether an array holds ``numpy.datetime64`` values or :mod:`cftime` dates."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        return True
    if values.dtype == object and values.size:
        first = values.flat[0]
        return hasattr(first, "calendar") and hasattr(first, "month")
    return False


def _cf_candidates(obj: xr.DataArray | xr.Dataset, role: str) -> list[str]:
    """The dims of ``obj`` cf-xarray finds for ``role`` (from the dimension coordinates' attributes).

    Only dimension coordinates can be dims, so cf-xarray is asked about them alone; the
    answer depends on their names, attributes and kind of values only, so it is remembered
    for those (cf-xarray scans every variable and criterion on each call: without the memo
    this was most of the time of a prediction of a few months).
    """
    variables = obj.coords.variables
    dim_coords = [d for d in obj.dims if d in variables]
    key = (role, tuple(obj.dims), tuple((d, _kind(variables[d]), repr(sorted(variables[d].attrs.items())))
                                        for d in dim_coords))
    found = _CF_MEMO.get(key)
    if found is None:
        found = _cf_lookup(xr.Dataset(coords={d: variables[d] for d in dim_coords}), role)
        if len(_CF_MEMO) > 4096:
            _CF_MEMO.clear()
        _CF_MEMO[key] = found
    return [name for name in found if name in obj.dims]


#: Answers of :func:`_cf_lookup` by (role, dims, dimension coordinates' kinds and attributes).
_CF_MEMO: dict[tuple, list[str]] = {}


def _kind(var: xr.Variable) -> str:
    """The dtype of ``var``, and for objects the type of its first value (e.g. a cftime date)."""
    if var.dtype == object and var.size:
        first = type(var[(0,) * var.ndim].values.item())  # one value: .values of a whole index is slow
        return f"object:{first.__module__}.{first.__name__}"
    return str(var.dtype)


def _cf_lookup(obj: xr.Dataset, role: str) -> list[str]:
    import cf_xarray  # noqa: F401  (registers the ``.cf`` accessor; without it nothing is found)

    found: list[str] = []
    try:
        found += list(obj.cf.coordinates.get(role, []))
        found += list(obj.cf.axes.get(_CF_AXIS[role], []))
    except Exception:  # cf-xarray cannot read malformed attrs: fall through to the guess
        pass
    return list(dict.fromkeys(found))


def _looks_like(obj: xr.DataArray | xr.Dataset, dim: str, role: str) -> bool:
    if dim not in obj.coords:
        return False
    coord = obj[dim]
    if role == "time":
        return is_datetime_like(coord.values)
    if not np.issubdtype(coord.dtype, np.number):
        return False
    units = str(coord.attrs.get("units", "degrees")).strip().lower()
    return units in _DEGREE_UNITS


def find_dim(
    obj: xr.DataArray | xr.Dataset,
    role: str,
    *,
    name: str = "data",
    required: bool = True,
    ambiguous_hint: str | None = None,
) -> str | None:
    """Find the dimension of ``obj`` that plays ``role``.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The object whose dimensions are searched.
    role : {"time", "latitude", "longitude"}
        The role to look for.
    name : str
        How the object is called in error messages (an argument or variable name).
    required : bool
        Raise :class:`~xemu.CoordinateError` when nothing is found (else return ``None``).
    ambiguous_hint : str, optional
        A sentence added to the error when more than one dimension plays ``role`` (what
        the caller can do instead).

    Returns
    -------
    str or None
        The dimension name.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> xemu.data.coords.find_dim(ds["tas"], "latitude")
    'lat'
    """
    if role not in GUESS_NAMES:
        raise ValueError(f"role: expected one of {sorted(GUESS_NAMES)}, got {role!r}")
    candidates = _cf_candidates(obj, role)
    how = "cf-xarray"
    if not candidates:
        how = "guess"
        lowered = {str(d).lower(): d for d in obj.dims}
        candidates = [
            lowered[g]
            for g in GUESS_NAMES[role]
            if g in lowered and _looks_like(obj, lowered[g], role)
        ]
    if len(candidates) > 1:
        raise CoordinateError(
            f"{name}: more than one {role} dimension found ({how}): {candidates}; "
            f"keep one or set the attributes (standard_name, axis) of the one to use"
            + (f". {ambiguous_hint}" if ambiguous_hint else "")
        )
    if not candidates:
        if not required:
            return None
        raise CoordinateError(
            f"{name}: no {role} found; looked for standard_name {role!r}, axis "
            f"{_CF_AXIS[role]!r}, names {'/'.join(GUESS_NAMES[role])}"
            + (" with datetime values" if role == "time" else " with degree-like values")
            + f"; {'Dataset' if isinstance(obj, xr.Dataset) else 'DataArray'} has dims "
            f"({', '.join(map(str, obj.dims))})"
        )
    dim = candidates[0]
    if role != "time" and dim in obj.coords:
        check_degrees(obj[dim], name=f"{name}.{dim}", role=role)
    if role == "latitude" and dim in obj.coords:
        check_latitude(obj[dim], name=f"{name}.{dim}")
    return dim


def find_ensemble_dim(
    obj: xr.DataArray | xr.Dataset,
    role: str,
    *,
    given: str | None = None,
    argument: str | None = None,
    name: str = "ds",
    required: bool = True,
) -> str | None:
    """The dimension of ``obj`` that holds its scenarios or its ensemble members.

    ``given`` (the caller's ``scenario_dim=`` or ``member_dim=``) is checked to be a dim of
    ``obj``. Otherwise: for ``"member"``, a dim whose coordinate has the CF standard name
    ``realization`` (found with cf-xarray); then, for either role, a dim named as in
    :data:`ENSEMBLE_NAMES` (case ignored).

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The data.
    role : {"scenario", "member"}
        What to look for.
    given : str, optional
        The dim named by the caller.
    argument : str, optional
        How the caller's argument is called in messages (default ``"<role>_dim"``).
    name : str
        How ``obj`` is called in messages.
    required : bool
        Raise :class:`~xemu.CoordinateError` when nothing is found (else return ``None``).

    Returns
    -------
    str or None
        The dimension name.

    Raises
    ------
    CoordinateError
        ``given`` is not a dim of ``obj``; more than one dim plays ``role``; or none does and
        ``required``. The message names the argument that settles it.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)
    >>> ds = ds.rename(scenario="experiment_id", member="variant_label")
    >>> xemu.data.coords.find_ensemble_dim(ds, "scenario"), xemu.data.coords.find_ensemble_dim(ds, "member")
    ('experiment_id', 'variant_label')
    """
    if role not in ENSEMBLE_NAMES:
        raise ValueError(f"role: expected one of {sorted(ENSEMBLE_NAMES)}, got {role!r}")
    argument = argument or f"{role}_dim"
    dims = [str(d) for d in obj.dims]
    if given is not None:
        if given not in dims:
            raise CoordinateError(f"{argument}: {given!r} is not a dim of {name}; its dims are ({', '.join(dims)})")
        return given
    found = _realization_dims(obj) if role == "member" else []
    if not found:
        lowered = {d.lower(): d for d in dims}
        found = [lowered[n] for n in ENSEMBLE_NAMES[role] if n in lowered]
    if len(found) > 1:
        raise CoordinateError(f"{argument}: {name} has more than one {role} dim ({', '.join(found)}); "
                              f"name the one to use with {argument}=")
    if not found:
        if not required:
            return None
        raise CoordinateError(
            f"{argument}: no {role} dim found in {name}; looked for "
            + ("the CF standard_name 'realization' and " if role == "member" else "")
            + f"the names {'/'.join(ENSEMBLE_NAMES[role])}; its dims are ({', '.join(dims)}); "
            f"name it with {argument}=")
    return found[0]


def _realization_dims(obj: xr.DataArray | xr.Dataset) -> list[str]:
    """The dims of ``obj`` whose coordinate has the CF standard name ``realization`` (cf-xarray)."""
    import cf_xarray  # noqa: F401  (registers the ``.cf`` accessor)

    coords = xr.Dataset(coords={d: obj.coords[d] for d in obj.dims if d in obj.coords})
    try:
        names = coords.cf.standard_names.get("realization", [])
    except Exception:  # cf-xarray cannot read malformed attrs: fall through to the names
        names = []
    return [str(n) for n in names if n in obj.dims]


def check_degrees(coord: xr.DataArray, *, name: str, role: str) -> None:
    """Latitude and longitude must be in degrees: other units raise, radian-like values warn.

    Raises :class:`~xemu.CoordinateError` when the coordinate's ``units`` say something
    other than degrees (e.g. ``radians``); warns when it has no units and every value lies
    within +-pi/2 (latitude) or [-pi, 2 pi] (longitude) on a grid of ten or more points.
    """
    units = coord.attrs.get("units")
    if units is not None and str(units).strip().lower() not in _DEGREE_UNITS:
        raise CoordinateError(
            f"{name}: {role} has units {units!r}; expected degrees (degrees_north / degrees_east): "
            f"convert, e.g. np.rad2deg, and set the units"
        )
    values = np.asarray(coord.values)
    if units is None and values.size >= 10 and np.issubdtype(values.dtype, np.number):
        limit = (-np.pi / 2, np.pi / 2) if role == "latitude" else (-np.pi, 2 * np.pi)
        if np.nanmin(values) >= limit[0] - 1e-6 and np.nanmax(values) <= limit[1] + 1e-6:
            warn(f"{name}: all {values.size} {role} values lie within [{limit[0]:.4g}, {limit[1]:.4g}]: "
                 f"radians? xemu reads them as degrees; set units='degrees_north'/'degrees_east' to confirm")


def check_latitude(lat: xr.DataArray | np.ndarray, *, name: str = "latitude") -> None:
    """Raise :class:`~xemu.CoordinateError` unless all latitudes are finite and in [-90, 90]."""
    values = np.asarray(lat, dtype=float)
    bad = ~np.isfinite(values) | (np.abs(values) > 90)
    if bad.any():
        raise CoordinateError(
            f"{name}: latitude must be finite and within [-90, 90] degrees; got "
            f"{int(bad.sum())} values outside, range [{np.nanmin(values):g}, {np.nanmax(values):g}]"
        )


def _direction(values: np.ndarray, latitude: bool) -> str:
    """How a grid axis runs: ``"south to north"`` or ``"north to south"`` (latitude), else
    ``"increasing"`` or ``"decreasing"``."""
    up = values[-1] > values[0]
    if latitude:
        return "south to north" if up else "north to south"
    return "increasing" if up else "decreasing"


def order_hint(values, ref, dim: str, who: str, *, latitude: bool) -> str | None:
    """The end of a grid error when ``values`` are the coordinates ``ref`` of ``who`` in another order.

    E.g. latitudes stored north to south for an emulator trained south to north: the text
    says that the order is the problem and how to sort ``ds`` (``ds.sortby('lat')``, with
    the dim's own name). ``None`` when ``values`` are other values than ``ref``'s.
    """
    values, ref = np.asarray(values, float), np.asarray(ref, float)
    if values.shape != ref.shape or values.size < 2 or not np.allclose(np.sort(values), np.sort(ref), atol=1e-6):
        return None
    if np.allclose(values[::-1], ref, atol=1e-6):
        fix = f"ds.sortby({dim!r}" + (")" if ref[-1] > ref[0] else ", ascending=False)")
        return (f", stored {_direction(values, latitude)}; {who} was trained on the same {ref.size} values stored "
                f"{_direction(ref, latitude)}: the order is the problem; reverse it with {fix}")
    fix = f"ds.sortby({dim!r})" if np.all(np.diff(ref) > 0) else f"ds.reindex({dim}=...) in the trained order"
    return (f"; {who} was trained on the same {ref.size} values in another order: the order is the problem; "
            f"reorder them, e.g. {fix}")


def roles(da: xr.DataArray, *, name: str | None = None) -> Roles:
    """The :class:`Roles` of a variable: its time, latitude, longitude and sample dims.

    A variable may lack latitude/longitude (a global series) but not only one of them.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> xemu.data.coords.roles(ds["tas"])
    Roles(time='time', latitude='lat', longitude='lon', sample=('scenario', 'member'))
    """
    variables = da.coords.variables
    objects = (da.variable, *(variables[d] for d in da.dims if d in variables))
    return once("roles", objects, lambda: _roles(da, name))


def _roles(da: xr.DataArray, name: str | None) -> Roles:
    label = name or str(da.name)
    time = find_dim(da, "time", name=label, required=False)
    lat = find_dim(da, "latitude", name=label, required=False)
    lon = find_dim(da, "longitude", name=label, required=False)
    if (lat is None) != (lon is None):
        missing = "longitude" if lon is None else "latitude"
        find_dim(da, missing, name=label)  # raises with the full explanation
    sample = tuple(str(d) for d in da.dims if d not in (time, lat, lon))
    return Roles(time=time, latitude=lat, longitude=lon, sample=sample)


def sample_dims(da: xr.DataArray) -> tuple[str, ...]:
    """Every dimension of ``da`` other than time, latitude and longitude."""
    return roles(da).sample


def align_grid(
    da: xr.DataArray,
    target: xr.DataArray | xr.Dataset,
    *,
    method: str = "position",
    name: str | None = None,
    max_offset: float | None = None,
) -> xr.DataArray:
    """Put the map ``da`` on the latitude/longitude grid of ``target``, explicitly.

    Parameters
    ----------
    da : xarray.DataArray
        A map variable (it has latitude and longitude dims).
    target : xarray.DataArray or xarray.Dataset
        Any object carrying the target grid (its latitude/longitude dim coordinates).
    method : {"position", "interp", "exact"}
        ``"exact"``: the coordinates must be equal (to 1e-6 degrees), else
        :class:`~xemu.GridError`. ``"position"``: grids of the same shape are matched cell
        by cell and a :class:`UserWarning` states the largest offset in degrees.
        ``"interp"``: linear interpolation onto the target grid (needs scipy); on a
        global grid longitude wraps across the 0/360 seam, and latitudes beyond the
        source's outermost rows are extrapolated linearly.
    name : str, optional
        The variable's name in messages.
    max_offset : float, optional
        For ``"position"``: the largest offset (degrees) accepted; by default half of the
        target's smallest grid spacing. Larger offsets raise :class:`~xemu.GridError`.

    Returns
    -------
    xarray.DataArray
        ``da`` with the target's latitude/longitude dims and coordinates. Its attrs record
        the alignment (``xemu_grid_alignment``).

    Examples
    --------
    >>> import numpy as np, xarray as xr, xemu, warnings
    >>> tgt = xr.DataArray(np.zeros((2, 3)), coords={"lat": [-45.0, 45.0], "lon": [0.0, 120, 240]})
    >>> src = xr.DataArray(np.ones((2, 3)), coords={"latitude": [-44.5, 45.5], "longitude": [1.0, 121, 241]})
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     out = xemu.data.coords.align_grid(src, tgt, name="SO2")
    >>> out.dims, str(w[0].message)[:60]
    (('lat', 'lon'), 'SO2: aligned to the target grid by position; largest offset ')
    """
    label = name or str(da.name)
    src = roles(da, name=label)
    tgt_lat = find_dim(target, "latitude", name="target grid")
    tgt_lon = find_dim(target, "longitude", name="target grid")
    if src.spatial is None:
        raise GridError(f"{label}: expected a map with latitude and longitude dims; got dims {da.dims}")
    lat_t, lon_t = np.asarray(target[tgt_lat], float), np.asarray(target[tgt_lon], float)
    lat_s, lon_s = np.asarray(da[src.latitude], float), np.asarray(da[src.longitude], float)
    rename = {src.latitude: tgt_lat, src.longitude: tgt_lon}
    if method == "interp":
        return _interp(da, rename, target, tgt_lat, tgt_lon)
    if method not in ("position", "exact"):
        raise GridError(f"method: expected 'position', 'interp' or 'exact'; got {method!r}")
    offset = _position_offset(lat_s, lon_s, lat_t, lon_t, label=label)
    if offset <= 1e-6:
        return _renamed(da, rename, target, tgt_lat, tgt_lon, dict(da.attrs))
    if method == "exact":
        raise GridError(
            f"{label}: grid differs from the target grid by up to {offset:.4g} degrees; "
            f"expected identical coordinates (use method='position' or 'interp')"
        )
    _check_latitude_order(lat_s, lat_t, src.latitude, tgt_lat, label=label)
    _check_position_offset(offset, lat_t, lon_t, max_offset, label=label)
    warn(
        f"{label}: aligned to the target grid by position; largest offset {offset:.3f} degrees "
        f"(latitude {np.abs(lat_s - lat_t).max():.3f}, longitude "
        f"{_lon_distance(lon_s, lon_t).max():.3f})"
    )
    note = f"by position from ({src.latitude}, {src.longitude}); largest offset {offset:.3f} degrees"
    return _renamed(da, rename, target, tgt_lat, tgt_lon, {**da.attrs, "xemu_grid_alignment": note})


def _position_offset(lat_s: np.ndarray, lon_s: np.ndarray, lat_t: np.ndarray, lon_t: np.ndarray, *,
                     label: str) -> float:
    """The largest distance (degrees) between cells of two grids of one shape; :class:`~xemu.GridError`
    when the shapes differ."""
    if not (lat_s.shape == lat_t.shape and lon_s.shape == lon_t.shape):
        raise GridError(
            f"{label}: grid shape ({lat_s.size}, {lon_s.size}) differs from the target grid "
            f"({lat_t.size}, {lon_t.size}); use method='interp' to interpolate"
        )
    return float(max(np.abs(lat_s - lat_t).max(), _lon_distance(lon_s, lon_t).max()))


def _check_latitude_order(lat_s: np.ndarray, lat_t: np.ndarray, dim_s: str, dim_t: str, *, label: str) -> None:
    """Raise :class:`~xemu.GridError` when the latitudes ``lat_s`` line up with the target's only
    in reverse (one grid stored north to south, the other south to north), saying how to sort them."""
    if lat_s.size < 2 or (lat_s[-1] > lat_s[0]) == (lat_t[-1] > lat_t[0]):
        return
    spacing = np.abs(np.diff(lat_t)).min()
    if np.abs(lat_s[::-1] - lat_t).max() <= spacing / 2:
        fix = f"ds.sortby({dim_s!r}" + (")" if lat_t[-1] > lat_t[0] else ", ascending=False)")
        raise GridError(f"{label}: latitude {dim_s!r} is stored {_direction(lat_s, True)} and the target grid's "
                        f"{dim_t!r} {_direction(lat_t, True)}, so their cells do not match by position: the order "
                        f"is the problem; reverse it with {fix}")


def _check_position_offset(offset: float, lat_t: np.ndarray, lon_t: np.ndarray, max_offset: float | None, *,
                           label: str) -> None:
    """Raise :class:`~xemu.GridError` when ``offset`` exceeds ``max_offset`` (default: half the
    target's smallest grid spacing)."""
    limit = max_offset
    if limit is None:
        spacing = min(np.abs(np.diff(lat_t)).min(initial=180), np.abs(np.diff(lon_t)).min(initial=360))
        limit = spacing / 2
    if offset > limit:
        raise GridError(
            f"{label}: grids of the same shape are {offset:.4g} degrees apart, more than the "
            f"{limit:.4g} accepted for alignment by position; use method='interp' or max_offset"
        )


def _renamed(da: xr.DataArray, rename: dict, target, tgt_lat: str, tgt_lon: str, attrs: dict) -> xr.DataArray:
    """``da`` with its grid dims renamed to the target's and the target's grid coordinates, with ``attrs``."""
    out = da.rename(rename).assign_coords(_grid_coords(target, tgt_lat, tgt_lon))
    out.attrs = attrs
    return out


def _grid_coords(target, lat: str, lon: str) -> dict:
    # the grid's own coordinates only: scalar coordinates of the target (e.g. the time of a
    # selected month) must not travel onto the aligned map
    return {lat: target[lat].reset_coords(drop=True), lon: target[lon].reset_coords(drop=True)}


def _interp(da, rename, target, tgt_lat, tgt_lon) -> xr.DataArray:
    """Linear interpolation; longitude wraps around on a global grid, latitude extrapolates."""
    slat, slon = f"__src_{tgt_lat}", f"__src_{tgt_lon}"
    src = da.rename({k: f"__src_{v}" for k, v in rename.items()}).sortby(slon)
    lon_s = np.asarray(src[slon], float)
    lon_t = np.asarray(target[tgt_lon], float)
    step = float(np.median(np.diff(lon_s))) if lon_s.size > 1 else 360.0
    periodic = lon_s.size > 1 and abs(lon_s[-1] - lon_s[0] + step - 360.0) < step / 2
    note = "linear interpolation to the target grid"
    if periodic:  # pad one column on each side, across the 0/360 seam
        west = src.isel({slon: [-1]}).assign_coords({slon: [lon_s[-1] - 360.0]})
        east = src.isel({slon: [0]}).assign_coords({slon: [lon_s[0] + 360.0]})
        src = xr.concat([west, src, east], dim=slon)
        lon_t = (lon_t - lon_s[0]) % 360.0 + lon_s[0]
        note += " (longitude periodic)"
    out = src.interp({slat: np.asarray(target[tgt_lat], float), slon: lon_t},
                     kwargs={"fill_value": "extrapolate"})
    out = out.rename({slat: tgt_lat, slon: tgt_lon})
    out = out.assign_coords(_grid_coords(target, tgt_lat, tgt_lon))
    out.attrs = {**da.attrs, "xemu_grid_alignment": note}
    return out


def _lon_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % 360
    return np.minimum(d, 360 - d)
