"""The streamed fit equals the in-memory fit on a cut of the real store (issue 29).

    python benchmarks/stream_equal.py [--data PATH] [--years 30] [--out /tmp/xemu-stream-equal]

Writes a cut of the CSE 151B store (ssp126 and ssp585, every member, the first ``--years``
years, the full 48 x 72 grid) to Zarr, and fits on it, in memory and streamed from the Zarr
copy (``stream={"block_months": 60}``): the energy-balance baseline alone
(``model="energy-balance"``), and the default CNN-GRU (``baseline="auto"``, a short training:
one epoch of 64 windows, shuffle off, so that both see the same windows in the same order).
Prints the largest differences of the baselines' patterns and global parameters, of the
target scale, of the network's weights and of the predictions of both scenarios.
"""

from __future__ import annotations

import argparse
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xemu
from xemu.evaluation import FORCINGS, _with_forcing_units

TARGETS = ["tas", "pr"]
EB_INPUTS = ["CO2", "CH4", "SO2", "BC"]


def largest(a, b) -> tuple[float, float]:
    """The largest absolute difference and the largest relative to the largest value of ``a``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = float(np.abs(a - b).max())
    return d, d / max(float(np.abs(a).max()), 1e-300)


def compare_baselines(mem, streamed) -> None:
    for name in mem.params.data_vars:
        if name in streamed.params:
            d, r = largest(mem.params[name].values, streamed.params[name].values)
            print(f"  baseline {name:22s} largest difference {d:.3g} ({r:.2g} of its largest value)")


def compare_predictions(mem, streamed, x: xr.Dataset) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = mem.predict(x), streamed.predict(x)
    for name in TARGETS:
        d, r = largest(a[name].values, b[name].values)
        print(f"  prediction {name:20s} largest difference {d:.3g} ({r:.2g} of its largest value)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--years", type=int, default=30)
    ap.add_argument("--out", default="/tmp/xemu-stream-equal")
    args = ap.parse_args()
    ds = _with_forcing_units(xemu.open_cse151b(args.data or xemu.find_cse151b()))
    cut = ds.sel(ssp=["ssp126", "ssp585"]).isel(time=slice(0, 12 * args.years)).load()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    store = out / "cut.zarr"
    cut.chunk({"time": 60}).to_zarr(store)
    lazy = xr.open_zarr(store)
    print(f"cut: {dict(cut.sizes)}; Zarr copy in time chunks of 60 months")
    x = cut.drop_vars(TARGETS)
    opts = {"stream": {"block_months": 60}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        mem = xemu.fit(cut, EB_INPUTS, TARGETS, model="energy-balance", variability=False)
        streamed = xemu.fit(lazy, EB_INPUTS, TARGETS, model="energy-balance", variability=False, **opts)
    print(f"energy-balance baseline alone ({time.perf_counter() - t0:.0f} s for both fits)")
    compare_baselines(mem, streamed)
    compare_predictions(mem, streamed, x[EB_INPUTS])
    fit = dict(epochs=1, windows_per_epoch=64, batch_size=16, shuffle=False, seed=0, progress=False,
               variability=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        mem = xemu.fit(cut, FORCINGS, TARGETS, **fit)
        streamed = xemu.fit(lazy, FORCINGS, TARGETS, **fit, **opts)
    print(f"CNN-GRU, baseline='auto': {mem.meta['baseline']} in memory, {streamed.meta['baseline']} streamed "
          f"({time.perf_counter() - t0:.0f} s for both fits)")
    compare_baselines(mem.baseline, streamed.baseline)
    d, r = largest(mem.meta["target_scale"], streamed.meta["target_scale"])
    print(f"  target scale                    largest difference {d:.3g} ({r:.2g} of its largest value)")
    w = max(largest(a.numpy(), b.numpy())[0] for a, b in zip(mem.net.state_dict().values(),
                                                             streamed.net.state_dict().values(), strict=True))
    print(f"  network weights                 largest difference {w:.3g}")
    compare_predictions(mem, streamed, x)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
