"""How far from its training forcings the CNN-GRU's correction reaches: nested leave-one-scenario-out.

    python benchmarks/taper_choice.py [--data PATH] [--seed 0] [--outer]

The network's correction is multiplied by ``exp(-d**2 / (2 * L**2))``, ``d`` the distance of
a month's forcings from the nearest training month's (:mod:`xemu.data.novelty`), ``L`` the
taper length (:data:`xemu.recipe.correction.TAPER_LENGTH`). For each outer fold (one of ssp126 / ssp370 /
ssp585 held out) only its two training scenarios are used: the default CNN-GRU is fitted on
one of them (all members, all months, the leave-one-scenario-out fit options) and scored on
every member of the other over its last 240 months, both ways round, for every candidate
of :data:`CANDIDATES`: one length ``L`` for all inputs (0: the baseline alone; inf: no
taper), or CO2 left out of the distance (the forcing whose extrapolation the energy-balance
baseline carries). The candidate with the lowest mean inner calibrated score is the fold's
choice (ties: the earlier in :data:`CANDIDATES`, the more cautious). With ``--outer`` the
held-out scenario's rows are printed after the choice, for the record only: nothing is
chosen on them (``xemu evaluate --split loso`` prints the default's).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

import xemu
from xemu.evaluation import FORCINGS, LOSO_FIT_OPTIONS, TRAIN_SSPS, _with_forcing_units, make_split
from xemu.metrics.deterministic import score
from xemu.variability import calibrate

#: The taper lengths tried (standard deviations of the training months' global-mean forcings).
LENGTHS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, float("inf"))
#: Candidates: a label and the ``taper_length`` of ``emulator.json`` (one length for every input,
#: or one per input, ``None`` for an input not compared); their order breaks ties.
CANDIDATES = {
    **{f"L={length:g}": length for length in LENGTHS},
    **{f"L={length:g}, CO2 not compared": {"CO2": None, "CH4": length, "SO2": length, "BC": length, "rsdt": length}
       for length in (0.5, 1.0, 2.0)},
}


#: How a calibrated prediction is stretched: "tapered", by the baseline's variance ratio plus the
#: correction's weight times the network's difference from it (computed here: a candidate,
#: rejected by this benchmark, see benchmarks/RESULTS.md); "network", by the network's ratio in
#: every month (what ``predict(..., variability="calibrated")`` does).
CALIBRATIONS = ("tapered", "network")


def fit(ds, train: list[str], seed: int, saved: str | None = None):
    """The default CNN-GRU fitted on ``train`` (with ``saved``: the one saved there by
    ``benchmarks/network_inputs.py --inner ... --save``, same data and options), and the variance
    ratios of its energy-balance baseline alone (the baseline fitted on the same months)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = f"{saved}/{'-'.join(train)}-default-s{seed}.xemu" if saved else None
        if path is None or not os.path.exists(path):
            em = xemu.fit(ds.sel(ssp=train), FORCINGS, ["tas", "pr"], seed=seed, progress=False, **LOSO_FIT_OPTIONS)
        else:
            em = xemu.load(path)
        eb = xemu.fit(ds.sel(ssp=train), ["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], model="energy-balance")
        return em, dict(eb.variability.ratios)


def rows(ds, em, test: str) -> dict[str, tuple[float, float, float]]:
    """Per candidate (:data:`CANDIDATES`): forced score, calibrated score and tas time-mean RMSE of ``em`` on every
    member of ``test`` over its last 240 months (means over members)."""
    sp = make_split(f"scenario:{test}", ds)
    forcing = ds.sel(ssp=[test]).drop_vars(["tas", "pr"])
    truth = ds[["tas", "pr"]].sel(sp.test)
    out = {}
    em, baseline_ratios = em
    v = em.variability
    for calibration in CALIBRATIONS:
        for label, length in CANDIDATES.items():
            em.meta["taper_length"] = length  # in memory only: 0 and inf are taper()'s limits
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                forced = em.predict(forcing, lazy=False)
                if calibration == "network":  # what predict(..., variability="calibrated") gives
                    calibrated = em.predict(forcing, variability="calibrated", lazy=False)
                else:  # each month's ratio: the network's less (1 - weight) of its difference from the baseline's
                    w = em.correction_weight(forcing)
                    calibrated = forced.copy()
                    for name in ("tas", "pr"):
                        ratio = v.ratios[name] + (w - 1) * (v.ratios[name] - baseline_ratios[name])
                        calibrated[name] = calibrate(forced[name], ratio, block=v.block, non_negative=name == "pr")
            s = [score(p[["tas", "pr"]].sel(ssp=test, time=truth.time), truth).mean("member_id")
                 for p in (forced, calibrated)]
            out[f"{label}, {calibration}"] = (float(s[0].competition_score), float(s[1].competition_score),
                                              float(s[0].tas.sel(metric="time_mean_rmse")))
    return out


def print_rows(label: str, result: dict) -> None:
    for name, (forced, calib, tm) in result.items():
        print(f"  {label:28s} {name:26s} forced {forced:6.3f}  calibrated {calib:6.3f}  tas t-mean {tm:6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: xemu.find_cse151b())")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--outer", action="store_true", help="also print the held-out scenario's rows (for the record)")
    ap.add_argument("--folds", nargs="*", default=TRAIN_SSPS, help="outer folds (held-out scenarios) to run")
    ap.add_argument("--saved", default=None, help="read the inner fits saved in this folder where they are")
    args = ap.parse_args()
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b())).load()
    t0 = time.perf_counter()
    chosen, pooled = {}, []
    for held in args.folds:
        train = [s for s in TRAIN_SSPS if s != held]
        print(f"\nouter fold: {held} held out; inner folds on {train[0]} and {train[1]}", flush=True)
        inner = []
        for fit_on in train:
            other = next(s for s in train if s != fit_on)
            t1 = time.perf_counter()
            result = rows(ds, fit(ds, [fit_on], args.seed, args.saved), other)
            print_rows(f"fit on {fit_on}, scored on {other}", result)
            print(f"  ({time.perf_counter() - t1:.0f} s)", flush=True)
            inner.append(result)
        order = list(inner[0])
        mean = {name: float(np.mean([r[name][1] for r in inner])) for name in order}
        chosen[held] = min(order, key=lambda name: (round(mean[name], 4), order.index(name)))
        print("inner mean calibrated score: " + "; ".join(f"{k} {v:.3f}" for k, v in mean.items()))
        print(f"chosen on {'/'.join(train)} only: {chosen[held]}", flush=True)
        if args.outer:
            print_rows(f"held out {held} (not used)", rows(ds, fit(ds, train, args.seed), held))
        pooled.append(mean)
    print(f"\nchosen per outer fold: {chosen}; {time.perf_counter() - t0:.0f} s")
    together = {name: float(np.mean([m[name] for m in pooled])) for name in pooled[0]}
    best = min(together, key=lambda name: (round(together[name], 4), list(together).index(name)))
    print("mean inner calibrated score over the outer folds: " + "; ".join(f"{k} {v:.3f}" for k, v in together.items()))
    print(f"lowest over the outer folds together: {best}")


if __name__ == "__main__":
    main()
