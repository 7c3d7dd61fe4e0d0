"""
Diagnostics of a trained emulator
=================================

What to look at once an emulator is trained: its training history, where its errors
are on the map and along latitude, how its global mean follows the climate model's
members, and how its scores compare with the ensemble's noise floor.

The emulator is trained on a synthetic climate with the last four years of scenario
``mid``, member 0 held out. Those months are both monitored during training and scored
below, so nothing is chosen by them: ``restore_best=False, patience=None`` (no early
stopping, no best-epoch weights; the model is the one after its last epoch).
"""

import os

import matplotlib.pyplot as plt
import xarray as xr

import xemu

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"

years = 8 if FAST else 30
ds = xemu.synthetic_climate(n_years=years, n_lat=24, n_lon=36, seed=2)
inputs, targets = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
last = {"time": slice(f"{2015 + years - 4}-01", None)}
em = ds.emu.fit(
    inputs, targets, holdout={"scenario": "mid", "member": 0, **last}, seed=0, progress=False,
    epochs=2 if FAST else 8, windows_per_epoch=100 if FAST else 600,
    restore_best=False, patience=None,
)

# %%
# Training history
# ----------------
# ``em.history`` is a Dataset on the dim ``epoch``: the training and validation losses,
# the seconds of each epoch and its learning rate.

print(em.history)
ax = xemu.plot.training_curves(em)

# %%
# Errors on the map
# -----------------
# The time mean of prediction minus truth over the held-out months. Against one member,
# it holds that member's internal variability too; against the forced response (known
# here, never on real data) it is the emulator's own error.

pred = ds[inputs].sel(scenario=["mid"]).emu.predict(em).sel(scenario="mid", **last)
truth = ds[targets].sel(scenario="mid", member=0, **last)
forced = ds[["tas_forced", "pr_forced"]].rename(tas_forced="tas", pr_forced="pr").sel(scenario="mid", **last)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
pred.tas.emu.plot_difference(truth.tas, ax=axes[0], coastlines=False, title="against member 0")
_ = pred.tas.emu.plot_difference(forced.tas, ax=axes[1], coastlines=False, title="against the forced response")

# %%
# Zonal means
# -----------

ax = xemu.plot.zonal_means(pred.pr, truth.pr, forced.pr, labels=["xemu", "member 0", "forced response"])

# %%
# Global mean against the members
# -------------------------------

ax = pred.tas.emu.plot_global_mean(ds.tas.sel(scenario="mid", **last), member_dim="member", label="xemu")

# %%
# Scores and the noise floor
# --------------------------
# A deterministic emulator predicts the forced response: its monthly RMSE cannot go much
# below that of the mean of the other members, and its time-std error stays above a
# member's.

rows = {"xemu": pred.emu.score(truth), "forced response": forced.emu.score(truth)}
nf = xemu.noise_floor(ds[targets].sel(scenario="mid", **last), member=0, member_dim="member")
rows.update({f"noise floor: {p}": nf.sel(prediction=p, drop=True) for p in nf.prediction.values})
table = xr.concat([r.reset_coords(drop=True) for r in rows.values()], dim=xr.DataArray(list(rows), dims="model"))
print(table.competition_score.to_series().round(3))
print(table.tas.to_pandas().round(3).to_string())
plt.show()
