"""
A scenario the climate model never ran: ssp126 from ssp370 and ssp585
======================================================================

*Real data.* Train on two scenarios, predict the third, and compare with what the climate
model did. The held-out scenario is ssp126, the low-emission pathway: its methane and
sulphur emissions fall far below anything in ssp370 and ssp585, which is exactly where an
emulator is asked questions.

Two forced responses, each fitted on ssp370 and ssp585 only (all members, all months):

* linear pattern scaling on the global means of CO2, CH4, SO2 and BC (ridge,
  :class:`xemu.LinearPatternScaling`): one map per forcing, barely identified with two
  scenarios, and driven outside its range by ssp126;
* energy-balance pattern scaling (:class:`xemu.EnergyBalancePatternScaling`): an
  energy-balance model turns the forcings into one global-mean temperature, and each cell
  and calendar month follows that number.

The maps are the 2081-2100 (the last 240 months) mean error of each against the mean of
ssp126's three members. This is a real result at full size: both are baselines, fitted in
seconds, so the fast mode of the docs build runs the same thing.
"""

import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np

import xemu
from xemu.evaluation import FORCING_UNITS, make_split

# %%
# Fit on ssp370 and ssp585
# ------------------------

store = xemu.find_cse151b()
if store is None:
    sys.exit("This example needs the CSE 151B store: set $XEMU_CSE151B to its folder.")
ds = xemu.open_cse151b(store).emu.declare_units(**FORCING_UNITS)
split = make_split("scenario:ssp126", ds)
print(split.description)
train = ds.sel(split.train)
forcings = ["CO2", "CH4", "SO2", "BC"]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the SO2/BC grid alignment and the condition number notes
    old = train.emu.fit(forcings, ["tas", "pr"], model="linear", variability=False)
    new = train.emu.fit(forcings, ["tas", "pr"], model="energy-balance", variability=False)
print(new.global_response)

# %%
# Predict ssp126
# --------------
# Both warn that ssp126's forcings leave their training range: that is the point.

held = ds.sel(ssp="ssp126")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    predictions = {"linear pattern scaling (4 forcings)": old.predict(held.drop_vars(["tas", "pr"])),
                   "energy-balance pattern scaling": new.predict(held.drop_vars(["tas", "pr"]))}
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
# The 2081-2100 error maps
# ------------------------

fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), constrained_layout=True)
for ax, (name, err) in zip(axes, errors.items(), strict=True):
    w = np.cos(np.deg2rad(err.y))
    rms = float(np.sqrt((err ** 2).weighted(w).mean()))
    im = ax.pcolormesh(err.x, err.y, err, cmap="RdBu_r", vmin=-2, vmax=2, shading="auto")
    ax.set_title(f"{name}\nRMS {rms:.2f} K", fontsize=10)
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
fig.colorbar(im, ax=axes, label="tas error, 2081-2100 mean (K)")
fig.suptitle("ssp126 never seen in training: forced response minus the mean of its 3 members")
plt.show()
