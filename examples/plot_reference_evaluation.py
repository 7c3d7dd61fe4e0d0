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
# with a weight 0.75 on the time-std term (lower is better). One row per model: its
# forced response a disc, its calibrated prediction a diamond, the mean score of its draws
# a triangle and of draws held to decadal means a square, their spread over draws (and the
# seeds' range) as error bars; the noise floor (another member of the climate model as the
# prediction) is the green band. The study's published scores are drawn only beside a table
# of their protocol (the reference split on the full 48 x 72 grid, read from the table's
# ``protocol`` attribute): on the coarsened store they are named under the chart as not
# comparable instead. ``xemu plot table.nc --out table.png`` draws the same charts from a
# saved table.

print("protocol:", table.attrs["protocol"])
fig = xemu.plot.score_chart(table)

# %%
# The six metrics
# ---------------

fig = xemu.plot.metric_charts(table)
plt.show()
