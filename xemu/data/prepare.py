"""From a Dataset to model-ready arrays: variables checked, units, grids, seasons, NaNs.

This is where the pipeline's first arrows meet (:mod:`~xemu.data.checks` checks,
:mod:`~xemu.data.coords` roles and grid alignment, :mod:`~xemu.data.units` contracts,
:mod:`~xemu.data.encoding` channels). The result, :class:`Prepared`, holds plain numpy arrays
laid out ``(sample, time, channel, lat, lon)`` plus the labels needed to turn predictions back
into a Dataset (:func:`xemu.data.labels.to_dataset`). It knows nothing of torch.

:func:`prepare` runs in named steps: the request checked (``_check_request``), the targets
and their grid (``_targets``, or ``_no_targets`` for a prediction), time
(``_time``), the inputs on that grid (``_inputs``), the sample dims and labels, the
input array (``_input_array``) and the target array (``_add_targets``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..errors import ConfigError, DataError, GridError
from .checks import (
    check_dataset,
    check_dtype,
    check_no_nan,
    check_plausible,
    check_time,
    check_variables,
)
from .coords import align_grid, find_dim, roles
from .encoding import ENCODINGS, encode_season
from .grid import area_weights
from .units import check_units, convert_units, to_canonical, units_of

__all__ = ["Prepared", "prepare", "holdout_mask"]


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
        How input maps on another grid are put on the target grid (:func:`xemu.data.coords.align_grid`).
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
    ds, inputs, target_names = _check_request(ds, inputs, targets, encoding=encoding, inputs_as=inputs_as)
    notes: list[str] = []
    tg = _targets(ds, target_names, notes) if target_names else _no_targets(ds, inputs, grid)
    time = _time(ds, tg.time_dim)
    in_units, in_arrays = _inputs(ds, inputs, tg, input_units, inputs_as, grid_alignment, notes)
    input_sample_dims = _input_sample_dims(in_arrays, tg, input_sample_dims)
    sample_coords = _sample_coords(ds, (*input_sample_dims, *tg.sample))
    x, channels = _input_array(ds, in_arrays, inputs, tg, time, input_sample_dims, sample_coords, inputs_as,
                               encoding)
    prep = Prepared(
        inputs=x,
        channels=channels,
        input_sample_dims=input_sample_dims,
        time=time,
        lat=tg.lat,
        lon=tg.lon,
        sample_coords=sample_coords,
        input_units=in_units,
        notes=notes,
    )
    return _add_targets(prep, ds, target_names, tg) if target_names else prep


def _check_request(ds, inputs, targets, *, encoding: str, inputs_as: str) -> tuple[xr.Dataset, list, list]:
    """``ds`` checked, the options checked, and the input and target names (none in both)."""
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
    return ds, inputs, target_names


@dataclass
class _Targets:
    """The targets' arrays, units and attrs, and the grid, time and sample dims they set."""

    time_dim: str
    lat_dim: str
    lon_dim: str
    lat: xr.DataArray
    lon: xr.DataArray
    sample: tuple = ()
    arrays: list = field(default_factory=list)
    units: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)


def _targets(ds: xr.Dataset, target_names: list[str], notes: list[str]) -> _Targets:
    """The targets in canonical units, checked to share one grid (notes of unit conversions appended)."""
    check_units(ds, target_names, argument="targets")
    first = roles(ds[target_names[0]], name=target_names[0])
    if first.spatial is None or first.time is None:
        raise DataError(
            f"targets[{target_names[0]!r}]: expected a (time, latitude, longitude) map; "
            f"got dims {ds[target_names[0]].dims}"
        )
    tg = _Targets(first.time, first.latitude, first.longitude, ds[first.latitude], ds[first.longitude],
                  first.sample)
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
        tg.units[name] = units_of(da)
        tg.attrs[name] = dict(da.attrs)
        tg.arrays.append(da)
    return tg


def _no_targets(ds: xr.Dataset, inputs: list[str], grid) -> _Targets:
    """Without targets (prediction): the target grid given, the time dim of the first input."""
    if grid is None:
        raise ConfigError("grid: needed to prepare inputs without targets")
    lat, lon = grid
    time_dim = find_dim(ds[inputs[0]], "time", name=f"inputs[{inputs[0]!r}]")
    return _Targets(time_dim, lat.dims[0], lon.dims[0], lat, lon)


def _time(ds: xr.Dataset, time_dim: str) -> xr.DataArray:
    """The time coordinate ``time_dim`` of ``ds``, checked (dates, unique, increasing, monthly)."""
    if time_dim not in ds.dims:
        raise DataError(f"time: dimension {time_dim!r} not in the Dataset {tuple(ds.dims)}")
    time = ds[time_dim]
    check_time(time, argument=f"ds.{time_dim}")
    return time


