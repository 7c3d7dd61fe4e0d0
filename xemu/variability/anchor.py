"""Anchoring of draws to the forced response: each draw is shifted, per block of calendar
years and per cell, so that its mean over the block is the prediction's
(:func:`~xemu.variability.anchor_draws`; any blocks: :func:`~xemu.variability.hold_block_means`). What a draw keeps is its
variability inside each block; what goes is the variability of the block means.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.coords import find_dim
from ..errors import ConfigError, DataError
from .calibration import keep_mean_clip

__all__ = ["ANCHORS", "anchor_years", "anchor_blocks", "anchor_draws", "hold_block_means"]

#: Named values of ``anchor`` (``predict(..., samples=n, anchor=...)``) and their years.
ANCHORS: dict[str, int] = {"decade": 10}


def anchor_years(anchor) -> int | None:
    """The block length in years named by ``anchor``: ``None``, ``"decade"`` (10) or an
    integer >= 1 (a :class:`~xemu.ConfigError` naming ``anchor`` otherwise)."""
    if anchor is None:
        return None
    if isinstance(anchor, str) and anchor in ANCHORS:
        return ANCHORS[anchor]
    if not isinstance(anchor, bool) and isinstance(anchor, int | np.integer) and anchor >= 1:
        return int(anchor)
    raise ConfigError(f"anchor: expected None, one of {list(ANCHORS)} or a number of years >= 1; got {anchor!r}")


def anchor_blocks(year: np.ndarray, years: int) -> np.ndarray:
    """The block of each month of a monthly series from its calendar ``year``: blocks of
    ``years`` calendar years that start in a year divisible by ``years`` (for 10, the
    decades 2080-2089, 2090-2099, ...). A first or last piece shorter than half a block
    (fewer than ``6 * years`` months) joins its neighbour, so that no short stretch is held
    to its prediction's mean.

    Examples
    --------
    >>> import numpy as np
    >>> year = np.repeat(np.arange(2083, 2101), 12)[1:-11]  # 2083-02 .. 2100-01
    >>> blocks = anchor_blocks(year, 10)
    >>> [(int(year[blocks == b][0]), int(year[blocks == b][-1]), int((blocks == b).sum())) for b in np.unique(blocks)]
    [(2083, 2089, 83), (2090, 2100, 121)]
    """
    block = np.asarray(year, dtype=np.int64) // int(years)
    ids = np.unique(block)
    half = 6 * int(years)
    if ids.size > 1 and np.count_nonzero(block == ids[0]) < half:
        block = np.where(block == ids[0], ids[1], block)
        ids = ids[1:]
    if ids.size > 1 and np.count_nonzero(block == ids[-1]) < half:
        block = np.where(block == ids[-1], ids[-2], block)
    return block


def anchor_draws(draws: xr.DataArray, pred: xr.DataArray, years: int | str, *,
                 non_negative: bool = False) -> xr.DataArray:
    """Shift each draw so that its mean over each block of :func:`anchor_blocks` is ``pred``'s.

    Within a block, every month of a draw moves by the same amount per cell: the draw's
    anomalies from its block mean, and so its month-to-month and year-to-year variability
    inside the block, are kept; what goes is the variability of the block means themselves
    (for ``"decade"``: decadal variability), which the ensemble then no longer spreads.
    ``non_negative`` (precipitation): the shift is :func:`~xemu.variability.keep_mean_clip`'s,
    so draws stay ``>= 0`` and the block mean is still exactly ``max(pred's block mean, 0)``.

    Examples
    --------
    >>> import xemu
    >>> from xemu.variability import BlockBootstrap
    >>> ds = xemu.synthetic_climate(n_years=30, n_lat=6, n_lon=8).isel(scenario=0)
    >>> draws = BlockBootstrap.fit(ds.tas - ds.tas_forced).sample(ds.tas_forced, 3, seed=0)
    >>> held = anchor_draws(draws, ds.tas_forced, 10)
    >>> decade = ds.time.dt.year // 10
    >>> gap = (held.groupby(decade).mean("time") - ds.tas_forced.groupby(decade).mean("time"))
    >>> bool(abs(gap).max() < 1e-3)  # K, float32 maps near 288 K
    True
    """
    length = anchor_years(years)
    if length is None:
        raise ConfigError("years: expected 'decade' or a number of years >= 1; got None")
    time = find_dim(pred, "time", name="pred")
    out = hold_block_means(draws, pred, anchor_blocks(pred[time].dt.year.values, length), non_negative=non_negative)
    out.attrs["xemu_anchor"] = (f"each draw's mean over each block of {length} calendar years is the prediction's "
                                f"(xemu.variability.anchor_draws)")
    return out


def hold_block_means(draws: xr.DataArray, pred: xr.DataArray, block: np.ndarray, *,
                     non_negative: bool = False) -> xr.DataArray:
    """What :func:`anchor_draws` does, for any blocks: ``block`` labels each time step of
    ``pred``; each draw is shifted per block (and cell) so that its block mean is ``pred``'s."""
    time = find_dim(pred, "time", name="pred")
    block = np.asarray(block)
    if block.shape != (pred.sizes[time],):
        raise ConfigError(f"block: expected one label per time step of pred ({pred.sizes[time]}); "
                          f"got shape {block.shape}")
    missing = [d for d in pred.dims if d not in draws.dims]
    if missing:
        raise DataError(f"draws: expected pred's dims {list(pred.dims)} and the realizations'; missing {missing}")
    order = [d for d in draws.dims if d != time] + [time]
    x = np.array(draws.transpose(*order).values)  # a copy, in the draws' dtype
    # pred on the draws' order, with length-1 axes for the draws' own dims (the realizations)
    p = np.asarray(pred.transpose(*[d for d in order if d in pred.dims]).values)
    p = p.reshape([pred.sizes[d] if d in pred.dims else 1 for d in order])
    for b in np.unique(block):
        at = np.flatnonzero(block == b)
        target = p[..., at].mean(-1, dtype=np.float64)
        seg = x[..., at].astype(np.float64)
        seg += (target - seg.mean(-1))[..., None]
        x[..., at] = keep_mean_clip(seg, target) if non_negative else seg
    out = xr.DataArray(x, dims=order, coords=draws.coords, name=draws.name, attrs=dict(draws.attrs))
    return out.transpose(*draws.dims)
