"""Windows of consecutive months: defined with xbatcher, served by tensor indexing.

Windows are *defined* with :class:`xbatcher.BatchSchema` over each sample's runs of
consecutive, selected months (a window never crosses a scenario or member boundary, nor a
gap in time). xbatcher materialises one window at a time (a few hundred per second on the
CSE 151B store), so the *training path* does not use it to move data: each window is
reduced to the row of its first month, and a batch is one gather from a stacked tensor,
``X[start[:, None] + arange(T)]`` of shape ``(B, T, C, H, W)``.
``benchmarks/windows.py`` compares this path with plain tensor slicing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["WindowIndex", "define_windows", "runs", "WindowLoader", "Windows", "windows"]


@dataclass(frozen=True)
class WindowIndex:
    """Where each window starts.

    Attributes
    ----------
    length : int
        Months per window.
    sample : numpy.ndarray
        ``(N,)`` sample row of each window.
    start : numpy.ndarray
        ``(N,)`` time position of each window's first month.
    """

    length: int
    sample: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)

    def rows(self, n_time: int, sample_map: np.ndarray | None = None) -> np.ndarray:
        """Flat row of each window's first month in a ``(S * n_time, ...)`` stacked array.

        ``sample_map`` maps the window's sample to another stack's sample (targets to inputs).
        """
        sample = self.sample if sample_map is None else sample_map[self.sample]
        return sample * n_time + self.start


def runs(valid: np.ndarray, months: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of selected and consecutive months.

    Parameters
    ----------
    valid : numpy.ndarray
        ``(T,)`` bool: months selected for this sample.
    months : numpy.ndarray
        ``(T,)`` month counter (:func:`xemu.data.checks.month_index`); a step other than 1
        is a gap.
    """
    out = []
    start = None
    for t in range(valid.size):
        if valid[t] and start is not None and months[t] - months[t - 1] != 1:
            out.append((start, t))
            start = t
        elif valid[t] and start is None:
            start = t
        elif not valid[t] and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, valid.size))
    return out


def define_windows(
    valid: np.ndarray,
    months: np.ndarray,
    *,
    length: int = 12,
    stride: int = 1,
    argument: str = "data",
) -> WindowIndex:
    """Define windows over each sample with xbatcher.

    Parameters
    ----------
    valid : numpy.ndarray
        ``(S, T)`` bool: the months of each sample that may be used.
    months : numpy.ndarray
        ``(T,)`` month counter; windows never cross a gap.
    length, stride : int
        Months per window and months between window starts.
    argument : str
        Name used in the error raised when no window fits.

    Examples
    --------
    >>> import numpy as np
    >>> w = define_windows(np.ones((2, 14), bool), np.arange(14), length=12, stride=1)
    >>> len(w), w.sample.tolist(), w.start.tolist()
    (6, [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2])
    """
    import xarray as xr
    from xbatcher.generators import BatchSchema

    if length < 1 or not 1 <= stride <= length:
        raise ConfigError(
            f"window length and stride: expected 1 <= stride <= length; got length {length}, "
            f"stride {stride}"
        )
    valid = np.asarray(valid, bool)
    if valid.ndim != 2 or valid.shape[1] != np.asarray(months).size:
        raise ConfigError(f"valid: expected (sample, time) matching months; got {valid.shape}")
    samples, starts = [], []
    longest = 0
    for s in range(valid.shape[0]):
        for a, b in runs(valid[s], months):
            longest = max(longest, b - a)
            if b - a < length:
                continue
            schema = BatchSchema(
                xr.DataArray(np.arange(a, b), dims="time"),
                input_dims={"time": length},
                input_overlap={"time": length - stride},
                concat_input_bins=False,
                preload_batch=False,
            )
            firsts = [a + sel[0]["time"].start for sel in schema.selectors.values()]
            samples += [s] * len(firsts)
            starts += firsts
    if not starts:
        raise DataError(
            f"{argument}: a series shorter than one window; the longest run of consecutive "
            f"selected months is {longest}, a window needs {length}"
        )
    return WindowIndex(length=length, sample=np.asarray(samples, np.int64), start=np.asarray(starts, np.int64))


