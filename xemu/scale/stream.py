"""Training from a store larger than memory: ``fit(..., stream=True)``.

The in-memory path of :func:`xemu.fit` prepares every month of every sample at once. The
streaming path reads a dask-backed Dataset (e.g. ``xr.open_zarr(store)``) in *blocks*: one
target sample (e.g. a scenario and member) and a range of months aligned to the store's
time chunks. Each block is loaded eagerly and prepared with :func:`xemu.prepare.prepare`,
so checks, units, grid alignment and seasonal channels are those of the in-memory path,
value for value. Peak memory is set by the block size, not by the number of samples or
months.

Before training, passes over the blocks compute what the in-memory path computes from
whole arrays:

1. inputs, per input sample: the channels' mean and standard deviation and the inputs'
   ranges over the training months, the area-weighted global means the linear baseline
   regresses on (a few numbers per month), and the inputs' content hash;
2. targets, per target sample: the sums the baseline is fitted from
   (:class:`xemu.regression.RidgeSums`: per calendar month, and per fold of its
   cross-validation, the sums of the targets, of the standardised global means times the
   targets and of their squares) and the targets' content hash. The ridge strength is
   cross-validated from the fold sums (:func:`xemu.regression.choose_alpha_sums`); when
   every fold's sums would take more memory than a block, a second pass reads the targets
   ordered by fold, holding one or two folds' sums at a time. The coefficients follow from
   the monthly sums (:func:`xemu.regression.ridge_fit_sums`), and so does the residual
   scale, the standard deviation of the targets minus the baseline over the training
   months (:func:`xemu.regression.residual_sums`).

Peak memory holds, besides the blocks, a few numbers per sample and month (the global
means, the design of the baseline, the window index): thousands of times less than the
data.

Training then reads the windows through :class:`StreamLoader`: every window is served from
the block holding its first month, read with the ``window - 1`` months after it; an epoch
shuffles the blocks and the windows within a buffer of a few blocks, and a background
thread reads the next blocks while the network trains.

Internal variability (``variability=True``) needs the emulator's residuals of every
training month at once; it is refused with ``stream=True`` (pass ``variability=False``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import xarray as xr

from ..data.prepare import Prepared, check_dataset, check_time, holdout_mask, month_index, prepare
from ..data.windows import WindowIndex, define_windows
from ..errors import ConfigError, DataError

__all__ = ["StreamLoader", "STREAM_OPTIONS", "PASS_BLOCKS"]

#: Options of ``stream=`` (``stream=True`` takes these defaults; a dict overrides them).
#: ``block_months``: months per block at least (rounded up to the store's time chunks);
#: ``buffer_blocks``: blocks whose windows an epoch shuffles together; ``prefetch_blocks``:
#: blocks read ahead of the one being trained on.
STREAM_OPTIONS: dict[str, int] = {"block_months": 120, "buffer_blocks": 4, "prefetch_blocks": 4}

#: Blocks read at once by the passes over the data before training.
PASS_BLOCKS = 4


# -- layout: samples and chunk-aligned blocks of months ----------------------------------------
class _Layout:
    """Samples (target and input), the time edges of the blocks, and ``isel`` selections of one block."""

    def __init__(self, ds: xr.Dataset, p: Prepared, block_months: int):
        self.time_dim = p.time.dims[0]
        self.n_time = p.time.size
        self.t_dims = tuple(p.target_sample_dims)
        self.t_shape = tuple(p.sample_coords[d].size for d in self.t_dims)
        self.i_dims = tuple(p.input_sample_dims)
        self.i_shape = tuple(p.sample_coords[d].size for d in self.i_dims)
        self.t2i = np.asarray(p.target_to_input)
        self.edges = _time_edges(ds[p.target_names[0]], self.time_dim, block_months)
        self.spans = list(zip(self.edges[:-1].tolist(), self.edges[1:].tolist(), strict=True))
        # the passes before training read PASS_BLOCKS blocks at a time (fewer, larger reads)
        wide = self.edges[::PASS_BLOCKS].tolist() + ([] if (self.edges.size - 1) % PASS_BLOCKS == 0 else
                                                      [int(self.edges[-1])])
        self.pass_spans = list(zip(wide[:-1], wide[1:], strict=True))

    def target_isel(self, s: int, a: int, e: int) -> dict:
        return self._isel(self.t_dims, self.t_shape, s, a, e)

    def input_isel(self, i: int, a: int, e: int) -> dict:
        return self._isel(self.i_dims, self.i_shape, i, a, e)

    def _isel(self, dims, shape, s, a, e) -> dict:
        idx = np.unravel_index(s, shape) if dims else ()
        return {**{d: slice(int(j), int(j) + 1) for d, j in zip(dims, idx, strict=True)}, self.time_dim: slice(a, e)}


def _time_edges(da: xr.DataArray, time_dim: str, block_months: int) -> np.ndarray:
    """Block edges along time: chunk boundaries of ``da``, merged until each block has ``block_months``."""
    n = da.sizes[time_dim]
    sizes = da.chunks[da.dims.index(time_dim)] if da.chunks else (1,) * n
    edges = [0]
    for bound in np.cumsum(sizes).tolist():
        if bound - edges[-1] >= block_months or bound == n:
            edges.append(int(bound))
    return np.asarray(edges, np.int64)


def _stream_options(stream) -> dict:
    if stream is True:
        return dict(STREAM_OPTIONS)
    if not isinstance(stream, Mapping):
        raise ConfigError(f"stream: expected True, False or a dict of options {sorted(STREAM_OPTIONS)}; "
                          f"got {stream!r}")
    unknown = [k for k in stream if k not in STREAM_OPTIONS]
    if unknown:
        raise ConfigError(f"stream: unknown options {unknown}; known: {sorted(STREAM_OPTIONS)}")
    out = {**STREAM_OPTIONS, **stream}
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < (0 if k == "prefetch_blocks" else 1):
            low = 0 if k == "prefetch_blocks" else 1
            raise ConfigError(f"stream[{k!r}]: expected an integer >= {low}; got {v!r}")
    return {k: int(v) for k, v in out.items()}


def _align_inputs(ds: xr.Dataset, inputs, p: Prepared, method: str) -> xr.Dataset:
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


def _ahead(load: Callable, keys, n: int = 2):
    """``(key, load(key))`` for each key in order, the next ``n`` read by a background thread.

    ``load`` runs in that thread: it should only read (no ``prepare``, which may warn).
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


