"""
The reference evaluation on the real store
==========================================

*Real data.* The study's protocol on the CSE 151B store (CESM2, 48 x 72 grid, monthly
2015-2100): train on ssp126, ssp370 and ssp585 (members 0-2), except the last 120 months
of ssp370 member 0, and score those 120 months. This is what ``xemu evaluate`` runs; here
it is :func:`xemu.evaluate` from Python, with a figure of the table.

The validation months of this protocol are also its test months, so
:func:`~xemu.evaluate` monitors them but chooses nothing by them: the CNN-GRU is
trained with ``restore_best=False, patience=None`` (no early stopping, no best-epoch
weights), and every row is the model after its last epoch.

**Size.** Full size (``XEMU_EXAMPLES_FAST`` unset) it trains five models on the 48 x 72
grid (about 8 minutes on a 2-core CPU: 457 s measured) and gives one seed of the table in
:doc:`/user-guide/results`. In the docs build and the tests (``XEMU_EXAMPLES_FAST=1``) it
runs on the store coarsened 4 x 4 (12 x 18 cells, every month and member; the same
training, xemu's defaults), and says so in the figure's title. The scores at that size
are real, but not comparable with the full-size ones: block means are smoother than the
cells they average, so every row, the noise floor included, scores lower.
"""

import os
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np

import xemu
from xemu.evaluation import FORCING_UNITS, evaluate, format_table

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"
COARSEN = 4 if FAST else 1  # fast: 4 x 4 cells averaged into one (12 x 18 cells)

# %%
# Open the store
# --------------
# The store is found at ``$XEMU_CSE151B``, else ``../shared/data/cse151b``. Its forcings
# carry no units in their files: declare the ones its documentation gives.

store = xemu.find_cse151b()
if store is None:
    sys.exit("This example needs the CSE 151B store: set $XEMU_CSE151B to its folder.")
ds = xemu.open_cse151b(store).emu.declare_units(**FORCING_UNITS)
if COARSEN > 1:  # both grids (forcings and targets), block means
    ds = ds.coarsen(latitude=COARSEN, longitude=COARSEN, y=COARSEN, x=COARSEN, coord_func="mean").mean(keep_attrs=True)
SIZE = f"{ds.sizes['y']} x {ds.sizes['x']} grid" + (f" (the store coarsened {COARSEN} x {COARSEN})" if COARSEN > 1 else "")
print(SIZE)
print(ds)

# %%
# Train and score
# ---------------
# One table: linear pattern scaling (the cross-validated ridge, and least squares),
# energy-balance pattern scaling, the climatology of the training months, the CNN-GRU
# (on xemu's default baseline), the ensemble noise floor and the study's published rows.
#
# ``SO2`` and ``BC`` lie on a grid about half a degree away from the targets'. xemu aligns
# them by position (``grid_alignment="interp"`` interpolates instead) and warns each time
# it does; here is that warning once, then it is silenced for the fits.

ds.SO2.isel(ssp=0, time=0).emu.align_grid(ds.tas)
models = ("linear", "linear-ols", "energy-balance", "climatology", "cnn-gru")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*aligned to the target grid.*")
    table = evaluate(ds, split="reference", models=models, seeds=(0,)).load()
print(format_table(table))
score = table.competition_score.to_series()
network = min((m for m in score.index if m.startswith("xemu CNN-GRU")), key=len)  # the forced row
baseline = ("energy-balance pattern scaling (xemu)" if "energy-balance" in network
            else "linear pattern scaling, ridge (xemu)")
print(f"{SIZE}: the CNN-GRU scores {score[network]:.3f}, its baseline ({baseline}) {score[baseline]:.3f}, "
      f"the mean of the other members {score['noise floor: mean of other members as the prediction']:.3f}")

# %%
# The competition score
# ---------------------
# ``0.5 * (0.1 monthly RMSE + time-mean RMSE + time-std MAE)`` of tas plus the same of pr
# with a weight 0.75 on the time-std term (lower is better). The noise floor rows score
# other members of the climate model as if they were predictions.

kind = table.model_kind.values
colour = np.where(kind == "published", "0.6", np.where(kind == "noise floor", "tab:green", "tab:blue"))
fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
bars = ax.barh(table.model.values, table.competition_score.values, color=colour)
ax.bar_label(bars, fmt="%.3f", padding=2, fontsize="small")
ax.invert_yaxis()
ax.set_xlabel("competition score (lower is better)")
ax.set_title(f"Reference split, {SIZE}")

# %%
# The six metrics
# ---------------

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained", sharey=True)
for ax, var in zip(axes, ["tas", "pr"], strict=True):
    values = table[var].transpose("model", "metric")
    y = np.arange(table.sizes["model"])
    for i, metric in enumerate(values.metric.values):
        ax.barh(y + 0.27 * (i - 1), values.sel(metric=metric), height=0.27, label=str(metric))
    ax.set_yticks(y, table.model.values)
    ax.set_title(f"{var} [{'K' if var == 'tas' else 'mm/day'}]")
axes[0].invert_yaxis()
axes[1].legend(fontsize="small")
plt.show()
