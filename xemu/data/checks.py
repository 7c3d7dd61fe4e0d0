"""Checks of a Dataset before anything is built from it: the Dataset, its variables, time,
dtypes, missing and implausible values, the grid; and the warning for inputs outside the
training range. Every error names the argument, what was expected and what came.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import CoordinateError, DataError, GridError, warn
from .coords import roles

__all__ = ["check_dataset", "check_variables", "month_index", "check_time", "check_series", "check_dtype",
           "check_plausible", "argument_name", "check_no_nan", "check_grid", "warn_outside_range",
           "RANGE_TOLERANCE"]


#: How far (as a fraction of the training range) an input may go beyond it before a warning.
RANGE_TOLERANCE = 0.01


def check_dataset(ds, *, argument: str = "ds") -> xr.Dataset:
    """Return ``ds`` if it is an :class:`xarray.Dataset`; raise :class:`~xemu.DataError` otherwise."""
    if isinstance(ds, xr.Dataset):
        return ds
    hint = (" (a DataArray: pass a Dataset holding the inputs and targets by name, e.g. "
            "da.to_dataset() or xr.merge([...]))") if isinstance(ds, xr.DataArray) else ""
    raise DataError(f"{argument}: expected an xarray.Dataset; got {type(ds).__module__}.{type(ds).__name__}{hint}")


def check_variables(ds: xr.Dataset, names, *, argument: str) -> list[str]:
    """Validate a list of variable names against ``ds`` (a :class:`~xemu.DataError` otherwise)."""
    if isinstance(names, str):
        names = [names]
    names = list(names or [])
    if not names:
        raise DataError(f"{argument}: expected at least one variable name; got none")
    unknown = [n for n in names if n not in ds.data_vars]
    if unknown:
        raise DataError(
            f"{argument}: unknown variables {unknown}; the Dataset has {sorted(map(str, ds.data_vars))}"
        )
    if len(set(names)) != len(names):
        raise DataError(f"{argument}: variables listed twice in {names}")
    return names


def month_index(time: xr.DataArray) -> np.ndarray:
    """Months since year 0 (``12 * year + month - 1``), to find gaps in a monthly series."""
    return (time.dt.year * 12 + time.dt.month - 1).values.astype(np.int64)


def check_time(time: xr.DataArray, *, argument: str = "time") -> None:
    """Raise :class:`~xemu.CoordinateError` unless ``time`` holds dates, unique, increasing and monthly.

    Monthly means at most one step per calendar month and a typical (median) step of one
    month; whole months may be missing (windows never cross such a gap). The message says
    which rule failed and where.

    Examples
    --------
    >>> import xarray as xr
    >>> t = xr.DataArray(xr.date_range("2015-01-01", periods=3, freq="YS", use_cftime=True), dims="time")
    >>> check_time(t)
    Traceback (most recent call last):
    ...
    xemu.errors.CoordinateError: time: steps of 12 months (median); expected monthly data, one step per month ...
    """
    from .coords import is_datetime_like

    if time.size == 0:
        raise DataError(f"{argument}: no time steps (an empty selection?)")
    if not is_datetime_like(time.values):
        raise CoordinateError(
            f"{argument}: expected dates (datetime64 or cftime); got dtype {time.dtype} (values "
            f"{np.asarray(time.values).ravel()[:2].tolist()} ...); decode them, e.g. xr.decode_cf(ds)"
        )
    labels = [_date_label(t) for t in np.asarray(time.values)]
    months = month_index(time)
    step = np.diff(months)
    if step.size == 0:
        return
    values = np.asarray(time.values)
    order = values[1:] > values[:-1] if np.issubdtype(values.dtype, np.datetime64) else None
    if order is None:
        order = np.array([b > a for a, b in zip(values[:-1], values[1:], strict=True)])
    if (values[1:] == values[:-1]).any():
        i = int(np.argmax(values[1:] == values[:-1]))
        n_dup = int((values[1:] == values[:-1]).sum())
        raise CoordinateError(
            f"{argument}: duplicate time stamps ({n_dup}; the first, {labels[i]}, at positions {i} and {i + 1}); "
            f"expected unique, increasing monthly stamps: drop or merge the duplicates"
        )
    if not order.all():
        i = int(np.argmin(order))
        raise CoordinateError(
            f"{argument}: not increasing: {labels[i + 1]} follows {labels[i]} at position {i + 1}; "
            f"expected increasing monthly stamps: sort with ds.sortby({time.dims[0]!r})"
        )
    if (step == 0).any():
        i = int(np.argmax(step == 0))
        per = int((months == months[i]).sum())
        raise CoordinateError(
            f"{argument}: {per} time steps fall in the month of {labels[i]}; expected monthly data, one "
            f"step per month (average daily data first, e.g. ds.resample({time.dims[0]}='MS').mean())"
        )
    median = float(np.median(step))
    if median != 1:
        raise CoordinateError(
            f"{argument}: steps of {median:g} months (median); expected monthly data, one step per month "
            f"(missing months are allowed, but most steps must be one month)"
        )


def check_series(time: xr.DataArray, window: int, *, argument: str = "ds") -> None:
    """At least ``window`` consecutive months without gaps (what a prediction needs), else :class:`~xemu.DataError`."""
    gaps = bool(np.any(np.diff(month_index(time)) != 1))
    if time.size < window or gaps:
        raise DataError(f"{argument}: needs at least {window} consecutive months (one window) without gaps; got "
                        f"{time.size} months" + (" with gaps" if gaps else ""))


def check_dtype(da: xr.DataArray, *, argument: str) -> None:
    """Refuse floating-point types narrower than 32 bits (:class:`~xemu.DataError`).

    float16 keeps about three significant digits and nothing below 6e-8: emission fluxes
    of 1e-12 kg m-2 s-1 become 0, and temperatures are rounded to a quarter of a kelvin.
    """
    if da.dtype.kind == "f" and da.dtype.itemsize < 4:
        raise DataError(
            f"{argument}: dtype {da.dtype} is too narrow (about 3 significant digits, nothing below "
            f"6e-08: 1e-12 becomes 0); expected float32 or float64: keep or load the data as float32"
        )


def check_plausible(da: xr.DataArray, *, argument: str, values: np.ndarray | None = None) -> None:
    """Raise :class:`~xemu.DataError` when a known variable lies outside its plausible range.

    The ranges are :data:`xemu.data.units.PLAUSIBLE_RANGES`, in canonical units (``da`` must be
    converted already); values out of them usually mean wrong units, e.g. kelvin labelled
    ``degC`` or a mass flux labelled ``mm/day``.
    """
    from .units import plausible_range

    bounds = plausible_range(argument_name(argument), da)
    if bounds is None:
        return
    lo, hi = bounds
    arr = np.asarray(da.values if values is None else values)
    if arr.size == 0:
        return
    low, high = float(np.nanmin(arr)), float(np.nanmax(arr))
    if low >= lo and high <= hi:
        return
    n_out = int(((arr < lo) | (arr > hi)).sum())
    unit = da.attrs.get("units", "")
    converted = da.attrs.get("xemu_units_converted")
    raise DataError(
        f"{argument}: {n_out} of {arr.size} values outside the plausible range [{lo:g}, {hi:g}] {unit} "
        f"(found {low:.4g} .. {high:.4g} {unit}"
        + (f", after converting {converted}" if converted else "")
        + "); are the units right? Fix the data or its 'units' attribute"
    )


def argument_name(argument: str) -> str:
    """The variable name inside an argument label such as ``targets['tas']``."""
    if "[" in argument and argument.endswith("]"):
        return argument[argument.index("[") + 1 : -1].strip("'\"")
    return argument


def check_no_nan(da: xr.DataArray, *, argument: str, values: np.ndarray | None = None) -> None:
    """Raise :class:`~xemu.DataError` with the count and location of NaNs; nothing is filled."""
    arr = np.asarray(da.values if values is None else values)
    bad = ~np.isfinite(arr)
    if not bad.any():
        return
    if values is not None:  # ``values`` may be transposed or broadcast: locate on ``da`` itself
        own = ~np.isfinite(np.asarray(da.values))
        if own.any():
            bad = own
    where = []
    r = roles(da)
    sample = list(r.sample)
    if sample and bad.shape == da.shape:
        per = xr.DataArray(bad, dims=da.dims).sum([d for d in da.dims if d not in sample])
        per = per.transpose(*sample).values
        labels = [da[d].values.tolist() if d in da.coords else list(range(da.sizes[d])) for d in sample]
        for idx in zip(*np.nonzero(per), strict=True):
            lab = ", ".join(f"{d}={labels[i][j]!r}" for i, (d, j) in enumerate(zip(sample, idx, strict=True)))
            where.append(f"{lab}: {int(per[idx])}")
    detail = "; ".join(where[:6]) + (f"; ... ({len(where)} samples)" if len(where) > 6 else "")
    tdim = r.time
    if tdim is not None and bad.shape == da.shape:
        months = xr.DataArray(bad, dims=da.dims).any([d for d in da.dims if d != tdim]).values
        stamps = [_date_label(t) for t in np.asarray(da[tdim].values)[months]]
        span = stamps[0] if len(stamps) == 1 else f"{stamps[0]} .. {stamps[-1]}"
        detail = (detail + "; " if detail else "") + f"{tdim}: {len(stamps)} of {da.sizes[tdim]} steps, {span}"
    raise DataError(
        f"{argument}: {int(bad.sum())} NaN or infinite values of {bad.size}"
        + (f" ({detail})" if detail else "")
        + "; xemu fills nothing. Select the samples and months that have data, e.g. ds.sel(...)"
    )


def _date_label(t) -> str:
    return str(np.datetime_as_string(t, unit="D")) if isinstance(t, np.datetime64) else str(t)[:10]


def check_grid(ds: xr.Dataset, lat: xr.DataArray, lon: xr.DataArray, *, who: str) -> None:
    """Raise :class:`~xemu.GridError` when ``ds`` has the grid's dims with other coordinates."""
    for ref in (lat, lon):
        dim = ref.dims[0]
        if dim in ds.dims and (ds.sizes[dim] != ref.size or not np.allclose(ds[dim].values, ref.values, atol=1e-6)):
            raise GridError(
                f"ds: grid {dim!r} has {ds.sizes[dim]} values in [{float(ds[dim].min()):g}, "
                f"{float(ds[dim].max()):g}]; {who} was trained on {ref.size} in "
                f"[{float(ref.min()):g}, {float(ref.max()):g}]"
            )


