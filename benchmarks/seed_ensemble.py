"""What an ensemble of CNN-GRU fits would score on scenarios never run (a diagnostic).

    python benchmarks/seed_ensemble.py --saved runs/em [--seeds 0 1] [--folds ssp126 ssp370 ssp585]

For each outer fold of ``--split loso``, the default CNN-GRU fitted on the two training
scenarios with each seed (read from ``--saved`` where ``benchmarks/correction_parts.py`` or an
earlier run saved it, else fitted and saved there), and the mean of their forced predictions
(an ensemble, which xemu does not fit: two networks take longer than the five minutes a fit is
allowed). Each is calibrated as ``predict(..., variability="calibrated")`` does: the internal
variance learned on the training months (the truth's month-to-month variance less that of the
model's own prediction of them, :func:`xemu.variability.internal_variance`) added to the new
prediction's own (:func:`xemu.variability.added_variance_ratio`). Scored on every member of
the held-out scenario over its last 240 months. The held-out scenario is scored only: nothing is
chosen by this script; it says whether an ensemble would be worth making affordable.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import xarray as xr
from correction_parts import fitted, quiet

import xemu
from xemu.evaluation import TRAIN_SSPS, _with_forcing_units, make_split
from xemu.metrics.deterministic import score
from xemu.variability import added_variance_ratio, calibrate, internal_variance
from xemu.variability.calibration import block_variances


def calibrated(pred: xr.Dataset, train_pred: xr.Dataset, truth_train: xr.Dataset, block: int) -> xr.Dataset:
    """``pred`` with the internal variance of ``train_pred`` against ``truth_train`` added to its own."""
    out = pred.copy()
    for name in ("tas", "pr"):
        v_int = internal_variance(*block_variances(truth_train[name], train_pred[name], block=block), block)
        out[name] = calibrate(pred[name], added_variance_ratio(pred[name], v_int, block=block), block=block,
                              non_negative=name == "pr")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--saved", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--folds", nargs="*", default=TRAIN_SSPS)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b())).load()
    t0 = time.perf_counter()
    means: dict[str, list[float]] = {}
    for held in args.folds:
        train = [s for s in TRAIN_SSPS if s != held]
        truth = ds[["tas", "pr"]].sel(make_split(f"scenario:{held}", ds).test)
        forcing = ds.sel(ssp=[held]).drop_vars(["tas", "pr"])
        train_ds = ds.sel(ssp=train)
        preds, train_preds, block = {}, {}, None
        for seed in args.seeds:
            em = fitted(ds, train, seed, args.saved)
            block = em.variability.block
            preds[f"seed {seed}"] = quiet(em.predict, forcing, lazy=False)
            train_preds[f"seed {seed}"] = quiet(em.predict, train_ds.drop_vars(["tas", "pr"]), lazy=False)
        label = "ensemble of seeds " + " ".join(map(str, args.seeds))
        preds[label] = sum(preds.values()) / len(args.seeds)
        train_preds[label] = sum(train_preds.values()) / len(args.seeds)
        print(f"held out {held} (fitted on {'/'.join(train)}): forced / calibrated score, tas time-mean RMSE (K), "
              f"calibrated tas and pr time-stddev MAE", flush=True)
        for name, pred in preds.items():
            cal = calibrated(pred, train_preds[name], train_ds[["tas", "pr"]], block)
            s = [score(p[["tas", "pr"]].sel(ssp=held, time=truth.time), truth).mean("member_id") for p in (pred, cal)]
            means.setdefault(name, []).append(float(s[1].competition_score))
            print(f"  {name:28s} {float(s[0].competition_score):.3f} / {float(s[1].competition_score):.3f}   "
                  f"{float(s[0].tas.sel(metric='time_mean_rmse')):.3f}   "
                  f"{float(s[1].tas.sel(metric='time_stddev_mae')):.3f} {float(s[1].pr.sel(metric='time_stddev_mae')):.3f}",
                  flush=True)
    print("calibrated mean over the folds: " + "; ".join(f"{k} {np.mean(v):.3f}" for k, v in means.items())
          + f"; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
