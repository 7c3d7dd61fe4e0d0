"""Quick-look figures of fields, predictions and training, labelled from the data's attrs.

matplotlib is optional (``pip install "xemu[plot]"``) and imported only when a figure is
drawn: ``import xemu`` does not import it. Maps use cartopy (PlateCarree axes with
coastlines) when it is installed, else plain latitude/longitude axes in degrees. Time
axes use nc-time-axis for :mod:`cftime` dates when it is installed, else decimal years.

Every function takes ``ax=None`` (draw into these axes, or a new figure) and returns the
:class:`matplotlib.axes.Axes` it drew on, so a figure can be edited further. Axis and
colorbar labels come from ``long_name`` (else ``standard_name``, else the name) and
``units``.

Examples
--------
>>> import xemu
>>> ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)
>>> ax = xemu.plot.field_map(ds["tas"].isel(scenario=0, member=0).mean("time"))
>>> ax.get_title()
'near-surface air temperature\\nscenario = low, member = 0'
>>> ax.figure.savefig("tas.png")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np
import xarray as xr

from .data.coords import find_dim, is_datetime_like
from .data.units import convert_units, units_of
from .errors import DataError, GridError, warn
from .metrics.deterministic import area_weights

__all__ = ["field_map", "difference_map", "global_mean_series", "zonal_means", "training_curves", "decimal_years"]

_INSTALL = 'pip install "xemu[plot]"'


# --- optional dependencies ------------------------------------------------------------
def _pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(f"xemu.plot needs matplotlib, which is not installed: {_INSTALL}") from err
    return plt


def _cartopy_crs():
    """``cartopy.crs`` when cartopy is installed, else ``None``."""
    try:
        import cartopy.crs as ccrs
    except ImportError:
        return None
    return ccrs


def _add_coastlines(ax) -> None:
    """Coastlines on a cartopy map; a warning (not a failure) when Natural Earth data cannot be had."""
    from cartopy.io import shapereader

    try:  # the shapefile is downloaded on first use: offline, draw the map without it
        shapereader.natural_earth(resolution="110m", category="physical", name="coastline")
    except Exception as err:
        warn(f"field_map: coastlines left out, Natural Earth data not available ({type(err).__name__}: {err})")
        return
    ax.coastlines(linewidth=0.6)


# --- labels -------------------------------------------------------------------------
def _name(da: xr.DataArray, default: str = "data") -> str:
    return str(da.attrs.get("long_name") or da.attrs.get("standard_name") or da.name or default)


def _label(da: xr.DataArray, default: str = "data") -> str:
    """``long_name [units]``, as xarray labels its plots."""
    units = units_of(da)
    return _name(da, default) + (f" [{units}]" if units else "")


def _scalar_coords(da: xr.DataArray) -> str:
    parts = []
    for name, coord in da.coords.items():
        if coord.ndim == 0 and name not in da.dims:
            value = coord.values.item() if hasattr(coord.values, "item") else coord.values
            if is_datetime_like(coord.values):
                value = str(value)[:10]
            parts.append(f"{name} = {value}")
    return ", ".join(parts)


def _in_units_of(da: xr.DataArray, ref: xr.DataArray, name: str) -> xr.DataArray:
    """``da`` converted to ``ref``'s units when both carry units and they differ."""
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


def _time_axis(time: xr.DataArray):
    """x values for a time coordinate and the axis label."""
    label = str(time.attrs.get("long_name") or time.attrs.get("standard_name") or time.name)
    values = np.asarray(time.values)
    if np.issubdtype(values.dtype, np.datetime64):
        return values, label
    if is_datetime_like(values):
        if importlib.util.find_spec("nc_time_axis") is not None:
            import nc_time_axis  # noqa: F401  (registers matplotlib converters for cftime dates)

            return values, label
        return decimal_years(values), f"{label} [year]"
    return values, _label(time, label)


# --- maps ---------------------------------------------------------------------------
def _lat_lon(da: xr.DataArray, name: str) -> tuple[str, str]:
    """The latitude and longitude dims of ``da`` (errors name ``name``)."""
    return find_dim(da, "latitude", name=name), find_dim(da, "longitude", name=name)


