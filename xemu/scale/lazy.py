"""Lazy prediction: a dask-backed input gives a dask-backed prediction, computed block by block.

:meth:`xemu.Emulator.predict` comes here when an input it reads is dask-backed (e.g. a
Dataset from :func:`xarray.open_zarr`, :func:`xarray.open_mfdataset` or
:func:`xemu.open_cse151b`). Nothing is read or computed until the user asks
(``pred.compute()``, ``pred.to_zarr(...)``, ``pred.tas.mean().values``); writing streams the
prediction chunk by chunk, so peak memory is set by the size of a chunk, not by the length
or number of the series.

How a block is predicted: the output is chunked one sample (e.g. one scenario) by one block
of months. A month is predicted from the window of ``window`` months that ends on it (the
first ``window - 1`` months of a series from the first window), so a block of months
``[a, b)`` reads the inputs of months ``[a - window + 1, b)``: the ``window - 1`` months of
context before it come from the previous chunk (and, where the network's correction is split
in a slow and a fast part, the months its slow part's running mean reaches on either side,
:func:`xemu.recipe.correction.correction_halo`). Each block runs the in-memory prediction on
that slice and keeps its own months, which are the months the in-memory prediction of the
whole series gives (to float32 rounding: the network sees the same windows, in batches of
another size).

A baseline with history (:attr:`xemu.baselines.base.Baseline.history`: the energy-balance
baseline, whose ocean remembers every month before) is not cut into blocks: one task per
sample computes its global-mean temperature over the whole series from the baseline's
inputs (global means: small; the reading of its maps is the cost), and each block's
baseline part is the pattern on that series' months. The task warns if that series leaves
the training range, as the in-memory prediction does; the blocks do not check their own. (A
series predicted in one block is read once: that block is the in-memory prediction.)

A process computes :data:`BLOCKS_AT_ONCE` blocks at a time (by default one: memory holds one
block's working set however many series are predicted), and hands the memory a block freed
back to the operating system (:func:`trim_memory`).

Blocks follow the inputs' own time chunks, merged until each block's network input is
about :data:`BLOCK_BYTES` (fewer, larger tasks), or regular blocks of ``time_chunk`` months
when one is given.

Several predictions on a :mod:`dask.distributed` cluster share one copy of the emulator per
worker: :func:`predict_many` scatters it once and every block of every prediction reads it
from there.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from ..baselines.base import given_series
from ..errors import ConfigError, DataError
from ..recipe.correction import correction_halo

__all__ = ["MIN_BLOCK_MONTHS", "BLOCK_BYTES", "BLOCKS_AT_ONCE", "trim_memory", "is_lazy", "time_blocks", "predict_lazy", "predict_many", "in_memory"]

#: Least number of months per block of :func:`time_blocks` when it is not told: the inputs'
#: time chunks are merged until each block holds at least this many.
MIN_BLOCK_MONTHS = 240

#: Size of the network input of one block of a lazy prediction by default (months x
#: channels x grid cells x 4 bytes): the blocks are as long as fits in it (the whole series
#: of a scenario at the CSE 151B store's 48 x 72 grid; about 10 years at 1 degree). Each
#: block pays for its checks and preparation and reads the ``window - 1`` months before it
#: again: measured with
#: ``benchmarks/scale_predict.py`` on 16 series of 1,021 months, 2 threads: 829 months/s
#: with blocks of 360 months, 1,027 with whole series (peak memory 0.96 and 1.31 GiB).
BLOCK_BYTES = 256 * 2**20


#: Blocks of lazy predictions a process computes at once, whatever the number of dask threads
#: (the others wait, then read and predict theirs; finished blocks are written meanwhile). With
#: 1, what is in memory at once is one block's working set: 16 series predict with about the
#: peak memory of one (the network runs on torch's threads over the cores within a block). More
#: blocks at once trade memory for speed: on 2 cores with 2 dask threads and 1 torch thread, 2
#: blocks at once predicted 16 series 1.9x as fast with 1.26x the peak memory (12.4 s and 1.12 GiB
#: against 23.9 s and 0.89 GiB: ``benchmarks/scale_predict.py --blocks-at-once``,
#: ``benchmarks/RESULTS.md``, "A prediction's working set"). Set it before the prediction is computed.
BLOCKS_AT_ONCE = 1
_SLOTS: dict[int, threading.BoundedSemaphore] = {}


def _block_slot() -> threading.BoundedSemaphore:
    """The semaphore of :data:`BLOCKS_AT_ONCE` (one per value, shared by the process's threads)."""
    n = BLOCKS_AT_ONCE
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"xemu.scale.lazy.BLOCKS_AT_ONCE: expected an integer >= 1; got {n!r}")
    slot = _SLOTS.get(n)
    return slot if slot is not None else _SLOTS.setdefault(n, threading.BoundedSemaphore(n))  # made once per value