# -- the streaming loader ----------------------------------------------------------------------
class _Blocks:
    """Blocks read by a background thread in the order they will be used, each dropped once used.

    ``schedule(keys, counts)`` starts a new order (the windows each block serves in it);
    ``get(key)`` waits for a scheduled block (or reads an unscheduled one at once);
    ``used(key, n)`` counts served windows and drops the block after its last. Blocks are
    read at most ``ahead`` positions past the furthest one asked for, so at most the blocks
    in use plus ``ahead`` are held.
    """

    def __init__(self, load: Callable, ahead: int):
        self._load, self._ahead = load, ahead
        self._cond = threading.Condition()
        self._gen = 0
        self._seq: list = []
        self._pos: dict = {}
        self._left: dict = {}
        self._held: dict = {}
        self._next = 0
        self._cursor = -1
        self._error: BaseException | None = None
        self.loads = 0
        self.most_held = 0

    def schedule(self, keys: list, counts: dict) -> None:
        with self._cond:
            self._gen += 1
            self._seq, self._pos = list(keys), {k: i for i, k in enumerate(keys)}
            self._left, self._held = dict(counts), {}
            self._next, self._cursor, self._error = 0, -1, None
            self._cond.notify_all()
            gen = self._gen
        if keys:
            threading.Thread(target=self._run, args=(gen,), daemon=True, name="xemu-stream-prefetch").start()

    def close(self) -> None:
        self.schedule([], {})

    def exhausted(self) -> bool:
        with self._cond:
            return all(v <= 0 for v in self._left.values())

    def _run(self, gen: int) -> None:
        while True:
            with self._cond:
                while gen == self._gen and self._next < len(self._seq) and self._next > self._cursor + self._ahead:
                    self._cond.wait()
                if gen != self._gen or self._next >= len(self._seq):
                    return
                key = self._seq[self._next]
                self._next += 1
            try:
                data = self._load(key)
            except BaseException as err:  # handed to the consumer, raised there
                with self._cond:
                    if gen == self._gen:
                        self._error = err
                        self._cond.notify_all()
                return
            with self._cond:
                if gen != self._gen:
                    return
                self.loads += 1
                if self._left.get(key, 0) > 0:
                    self._held[key] = data
                    self.most_held = max(self.most_held, len(self._held))
                self._cond.notify_all()

    def get(self, key):
        with self._cond:
            if self._left.get(key, 0) > 0:
                self._cursor = max(self._cursor, self._pos[key])
                self._cond.notify_all()
                while key not in self._held:
                    if self._error is not None:
                        raise self._error
                    self._cond.wait()
                return self._held[key]
        data = self._load(key)  # not in the schedule (or already used up): read it now, keep nothing
        with self._cond:
            self.loads += 1
        return data

    def used(self, key, n: int) -> None:
        with self._cond:
            if key in self._left:
                self._left[key] -= n
                if self._left[key] <= 0 and self._held.pop(key, None) is not None:
                    self._cond.notify_all()


