"""A what-if scenario on the CSE 151B store: halve SO2 emissions in ssp245 from 2041 on.

Trains each model on the reference training selection (ssp126, ssp370, ssp585, members
0-2, except ssp370 member 0's last 120 months; the CNN-GRU exactly as ``xemu evaluate``
trains it: last epoch, nothing chosen by the held-out months), predicts ssp245 as it is and
with SO2 halved from 2041-01 on (BC and everything else unchanged), and reports the
response of the 2080-2100 mean near-surface temperature: its area-weighted global mean, the
largest cell (where), how many cells move by more than 1 and 2 K, and the largest response
of a single month. Removing sulphate aerosol warms; a response of several kelvin in one
cell is fitted internal variability, not physics.

Variants: linear pattern scaling fitted by ordinary least squares (``alpha=0``, xemu before
the ridge) and by the cross-validated ridge (today's default), and the CNN-GRU on top of
each.

    python benchmarks/whatif.py                          # all four variants (about 16 min on 2 cores)
    python benchmarks/whatif.py --models linear-ols linear-ridge
    python benchmarks/whatif.py --out whatif-out         # maps (netCDF) and a figure (PNG, needs matplotlib)
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xemu
from xemu.evaluation import FORCING_UNITS, FORCINGS, make_split
from xemu.io import write_netcdf

VARIANTS = {
    "linear-ols": ("linear pattern scaling, least squares", {"model": "linear", "alpha": 0}),
    "linear-ridge": ("linear pattern scaling, ridge (default)", {"model": "linear"}),
    "cnn-gru-ols": ("CNN-GRU on the least-squares baseline", {"model": "cnn-gru", "alpha": 0}),
    "cnn-gru-ridge": ("CNN-GRU on the ridge baseline (default)", {"model": "cnn-gru"}),
}


def fit(train: xr.Dataset, holdout: dict, how: dict, seed: int, epochs: int | None):
    if how["model"] == "linear":
        opts = {"alpha": how["alpha"]} if "alpha" in how else {}
        return train.emu.fit([v for v in FORCINGS if v != "rsdt"], ["tas", "pr"], model="linear",
                             holdout=holdout, **opts)
    opts = {"baseline_options": {"alpha": how["alpha"]}} if "alpha" in how else {}
    if epochs:
        opts["epochs"] = epochs
    return train.emu.fit(FORCINGS, ["tas", "pr"], holdout=holdout, seed=seed, progress=False,
                         restore_best=False, patience=None, **opts)


def response(em, base: xr.Dataset, changed: xr.Dataset) -> tuple[xr.DataArray, float]:
    """2080-2100 mean tas response (map) and the largest single-month response."""
    a = em.predict(base).tas.squeeze(drop=True)
    b = em.predict(changed).tas.squeeze(drop=True)
    diff = (b - a).sel(time=slice("2080-01", "2100-12"))
    return diff.mean("time"), float(abs(diff).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CSE 151B folder (default: $XEMU_CSE151B or ../shared/data/cse151b)")
    parser.add_argument("--models", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0, help="CNN-GRU training seed")
    parser.add_argument("--epochs", type=int, default=None, help="CNN-GRU epochs (default: xemu.fit's)")
    parser.add_argument("--start", default="2041-01", help="first month with SO2 halved")
    parser.add_argument("--out", default=None, help="folder for the response maps (netCDF) and a figure (PNG)")
    args = parser.parse_args()

    ds = xemu.open_cse151b(args.data).emu.declare_units(**FORCING_UNITS)
    split = make_split("reference", ds)
    train = ds.sel(split.train)
    base = ds.sel(ssp=["ssp245"]).drop_vars(["tas", "pr"]).load()
    changed = base.copy()
    so2 = base.SO2.copy()
    so2.loc[{"time": slice(args.start, None)}] = so2.sel(time=slice(args.start, None)) * 0.5
    changed["SO2"] = so2
    print(f"what-if: ssp245 with SO2 halved from {args.start} on; response of the 2080-2100 mean tas (K)")
    print(f"{'variant':42s} {'global mean':>11s} {'largest cell':>12s} {'at (lat, lon)':>15s} "
          f"{'> 1 K':>6s} {'> 2 K':>6s} {'1 month':>8s} {'fit s':>6s}")
    maps = {}
    for key in args.models:
        label, how = VARIANTS[key]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the store's grid-alignment notes; printed by xemu evaluate
            em = fit(train, split.holdout, how, args.seed, args.epochs)
        seconds = time.perf_counter() - t0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resp, month_max = response(em, base, changed)
        notes = sorted({str(w.message) for w in caught if "extrapolates" in str(w.message)})
        w = xemu.area_weights(resp.y)
        glob = float(resp.weighted(w).mean())
        where = np.unravel_index(int(np.argmax(np.abs(resp.values))), resp.shape)
        cell = float(resp.values[where])
        lat, lon = float(resp.y[where[0]]), float(resp.x[where[1]])
        print(f"{label:42s} {glob:11.3f} {cell:12.2f} {f'({lat:.1f}, {lon:.1f})':>15s} "
              f"{int((abs(resp) > 1).sum()):6d} {int((abs(resp) > 2).sum()):6d} {month_max:8.2f} {seconds:6.0f}")
        for note in notes:
            print(f"    warning at predict: {note}")
        if key.startswith("linear"):
            alpha = em.params["alpha"]
            print(f"    ridge strength: {', '.join(f'{t} {float(alpha.sel(target=t)):g}' for t in alpha.target.values)}"
                  f" ({alpha.attrs['choice']}; condition number {alpha.attrs['condition_number']:.1f})")
        maps[key] = resp.rename(key).assign_attrs(long_name=f"{label}: 2080-2100 mean tas response", units="K")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_netcdf(xr.Dataset(maps), out / "whatif_so2.nc", overwrite=True)
        print(f"wrote {out / 'whatif_so2.nc'}")
        try:
            figure(maps, out / "whatif_so2.png", args.start)
            print(f"wrote {out / 'whatif_so2.png'}")
        except ImportError:
            print("matplotlib is not installed: no figure (pip install matplotlib)")


def figure(maps: dict, path: Path, start: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(maps)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.2 * rows), squeeze=False, constrained_layout=True)
    limit = max(2.0, max(float(abs(m).max()) for m in maps.values()))
    for ax, (key, m) in zip(axes.ravel(), maps.items(), strict=False):
        mesh = ax.pcolormesh(m.x, m.y, m, cmap="RdBu_r", vmin=-limit, vmax=limit, shading="nearest")
        w = xemu.area_weights(m.y)
        ax.set_title(f"{VARIANTS[key][0]}\nglobal mean {float(m.weighted(w).mean()):+.3f} K, "
                     f"cells {float(m.min()):+.2f} .. {float(m.max()):+.2f} K", fontsize=9)
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
        fig.colorbar(mesh, ax=ax, label="tas response (K)", shrink=0.85)
    for ax in axes.ravel()[n:]:
        ax.remove()
    fig.suptitle(f"ssp245 with SO2 halved from {start}: 2080-2100 mean tas response", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