def is_lazy(ds: xr.Dataset, names: Iterable[str]) -> bool:
    """Whether any of the variables ``names`` of ``ds`` is dask-backed (not yet in memory)."""
    return any(name in ds.variables and ds[name].chunks is not None for name in names)


def time_blocks(n_time: int, window: int, *, chunks: Sequence[int] | None = None,
                time_chunk: int | None = None, min_months: int = MIN_BLOCK_MONTHS) -> list[tuple[int, int]]:
    """The blocks of months ``[(a, b), ...]`` a lazy prediction computes one task each.

    Parameters
    ----------
    n_time : int
        Months in the series.
    window : int
        Months per window of the emulator.
    chunks : sequence of int, optional
        The inputs' chunk sizes along time; blocks end on their boundaries, consecutive
        chunks merged until a block holds ``min_months`` months (a short last block joins
        the one before it).
    time_chunk : int, optional
        Regular blocks of this many months instead (the last may be shorter); at least
        ``window``.

    Examples
    --------
    >>> time_blocks(30, 12, time_chunk=12)
    [(0, 12), (12, 24), (24, 30)]
    >>> time_blocks(30, 12, chunks=[12, 12, 6], min_months=20)  # 6 months: shorter than a window, joined
    [(0, 30)]
    >>> time_blocks(40, 12, chunks=[12, 12, 16], min_months=20)
    [(0, 24), (24, 40)]
    >>> time_blocks(40, 12, chunks=[10, 10, 10, 10], min_months=20)
    [(0, 20), (20, 40)]
    """
    if time_chunk is not None:
        if isinstance(time_chunk, bool) or not isinstance(time_chunk, int | np.integer) or time_chunk < window:
            raise ConfigError(
                f"time_chunk: expected an integer of at least the emulator's window ({window} months): a "
                f"block of months is predicted from windows that end in it, reading the {window - 1} months "
                f"before it again, and a block shorter than a window would read more context than it "
                f"predicts; got {time_chunk!r}"
            )
        edges = list(range(0, n_time, int(time_chunk))) + [n_time]
        return list(zip(edges[:-1], edges[1:], strict=True))
    sizes = list(chunks) if chunks is not None else [n_time]
    if sum(sizes) != n_time:
        raise DataError(f"chunks: the time chunks {tuple(sizes)} cover {sum(sizes)} months; the series has {n_time}")
    blocks: list[tuple[int, int]] = []
    start = end = 0
    for size in sizes:
        end += int(size)
        if end - start >= min_months:
            blocks.append((start, end))
            start = end
    if start < n_time:
        if blocks and n_time - start < min(min_months, window):
            blocks[-1] = (blocks[-1][0], n_time)  # too short to stand alone: join the block before
        else:
            blocks.append((start, n_time))
    return blocks


class _Unread:
    """A lazy Dataset handed to a task as it is (dask would read it in tasks of its own first).

    Each block reads its own inputs when it runs: no read is scheduled ahead of the block
    that needs it, so what is in memory at once is set by the blocks running. (A read of
    the ``window - 1`` months of context is repeated by the next block; they are a small
    part of a block.)
    """

    def __init__(self, ds: xr.Dataset):
        self.ds = ds

    def read(self) -> xr.Dataset:
        return self.ds.compute(scheduler="synchronous")