def warn_outside_range(name: str, low: float, high: float, trained: tuple[float, float], *, units: str | None,
                       what: str = "values") -> bool:
    """Warn when ``[low, high]`` leaves the training range ``trained`` by more than :data:`RANGE_TOLERANCE`.

    The warning names the variable, the training range and how far out the values go; an
    emulator used there extrapolates. Returns whether it warned.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_outside_range("inputs['CO2']", 1000.0, 12000.0, (1536.0, 9363.0), units="Gt")
    True
    >>> str(w[0].message)[:80]
    "inputs['CO2']: values reach 1.2e+04 Gt, beyond the training range [1536, 9363] G"
    """
    lo, hi = (float(v) for v in trained)
    span = hi - lo if hi > lo else max(abs(hi), 1e-300)
    tol = RANGE_TOLERANCE * span
    unit = f" {units}" if units else ""
    parts = []
    if high > hi + tol:
        parts.append(f"reach {high:.3g}{unit}, beyond the training range [{lo:.4g}, {hi:.4g}]{unit} by "
                     f"{high - hi:.3g}{unit} ({100 * (high - hi) / span:.0f} % of the range)")
    if low < lo - tol:
        parts.append(f"go down to {low:.3g}{unit}, below the training range [{lo:.4g}, {hi:.4g}]{unit} by "
                     f"{lo - low:.3g}{unit} ({100 * (lo - low) / span:.0f} % of the range)")
    if parts:
        warn(f"{name}: {what} " + " and ".join(parts) + "; the emulator extrapolates there")
    return bool(parts)
