"""The network's correction at prediction: how much of it a month keeps (its taper away from the
training forcings, :mod:`xemu.data.novelty`), its slow part's running mean, and its sum with the
baseline's part (:func:`~xemu.recipe.correction.apply_correction`). The defaults below are what
:func:`xemu.recipe.fit_model` records in ``emulator.json``; a prediction reads the record.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..data.novelty import Novelty, taper
from ..data.prepare import Prepared

__all__ = ["TAPER_LENGTH", "SLOW_MONTHS", "FAST_TAPER_LENGTH", "correction_weights", "labelled_weights",
           "running_mean", "correction_halo", "correction_parts", "apply_correction"]

#: How far (in training standard deviations of the inputs' global means, :mod:`xemu.data.novelty`)
#: from every training month the *slow part* of the network's correction (see
#: :data:`SLOW_MONTHS`) falls to exp(-1/2) of itself: it is ``exp(-d**2 / (2 * TAPER_LENGTH**2))``
#: times what the network predicts, so the emulator's decadal means return to its baseline's for
#: forcings far from any it trained on (at 4 lengths, 0.03 % of it is left).
TAPER_LENGTH: float = 2.0

#: The network's correction in two parts (since issue 28): its *slow* part, the centred running
#: mean over ``SLOW_MONTHS`` months (:func:`running_mean`), tapered with :data:`TAPER_LENGTH`, and
#: its *fast* part (the rest: the seasonal cycle and month-to-month changes around that mean),
#: tapered with :data:`FAST_TAPER_LENGTH` (``inf``: not tapered; ``null`` in ``emulator.json``).
#: Recorded in ``emulator.json`` as ``correction_split``; emulators saved before it taper the
#: whole correction alike.
#:
#: The three were chosen together by nested leave-one-scenario-out on the training scenarios
#: (``benchmarks/correction_parts.py``, seed 0): the lowest inner calibrated score over the three
#: outer folds together, 1.054 (a whole correction tapered with length 4, the default before:
#: 1.065; no taper 1.068; the baseline alone 1.077). A running mean over 12 months scored the
#: same to the third decimal; fold by fold the inner folds chose no taper (ssp126 held out), the
#: slow part off and the fast part tapered with length 4 (ssp370) and the slow part off and the
#: fast part whole (ssp585) (``benchmarks/RESULTS.md``, "The correction in two parts").
SLOW_MONTHS: int = 120
#: The taper length of the fast part of the network's correction (see :data:`SLOW_MONTHS`):
#: ``inf``, not tapered (``null`` in ``emulator.json``); chosen with it.
FAST_TAPER_LENGTH: float = float("inf")


def correction_weights(meta: dict, p: Prepared, part: str = "slow") -> np.ndarray:
    """``(S_in, T)`` float32: the weight of the network's correction (its ``part``, ``"slow"`` or
    ``"fast"``: see :data:`SLOW_MONTHS`) in each month of the prepared inputs ``p``, the taper of
    its distance from the training forcings (:mod:`xemu.data.novelty`); 1 everywhere for an
    emulator without a record of them (saved before the taper). An emulator saved before the
    split tapers both parts alike (``taper_length``)."""
    if meta.get("novelty") is None:
        return np.ones(p.inputs.shape[:2], np.float32)
    split = meta.get("correction_split")
    length = meta["taper_length"] if part == "slow" or split is None else split["fast_taper_length"]
    if length is None:  # not tapered
        return np.ones(p.inputs.shape[:2], np.float32)
    if isinstance(length, Mapping):  # a length per input (None: not compared), the taper's unit 1
        lengths = {k: float("inf") if v is None else float(v) for k, v in length.items()}
        weight = taper(Novelty.from_dict(meta["novelty"]).distance(p, lengths), 1.0)
    else:
        weight = taper(Novelty.from_dict(meta["novelty"]).distance(p), float(length))
    return weight.astype(np.float32)


def labelled_weights(weight: np.ndarray, p: Prepared) -> xr.DataArray:
    """:func:`correction_weights` as a DataArray on the inputs' sample dims and time."""
    dims = (*p.input_sample_dims, p.time.dims[0])
    shape = [p.sample_coords[d].size for d in p.input_sample_dims] + [p.time.size]
    return xr.DataArray(weight.reshape(shape), dims=dims,
                        coords={**{d: p.sample_coords[d] for d in p.input_sample_dims}, dims[-1]: p.time},
                        name="correction_weight",
                        attrs={"long_name": "weight of the network's correction (1: all of it; 0: the baseline "
                                            "alone)", "units": "1"})