def _inputs(ds: xr.Dataset, inputs: list[str], tg: _Targets, input_units, inputs_as: str, grid_alignment: str,
            notes: list[str]) -> tuple[dict, list]:
    """Each input in its (contract) units, on the target grid or as its global mean; its roles."""
    check_units(ds, inputs, argument="inputs", known=input_units)
    in_units = {}
    in_arrays = []
    for name in inputs:
        da = ds[name]
        check_dtype(da, argument=f"inputs[{name!r}]")
        if input_units is not None:
            da = convert_units(da, input_units[name], name=f"inputs[{name!r}]")
        in_units[name] = units_of(da)
        r = roles(da, name=f"inputs[{name!r}]")
        if r.time != tg.time_dim:
            raise DataError(
                f"inputs[{name!r}]: expected the time dimension {tg.time_dim!r}; got dims {da.dims}"
            )
        if r.spatial is not None:
            da = _input_on_grid(da, r, tg, inputs_as, grid_alignment, notes, name=f"inputs[{name!r}]")
        extra = [d for d in r.sample if tg.arrays and d not in tg.sample]
        if extra:
            raise DataError(
                f"inputs[{name!r}]: sample dims {extra} are not dims of the targets {tg.sample}; "
                f"an input cannot vary along a dim its targets lack"
            )
        in_arrays.append((name, da, r))
    return in_units, in_arrays


def _input_on_grid(da: xr.DataArray, r, tg: _Targets, inputs_as: str, grid_alignment: str,
                   notes: list[str], *, name: str) -> xr.DataArray:
    """An input map as its area-weighted global mean, aligned to the target grid, or checked to be on it."""
    if inputs_as == "global_means":
        check_no_nan(da, argument=name)
        weights = area_weights(da[r.latitude])
        return da.weighted(weights).mean([r.latitude, r.longitude])
    if (r.latitude, r.longitude) != (tg.lat_dim, tg.lon_dim):
        target = xr.Dataset(coords={tg.lat_dim: tg.lat, tg.lon_dim: tg.lon})
        da = align_grid(da, target, method=grid_alignment, name=name)
        notes.append(f"{name}: {da.attrs.get('xemu_grid_alignment')}")
        return da
    _check_same_grid(da, tg.lat, tg.lon, tg.lat_dim, tg.lon_dim, name=name)
    return da


def _input_sample_dims(in_arrays: list, tg: _Targets, given: Sequence[str] | None) -> tuple[str, ...]:
    """The inputs' sample dims: ``given``, or those the inputs have, in the order of the targets'
    sample dims (without targets, of the inputs' dims)."""
    if given is not None:
        return tuple(given)
    present = {d for _, _, r in in_arrays for d in r.sample}
    order = list(tg.sample) if tg.arrays else [d for _, da, _ in in_arrays for d in da.dims]
    return tuple(dict.fromkeys(d for d in order if d in present))


def _sample_coords(ds: xr.Dataset, dims: tuple[str, ...]) -> dict[str, xr.DataArray]:
    """The labels of each sample dim (positions where ``ds`` has no coordinate); none may be empty."""
    empty = {d: 0 for d in dims if ds.sizes[d] == 0}
    if empty:
        raise DataError(f"ds: nothing selected along {sorted(empty)} (size 0); select at least one label of each")
    return {d: ds[d] if d in ds.coords else xr.DataArray(np.arange(ds.sizes[d]), dims=d) for d in dims}


def _input_array(ds, in_arrays, inputs, tg: _Targets, time, input_sample_dims, sample_coords, inputs_as: str,
                 encoding: str):
    """The inputs as one array: maps ``(S_in, T, C, H, W)`` with the seasonal channels, or global
    means ``(S_in, T, K)``; and the channel names."""
    lat, lon = tg.lat, tg.lon
    template = xr.DataArray(
        np.zeros([ds.sizes[d] for d in input_sample_dims] + [time.size, lat.size, lon.size], np.float32),
        dims=(*input_sample_dims, tg.time_dim, tg.lat_dim, tg.lon_dim),
        coords={tg.time_dim: time, tg.lat_dim: lat, tg.lon_dim: lon,
                **{d: sample_coords[d] for d in input_sample_dims}},
    )
    s_in = int(np.prod([ds.sizes[d] for d in input_sample_dims], dtype=int))
    if inputs_as != "global_means":
        return _input_maps(in_arrays, template, time, encoding, s_in, lat, lon, inputs)
    series = template.isel({tg.lat_dim: 0, tg.lon_dim: 0}, drop=True)
    x = np.empty((s_in, time.size, len(inputs)), np.float64)
    for c, (name, da, _r) in enumerate(in_arrays):
        values = _broadcast_values(da, series)
        check_no_nan(da, argument=f"inputs[{name!r}]", values=values)
        x[:, :, c] = values.reshape(s_in, time.size)
    return x, list(inputs)


