"""Measure the design choices of the CNN-GRU on the reference protocol, one at a time.

Each variant changes one option of the reference emulator (:data:`BASE` on top of
``xemu.fit``'s defaults, named "default" in the table) and is trained with the same budget
and seed; the table gives its six metrics and score on the validation window, beside it.

    python benchmarks/ablations.py --epochs 6                       # all variants
    python benchmarks/ablations.py --variants default no-std --epochs 6 --seeds 0 1
"""

from __future__ import annotations

import argparse
import time

import xarray as xr

import xemu
from xemu.evaluation import evaluate, format_table
from xemu.metrics import area_weights

#: The reference point of the table: xemu's defaults when the table in benchmarks/RESULTS.md
#: was measured (tas loss plain MSE, no EMA of the weights). Every variant changes one thing
#: from it; the "std-loss-tas" variant won and is xemu's default loss since
#: (xemu.emulator.DEFAULT_LOSS); EMA of the weights (ema=0.99) is the default since it was
#: measured on training data (benchmarks/variability.py --cnn-gru --ema).
BASE: dict = {"loss": {"tas": "mse", "pr": "mse + 0.5*std"}, "ema": None}

VARIANTS: dict[str, dict] = {
    "default": {},
    "no-baseline": {"baseline": None},
    "no-std-loss": {"loss": {"tas": "mse", "pr": "mse"}},
    "study-pr-loss": {"loss": {"tas": "mse", "pr": "0.5*dice + 0.5*mse"}},
    "gabor-tas": {"loss": {"tas": "mse + 0.5*gabor", "pr": "mse + 0.5*std"}},
    "std-loss-tas": {"loss": {"tas": "mse + 0.5*std", "pr": "mse + 0.5*std"}},
    "study-encoding": {"encoding": "study"},
    "no-encoding": {"encoding": "none"},
    "aerosols-as-global-means": {"_aerosols": "global"},
    "ema-weights": {"ema": 0.99},
}


def _aerosols_global(ds: xr.Dataset) -> xr.Dataset:
    """SO2 and BC replaced by their area-weighted global means (no spatial information)."""
    out = ds.copy()
    for name in ("SO2", "BC"):
        da = ds[name]
        w = area_weights(da["latitude"])
        out[name] = da.weighted(w).mean(("latitude", "longitude")).assign_attrs(da.attrs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    store = xemu.open_cse151b(args.data)
    rows = []
    for name in args.variants:
        opts = {**BASE, **VARIANTS[name]}
        ds = _aerosols_global(store) if opts.pop("_aerosols", None) == "global" else store
        t0 = time.perf_counter()
        table = evaluate(ds, models=("cnn-gru",), seeds=tuple(args.seeds),
                         fit_options={"epochs": args.epochs, **opts}, log=lambda *a: None)
        measured = table.where(table.model_kind == "measured", drop=True)
        measured = measured.assign_coords(model=[f"{name}, {m.split(', ')[-1]}" for m in measured.model.values])
        rows.append(measured)
        print(f"{name}: {time.perf_counter() - t0:.0f} s; "
              + ", ".join(f"{m}: {float(measured.competition_score.sel(model=m)):.3f}" for m in measured.model.values),
              flush=True)
    floor = table.where(table.model_kind != "measured", drop=True)
    print()
    print(format_table(xr.concat([*rows, floor], dim="model")))


if __name__ == "__main__":
    main()
