"""
Your own climate model: an ensemble laid out the CMIP6 way
==========================================================

Evaluation on a store that is not the CSE 151B one: dims ``experiment_id`` and
``variant_label`` (as CMIP6 data opened with xarray have them), scenarios ``ssp119``,
``ssp245`` and ``ssp460``, a Gregorian calendar (numpy dates, mid-month), precipitation in
``kg m-2 s-1``. The data are xemu's synthetic climate (:func:`xemu.testing.synthetic_cmip6`)
written to a netCDF file and opened as a user opens theirs; nothing tells xemu the layout.

Each scenario is held out in turn (``split="loso"``); every model is fitted on the other two
and scored on the held-out scenario's last 20 years, every member. The figure shows each
model's competition score per held-out scenario beside the member floor (what the model's own
internal variability allows). The user guide's :doc:`/user-guide/own-model` explains each
step and what the table means.

**Size.** 30 years of three scenarios and three members on a 6 x 8 grid. With
``XEMU_EXAMPLES_FAST=1`` (the docs build and the tests) the CNN-GRU is a tiny network trained
for two epochs, and the figure's title says so; without it, xemu's default network and
training.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

import xemu
from xemu.data.coords import find_ensemble_dim
from xemu.evaluation import format_table
from xemu.testing import TINY_CONFIG, synthetic_cmip6

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"
OUT = Path(os.environ.get("XEMU_EXAMPLES_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)

# %%
# A store laid out the CMIP6 way
# ------------------------------
# Written to netCDF and opened with plain xarray: the Gregorian calendar decodes to numpy dates.

path = OUT / "my-model-ensemble.nc"
synthetic_cmip6(n_years=30, n_lat=6, n_lon=8, seed=0).to_netcdf(path)
ds = xr.open_dataset(path)
print(ds)

# %%
# What xemu finds in it
# ---------------------
# The scenario and member dims by their names, time and the grid by their CF attributes.

print("scenario dim:", find_ensemble_dim(ds, "scenario"), "| member dim:", find_ensemble_dim(ds, "member"))
print("roles of tas:", ds.emu.roles["tas"])
print("calendar:", ds.time.dtype, "| pr units in the file:", ds.pr.attrs["units"])

# %%
# Leave one scenario out
# ----------------------
# The same call as on the CSE 151B store. ``pr`` is scored in mm/day.

fit_options = {"epochs": 2, "config": TINY_CONFIG} if FAST else {}
table = xemu.evaluate(ds, split="loso", models=("linear", "energy-balance", "oracle", "cnn-gru"),
                      fit_options=fit_options, variants=False, years=20, log=lambda *a: None)
print(format_table(table))

# %%
# The scores per held-out scenario
# --------------------------------

folds = [f for f in table.fold.values.tolist() if f != "mean"]
rows = table.model.values.tolist()
fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
width = 0.8 / len(rows)
for i, label in enumerate(rows):
    values = table.competition_score.sel(model=label, fold=folds).values
    ax.bar(np.arange(len(folds)) + (i - (len(rows) - 1) / 2) * width, values, width, label=label)
ax.set_xticks(np.arange(len(folds)), [f"{f} held out" for f in folds])
ax.set_ylabel("competition score (lower is better)")
network = "tiny CNN-GRU, 2 epochs" if FAST else "xemu's default CNN-GRU"
ax.set_title(f"A CMIP6-layout ensemble, each scenario held out (6 x 8 grid, 30 years; {network})", fontsize=10)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
plt.show()
ds.close()
