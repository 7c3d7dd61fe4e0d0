"""Figures over time and latitude: global means against the members, zonal means, training curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..data.coords import find_dim
from ..errors import DataError
from ..metrics.deterministic import area_weights
from .labels import in_units_of, label_of, lat_lon, name_of, pyplot, reduce_hint, time_axis

__all__ = ["global_mean_series", "zonal_means", "training_curves"]


# --- series and profiles ------------------------------------------------------------
def _global_mean(da: xr.DataArray, name: str) -> xr.DataArray:
    """The area-weighted mean of ``da`` over latitude and longitude."""
    lat, lon = lat_lon(da, name)
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
    plt = pyplot()
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
            x, x_label = time_axis(lines[key][time])
            ax.plot(x, lines[key].values, color=colour, lw=1.5, label=label + suffix, zorder=3)
        if key in bands:
            t, lo, hi, mean = bands[key]
            x, x_label = time_axis(t)
            ax.fill_between(x, lo, hi, color=colour, alpha=0.25, lw=0, label=f"members min-max{suffix}")
            ax.plot(x, mean, color=colour, lw=1, ls="--", label=f"members mean{suffix}")
    ax.set_xlabel(x_label)
    if x_label is not None and x_label.endswith("[year]"):  # decimal years: 2015, 2015.5, not 2015.00
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel(label_of(pred))
    ax.set_title(f"Area-weighted global mean: {name_of(pred)}")
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
    members = in_units_of(members, pred, name="global_mean_series: members")
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
    plt = pyplot()
    if not das:
        raise TypeError("zonal_means: give at least one DataArray")
    if labels is not None and len(labels) != len(das):
        raise ValueError(f"labels: expected {len(das)} labels, one per DataArray; got {len(labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    ref = das[0]
    for i, da in enumerate(das):
        name = f"zonal_means: DataArray {i}"
        lat, lon = lat_lon(da, name)
        time = find_dim(da, "time", name=name, required=False)
        zm = in_units_of(da, ref, name=name).mean([d for d in (time, lon) if d is not None], keep_attrs=True)
        zm = zm.squeeze([d for d in zm.dims if d != lat and zm.sizes[d] == 1])
        if zm.dims != (lat,):
            others = [str(d) for d in zm.dims if d != lat]
            raise DataError(
                f"{name}: after the time and longitude means, dims ({', '.join(others)}) remain; "
                f"select or reduce them first, {reduce_hint(others[0])}"
            )
        text = labels[i] if labels is not None else str(da.name if da.name is not None else f"data {i}")
        ax.plot(zm[lat].values, zm.values, marker=".", label=text)
    ax.set_xlabel(label_of(ref[find_dim(ref, "latitude")], "latitude"))
    ax.set_ylabel(label_of(ref))
    ax.set_title(f"Zonal mean {name_of(ref)}" + (" (time mean)" if find_dim(ref, "time", required=False) else ""))
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
    plt = pyplot()
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

