"""Ablations of internal variability: which residual model, which calibration block.

Every choice is made on training data only. The *inner* split trains linear pattern
scaling (ridge) on members 1-2 of ssp126/ssp370/ssp585 except ssp585 member 1's last 120
months and scores each variant on those 120 months: member 0 of every scenario, and with it
the reference protocol's test months, is not used at all. The *reference* split then
reports the same variants on the study's test months (ssp370 member 0, 2090-02 .. 2100-01)
for the ridge baseline. With ``--cnn-gru``, xemu's CNN-GRU (seed 0, defaults, last epoch)
is fitted on both splits: on the inner split, where the choice for it is made, and on the
reference split, reported choosing nothing. With ``--ema`` the inner split also has the
CNN-GRU without the exponential moving average of its weights (``ema=None``, xemu's default
before this comparison made ``ema=0.99`` the default).

Variants of the stochastic emulation, 10 draws, seed 0:

* ``parametric``: :class:`xemu.variability.ResidualModel` (``fit(..., variability="parametric")``:
  per cell and calendar month scale, 40 EOFs with AR(1) principal components, AR(1)
  remainder per cell, Gaussian copula and mean-preserving censoring for precipitation);
* ``parametric, 1 EOF``: the same with one EOF, so that nearly all variance is in the
  independent per-cell remainder (how much the spatial correlation matters);
* ``block bootstrap``: :class:`xemu.variability.bootstrap.BlockBootstrap`, xemu's default, a second,
  non-parametric approach: the draw is the forced response plus, for each calendar year,
  the residuals of a whole training year (one sample, January to December, picked at
  random among at most 120 kept years; the same year for both variables); spatial
  correlation, skewness and the seasonal cycle of the variance are the data's own, the
  persistence holds within a year; precipitation is clipped at 0;
* ``block bootstrap, pr mean kept``: the same, but precipitation made non-negative by
  :func:`xemu.variability.keep_mean_clip` along each draw (dry months to 0, the cell's other
  months lowered by one shift), which keeps each draw's time mean instead of raising it.

Variants of the variability-aware deterministic prediction: calibration block of 120
months (the default), 60 and 240 months; and for precipitation, where the stretch goes
below 0, three ways of keeping the mean exactly (xemu's: dry months to 0 and the cell's
other months lowered by one shift, :func:`xemu.variability.keep_mean_clip`; the largest
stretch that stays >= 0 in such a cell; a rescaling after the clip) against clipping at 0
(which raises the mean there).

Command (about 4 min without ``--cnn-gru``, 20 min with it on 2 cores, 30 with ``--ema``)::

    python benchmarks/variability.py [--cnn-gru [--ema]] [--cache FOLDER]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xemu
from xemu.data.units import declare_units
from xemu.evaluation import FORCING_UNITS, FORCINGS, TRAIN_SSPS
from xemu.metrics import score
from xemu.metrics.probabilistic import ensemble_scores, rank_flatness, rank_histogram
from xemu.variability import Variability, calibrate, keep_mean_clip, variance_ratio
from xemu.variability.bootstrap import BlockBootstrap

TARGETS = ["tas", "pr"]
N_DRAWS = 10


def draw_seed_args(description: str, argv=None) -> argparse.Namespace:
    """The options of the benchmarks that repeat draws over seeds (draw_seeds.py, anchor.py)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: xemu.open_cse151b's)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="seeds of the draws")
    ap.add_argument("--cache", default=None, help="folder of fitted CNN-GRUs (as benchmarks/variability.py's)")
    return ap.parse_args(argv)


def open_store(data=None) -> tuple[xr.Dataset, str]:
    """The store with its forcings' units declared, and its last 120 months' first ("YYYY-MM")."""
    warnings.filterwarnings("ignore", message=".*aligned to the target grid by position.*")
    ds = declare_units(xemu.open_cse151b(data) if data else xemu.open_cse151b(), **FORCING_UNITS)
    return ds, f"{ds.time.dt.year.values[-120]:04d}-{ds.time.dt.month.values[-120]:02d}"


