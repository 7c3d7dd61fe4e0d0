"""A calibration that adds the internal variance instead of stretching by a fixed ratio (a diagnostic;
the default since, chosen by ``benchmarks/calibration_variance.py``).

    python benchmarks/calibration_additive.py --saved runs/em --held ssp126 [--seed 0]

``predict(..., variability="calibrated")`` stretched a prediction's deviations from its
running mean by the ratio of the truth's to the prediction's month-to-month standard
deviation measured on the training months (:func:`xemu.variability.variance_ratio`). On a
scenario never run whose forced month-to-month variance differs from the training
scenarios', a fixed ratio carries that difference. The variant here adds instead the
internal variance learned on the training months, ``v_int = var(truth) - var(prediction)``
(per cell, decade blocks averaged, at least 0), to the new prediction's own variance: the
stretch is ``sqrt((v_new + v_int) / v_new)``.

Reads the default CNN-GRU fitted on the other two scenarios (seed ``--seed``) from
``--saved`` (``benchmarks/correction_parts.py --outer --saved`` writes it), with the default's
taper of its correction (:data:`xemu.recipe.correction.TAPER_LENGTH`, ``SLOW_MONTHS``, ``FAST_TAPER_LENGTH``), and scores every
member of ``--held`` over its last 240 months: the CNN-GRU and its energy-balance baseline
alone (fitted here on the same scenarios), forced, calibrated and with the added variance.
A diagnostic on an outer fold: nothing is chosen by it.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import xemu
from xemu.evaluation import TRAIN_SSPS, _with_forcing_units, make_split
from xemu.metrics.deterministic import score
from xemu.recipe import taper_record
from xemu.variability import Variability, calibrate

BASELINE_FORCINGS = ["CO2", "CH4", "SO2", "BC"]


def block_var(da, block: int = 120):
    """Per cell: the variance over each block of ``block`` months, averaged over blocks and samples."""
    time = "time"
    b = da.coarsen({time: block}, boundary="trim").construct({time: ("block", "month_in_block")}).var("month_in_block")
    return b.mean([d for d in b.dims if d not in da.dims[-2:]])


def added_variance(pred, train_pred, truth_train, block: int = 120):
    """``pred`` calibrated by adding the training months' internal variance to its own."""
    out = pred.copy()
    for name in ("tas", "pr"):
        v_int = (block_var(truth_train[name], block)
                 - block_var(train_pred[name].broadcast_like(truth_train[name]), block)).clip(min=0)
        v_new = block_var(pred[name], block)
        out[name] = calibrate(pred[name], np.sqrt((v_new + v_int) / v_new), block=block, non_negative=name == "pr")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--saved", required=True)
    ap.add_argument("--held", default="ssp126")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b())).load()
    train = [s for s in TRAIN_SSPS if s != args.held]
    em = xemu.load(f"{args.saved}/{'-'.join(train)}-default-s{args.seed}.xemu")
    # the default's taper (the fit may have been saved before it): in memory only
    em.meta.update(taper_record())
    eb = xemu.fit(ds.sel(ssp=train), BASELINE_FORCINGS, ["tas", "pr"], model="energy-balance")
    sp = make_split(f"scenario:{args.held}", ds)
    forcing = ds.sel(ssp=[args.held]).drop_vars(["tas", "pr"])
    truth = ds[["tas", "pr"]].sel(sp.test)
    truth_train = ds[["tas", "pr"]].sel(ssp=train)

    def row(label, pred):
        s = score(pred[["tas", "pr"]].sel(ssp=args.held, time=truth.time), truth).mean("member_id")
        parts = " ".join(f"{float(s[v].sel(metric=m)):.3f}" for v in ("tas", "pr")
                         for m in ("monthly_rmse", "time_mean_rmse", "time_stddev_mae"))
        print(f"{label:44s} {float(s.competition_score):.3f}   {parts}", flush=True)

    print(f"held out {args.held}, fitted on {'/'.join(train)} (seed {args.seed}); score, then tas and pr "
          f"monthly RMSE / time-mean RMSE / time-stddev MAE")
    for label, model, inputs in (("CNN-GRU (default)", em, forcing),
                                 ("energy-balance baseline alone", eb, forcing[BASELINE_FORCINGS])):
        pred = model.predict(inputs)
        train_inputs = ds.sel(ssp=train)[list(inputs.data_vars)]
        row(f"{label}, forced", pred)
        var = model.variability
        row(f"{label}, calibrated (ratio)", Variability(var.ratios, var.models, var.block).calibrate(pred))
        row(f"{label}, internal variance added", added_variance(pred, model.predict(train_inputs), truth_train))


if __name__ == "__main__":
    main()
