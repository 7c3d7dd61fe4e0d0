"""How much of the CNN-GRU's correction each leave-one-scenario-out fold keeps on its held-out
scenario: the distance of each month's global-mean forcings from the training months' and the
weight ``exp(-d**2 / (2 * L**2))`` of the default taper (:mod:`xemu.data.novelty`).

    python benchmarks/loso_weights.py [--data PATH]

Needs no network: the distance depends on the forcings only (the same preparation as
``xemu.fit``).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import xemu
from xemu.data.novelty import Novelty, taper
from xemu.data.prepare import prepare
from xemu.evaluation import FORCINGS, TRAIN_SSPS, _with_forcing_units, loso_splits
from xemu.recipe.correction import TAPER_LENGTH


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: xemu.find_cse151b())")
    args = ap.parse_args()
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b()))
    print(f"taper length L = {TAPER_LENGTH:g}; over each held-out scenario's last 240 months:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SO2/BC grid alignment
        for sp in loso_splits(ds):
            train = prepare(ds.sel(sp.train), FORCINGS, ["tas"])
            nov = Novelty.fit(train, np.ones(train.inputs.shape[:2], bool))
            held = prepare(ds.sel(ssp=[sp.test["ssp"]], member_id=[0]), FORCINGS, ["tas"])
            d = nov.distance(held)[0, -240:]
            w = taper(d, TAPER_LENGTH)
            print(f"  {sp.test['ssp']} held out (train {'/'.join(s for s in TRAIN_SSPS if s in sp.train['ssp'])}): "
                  f"distance mean {d.mean():.2f}, min {d.min():.2f}, max {d.max():.2f}; "
                  f"weight mean {w.mean():.2f}, min {w.min():.2f}, max {w.max():.2f}")


if __name__ == "__main__":
    main()