def _smaller_stretch(pred: xr.DataArray, ratio: xr.DataArray, block: int = 120) -> xr.DataArray:
    """Per cell, the largest stretch up to ``ratio`` whose values stay >= 0 (the mean is kept)."""
    m = pred.rolling(time=block, center=True, min_periods=1).mean()
    a = m + (pred.mean("time") - m.mean("time"))
    b = (pred - m) - (pred - m).mean("time")  # a + r * b is pred at r = 1, pred's mean for every r
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = (a / -b).where(b < 0).min("time").fillna(np.inf)
        lower = (-a / b).where(b > 0).max("time").fillna(-np.inf)
    return (a + np.minimum(np.maximum(ratio, lower), upper) * b).clip(min=0)


def ensemble_row(label: str, ens: xr.Dataset, truth: xr.Dataset) -> dict:
    s = ensemble_scores(ens, truth, member_dim="realization", variables=TARGETS).squeeze(drop=True)
    row = {"label": label, "score": float(s.competition_score_member_mean),
           "score_std": float(s.competition_score_member_std)}
    for v in TARGETS:
        row[f"{v}_tstd"] = float(s[f"{v}_member_mean"].sel(metric="time_stddev_mae"))
        row[f"{v}_tmean"] = float(s[f"{v}_member_mean"].sel(metric="time_mean_rmse"))
        row[f"{v}_crps"] = float(s[f"{v}_crps"])
        row[f"{v}_ssr"] = float(s[f"{v}_spread_skill_ratio"])
        hist = rank_histogram(ens[v], truth[v], member_dim="realization")
        row[f"{v}_flat"] = float(rank_flatness(hist, kind="ratio"))
    return row


def point_row(label: str, pred: xr.Dataset, truth: xr.Dataset) -> dict:
    s = score(pred, truth, variables=TARGETS).reset_coords(drop=True).squeeze(drop=True)
    return {"label": label, "score": float(s.competition_score),
            **{f"{v}_{m}": float(s[v].sel(metric=k)) for v in TARGETS
               for m, k in (("monthly", "monthly_rmse"), ("tmean", "time_mean_rmse"), ("tstd", "time_stddev_mae"))}}


