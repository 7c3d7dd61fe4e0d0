"""Internal variability learned from residuals given a block at a time, for training streamed
from a store (``fit(..., stream=True, variability=...)``, :mod:`xemu.scale.stream`).

:class:`StreamedVariability` learns what :func:`~xemu.variability.core.fit_variability` learns
from whole arrays, from blocks of the training truth and of the emulator's prediction (one
target sample, a range of months), each given once, in any order:

* the internal variance of the calibrated prediction and the variance ratio
  (:func:`~xemu.variability.internal_variance`, :func:`~xemu.variability.variance_ratio`):
  per sample and calibration block (``block`` months from the first; a block with a held-out
  month is left out, and so are the months after the last whole block), the variance of the
  truth and of the prediction per cell, from float64 sums around the block's first month;
  their means over blocks. Equal to the in-memory ratio to float32 rounding (which takes
  the variances in float32).
* the block bootstrap (:class:`~xemu.variability.BlockBootstrap`): which years it keeps
  follows from the training months alone (:func:`~xemu.variability.bootstrap.kept_years`);
  their residuals are copied as they come (at most ``max_years`` x 12 maps per target): the
  same model, bit for bit.
* the parametric :class:`~xemu.variability.ResidualModel`: each training map of the
  residuals is written once, as float32, to a temporary file and fitted from passes over it
  (:mod:`xemu.variability.parametric_stream`).

Memory: a few open calibration blocks' sums, the kept years (bootstrap) or a chunk of
``budget`` bytes and the EOFs' Gram matrix (parametric); not the data.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import xarray as xr

from ..data.encoding import month_of
from ..errors import ConfigError, DataError
from .bootstrap import MAX_YEARS, METHODS, BlockBootstrap, kept_years, year_labels
from .calibration import internal_variance, ratio_of_variances
from .core import (
    CALIBRATIONS,
    Variability,
    calibration_block,
    is_precipitation,
    truth_attrs,
    warn_unlearnable,
)
from .parametric import ResidualModel
from .parametric_fit import training_rows
from .parametric_stream import RowSpill, streamed_parameters
from .residuals import sample_label, with_units

__all__ = ["StreamedVariability"]


class StreamedVariability:
    """The :class:`~xemu.variability.Variability` of an emulator, from its training truth and
    prediction given a block at a time (see :mod:`xemu.variability.streamed`).

    Start one with :meth:`start`, give every training month of every target sample once with
    :meth:`add`, then :meth:`finish`.

    Parameters
    ----------
    p : xemu.data.prepare.Prepared
        What the fit prepared of the data: target names, units and attrs, target samples,
        time and grid (its arrays are not read).
    held : numpy.ndarray
        ``(S_t, T)`` bool: the held-out months.
    block : int
        The calibration block (:func:`~xemu.variability.core.calibration_block`).
    method : {"bootstrap", "parametric"}
    n_modes, max_years : int
        As in :meth:`xemu.variability.Variability.fit`.
    budget : int
        Bytes of a chunk of residual maps read back by the parametric fit.
    reference : bool
        :meth:`add` is given the baseline's part of each prediction too, and the internal
        variance is learned against it (``reference`` of :meth:`xemu.variability.Variability.fit`).
    """

    def __init__(self, p, held: np.ndarray, block: int, method: str, *, n_modes: int = 40,
                 max_years: int = MAX_YEARS, budget: int = 2**25, reference: bool = False):
        if method not in METHODS:
            raise ConfigError(f"method: expected one of {list(METHODS)}; got {method!r}")
        self.p, self.block, self.method, self.n_modes = p, int(block), method, int(n_modes)
        self.max_years, self.budget = int(max_years), int(budget)
        self.valid = ~np.asarray(held, bool)
        self._months = month_of(p.time).values.astype(np.int64) - 1
        self._mindex = p.time.dt.year.values.astype(np.int64) * 12 + self._months
        self._n_v, self._n_p = len(p.target_names), p.lat.size * p.lon.size
        self.reference = bool(reference)
        self._ratio = _RatioSums(self.block, held, self._n_v, self._n_p, 3 if reference else 2)
        self._error: DataError | None = None
        self._folder = self._spills = None
        if method == "bootstrap":
            self._found, self._available = kept_years(self.valid, self._months, self._mindex, self.max_years)
            self._kept = np.zeros((self._n_v, len(self._found), 12, self._n_p), np.float32)
            self._filled = np.zeros(len(self._found), np.int64)
            self._years_of: dict[int, list] = {}
            for y, (s, t) in enumerate(self._found):
                self._years_of.setdefault(s, []).append((y, t))
        else:
            self._row_month, self._pairs = training_rows(self.valid, self._months, self._mindex)
            self._row_of = np.full(self.valid.shape, -1, np.int64)
            self._row_of[self.valid] = np.arange(int(self.valid.sum()))
            self._folder = tempfile.TemporaryDirectory(prefix="xemu-variability-")
            self._spills = [RowSpill(Path(self._folder.name) / f"resid{v}", self.valid.sum(), self._n_p)
                            for v in range(self._n_v)]

    @classmethod
    def start(cls, p, held: np.ndarray, method: str, *, n_modes: int = 40, max_years: int | None = None,
              budget: int = 2**25, reference: bool = False) -> StreamedVariability | None:
        """A :class:`StreamedVariability`, or ``None`` with the warning of the in-memory fit when the
        training months alone say that no variability can be learned (fewer than 24 consecutive
        months, no complete calendar year, a calendar month with fewer than two maps, ...)."""
        block = calibration_block(p.time, held)
        if block is None:
            return None
        try:
            return cls(p, held, block, method, n_modes=n_modes, max_years=MAX_YEARS if max_years is None
                       else max_years, budget=budget, reference=reference)
        except DataError as err:
            warn_unlearnable(err)
            return None

    def add(self, s: int, a: int, truth: np.ndarray, pred: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Target sample ``s``'s months ``[a, a + n)``: the truth and the emulator's prediction, ``(n, V, H, W)``
        (and the baseline's part of it, when started with ``reference``)."""
        if (reference is None) == self.reference:
            raise ValueError(f"reference: expected {'the baseline part' if self.reference else 'None'} "
                             f"(this accumulator was started with reference={self.reference})")
        if self._error is not None:
            return
        n = truth.shape[0]
        resid = (truth - pred).reshape(n, self._n_v, self._n_p)  # float32, as the in-memory residuals
        train = self.valid[s, a : a + n]
        bad = ~np.isfinite(resid[train])
        if bad.any():
            self._error = DataError(f"resid: {int(bad.sum())} residuals of training months are NaN or infinite "
                                    f"(first in sample {s}); expected finite residuals")
            return
        arrays = (truth, pred) if reference is None else (truth, pred, reference)
        self._ratio.add(s, a, *(x.reshape(n, self._n_v, self._n_p) for x in arrays))
        if self.method == "bootstrap":
            for y, t in self._years_of.get(s, ()):
                lo, hi = max(a, t), min(a + n, t + 12)
                if lo < hi:
                    self._kept[:, y, lo - t : hi - t] = resid[lo - a : hi - a].transpose(1, 0, 2)
                    self._filled[y] += hi - lo
            return
        rows = self._row_of[s, a : a + n]
        keep = rows >= 0
        if keep.any():  # the training months of a sample are consecutive rows
            for v, spill in enumerate(self._spills):
                spill.write(int(rows[keep][0]), resid[keep, v])

    def finish(self) -> Variability | None:
        """The :class:`~xemu.variability.Variability` learned, or ``None`` with the warning of the
        in-memory fit when the residuals say it cannot be learned. Removes the temporary files."""
        try:
            if self._error is not None:
                raise self._error
            self._check_complete()
            ratios, internal = self._ratio.ratios(self.p, self.block)
            models = {name: self._model(v, str(name)) for v, name in enumerate(self.p.target_names)}
            return Variability(ratios, models, self.block, internal,
                               CALIBRATIONS[0] if self.reference else CALIBRATIONS[1])
        except DataError as err:
            warn_unlearnable(err)
            return None
        finally:
            self.close()

    def _check_complete(self) -> None:
        if self.method == "bootstrap":
            missing = int((self._filled != 12).sum())
        else:
            missing = int(self._spills[0].n_rows - self._spills[0].rows_written)
        if missing:
            what = "kept years" if self.method == "bootstrap" else "training maps"
            raise ValueError(f"add: {missing} {what} were not given (or given more than once); expected every "
                             f"training month of every target sample once")

    def _model(self, v: int, name: str):
        """The residual model of target ``v``, ``name``."""
        p = self.p
        kind = "precipitation" if is_precipitation(name, truth_attrs(p, name)) else "additive"
        units = xr.DataArray(0.0, attrs={"units": p.target_units[name]})  # what the in-memory residuals carry
        if self.method == "bootstrap":
            labels = year_labels(self._found, p.time.dt.year.values, _sample_label(p))
            attrs = with_units({"kind": kind, "method": "bootstrap", "variable": name, "max_years": self.max_years,
                                "n_years_available": self._available}, units)
            return BlockBootstrap.from_years(self._kept[v].astype(np.float64), labels, p.lat, p.lon, attrs)
        spill = self._spills[v]
        arrays = streamed_parameters(spill, self._row_month, self._pairs, p.lat.values, p.lon.size, self.n_modes, kind,
                                     budget=self.budget, folder=Path(self._folder.name))
        attrs = with_units({"kind": kind, "variable": name, "n_modes_requested": self.n_modes,
                            "n_maps": int(spill.n_rows), "n_lag1_pairs": int(self._pairs.size)}, units)
        return ResidualModel.from_parameters(arrays, p.lat, p.lon, attrs)

    def close(self) -> None:
        """Remove the temporary files (parametric); nothing more can be added."""
        for spill in self._spills or ():
            spill.close()
        if self._folder is not None:
            self._folder.cleanup()
        self._folder = self._spills = None
        self._kept = None


