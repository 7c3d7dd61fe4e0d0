"""The passes over a store's blocks before the streamed fit trains (:mod:`xemu.scale.stream`).

:func:`input_pass` reads the inputs: the channels' mean and standard deviation and the
inputs' ranges over the training months, the area-weighted global means the linear and
energy-balance baselines read, and the inputs' content hash. :func:`baseline_and_scale` reads
the targets: the sums the baseline is fitted from (:class:`xemu.baselines.regression.RidgeSums`),
the baseline fitted from them as its ``fit`` does from arrays, and the residual scale (the
energy-balance baseline's global model first, from one more pass reading the temperature
target: :mod:`xemu.scale.energy_balance`); :func:`base_of` is then the baseline's prediction
of a block.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from ..baselines import BASELINES
from ..baselines import regression as rg
from ..baselines.base import given_series
from ..data.prepare import Prepared
from ..errors import DataError
from ..recipe import mean_and_std
from .blocks import PASS_BLOCKS, BlockSource, read_ahead
from .energy_balance import GlobalFit, centred_design, global_response, patterns_from_sums

__all__ = ["input_pass", "baseline_and_scale", "base_of"]


def input_pass(src: BlockSource, train_rows: np.ndarray, means_of, maps: bool = True, keyed: bool = True):
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
    for (i, a, e), sub in read_ahead(lambda k: src.read_inputs(*k, read), keys):
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
    mean, std = mean_and_std(total, sq, count)  # as xemu.recipe.channel_stats
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


def _rows_and_targets(src: BlockSource, row_of: np.ndarray, order=None, digest=None):
    """``(rows, y)`` of each block: design rows and targets ``(n, V, P)`` of its training months."""
    for s, a, e, y in src.target_pass(order):
        if digest is not None:
            digest.update(np.ascontiguousarray(y).data)
        rows = row_of[s, a:e]
        keep = rows >= 0
        yield rows[keep], y[keep].reshape(int(keep.sum()), y.shape[1], y.shape[2] * y.shape[3])


@dataclass
class _Design:
    """What the target pass sums against: the training months, the baseline's design and the keys of the sums."""

    s_idx: np.ndarray  # target sample of each training month
    t_idx: np.ndarray  # its time step
    months: np.ndarray  # its calendar month, 1-12
    w: np.ndarray  # area weight of each grid cell
    z: np.ndarray  # the standardised design (no columns but for the linear baseline)
    keys: np.ndarray  # the group of each month's sums: ``months``, or month and fold
    n_folds: int = 1
    folds: np.ndarray | None = None  # cross-validation fold of each month (alpha="cv")
    how: str | None = None  # how the folds were made
    alpha: object = "cv"
    x: np.ndarray | None = None  # the linear baseline's design before standardising, and its statistics
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    varying: np.ndarray | None = None
    eb: GlobalFit | None = None  # the energy-balance baseline's global model, and its month means of T_hat
    centre: np.ndarray | None = None


def _design(src: BlockSource, kind: str | None, pb: Prepared, means: np.ndarray | None, train: np.ndarray,
            options: dict) -> _Design:
    """The :class:`_Design` of the baseline ``kind``; the climatology's calendar months are checked."""
    from ..baselines.linear import linear_design
    from ..data.encoding import month_of
    from ..data.grid import area_weights

    s_idx, t_idx = np.nonzero(train)
    months = month_of(pb.time).values[t_idx]
    lat, lon = pb.lat, pb.lon
    w = np.broadcast_to(area_weights(lat).values[:, None], (lat.size, lon.size)).ravel()
    d = _Design(s_idx, t_idx, months, w, np.zeros((s_idx.size, 0)), months, alpha=options.get("alpha", "cv"))
    if kind == "linear":
        d.z, d.x, d.mean, d.std, d.varying = linear_design(means[src.lay.t2i[s_idx], t_idx], list(pb.input_units),
                                                           months)
        if d.alpha == "cv":
            d.folds, d.how = rg.cv_folds(pb.target_to_input[s_idx], t_idx)
            d.n_folds = int(d.folds.max()) + 1
            if _hold_folds(d.n_folds, d.z.shape[1] + 1, src.block_months):
                d.keys = months * d.n_folds + d.folds
    elif kind == "energy-balance":
        d.eb = global_response(src, pb, means, train, options)
        d.z, d.centre = centred_design(d.eb, train)
    elif kind == "climatology":
        counts = np.bincount(months, minlength=13)[1:]
        if (counts == 0).any():
            raise DataError(f"ds: calendar month {int(np.argmax(counts == 0)) + 1} has no training month for "
                            f"the climatology")
    return d


