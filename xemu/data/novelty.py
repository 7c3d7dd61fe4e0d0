"""How far a month's forcings lie from every training month's: where a learned correction
is supported by training data, and where it is not.

A network trained on a few scenarios learns corrections that are functions of the forcings
it saw. A scenario never run moves the forcings into combinations no training month had
(CH4 far below the training range while CO2 is high, say); there the correction is an
extrapolation of something learned elsewhere. Like a Gaussian process that returns to its
physical mean away from its data (FaIRGP: Bouabid, Sejdinovic and Watson-Parris, JAMES
2024), :class:`Novelty` measures each month's distance to the nearest training month of
the same calendar month, in the global means of the inputs (each standardised by its spread
over the training months), and :func:`taper` turns it into the weight of the correction:
1 on the training forcings, falling to 0 with the distance.

Only the input variables count (not the seasonal channels): a calendar month is compared
with the same calendar month, so an input that only varies with the season (incoming solar
radiation) adds nothing. Everything here is numpy on :class:`~xemu.data.prepare.Prepared`
arrays; :mod:`xemu.recipe` fits it and :class:`xemu.Emulator` applies it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..errors import ConfigError, DataError
from .encoding import month_of
from .grid import area_weights
from .prepare import Prepared

__all__ = ["Novelty", "global_features", "taper"]


def global_features(p: Prepared, n_variables: int) -> np.ndarray:
    """``(S_in, T, F)`` float64: the area-weighted global mean of each of the first ``n_variables``
    input channels of ``p`` (its input variables; global inputs are constant over the grid)."""
    w = area_weights(p.lat).values[:, None] / p.lon.size / p.lat.size  # sums to 1 over the grid
    out = np.empty((*p.inputs.shape[:2], n_variables))
    for c in range(n_variables):
        out[..., c] = np.einsum("sthw,hw->st", p.inputs[:, :, c], np.broadcast_to(w, p.inputs.shape[3:]),
                                dtype=np.float64)
    return out


def taper(distance: np.ndarray, length: float) -> np.ndarray:
    """The weight of a correction at ``distance`` from the training forcings:
    ``exp(-distance**2 / (2 * length**2))`` (1 at distance 0; ``length=inf``: 1 everywhere;
    ``length=0``: 1 at distance 0 only).

    Examples
    --------
    >>> taper(np.array([0.0, 1.0, 2.0]), 1.0).round(3).tolist()
    [1.0, 0.607, 0.135]
    >>> taper(np.array([0.0, 5.0]), float("inf")).tolist()
    [1.0, 1.0]
    """
    d = np.asarray(distance, np.float64)
    if math.isinf(length):
        return np.ones_like(d)
    if length == 0:
        return (d == 0).astype(np.float64)
    return np.exp(-0.5 * (d / length) ** 2)


class Novelty:
    """Distance of each month's forcings to the training months' (see the module documentation).

    Parameters
    ----------
    names : list of str
        The input variables whose global means are compared.
    mean, std : array-like
        Per variable: the mean and standard deviation of the training months' global means.
    points : array-like
        ``(12, N, F)`` standardised global means of the training months by calendar month
        (``N`` the largest count of any calendar month; missing points are NaN).

    Examples
    --------
    >>> import xemu
    >>> from xemu.data.prepare import prepare
    >>> ds = xemu.synthetic_climate(n_years=4, n_lat=4, n_lon=6)
    >>> p = prepare(ds, ["CO2", "CH4"], ["tas"])
    >>> nov = Novelty.fit(p, np.ones(p.inputs.shape[:2], bool))
    >>> float(nov.distance(p).max())  # the training months themselves
    0.0
    """

    def __init__(self, names, mean, std, points):
        self.names = list(names)
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)
        self.points = np.asarray(points, np.float64)
        f = len(self.names)
        if self.mean.shape != (f,) or self.std.shape != (f,) or self.points.ndim != 3 \
                or self.points.shape[0] != 12 or self.points.shape[2] != f:
            raise DataError(f"novelty: expected mean and std of {f} values and points of shape (12, N, {f}); got "
                            f"{self.mean.shape}, {self.std.shape} and {self.points.shape}")

    @classmethod
    def fit(cls, p: Prepared, rows: np.ndarray) -> Novelty:
        """From the training rows ``(S_in, T)`` bool of ``p``'s inputs."""
        names = list(p.input_units)
        feats = global_features(p, len(names))
        train = feats[rows]  # (N, F)
        if not len(train):
            raise DataError("novelty: no training months")
        mean = train.mean(0)
        std = train.std(0)
        std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1e-30), std, 1.0)
        months = np.broadcast_to(month_of(p.time).values - 1, rows.shape)[rows]
        groups = [(train[months == m] - mean) / std for m in range(12)]
        points = np.full((12, max(len(g) for g in groups), len(names)), np.nan)
        for m, g in enumerate(groups):
            points[m, : len(g)] = g
        return cls(names, mean, std, points)

    def distance(self, p: Prepared, lengths: Mapping[str, float] | None = None) -> np.ndarray:
        """``(S_in, T)``: each month's distance to the nearest training month of its calendar
        month, in standard deviations of the training months' global means, each input's
        divided by its length in ``lengths`` (default 1; ``inf``: the input is not compared);
        ``inf`` for a calendar month no training month had."""
        if list(p.input_units)[: len(self.names)] != self.names:
            raise DataError(f"novelty: expected the inputs {self.names}; got {list(p.input_units)}")
        inv = self.inverse_lengths(lengths)
        z = (global_features(p, len(self.names)) - self.mean) / self.std * inv  # (S, T, F)
        months = month_of(p.time).values - 1
        out = np.full(z.shape[:2], np.inf)
        for m in np.unique(months):
            pts = self.points[m]
            pts = pts[~np.isnan(pts).any(1)] * inv
            if not len(pts):
                continue
            sel = months == m
            diff = z[:, sel, None, :] - pts[None, None]  # (S, t_m, N, F)
            out[:, sel] = np.sqrt((diff**2).sum(-1)).min(-1)
        return out

    def inverse_lengths(self, lengths: Mapping[str, float] | None) -> np.ndarray:
        """Per input, 1 / its length in ``lengths`` (1 when absent, 0 for ``inf``)."""
        lengths = dict(lengths or {})
        unknown = [k for k in lengths if k not in self.names]
        bad = [k for k, v in lengths.items() if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0]
        if unknown or bad:
            raise ConfigError(f"lengths: expected a positive length (or inf) per input of {self.names}; got "
                              f"{lengths!r}")
        return np.array([1.0 / float(lengths.get(n, 1.0)) for n in self.names])

    def to_dict(self) -> dict:
        """JSON-ready (for ``emulator.json``); :meth:`Novelty.from_dict` reads it back."""
        pts = [[[None if np.isnan(v) else float(v) for v in row] for row in m] for m in self.points]
        return {"names": self.names, "mean": self.mean.tolist(), "std": self.std.tolist(), "points": pts}

    @classmethod
    def from_dict(cls, d: Mapping) -> Novelty:
        """The :class:`Novelty` of a :meth:`Novelty.to_dict` record (a missing key:
        :class:`~xemu.ConfigError`)."""
        if not isinstance(d, Mapping) or not {"names", "mean", "std", "points"} <= set(d):
            raise ConfigError(f"novelty: expected a dict with names, mean, std and points; got {d!r:.80}")
        return cls(d["names"], d["mean"], d["std"], np.array(d["points"], np.float64))  # None: NaN
