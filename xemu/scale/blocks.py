"""Blocks of a store read for the streamed fit (:mod:`xemu.scale.stream`).

A *block* is one target sample (e.g. a scenario and member) and a range of months aligned
to the store's time chunks. :class:`Layout` cuts the store into blocks; :class:`BlockSource`
reads a block into memory and prepares it as :func:`xemu.data.prepare.prepare` does the whole
Dataset; :func:`read_ahead` reads the next blocks in a background thread while the calling
thread works on the current one; :func:`skeleton` is what ``prepare`` learns of the whole
Dataset (names, units, samples, grid) without reading its months.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import xarray as xr

from ..data.checks import check_time
from ..data.prepare import Prepared, prepare
from ..errors import DataError

__all__ = ["PASS_BLOCKS", "Layout", "time_edges", "align_inputs", "read_ahead", "BlockSource", "skeleton"]

#: Blocks read at once by the passes over the data before training.
PASS_BLOCKS = 4


class Layout:
    """Samples (target and input), the time edges of the blocks, and ``isel`` selections of one block."""

    def __init__(self, ds: xr.Dataset, p: Prepared, block_months: int):
        self.time_dim = p.time.dims[0]
        self.n_time = p.time.size
        self.t_dims = tuple(p.target_sample_dims)
        self.t_shape = tuple(p.sample_coords[d].size for d in self.t_dims)
        self.i_dims = tuple(p.input_sample_dims)
        self.i_shape = tuple(p.sample_coords[d].size for d in self.i_dims)
        self.t2i = np.asarray(p.target_to_input)
        self.edges = time_edges(ds[p.target_names[0]], self.time_dim, block_months)
        self.spans = list(zip(self.edges[:-1].tolist(), self.edges[1:].tolist(), strict=True))
        # the passes before training read PASS_BLOCKS blocks at a time (fewer, larger reads)
        wide = self.edges[::PASS_BLOCKS].tolist() + ([] if (self.edges.size - 1) % PASS_BLOCKS == 0 else
                                                      [int(self.edges[-1])])
        self.pass_spans = list(zip(wide[:-1], wide[1:], strict=True))

    def target_isel(self, s: int, a: int, e: int) -> dict:
        """The ``isel`` of target sample ``s``, months ``[a, e)``."""
        return self._isel(self.t_dims, self.t_shape, s, a, e)

    def input_isel(self, i: int, a: int, e: int) -> dict:
        """The ``isel`` of input sample ``i``, months ``[a, e)``."""
        return self._isel(self.i_dims, self.i_shape, i, a, e)

    def _isel(self, dims, shape, s, a, e) -> dict:
        idx = np.unravel_index(s, shape) if dims else ()
        return {**{d: slice(int(j), int(j) + 1) for d, j in zip(dims, idx, strict=True)}, self.time_dim: slice(a, e)}


def time_edges(da: xr.DataArray, time_dim: str, block_months: int) -> np.ndarray:
    """Block edges along time: chunk boundaries of ``da``, merged until each block has ``block_months``.

    Examples
    --------
    >>> import xarray as xr
    >>> time_edges(xr.DataArray(np.zeros(30), dims="time").chunk({"time": 10}), "time", 15).tolist()
    [0, 20, 30]
    """
    n = da.sizes[time_dim]
    sizes = da.chunks[da.dims.index(time_dim)] if da.chunks else (1,) * n
    edges = [0]
    for bound in np.cumsum(sizes).tolist():
        if bound - edges[-1] >= block_months or bound == n:
            edges.append(int(bound))
    return np.asarray(edges, np.int64)


def align_inputs(ds: xr.Dataset, inputs, p: Prepared, method: str) -> xr.Dataset:
    """``ds`` with its input maps put on the target grid (lazily for dask; warnings already given)."""
    from ..data.coords import align_grid, roles

    grid = xr.Dataset(coords={p.lat.dims[0]: p.lat, p.lon.dims[0]: p.lon})
    out = {}
    with warnings.catch_warnings():  # only ever called from the main thread, before any reader thread
        warnings.simplefilter("ignore")
        for name in inputs:
            r = roles(ds[name], name=name)
            if r.spatial is not None and (r.latitude, r.longitude) != (p.lat.dims[0], p.lon.dims[0]):
                out[name] = align_grid(ds[name], grid, method=method, name=f"inputs[{name!r}]")
    return ds.assign(out) if out else ds


def read_ahead(load: Callable, keys, n: int = 2):
    """``(key, load(key))`` for each key in order, the next ``n`` read by a background thread.

    ``load`` runs in that thread: it should only read (no ``prepare``, which may warn).

    Examples
    --------
    >>> list(read_ahead(lambda k: k * k, [1, 2, 3]))
    [(1, 1), (2, 4), (3, 9)]
    """
    keys = iter(keys)
    with ThreadPoolExecutor(1, thread_name_prefix="xemu-stream") as pool:
        queue = deque()
        for key in keys:
            queue.append((key, pool.submit(load, key)))
            if len(queue) > n:
                k, fut = queue.popleft()
                yield k, fut.result()
        while queue:
            k, fut = queue.popleft()
            yield k, fut.result()


class BlockSource:
    """A dask-backed Dataset read block by block: the eager, prepared arrays of one block.

    The passes before training read blocks in a background thread (``read_*``: I/O only) and
    prepare them in the calling thread (``prepare_*``); training reads and prepares a block
    in the loader's thread (:meth:`train_block`), from the inputs aligned to the target grid
    once, lazily, so that no warning is given there.
    """

    def __init__(self, ds, p: Prepared, inputs, targets, encoding, grid_alignment, opts):
        self.ds, self.p = ds, p
        self.inputs, self.targets = list(inputs), list(targets)
        self.encoding, self.grid_alignment = encoding, grid_alignment
        self.maps = align_inputs(ds, self.inputs, p, grid_alignment)  # readers never warn about grids again
        self.lay = Layout(ds, p, opts["block_months"])
        self.block_months = opts["block_months"]
        self.grid = (p.lat, p.lon)

    def read_inputs(self, i: int, a: int, e: int, names) -> xr.Dataset:
        """The variables ``names`` of input sample ``i``, months ``[a, e)``, read into memory."""
        return self.ds[list(names)].isel(self.lay.input_isel(i, a, e)).load()

    def prepare_inputs(self, sub: xr.Dataset, means_of, maps: bool = True):
        """Input maps ``(n, C, H, W)`` (target grid, seasonal channels) and global means ``(n, K)`` of ``means_of``."""
        dims = self.p.input_sample_dims
        x = means = None
        if maps:
            x = prepare(align_inputs(sub, self.inputs, self.p, self.grid_alignment), self.inputs, None,
                        encoding=self.encoding, grid=self.grid, input_sample_dims=dims,
                        grid_alignment=self.grid_alignment).inputs[0]
        if means_of:
            means = prepare(sub, list(means_of), None, encoding="none", inputs_as="global_means", grid=self.grid,
                            input_sample_dims=dims, grid_alignment=self.grid_alignment).inputs[0]
        return x, means

    def read_targets(self, s: int, a: int, e: int, names=None) -> xr.Dataset:
        """The targets (or those of them in ``names``), and the smallest input (``prepare`` wants one), of
        target sample ``s``, months ``[a, e)``."""
        probe = min(self.inputs, key=lambda n: (self.ds[n].ndim, self.ds[n].size))
        return self.ds[[probe, *(names or self.targets)]].isel(self.lay.target_isel(s, a, e)).load()

    def prepare_targets(self, sub: xr.Dataset) -> np.ndarray:
        """Targets ``(n, V, H, W)`` in canonical units, checked (the targets :meth:`read_targets` read)."""
        names = [n for n in self.targets if n in sub.data_vars]
        probe = [n for n in sub.data_vars if n not in names]
        return prepare(sub, probe, names, encoding="none", inputs_as="global_means",
                       grid_alignment=self.grid_alignment).targets[0]

    def train_block(self, s: int, a: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Input maps ``(n, C, H, W)`` and targets ``(n, V, H, W)`` of target sample ``s``, as ``prepare`` gives them."""
        sub = self.maps[[*self.inputs, *self.targets]].isel(self.lay.target_isel(s, a, e)).load()
        q = prepare(sub, self.inputs, self.targets, encoding=self.encoding, grid_alignment=self.grid_alignment)
        return q.inputs[0], q.targets[0]

    def target_pass(self, order=None, names=None):
        """``(s, a, e, targets)`` for every block (all months), in ``order`` (default: sample, then time); the
        targets in ``names`` only, when given."""
        if order is None:
            order = [(s, a, e) for s in range(self.lay.t2i.size) for a, e in self.lay.pass_spans]
        for k, sub in read_ahead(lambda k: self.read_targets(*k, names), order):
            yield (*k, self.prepare_targets(sub))


def skeleton(ds: xr.Dataset, inputs, targets, **kwargs) -> Prepared:
    """``prepare`` of the first month (names, units, samples, grid, notes), with the full time axis."""
    p = prepare(ds.isel({_time_dim(ds, targets): slice(0, 1)}), inputs, targets, **kwargs)
    time_dim = p.time.dims[0]
    check_time(ds[time_dim], argument=f"ds.{time_dim}")
    return replace(p, inputs=p.inputs[:, :0], targets=p.targets[:, :0] if p.targets is not None else None,
                   time=ds[time_dim])


def _time_dim(ds: xr.Dataset, targets) -> str:
    """The time dimension of the first target (checked to be a map)."""
    from ..data.checks import check_variables
    from ..data.coords import roles

    name = check_variables(ds, targets, argument="targets")[0]
    r = roles(ds[name], name=name)
    if r.time is None:
        raise DataError(f"targets[{name!r}]: expected a (time, latitude, longitude) map; got dims {ds[name].dims}")
    return r.time