def _predict_block(em, part: _Unread, keep: slice, options: dict, series=None,
                   reference: bool = False) -> tuple[np.ndarray, ...]:
    """The in-memory prediction of one sample's slice of months; the months ``keep`` of each target
    (``reference``: then those of the baseline's part of each target).

    ``series``: the global-mean temperature of a baseline with history over the block's months,
    from :func:`_baseline_series` on the whole series; the baseline takes it
    (``xemu.baselines.base.given_series``) instead of starting its global model at the
    block's first month.
    """
    with _block_slot(), given_series(series) if series is not None else contextlib.nullcontext():
        data = part.read()
        pred = em.forced_response(data, with_baseline=reference, **options)
        parts = pred if reference else (pred,)
        out = tuple(np.ascontiguousarray(one[name].values[..., keep, :, :]) for one in parts for name in em.targets)
        del pred, parts, data
        trim_memory()
    return out


def trim_memory() -> None:
    """Hand the memory a block freed back to the operating system: glibc's ``malloc_trim(0)``, as
    dask's docs advise ("Memory not released back to the OS"); nothing where there is no glibc.
    Without it each thread's allocator arena keeps the largest block it served, and a lazy
    prediction's peak memory grows with the number of threads that ran blocks."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, looked up once (``None`` where there is no glibc)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _baseline_series(em, whole: _Unread) -> np.ndarray:
    """``(1, T)``: the global-mean temperature of the emulator's baseline over one sample's whole
    series, with the baseline's warning if it leaves the training range (as in memory)."""
    bl = em.baseline
    with _block_slot():  # it reads the whole series' maps
        series = bl.global_temperature(bl.prepare_predict(whole.read()))
        trim_memory()
    bl.check_global_range(series)
    return series


def _template(em, first: xr.Dataset, options: dict) -> xr.Dataset:
    """The prediction of ``first`` (one window of one sample) with its dask-backed data as zeros.

    It checks names, units, grid and time before any task runs, and gives the result's dims,
    attributes and dtypes, without reading any data: the values it predicts are discarded
    (warnings that inputs leave the training range are about the zeros, and are dropped;
    each block checks its own values when it runs). Dask-backed coordinates are read.
    """
    import warnings

    first = first.assign_coords({c: first[c].compute() for c in first.coords if first[c].chunks is not None})
    first = first.assign({n: first[n].copy(data=np.zeros(first[n].shape, first[n].dtype))
                          for n in first.data_vars if first[n].chunks is not None})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*the emulator extrapolates there")
        return em.predict(first, lazy=False, **options)


def _time_chunks(ds: xr.Dataset, names: Sequence[str], time_dim: str) -> tuple[int, ...] | None:
    """The time chunks of the largest dask-backed variable of ``names`` (most of what is read)."""
    chunked = [ds[n] for n in names if ds[n].chunks is not None and time_dim in ds[n].dims]
    if not chunked:
        return None
    da = max(chunked, key=lambda v: v.size)
    return da.chunks[da.dims.index(time_dim)]


