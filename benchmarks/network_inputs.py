"""What the CNN-GRU reads, and how its calibrated prediction is made, on scenarios never run.

    python benchmarks/network_inputs.py --held ssp126 [--variants default no-ch4 gmt] [--seed 0]
    python benchmarks/network_inputs.py --inner ssp126      # nested: the inner folds of that outer fold

Fits the default CNN-GRU (the leave-one-scenario-out fit options) on the training scenarios
with each variant of its network inputs, and scores every member of the held-out scenario
over its last 240 months (``--held``), or, with ``--inner``, runs the inner folds of an outer
fold: fitted on one of its two training scenarios, scored on the other, both ways round (the
held-out scenario is not read). Variants of the network's inputs (the baseline under it
reads the forcings as always):

* ``default``: the five forcings;
* ``no-ch4``: the forcings without CH4 (the energy-balance baseline carries methane);
* ``gmt``: the global-mean temperature of the energy-balance model fitted on the same
  training scenarios (``Tg``, K) in place of CO2 and CH4: the state of the climate, not
  the emission totals.

Two calibrated predictions are scored for each: ``calibrated`` (what ``predict(...,
variability="calibrated")`` gives: the tapered forced response stretched by the variance
ratio learned with the whole correction) and ``blend`` (the baseline's own calibrated
prediction plus the taper weight times the difference of the untapered network's
calibrated prediction from it).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import xarray as xr

import xemu
from xemu.evaluation import FORCINGS, LOSO_FIT_OPTIONS, TRAIN_SSPS, _with_forcing_units, make_split
from xemu.metrics.deterministic import score

BASELINE_FORCINGS = ["CO2", "CH4", "SO2", "BC"]
VARIANTS = ("default", "no-ch4", "gmt")


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def with_gmt(ds: xr.Dataset, eb) -> xr.Dataset:
    """``ds`` with ``Tg``: the energy-balance baseline ``eb``'s global-mean temperature of each scenario."""
    forcing = ds[BASELINE_FORCINGS]
    t_hat = quiet(eb.global_temperature, eb.prepare_predict(forcing))
    out = ds.copy()
    out["Tg"] = xr.DataArray(t_hat.reshape(ds.sizes["ssp"], ds.sizes["time"]).astype(np.float32),
                             dims=("ssp", "time"), coords={"ssp": ds.ssp, "time": ds.time},
                             attrs={"units": "K", "long_name": "global-mean tas of the energy-balance model"})
    return out


def fit_variant(ds, train, variant, seed, epochs=None):
    opts = dict(seed=seed, progress=False, **LOSO_FIT_OPTIONS, **({"epochs": epochs} if epochs else {}))
    if variant == "default":
        return quiet(xemu.fit, ds.sel(ssp=train), FORCINGS, ["tas", "pr"], **opts)
    if variant == "no-ch4":
        return quiet(xemu.fit, ds.sel(ssp=train), ["CO2", "SO2", "BC", "rsdt"], ["tas", "pr"],
                     baseline="energy-balance", baseline_inputs=BASELINE_FORCINGS, **opts)
    if variant == "gmt":
        return quiet(xemu.fit, ds.sel(ssp=train), ["Tg", "SO2", "BC", "rsdt"], ["tas", "pr"],
                     baseline="energy-balance", baseline_inputs=BASELINE_FORCINGS, **opts)
    raise SystemExit(f"--variants: unknown {variant!r}; expected some of {VARIANTS}")


def components(s) -> str:
    return (f"tas t-mean {float(s.tas.sel(metric='time_mean_rmse')):.3f} t-std "
            f"{float(s.tas.sel(metric='time_stddev_mae')):.3f} pr t-mean {float(s.pr.sel(metric='time_mean_rmse')):.3f} "
            f"t-std {float(s.pr.sel(metric='time_stddev_mae')):.3f}")


def scores(ds, em, eb, test: str) -> dict:
    sp = make_split(f"scenario:{test}", ds)
    forcing = ds.sel(ssp=[test]).drop_vars(["tas", "pr"])
    truth = ds[["tas", "pr"]].sel(sp.test)

    def sc(pred):
        return score(pred[["tas", "pr"]].sel(ssp=test, time=truth.time), truth).mean("member_id")

    forced = quiet(em.predict, forcing, lazy=False)
    calibrated = quiet(em.predict, forcing, variability="calibrated", lazy=False)
    base_cal = quiet(eb.predict, forcing[BASELINE_FORCINGS], variability="calibrated")
    base_forced = quiet(eb.predict, forcing[BASELINE_FORCINGS])
    length = em.meta.get("taper_length")
    em.meta["taper_length"] = float("inf")
    full_cal = quiet(em.predict, forcing, variability="calibrated", lazy=False)
    em.meta["taper_length"] = length
    w = quiet(em.correction_weight, forcing)
    blend = base_cal + w * (full_cal - base_cal)
    from xemu.variability import calibrate

    ratio = forced.copy()
    for name in ("tas", "pr"):
        r_b, r_f = eb.variability.ratios[name], em.variability.ratios[name]
        ratio[name] = calibrate(forced[name], r_b + w * (r_f - r_b), block=em.variability.block,
                                non_negative=name == "pr")
    return {"baseline": sc(base_forced), "baseline, calibrated": sc(base_cal), "forced": sc(forced),
            "calibrated": sc(calibrated), "blend": sc(blend), "ratio": sc(ratio),
            "weight": float(w.sel(time=truth.time.values).mean())}


def report(label: str, out: dict) -> None:
    print(f"  {label} (mean correction weight {out['weight']:.2f})")
    for k in ("baseline", "baseline, calibrated", "forced", "calibrated", "blend", "ratio"):
        s = out[k]
        print(f"    {k:22s} score {float(s.competition_score):.3f}  {components(s)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--held", default=None, help="outer fold: the held-out scenario to score")
    ap.add_argument("--inner", default=None, help="run the inner folds of this outer fold instead")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None, help="save each fitted emulator in this folder")
    ap.add_argument("--load", action="store_true", help="score the emulators saved in --save instead of fitting")
    ap.add_argument("--epochs", type=int, default=None, help="fewer epochs than the default (a quick check)")
    args = ap.parse_args()
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b())).load()
    if args.inner:
        pairs = [([a], b) for a in TRAIN_SSPS for b in TRAIN_SSPS if args.inner not in (a, b) and a != b]
    else:
        pairs = [([s for s in TRAIN_SSPS if s != args.held], args.held)]
    for train, test in pairs:
        t0 = time.perf_counter()
        eb = quiet(xemu.fit, ds.sel(ssp=train), BASELINE_FORCINGS, ["tas", "pr"], model="energy-balance")
        dsg = with_gmt(ds, eb)
        print(f"fit on {'/'.join(train)}, scored on {test} (seed {args.seed}); energy-balance {time.perf_counter() - t0:.0f} s",
              flush=True)
        for variant in args.variants:
            t1 = time.perf_counter()
            saved = f"{args.save}/{'-'.join(train)}-{variant}-s{args.seed}.xemu"
            em = xemu.load(saved) if args.load else fit_variant(dsg, train, variant, args.seed, args.epochs)
            fit_s = time.perf_counter() - t1
            if args.save and not args.load:
                em.save(f"{args.save}/{'-'.join(train)}-{variant}-s{args.seed}.xemu", overwrite=True)
            report(f"{variant}: fit {fit_s:.0f} s", scores(dsg, em, eb, test))


if __name__ == "__main__":
    main()