def _sample_label(p):
    """``label(s)`` of target sample ``s`` as the in-memory bootstrap writes it (``None`` without sample dims)."""
    dims = tuple(p.target_sample_dims)
    if not dims:
        return None
    da = xr.DataArray(np.zeros([p.sample_coords[d].size for d in dims], bool), dims=dims,
                      coords={d: p.sample_coords[d] for d in dims})
    roles = SimpleNamespace(sample=dims)
    return lambda s: sample_label(da, roles, s)


class _RatioSums:
    """Per sample and calibration block, the variance per cell of the truth and of the prediction
    (and of the baseline's part of it: ``n_series`` 3) (ddof 0), summed over the blocks whose
    months are all training months."""

    def __init__(self, block: int, held: np.ndarray, n_v: int, n_p: int, n_series: int = 2):
        self.block, self.held = block, np.asarray(held, bool)
        self.n_blocks = self.held.shape[1] // block  # the months after the last whole block are left out
        self.total, self.count = np.zeros((n_series, n_v, n_p)), 0
        self.dtype = np.dtype(np.float32)
        self._open: dict = {}  # (sample, block) -> [months added, reference, sum, sum of squares]

    def add(self, s: int, a: int, truth: np.ndarray, *preds: np.ndarray) -> None:
        """Truth and prediction (and the baseline's part) ``(n, V, P)`` of sample ``s``, months ``[a, a + n)``."""
        self.dtype = np.result_type(truth.dtype, *(p.dtype for p in preds))
        b, n = self.block, truth.shape[0]
        for k in range(a // b, min((a + n - 1) // b + 1, self.n_blocks)):
            if self.held[s, k * b : (k + 1) * b].any():
                continue  # a held-out month: the block's variance is NaN in memory, left out of the mean
            lo, hi = max(a, k * b) - a, min(a + n, (k + 1) * b) - a
            x = np.stack([truth[lo:hi], *(p[lo:hi] for p in preds)], axis=1).astype(np.float64)  # (m, 2 or 3, V, P)
            entry = self._open.setdefault((s, k), [0, x[0].copy(), np.zeros(x.shape[1:]), np.zeros(x.shape[1:])])
            d = x - entry[1]
            entry[0] += hi - lo
            entry[2] += d.sum(0)
            entry[3] += (d * d).sum(0)
            if entry[0] == b:
                del self._open[(s, k)]
                mean = entry[2] / b
                self.total += np.maximum(entry[3] / b - mean * mean, 0.0)
                self.count += 1

    def ratios(self, p, block: int) -> tuple[dict[str, xr.DataArray], dict[str, xr.DataArray]]:
        """The ``variance_ratio`` and the ``internal_variance`` of each target, on the grid of ``p``."""
        lat, lon = p.lat, p.lon
        dims, coords = (lat.dims[0], lon.dims[0]), {lat.dims[0]: lat, lon.dims[0]: lon}
        mean = self.total / self.count if self.count else np.full_like(self.total, np.nan)
        ratios, internal = {}, {}
        for v, name in enumerate(p.target_names):
            vt, vp, *v_ref = (xr.DataArray(mean[i, v].reshape(lat.size, lon.size).astype(self.dtype), dims=dims,
                                           coords=coords) for i in range(mean.shape[0]))
            ratios[name] = ratio_of_variances(vt, vp, block)
            internal[name] = internal_variance(vt, v_ref[0] if v_ref else vp, block, p.target_units.get(name, ""))
        return ratios, internal
