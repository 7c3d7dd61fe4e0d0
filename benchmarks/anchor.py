"""Draws held to the forced response's mean over calendar blocks (``predict(..., anchor=...)``).

A draw of :meth:`xemu.variability.Variability.sample` varies like another member of the
climate model on every time scale its residual model has, decadal ones included, so its
mean over a scored decade wanders away from the forced response like a member's does.
``anchor="decade"`` shifts each draw, per cell and calendar decade, so that its decadal
mean is the forced response's (:func:`xemu.variability.anchor_draws`); the variability
within each decade is kept.

For xemu's CNN-GRU (seed 0, defaults, last epoch; fitted, or loaded with ``--cache`` from
the folder that ``benchmarks/variability.py`` and ``benchmarks/draw_seeds.py`` use) this
scores 10 draws of the whole test series, sliced to the scored months as ``xemu evaluate``
does, for draw seeds 0-4, with the block bootstrap that ``fit`` learns by default:

* unanchored (``anchor=None``, the default) and anchored to blocks of 5, 10 (``"decade"``),
  20 and 30 calendar years;
* anchored to decades that start five years later (2085-2094, 2095-...), so that the
  scored months straddle two blocks: how much of the gain needs the scored months to be
  one calendar decade.

On two splits: the *inner* split (members 1-2 of ssp126/ssp370/ssp585; scored on ssp585
member 1's last 120 months; training data of the reference protocol only), where the block
length is chosen, and the *reference* split (scored on ssp370 member 0, 2090-02 ..
2100-01), reported choosing nothing. Each split also prints the climate model's other
members as an ensemble on the same months.

Command (about 5 min on 2 cores with cached emulators, 20 min with the fits)::

    python benchmarks/anchor.py [--cache FOLDER] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import numpy as np
from variability import (  # benchmarks/variability.py
    TARGETS,
    cnn_gru,
    draw_seed_args,
    ensemble_row,
    in_sample,
    members_row,
    open_store,
    point_row,
)

from xemu.evaluation import TRAIN_SSPS
from xemu.variability import Variability, anchor_blocks, hold_block_means

KEYS = ("score", "tas_tmean", "pr_tmean", "tas_tstd", "pr_tstd", "tas_crps", "pr_crps", "tas_ssr", "pr_ssr",
        "tas_flat", "pr_flat")


def main(argv=None) -> None:
    args = draw_seed_args(__doc__.split("\n")[0], argv)
    ds, t0 = open_store(args.data)
    splits = (("inner", ds.sel(ssp=TRAIN_SSPS, member_id=[1, 2]), "ssp585", 1),
              ("reference", ds.sel(ssp=TRAIN_SSPS), "ssp370", 0))
    for split, train, ssp, member in splits:
        hold = {"ssp": ssp, "member_id": member, "time": slice(t0, None)}
        truth = ds[TARGETS].sel(hold).load()
        em = cnn_gru(args.cache, f"{split}-cnn-gru-seed0", train, hold)
        variability = Variability.fit(*in_sample(em, train, hold))
        forced = em.predict(ds.sel(ssp=ssp).drop_vars(TARGETS), lazy=False)[TARGETS]
        year = forced.time.dt.year.values
        print(f"\n{split} split: xemu CNN-GRU, seed 0; 10 draws ({variability.method}) of {ssp}, scored on member "
              f"{member} from {t0}; mean over draw seeds {args.seeds}")
        f = point_row("forced", forced.sel(time=truth.time), truth)
        print(f"forced response: score {f['score']:.3f}, time-mean RMSE tas {f['tas_tmean']:.3f} pr {f['pr_tmean']:.3f}")
        window = ds[TARGETS].sel(ssp=ssp, time=slice(t0, None)).load()
        rows = {"the other members as an ensemble": [members_row(window, member)]}
        for seed in args.seeds:
            free = variability.sample(forced, 10, seed=seed)
            variants = {"unanchored (default)": free}
            for years in (5, 10, 20, 30):
                variants[f"anchor={years}" + (' ("decade")' if years == 10 else "")] = variability.sample(
                    forced, 10, seed=seed, anchor=years)
            variants["decades shifted by 5 years"] = free.assign(
                {v: hold_block_means(free[v], forced[v], anchor_blocks(year + 5, 10), non_negative=v == "pr")
                 for v in TARGETS})
            for label, ens in variants.items():
                ens = ens.sel(time=truth.time)
                rows.setdefault(label, []).append(ensemble_row(label, ens, truth))
        print(f"{'10 draws':34s} {'score':>5s} {'tas/pr t-mean':>13s} {'tas/pr t-std':>12s} {'tas/pr CRPS':>11s} "
              f"{'tas/pr SSR':>11s} {'tas/pr rh':>9s}   score per draw seed")
        for label, rs in rows.items():
            m = {k: np.mean([r[k] for r in rs]) for k in KEYS}
            print(f"{label:34s} {m['score']:.3f} {m['tas_tmean']:6.3f}/{m['pr_tmean']:.3f} {m['tas_tstd']:5.3f}/"
                  f"{m['pr_tstd']:.3f} {m['tas_crps']:5.3f}/{m['pr_crps']:.3f} {m['tas_ssr']:5.3f}/{m['pr_ssr']:.3f} "
                  f"{m['tas_flat']:4.2f}/{m['pr_flat']:.2f}   " + " ".join(f"{r['score']:.3f}" for r in rs), flush=True)


if __name__ == "__main__":
    main()
