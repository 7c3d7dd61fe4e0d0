"""How much variance a calibrated prediction adds on a scenario never run: nested leave-one-scenario-out.

    python benchmarks/calibration_variance.py --saved runs/em [--seed 0] [--outer]
    XEMU_BENCH_QUICK=1 python benchmarks/calibration_variance.py ...   # the correction combined as by default only

``predict(..., variability="calibrated")`` stretches the forced prediction's deviations from
its running mean by a fixed ratio per cell, the truth's to the prediction's month-to-month
standard deviation on the training months (:func:`xemu.variability.variance_ratio`). On a
scenario whose forced month-to-month variance differs from the training scenarios' (the
seasonal cycle of a colder or a warmer climate, the network's correction tapered or not),
a fixed ratio carries that difference into the internal variability it stands for. The
candidates add an internal variance ``v_int`` (per cell, 120-month blocks averaged) to the
new prediction's own variance ``v_new`` instead: the stretch is ``sqrt((v_new + v_int) / v_new)``
(:func:`calibration_additive.added_variance`), with ``v_int`` the truth's variance on the
training months less that of

- ``network``: the CNN-GRU's own prediction of the training months (what it could fit there,
  member noise it may have learned included), or
- ``baseline``: the energy-balance baseline's prediction of them (which cannot fit member noise);

and each with the network's correction as the default combines it, with its fast part
tapered too (``L_fast`` 4 or 2: :mod:`xemu.recipe.correction`), or with the fast part's seasonal
cycle (per calendar month, its running mean over 11 years) kept whole and the rest of it
(month to month around that cycle, which no forcing explains) dropped or tapered with 2. A second family, the
energy-balance baseline alone (the one under each fit), is calibrated by its own fixed ratio
or by its own internal variance added; each family's choice is made within it.

Later candidates (the rows ``per block`` and ``by the state``) add ``v_int`` block by block:
``v_new`` is each 120-month block's own variance and each month takes its block's stretch
(:func:`block_by_block`; what :func:`xemu.variability.added_variance_ratio` does with
``per_block=True``), with ``v_int`` the same in every block or, ``by the state``
(:func:`by_state`), regressed per cell on the block's global mean of the prediction. The row
``the baseline's own variance and v_int per block`` gives the CNN-GRU's prediction, in each
block, the variance of the energy-balance baseline's own prediction of it plus the baseline's
``v_int``: the network moves the months, the baseline says how much they vary. The fold loop
and the fits are those of ``benchmarks/correction_parts.py`` (shared with it through ``--saved``).
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr
from calibration_additive import block_var
from correction_parts import INF, correction_weight, nested_choice, quiet, running_mean, whole_correction

from xemu.evaluation import make_split
from xemu.metrics.deterministic import score
from xemu.recipe.correction import SLOW_MONTHS, TAPER_LENGTH
from xemu.variability import calibrate, variance_ratio

#: How the correction is combined: label -> (L_fast, L_rest) (the slow part as the default: SLOW_MONTHS,
#: TAPER_LENGTH). ``L_rest`` None: the fast part as one; else the fast part's seasonal cycle (per
#: calendar month, its running mean over SEASONAL_YEARS years) weighted with L_fast and the rest
#: (month to month around it) with L_rest (0: dropped).
CORRECTIONS = {"fast whole (today)": (INF, None), "fast L=4": (4.0, None), "fast L=2": (2.0, None),
               "seasonal whole, rest dropped": (INF, 0.0), "seasonal whole, rest L=2": (INF, 2.0)}
if os.environ.get("XEMU_BENCH_QUICK"):  # the default's combination only (to compare calibrations)
    CORRECTIONS = {"fast whole (today)": (INF, None)}
SEASONAL_YEARS = 11
CALIBRATIONS = ("ratio (today)", "added v_int, network", "added v_int, baseline", "added v_int to deviations, network",
                "added v_int, pr's scaled by its mean squared, network",
                "added v_int, pr's scaled by its mean squared within 2, network",
                "added v_int, pr's scaled by its mean squared within 1.5, network",
                "added v_int per block, network", "added v_int by the state, network",
                "the baseline's own variance and v_int per block, baseline")


def stretched(pred: xr.DataArray, v_int: xr.DataArray, block: int, dry: bool, deviations: bool = False) -> xr.DataArray:
    """``pred`` calibrated with ``v_int`` added to its own variance: over blocks of ``block`` months,
    or (``deviations``) the variance of its deviations from its running mean, what the stretch multiplies."""
    v_new = block_var(pred - running_mean(pred, block) if deviations else pred, block)
    return calibrate(pred, np.sqrt((v_new + v_int) / v_new), block=block, non_negative=dry)


def seasonal(da: xr.DataArray, years: int) -> xr.DataArray:
    """Per calendar month, the centred running mean of ``da`` over ``years`` years of that month."""
    parts = [da.isel(time=slice(m, None, 12)).rolling(time=years, center=True, min_periods=1).mean()
             for m in range(min(12, da.sizes["time"]))]
    return xr.concat(parts, "time").sortby("time")


def scaled(pred: xr.DataArray, v_int: xr.DataArray, train_mean: xr.DataArray, block: int, dry: bool,
           within: float = float("inf")) -> xr.DataArray:
    """``pred`` calibrated with ``v_int`` times ``(block mean / train_mean) ** 2`` (held within
    ``[1 / within, within]``) added to its own variance, block by block of ``block`` months (the
    months after the last whole block take the last block's stretch): internal variability of
    precipitation that grows with its mean."""
    scale = ((blocks_of(pred, block).mean("month_in_block") / train_mean) ** 2).clip(1 / within, within)
    return block_by_block(pred, v_int * scale, block, dry)


def blocks_of(da: xr.DataArray, block: int) -> xr.DataArray:
    return da.coarsen(time=block, boundary="trim").construct(time=("block", "month_in_block"))


def block_by_block(pred: xr.DataArray, v_int: xr.DataArray, block: int, dry: bool) -> xr.DataArray:
    """``pred`` calibrated with ``v_int`` (per cell, or per cell and block) added to its own
    variance block by block of ``block`` months (the months after the last whole block take the
    last block's stretch), each block's mean kept (:func:`xemu.variability.calibrate` with
    ``per_block=True``; with ``XEMU_BENCH_SERIES_MEAN`` set, the series' mean only, as first
    measured)."""
    v_new = blocks_of(pred, block).var("month_in_block")
    ratio = np.sqrt((v_new + v_int) / v_new)
    ratio = ratio.where(np.isfinite(ratio) & (ratio > 0), 1.0)
    index = np.minimum(np.arange(pred.sizes["time"]) // block, ratio.sizes["block"] - 1)
    per_month = ratio.isel(block=xr.DataArray(index, dims="time")).drop_vars("block", errors="ignore")
    return calibrate(pred, per_month.assign_coords(time=pred.time), block=block, non_negative=dry,
                     per_block=os.environ.get("XEMU_BENCH_SERIES_MEAN") is None)


def by_state(pred: xr.DataArray, truth_train: xr.DataArray, pred_train: xr.DataArray, block: int, dry: bool,
             regress: bool = True) -> xr.DataArray:
    """``pred`` calibrated block by block with an internal variance that follows the state of the
    climate: per cell, the truth's less the prediction's variance in each training block (each
    scenario and member) regressed by least squares on the block's area-weighted global mean of
    the prediction itself (``regress=False``: its mean, the same in every block), evaluated at
    each block of ``pred`` with that global mean held to the training blocks' range, at least 0."""
    grid = truth_train.dims[-2:]
    w = np.cos(np.deg2rad(truth_train[grid[0]]))

    def state(da):
        return blocks_of(da, block).mean("month_in_block").weighted(w).mean(grid)

    d = (blocks_of(truth_train, block).var("month_in_block")
         - blocks_of(pred_train.broadcast_like(truth_train), block).var("month_in_block"))
    x = state(pred_train).broadcast_like(d.isel({g: 0 for g in grid}, drop=True))
    over = [k for k in d.dims if k not in grid]
    xm, dm = x.mean(over), d.mean(over)
    slope = ((x - xm) * (d - dm)).mean(over) / ((x - xm) ** 2).mean(over) if regress else 0.0
    v_int = (dm + slope * (state(pred).clip(float(x.min()), float(x.max())) - xm)).clip(min=0)
    return block_by_block(pred, v_int, block, dry)


def rows(ds, em, test: str, fit_on: list[str]) -> dict:
    """Per candidate: forced score, calibrated score, tas time-mean RMSE and the time-stddev MAEs
    on every member of ``test`` over its last 240 months (means over members)."""
    sp = make_split(f"scenario:{test}", ds)
    forcing = ds.sel(ssp=[test]).drop_vars(["tas", "pr"])
    truth = ds[["tas", "pr"]].sel(sp.test)
    train = ds.sel(ssp=fit_on)
    block = em.variability.block
    base, full, net_train = whole_correction(em, forcing, train)
    base_train = quiet(em.baseline.predict, train[list(em.baseline.inputs)])  # on training forcings the taper is 1
    weights = {length: correction_weight(em, forcing, length)
               for length in {TAPER_LENGTH, *(x for pair in CORRECTIONS.values() for x in pair if x is not None)}}
    v_int = {(who, name): (block_var(train[name], block) - block_var(p[name].broadcast_like(train[name]), block)).clip(min=0)
             for who, p in (("network", net_train), ("baseline", base_train)) for name in ("tas", "pr")}
    train_mean = {}
    for who, p in (("network", net_train), ("baseline", base_train)):
        m = p["pr"].broadcast_like(train["pr"]).where(train["pr"].notnull())
        train_mean[who] = m.mean([d for d in m.dims if d not in train["pr"].dims[-2:]])  # per cell
    ratio = {("network", name): em.variability.ratios[name] for name in ("tas", "pr")}
    ratio.update({("baseline", name): variance_ratio(train[name], base_train[name], block=block) for name in ("tas", "pr")})

    def scored(p):
        return score(p[["tas", "pr"]].sel(ssp=test, time=truth.time), truth).mean("member_id")

    def calibrated(pred, forced, how, who):
        cal = pred.copy()
        for name in ("tas", "pr"):
            dry = name == "pr"
            if how == "ratio":
                cal[name] = calibrate(pred[name], ratio[(who, name)], block=block, non_negative=dry)
            elif how.startswith("the baseline's own variance"):  # the baseline's total variance, block by block
                v_alone = blocks_of(alone[name], block).var("month_in_block")
                v_pred = blocks_of(pred[name], block).var("month_in_block")
                cal[name] = block_by_block(pred[name], (v_alone + v_int[(who, name)] - v_pred).clip(min=0), block, dry)
            elif "block" in how or "state" in how:
                cal[name] = by_state(pred[name], train[name], (net_train if who == "network" else base_train)[name],
                                     block, dry, regress="state" in how)
            elif "scaled" in how and dry:
                within = float(how.split("within ")[1]) if "within" in how else float("inf")
                cal[name] = scaled(pred[name], v_int[(who, name)], train_mean[who], block, dry, within)
            else:
                cal[name] = stretched(pred[name], v_int[(who, name)], block, dry, deviations="deviations" in how)
        s = scored(cal)
        return (float(forced.competition_score), float(s.competition_score),
                float(forced.tas.sel(metric="time_mean_rmse")),
                {f"{v} t-std": float(s[v].sel(metric="time_stddev_mae")) for v in ("tas", "pr")})

    out = {}
    alone = quiet(em.baseline.predict, forcing[list(em.baseline.inputs)])
    for corr, (l_fast, l_rest) in CORRECTIONS.items():
        pred = base.copy()
        for name in ("tas", "pr"):
            c = full[name] - base[name]
            slow = running_mean(c, SLOW_MONTHS)
            if l_rest is None:
                fast = weights[l_fast] * (c - slow)
            else:
                cycle = seasonal(c - slow, SEASONAL_YEARS)
                fast = weights[l_fast] * cycle + (weights[l_rest] if l_rest else 0.0) * (c - slow - cycle)
            pred[name] = (base[name] + weights[TAPER_LENGTH] * slow + fast).transpose(*base[name].dims)
            pred[name].attrs = base[name].attrs
        forced = scored(pred)
        for how in CALIBRATIONS:
            who = "network" if how == "ratio (today)" else how.rsplit(", ", 1)[1]
            out[f"CNN-GRU: {corr}, {how}"] = calibrated(pred, forced, how.rsplit(",", 1)[0].replace(" (today)", ""), who)
    forced = scored(alone)
    for how in ("ratio (today)", "added v_int", "added v_int to deviations", "added v_int, pr's scaled by its mean squared",
                "added v_int, pr's scaled by its mean squared within 2", "added v_int per block",
                "added v_int by the state"):
        out[f"energy-balance alone: {how}"] = calibrated(alone, forced, how.replace(" (today)", ""), "baseline")
    return out


if __name__ == "__main__":
    np.seterr(all="ignore")
    nested_choice(rows, "inner mean calibrated score")
