"""The fast part of the CNN-GRU's correction tapered by how new the *state of the climate* is: nested leave-one-scenario-out.

    python benchmarks/fast_state_taper.py --saved runs/em [--seed 0] [--outer]

The network's correction has a slow part (its centred running mean over 120 months, tapered
away from the training forcings: :mod:`xemu.recipe.correction`) and a fast part, what it
adds around that mean: its seasonal cycle. The fast part is kept whole by default (the
nested folds of ``benchmarks/correction_parts.py`` and ``benchmarks/calibration_variance.py``
preferred it whole to tapering it by the distance from the training *forcings*). Yet on
ssp126, fitted on ssp370 and ssp585, the seasonal cycle it learned takes the calibrated
prediction's month-to-month variability further from the climate model's than the baseline's
own. A seasonal cycle is a matter of the climate's state, and ssp126 ends in a state neither
training scenario reaches: a warming that has stopped, at a global mean the training
scenarios pass through while still warming fast.

The candidates keep the default's slow part and weigh the fast part by
``exp(-d**2 / (2 L**2))``, ``d`` each month's distance from the nearest training month in two
features of the energy-balance baseline's global-mean temperature ``Tg`` (the one under the
network, so no truth is read): its centred running mean over 120 months (the level) and that
mean's rate of change per decade (the trend), each standardised by its spread over the
training months. ``L`` in 1, 2, 4, and the fast part whole (``L = inf``, the default). Each is
calibrated as ``predict(..., variability="calibrated")`` does since this issue: the internal
variance learned against the network's own prediction of the training months added to each
120-month block's own variance, each block's mean kept. The fold loop and the saved fits are those of
``benchmarks/correction_parts.py`` (``--saved`` shares them); a fold's choice is the lowest
mean inner calibrated score.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from correction_parts import INF, correction_weight, nested_choice, quiet, running_mean, whole_correction

from xemu.data.novelty import taper
from xemu.evaluation import make_split
from xemu.metrics.deterministic import score
from xemu.recipe.correction import SLOW_MONTHS, TAPER_LENGTH
from xemu.variability import added_variance_ratio, calibrate, internal_variance
from xemu.variability.calibration import block_variances

LENGTHS = {"fast whole (today)": INF, "fast by the state, L=4": 4.0, "fast by the state, L=2": 2.0,
           "fast by the state, L=1": 1.0}


def state_features(em, ds: xr.Dataset) -> np.ndarray:
    """``(S, T, 2)``: the level and the trend (K per decade) of the baseline's global-mean
    temperature of each series of ``ds`` (see the module documentation)."""
    eb = em.baseline
    tg = quiet(eb.global_temperature, eb.prepare_predict(ds[list(eb.inputs)]))
    tg = np.asarray(tg, np.float64).reshape(ds.sizes["ssp"], ds.sizes["time"])
    level = xr.DataArray(tg, dims=("ssp", "time")).rolling(time=SLOW_MONTHS, center=True, min_periods=1).mean().values
    trend = np.gradient(level, axis=1) * 120.0
    return np.stack([level, trend], -1)


def state_distance(train: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``(S, T)``: each month of ``new`` to the nearest month of ``train`` (both ``(S, T, F)``),
    the features standardised by their spread over ``train``."""
    flat = train.reshape(-1, train.shape[-1])
    mean, std = flat.mean(0), flat.std(0)
    a = (flat - mean) / std
    b = (new.reshape(-1, new.shape[-1]) - mean) / std
    d = np.sqrt(((b[:, None, :] - a[None, :, :]) ** 2).sum(-1)).min(1)
    return d.reshape(new.shape[:2])


def rows(ds, em, test: str, fit_on: list[str]) -> dict:
    """Per candidate: forced score, calibrated score, tas time-mean RMSE and the time-stddev MAEs
    on every member of ``test`` over its last 240 months (means over members)."""
    truth = ds[["tas", "pr"]].sel(make_split(f"scenario:{test}", ds).test)
    forcing = ds.sel(ssp=[test]).drop_vars(["tas", "pr"])
    train = ds.sel(ssp=fit_on)
    block = em.variability.block
    base, full, net_train = whole_correction(em, forcing, train)
    w_slow = correction_weight(em, forcing, TAPER_LENGTH)
    d = state_distance(state_features(em, train), state_features(em, forcing))
    v_int = {name: internal_variance(*block_variances(train[name], net_train[name], block=block), block)
             for name in ("tas", "pr")}

    def scored(p):
        return score(p[["tas", "pr"]].sel(ssp=test, time=truth.time), truth).mean("member_id")

    out = {}
    for label, length in LENGTHS.items():
        w_fast = xr.DataArray(taper(d, length), dims=("ssp", "time"), coords={"ssp": forcing.ssp, "time": forcing.time})
        pred, cal = base.copy(), base.copy()
        for name in ("tas", "pr"):
            c = full[name] - base[name]
            slow = running_mean(c, SLOW_MONTHS)
            pred[name] = (base[name] + w_slow * slow + w_fast * (c - slow)).transpose(*base[name].dims)
            pred[name].attrs = base[name].attrs
            ratio = added_variance_ratio(pred[name], v_int[name], block=block, per_block=True)
            cal[name] = calibrate(pred[name], ratio, block=block, non_negative=name == "pr", per_block=True)
        forced, s = scored(pred), scored(cal)
        out[label] = (float(forced.competition_score), float(s.competition_score),
                      float(forced.tas.sel(metric="time_mean_rmse")),
                      {"tas t-std": float(s.tas.sel(metric="time_stddev_mae")),
                       "pr t-std": float(s.pr.sel(metric="time_stddev_mae")),
                       "fast weight": float(w_fast.sel(time=truth.time.values).mean())})
    return out


if __name__ == "__main__":
    np.seterr(all="ignore")
    nested_choice(rows, "inner mean calibrated score")
