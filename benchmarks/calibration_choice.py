"""How to calibrate the CNN-GRU's prediction where its correction is tapered: nested leave-one-scenario-out.

    python benchmarks/calibration_choice.py --saved runs/em [--seed 0] [--outer]

``predict(..., variability="calibrated")`` stretches the forced prediction's deviations from
its running mean by the network's variance ratio, measured on the training months where the
network's correction is whole (:func:`xemu.variability.calibrate`). Away from the training
forcings the slow part of the correction is tapered towards the energy-balance baseline
(:func:`xemu.recipe.correction.apply_correction`), but the stretch is still the network's. Candidates,
each applied to the default's forced prediction ``pred`` (its baseline ``base``, the slow
part's weight ``w``, :meth:`xemu.Emulator.correction_weight`):

- ``network's ratio (today)``: ``calibrate(pred, r_net)``;
- ``baseline's stretch, correction kept``: ``pred + calibrate(base, r_base) - base`` (the
  baseline's deviations stretched by its own ratio ``r_base``, measured on the same training
  months; the network's correction added unstretched), then for pr the clip that keeps the mean;
- ``blend by the slow weight``: ``w * today + (1 - w) * baseline's stretch`` (today's wherever
  the month's forcings are a training month's, ``w = 1``);
- ``baseline's ratio``: ``calibrate(pred, r_base)``.

The fold loop and the fits are those of ``benchmarks/correction_parts.py`` (and shared with
it through ``--saved``): per outer fold, the default CNN-GRU fitted on one training scenario
is scored on every member of the other over its last 240 months, both ways round; the
fold's choice is the lowest mean inner calibrated score. With ``--outer`` the outer fold's
fit is scored on the held-out scenario, for the record only.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from correction_parts import nested_choice, quiet

from xemu.evaluation import make_split
from xemu.metrics.deterministic import score
from xemu.variability import calibrate, variance_ratio

CANDIDATES = ("network's ratio (today)", "baseline's stretch, correction kept", "blend by the slow weight",
              "baseline's ratio")


def candidates(em, base: xr.Dataset, base_train: xr.Dataset, truth_train: xr.Dataset, pred: xr.Dataset,
               w: xr.DataArray) -> dict[str, xr.Dataset]:
    """The calibrated predictions of :data:`CANDIDATES`."""
    block = em.variability.block
    out = {label: pred.copy() for label in CANDIDATES}
    for name in ("tas", "pr"):
        dry = name == "pr"
        r_net = em.variability.ratios[name]
        r_base = variance_ratio(truth_train[name], base_train[name], block=block)
        today = calibrate(pred[name], r_net, block=block, non_negative=dry)
        kept = pred[name] + (calibrate(base[name], r_base, block=block) - base[name])
        if dry:  # the clip that keeps the time mean (a ratio of 1 stretches nothing)
            kept = calibrate(kept, 1.0, block=block, non_negative=True)
        kept.attrs = pred[name].attrs
        blend = xr.where(w == 1, today, w * today + (1 - w) * kept).transpose(*today.dims)
        blend.attrs = pred[name].attrs
        for label, da in zip(CANDIDATES, (today, kept, blend,
                                          calibrate(pred[name], r_base, block=block, non_negative=dry)), strict=True):
            out[label][name] = da
    return out


def rows(ds, em, test: str, fit_on: list[str]) -> dict:
    """Per candidate: forced score, calibrated score, tas time-mean RMSE and the time-stddev MAEs
    on every member of ``test`` over its last 240 months (means over members)."""
    sp = make_split(f"scenario:{test}", ds)
    forcing = ds.sel(ssp=[test]).drop_vars(["tas", "pr"])
    truth = ds[["tas", "pr"]].sel(sp.test)
    names = list(em.baseline.inputs)
    pred = quiet(em.predict, forcing, lazy=False)
    base = quiet(em.baseline.predict, forcing[names])
    train = ds.sel(ssp=fit_on)
    base_train = quiet(em.baseline.predict, train[names])
    w = quiet(em.correction_weight, forcing)

    def scored(p):
        return score(p[["tas", "pr"]].sel(ssp=test, time=truth.time), truth).mean("member_id")

    forced = scored(pred)
    out = {}
    for label, cal in candidates(em, base, base_train, train[["tas", "pr"]], pred, w).items():
        s = scored(cal)
        out[label] = (float(forced.competition_score), float(s.competition_score),
                      float(forced.tas.sel(metric="time_mean_rmse")),
                      {f"{v} t-std": float(s[v].sel(metric="time_stddev_mae")) for v in ("tas", "pr")})
    return out


if __name__ == "__main__":
    np.seterr(all="ignore")
    nested_choice(rows, "inner mean calibrated score")
