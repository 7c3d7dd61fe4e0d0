"""The residual-model interface and the helpers every residual model shares.

A residual model (:class:`~xemu.variability.ResidualModel`, parametric;
:class:`~xemu.variability.BlockBootstrap`, whole years resampled) is fitted to an emulator's
residuals ``r = truth - prediction`` of one variable (``fit``), draws realizations of a
prediction plus noise (``sample``) and is saved as a labelled Dataset of parameters
(``to_dataset`` / ``from_dataset``): :class:`ResidualModelLike` says what
:class:`~xemu.variability.Variability` relies on. The functions here check the arguments of
``fit`` and ``sample`` with the same errors for every model, turn residuals and predictions
into ``(sample, time, cell)`` series and back, and check saved parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import xarray as xr

from ..data.coords import find_dim, roles
from ..data.encoding import month_of
from ..errors import ConfigError, DataError, GridError, UnitsError, XemuError

__all__ = ["KINDS", "ResidualModelLike", "map_roles", "as_series", "sample_label", "grid_dims", "check_months",
           "check_params", "saved_params", "with_units", "grid_array", "fit_series", "training_maps",
           "check_fit_pred", "check_sample", "check_seed", "float_dtype", "realizations"]

#: The kinds of variable a residual model models.
KINDS: tuple[str, ...] = ("additive", "precipitation")


class ResidualModelLike(Protocol):
    """What every residual model offers (and :class:`~xemu.variability.Variability` uses)."""

    #: The residual model's name in ``fit(..., variability=...)``.
    method: str
    #: ``"additive"`` or ``"precipitation"`` (:data:`KINDS`).
    kind: str

    @property
    def n_modes(self) -> int: ...

    def sample(self, pred: xr.DataArray, n: int, *, seed: int | Sequence[int],
               realization_dim: str = "realization") -> xr.DataArray: ...

    def to_dataset(self) -> xr.Dataset: ...


# ---------------------------------------------------------------------- series
def map_roles(da: xr.DataArray, name: str):
    """The roles of maps ``da`` (argument ``name``): time and latitude must be found (the
    error of :func:`~xemu.data.coords.find_dim` explains otherwise)."""
    r = roles(da, name=name)
    if r.time is None:
        find_dim(da, "time", name=name)  # raises with the explanation
    if r.spatial is None:
        find_dim(da, "latitude", name=name)
    return r


def as_series(da: xr.DataArray, r, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values on (samples, time, cells) in float64, calendar month 0..11 and a month count per step."""
    order = (*r.sample, r.time, r.latitude, r.longitude)
    values = np.asarray(da.transpose(*order).values, dtype=np.float64)
    n_time, p = da.sizes[r.time], da.sizes[r.latitude] * da.sizes[r.longitude]
    time = da[r.time]
    months = month_of(time).values.astype(np.int64) - 1
    mindex = time.dt.year.values.astype(np.int64) * 12 + months
    return values.reshape(-1, n_time, p), months, mindex


def sample_label(da: xr.DataArray, r, s: int) -> str:
    """The sample ``s`` (flat index over r.sample) of ``da``, as ``dim=value, ...`` (``-`` without sample dims)."""
    if not r.sample:
        return "-"
    index = np.unravel_index(s, tuple(da.sizes[d] for d in r.sample))
    return ", ".join(f"{d}={da[d].values[i] if d in da.coords else i}" for d, i in zip(r.sample, index, strict=True))


# ---------------------------------------------------------------------- parameters
def grid_dims(ds: xr.Dataset, name: str) -> tuple[str, str]:
    """The latitude and longitude dims of a residual model's parameter ``name`` (a
    :class:`~xemu.DataError` when they cannot be found)."""
    try:
        return find_dim(ds[name], "latitude", name=f"ds.{name}"), find_dim(ds[name], "longitude", name=f"ds.{name}")
    except XemuError as err:
        raise DataError(str(err)) from None


def check_months(ds: xr.Dataset) -> None:
    """A residual model's parameters have the calendar months 1..12 as their ``month`` coordinate."""
    if ds.sizes["month"] != 12 or "month" not in ds.coords or \
            not np.array_equal(ds["month"].values, np.arange(1, 13)):
        got = ds["month"].values.tolist() if "month" in ds.coords else f"{ds.sizes['month']} unlabelled"
        raise DataError(f"ds.month: expected the calendar months 1..12; got {got}")


