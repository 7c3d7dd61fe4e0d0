"""The CNN-GRU's correction in two parts, each tapered on its own: nested leave-one-scenario-out.

    python benchmarks/correction_parts.py --saved runs/em [--seed 0] [--outer]

The network's correction ``C`` (its forced prediction less its baseline's, in target units)
is split into a slow part ``S(C)``, its centred running mean over ``span`` months, and a
fast part ``C - S(C)`` (month to month and the seasonal cycle around that mean). A candidate
predicts ``baseline + taper(d, L_slow) * S(C) + taper(d, L_fast) * (C - S(C))``, ``d`` the
month's distance from the training forcings (:mod:`xemu.data.novelty`), and is calibrated
with the network's variance ratio, as ``predict(..., variability="calibrated")`` does. The
default it chose: a 120-month slow part with ``L_slow = 2`` and the fast part whole
(:data:`xemu.recipe.correction.SLOW_MONTHS`, ``TAPER_LENGTH``, ``FAST_TAPER_LENGTH``); fits saved with
it are split into the parts here by one weight for the whole correction (the record's
``correction_split`` set aside while the parts are built).

For each outer fold (one of ssp126 / ssp370 / ssp585 held out) only its two training
scenarios are used: the default CNN-GRU is fitted on one of them (all members, all months,
the leave-one-scenario-out fit options) and scored on every member of the other over its
last 240 months, both ways round. The three single-scenario fits are shared by the outer
folds (and saved in ``--saved``, read from there when they are). A fold's choice is the
candidate with the lowest mean inner calibrated score; the default is the candidate with the
lowest mean over the three outer folds together (the rule that chose ``L``). With
``--outer``, each outer fold's own fit (on both its training scenarios) is scored on the
held-out scenario after the choice, for the record only. The fold loop, :func:`nested_choice`,
also runs ``benchmarks/calibration_choice.py``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import xarray as xr

import xemu
from xemu.evaluation import FORCINGS, LOSO_FIT_OPTIONS, TRAIN_SSPS, _with_forcing_units, make_split
from xemu.metrics.deterministic import score
from xemu.variability import calibrate

INF = float("inf")
#: Candidates: label -> (span of the slow part in months, L_slow, L_fast); the order breaks ties
#: (the more cautious first).
CANDIDATES = {
    "baseline alone": (120, 0.0, 0.0),
    "L=4 (today)": (120, 4.0, 4.0),
    "no taper": (120, INF, INF),
    **{f"decadal L_slow={ls:g}, L_fast={lf:g}": (120, ls, lf)
       for ls in (0.0, 2.0, 4.0) for lf in (4.0, INF)},
    **{f"annual L_slow={ls:g}, L_fast={lf:g}": (12, ls, lf)
       for ls in (0.0, 2.0, 4.0) for lf in (4.0, INF)},
}


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def fitted(ds, train: list[str], seed: int, saved: str | None):
    """The default CNN-GRU on ``train`` (the leave-one-scenario-out fit options), read from
    ``saved`` where it was saved before, else fitted (and saved there)."""
    path = f"{saved}/{'-'.join(train)}-default-s{seed}.xemu" if saved else None
    if path and os.path.exists(path):
        return xemu.load(path)
    t0 = time.perf_counter()
    em = quiet(xemu.fit, ds.sel(ssp=train), FORCINGS, ["tas", "pr"], seed=seed, progress=False, **LOSO_FIT_OPTIONS)
    print(f"  fitted on {'/'.join(train)} (seed {seed}) in {time.perf_counter() - t0:.0f} s", flush=True)
    if path:
        em.save(path, overwrite=True)
    return em


def whole_correction(em, forcing: xr.Dataset, train: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """``(base, full, net_train)``: ``em``'s prediction of ``forcing`` without its correction (its
    baseline's part) and with the whole correction untapered, and the latter of the forcings of
    ``train``; ``em.meta`` is left as it was."""
    meta = dict(em.meta)
    try:
        em.meta.pop("correction_split", None)  # one weight for the whole correction while the parts are built
        em.meta["taper_length"] = 0.0
        base = quiet(em.predict, forcing, lazy=False)
        em.meta["taper_length"] = INF
        full, net_train = (quiet(em.predict, f, lazy=False) for f in (forcing, train.drop_vars(["tas", "pr"])))
    finally:
        em.meta.clear()
        em.meta.update(meta)
    return base, full, net_train


def correction_weight(em, forcing: xr.Dataset, length: float) -> xr.DataArray:
    """The weight of ``em``'s whole correction in each month of ``forcing`` tapered with ``length``
    (:meth:`xemu.Emulator.correction_weight` of a record without the split); ``em.meta`` left as it was."""
    meta = dict(em.meta)
    try:
        em.meta.pop("correction_split", None)
        em.meta["taper_length"] = length
        return quiet(em.correction_weight, forcing)
    finally:
        em.meta.clear()
        em.meta.update(meta)


def running_mean(da: xr.DataArray, span: int) -> xr.DataArray:
    return da.rolling(time=span, center=True, min_periods=1).mean()


def rows(ds, em, test: str) -> dict[str, tuple[float, float, float]]:
    """Per candidate: forced score, calibrated score and tas time-mean RMSE on every member
    of ``test`` over its last 240 months (means over members)."""
    sp = make_split(f"scenario:{test}", ds)
    forcing = ds.sel(ssp=[test]).drop_vars(["tas", "pr"])
    truth = ds[["tas", "pr"]].sel(sp.test)
    length = em.meta["taper_length"]
    split = em.meta.pop("correction_split", None)  # one weight for the whole correction while the parts are built
    em.meta["taper_length"] = 0.0
    base = quiet(em.predict, forcing, lazy=False)
    em.meta["taper_length"] = INF
    full = quiet(em.predict, forcing, lazy=False)
    out = {}
    weights = {}
    for label, (span, l_slow, l_fast) in CANDIDATES.items():
        for length_ in (l_slow, l_fast):
            if length_ not in weights:
                em.meta["taper_length"] = length_
                weights[length_] = quiet(em.correction_weight, forcing)
        pred = base.copy()
        cal = base.copy()
        for name in ("tas", "pr"):
            c = full[name] - base[name]
            slow = running_mean(c, span)
            pred[name] = base[name] + weights[l_slow] * slow + weights[l_fast] * (c - slow)
            pred[name].attrs = base[name].attrs
            cal[name] = calibrate(pred[name], em.variability.ratios[name], block=em.variability.block,
                                  non_negative=name == "pr")
        s = [score(p[["tas", "pr"]].sel(ssp=test, time=truth.time), truth).mean("member_id") for p in (pred, cal)]
        out[label] = (float(s[0].competition_score), float(s[1].competition_score),
                      float(s[0].tas.sel(metric="time_mean_rmse")))
    em.meta["taper_length"] = length
    if split is not None:
        em.meta["correction_split"] = split
    return out


def print_rows(label: str, result: dict) -> None:
    for name, (forced, calib, tm, *more) in result.items():
        extra = "".join(f"  {k} {v:6.3f}" for k, v in (more[0] if more else {}).items())
        print(f"  {label:32s} {name:52s} forced {forced:6.3f}  calibrated {calib:6.3f}  tas t-mean {tm:6.3f}{extra}")


def nested_choice(rows_of, title: str = "inner mean calibrated score") -> None:
    """Run the outer folds: per outer fold, ``rows_of(ds, em, test, fit_on)`` (label -> (forced,
    calibrated, tas time-mean RMSE, ...)) on both inner folds, the candidate with the lowest mean
    inner calibrated score chosen (within each family of candidates: :func:`lowest`); with
    ``--outer``, the outer fold's fit scored on its held-out scenario for the record. The command
    line is this module's (``--data``, ``--seed``, ``--saved``, ``--outer``, ``--folds``)."""
    ap = argparse.ArgumentParser(description=title)
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: xemu.find_cse151b())")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--saved", default=None, help="folder of the fits: read where they are, saved where not")
    ap.add_argument("--outer", action="store_true", help="also score each outer fold's fit on its held-out scenario")
    ap.add_argument("--folds", nargs="*", default=TRAIN_SSPS, help="outer folds (held-out scenarios) to run")
    args = ap.parse_args()
    if args.saved:
        os.makedirs(args.saved, exist_ok=True)
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b())).load()
    t0 = time.perf_counter()
    chosen, pooled = {}, []
    for held in args.folds:
        train = [s for s in TRAIN_SSPS if s != held]
        print(f"\nouter fold: {held} held out; inner folds on {train[0]} and {train[1]}", flush=True)
        inner = []
        for fit_on in train:
            other = next(s for s in train if s != fit_on)
            result = rows_of(ds, fitted(ds, [fit_on], args.seed, args.saved), other, [fit_on])
            print_rows(f"fit on {fit_on}, scored on {other}", result)
            inner.append(result)
        order = list(inner[0])
        mean = {name: float(np.mean([r[name][1] for r in inner])) for name in order}
        chosen[held] = lowest(mean)
        print(f"{title}: " + "; ".join(f"{k} {v:.3f}" for k, v in mean.items()))
        print(f"chosen on {'/'.join(train)} only: {chosen[held]}", flush=True)
        pooled.append(mean)
        if args.outer:
            print_rows(f"held out {held} (not used)",
                       rows_of(ds, fitted(ds, train, args.seed, args.saved), held, train))
    print(f"\nchosen per outer fold: {chosen}; {time.perf_counter() - t0:.0f} s")
    together = {name: float(np.mean([m[name] for m in pooled])) for name in pooled[0]}
    print(f"{title}, mean over the outer folds: " + "; ".join(f"{k} {v:.3f}" for k, v in together.items()))
    print(f"lowest over the outer folds together: {lowest(together)}")


def lowest(mean: dict[str, float]) -> str:
    """The candidate with the lowest score (ties: the first), within each family: a label
    ``"family: candidate"`` is compared with its family's only (the families joined by " | ")."""
    families: dict[str, list[str]] = {}
    for name in mean:
        families.setdefault(name.split(": ", 1)[0] if ": " in name else "", []).append(name)
    order = list(mean)
    return " | ".join(min(names, key=lambda name: (round(mean[name], 4), order.index(name)))
                      for names in families.values())


if __name__ == "__main__":
    nested_choice(lambda ds, em, test, fit_on: rows(ds, em, test))