def baseline_and_scale(src: BlockSource, kind: str | None, pb: Prepared, means: np.ndarray | None,
                       train: np.ndarray, holdout, options: dict, digest=None):
    """The baseline ``kind`` (or ``None``), the residual scale per target and the target mean (no baseline).

    One pass over the target blocks sums, per calendar month (and fold, for the linear
    baseline's cross-validation, when all folds fit beside a block: ``_hold_folds``), the targets,
    the design times the targets and the squares (:class:`xemu.baselines.regression.RidgeSums`);
    the design is the standardised global means for the linear baseline, the energy-balance
    model's global mean (centred per calendar month) for the energy-balance baseline, whose
    global model is fitted first from a pass of its own (:mod:`xemu.scale.energy_balance`). The
    baseline is fitted from those sums as its ``fit`` does from arrays, and the standard
    deviation of the targets minus the baseline follows from them too
    (:func:`xemu.baselines.regression.residual_sums`).
    """
    if not train.any():
        raise DataError("holdout: leaves no month to train on")
    d = _design(src, kind, pb, means, train, options)
    n_v, n_p = len(pb.target_names), pb.lat.size * pb.lon.size
    row_of = _design_rows(train)
    sums = rg.RidgeSums(d.z, d.w)
    for rows, y in _rows_and_targets(src, row_of, digest=digest):
        sums.add(rows, y, d.keys[rows])
    totals = sums.merged(lambda key: key // d.n_folds) if d.keys is not d.months else sums
    bl, target_mean = None, None
    coef = np.zeros((12, d.z.shape[1] + 1, n_v, n_p))  # the baseline's prediction per month: z b + c
    if kind == "linear":
        bl = _fit_linear(src, d, pb, train, row_of, totals, sums, coef, holdout)
    elif kind == "energy-balance":
        bl = patterns_from_sums(d.eb, d.z, d.months, d.centre, totals, coef, holdout, src.grid_alignment)
    elif kind == "climatology":
        bl, coef = _fit_climatology(d, pb, totals, coef, holdout, src.grid_alignment)
    else:
        total = sum(totals.sy(m) + (d.months == m).sum() * totals.shift for m in totals.groups)
        target_mean = total.sum(-1) / (d.s_idx.size * n_p)
        coef[:, -1] = target_mean.astype(np.float32)[:, None]  # the base is the float32 mean
    return bl, _residual_scale(d, totals, coef, n_v, n_p), target_mean


def _fit_linear(src: BlockSource, d: _Design, pb: Prepared, train: np.ndarray, row_of: np.ndarray, totals, sums,
                coef: np.ndarray, holdout):
    """The linear baseline from the monthly sums (``coef`` filled in), its ridge strength chosen from the fold sums."""
    from ..baselines.linear import linear_params, warn_condition

    n_v = len(pb.target_names)
    cv_error, chosen = None, np.full(n_v, float(d.alpha) if d.alpha != "cv" else 0.0)
    if d.alpha == "cv":
        if d.keys is d.months:  # too many folds to hold: a second pass, fold by fold
            sums = _rows_and_targets(src, row_of, _fold_order(src, d, train))
        cv_error = rg.choose_alpha_sums(d.z, d.months, d.folds, d.w, totals, sums)
        chosen = np.asarray(rg.ALPHAS)[np.argmin(cv_error, axis=0)]
    cond = warn_condition(d.z, d.varying, list(pb.input_units), chosen, pb.target_names)
    shift = totals.shift
    for m in range(1, 13):
        sel = d.months == m
        for v in range(n_v):
            b, c = rg.ridge_fit_sums(d.z[sel][:, d.varying], totals.sy(m)[v], totals.szy(m)[d.varying, v],
                                     float(chosen[v]))
            coef[m - 1, np.flatnonzero(d.varying), v] = b
            coef[m - 1, -1, v] = c + shift[v]
    return linear_params(BASELINES["linear"](), pb, coef, d.x, d.mean, d.std, chosen, d.how or "fixed by the caller",
                         cv_error, cond, holdout, src.grid_alignment)


def _fold_order(src: BlockSource, d: _Design, train: np.ndarray) -> list:
    """The pass blocks ``(s, a, e)`` holding training months, ordered by the first fold among them."""
    order = [(s, a, e) for s in range(train.shape[0]) for a, e in src.lay.pass_spans if train[s, a:e].any()]
    fold_of = np.full(train.shape, -1, np.int64)
    fold_of[d.s_idx, d.t_idx] = d.folds
    order.sort(key=lambda b: (int(fold_of[b[0], b[1] : b[2]][train[b[0], b[1] : b[2]]].min()), b[0], b[1]))
    return order


def _fit_climatology(d: _Design, pb: Prepared, totals, coef: np.ndarray, holdout, grid_alignment):
    """The climatology from the monthly sums, and ``coef`` as it predicts (float32)."""
    lat, lon = pb.lat, pb.lon
    data = {}
    for m in range(1, 13):
        coef[m - 1, -1] = totals.sy(m) / (d.months == m).sum() + totals.shift
    for v, name in enumerate(pb.target_names):
        data[f"mean_{name}"] = xr.DataArray(
            coef[:, -1, v].reshape(12, lat.size, lon.size), dims=("month", lat.dims[0], lon.dims[0]),
            attrs={"long_name": f"training climatology of {name}", "units": pb.target_units[name]})
    bl = BASELINES["climatology"]().set_params(xr.Dataset(data), pb, holdout, grid_alignment)
    return bl, coef.astype(np.float32).astype(np.float64)  # predict_arrays gives float32


def _residual_scale(d: _Design, totals, coef: np.ndarray, n_v: int, n_p: int) -> np.ndarray:
    """The std over training months and cells of the targets minus the base ``coef``, per target."""
    r1, r2 = np.zeros(n_v), np.zeros(n_v)
    shift = totals.shift
    for m in range(1, 13):
        sel = d.months == m
        if not sel.any():
            continue
        for v in range(n_v):
            t1, t2 = rg.residual_sums(d.z[sel], totals.sy(m)[v], totals.szy(m)[:, v], totals.syy1(m)[v],
                                      coef[m - 1, :-1, v], coef[m - 1, -1, v] - shift[v])
            r1[v] += t1
            r2[v] += t2
    count = d.s_idx.size * n_p
    return np.sqrt(np.maximum(r2 / count - (r1 / count) ** 2, 0))


def base_of(bl, pb: Prepared, means: np.ndarray | None, target_mean: np.ndarray | None):
    """``base(i, a, e)``: the baseline's prediction ``(n, V, H, W)`` float32 for input sample ``i``, months ``[a, e)``.

    A baseline with history (the energy-balance model's global mean depends on every month before)
    computes its global mean once over each whole series; a block takes its months of it
    (``xemu.baselines.base.given_series``), so that its prediction is the whole series' to the bit.
    """
    if bl is None:
        def flat(i, a, e):
            return np.broadcast_to(target_mean.astype(np.float32)[None, :, None, None],
                                   (e - a, target_mean.size, pb.lat.size, pb.lon.size))
        return flat
    if bl.kind == "climatology":
        return lambda i, a, e: bl.predict_arrays(replace(pb, inputs=np.zeros((1, e - a, 0)), time=pb.time[a:e]))[0]
    if bl.history:  # the global model runs over each whole series once; a block takes its months of it
        series = bl.global_temperature(replace(pb, inputs=means))

        def part(i, a, e):
            with given_series(series[i : i + 1, a:e]):
                return bl.predict_arrays(replace(pb, inputs=means[i : i + 1, a:e], time=pb.time[a:e]))[0]
        return part
    return lambda i, a, e: bl.predict_arrays(replace(pb, inputs=means[i : i + 1, a:e], time=pb.time[a:e]))[0]