def _reduce_example(dim: str) -> str:
    """How to select or reduce ``dim``, for a message."""
    return f'e.g. .isel({dim}=0) or .mean("{dim}")'


def _as_map(da: xr.DataArray, func: str) -> tuple[xr.DataArray, str, str]:
    """``da`` squeezed to (latitude, longitude), or a DataError that says how to reduce it."""
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"{func}: expected an xarray.DataArray; got {type(da).__name__}")
    lat, lon = _lat_lon(da, func)
    da = da.squeeze([d for d in da.dims if d not in (lat, lon) and da.sizes[d] == 1])
    extra = [str(d) for d in da.dims if d not in (lat, lon)]
    if extra:
        time = find_dim(da, "time", name=func, required=False)
        hints = []
        if time is not None:
            hints.append(f'reduce time first, e.g. .mean("{time}") or .isel({time}=0)')
        others = [d for d in extra if d != time]
        if others:
            hints.append(f"select or reduce {', '.join(others)}, {_reduce_example(others[0])}")
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
        Draw coastlines (cartopy maps only; left out with a warning when the Natural Earth
        data cannot be read or downloaded).

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
    plt = _pyplot()
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
        _frame_geo_map(ax, coastlines)
    else:
        ax.set_xlabel(_label(field[lon], "longitude"))
        ax.set_ylabel(_label(field[lat], "latitude"))
        ax.set_aspect("equal", adjustable="box")
    ax.figure.colorbar(mesh, ax=ax, orientation="horizontal", label=_label(field), shrink=0.8, aspect=40)
    if title is None:
        title = _name(field) + (f"\n{s}" if (s := _scalar_coords(field)) else "")
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


def _frame_geo_map(ax, coastlines: bool) -> None:
    """The whole globe, coastlines (when asked) and labelled gridlines on a cartopy map."""
    ax.set_global()
    if coastlines:
        _add_coastlines(ax)
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
    pred = _in_units_of(pred, truth, name="difference_map: pred")
    diff = pred - truth
    lat, lon = _lat_lon(truth, "difference_map: truth")
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
    name = _name(truth, str(pred.name or "data"))
    diff.attrs = {"long_name": f"{name}, prediction - truth"}
    if units_of(truth):
        diff.attrs["units"] = units_of(truth)
    kw.setdefault("title", f"{name}: prediction - truth{period}")
    kw.setdefault("center", 0.0)
    return field_map(diff, ax=ax, **kw)


# --- series and profiles ------------------------------------------------------------
def _global_mean(da: xr.DataArray, name: str) -> xr.DataArray:
    """The area-weighted mean of ``da`` over latitude and longitude."""
    lat, lon = _lat_lon(da, name)
    return da.weighted(area_weights(da[lat]).fillna(0)).mean([lat, lon], keep_attrs=True)


def _samples(da: xr.DataArray, keep: Sequence[str]):
    """``(label, 1-D or 2-D slice)`` per combination of the dims of ``da`` not in ``keep``."""
    others = [d for d in da.dims if d not in keep]
    if not others:
        yield "", da
        return
    stacked = da.stack(__sample__=others)
    for i in range(stacked.sizes["__sample__"]):
        one = stacked.isel(__sample__=i)
        yield ", ".join(f"{d}={one[d].values.item()}" for d in others), one