def check_params(ds, what: str) -> str:
    """The ``kind`` of saved parameters ``ds`` (``what``: e.g. ``"ResidualModel parameters"``,
    for the message when ``ds`` is not a Dataset); a :class:`~xemu.DataError` naming what is wrong."""
    if not isinstance(ds, xr.Dataset):
        raise DataError(f"ds: expected an xarray.Dataset of {what}; got {type(ds).__name__}")
    kind = ds.attrs.get("kind")
    if kind not in KINDS:
        raise DataError(f"ds.attrs['kind']: expected one of {list(KINDS)}; got {kind!r}")
    return kind


def saved_params(params: xr.Dataset) -> xr.Dataset:
    """A deep copy of a model's parameters without the private attrs (``_lat``, ``_lon``): what ``to_dataset`` returns."""
    ds = params.copy(deep=True)
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in ("_lat", "_lon")}
    return ds


def with_units(attrs: dict, resid: xr.DataArray) -> dict:
    """``attrs`` plus resid's ``units`` last, when they are a non-blank string (in place; returned)."""
    units = resid.attrs.get("units")
    if isinstance(units, str) and units.strip():
        attrs["units"] = units
    return attrs


def grid_array(params: xr.Dataset, values: np.ndarray, name: str, long_name: str, units: str,
               month: bool = False) -> xr.DataArray:
    """``values`` on the model's grid (attrs ``_lat``, ``_lon`` of ``params``), with ``month`` first when asked."""
    lat, lon = str(params.attrs["_lat"]), str(params.attrs["_lon"])
    dims = ("month", lat, lon) if month else (lat, lon)
    coords = {lat: params[lat], lon: params[lon]}
    if month:
        coords["month"] = params["month"]
    shape = tuple(params.sizes[d] for d in dims)
    return xr.DataArray(np.reshape(values, shape), dims=dims, coords=coords, name=name,
                        attrs={"long_name": long_name, "units": units})