def predict_lazy(em, ds: xr.Dataset, *, time_chunk: int | None = None, emulator=None, reference: bool = False,
                 **options) -> xr.Dataset | tuple[xr.Dataset, xr.Dataset]:
    """A dask-backed prediction of ``ds`` by the emulator ``em`` (see the module's notes).

    Parameters
    ----------
    em : xemu.Emulator
    ds : xarray.Dataset
        The inputs, in memory or dask-backed.
    time_chunk : int, optional
        Months per block (and per chunk of the result); by default the inputs' own time
        chunks merged until a block's network input is about :data:`BLOCK_BYTES`.
    emulator : optional
        What the tasks read the emulator from: by default a single graph key holding
        ``em``; :func:`predict_many` passes a future of a copy scattered to the workers.
    reference : bool
        Also return the baseline's part of the prediction, as a second lazy Dataset computed by
        the same tasks (the reference of a calibration that takes each block's variance from
        the baseline: :attr:`xemu.variability.Variability.needs_reference`).
    **options
        ``device`` and ``batch_months`` of :meth:`xemu.Emulator.predict`.

    Returns
    -------
    xarray.Dataset
        The forced response as :meth:`xemu.Emulator.predict` gives it, each target a dask
        array chunked one sample by one block of months by the whole grid.
    """
    import dask

    ds, names, sample_dims, time_dim = _check_inputs(em, ds)
    window = int(em.meta["window"])
    template = _template(em, ds.isel({**{d: slice(0, 1) for d in sample_dims}, time_dim: slice(0, window)}), options)
    per_month = 4 * len(em.meta["channels"]) * len(em.meta["grid"]["lat"]) * len(em.meta["grid"]["lon"])
    blocks = time_blocks(ds.sizes[time_dim], window, chunks=_time_chunks(ds, names, time_dim),
                         time_chunk=time_chunk, min_months=max(window, BLOCK_BYTES // per_month))
    key = emulator if emulator is not None else dask.delayed(em, pure=False)
    nested = _block_tasks(em, ds, template, key, blocks, sample_dims, time_dim, options, reference)
    pred = _assemble(ds, template, nested, em.targets, sample_dims, time_dim)
    if not reference:
        return pred
    return pred, _assemble(ds, template, {name: nested[(name, "reference")] for name in em.targets}, em.targets,
                           sample_dims, time_dim)


def _check_inputs(em, ds: xr.Dataset) -> tuple[xr.Dataset, list[str], list[str], str]:
    """``ds`` reduced to the variables the emulator reads, their names, the sample dims and the time dim, checked."""
    from ..data.checks import check_series, check_time
    from ..data.coords import roles

    names = em.variables_read()
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise DataError(f"ds: the emulator's inputs {missing} are not in the Dataset (it has {list(ds.data_vars)})")
    ds = ds[names]
    sample_dims: list[str] = []
    time_dim = None
    for name in names:
        r = roles(ds[name], name=f"inputs[{name!r}]")
        time_dim = time_dim or r.time
        sample_dims += [d for d in r.sample if d not in sample_dims]
    if time_dim is None:
        raise DataError(f"ds: the inputs {names} have no time dimension")
    window = int(em.meta["window"])
    check_time(ds[time_dim], argument=f"ds.{time_dim}")
    check_series(ds[time_dim], window, argument="ds")
    empty = [d for d in sample_dims if ds.sizes[d] == 0]
    if empty:
        raise DataError(f"ds: nothing selected along {empty} (size 0); select at least one label of each")
    return ds, names, sample_dims, time_dim


def _block_tasks(em, ds: xr.Dataset, template: xr.Dataset, key, blocks, sample_dims: list[str], time_dim: str,
                 options: dict, reference: bool = False) -> dict:
    """Per target, the nested lists (sample dims, then months) of one dask array per sample and block
    (``reference``: also under ``(target, "reference")``, the baseline's part of it)."""
    import dask
    import dask.array as da

    targets = em.targets
    window = int(em.meta["window"])
    names = [*targets, *((name, "reference") for name in targets)] if reference else targets
    block_task = dask.delayed(_predict_block, pure=False, nout=len(names))
    history = getattr(em.baseline, "history", False)  # e.g. the energy-balance baseline's ocean
    grid_shape = tuple(template.sizes[d] for d in template[targets[0]].dims[-2:])
    sizes = [ds.sizes[d] for d in sample_dims]
    before, after = correction_halo(em.meta)  # the correction's slow part: a running mean over months around
    n_time = ds.sizes[time_dim]
    nested: dict[str, list] = {}
    for index in np.ndindex(*sizes):
        row = []
        sample = ds.isel({d: slice(i, i + 1) for d, i in zip(sample_dims, index, strict=True)})
        series = (dask.delayed(_baseline_series, pure=False)(key, _Unread(sample[em.baseline.inputs]))
                  if history and len(blocks) > 1 else None)  # one block: it reads the whole series itself
        for a, b in blocks:
            lo, hi = max(0, a - before - (window - 1)), min(n_time, max(b + after, window))
            part = sample.isel({time_dim: slice(lo, hi)})
            task = block_task(key, _Unread(part), slice(a - lo, b - lo), options,
                              series[:, lo:hi] if series is not None else None, reference)
            row.append([da.from_delayed(task[v], shape=(1,) * len(sample_dims) + (b - a, *grid_shape),
                                        dtype=template[targets[v % len(targets)]].dtype) for v in range(len(names))])
        for v, name in enumerate(names):
            _place(nested.setdefault(name, []), index, [[[blk[v]]] for blk in row])
    return nested


def _assemble(ds: xr.Dataset, template: xr.Dataset, nested: dict[str, list], targets, sample_dims: list[str],
              time_dim: str) -> xr.Dataset:
    """The prediction: the blocks of each target joined, in the template's dims, coordinates and attributes."""
    import dask.array as da

    out_dims = template[targets[0]].dims
    order = list(out_dims[:-3])
    if sorted(order) != sorted(sample_dims):
        raise DataError(f"ds: the prediction's sample dims {order} differ from the inputs' {sample_dims}")
    coords = {d: xr.Variable(d, ds[d].values if d in ds.coords else np.arange(ds.sizes[d]), template[d].attrs)
              for d in sample_dims}
    time = template[time_dim].variable
    time = xr.Variable(time_dim, ds[time_dim].values, time.attrs, encoding=time.encoding)
    coords[time_dim] = time
    for d in out_dims[-2:]:
        coords[d] = template[d].variable
    data = {}
    for name in targets:
        array = da.block(nested[name]) if sample_dims else da.block(nested[name][0])
        if order != sample_dims:
            array = array.transpose(*[sample_dims.index(d) for d in order], *range(len(order), array.ndim))
        data[name] = xr.Variable(out_dims, array, template[name].attrs)
    return xr.Dataset(data, coords=coords, attrs=template.attrs)


def _place(nested: list, index: tuple, value) -> None:
    """Put ``value`` at ``nested[i0][i1]...`` (lists grown as needed) for the sample ``index``."""
    if not index:
        nested.append(value)
        return
    level = nested
    for i in index[:-1]:
        while len(level) <= i:
            level.append([])
        level = level[i]
    while len(level) <= index[-1]:
        level.append(None)
    level[index[-1]] = value


def predict_many(em, datasets: xr.Dataset | Mapping[str, xr.Dataset] | Sequence[xr.Dataset], *, client=None,
                 **options):
    """Lazy predictions of several Datasets (scenarios, members, models) sharing one emulator.

    With a :class:`dask.distributed.Client` (``client=``, or the current one), the emulator
    is scattered once to every worker and each block of each prediction reads it there,
    instead of each task carrying a copy. Compute or write the results as usual
    (``dask.compute(*preds)``, ``pred.to_zarr(...)``).

    Parameters
    ----------
    em : xemu.Emulator
    datasets : Dataset, dict of Datasets or list of Datasets
        Inputs of each prediction (dask-backed or in memory).
    client : dask.distributed.Client, optional
        Default: the current client, if there is one; without any, the emulator is one key
        of each prediction's graph (the threaded scheduler shares it in memory).
    **options
        ``time_chunk``, ``device``, ``batch_months`` (see :meth:`xemu.Emulator.predict`).

    Returns
    -------
    Dataset, dict or list
        Dask-backed forced responses, in the shape ``datasets`` was given.

    Examples
    --------
    >>> from dask.distributed import Client, LocalCluster  # doctest: +SKIP
    >>> with LocalCluster(n_workers=4) as cluster, Client(cluster) as client:  # doctest: +SKIP
    ...     preds = xemu.scale.lazy.predict_many(em, {s: ds.sel(ssp=[s]) for s in ds.ssp.values}, client=client)
    ...     for s, pred in preds.items():
    ...         pred.to_zarr(f"pred-{s}.zarr")
    """
    em.check_fitted()
    if client is None:
        try:
            from dask.distributed import default_client

            client = default_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        emulator = client.scatter(em, broadcast=True, hash=False)
    else:
        import dask

        emulator = dask.delayed(em, pure=False)

    def one(ds):
        if not isinstance(ds, xr.Dataset):
            raise DataError(f"datasets: expected xarray Datasets; got {type(ds).__name__}")
        return predict_lazy(em, ds, emulator=emulator, **options)

    if isinstance(datasets, xr.Dataset):
        return one(datasets)
    if isinstance(datasets, Mapping):
        return {k: one(v) for k, v in datasets.items()}
    if isinstance(datasets, Sequence) and not isinstance(datasets, str):
        return [one(v) for v in datasets]
    raise DataError(f"datasets: expected a Dataset, a dict or a list of Datasets; got {type(datasets).__name__}")


def in_memory(ds: xr.Dataset, names: list[str]) -> xr.Dataset:
    """``ds`` with the dask-backed variables of ``names`` read into memory, in one compute."""
    lazy = [n for n in names if ds[n].chunks is not None]
    if not lazy:
        return ds
    import dask

    values = dask.compute(*[ds[n].data for n in lazy])
    return ds.assign({n: ds[n].copy(data=v) for n, v in zip(lazy, values, strict=True)})