def global_mean_series(
    pred: xr.DataArray,
    members: xr.DataArray | None = None,
    *,
    member_dim: str = "member_id",
    ax=None,
    label: str | None = None,
):
    """The area-weighted global mean of a prediction over time, against the model's members.

    Parameters
    ----------
    pred : xarray.DataArray
        A prediction on (time, latitude, longitude) and any sample dims (one line per
        combination of their values, e.g. per scenario).
    members : xarray.DataArray, optional
        The climate model's members on the same kind of grid, with ``member_dim``: drawn as
        the band between the members' smallest and largest global mean, and their mean
        (dashed), per combination of its other sample dims. Converted to ``pred``'s units.
    member_dim : str
        The members' dimension.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.
    label : str, optional
        Legend label of the prediction (default ``"prediction"``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)
    >>> ax = xemu.plot.global_mean_series(ds["tas_forced"], ds["tas"], member_dim="member")
    >>> ax.get_ylabel()
    'forced response of tas (noise-free) [K]'
    >>> [t.get_text() for t in ax.get_legend().get_texts()][:2]
    ['prediction, scenario=low', 'members min-max, scenario=low']
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    label = "prediction" if label is None else label
    time = find_dim(pred, "time", name="global_mean_series: pred")
    lines = dict(_samples(_global_mean(pred, "global_mean_series: pred"), [time]))
    bands = {} if members is None else _member_spread(members, pred, member_dim)
    if len(lines) == 1 and len(bands) == 1:  # one line, one ensemble: the same colour
        bands = {next(iter(lines)): next(iter(bands.values()))}
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    x_label = None
    for i, key in enumerate(dict.fromkeys([*lines, *bands])):
        colour, suffix = cycle[i % len(cycle)], (f", {key}" if key else "")
        if key in lines:
            x, x_label = _time_axis(lines[key][time])
            ax.plot(x, lines[key].values, color=colour, lw=1.5, label=label + suffix, zorder=3)
        if key in bands:
            t, lo, hi, mean = bands[key]
            x, x_label = _time_axis(t)
            ax.fill_between(x, lo, hi, color=colour, alpha=0.25, lw=0, label=f"members min-max{suffix}")
            ax.plot(x, mean, color=colour, lw=1, ls="--", label=f"members mean{suffix}")
    ax.set_xlabel(x_label)
    if x_label is not None and x_label.endswith("[year]"):  # decimal years: 2015, 2015.5, not 2015.00
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel(_label(pred))
    ax.set_title(f"Area-weighted global mean: {_name(pred)}")
    if len(lines) + len(bands) > 2:  # many entries: beside the axes, not over the lines
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    else:
        ax.legend(fontsize="small")
    return ax


def _member_spread(members: xr.DataArray, pred: xr.DataArray, member_dim: str) -> dict:
    """Per sample of ``members`` (other than ``member_dim``): time, min, max and mean of the global means."""
    if member_dim not in members.dims:
        raise DataError(
            f"global_mean_series: members has no dim {member_dim!r} (member_dim); "
            f"got dims ({', '.join(map(str, members.dims))})"
        )
    members = _in_units_of(members, pred, name="global_mean_series: members")
    time = find_dim(members, "time", name="global_mean_series: members")
    gm = _global_mean(members, "global_mean_series: members")
    return {
        key: (one[time], one.min(member_dim).values, one.max(member_dim).values, one.mean(member_dim).values)
        for key, one in _samples(gm, [time, member_dim])
    }


def zonal_means(*das: xr.DataArray, labels: Sequence[str] | None = None, ax=None):
    """Time-mean zonal means of several fields, latitude on the x axis, for comparison.

    Each field is averaged over time (when it has a time dim) and longitude; what remains
    must be latitude alone (dims of size 1 are dropped). Fields are converted to the first
    one's units when both carry units.

    Parameters
    ----------
    *das : xarray.DataArray
        The fields to compare.
    labels : sequence of str, optional
        Legend labels; by default each field's name.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)
    >>> low = ds.sel(scenario="low", member=0)
    >>> ax = xemu.plot.zonal_means(low["tas"], low["tas_forced"], labels=["member 0", "forced"])
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('latitude [degrees_north]', 'near-surface air temperature [K]')
    """
    plt = _pyplot()
    if not das:
        raise TypeError("zonal_means: give at least one DataArray")
    if labels is not None and len(labels) != len(das):
        raise ValueError(f"labels: expected {len(das)} labels, one per DataArray; got {len(labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    ref = das[0]
    for i, da in enumerate(das):
        name = f"zonal_means: DataArray {i}"
        lat, lon = _lat_lon(da, name)
        time = find_dim(da, "time", name=name, required=False)
        zm = _in_units_of(da, ref, name=name).mean([d for d in (time, lon) if d is not None], keep_attrs=True)
        zm = zm.squeeze([d for d in zm.dims if d != lat and zm.sizes[d] == 1])
        if zm.dims != (lat,):
            others = [str(d) for d in zm.dims if d != lat]
            raise DataError(
                f"{name}: after the time and longitude means, dims ({', '.join(others)}) remain; "
                f"select or reduce them first, {_reduce_example(others[0])}"
            )
        text = labels[i] if labels is not None else str(da.name if da.name is not None else f"data {i}")
        ax.plot(zm[lat].values, zm.values, marker=".", label=text)
    ax.set_xlabel(_label(ref[find_dim(ref, "latitude")], "latitude"))
    ax.set_ylabel(_label(ref))
    ax.set_title(f"Zonal mean {_name(ref)}" + (" (time mean)" if find_dim(ref, "time", required=False) else ""))
    ax.legend(fontsize="small")
    return ax


# --- training -----------------------------------------------------------------------
def _history_dataset(history) -> xr.Dataset:
    """A training history (list of dicts, Dataset, or an object with ``.history``) as a Dataset."""
    if not isinstance(history, xr.Dataset | list | tuple) and hasattr(history, "history"):
        history = history.history
    if isinstance(history, xr.Dataset):
        ds = history
    elif isinstance(history, list | tuple):
        if not all(isinstance(r, dict) for r in history):
            raise TypeError("training_curves: history must be a list of dicts (one per epoch)")
        keys = dict.fromkeys(k for r in history for k in r if k != "epoch")
        epoch = [r.get("epoch", i) for i, r in enumerate(history)]
        ds = xr.Dataset(
            {k: ("epoch", [float(r.get(k, np.nan)) for r in history]) for k in keys},
            coords={"epoch": epoch},
        )
    else:
        raise TypeError(
            "training_curves: expected an Emulator, its history (a list of dicts or an "
            f"xarray.Dataset with dim 'epoch'); got {type(history).__name__}"
        )
    if "train_loss" not in ds or ds.sizes.get("epoch", 0) == 0:
        raise DataError(
            "training_curves: the history has no 'train_loss' per epoch (an emulator that was "
            f"not trained, or a history without losses); got variables {sorted(map(str, ds.data_vars))}"
        )
    return ds


def training_curves(history, *, ax=None):
    """Training (and validation, when recorded) loss per epoch.

    Parameters
    ----------
    history : Emulator, list of dict or xarray.Dataset
        An emulator (its ``.history`` is used), a list of per-epoch records with
        ``train_loss`` and optionally ``val_loss`` and ``epoch``, or a Dataset with dim
        ``epoch`` and variables ``train_loss`` (and ``val_loss``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.

    Returns
    -------
    matplotlib.axes.Axes
        The curves; the best validation epoch is marked. The loss axis is logarithmic when
        the losses are positive and span more than a factor of 10
        (``ax.set_yscale("linear")`` undoes it).

    Examples
    --------
    >>> import xemu
    >>> history = [{"epoch": 0, "train_loss": 1.0, "val_loss": 1.2},
    ...            {"epoch": 1, "train_loss": 0.6, "val_loss": 0.9},
    ...            {"epoch": 2, "train_loss": 0.4, "val_loss": 0.95}]
    >>> ax = xemu.plot.training_curves(history)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['training loss', 'validation loss', 'best validation (epoch 1)']
    """
    plt = _pyplot()
    ds = _history_dataset(history)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    epoch = ds["epoch"].values if "epoch" in ds.coords else np.arange(ds.sizes["epoch"])
    curves = [("train_loss", "training loss")]
    if "val_loss" in ds and bool(np.isfinite(ds["val_loss"].values).any()):
        curves.append(("val_loss", "validation loss"))
    values = []
    for var, text in curves:
        y = np.asarray(ds[var].values, dtype=float)
        values.append(y[np.isfinite(y)])
        ax.plot(epoch, y, marker="o" if y.size <= 30 else None, ms=3,
                label=str(ds[var].attrs.get("long_name", text)))
    if len(curves) == 2:
        best = int(np.nanargmin(ds["val_loss"].values))
        ax.plot(epoch[best], ds["val_loss"].values[best], "k*", ms=10, label=f"best validation (epoch {epoch[best]})")
    every = np.concatenate(values)
    if every.size and every.min() > 0 and every.max() / every.min() > 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    units = ds["train_loss"].attrs.get("units")
    ax.set_ylabel("loss" + (f" [{units}]" if units else ""))
    ax.set_title("Training history")
    ax.legend(fontsize="small")
    return ax

