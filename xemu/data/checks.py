"""Checks of a Dataset before anything is built from it: the Dataset, its variables, time,
dtypes, missing and implausible values, the grid; the warning for inputs outside the
training range; and the memory a prediction in memory will ask for, checked before it is
taken (:func:`~xemu.data.checks.check_prediction_memory`). Every error names the argument,
what was expected and what came.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..errors import ConfigError, CoordinateError, DataError, GridError, warn
from .coords import order_hint, roles
from .once import once

__all__ = ["check_dataset", "check_variables", "month_index", "check_time", "check_series", "check_dtype",
           "check_plausible", "argument_name", "check_no_nan", "check_grid", "warn_outside_range",
           "RANGE_TOLERANCE", "MEMORY_FRACTION", "MEMORY_LIMIT", "available_memory", "memory_limit",
           "prediction_bytes", "prediction_sizes", "check_prediction_memory"]


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
    once("time", (time.variable,), lambda: _check_time(time, argument))


def _check_time(time: xr.DataArray, argument: str) -> None:
    from .coords import is_datetime_like

    if time.size == 0:
        raise DataError(f"{argument}: no time steps (an empty selection?)")
    if not is_datetime_like(time.values):
        raise CoordinateError(
            f"{argument}: expected dates (datetime64 or cftime); got dtype {time.dtype} (values "
            f"{np.asarray(time.values).ravel()[:2].tolist()} ...); decode them, e.g. xr.decode_cf(ds)"
        )
    months = month_index(time)
    step = np.diff(months)
    if step.size == 0:
        return
    values = np.asarray(time.values)

    def labels(i: int) -> str:  # for the messages only
        return _date_label(values[i])

    order = values[1:] > values[:-1] if np.issubdtype(values.dtype, np.datetime64) else None
    if order is None:
        order = np.array([b > a for a, b in zip(values[:-1], values[1:], strict=True)])
    if (values[1:] == values[:-1]).any():
        i = int(np.argmax(values[1:] == values[:-1]))
        n_dup = int((values[1:] == values[:-1]).sum())
        raise CoordinateError(
            f"{argument}: duplicate time stamps ({n_dup}; the first, {labels(i)}, at positions {i} and {i + 1}); "
            f"expected unique, increasing monthly stamps: drop or merge the duplicates"
        )
    if not order.all():
        i = int(np.argmin(order))
        raise CoordinateError(
            f"{argument}: not increasing: {labels(i + 1)} follows {labels(i)} at position {i + 1}; "
            f"expected increasing monthly stamps: sort with ds.sortby({time.dims[0]!r})"
        )
    if (step == 0).any():
        i = int(np.argmax(step == 0))
        per = int((months == months[i]).sum())
        raise CoordinateError(
            f"{argument}: {per} time steps fall in the month of {labels(i)}; expected monthly data, one "
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
    """Raise :class:`~xemu.GridError` when ``ds`` has the grid's dims with other coordinates.

    When they are the trained coordinates in another order (e.g. latitudes stored north to
    south for an emulator trained south to north), the message says so and how to sort them.
    """
    for ref in (lat, lon):
        dim = ref.dims[0]
        if dim in ds.dims and (ds.sizes[dim] != ref.size or not np.allclose(ds[dim].values, ref.values, atol=1e-6)):
            order = order_hint(ds[dim].values, ref.values, str(dim), who, latitude=ref is lat)
            raise GridError(
                f"ds: grid {dim!r} has {ds.sizes[dim]} values in [{float(ds[dim].min()):g}, "
                f"{float(ds[dim].max()):g}]" + (order or f"; {who} was trained on {ref.size} in "
                                                         f"[{float(ref.min()):g}, {float(ref.max()):g}]")
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


# -- memory asked for before it is taken ---------------------------------------------------------
#: The share of the machine's available memory (:func:`available_memory`) that one prediction
#: in memory may ask for: above it ``predict`` raises :class:`~xemu.ConfigError` before it
#: allocates anything (:func:`check_prediction_memory`). Set it (e.g.
#: ``xemu.data.checks.MEMORY_FRACTION = 0.95``) to allow more.
MEMORY_FRACTION = 0.8

#: A limit in bytes for one prediction in memory instead of :data:`MEMORY_FRACTION` of the
#: available memory: ``None`` (default) uses the fraction, a number of bytes replaces it,
#: ``math.inf`` turns the check off.
MEMORY_LIMIT: float | None = None

_GIB = 2.0**30


def available_memory() -> int | None:
    """Bytes of memory available to this process now, or ``None`` when it cannot be told.

    ``psutil.virtual_memory().available`` when psutil is installed, else ``MemAvailable`` of
    ``/proc/meminfo`` (Linux); either is lowered to what a cgroup (v2) memory limit leaves.
    """
    free = None
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or failing: Linux's own count
        try:
            with open("/proc/meminfo") as f:
                free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
        except (OSError, StopIteration, ValueError, IndexError):
            free = None
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max":
            left = max(int(limit) - used, 0)
            free = left if free is None else min(free, left)
    except (OSError, ValueError):
        pass
    return free


def memory_limit() -> tuple[float, str] | None:
    """The bytes one prediction in memory may ask for, and how that limit was set (``None``: no limit known)."""
    if MEMORY_LIMIT is not None:
        return float(MEMORY_LIMIT), "xemu.data.checks.MEMORY_LIMIT"
    free = available_memory()
    if free is None:
        return None
    return (MEMORY_FRACTION * free, f"{MEMORY_FRACTION:.0%} of the {_size(free)} available now, "
                                    f"xemu.data.checks.MEMORY_FRACTION")


def prediction_bytes(n_values: int, *, n_targets: int, n_channels: int, samples: int | None = None,
                     anchor: bool = False, calibrated: bool = False, itemsize: int = 4) -> tuple[int, int]:
    """The bytes of a prediction in memory and of its working arrays: ``(result, working)``.

    Parameters
    ----------
    n_values : int
        Values of one target's forced response: series x months x grid cells.
    n_targets : int
        Target variables.
    n_channels : int
        The network's input channels (0 for a baseline, which reads global means).
    samples : int, optional
        Realizations drawn (the result is ``samples`` times the forced response).
    anchor : bool
        The draws are anchored (:func:`xemu.variability.anchor_draws`).
    calibrated : bool
        The calibrated prediction (``variability="calibrated"``).
    itemsize : int
        Bytes per value (float32).

    Notes
    -----
    Fitted to the peak resident memory of ``predict`` on the synthetic climate (32 x 64
    cells, 3 scenarios; ``tests/test_memory.py`` checks it within 2x): the
    network's inputs twice (prepared, then normalised) and the forced response four times
    (network output, baseline, sum, Dataset; a baseline alone: once); the calibrated
    prediction, which runs after the network's arrays are freed, the forced response and
    six more (its running mean, deviations, stretch and the blocks it is cut into and joined
    from), or the network's working set where that is larger; samples
    half their result again (the parametric model's innovations; the bootstrap needs less)
    and one target's series in float64; anchored samples eight times one target's draws
    (float64 copies).
    """
    field = n_values * itemsize
    forced = n_targets * field
    result = forced * (samples or 1)
    working = 2 * n_channels * field + (4 if n_channels else 1) * forced
    if calibrated:
        working = max(working, 7 * forced)
    if samples:
        working += result // 2 + 2 * field + (8 * samples * field if anchor else 0)
    return int(result), int(working)


def _size(n: float) -> str:
    """Bytes for a message: ``"24,719 GiB"``, ``"15.8 GiB"``, ``"0.2 GiB"``, ``"30 MiB"``, ``"0.6 MiB"``."""
    if n >= 100 * _GIB:
        return f"{n / _GIB:,.0f} GiB"
    if n >= 0.1 * _GIB:
        return f"{n / _GIB:.1f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 10 * 2**20 else f"{n / 2**20:.1f} MiB"


def prediction_sizes(ds: xr.Dataset, names, grid: dict[str, int]) -> dict[str, int] | None:
    """The sizes of a prediction from ``ds``'s variables ``names`` on ``grid`` (``{dim: size}``):
    the variables' sample dims, time, then the grid; ``None`` when they cannot be told (the
    prediction's own checks then say why)."""
    sample, time = {}, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # prepare warns (once) about what it finds odd
            for name in names:
                r = roles(ds[name], name=name)
                time = time or r.time
                sample.update({d: ds.sizes[d] for d in r.sample})
    except Exception:  # an odd variable: prepare raises the error that explains it
        return None
    if time is None:
        return None
    return {**sample, time: ds.sizes[time], **grid}


def check_prediction_memory(ds: xr.Dataset, names, grid: dict[str, int], *, n_targets: int, n_channels: int,
                            samples: int | None, anchor: bool, who: str, calibrated: bool = False,
                            lazy: bool = False) -> None:
    """Raise :class:`~xemu.ConfigError` before a prediction in memory that would not fit.

    The bytes are :func:`prediction_bytes`' for the sizes of :func:`prediction_sizes`, plus
    the dask-backed variables of ``names`` (read into memory first); the limit is
    :data:`MEMORY_LIMIT`, else :data:`MEMORY_FRACTION` of :func:`available_memory` (no check
    when neither is known). The message names ``samples`` (or ``ds``), the sizes, the GiB
    needed and what fits: fewer samples, ``lazy=True`` (``lazy``: ``who`` has it) or a part of
    ``ds`` at a time.
    """
    sizes = prediction_sizes(ds, names, grid)
    limit = memory_limit()
    if sizes is None or limit is None or (samples is not None and (
            isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1)):
        return  # a bad ``samples`` is refused with its own message
    n_values = int(np.prod(list(sizes.values()), dtype=np.float64))
    read = sum(int(ds[n].nbytes) for n in names if ds[n].chunks is not None)
    options = {"n_targets": n_targets, "n_channels": n_channels, "anchor": anchor, "calibrated": calibrated}
    result, working = prediction_bytes(n_values, samples=samples, **options)
    working += read
    if result + working <= limit[0]:
        return
    shape = ", ".join(f"{d} {n}" for d, n in sizes.items())
    need = (f"needs about {_size(result + working)} in memory (the result {_size(result)}, working arrays "
            f"{_size(working)}), more than the {_size(limit[0])} allowed ({limit[1]})")
    one = sum(prediction_bytes(n_values, samples=1, **options)) + read
    if samples and one <= limit[0]:
        per = max((result + working - one) / max(samples - 1, 1), 1.0)
        fits = int((limit[0] - one) // per) + 1
        also = "; lazy=True predicts the forced response block by block" if lazy else ""
        raise ConfigError(f"samples: {who} with samples={samples} on ({shape}) {need}; expected at most about "
                          f"{fits} samples here: ask for fewer, or draw them in batches (each with its own seed) "
                          f"and write each to disk{also}")
    part = "predict a part of ds at a time"
    fix = (f"pass lazy=True (or a dask-backed Dataset) to predict block by block, or {part}" if lazy and not samples
           else f"{part} (e.g. ds.isel(time=slice(0, n)) or one scenario)")
    raise ConfigError(f"ds: {who}{f' with samples={samples}' if samples else ''} on ({shape}) {need}; {fix}")