def variants(name: str, train_truth: xr.Dataset, train_pred: xr.Dataset, pred: xr.Dataset, truth: xr.Dataset):
    """Print the deterministic and stochastic variants of one model on one test window."""
    print(f"\n{name}")
    print(f"{'deterministic':34s} {'tas monthly/t-mean/t-std':>26s} {'pr monthly/t-mean/t-std':>26s}  score")
    rows = [point_row("forced", pred, truth)]
    ratios = {}  # (variable, block): what Variability.fit stores; calibrated as Variability.calibrate does
    for block in (120, 60, 240):
        for v in TARGETS:
            ratios[v, block] = variance_ratio(train_truth[v], train_pred[v], block=block)
        calibrated = pred.assign({v: calibrate(pred[v], ratios[v, block], block=block, non_negative=v == "pr")
                                  for v in TARGETS})
        rows.append(point_row(f"calibrated, block {block}" + (" (xemu's)" if block == 120 else ""), calibrated,
                              truth))
    # precipitation below 0 after the stretch (block 120): mean kept by a shift (xemu's), other ways
    ratio = ratios["pr", 120]
    tas = calibrate(pred.tas, ratios["tas", 120])
    clipped = calibrate(pred.pr, ratio).clip(min=0)
    for label, pr in (("pr: clipped at 0 (mean raised)", clipped),
                      ("pr: mean kept by a smaller stretch", _smaller_stretch(pred.pr, ratio)),
                      ("pr: mean kept by rescaling the clip", clipped * (pred.pr.mean("time") / clipped.mean("time"))
                       .fillna(1.0))):
        rows.append(point_row(label, pred.assign(tas=tas, pr=pr), truth))
    for r in rows:
        print(f"{r['label']:34s} " + "  ".join(f"{r[f'{v}_monthly']:.3f}/{r[f'{v}_tmean']:.3f}/{r[f'{v}_tstd']:.3f}"
                                              .rjust(24) for v in TARGETS) + f"  {r['score']:.3f}")
    print(f"{'stochastic, 10 draws':34s} {'score':>13s} {'tas t-std':>9s} {'pr t-std':>9s} {'tas CRPS':>9s} "
          f"{'pr CRPS':>8s} {'tas SSR':>8s} {'pr SSR':>7s} {'tas rh':>7s} {'pr rh':>6s}")
    ens_rows = []
    for label, method, n_modes in (("parametric (40 EOFs)", "parametric", 40), ("parametric, 1 EOF", "parametric", 1),
                                   ("block bootstrap (default)", "bootstrap", 40)):
        var = Variability.fit(train_truth, train_pred, n_modes=n_modes, method=method)
        ens_rows.append(ensemble_row(label, var.sample(pred, N_DRAWS, seed=0), truth))
    # the bootstrap with precipitation's time mean kept in every draw (no clip bias in dry cells)
    free = {v: BlockBootstrap.fit(train_truth[v] - train_pred[v], kind="additive").sample(pred[v], N_DRAWS,
                                                                                         seed=(0, 0))
            for v in TARGETS}
    kept = xr.apply_ufunc(keep_mean_clip, free["pr"], free["pr"].mean("time"), input_core_dims=[["time"], []],
                          output_core_dims=[["time"]]).transpose(*free["pr"].dims)
    ens_rows.append(ensemble_row("block bootstrap, pr mean kept", xr.Dataset({"tas": free["tas"], "pr": kept}),
                                 truth))
    for r in ens_rows:
        print(f"{r['label']:34s} {r['score']:.3f} +- {r['score_std']:.3f} {r['tas_tstd']:9.3f} {r['pr_tstd']:9.3f} "
              f"{r['tas_crps']:9.3f} {r['pr_crps']:8.3f} {r['tas_ssr']:8.3f} {r['pr_ssr']:7.3f} "
              f"{r['tas_flat']:7.2f} {r['pr_flat']:6.2f}")
    return rows, ens_rows


def members_row(truth_window: xr.Dataset, member: int) -> dict:
    others = truth_window.drop_sel(member_id=member).rename(member_id="realization")
    return ensemble_row("the other members as an ensemble", others, truth_window.sel(member_id=member, drop=True))