def running_mean(x: np.ndarray, months: int, axis: int = 1) -> np.ndarray:
    """The centred running mean of ``x`` over ``months`` months along ``axis`` (the months
    ``t - months // 2`` to ``t + (months - 1) // 2`` where ``months`` is even, as
    ``xarray``'s ``rolling(center=True)``; fewer at the ends of the series), in float64 sums,
    returned in ``x``'s dtype.

    Examples
    --------
    >>> running_mean(np.arange(6.0)[None], 2).tolist()
    [[0.0, 0.5, 1.5, 2.5, 3.5, 4.5]]
    """
    x = np.moveaxis(np.asarray(x), axis, 0)
    out = np.empty(x.shape, x.dtype)
    for t, mean in _running_means(x, months):
        out[t] = mean
    return np.moveaxis(out, 0, axis)


def _running_means(x: np.ndarray, months: int):
    """Yield ``(t, mean)``, month by month along the first axis of ``x``: the float64 centred running
    mean of :func:`running_mean`, from the cumulative sums ``numpy.cumsum`` would give (added month
    by month, kept for the last ``months + 1`` months only). Once ``t`` is yielded, ``x[t]`` may be
    changed in place: the sums have read it."""
    n = x.shape[0]
    size = min(months, n) + 1
    sums = np.zeros((size, *x.shape[1:]), np.float64)  # sums[k % size]: the sum of x[:k]
    done = 0
    for t in range(n):
        lo, hi = max(t - months // 2, 0), min(t + (months - 1) // 2 + 1, n)
        for k in range(done, hi):
            np.add(sums[k % size], x[k], out=sums[(k + 1) % size])
        done = hi
        yield t, (sums[hi % size] - sums[lo % size]) / (hi - lo)


def correction_halo(meta: dict) -> tuple[int, int]:
    """Months of correction a prediction needs before and after a month (its slow part's running
    mean: :func:`running_mean`); ``(0, 0)`` for an emulator whose correction is not split."""
    split = meta.get("correction_split")
    if meta.get("novelty") is None or split is None:
        return 0, 0
    return split["slow_months"] // 2, (split["slow_months"] - 1) // 2


def correction_parts(meta: dict, p: Prepared) -> tuple[np.ndarray, np.ndarray | None]:
    """The weights :func:`apply_correction` applies for the prepared inputs ``p``: ``(S_in, T)`` of the
    slow part (:func:`correction_weights`), and the fast part's minus it (``None`` where equal)."""
    w = correction_weights(meta, p)
    if correction_halo(meta) == (0, 0):
        return w, None
    dw = correction_weights(meta, p, "fast") - w
    return w, (dw if dw.any() else None)


def apply_correction(out: np.ndarray, meta: dict, p: Prepared | None = None, *,
                     parts: tuple[np.ndarray, np.ndarray | None] | None = None,
                     base: np.ndarray | None = None) -> np.ndarray:
    """The correction ``(S_in, T, V, H, W)`` the network's output ``out`` adds to the baseline for
    the prepared inputs ``p``: ``out`` times the target scale, its slow part (:func:`running_mean`
    over ``SLOW_MONTHS``) weighted by :func:`correction_weights` ``(..., "slow")`` and the rest by
    ``(..., "fast")``. Where the two weights are equal (on the training forcings, and in every
    month of an emulator saved before the split or the taper) this is ``out * scale * weight``,
    bit for bit as before.

    ``parts``: :func:`correction_parts` of ``p``, taken before (then ``p`` is not read); ``base``:
    the baseline's part (float32), added in place (``base + correction``, bit for bit).
    """
    w, dw = parts if parts is not None else correction_parts(meta, p)
    scale = np.asarray(meta["target_scale"], np.float32)[None, None, :, None, None]
    corr = out * (scale * w[:, :, None, None, None])
    if dw is not None:
        rest = out * scale
        by_month = np.moveaxis(rest, 1, 0)  # a view: rest minus its running mean, in place
        for t, mean in _running_means(by_month, meta["correction_split"]["slow_months"]):
            by_month[t] -= mean.astype(rest.dtype)
        rest *= dw[:, :, None, None, None]
        corr += rest
    if base is not None:
        corr += base  # float32, as every baseline's prediction
    return corr
