"""From a Dataset to model-ready arrays: variables checked, units, grids, seasons, NaNs.

This is where the pipeline's first arrows meet (:mod:`~xemu.coords` roles and grid
alignment, :mod:`~xemu.units` contracts, :mod:`~xemu.encoding` channels). The result,
:class:`Prepared`, holds plain numpy arrays laid out ``(sample, time, channel, lat, lon)``
plus the labels needed to turn predictions back into a Dataset. It knows nothing of torch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..data.grid import area_weights
from ..errors import ConfigError, CoordinateError, DataError, GridError, warn
from .coords import align_grid, find_dim, roles
from .encoding import ENCODINGS, encode_season
from .units import check_units, convert_units, to_canonical, units_of

__all__ = ["describe_selection", "Prepared", "prepare", "check_dataset", "check_variables", "check_no_nan", "month_index", "holdout_mask",
           "to_dataset", "check_grid", "warn_outside_range", "RANGE_TOLERANCE", "check_time", "check_dtype",
           "check_plausible", "KEPT_ATTRS", "KEPT_COORD_ATTRS", "CONVENTIONS", "prediction_attrs"]

#: How far (as a fraction of the training range) an input may go beyond it before a warning.
RANGE_TOLERANCE = 0.01

#: Attributes of a target variable that a prediction of it keeps: those that stay true of a
#: prediction. Everything else is dropped, because it describes the model output the emulator
#: was trained on, not the prediction: ``frequency``/``mipTable`` (the source's sampling),
#: ``comment``/``description``/``history`` (notes on the source data), ``cell_measures``,
#: ``bounds``, ``coordinates``, ``ancillary_variables``, ``grid_mapping`` (they name variables a
#: prediction does not carry), ``valid_min``/``valid_max``/``valid_range`` (a prediction may leave
#: them), packing and fill values (the writer's business) and any other CMOR bookkeeping.
#: ``xemu_units_converted`` is xemu's note that the target was converted to these units.
KEPT_ATTRS: tuple[str, ...] = ("standard_name", "long_name", "units", "cell_methods", "xemu_units_converted")

#: Attributes of a prediction's coordinates (time, the grid, the sample dims) that it keeps:
#: the CF attributes that describe the coordinate itself. ``bounds`` is dropped (a prediction
#: carries no bounds variables), and so is anything else (``title``, ``type``, CMOR notes).
#: Time's ``units`` and ``calendar`` live in its encoding and are written as they came; time
#: gets ``standard_name: time`` and ``axis: T`` when the input's time coordinate had none.
KEPT_COORD_ATTRS: tuple[str, ...] = ("standard_name", "long_name", "units", "axis", "calendar", "positive",
                                     "valid_min", "valid_max", "valid_range")

#: The CF version a prediction's global ``Conventions`` attribute names.
CONVENTIONS = "CF-1.8"


@dataclass
class Prepared:
    """Model-ready arrays and the labels to undo the layout.

    Attributes
    ----------
    inputs : numpy.ndarray
        ``(S_in, T, C, H, W)`` float32: input variables (broadcast to the target grid)
        followed by the seasonal-encoding channels.
    channels : list of str
        Names of the ``C`` input channels.
    input_sample_dims : tuple of str
        Sample dims of ``inputs`` (product gives ``S_in``), with coords in ``sample_coords``.
    targets : numpy.ndarray or None
        ``(S_t, T, V, H, W)`` float32 in canonical units.
    target_sample_dims : tuple of str
    target_to_input : numpy.ndarray
        ``(S_t,)``: the input sample each target sample is forced by.
    """

    inputs: np.ndarray
    channels: list[str]
    input_sample_dims: tuple[str, ...]
    time: xr.DataArray
    lat: xr.DataArray
    lon: xr.DataArray
    sample_coords: dict[str, xr.DataArray]
    input_units: dict[str, str]
    targets: np.ndarray | None = None
    target_names: list[str] = field(default_factory=list)
    target_sample_dims: tuple[str, ...] = ()
    target_to_input: np.ndarray | None = None
    target_units: dict[str, str] = field(default_factory=dict)
    target_attrs: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sample_labels(self, dims: Sequence[str]) -> list[dict]:
        """One ``{dim: label}`` dict per sample, in the row order of the arrays."""
        values = [self.sample_coords[d].values.tolist() for d in dims]
        return [dict(zip(dims, combo, strict=True)) for combo in itertools.product(*values)]


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

    The ranges are :data:`xemu.units.PLAUSIBLE_RANGES`, in canonical units (``da`` must be
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


def prepare(
    ds: xr.Dataset,
    inputs: Sequence[str],
    targets: Sequence[str] | None = None,
    *,
    encoding: str = "sincos",
    grid_alignment: str = "position",
    input_units: dict[str, str] | None = None,
    grid: tuple[xr.DataArray, xr.DataArray] | None = None,
    input_sample_dims: Sequence[str] | None = None,
    inputs_as: str = "maps",
) -> Prepared:
    """Check and assemble ``inputs`` (and ``targets``) of ``ds`` into arrays.

    Parameters
    ----------
    ds : xarray.Dataset
    inputs, targets : list of str
        Variable names. Targets must be maps with units; inputs are maps or global series
        (broadcast to the grid), with units.
    encoding : {"sincos", "study", "none"}
        Seasonal channels appended to the inputs (:func:`xemu.encode_season`).
    grid_alignment : {"position", "interp", "exact"}
        How input maps on another grid are put on the target grid (:func:`xemu.coords.align_grid`).
    input_units : dict, optional
        Units the inputs must be converted to (the contract of a trained emulator).
    grid : (lat, lon), optional
        The target grid, when there are no targets (prediction).
    input_sample_dims : list of str, optional
        Sample dims of the inputs (default: the union of the inputs' own sample dims).
    inputs_as : {"maps", "global_means"}
        ``"maps"``: inputs ``(S_in, T, C, H, W)`` on the target grid, seasonal channels
        appended. ``"global_means"``: ``(S_in, T, K)`` area-weighted global means of each
        input on its own grid (global series as they are); no seasonal channels.

    Returns
    -------
    Prepared
    """
    ds = check_dataset(ds, argument="ds")
    if inputs_as not in ("maps", "global_means"):
        raise ConfigError(f"inputs_as: expected 'maps' or 'global_means'; got {inputs_as!r}")
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding: expected one of {sorted(ENCODINGS)}; got {encoding!r}")
    inputs = check_variables(ds, inputs, argument="inputs")
    target_names = check_variables(ds, targets, argument="targets") if targets is not None else []
    both = sorted(set(inputs) & set(target_names))
    if both:
        raise DataError(f"inputs and targets: variables {both} are in both")
    notes: list[str] = []

    # targets: the grid, units and sample dims
    tgt_arrays = []
    target_units, target_attrs = {}, {}
    if target_names:
        check_units(ds, target_names, argument="targets")
        first = roles(ds[target_names[0]], name=target_names[0])
        if first.spatial is None or first.time is None:
            raise DataError(
                f"targets[{target_names[0]!r}]: expected a (time, latitude, longitude) map; "
                f"got dims {ds[target_names[0]].dims}"
            )
        for name in target_names:
            check_dtype(ds[name], argument=f"targets[{name!r}]")
            r = roles(ds[name], name=name)
            if (r.time, r.latitude, r.longitude) != (first.time, first.latitude, first.longitude) or set(
                r.sample
            ) != set(first.sample):
                raise GridError(
                    f"targets[{name!r}]: dims {ds[name].dims} differ from those of "
                    f"{target_names[0]!r} {ds[target_names[0]].dims}; all targets share one grid"
                )
            da = to_canonical(ds[name], name=name)
            if "xemu_units_converted" in da.attrs and da.attrs.get("xemu_units_converted") != ds[
                name
            ].attrs.get("xemu_units_converted"):
                notes.append(f"targets[{name!r}]: {da.attrs['xemu_units_converted']}")
            target_units[name] = units_of(da)
            target_attrs[name] = dict(da.attrs)
            tgt_arrays.append(da)
        time_dim, lat_dim, lon_dim = first.time, first.latitude, first.longitude
        target_sample = first.sample
        lat, lon = ds[lat_dim], ds[lon_dim]
    else:
        if grid is None:
            raise ConfigError("grid: needed to prepare inputs without targets")
        lat, lon = grid
        lat_dim, lon_dim = lat.dims[0], lon.dims[0]
        time_dim = find_dim(ds[inputs[0]], "time", name=f"inputs[{inputs[0]!r}]")
        target_sample = ()
    if time_dim not in ds.dims:
        raise DataError(f"time: dimension {time_dim!r} not in the Dataset {tuple(ds.dims)}")
    time = ds[time_dim]
    check_time(time, argument=f"ds.{time_dim}")

    # inputs: units, grids and sample dims
    check_units(ds, inputs, argument="inputs")
    in_units = {}
    in_arrays = []
    for name in inputs:
        da = ds[name]
        check_dtype(da, argument=f"inputs[{name!r}]")
        if input_units is not None:
            da = convert_units(da, input_units[name], name=f"inputs[{name!r}]")
        in_units[name] = units_of(da)
        r = roles(da, name=f"inputs[{name!r}]")
        if r.time != time_dim:
            raise DataError(
                f"inputs[{name!r}]: expected the time dimension {time_dim!r}; got dims {da.dims}"
            )
        if r.spatial is not None and inputs_as == "global_means":
            check_no_nan(da, argument=f"inputs[{name!r}]")
            weights = area_weights(da[r.latitude])
            da = da.weighted(weights).mean([r.latitude, r.longitude])
        elif r.spatial is not None and (r.latitude, r.longitude) != (lat_dim, lon_dim):
            da = align_grid(da, xr.Dataset(coords={lat_dim: lat, lon_dim: lon}), method=grid_alignment,
                            name=f"inputs[{name!r}]")
            notes.append(f"inputs[{name!r}]: {da.attrs.get('xemu_grid_alignment')}")
        elif r.spatial is not None:
            _check_same_grid(da, lat, lon, lat_dim, lon_dim, name=f"inputs[{name!r}]")
        extra = [d for d in r.sample if target_names and d not in target_sample]
        if extra:
            raise DataError(
                f"inputs[{name!r}]: sample dims {extra} are not dims of the targets {target_sample}; "
                f"an input cannot vary along a dim its targets lack"
            )
        in_arrays.append((name, da, r))
    if input_sample_dims is None:
        present = {d for _, _, r in in_arrays for d in r.sample}
        order = list(target_sample) if target_names else [d for _, da, _ in in_arrays for d in da.dims]
        input_sample_dims = tuple(dict.fromkeys(d for d in order if d in present))
    input_sample_dims = tuple(input_sample_dims)
    empty = {d: 0 for d in (*input_sample_dims, *target_sample) if ds.sizes[d] == 0}
    if empty:
        raise DataError(f"ds: nothing selected along {sorted(empty)} (size 0); select at least one label of each")
    sample_coords = {d: ds[d] if d in ds.coords else xr.DataArray(np.arange(ds.sizes[d]), dims=d)
                     for d in (*input_sample_dims, *target_sample)}

    template = xr.DataArray(
        np.zeros([ds.sizes[d] for d in input_sample_dims] + [time.size, lat.size, lon.size], np.float32),
        dims=(*input_sample_dims, time_dim, lat_dim, lon_dim),
        coords={time_dim: time, lat_dim: lat, lon_dim: lon,
                **{d: sample_coords[d] for d in input_sample_dims}},
    )
    s_in = int(np.prod([ds.sizes[d] for d in input_sample_dims], dtype=int))
    channels = list(inputs)
    if inputs_as == "global_means":
        series = template.isel({lat_dim: 0, lon_dim: 0}, drop=True)
        x = np.empty((s_in, time.size, len(inputs)), np.float64)
        for c, (name, da, _r) in enumerate(in_arrays):
            values = da.broadcast_like(series).transpose(*series.dims).values
            check_no_nan(da, argument=f"inputs[{name!r}]", values=values)
            x[:, :, c] = values.reshape(s_in, time.size)
    else:
        x, channels = _input_maps(in_arrays, template, time, encoding, s_in, lat, lon, inputs)
    prep = Prepared(
        inputs=x,
        channels=channels,
        input_sample_dims=input_sample_dims,
        time=time,
        lat=lat,
        lon=lon,
        sample_coords=sample_coords,
        input_units=in_units,
        notes=notes,
    )
    return _add_targets(prep, ds, target_names, tgt_arrays, target_sample, time_dim, lat_dim, lon_dim,
                        target_units, target_attrs)


def _input_maps(in_arrays, template, time, encoding, s_in, lat, lon, inputs):
    channels = list(inputs)
    enc = encode_season(template, encoding, time=time) if encoding != "none" else None
    n_channels = len(inputs) + (len(enc.data_vars) if enc is not None else 0)
    x = np.empty((s_in, time.size, n_channels, lat.size, lon.size), np.float32)
    for c, (name, da, _r) in enumerate(in_arrays):
        values = da.broadcast_like(template).transpose(*template.dims).values
        check_no_nan(da, argument=f"inputs[{name!r}]", values=values)
        x[:, :, c] = values.reshape(s_in, time.size, lat.size, lon.size)
    if enc is not None:
        for k, name in enumerate(enc.data_vars):
            x[:, :, len(inputs) + k] = enc[name].values[None]
            channels.append(str(name))
    return x, channels


def _add_targets(prep, ds, target_names, tgt_arrays, target_sample, time_dim, lat_dim, lon_dim,
                 target_units, target_attrs) -> Prepared:
    time, lat, lon = prep.time, prep.lat, prep.lon
    input_sample_dims = prep.input_sample_dims
    if target_names:
        s_t = int(np.prod([ds.sizes[d] for d in target_sample], dtype=int))
        y = np.empty((s_t, time.size, len(target_names), lat.size, lon.size), np.float32)
        order = (*target_sample, time_dim, lat_dim, lon_dim)
        for v, da in enumerate(tgt_arrays):
            values = da.transpose(*order).values
            check_no_nan(da, argument=f"targets[{target_names[v]!r}]", values=values)
            check_plausible(da, argument=f"targets[{target_names[v]!r}]", values=values)
            y[:, :, v] = values.reshape(s_t, time.size, lat.size, lon.size)
        # which input sample forces each target sample
        labels = prep.sample_labels(target_sample)
        in_labels = prep.sample_labels(input_sample_dims)
        lookup = {tuple(lab[d] for d in input_sample_dims): i for i, lab in enumerate(in_labels)}
        t2i = np.array([lookup[tuple(lab[d] for d in input_sample_dims)] for lab in labels], np.int64)
        prep.targets, prep.target_names = y, target_names
        prep.target_sample_dims, prep.target_to_input = tuple(target_sample), t2i
        prep.target_units, prep.target_attrs = target_units, target_attrs
    return prep


def _check_same_grid(da, lat, lon, lat_dim, lon_dim, *, name: str) -> None:
    for dim, ref in ((lat_dim, lat), (lon_dim, lon)):
        got = np.asarray(da[dim], float)
        want = np.asarray(ref, float)
        if got.shape != want.shape or not np.allclose(got, want, atol=1e-6):
            raise GridError(
                f"{name}: {dim!r} has {got.size} values in [{got.min():g}, {got.max():g}]; the "
                f"target grid has {want.size} in [{want.min():g}, {want.max():g}]"
            )


def holdout_mask(p: Prepared, holdout: dict | None) -> np.ndarray:
    """``(S_t, T)`` bool: the target months named by ``holdout``.

    ``holdout`` maps target sample dims and the time dim to labels, lists of labels or
    slices (time slices may be partial date strings), e.g.
    ``{"ssp": "ssp370", "member_id": 0, "time": slice("2090-02", None)}``.
    """
    shape = (int(np.prod([p.sample_coords[d].size for d in p.target_sample_dims], dtype=int)), p.time.size)
    if not holdout:
        return np.zeros(shape, bool)
    time_dim = p.time.dims[0]
    dims = (*p.target_sample_dims, time_dim)
    unknown = [k for k in holdout if k not in dims]
    if unknown:
        raise DataError(f"holdout: unknown dims {unknown}; expected some of {list(dims)}")
    coords = {d: p.sample_coords[d].values for d in p.target_sample_dims}
    mask = xr.DataArray(np.zeros([len(coords[d]) for d in p.target_sample_dims] + [p.time.size], bool),
                        dims=dims, coords={**coords, time_dim: p.time.values})
    try:
        mask.loc[dict(holdout)] = True
    except (KeyError, ValueError, TypeError) as err:
        raise DataError(f"holdout: cannot select {holdout!r} ({err})") from None
    if not mask.any():
        raise DataError(f"holdout: {holdout!r} selects no month")
    return mask.values.reshape(shape)


def to_dataset(values: np.ndarray, p: Prepared, names: Sequence[str], attrs: dict[str, dict],
               history: str, *, source: str | None = None, input_attrs: dict | None = None) -> xr.Dataset:
    """Turn ``(S_in, T, V, H, W)`` predictions into a Dataset on the inputs' samples, time and grid.

    Both the CNN-GRU (:meth:`xemu.Emulator.predict`) and the baselines build their
    predictions here, so that every prediction carries the same, true, metadata.

    Parameters
    ----------
    values : numpy.ndarray
        ``(S_in, T, V, H, W)`` predictions in the targets' units.
    p : Prepared
        The prepared inputs (samples, time and grid labels).
    names : list of str
        The ``V`` target names.
    attrs : dict
        Attributes of each target in the training data; only :data:`KEPT_ATTRS` are kept.
    history : str
        What made the prediction, e.g. ``"predicted tas, pr with xemu 0.1.0 ..."``; it becomes
        a dated line of the global ``history`` (see :func:`prediction_attrs`).
    source : str, optional
        The global ``source`` attribute, e.g. ``"xemu 0.1.0 cnn-gru emulator (baseline linear)"``.
    input_attrs : dict, optional
        The input Dataset's global attributes: its ``history``, when there is one, is kept and
        the new line appended.

    Returns
    -------
    xarray.Dataset
        One variable per target, with :data:`KEPT_ATTRS` only; coordinates with
        :data:`KEPT_COORD_ATTRS` only; global attributes from :func:`prediction_attrs`.
    """
    dims = (*p.input_sample_dims, p.time.dims[0], p.lat.dims[0], p.lon.dims[0])
    shape = [p.sample_coords[d].size for d in p.input_sample_dims] + [p.time.size, p.lat.size, p.lon.size]
    coords = {d: _coord(p.sample_coords[d]) for d in p.input_sample_dims}
    time = _coord(p.time)
    time.attrs = {"standard_name": "time", "axis": "T", **time.attrs}  # true of a time axis, if the input said nothing
    coords.update({p.time.dims[0]: time, p.lat.dims[0]: _coord(p.lat), p.lon.dims[0]: _coord(p.lon)})
    out = {}
    for v, name in enumerate(names):
        a = {k: attrs[name][k] for k in KEPT_ATTRS if k in attrs.get(name, {})}
        out[name] = xr.DataArray(values[:, :, v].reshape(shape), dims=dims, coords=coords, attrs=a)
    return xr.Dataset(out, attrs=prediction_attrs(names, history, source=source, input_attrs=input_attrs))


def _coord(da: xr.DataArray) -> xr.DataArray:
    """``da`` as a dimension coordinate with only :data:`KEPT_COORD_ATTRS` (its encoding kept)."""
    dim = da.dims[0]
    var = xr.Variable(dim, np.asarray(da.values), {k: da.attrs[k] for k in KEPT_COORD_ATTRS if k in da.attrs})
    var.encoding = {k: v for k, v in da.encoding.items() if k in ("units", "calendar", "dtype")}
    return xr.DataArray(var, coords={dim: var}, name=dim)


def prediction_attrs(names: Sequence[str], history: str, *, source: str | None = None,
                     input_attrs: dict | None = None, now: str | None = None) -> dict:
    """Global attributes of a prediction: ``Conventions``, ``title``, ``source``, ``history``.

    Parameters
    ----------
    names : list of str
        The predicted variables (they name the ``title``).
    history : str
        What made the prediction; written as the line ``"<UTC time>: <history>"``.
    source : str, optional
        What produced the values (default: ``"xemu <version>"``).
    input_attrs : dict, optional
        The input Dataset's global attributes; its ``history`` (when there is one) comes
        first and the new line is appended, as CF asks.
    now : str, optional
        The time stamp (default: now, UTC, ISO 8601 to the second).

    Examples
    --------
    >>> a = prediction_attrs(["tas", "pr"], "predicted tas, pr with xemu", source="xemu 0.1.0 linear baseline",
    ...                      input_attrs={"history": "made by a climate model"}, now="2025-06-01T12:00:00Z")
    >>> a["Conventions"], a["title"], a["source"]
    ('CF-1.8', 'xemu prediction of tas and pr', 'xemu 0.1.0 linear baseline')
    >>> print(a["history"])
    made by a climate model
    2025-06-01T12:00:00Z: predicted tas, pr with xemu
    """
    from datetime import UTC, datetime

    from ..version import __version__

    names = [str(n) for n in names]
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    stamp = now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = str((input_attrs or {}).get("history") or "").rstrip("\n")
    line = f"{stamp}: {history}"
    return {
        "Conventions": CONVENTIONS,
        "title": f"xemu prediction of {what}",
        "source": source or f"xemu {__version__}",
        "history": f"{before}\n{line}" if before else line,
    }


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


def describe_selection(p: Prepared, holdout) -> str:
    """What a model was trained on: the samples, the time span and the holdout left out, in words."""
    dims = ", ".join(f"{d}={p.sample_coords[d].values.tolist()}" for d in p.target_sample_dims)
    t = p.time.values
    span = f"time {t[0]} .. {t[-1]}" if t.size else "no time"
    text = f"{dims}; {span}" if dims else span
    if holdout:
        text += f"; except the holdout {_format_holdout(holdout)}"
    return text


def _format_holdout(holdout: dict) -> str:
    parts = []
    for k, v in holdout.items():
        if isinstance(v, slice):
            v = f"{v.start or ''}..{v.stop or ''}"
        parts.append(f"{k}={v}")
    return "{" + ", ".join(parts) + "}"
