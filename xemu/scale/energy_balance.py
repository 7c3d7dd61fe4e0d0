"""The energy-balance baseline fitted from passes over a store's blocks (:mod:`xemu.scale.passes`).

:class:`~xemu.EnergyBalancePatternScaling` is fitted in memory in three steps: the global model
on the training months' area-weighted global mean of the temperature target, its global mean
``T_hat`` for the forcings, and per cell and calendar month the pattern ``a + b * T_hat``. Here
the same steps read the data block by block, each through the function the in-memory fit
calls (:mod:`xemu.baselines.energy_balance`):

1. the forcings' global means come from the input pass (:func:`xemu.scale.passes.input_pass`);
2. :func:`global_response` reads the temperature target in one pass over the target blocks,
   takes each month's global mean (:func:`~xemu.baselines.energy_balance.global_mean`), and
   fits the global model to them (:func:`~xemu.baselines.energy_balance.fit_global`): the
   same series, the same fit, the same parameters;
3. the patterns are the one-column least-squares fits of each cell on ``T_hat``, per calendar
   month, from the sums of the targets and of ``T_hat`` times the targets that the baseline's
   pass accumulates (:class:`xemu.baselines.regression.RidgeSums`, no ridge penalty;
   :func:`patterns_from_sums`), with ``T_hat`` centred on each calendar month's mean, as the
   in-memory fit centres it; the residual scale follows from the same sums.

With a global-mean temperature input (``roles={"gmt": name}``) step 2 reads nothing: the
patterns are fitted on the input's series, as in memory.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from ..baselines import regression as rg
from ..baselines.energy_balance import (
    EnergyBalancePatternScaling,
    FitOptions,
    check_fit_options,
    fit_global,
    global_mean,
    pattern_design,
    role_forcings,
)
from ..baselines.global_response import GlobalResponse
from ..data.prepare import Prepared
from .blocks import BlockSource

__all__ = ["GlobalFit", "check_options", "global_response", "centred_design", "patterns_from_sums"]


class GlobalFit(NamedTuple):
    """The global step of a streamed energy-balance fit: see :func:`global_response`."""

    p: Prepared  # the skeleton with the inputs' global means (S_in, T, K) of every month
    options: FitOptions
    response: GlobalResponse
    t_hat: np.ndarray  # (S_in, T): the fitted global mean (or the "gmt" input)


def check_options(ds, inputs, targets, options: dict) -> FitOptions:
    """The energy-balance options among ``options`` (a ``variability`` entry is left to the caller),
    checked as :meth:`~xemu.EnergyBalancePatternScaling.fit` checks them, before any pass."""
    return check_fit_options(ds, inputs, targets, **{k: v for k, v in options.items() if k != "variability"})


def global_response(src: BlockSource, pb: Prepared, means: np.ndarray, train: np.ndarray, options: dict) -> GlobalFit:
    """The global model fitted to the training months of ``train`` ``(S_t, T)``, from one pass over the
    target blocks reading the temperature target alone (none with a ``"gmt"`` input).

    ``pb``: the skeleton of the baseline's inputs (:func:`xemu.scale.blocks.skeleton`);
    ``means`` ``(S_in, T, K)``: their global means over every month (the input pass).
    """
    o = check_options(src.ds, list(pb.input_units), pb.target_names, options)
    p = replace(pb, inputs=means)
    forcings = role_forcings(p, o.roles)
    glob = None
    if "gmt" not in o.roles:
        glob = np.full(train.shape, np.nan)
        for s, a, e, y in src.target_pass(names=[o.temperature]):
            glob[s, a:e] = global_mean(y[:, 0], pb.lat)
    response, t_hat = fit_global(forcings, glob, train, pb.target_to_input, o)
    return GlobalFit(p, o, response, t_hat)


def centred_design(g: GlobalFit, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(z, centre)``: the patterns' design, one column ``(N, 1)`` of ``T_hat`` on the training months
    (in the order of ``np.nonzero(train)``) minus its calendar month's mean, and those 12 means.

    Raises :class:`~xemu.DataError` as the in-memory fit does for a calendar month with fewer
    than 2 distinct global means (:func:`~xemu.baselines.energy_balance.pattern_design`).
    """
    _, _, months, x = pattern_design(g.p.time, train, g.t_hat, g.p.target_to_input)
    centre = np.array([x[months == m].mean() for m in range(12)])
    return (x - centre[months])[:, None], centre


def patterns_from_sums(g: GlobalFit, z: np.ndarray, months: np.ndarray, centre: np.ndarray, totals: rg.RidgeSums,
                       coef: np.ndarray, holdout, grid_alignment) -> EnergyBalancePatternScaling:
    """The baseline from the monthly sums ``totals`` (keys: calendar months 1-12) of the targets over the
    rows of the centred design ``z`` (:func:`centred_design`; ``months`` 1-12 of each row).

    ``coef`` ``(12, 2, V, P)`` is filled in with the slope and intercept on the centred design (what
    :func:`xemu.scale.passes.baseline_and_scale` computes the residual scale from); the baseline
    keeps them on ``T_hat`` itself: intercept minus slope times the month's mean of ``T_hat``,
    as the in-memory fit writes it (the targets' mean minus the slope times that mean).
    """
    p = g.p
    shift = totals.shift
    for m in range(1, 13):
        sel = months == m
        for v in range(coef.shape[2]):
            b, c = rg.ridge_fit_sums(z[sel], totals.sy(m)[v], totals.szy(m)[:, v], 0.0)
            coef[m - 1, 0, v] = b[0]
            coef[m - 1, 1, v] = c + shift[v]
    on_t_hat = coef.copy()
    on_t_hat[:, 1] -= on_t_hat[:, 0] * centre[:, None, None]
    shape = (12, 2, coef.shape[2], p.lat.size, p.lon.size)
    return EnergyBalancePatternScaling().set_fit(p, g.response, g.t_hat, on_t_hat.reshape(shape), g.options, holdout,
                                                 grid_alignment)