class StreamLoader:
    """Batches of windows read block by block from a store: the loader protocol of :func:`xemu.training.train`.

    ``index`` (the windows), ``order(epoch)`` (window ids), ``batch(which)`` (``(x, y,
    extra)`` tensors as :class:`xemu.windows.WindowLoader` gives them) and ``plan(batches)``.

    Each window is served from the *block* holding its first month: one sample and the
    months ``[edges[j], edges[j + 1])``, read with the ``length - 1`` months after them, so
    no window needs two blocks. Without shuffling the order is that of the index (the same
    windows in the same order as ``WindowLoader(shuffle=False)``). With shuffling, an epoch
    permutes the blocks (seeded by ``seed`` and the epoch), takes them ``buffer_blocks`` at a
    time and permutes the windows of each group: batches mix blocks, and only the group's
    blocks plus ``prefetch_blocks`` read ahead are held.

    The blocks are read by a background thread in the order the batches will ask for them:
    the order of ``plan(batches)`` when it is called before an epoch's batches (the id
    arrays this process will request, e.g. its share of each global batch under DDP), else
    that of the last ``order(epoch)``.

    Parameters
    ----------
    index : WindowIndex
    edges : numpy.ndarray
        Block edges along time (start of each block, then the number of months).
    load : callable
        ``load(sample, start, stop)`` -> ``(x, y, extra)`` tensors of months ``[start, stop)``
        of a sample: ``(n, C, H, W)``, ``(n, V, H, W)``, ``(n, V, H, W)``.
    batch_size : int
    shuffle : bool
    seed : int
    buffer_blocks, prefetch_blocks : int
    """

    def __init__(self, index: WindowIndex, edges: np.ndarray, load: Callable, *, batch_size: int = 32,
                 shuffle: bool = False, seed: int = 0, buffer_blocks: int = 4, prefetch_blocks: int = 2):
        self.index = index
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.buffer_blocks = buffer_blocks
        self.epoch = 0
        starts = np.asarray(edges)[np.searchsorted(edges, index.start, side="right") - 1]
        keys = np.stack([index.sample, starts], axis=1)
        uniq, self._block = np.unique(keys, axis=0, return_inverse=True)
        self._block = self._block.ravel()
        ends = np.zeros(len(uniq), np.int64)
        np.maximum.at(ends, self._block, index.start + index.length)
        self._spans = [(int(s), int(a), int(e)) for (s, a), e in zip(uniq, ends, strict=True)]
        self._first = np.asarray(uniq[:, 1])
        by_block = np.argsort(self._block, kind="stable")
        bounds = np.searchsorted(self._block[by_block], np.arange(len(uniq) + 1))
        self._members = [by_block[bounds[k] : bounds[k + 1]] for k in range(len(uniq))]  # the windows of each block
        self._blocks = _Blocks(lambda k: load(*self._spans[k]), prefetch_blocks)
        self._stale = True

    @property
    def n_blocks(self) -> int:
        return len(self._spans)

    @property
    def loads(self) -> int:
        """Blocks read so far."""
        return self._blocks.loads

    @property
    def most_held(self) -> int:
        """The most blocks held at once so far (read ahead and in use)."""
        return self._blocks.most_held

    def __len__(self) -> int:
        return (len(self.index) + self.batch_size - 1) // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        """The window order of ``epoch``; the blocks are then read in this order unless :meth:`plan` says another."""
        self.epoch, self._stale = epoch, True
        if not self.shuffle:
            return np.arange(len(self.index))
        rng = np.random.default_rng([self.seed, epoch])
        blocks = rng.permutation(self.n_blocks)
        parts = [rng.permutation(np.concatenate([self._members[k] for k in blocks[g : g + self.buffer_blocks]]))
                 for g in range(0, blocks.size, self.buffer_blocks)]
        return np.concatenate(parts) if parts else np.arange(0)

    def plan(self, batches) -> None:
        """Read the blocks in the order of ``batches`` (the id arrays that will be requested, in order)."""
        seq = [np.asarray(b, np.int64).ravel() for b in batches]
        self._schedule(np.concatenate(seq) if seq else np.arange(0))

    def _schedule(self, windows: np.ndarray) -> None:
        blocks = self._block[windows]
        _, first = np.unique(blocks, return_index=True)
        keys = blocks[np.sort(first)].tolist()
        counts = np.bincount(blocks, minlength=self.n_blocks)
        self._blocks.schedule(keys, {k: int(counts[k]) for k in keys})
        self._stale = False

    def batch(self, which) -> tuple:
        """Tensors ``(x, y, extra)`` of the windows ``which``: ``(B, L, C, H, W)``, ``(B, L, V, H, W)`` twice."""
        import torch

        which = np.asarray(which, np.int64).ravel()
        if self._stale or self._blocks.exhausted():
            self._schedule(self.order(self.epoch) if self._stale else np.arange(len(self.index)))
        blocks = self._block[which]
        offsets = self.index.start[which] - self._first[blocks]
        steps = np.arange(self.index.length)
        out = None
        _, first = np.unique(blocks, return_index=True)
        for k in blocks[np.sort(first)]:
            here = np.flatnonzero(blocks == k)
            data = self._blocks.get(int(k))
            rows = torch.as_tensor(offsets[here][:, None] + steps)
            if out is None:
                out = [torch.empty((which.size, self.index.length, *t.shape[1:]), dtype=t.dtype) for t in data]
            pos = torch.as_tensor(here)
            for o, t in zip(out, data, strict=True):
                o[pos] = t[rows]
            self._blocks.used(int(k), here.size)
        return tuple(out)

    def __iter__(self):
        order = self.order(self.epoch)
        self.epoch += 1
        for b in range(0, order.size, self.batch_size):
            yield self.batch(order[b : b + self.batch_size])

    def close(self) -> None:
        """Stop the reader thread and drop the blocks held."""
        self._blocks.close()
        self._stale = True


