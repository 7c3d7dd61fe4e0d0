"""Calibration of a deterministic prediction's variance: what the truth's month-to-month variance
adds to the prediction's on training data, per cell (:func:`~xemu.variability.internal_variance`;
before it, their ratio: :func:`~xemu.variability.variance_ratio`), the stretch of a new
prediction's deviations from its running mean that adds that variance to its own
(:func:`~xemu.variability.added_variance_ratio`, :func:`~xemu.variability.calibrate`), and the
clip at zero that keeps a series' mean (:func:`~xemu.variability.keep_mean_clip`, for precipitation).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.coords import find_dim, roles
from ..errors import ConfigError, DataError

__all__ = ["BLOCK_MONTHS", "block_variances", "variance_ratio", "ratio_of_variances", "internal_variance",
           "series_variance", "added_variance_ratio", "calibrate", "keep_mean_clip"]

#: Months per block over which the internal variance of a calibrated prediction is measured (a
#: decade: the span over which the study's time-stddev metric is taken).
BLOCK_MONTHS = 120


def block_variances(truth: xr.DataArray, pred: xr.DataArray, *more: xr.DataArray,
                    block: int = BLOCK_MONTHS) -> tuple[xr.DataArray, ...]:
    """Per cell, the month-to-month variance (ddof 0) of ``truth`` and of ``pred`` (and of each
    further prediction in ``more``, e.g. the baseline's under it) over blocks of ``block``
    months, each averaged over blocks: ``(truth's, pred's, *more's)``.

    The variances are taken over the months of each block of consecutive months of each
    sample (e.g. each scenario and member) and averaged over blocks; a block with a missing
    month (NaN in ``truth``: not a training month) is left out of every mean. ``pred`` and
    ``more`` are broadcast against ``truth`` (they may lack the member dim).
    """
    r = roles(truth, name="truth")
    if r.time is None or r.spatial is None:
        raise DataError(f"truth: expected maps with a time dimension; got dims {truth.dims}")
    if truth.sizes[r.time] < block:
        raise DataError(f"truth: {truth.sizes[r.time]} months; the variance ratio needs blocks of {block}")
    preds = [p.broadcast_like(truth).where(truth.notnull()) for p in (pred, *more)]
    variances = [_blocks(da, r.time, block).var("month_in_block", skipna=False) for da in (truth, *preds)]
    over = [d for d in variances[0].dims if d not in (r.latitude, r.longitude)]
    return tuple(v.mean(over, skipna=True) for v in variances)


def variance_ratio(truth: xr.DataArray, pred: xr.DataArray, *, block: int = BLOCK_MONTHS) -> xr.DataArray:
    """Per cell, ``sqrt(mean var(truth) / mean var(pred))`` over blocks of ``block`` months
    (:func:`~xemu.variability.calibration.block_variances`): the fixed stretch of :func:`calibrate` for emulators saved before
    :func:`internal_variance` was recorded, whose calibrated predictions stay as they were.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = xr.date_range("2000-01-01", periods=240, freq="MS", use_cftime=True)
    >>> rng = np.random.default_rng(0)
    >>> truth = xr.DataArray(rng.standard_normal((240, 2, 3)) * 2, coords={"time": t, "lat": [0.0, 10], "lon": [0.0, 1, 2]})
    >>> pred = truth * 0 + rng.standard_normal((240, 2, 3))
    >>> float(variance_ratio(truth, pred).mean().round(1))
    2.0
    """
    return ratio_of_variances(*block_variances(truth, pred, block=block), block)


def ratio_of_variances(truth_var: xr.DataArray, pred_var: xr.DataArray, block: int) -> xr.DataArray:
    """The ``variance_ratio`` of :func:`variance_ratio` from the truth's and the prediction's
    variance per cell, each averaged over the blocks of ``block`` months (1 where it is not
    positive and finite)."""
    ratio = np.sqrt(truth_var / pred_var)
    ratio = ratio.where(np.isfinite(ratio) & (ratio > 0), 1.0)  # a constant prediction is left as it is
    ratio.attrs = {"long_name": f"ratio of the truth's to the prediction's standard deviation over {block} months",
                   "units": "1"}
    return ratio.rename("variance_ratio")


def internal_variance(truth_var: xr.DataArray, pred_var: xr.DataArray, block: int, units: str = "") -> xr.DataArray:
    """Per cell, the truth's less the prediction's month-to-month variance (each averaged over the
    blocks of ``block`` months, :func:`~xemu.variability.calibration.block_variances`), at least 0: the variance of internal
    variability that a calibrated prediction adds to its own (:func:`added_variance_ratio`).
    ``units`` are the target's (the result is in their square)."""
    v = (truth_var - pred_var).clip(min=0)
    v = v.where(np.isfinite(v), 0.0)
    v.attrs = {"long_name": f"variance of internal variability over {block} months (the truth's less the "
                            f"prediction's, on training months)",
               "units": f"({units})^2" if units else ""}
    return v.rename("internal_variance")


def series_variance(pred: xr.DataArray, *, block: int = BLOCK_MONTHS) -> xr.DataArray:
    """Per series and cell, the month-to-month variance (ddof 0) of ``pred`` over each block of
    ``block`` consecutive months from its first, averaged over blocks (the months after the last
    whole block left out; a series shorter than ``block`` is one block): :func:`~xemu.variability.calibration.block_variances`
    of one prediction, kept per series."""
    return _each_block_variance(pred, find_dim(pred, "time", name="pred"), block).mean("block")


def _each_block_variance(da: xr.DataArray, time: str, block: int) -> xr.DataArray:
    """The month-to-month variance (ddof 0) of ``da`` in each block of ``block`` months from its first
    (dim ``block``; the months after the last whole block left out; a series shorter than ``block``
    is one block)."""
    return _blocks(da, time, min(block, da.sizes[time])).var("month_in_block")


def _blocks(da: xr.DataArray, time: str, size: int) -> xr.DataArray:
    """``da`` with ``time`` cut into consecutive blocks of ``size`` months from the first (dims
    ``block`` and ``month_in_block``; the months after the last whole block left out)."""
    return da.coarsen({time: size}, boundary="trim").construct({time: ("block", "month_in_block")})


def added_variance_ratio(pred: xr.DataArray, internal: xr.DataArray, *, block: int = BLOCK_MONTHS,
                         per_block: bool = False, reference: xr.DataArray | None = None) -> xr.DataArray:
    """Per series and cell, ``sqrt((v + internal) / v)`` with ``v`` the prediction's own
    variance: the stretch of :func:`calibrate` after which ``pred``'s month-to-month variance is
    its own plus the internal variance learned on training months (:func:`internal_variance`).
    1 where ``v`` is not positive (a constant is left as it is).

    ``per_block`` (what every emulator fitted since it was added does): ``v`` is the variance
    over each block of ``block`` consecutive months from the first (a series shorter than
    ``block`` is one block), and the stretch is per month, that of its block (the months after
    the last whole block take the last block's): each block's variance becomes its own plus
    the internal variance. Otherwise (emulators saved before it): ``v`` is
    :func:`~xemu.variability.calibration.series_variance`, the blocks' variances averaged, and
    one stretch per series, so that only the average over the blocks gains the internal
    variance; a prediction whose own variance grows along the series (the seasonal cycle of
    precipitation in a warming climate) is then stretched too much where it is largest and too
    little where it is smallest.

    ``reference`` (per block only; what a CNN-GRU fitted on a baseline does since it was added):
    another prediction of the same months, the baseline's own, whose variance in each block plus
    ``internal`` (then the internal variance learned against the baseline's training prediction)
    is the block's variance after the stretch, or ``pred``'s own where that is larger (nothing is
    shrunk): ``sqrt(max(v, v_ref + internal) / v)``. The network moves the months; how much they
    vary comes from the baseline, whose internal variance was not partly fitted away as the
    network's is (it fits some of the training scenarios' month-to-month variance).

    All were chosen over the fixed :func:`variance_ratio` by nested leave-one-scenario-out on the
    training scenarios (``benchmarks/calibration_variance.py``): on a scenario never run, whose
    forced variance (the seasonal cycle of a colder or warmer climate) is not the training
    scenarios', a fixed ratio stretches the difference as if it were internal variability.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = xr.date_range("2000-01-01", periods=120, freq="MS", use_cftime=True)
    >>> pred = xr.DataArray(np.tile([1.0, -1.0], 60)[:, None], coords={"time": t, "lat": [0.0]})
    >>> float(added_variance_ratio(pred, xr.DataArray([3.0], coords={"lat": [0.0]}))[0])  # sqrt((1 + 3) / 1)
    2.0
    >>> pred = pred * xr.DataArray(np.repeat([1.0, 3.0], 60), coords={"time": t})  # variance 1, then 9
    >>> r = added_variance_ratio(pred, xr.DataArray([3.0], coords={"lat": [0.0]}), block=60, per_block=True)
    >>> [round(float(r.isel(time=i, lat=0)), 3) for i in (0, 60)]  # sqrt((1 + 3) / 1), sqrt((9 + 3) / 9)
    [2.0, 1.155]
    """
    if reference is not None and not per_block:
        raise ConfigError("reference: the baseline's variance is added block by block; expected per_block=True "
                          "with a reference")
    if per_block:
        time = find_dim(pred, "time", name="pred")
        parts = _block_slices(pred.sizes[time], block)
        v = _each_block_variance(pred, time, block)  # the whole blocks: one per part
    else:
        v = series_variance(pred, block=block)
    if reference is None:
        ratio = np.sqrt((v + internal) / v)
    else:
        _check_reference(reference, pred)
        v_ref = _each_block_variance(reference, time, block)
        ratio = np.sqrt(np.maximum(v, v_ref + internal) / v)
    ratio = ratio.where(np.isfinite(ratio) & (ratio > 0), 1.0)
    if per_block:  # each month takes its block's, the months after the last whole block the last one's
        index = np.repeat(np.arange(len(parts)), [part.stop - part.start for part in parts])
        ratio = ratio.isel(block=xr.DataArray(index, dims=time)).drop_vars("block", errors="ignore")
        ratio = ratio.assign_coords({time: pred[time]}).transpose(*(d for d in pred.dims if d in ratio.dims), ...)
    ratio.attrs = {"long_name": f"stretch that adds the internal variance to the prediction's own over "
                                f"{block} months{' (per block)' if per_block else ''}", "units": "1"}
    return ratio.rename("variance_ratio")


def _check_reference(reference, pred: xr.DataArray) -> None:
    """A :class:`~xemu.DataError` unless ``reference`` is a DataArray on ``pred``'s dims, sizes and time."""
    if not isinstance(reference, xr.DataArray):
        raise DataError(f"reference: expected an xarray.DataArray (the baseline's prediction of pred's months); "
                        f"got {type(reference).__name__}")
    if set(reference.dims) != set(pred.dims) or any(reference.sizes[d] != pred.sizes[d] for d in pred.dims):
        raise DataError(f"reference: expected pred's dims and sizes {dict(pred.sizes)}; got {dict(reference.sizes)}")
    time = find_dim(pred, "time", name="pred")
    if time in reference.coords and time in pred.coords and not np.array_equal(reference[time].values,
                                                                              pred[time].values):
        raise DataError(f"reference: its {time} differs from pred's; expected the baseline's prediction of the "
                        f"same months")


def calibrate(pred: xr.DataArray, ratio: xr.DataArray, *, block: int = BLOCK_MONTHS,
              non_negative: bool = False, per_block: bool = False) -> xr.DataArray:
    """Stretch ``pred``'s deviations from its running mean by ``ratio`` (per cell, or per cell
    and month: :func:`added_variance_ratio`).

    ``out = m + ratio * (pred - m) + c`` with ``m`` the centred running mean of ``pred``
    over ``block`` months (shorter at the ends) and ``c`` the per-cell constant that keeps
    the time mean of ``pred`` over all its months exactly: the month-to-month standard
    deviation becomes the truth's, as measured on training data by :func:`variance_ratio`,
    and the mean of what was asked for does not move. ``per_block``: the mean is kept in each
    block of ``block`` months from the first instead (the months after the last whole block
    join it; a series shorter than ``block`` is one block), ``c`` and the shift below per
    block, so that a stretch that differs from block to block moves no block's mean.

    ``non_negative`` (precipitation): where the stretch goes below 0, the result is
    ``max(out - s, 0)`` with the per-cell shift ``s >= 0`` for which its time mean is still
    exactly ``pred``'s (:func:`keep_mean_clip`): dry months become 0 and the cell's other
    months are lowered by what that added, so the time mean never moves. Measured on
    training data only (``benchmarks/variability.py --cnn-gru``, an inner split: ssp585
    member 1's last decade held out) against a plain clip at 0 (which raises the mean of
    dry cells) and a rescaling after the clip: for xemu's CNN-GRU the shift scored closest
    to the climate model (pr monthly RMSE / time-mean RMSE / time-stddev MAE 2.340 / 0.316
    / 0.254, score 0.640, against 2.355 / 0.341 / 0.254 and 0.653 clipped, 2.326 / 0.316 /
    0.258 and 0.641 rescaled); for linear pattern scaling the plain clip scored better
    (0.698 against 0.705; the clip lowers its pr time-mean RMSE from 0.309 to 0.301: its
    forced response is too dry in dry cells). See
    ``benchmarks/RESULTS.md``.
    """
    time = find_dim(pred, "time", name="pred")
    m = pred.rolling({time: block}, center=True, min_periods=1).mean()
    out = m + ratio * (pred - m)
    if per_block:
        out = xr.concat([_keep_mean(out.isel({time: part}), pred.isel({time: part}), time, non_negative)
                         for part in _block_slices(pred.sizes[time], block)], dim=time)
    else:
        out = _keep_mean(out, pred, time, non_negative)
    out.attrs = dict(pred.attrs)
    return out.astype(pred.dtype)


def _block_slices(n: int, block: int) -> list[slice]:
    """The blocks of a series of ``n`` months for :func:`added_variance_ratio` and :func:`calibrate`
    with ``per_block=True``: ``min(block, n)`` months each from the first, the months after the
    last whole block joining it."""
    size = min(block, n)
    starts = list(range(0, n - size + 1, size))
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]


def _keep_mean(out: xr.DataArray, pred: xr.DataArray, time: str, non_negative: bool) -> xr.DataArray:
    """``out`` shifted per cell to ``pred``'s time mean; ``non_negative``: by :func:`keep_mean_clip`."""
    target = pred.mean(time)
    out = out + (target - out.mean(time))
    if non_negative:
        out = xr.apply_ufunc(keep_mean_clip, out, target, input_core_dims=[[time], []], output_core_dims=[[time]],
                             dask="parallelized", output_dtypes=[out.dtype],
                             dask_gufunc_kwargs={"allow_rechunk": True}).transpose(*out.dims)
    return out


def keep_mean_clip(x: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
    """``max(x - s, 0)`` along the last axis, with the shift ``s >= 0`` per series for which
    the mean over the last axis is ``max(mean, 0)`` (0 where nothing goes below 0).

    Exact, from the series sorted in decreasing order: with the ``k`` largest values above
    ``s``, the mean is ``(sum of them - k s) / n``, so ``s = (sum - n mean) / k`` for the
    ``k`` at which ``s`` falls between the ``k``-th and the ``k + 1``-th value. NaN in a
    series gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([-1.0, 1.0, 3.0])  # mean 1
    >>> keep_mean_clip(x, 1.0)
    array([0. , 0.5, 2.5])
    >>> keep_mean_clip(np.array([1.0, 2.0]), 1.5)  # nothing below 0: unchanged
    array([1., 2.])
    """
    x = np.asarray(x)
    mean = np.maximum(np.broadcast_to(np.asarray(mean, dtype=np.float64), x.shape[:-1]), 0.0)
    n = x.shape[-1]
    xs = -np.sort(-x.astype(np.float64), axis=-1)  # decreasing
    k = np.arange(1, n + 1)
    shift = (np.cumsum(xs, axis=-1) - n * mean[..., None]) / k
    below = np.concatenate([xs[..., 1:], np.full((*x.shape[:-1], 1), -np.inf)], axis=-1)
    ok = (shift >= below) & (shift <= xs)  # the k largest values stay above the shift
    s = np.take_along_axis(shift, ok.argmax(-1)[..., None], -1)[..., 0]
    s = np.where(ok.any(-1) & (xs[..., -1] < 0), np.maximum(s, 0.0), 0.0)
    return np.maximum(x - s[..., None].astype(x.dtype), 0).astype(x.dtype)
