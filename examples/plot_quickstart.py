"""
Quickstart: an emulator of a synthetic climate
==============================================

Train xemu's CNN-GRU on a seeded synthetic climate (three forcing scenarios, three
ensemble members, CSE 151B's layout and units), predict a scenario, score the months
it never trained on, and map the prediction.

The synthetic climate knows its own forced response (``tas_forced``, ``pr_forced``):
the emulator is scored against one member, as on real data, and the forced response is
shown beside it, the best a deterministic emulator could do.
"""

import os

import matplotlib.pyplot as plt

import xemu

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"  # small run for tests and the docs build

# %%
# A synthetic climate
# -------------------
# Forcings ``CO2``, ``CH4`` (global series), ``SO2``, ``BC`` (emission maps), ``rsdt``
# (incoming sunlight), and the targets ``tas`` (K) and ``pr`` (mm/day) per scenario and
# member, all with units and CF attributes.

years = 8 if FAST else 30
ds = xemu.synthetic_climate(n_years=years, n_lat=24, n_lon=36, seed=0)
print(ds)

# %%
# Train
# -----
# The last three years of scenario ``mid``, member 0, are held out: they are the months
# we score. The emulator monitors its loss there after each epoch but chooses nothing by
# it (``restore_best=False, patience=None``: no early stopping, no best-epoch weights), so
# the scores below are not tuned on the months they are measured on.

inputs, targets = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
last = {"time": slice(f"{2015 + years - 3}-01", None)}
holdout = {"scenario": "mid", "member": 0, **last}
em = ds.emu.fit(
    inputs, targets, holdout=holdout, seed=0, progress=False,
    epochs=1 if FAST else 6, windows_per_epoch=100 if FAST else 600,
    restore_best=False, patience=None,
)
print(em)

# %%
# Predict and score
# -----------------
# Prediction needs the forcings only. The result is a Dataset on the input's scenarios
# and months, on the target grid, in the targets' units.

forcing = ds[inputs].sel(scenario=["mid"])
pred = forcing.emu.predict(em)
truth = ds[targets].sel(scenario="mid", member=0, **last)
scores = pred.sel(scenario="mid", **last).emu.score(truth)
forced = ds[["tas_forced", "pr_forced"]].rename(tas_forced="tas", pr_forced="pr")
best = forced.sel(scenario="mid", **last).emu.score(truth)
print("emulator:          competition score", round(float(scores["competition_score"]), 3))
print("forced response:   competition score", round(float(best["competition_score"]), 3))
print(scores.tas.to_series())

# %%
# Maps
# ----
# The time mean of the prediction over the held-out months, and its difference from the
# member it is scored against (internal variability included).
# A synthetic planet has no geography: no coastlines.

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
pred.tas.sel(scenario="mid", **last).mean("time").emu.plot_map(ax=axes[0], coastlines=False)
_ = pred.tas.sel(scenario="mid", **last).emu.plot_difference(truth.tas, ax=axes[1], coastlines=False)

# %%
# Global mean
# -----------
# The area-weighted global mean of the prediction against the band of the three members.

ax = pred.tas.emu.plot_global_mean(ds.tas.sel(scenario=["mid"]), member_dim="member", label="xemu")
plt.show()
