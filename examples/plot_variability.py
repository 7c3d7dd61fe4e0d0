"""
Internal variability: a calibrated prediction and stochastic draws
==================================================================

A deterministic emulator predicts the forced response, the climate the forcings explain,
and smooths the weather away. Every xemu emulator learns what it misses from its own
training residuals (:ref:`variability`) and offers it back three ways: a calibrated
deterministic prediction with a member's month-to-month variance, stochastic draws that
vary like other members, and the same draws held to the forced response's mean over each
calendar decade (``anchor="decade"``).

Here linear pattern scaling (it fits in seconds; the CNN-GRU works the same way, its calibrated
prediction taking each decade's variance from its baseline) learns
the synthetic climate's variability from every member but one, and each output is scored
against that member, which the fit never saw. The synthetic climate also knows its own
noise-free forced response (``tas_forced``), which the figure shows.
"""

import os

import matplotlib.pyplot as plt

import xemu
from xemu.metrics import area_weights
from xemu.metrics.probabilistic import ensemble_scores

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"  # small run for tests and the docs build

# %%
# Fit, holding one member out
# ---------------------------
# The residual model is the default block bootstrap: the draw of each calendar year is
# the forced response plus the residuals of a whole training year.

ds = xemu.synthetic_climate(n_years=30 if FAST else 60, n_lat=24, n_lon=36, seed=2)
truth = ds.drop_vars(["tas_forced", "pr_forced"])
inputs, targets = ["CO2", "CH4", "SO2", "BC"], ["tas", "pr"]
em = truth.emu.fit(inputs, targets, model="linear", holdout={"scenario": "mid", "member": 0})
print(em.variability)

# %%
# Four outputs for the held-out member
# ------------------------------------

forcing = truth[inputs].sel(scenario="mid")
member = truth[targets].sel(scenario="mid", member=0)
forced = em.predict(forcing)
calibrated = em.predict(forcing, variability="calibrated")
draws = em.predict(forcing, samples=10, seed=0)
held = em.predict(forcing, samples=10, seed=0, anchor="decade")

rows = {"forced response": xemu.score(forced, member).competition_score,
        "calibrated": xemu.score(calibrated, member).competition_score}
for label, ens in (("10 draws", draws), ('10 draws, anchor="decade"', held)):
    s = ensemble_scores(ens, member, member_dim="realization")
    rows[label] = s.competition_score_member_mean
    print(f"{label}: tas spread-skill ratio {float(s.tas_spread_skill_ratio):.2f}, "
          f"CRPS {float(s.tas_crps):.3f} K")
for label, value in rows.items():
    print(f"{label:28s} competition score {float(value):.3f}")

# %%
# Global means, as departures from the emulator's forced response
# ----------------------------------------------------------------
# Annual (left) and decadal (right) area-weighted global means of tas minus the forced
# response's. The unanchored draws wander around the forced response on every time scale
# the residuals have, as the held-out member does; the anchored draws keep their
# year-to-year weather, but each decade's mean is the emulator's, so their decadal
# departures are zero: use them for weather around the emulated decade, not for the range
# of decadal means.

w = area_weights(ds.lat)


def departure(da, years):
    """Area-weighted global mean of ``da`` minus the forced response's, over blocks of ``years``."""
    gm = (da - forced.tas).weighted(w).mean(["lat", "lon"])
    return gm.groupby((gm.time.dt.year // years * years).rename("year")).mean()


fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
for ax, years in zip(axes, (1, 10), strict=True):
    for ens, colour, label in ((draws, "0.6", "10 draws"), (held, "C1", '10 draws, anchor="decade"')):
        for i in range(ens.sizes["realization"]):
            g = departure(ens.tas.isel(realization=i), years)
            ax.plot(g.year, g.values, color=colour, lw=0.8, marker="o" if years > 1 else None, ms=3,
                    label=label if i == 0 else None)
    for da, style, label in ((member.tas, {"color": "C0", "lw": 1.8}, "held-out member"),
                             (ds.tas_forced.sel(scenario="mid"), {"color": "k", "lw": 1, "ls": ":"},
                              "true forced response")):
        g = departure(da, years)
        ax.plot(g.year, g.values, label=label, marker="o" if years > 1 else None, ms=3, **style)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_title("annual means" if years == 1 else "decadal means (the first decade: 2015-2019)")
    ax.set_xlabel("year" if years == 1 else "first year of the decade")
axes[0].set_ylabel(f"tas minus the forced response [{member.tas.attrs.get('units', 'K')}]")
axes[1].legend(fontsize="small")
fig.suptitle("Area-weighted global mean of tas, departure from the emulator's forced response")
plt.show()
