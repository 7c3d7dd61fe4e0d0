"""How much the 10-draw rows of ``xemu evaluate`` depend on the seed of the draws.

``xemu evaluate`` draws its stochastic rows with seed 0. This script fits (or, with
``--cache``, loads) xemu's CNN-GRU on the reference split (seed 0, defaults, last epoch),
learns its internal variability from the training residuals as ``fit`` does, and scores 10
draws of the whole ssp370 series, sliced to the test months as ``xemu evaluate`` does, for
each of several draw seeds: the competition score (mean over draws), time-stddev MAE,
fair CRPS and spread-skill ratio of each variable, then their mean, minimum and maximum.
Draw seed 0 reproduces the evaluate row of CNN-GRU seed 0. Last, the size of the
emulator's ``variability.nc`` with each residual model.

Command (about 9 min on 2 cores with the fit, under a minute with a cached emulator)::

    python benchmarks/draw_seeds.py [--seeds 0 1 2 3 4] [--cache FOLDER]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from variability import (  # benchmarks/variability.py
    TARGETS,
    cnn_gru,
    draw_seed_args,
    ensemble_row,
    in_sample,
    open_store,
)

from xemu.evaluation import TRAIN_SSPS
from xemu.io import write_netcdf
from xemu.variability import Variability


def main(argv=None) -> None:
    args = draw_seed_args(__doc__.split("\n")[0], argv)
    ds, t0 = open_store(args.data)
    train = ds.sel(ssp=TRAIN_SSPS)
    hold = {"ssp": "ssp370", "member_id": 0, "time": slice(t0, None)}
    truth = ds[TARGETS].sel(hold).load()
    em = cnn_gru(args.cache, "reference-cnn-gru-seed0", train, hold)
    residuals = in_sample(em, train, hold)  # training truth and the in-sample prediction
    variability = Variability.fit(*residuals)
    forced = em.predict(ds.sel(ssp="ssp370").drop_vars(TARGETS), lazy=False)[TARGETS]
    print(f"xemu CNN-GRU, seed 0, reference split; 10 draws ({variability.method}) of ssp370 scored on member 0 "
          f"from {t0}")
    print("draw seed  score  tas t-std  pr t-std  tas CRPS  pr CRPS  tas SSR  pr SSR")
    rows = []
    for seed in args.seeds:
        r = ensemble_row(str(seed), variability.sample(forced, 10, seed=seed).sel(time=truth.time), truth)
        rows.append(r)
        print(f"{seed:9d}  {r['score']:.3f}  {r['tas_tstd']:9.3f} {r['pr_tstd']:9.3f} {r['tas_crps']:9.3f} "
              f"{r['pr_crps']:8.3f} {r['tas_ssr']:8.3f} {r['pr_ssr']:7.3f}", flush=True)
    for key in ("score", "tas_tstd", "pr_tstd", "tas_crps", "pr_crps", "tas_ssr", "pr_ssr"):
        values = np.array([r[key] for r in rows])
        print(f"{key:9s} mean {values.mean():.3f}  min {values.min():.3f}  max {values.max():.3f}")
    # what the emulator's variability.nc weighs with each residual model (as Emulator.save writes it)
    with tempfile.TemporaryDirectory() as folder:
        for method in ("bootstrap", "parametric"):
            model = variability if method == variability.method else Variability.fit(*residuals, method=method)
            file = write_netcdf(model.to_dataset(), Path(folder) / f"{method}.nc")
            print(f"variability.nc with the {method} model: {file.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
