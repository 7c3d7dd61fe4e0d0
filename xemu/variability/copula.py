"""The Gaussian copula of precipitation in :class:`~xemu.variability.ResidualModel`: the
stored quantile levels, quantiles shifted and scaled to mean 0 and variance 1, the lookup of
a uniform value's segment of the piecewise-linear quantile function, and the censoring shift
that keeps the mean of a sample censored at zero (see :mod:`xemu.variability.parametric`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["QUANTILE_LEVELS", "unit_quantiles", "censoring_shift", "quantile_locator"]

#: Probability levels of the stored quantiles (``kind="precipitation"``): the minimum (0),
#: 0.5 %, 1 %, 2.5 %, 5 %, 10 % to 90 % by 5 %, 95 %, 97.5 %, 99 %, 99.5 % and the maximum (1).
QUANTILE_LEVELS: np.ndarray = np.round(
    np.concatenate([[0.0, 0.005, 0.01, 0.025, 0.05], np.arange(0.10, 0.901, 0.05),
                    [0.95, 0.975, 0.99, 0.995, 1.0]]), 6
)


def unit_quantiles(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Shift and scale quantiles (levels, P) so that the piecewise-linear quantile function of a
    uniform variable has mean 0 and variance 1 exactly (constant cells become 0)."""
    du = np.diff(levels)[:, None]
    lo, hi = q[:-1], q[1:]
    mean = (du * (lo + hi) / 2).sum(0)
    second = (du * (lo**2 + lo * hi + hi**2) / 3).sum(0)
    var = np.clip(second - mean**2, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(var > 1e-12, (q - mean) / np.sqrt(var), 0.0)
    return out


def censoring_shift(base: np.ndarray, sigma: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Censoring shift for one calendar month: base (..., P) >= 0 or NaN, sigma (P,), quantiles
    q (L, P) of mean 0 (piecewise linear in the levels).

    With ``x = base / sigma`` and ``G(y) = E[max(Q(U) - y, 0)]`` (decreasing, piecewise
    quadratic in y), the censored sample ``sigma max(Q - y, 0)`` has mean ``base`` for the
    y solving ``G(y) = x``; the shift is ``sigma (y + x)``. G at the knots ``q_i`` is
    ``A_i - q_i D_i`` (A: the partial means above knot i, D = 1 - level_i); within segment i
    the equation is a quadratic in ``h = q_(i+1) - y``.
    """
    du = np.diff(levels)[:, None]
    dq = np.diff(q, axis=0)
    seg_mean = du * (q[:-1] + q[1:]) / 2
    above = np.concatenate([np.cumsum(seg_mean[::-1], axis=0)[::-1], np.zeros((1, q.shape[1]))])  # A_i
    tail = (1.0 - levels)[:, None]  # D_i
    g = above - q * tail  # G(q_i), decreasing in i, G(q_0) = -q_0, G(q_last) = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(sigma > 0, base / sigma, np.inf)
    count = np.zeros(x.shape, dtype=np.int64)
    for knot in g:  # the segment i with G(q_i) > x >= G(q_(i+1))
        count += knot > x
    i = np.clip(count - 1, 0, q.shape[0] - 2)
    cols = np.arange(q.shape[1])
    g_next, q_next, d_next = g[i + 1, cols], q[i + 1, cols], tail[i + 1, 0]
    c = np.maximum(x - g_next, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = du[i, 0] / (2 * dq[i, cols])  # infinite on flat segments, which are never the one solved in
        h = 2 * c / (d_next + np.sqrt(d_next**2 + 4 * a * c))
        h = np.where(c > 0, h, 0.0)
        y = q_next - h
        y = np.where(x >= g[0], -x, y)  # wet enough: no censoring
        y = np.where(x <= 0, q[-1], y)  # nothing to draw from: the sample is 0
        out = np.where(sigma > 0, sigma * (y + x), 0.0)
    out = np.where(np.isfinite(base), np.maximum(out, 0.0), np.nan)
    return np.where(x >= g[0], 0.0, out)


def quantile_locator(levels: np.ndarray):
    """A function giving, for u in [0, 1], the index i of the segment levels[i] <= u < levels[i + 1]
    (clipped to the last segment): a lookup table when the levels are far enough apart, else a
    binary search."""
    last = levels.size - 2
    bins = 4096
    if np.diff(levels).min() <= 1.0 / bins:
        return lambda u: np.clip(np.searchsorted(levels, u, side="right") - 1, 0, last)
    table = np.clip(np.searchsorted(levels, np.arange(bins + 1) / bins, side="right") - 1, 0, last)
    upper = np.append(levels[1:], np.inf)  # upper[i] = levels[i + 1]

    def locate(u: np.ndarray) -> np.ndarray:
        i = np.take(table, (u * bins).astype(np.int64))  # at most one level lies inside a bin
        i += u >= np.take(upper, i)
        return np.minimum(i, last)

    return locate