class WindowLoader:
    """Batches of windows as tensors ``(B, T, C, H, W)``, one gather per batch.

    Parameters
    ----------
    index : WindowIndex
    inputs : torch.Tensor
        ``(S_in * T_total, C, H, W)``: input rows stacked by sample then time.
    n_time : int
        Months per sample in the stacks.
    targets : torch.Tensor, optional
        ``(S_t * T_total, V, H, W)``.
    target_to_input : numpy.ndarray, optional
        ``(S_t,)`` input sample of each target sample.
    batch_size : int
    shuffle : bool
    seed : int
        Seeds the shuffling (a new permutation each epoch, reproducible).
    """

    def __init__(self, index, inputs, n_time, targets=None, target_to_input=None, *,
                 batch_size=32, shuffle=False, seed=0, extra=None):
        import torch

        self.index = index
        self.inputs, self.targets = inputs, targets
        self.extra = extra
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        offs = torch.arange(index.length)
        self._in_rows = torch.as_tensor(index.rows(n_time, target_to_input))[:, None] + offs
        self._tgt_rows = (torch.as_tensor(index.rows(n_time))[:, None] + offs) if targets is not None else None

    def __len__(self) -> int:
        return (len(self.index) + self.batch_size - 1) // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        """The window order of ``epoch`` (a seeded permutation when shuffling)."""
        if not self.shuffle:
            return np.arange(len(self.index))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.index))

    def batch(self, which) -> tuple:
        """Tensors for the windows ``which``: ``(x, y)`` or ``(x, y, extra)``."""
        import torch

        which = torch.as_tensor(np.asarray(which))
        x = self.inputs[self._in_rows[which]]
        y = self.targets[self._tgt_rows[which]] if self.targets is not None else None
        if self.extra is not None:  # per-input-row tensors (e.g. the baseline being corrected)
            return x, y, self.extra[self._in_rows[which]]
        return x, y

    def __iter__(self) -> Iterator[tuple]:
        order = self.order(self.epoch)
        self.epoch += 1
        for b in range(0, order.size, self.batch_size):
            yield self.batch(order[b : b + self.batch_size])


@dataclass
class Windows:
    """Windows of a Dataset: the prepared arrays and where each window starts.

    Made by :func:`windows` (``ds.emu.windows(...)``). ``len(w)`` windows;
    ``w.tensors(which)`` gives ``(x, y)`` of shape ``(B, T, C, H, W)`` / ``(B, T, V, H, W)``;
    ``w.loader(...)`` iterates batches; ``w.labels()`` says where each window is.
    """

    prepared: object
    index: WindowIndex

    def __len__(self) -> int:
        return len(self.index)

    def loader(self, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0) -> WindowLoader:
        """A :class:`WindowLoader` over these windows (the training path)."""
        import torch

        p = self.prepared
        x = torch.from_numpy(p.inputs.reshape(-1, *p.inputs.shape[2:]))
        y = torch.from_numpy(p.targets.reshape(-1, *p.targets.shape[2:])) if p.targets is not None else None
        return WindowLoader(self.index, x, p.inputs.shape[1], y, p.target_to_input,
                            batch_size=batch_size, shuffle=shuffle, seed=seed)

    def tensors(self, which=None) -> tuple:
        """``(x, y)`` tensors for the windows ``which`` (all by default)."""
        which = np.arange(len(self)) if which is None else np.atleast_1d(which)
        return self.loader().batch(which)

    def labels(self) -> list[dict]:
        """For each window, its sample labels and the time of its first month."""
        p = self.prepared
        dims = p.target_sample_dims if p.targets is not None else p.input_sample_dims
        samples = p.sample_labels(dims)
        time = p.time.values
        return [{**samples[s], "time": time[t]} for s, t in zip(self.index.sample, self.index.start, strict=True)]


def windows(ds, inputs, targets=None, *, length: int = 12, stride: int = 1,
            encoding: str = "sincos", grid_alignment: str = "position") -> Windows:
    """Model-ready windows of ``inputs`` (and ``targets``) of ``ds``.

    Every month of every sample is used; windows never cross a sample boundary or a gap
    in time. Units are checked, targets converted to canonical units, input maps aligned
    to the target grid (:func:`xemu.data.coords.align_grid`) and seasonal channels appended.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> w = xemu.windows(ds, ["CO2", "SO2"], ["tas", "pr"], length=12, stride=6)
    >>> x, y = w.tensors([0, 1])
    >>> tuple(x.shape), tuple(y.shape)
    ((2, 12, 4, 4, 6), (2, 12, 2, 4, 6))
    """
    from .checks import month_index
    from .coords import roles
    from .prepare import prepare

    grid = None
    if targets is None:  # no target grid: the inputs go on the grid of their first map
        for name in [inputs] if isinstance(inputs, str) else list(inputs):
            r = roles(ds[name], name=name) if name in ds.data_vars else None
            if r is not None and r.spatial is not None:
                grid = (ds[r.latitude], ds[r.longitude])
                break
    p = prepare(ds, inputs, targets, encoding=encoding, grid_alignment=grid_alignment, grid=grid)
    n_samples = (p.targets if p.targets is not None else p.inputs).shape[0]
    valid = np.ones((n_samples, p.time.size), bool)
    index = define_windows(valid, month_index(p.time), length=length, stride=stride, argument="ds")
    return Windows(prepared=p, index=index)