# ---------------------------------------------------------------------- fit
def fit_series(resid, kind: str, pred, count_name: str, count):
    """Check the arguments of a residual model's ``fit`` (``count_name``: an integer >= 1);
    resid's roles, its series (S, T, P) in float64, calendar months, month counts and the
    (S, T) training maps (see :func:`training_maps`)."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ConfigError(f"{count_name}: expected an integer >= 1; got {count!r}")
    if kind not in KINDS:
        raise ConfigError(f"kind: expected one of {list(KINDS)}; got {kind!r}")
    if not isinstance(resid, xr.DataArray):
        raise DataError(f"resid: expected an xarray.DataArray of residual maps; got {type(resid).__name__}")
    r = map_roles(resid, "resid")
    x, months, mindex = as_series(resid, r, "resid")
    if pred is not None:
        check_fit_pred(pred, resid, kind)
    return r, x, months, mindex, training_maps(x, resid, r)


def training_maps(x: np.ndarray, resid: xr.DataArray, r) -> np.ndarray:
    """(samples, time) bool: the finite maps of residual series ``x`` (S, T, P); partly NaN
    maps and infinite values are refused (a :class:`~xemu.DataError` naming the first)."""
    if np.isinf(x).any():
        raise DataError(f"resid: {int(np.isinf(x).sum())} infinite values; expected finite residuals "
                        f"(or whole maps of NaN for months that are not training months)")
    finite = np.isfinite(x)
    valid = finite.all(-1)
    partial = finite.any(-1) & ~valid
    if partial.any():
        s, t = (int(i[0]) for i in np.nonzero(partial))
        raise DataError(
            f"resid: {int(partial.sum())} maps are partly NaN (first: sample {sample_label(resid, r, s)}, "
            f"time {resid[r.time].values[t]}); expected each map all finite (a training month) or all "
            f"NaN (skipped)"
        )
    return valid


def check_fit_pred(pred, resid: xr.DataArray, kind: str) -> None:
    """Check the ``pred`` a residual model's ``fit`` may get: on resid's dims (or some of
    them), and for precipitation ``pred + resid`` (the truth) not negative."""
    if not isinstance(pred, xr.DataArray):
        raise DataError(f"pred: expected an xarray.DataArray or None; got {type(pred).__name__}")
    if not set(pred.dims) <= set(resid.dims) or any(pred.sizes[d] != resid.sizes[d] for d in pred.dims):
        raise DataError(f"pred: expected dims and sizes among resid's {dict(resid.sizes)}; got {dict(pred.sizes)}")
    if kind == "precipitation":
        try:
            truth = xr.align(pred.astype(np.float64), resid.astype(np.float64), join="exact")
        except ValueError as err:
            raise DataError(f"pred: coordinates differ from resid's ({err})") from None
        truth = (truth[0] + truth[1]).values
        scale = float(np.nanmax(np.abs(pred.values))) if np.isfinite(pred.values).any() else 0.0
        bad = truth < -1e-4 * max(scale, 1e-12)
        if bad.any():
            raise DataError(
                f"pred: pred + resid (the truth) is negative at {int(bad.sum())} points (minimum "
                f"{np.nanmin(truth):g}); expected resid = truth - pred of a precipitation, in pred's units"
            )


# ---------------------------------------------------------------------- sample
def check_sample(params: xr.Dataset, pred, n, seed, realization_dim):
    """Check the arguments of a residual model's ``sample`` and pred's grid and units against
    the model's ``params`` (attrs ``_lat``, ``_lon``, ``units``); pred's roles."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"n: expected an integer >= 1 (number of realizations); got {n!r}")
    check_seed(seed)
    if not isinstance(pred, xr.DataArray):
        raise DataError(f"pred: expected an xarray.DataArray; got {type(pred).__name__}")
    if not isinstance(realization_dim, str) or not realization_dim or realization_dim in pred.dims:
        raise ConfigError(f"realization_dim: expected a new dimension name (pred has dims {pred.dims}); "
                          f"got {realization_dim!r}")
    r = map_roles(pred, "pred")
    for dim, own in ((r.latitude, params.attrs["_lat"]), (r.longitude, params.attrs["_lon"])):
        mine, theirs = params[own].values, pred[dim].values
        if theirs.shape != mine.shape or not np.allclose(theirs, mine, atol=1e-6, rtol=0):
            raise GridError(
                f"pred: {dim} ({theirs.size} values, {theirs[0]:g} .. {theirs[-1]:g}) differs from the "
                f"fitted grid's {own} ({mine.size} values, {mine[0]:g} .. {mine[-1]:g}); predict on "
                f"the grid the model was fitted on"
            )
    mine, theirs = params.attrs.get("units"), pred.attrs.get("units")
    if mine and isinstance(theirs, str) and theirs.strip() and theirs != mine:
        from ..data.units import parse_units

        if parse_units(theirs, name="pred") != parse_units(mine, name="model units"):
            raise UnitsError(f"pred: units {theirs!r} differ from the residuals' {mine!r}; convert pred "
                             f"first (xemu.units.convert_units)")
    return r


def check_seed(seed) -> None:
    """A ``seed`` is a non-negative integer or a non-empty sequence of them (a :class:`~xemu.ConfigError` otherwise)."""
    items = seed if isinstance(seed, list | tuple) else [seed]
    ok = len(items) > 0 and all(
        isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0 for s in items
    )
    if not ok:
        raise ConfigError(f"seed: expected a non-negative integer or a sequence of them; got {seed!r}")


def float_dtype(pred: xr.DataArray) -> np.dtype:
    """The dtype of draws of ``pred``: its own when floating, float64 otherwise."""
    return pred.dtype if np.issubdtype(pred.dtype, np.floating) else np.dtype(np.float64)


def realizations(out: np.ndarray, pred: xr.DataArray, r, realization_dim: str, note: str) -> xr.DataArray:
    """Draws ``out`` (n, S, T, P) as a DataArray on ``(realization_dim, *pred.dims)`` with
    pred's coords, name and attrs (plus ``xemu_variability``: ``note``)."""
    order = (*r.sample, r.time, r.latitude, r.longitude)
    shaped = out.reshape(out.shape[0], *(pred.sizes[d] for d in order))
    coords = dict(pred.coords)
    coords[realization_dim] = xr.Variable(realization_dim, np.arange(out.shape[0]),
                                          {"long_name": "stochastic realization"})
    da = xr.DataArray(shaped, dims=(realization_dim, *order), coords=coords, name=pred.name,
                      attrs={**pred.attrs, "xemu_variability": note})
    return da.transpose(realization_dim, *pred.dims)