# -- passes over the blocks before training ----------------------------------------------------
class _Source:
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
        self.maps = _align_inputs(ds, self.inputs, p, grid_alignment)  # readers never warn about grids again
        self.lay = _Layout(ds, p, opts["block_months"])
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
            x = prepare(_align_inputs(sub, self.inputs, self.p, self.grid_alignment), self.inputs, None,
                        encoding=self.encoding, grid=self.grid, input_sample_dims=dims,
                        grid_alignment=self.grid_alignment).inputs[0]
        if means_of:
            means = prepare(sub, list(means_of), None, encoding="none", inputs_as="global_means", grid=self.grid,
                            input_sample_dims=dims, grid_alignment=self.grid_alignment).inputs[0]
        return x, means

    def read_targets(self, s: int, a: int, e: int) -> xr.Dataset:
        """The targets (and the smallest input: ``prepare`` wants one) of target sample ``s``, months ``[a, e)``."""
        probe = min(self.inputs, key=lambda n: (self.ds[n].ndim, self.ds[n].size))
        return self.ds[[probe, *self.targets]].isel(self.lay.target_isel(s, a, e)).load()

    def prepare_targets(self, sub: xr.Dataset) -> np.ndarray:
        """Targets ``(n, V, H, W)`` in canonical units, checked."""
        probe = [n for n in sub.data_vars if n not in self.targets]
        return prepare(sub, probe, self.targets, encoding="none", inputs_as="global_means",
                       grid_alignment=self.grid_alignment).targets[0]

    def train_block(self, s: int, a: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Input maps ``(n, C, H, W)`` and targets ``(n, V, H, W)`` of target sample ``s``, as ``prepare`` gives them."""
        sub = self.maps[[*self.inputs, *self.targets]].isel(self.lay.target_isel(s, a, e)).load()
        q = prepare(sub, self.inputs, self.targets, encoding=self.encoding, grid_alignment=self.grid_alignment)
        return q.inputs[0], q.targets[0]

    def target_pass(self, order=None):
        """``(s, a, e, targets)`` for every block (all months), in ``order`` (default: sample, then time)."""
        if order is None:
            order = [(s, a, e) for s in range(self.lay.t2i.size) for a, e in self.lay.pass_spans]
        for k, sub in _ahead(lambda k: self.read_targets(*k), order):
            yield (*k, self.prepare_targets(sub))


def _input_pass(src: _Source, train_rows: np.ndarray, means_of, maps: bool = True, keyed: bool = True):
    """Channel mean/std and input ranges over the training rows, global means of ``means_of``, content hash.

    With ``maps=False`` only the global means are computed (for a baseline alone); with
    ``keyed=False`` no hash.
    """
    lay, p = src.lay, src.p
    n_c = len(p.channels)
    total, sq, count = np.zeros(n_c), np.zeros(n_c), 0
    names = list(p.input_units)
    lo, hi = np.full(len(names), np.inf), np.full(len(names), -np.inf)
    n_in = int(np.prod(lay.i_shape, dtype=int))
    means = np.empty((n_in, lay.n_time, len(means_of))) if means_of else None
    digest = hashlib.blake2b(digest_size=32)
    keys = [(i, a, e) for i in range(n_in) for a, e in lay.pass_spans]
    read = list(dict.fromkeys([*(src.inputs if maps else []), *(means_of or [])]))
    for (i, a, e), sub in _ahead(lambda k: src.read_inputs(*k, read), keys):
        x, g = src.prepare_inputs(sub, means_of, maps)
        if means is not None:
            means[i, a:e] = g
        if not maps:
            continue
        if keyed:
            digest.update(np.ascontiguousarray(x).data)
        rows = train_rows[i, a:e]
        if rows.any():
            sel = x[rows]
            count += sel.shape[0] * sel.shape[2] * sel.shape[3]
            for c in range(n_c):  # one channel at a time in float64: a block's memory, not eight times it
                xc = sel[:, c].astype(np.float64)
                total[c] += xc.sum()
                sq[c] += (xc * xc).sum()
                if c < len(names):
                    lo[c], hi[c] = min(lo[c], float(xc.min())), max(hi[c], float(xc.max()))
    if not maps:
        return None, None, None, means, None
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean**2, 0))  # as xemu.emulator._channel_stats
    std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1e-30), std, 1.0)
    ranges = {n: [float(lo[c]), float(hi[c])] for c, n in enumerate(names)}
    return mean, std, ranges, means, digest


def _design_rows(train: np.ndarray) -> np.ndarray:
    """``(S_t, T)`` int: the design row of each training month (row-major, as ``np.nonzero``), -1 elsewhere."""
    out = np.full(train.shape, -1, np.int64)
    out[train] = np.arange(int(train.sum()))
    return out


def _hold_folds(n_folds: int, n_terms: int, block_months: int) -> bool:
    """Whether one pass may hold every fold's sums: ``12 * n_terms`` maps per fold, against the
    ``2 * PASS_BLOCKS * block_months`` maps (float64) a pass block takes; else a second pass."""
    return n_folds * 12 * n_terms <= 2 * PASS_BLOCKS * block_months


def _rows_and_targets(src: _Source, row_of: np.ndarray, order=None, digest=None):
    """``(rows, y)`` of each block: design rows and targets ``(n, V, P)`` of its training months."""
    for s, a, e, y in src.target_pass(order):
        if digest is not None:
            digest.update(np.ascontiguousarray(y).data)
        rows = row_of[s, a:e]
        keep = rows >= 0
        yield rows[keep], y[keep].reshape(int(keep.sum()), y.shape[1], y.shape[2] * y.shape[3])


def _baseline_and_scale(src: _Source, kind: str | None, pb: Prepared, means: np.ndarray | None, train: np.ndarray,
                        holdout, options: dict, digest=None):
    """The baseline ``kind`` (or ``None``), the residual scale per target and the target mean (no baseline).

    One pass over the target blocks sums, per calendar month (and fold, for the linear
    baseline's cross-validation, when all folds fit beside a block: :func:`_hold_folds`), the targets,
    the standardised global means times the targets and the squares
    (:class:`xemu.regression.RidgeSums`); the baseline is fitted from those sums as its
    ``fit`` does from arrays, and the standard deviation of the targets minus the baseline
    follows from them too (:func:`xemu.regression.residual_sums`).
    """
    from ..baselines import regression as rg
    from ..baselines.core import BASELINES, linear_design, linear_params, warn_condition
    from ..data.encoding import month_of
    from ..data.grid import area_weights

    if not train.any():
        raise DataError("holdout: leaves no month to train on")
    s_idx, t_idx = np.nonzero(train)
    months = month_of(pb.time).values[t_idx]
    lat, lon = pb.lat, pb.lon
    n_v, n_p = len(pb.target_names), lat.size * lon.size
    w = np.broadcast_to(area_weights(lat).values[:, None], (lat.size, lon.size)).ravel()
    z, keys, n_folds, folds, how = np.zeros((s_idx.size, 0)), months, 1, None, None
    alpha = options.get("alpha", "cv")
    if kind == "linear":
        z, x, mean, std, varying = linear_design(means[src.lay.t2i[s_idx], t_idx], list(pb.input_units), months)
        if alpha == "cv":
            folds, how = rg.cv_folds(pb.target_to_input[s_idx], t_idx)
            n_folds = int(folds.max()) + 1
            if _hold_folds(n_folds, z.shape[1] + 1, src.block_months):
                keys = months * n_folds + folds
    elif kind == "climatology":
        counts = np.bincount(months, minlength=13)[1:]
        if (counts == 0).any():
            raise DataError(f"ds: calendar month {int(np.argmax(counts == 0)) + 1} has no training month for "
                            f"the climatology")
    row_of = _design_rows(train)
    sums = rg.RidgeSums(z, w)
    for rows, y in _rows_and_targets(src, row_of, digest=digest):
        sums.add(rows, y, keys[rows])
    totals = sums.merged(lambda key: key // n_folds) if keys is not months else sums
    shift = totals.shift
    bl, target_mean = None, None
    coef = np.zeros((12, z.shape[1] + 1, n_v, n_p))  # the baseline's prediction per month: z b + c
    if kind == "linear":
        cv_error, chosen = None, np.full(n_v, float(alpha) if alpha != "cv" else 0.0)
        if alpha == "cv":
            if keys is months:  # too many folds to hold: a second pass, fold by fold
                order = [(s, a, e) for s in range(train.shape[0]) for a, e in src.lay.pass_spans if train[s, a:e].any()]
                fold_of = np.full(train.shape, -1, np.int64)
                fold_of[s_idx, t_idx] = folds
                order.sort(key=lambda b: (int(fold_of[b[0], b[1] : b[2]][train[b[0], b[1] : b[2]]].min()), b[0], b[1]))
                sums = _rows_and_targets(src, row_of, order)
            cv_error = rg.choose_alpha_sums(z, months, folds, w, totals, sums)
            chosen = np.asarray(rg.ALPHAS)[np.argmin(cv_error, axis=0)]
        cond = warn_condition(z, varying, list(pb.input_units), chosen, pb.target_names)
        for m in range(1, 13):
            sel = months == m
            for v in range(n_v):
                b, c = rg.ridge_fit_sums(z[sel][:, varying], totals.sy(m)[v], totals.szy(m)[varying, v],
                                         float(chosen[v]))
                coef[m - 1, np.flatnonzero(varying), v] = b
                coef[m - 1, -1, v] = c + shift[v]
        bl = linear_params(BASELINES["linear"](), pb, coef, x, mean, std, chosen, how or "fixed by the caller",
                           cv_error, cond, holdout, src.grid_alignment)
    elif kind == "climatology":
        data = {}
        for m in range(1, 13):
            coef[m - 1, -1] = totals.sy(m) / (months == m).sum() + shift
        for v, name in enumerate(pb.target_names):
            data[f"mean_{name}"] = xr.DataArray(
                coef[:, -1, v].reshape(12, lat.size, lon.size), dims=("month", lat.dims[0], lon.dims[0]),
                attrs={"long_name": f"training climatology of {name}", "units": pb.target_units[name]})
        bl = BASELINES["climatology"]()._set_params(xr.Dataset(data), pb, holdout, src.grid_alignment)
        coef = coef.astype(np.float32).astype(np.float64)  # predict_arrays gives float32
    else:
        total = sum(totals.sy(m) + (months == m).sum() * shift for m in totals.groups)
        target_mean = total.sum(-1) / (s_idx.size * n_p)
        coef[:, -1] = target_mean.astype(np.float32)[:, None]  # the base is the float32 mean
    # the residual scale: std over training months and cells of the targets minus the base
    r1, r2 = np.zeros(n_v), np.zeros(n_v)
    for m in range(1, 13):
        sel = months == m
        if not sel.any():
            continue
        for v in range(n_v):
            t1, t2 = rg.residual_sums(z[sel], totals.sy(m)[v], totals.szy(m)[:, v], totals.syy1(m)[v],
                                      coef[m - 1, :-1, v], coef[m - 1, -1, v] - shift[v])
            r1[v] += t1
            r2[v] += t2
    count = s_idx.size * n_p
    scale = np.sqrt(np.maximum(r2 / count - (r1 / count) ** 2, 0))
    return bl, scale, target_mean


def _skeleton(ds: xr.Dataset, inputs, targets, **kwargs) -> Prepared:
    """``prepare`` of the first month (names, units, samples, grid, notes), with the full time axis."""
    p = prepare(ds.isel({_time_dim(ds, targets): slice(0, 1)}), inputs, targets, **kwargs)
    time_dim = p.time.dims[0]
    check_time(ds[time_dim], argument=f"ds.{time_dim}")
    return replace(p, inputs=p.inputs[:, :0], targets=p.targets[:, :0] if p.targets is not None else None,
                   time=ds[time_dim])


def _time_dim(ds: xr.Dataset, targets) -> str:
    from ..data.coords import roles
    from ..data.prepare import check_variables

    name = check_variables(ds, targets, argument="targets")[0]
    r = roles(ds[name], name=name)
    if r.time is None:
        raise DataError(f"targets[{name!r}]: expected a (time, latitude, longitude) map; got dims {ds[name].dims}")
    return r.time


def _base_of(bl, pb: Prepared, means: np.ndarray | None, target_mean: np.ndarray | None):
    """``base(i, a, e)``: the baseline's prediction ``(n, V, H, W)`` float32 for input sample ``i``, months ``[a, e)``."""
    if bl is None:
        def flat(i, a, e):
            return np.broadcast_to(target_mean.astype(np.float32)[None, :, None, None],
                                   (e - a, target_mean.size, pb.lat.size, pb.lon.size))
        return flat
    if bl.kind == "climatology":
        return lambda i, a, e: bl.predict_arrays(replace(pb, inputs=np.zeros((1, e - a, 0)), time=pb.time[a:e]))[0]
    return lambda i, a, e: bl.predict_arrays(replace(pb, inputs=means[i : i + 1, a:e], time=pb.time[a:e]))[0]


# -- fit -----------------------------------------------------------------------------------------
def fit(ds, inputs, targets, *, model="cnn-gru", holdout=None, preset_name="compact", config=None, loss=None,
        window=12, stride=1, encoding="sincos", grid_alignment="position", baseline="linear", baseline_inputs=None,
        baseline_options=None, checkpoint=None, callback=None, train_config=None, variability=True, stream=True,
        **train_options):
    """The streaming path of :func:`xemu.fit` (``fit(..., stream=True)``); the arguments are those of ``fit``.

    ``stream`` is ``True`` or a dict of :data:`STREAM_OPTIONS`. Internal variability is not
    learned here: ``variability=True`` raises a :class:`~xemu.ConfigError`.
    """
    import torch

    from ..baselines.core import BASELINES, check_alpha
    from ..emulator import Emulator
    from ..nn.distributed import is_distributed
    from ..nn.model import CNNGRU
    from ..nn.training import train
    from ..recipe import (
        check_baseline_options,
        cnn_gru_options,
        emulator_record,
        loss_function,
        network_and_losses,
        options_dict,
    )

    ds = check_dataset(ds, argument="ds")
    opts = _stream_options(stream)
    baseline_options = options_dict(baseline_options, "baseline_options")
    refused = ("internal variability is learned from the residuals of every training month at once, which "
               "stream=True does not hold; pass variability=False")
    if model in BASELINES:
        if train_config is not None:
            raise ConfigError(f"train_config: does not apply to model={model!r} (a baseline has no training loop)")
        options = check_baseline_options(model, {**baseline_options, **train_options})
        if options.pop("variability", variability):
            raise ConfigError(f"variability: {refused}")
        if model == "linear":
            check_alpha(options.get("alpha", "cv"))
        p = _skeleton(ds, inputs, targets, encoding="none", inputs_as="global_means", grid_alignment=grid_alignment)
        src = _Source(ds, p, inputs, targets, "none", grid_alignment, opts)
        train = ~holdout_mask(p, holdout)
        means = _input_pass(src, _train_rows(p, train), list(inputs), maps=False)[3] if model == "linear" else None
        return _baseline_and_scale(src, model, p, means, train, holdout, options)[0]
    tc, baseline_options = cnn_gru_options(model, train_config, train_options, baseline, baseline_options)
    if baseline is not None:
        if baseline_options.get("variability"):
            raise ConfigError(f"baseline_options['variability']: {refused}")
        if baseline == "linear":
            check_alpha(baseline_options.get("alpha", "cv"))
    if variability:
        raise ConfigError(f"variability: {refused}")
    config = options_dict(config, "config")

    p = _skeleton(ds, inputs, targets, encoding=encoding, grid_alignment=grid_alignment)
    src = _Source(ds, p, inputs, targets, encoding, grid_alignment, opts)
    lay = src.lay
    held = holdout_mask(p, holdout)
    months = month_index(p.time)
    train_idx = define_windows(~held, months, length=window, stride=stride, argument="ds (training months)")
    val_idx = define_windows(held, months, length=window, stride=window, argument="holdout") if held.any() else None

    # pass over the inputs: normalisation, ranges, the baseline's global means; then the baseline
    keyed = checkpoint is not None or is_distributed(tc.distributed)  # the checkpoint's key; what DDP's processes compare
    means_of = list(baseline_inputs or inputs) if baseline == "linear" else None
    mean, std, ranges, means, in_digest = _input_pass(src, _train_rows(p, ~held), means_of, keyed=keyed)
    pb = p
    if baseline is not None:
        pb = _skeleton(ds, list(baseline_inputs or inputs), targets, encoding="none", inputs_as="global_means",
                       grid_alignment=grid_alignment)
    tgt_digest = hashlib.blake2b(digest_size=32) if keyed else None
    bl, scale, target_mean = _baseline_and_scale(src, baseline, pb, means, ~held, holdout, baseline_options,
                                                 digest=tgt_digest)
    base = _base_of(bl, pb, means, target_mean)
    scale = np.where(scale > 0, scale, 1.0)

    cfg, specs = network_and_losses(p, preset_name, config, loss)

    # blocks as tensors: inputs normalised, targets and baseline divided by the target scale (as in memory)
    scale32 = scale.astype(np.float32)[None, :, None, None]
    mean4, std4 = mean[None, :, None, None], std[None, :, None, None]

    def load(s: int, a: int, e: int):
        x, y = src.train_block(s, a, e)
        b = base(int(lay.t2i[s]), a, e)
        return (torch.from_numpy(((x - mean4) / std4).astype(np.float32)), torch.from_numpy(y / scale32),
                torch.from_numpy(np.ascontiguousarray(b / scale32)))

    kw = {"batch_size": tc.batch_size, "seed": tc.seed, "buffer_blocks": opts["buffer_blocks"],
          "prefetch_blocks": opts["prefetch_blocks"]}
    train_loader = StreamLoader(train_idx, lay.edges, load, shuffle=tc.shuffle, **kw)
    val_loader = StreamLoader(val_idx, lay.edges, load, **kw) if val_idx is not None else None

    loss_fn = loss_function(cfg, specs, p)
    torch.manual_seed(tc.seed)
    net = CNNGRU(cfg)
    fingerprint = ""
    if keyed:
        shapes = [[int(np.prod(lay.i_shape, dtype=int)), lay.n_time, len(p.channels), p.lat.size, p.lon.size],
                  [lay.t2i.size, lay.n_time, len(p.target_names), p.lat.size, p.lon.size]]
        fingerprint = _fingerprint(cfg, tc, specs, p, shapes, mean, std, scale, holdout, window, stride, baseline,
                                   baseline_options, opts, (in_digest, tgt_digest))
    try:
        result = train(net, loss_fn, train_loader, val_loader, config=tc, checkpoint=checkpoint, callback=callback,
                       fingerprint=fingerprint)
    finally:
        for loader in (train_loader, val_loader):
            if loader is not None:
                loader.close()
    net.to("cpu").eval()

    note = (f"trained streamed from the Dataset in blocks of one sample and at least {opts['block_months']} months "
            f"({train_loader.n_blocks} training blocks; {opts['buffer_blocks']} shuffled together, "
            f"{opts['prefetch_blocks']} read ahead)")
    meta = emulator_record(p, inputs=inputs, encoding=encoding, window=window, stride=stride,
                         grid_alignment=grid_alignment, baseline=baseline, baseline_inputs=baseline_inputs,
                         baseline_options=baseline_options, mean=mean, std=std, ranges=ranges, scale=scale,
                         target_mean=target_mean, cfg=cfg, preset_name=preset_name, tc=tc, specs=specs,
                         holdout=holdout, n_train=len(train_idx), n_val=len(val_idx) if val_idx is not None else 0,
                         result=result)
    meta["notes"].append(note)
    meta["variability"] = None
    return Emulator(meta, net, bl, None)


def _train_rows(p: Prepared, train: np.ndarray) -> np.ndarray:
    """``(S_in, T)`` bool: input rows of the training months ``train`` ``(S_t, T)``."""
    rows = np.zeros((int(np.prod([p.sample_coords[d].size for d in p.input_sample_dims], dtype=int)), p.time.size),
                    bool)
    s_idx, t_idx = np.nonzero(train)
    rows[p.target_to_input[s_idx], t_idx] = True
    return rows


def _fingerprint(cfg, tc, specs, p, shapes, mean, std, scale, holdout, window, stride, baseline, baseline_options,
                 opts, digests) -> str:
    """What a checkpoint of a streamed run must match: configuration, block layout, statistics, the data's hash."""
    from ..recipe import train_options_key

    blob = json.dumps(["stream", opts, cfg.to_dict(), train_options_key(tc), specs, p.channels, shapes, mean.tolist(),
                       std.tolist(), scale.tolist(), repr(holdout), window, stride, baseline, baseline_options],
                      sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode())
    for d in digests:  # blake2b of the inputs' and the targets' bytes, in the order of the whole arrays
        digest.update(d.digest())
    return digest.hexdigest()