def _broadcast_values(da: xr.DataArray, like: xr.DataArray) -> np.ndarray:
    """``da``'s values on ``like``'s dims (repeated, as a view, along those it lacks). The inputs are
    variables of one Dataset, on its coordinates: there is nothing to align, and
    ``da.broadcast_like(like)`` would copy each index for nothing."""
    arr = da.transpose(*(d for d in like.dims if d in da.dims)).values
    return np.broadcast_to(arr.reshape([like.sizes[d] if d in da.dims else 1 for d in like.dims]), like.shape)


def _input_maps(in_arrays, template, time, encoding, s_in, lat, lon, inputs):
    """The input maps ``(S_in, T, C, H, W)`` broadcast to ``template``, then the seasonal channels."""
    channels = list(inputs)
    enc = encode_season(template, encoding, time=time) if encoding != "none" else None
    n_channels = len(inputs) + (len(enc.data_vars) if enc is not None else 0)
    x = np.empty((s_in, time.size, n_channels, lat.size, lon.size), np.float32)
    for c, (name, da, _r) in enumerate(in_arrays):
        values = _broadcast_values(da, template)
        check_no_nan(da, argument=f"inputs[{name!r}]", values=values)
        x[:, :, c] = values.reshape(s_in, time.size, lat.size, lon.size)
    if enc is not None:
        for k, name in enumerate(enc.data_vars):
            x[:, :, len(inputs) + k] = enc[name].values[None]
            channels.append(str(name))
    return x, channels


def _add_targets(prep: Prepared, ds: xr.Dataset, target_names: list[str], tg: _Targets) -> Prepared:
    """``prep`` with the targets ``(S_t, T, V, H, W)`` (checked for NaNs and plausible values) and the
    input sample that forces each target sample."""
    time, lat, lon = prep.time, prep.lat, prep.lon
    input_sample_dims = prep.input_sample_dims
    s_t = int(np.prod([ds.sizes[d] for d in tg.sample], dtype=int))
    y = np.empty((s_t, time.size, len(target_names), lat.size, lon.size), np.float32)
    order = (*tg.sample, tg.time_dim, tg.lat_dim, tg.lon_dim)
    for v, da in enumerate(tg.arrays):
        values = da.transpose(*order).values
        check_no_nan(da, argument=f"targets[{target_names[v]!r}]", values=values)
        check_plausible(da, argument=f"targets[{target_names[v]!r}]", values=values)
        y[:, :, v] = values.reshape(s_t, time.size, lat.size, lon.size)
    # which input sample forces each target sample
    labels = prep.sample_labels(tg.sample)
    in_labels = prep.sample_labels(input_sample_dims)
    lookup = {tuple(lab[d] for d in input_sample_dims): i for i, lab in enumerate(in_labels)}
    t2i = np.array([lookup[tuple(lab[d] for d in input_sample_dims)] for lab in labels], np.int64)
    prep.targets, prep.target_names = y, target_names
    prep.target_sample_dims, prep.target_to_input = tuple(tg.sample), t2i
    prep.target_units, prep.target_attrs = tg.units, tg.attrs
    return prep


def _check_same_grid(da, lat, lon, lat_dim, lon_dim, *, name: str) -> None:
    """Raise :class:`~xemu.GridError` unless ``da``'s grid coordinates are those of the target grid."""
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
    if mask.all():
        raise DataError(f"holdout: {holdout!r} selects every month of the data ({_extent(mask)}), which leaves "
                        f"nothing to train on; expected a part of it, e.g. {_holdout_example(mask)}")
    return mask.values.reshape(shape)


def _extent(mask: xr.DataArray) -> str:
    """``"every scenario (low, mid, high), every member (0, 1, 2) and all 36 months"``: what ``mask`` spans."""
    time_dim = mask.dims[-1]
    parts = [f"every {d} ({', '.join(map(str, mask[d].values[:6]))}{', ...' if mask.sizes[d] > 6 else ''})"
             for d in mask.dims[:-1]]
    return ", ".join([*parts, f"all {mask.sizes[time_dim]} months"])


def _holdout_example(mask: xr.DataArray) -> str:
    """A holdout that leaves months to train on: one label of a sample dim, else the last years."""
    for d in mask.dims[:-1]:
        if mask.sizes[d] > 1:
            return f"holdout={{{d!r}: {mask[d].values[-1].item()!r}}}"
    time = mask[mask.dims[-1]].values
    start = time[len(time) * 3 // 4]
    label = f"{start.year:04d}-{start.month:02d}" if hasattr(start, "year") else str(start)[:7]
    return f"holdout={{{mask.dims[-1]!r}: slice({label!r}, None)}} (the last years)"