def in_sample(model, train: xr.Dataset, holdout: dict) -> tuple[xr.Dataset, xr.Dataset]:
    """Training truth (NaN on the held-out months) and the model's prediction of it."""
    truth = train[TARGETS].load()
    held = xr.zeros_like(truth.tas, dtype=bool)
    held.loc[holdout] = True
    pred = model.predict(train.drop_vars(TARGETS))[TARGETS]
    return truth.where(~held), pred.broadcast_like(truth).transpose(*truth.tas.dims).load()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: xemu.open_cse151b's)")
    ap.add_argument("--cnn-gru", action="store_true",
                    help="also the CNN-GRU (seed 0, xemu's defaults) on the inner and the reference split")
    ap.add_argument("--ema", action="store_true",
                    help="with --cnn-gru: also the CNN-GRU without the EMA of its weights (ema=None) on the inner split")
    ap.add_argument("--cache", default=None,
                    help="folder of fitted CNN-GRUs: each is loaded from it when there, else fitted and saved there")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*aligned to the target grid by position.*")
    ds = xemu.open_cse151b(args.data) if args.data else xemu.open_cse151b()
    ds = declare_units(ds, **FORCING_UNITS)
    linear_inputs = [v for v in FORCINGS if v != "rsdt"]
    t0 = f"{ds.time.dt.year.values[-120]:04d}-{ds.time.dt.month.values[-120]:02d}"

    # inner split: members 1-2 only, ssp585 member 1's last 120 months held out and scored
    inner = ds.sel(ssp=TRAIN_SSPS, member_id=[1, 2])
    hold = {"ssp": "ssp585", "member_id": 1, "time": slice(t0, None)}
    truth = ds[TARGETS].sel(hold).load()
    test_inputs = ds.sel(ssp="ssp585").drop_vars(TARGETS)
    print(f"inner split (training data only): members 1-2, scored on ssp585 member 1 from {t0}")
    for i, (name, make) in enumerate(_models(inner, hold, linear_inputs, args, "inner")):
        _run(name, make, inner, hold, test_inputs, truth)
        if i == 0:
            r = members_row(ds[TARGETS].sel(ssp="ssp585", time=slice(t0, None)).load(), 1)
            print(f"{'the other members as an ensemble':34s} {r['score']:.3f} +- {r['score_std']:.3f} "
                  f"{r['tas_tstd']:9.3f} {r['pr_tstd']:9.3f} {r['tas_crps']:9.3f} {r['pr_crps']:8.3f} "
                  f"{r['tas_ssr']:8.3f} {r['pr_ssr']:7.3f} {r['tas_flat']:7.2f} {r['pr_flat']:6.2f}")

    # the reference split: report only
    train = ds.sel(ssp=TRAIN_SSPS)
    hold = {"ssp": "ssp370", "member_id": 0, "time": slice(t0, None)}
    truth = ds[TARGETS].sel(hold).load()
    test_inputs = ds.sel(ssp="ssp370").drop_vars(TARGETS)
    print(f"\nreference split (reported, nothing chosen): scored on ssp370 member 0 from {t0}")
    for name, make in _models(train, hold, linear_inputs, args, "reference"):
        _run(name, make, train, hold, test_inputs, truth)


def _models(train: xr.Dataset, hold: dict, linear_inputs: list[str], args, split: str) -> list:
    """(name, fit) of the ridge baseline and, with ``--cnn-gru``, the CNN-GRU (seed 0, last epoch)."""
    models = [("linear pattern scaling, ridge", lambda: xemu.fit(train, linear_inputs, TARGETS, model="linear",
                                                                  holdout=hold, variability=False))]
    variants = [("xemu CNN-GRU, seed 0", {})] if args.cnn_gru else []
    if args.cnn_gru and args.ema and split == "inner":
        variants.append(("xemu CNN-GRU, seed 0, no EMA of the weights", {"ema": None}))
    for name, options in variants:
        key = f"{split}-cnn-gru-seed0" + ("-no-ema" if options else "")
        models.append((name, lambda options=options, key=key: cnn_gru(args.cache, key, train, hold, **options)))
    return models


def cnn_gru(folder, key: str, train: xr.Dataset, hold: dict, **options):
    """xemu's CNN-GRU (seed 0, defaults and ``options``, last epoch, no variability) on
    ``train`` with ``hold`` held out; loaded from ``folder/key.xemu`` when there, else fitted
    and saved there (see :func:`_cached`)."""
    return _cached(folder, key, lambda: xemu.fit(
        train, list(FORCINGS), TARGETS, holdout=hold, seed=0, progress=False, restore_best=False, patience=None,
        variability=False, **options))


def _cached(folder, key: str, fit):
    if folder is None:
        return fit()
    path = Path(folder) / f"{key}.xemu"
    if path.exists():
        print(f"(loaded {path})")
        return xemu.load(path)
    model = fit()
    model.save(path)
    return model


def _run(name: str, make, train: xr.Dataset, hold: dict, test_inputs: xr.Dataset, truth: xr.Dataset) -> None:
    tic = time.perf_counter()
    model = make()
    tt, tp = in_sample(model, train, hold)
    pred = model.predict(test_inputs)[TARGETS].sel(time=truth.time)
    print(f"({name}: fit and in-sample prediction {time.perf_counter() - tic:.0f} s)")
    variants(name, tt, tp, pred, truth)


if __name__ == "__main__":
    main()
