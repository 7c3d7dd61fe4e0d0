"""The window loader of the streamed fit: :class:`~xemu.scale.loader.StreamLoader` serves batches of windows read
block by block from a store, a background thread reading the blocks in the order the batches
will ask for them (:mod:`xemu.scale.stream` builds it; :func:`xemu.nn.training.train` uses it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..data.windows import WindowIndex

__all__ = ["StreamLoader"]


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
    """Batches of windows read block by block from a store: the loader protocol of :func:`xemu.nn.training.train`.

    ``index`` (the windows), ``order(epoch)`` (window ids), ``batch(which)`` (``(x, y,
    extra)`` tensors as :class:`xemu.data.windows.WindowLoader` gives them) and ``plan(batches)``.

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
