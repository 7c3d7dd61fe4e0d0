"""How the forced response for scenarios never run was chosen: nested leave-one-scenario-out.

    python benchmarks/loso_choices.py [--data PATH]

For each outer fold (one of ssp126 / ssp370 / ssp585 held out) only its two training
scenarios are used: each candidate is fitted on one of them and scored on every member of the
other over its last 240 months (both ways round), and the candidate with the lowest mean
inner score is the fold's choice. The held-out scenario's numbers are printed after the
choice, for the record only: nothing is chosen on them. The candidates are baselines (a
CNN-GRU per candidate and inner fold would take hours on a laptop CPU):

* ``linear``: ridge pattern scaling on the global means of CO2, CH4, SO2 and BC;
* ``linear-co2``: the same on CO2 alone;
* ``energy-balance`` with the global model's free parameters ``tcre`` only (xemu's default,
  chosen by this script); ``tcre``, ``aerosol``, ``methane``; and those plus ``feedback``.

Each energy-balance fit also chooses its own prior strength by leaving out one training
scenario (inside the outer fold's training scenarios); the script prints those inner errors
for the outer fits. Scores are the study's (``xemu.score``), forced and calibrated.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import xemu
from xemu.evaluation import TRAIN_SSPS, _with_forcing_units, make_split
from xemu.metrics.deterministic import score

CANDIDATES = {
    "linear (ridge, CO2 CH4 SO2 BC)": ("linear", ["CO2", "CH4", "SO2", "BC"], {}),
    "linear on CO2 only (ridge)": ("linear", ["CO2"], {}),
    "energy-balance, free tcre": ("energy-balance", ["CO2", "CH4", "SO2", "BC"], {"free": ("tcre",)}),
    "energy-balance, free tcre aerosol methane": (
        "energy-balance", ["CO2", "CH4", "SO2", "BC"], {"free": ("tcre", "aerosol", "methane")}),
    "energy-balance, free tcre aerosol methane feedback": (
        "energy-balance", ["CO2", "CH4", "SO2", "BC"], {"free": ("tcre", "aerosol", "methane", "feedback")}),
}


def scores(ds, train: list[str], test: str, kind, inputs, options) -> tuple[float, float, float]:
    """Forced score, calibrated score and tas time-mean RMSE of a candidate fitted on ``train``
    and scored on every member of ``test`` over its last 240 months (the mean over members)."""
    sp = make_split(f"scenario:{test}", ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bl = xemu.fit(ds.sel(ssp=train), inputs, ["tas", "pr"], model=kind, **options)
        forcing = ds.sel(ssp=test).drop_vars(["tas", "pr"])
        forced, calibrated = bl.predict(forcing), bl.predict(forcing, variability="calibrated")
    truth = ds[["tas", "pr"]].sel(sp.test)
    out = []
    for pred in (forced, calibrated):
        s = score(pred[["tas", "pr"]].sel(time=truth.time), truth).mean("member_id")
        out.append(s)
    return (float(out[0].competition_score), float(out[1].competition_score),
            float(out[0].tas.sel(metric="time_mean_rmse")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: xemu.find_cse151b())")
    args = ap.parse_args()
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b()))
    t0 = time.perf_counter()
    for held in TRAIN_SSPS:
        train = [s for s in TRAIN_SSPS if s != held]
        print(f"\nouter fold: {held} held out; inner folds on {train[0]} and {train[1]}")
        print(f"{'candidate':52s} {'inner: fit on':>14s} {'score':>6s} {'calib':>6s} {'tas tm':>6s}")
        inner_mean = {}
        for name, (kind, inputs, options) in CANDIDATES.items():
            rows = []
            for fit_on in train:
                other = [s for s in train if s != fit_on][0]
                rows.append(scores(ds, [fit_on], other, kind, inputs, options))
                print(f"{name:52s} {fit_on:>14s} {rows[-1][0]:6.3f} {rows[-1][1]:6.3f} {rows[-1][2]:6.3f}")
            inner_mean[name] = float(np.mean([r[1] for r in rows]))
        chosen = min(inner_mean, key=inner_mean.get)
        print("inner mean calibrated score: " + "; ".join(f"{k} {v:.3f}" for k, v in inner_mean.items()))
        print(f"chosen on {'/'.join(train)} only: {chosen}")
        print(f"{'held-out scenario (not used to choose)':52s} {'fit on both':>14s} {'score':>6s} {'calib':>6s} "
              f"{'tas tm':>6s}")
        for name, (kind, inputs, options) in CANDIDATES.items():
            r = scores(ds, train, held, kind, inputs, options)
            print(f"{name:52s} {'/'.join(train):>14s} {r[0]:6.3f} {r[1]:6.3f} {r[2]:6.3f}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eb = xemu.fit(ds.sel(ssp=train), ["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], model="energy-balance",
                          variability=False)
        cv = eb.params["cv_error"]
        print("prior strength of the default energy-balance fit, by leaving out one of "
              f"{'/'.join(train)} (RMS error of the left-out scenario's last 20 annual global means, K):")
        for s, errs in zip(cv.strength_tried.values, cv.values, strict=True):
            print(f"  strength {s:g}: " + " ".join(f"{e:.3f}" for e in errs) + f"  mean {errs.mean():.3f}")
        r = eb.global_response
        print(f"  chosen {r.strength:g}; fitted " + ", ".join(f"{n} {r.values[n]:.4g}" for n in r.free))
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
