"""The 2081-2100 global-mean tas bias of energy-balance pattern scaling on each held-out scenario.

    python benchmarks/loso_global_bias.py

For each fold of ``xemu evaluate --split loso``: fit ``model="energy-balance"`` on the two
training scenarios, predict the held-out one, and print the area-weighted global mean of
(prediction minus the mean of its members) over the scored months, with the prior strength
the fit chose.
"""

import warnings

import numpy as np

import xemu
from xemu.evaluation import _with_forcing_units, loso_splits

ds = _with_forcing_units(xemu.open_cse151b())
for sp in loso_splits(ds):
    held = sp.test["ssp"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eb = xemu.fit(ds.sel(sp.train), ["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], model="energy-balance",
                      variability=False)
        pred = eb.predict(ds.sel(ssp=held).drop_vars(["tas", "pr"]))
    truth = ds.tas.sel(sp.test).mean(("member_id", "time"))
    mean = pred.tas.sel(time=ds.sel(sp.test).time).mean("time")
    w = np.cos(np.deg2rad(ds.y))
    print(f"{held} global bias 2081-2100: {float((mean - truth).weighted(w).mean()):.3f} K "
          f"(prior strength {eb.global_response.strength:g})")
