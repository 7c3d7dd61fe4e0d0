"""Fitting :class:`~xemu.variability.ResidualModel`'s parameters from residual maps too many to
hold, in passes over a temporary file.

The streamed fit (:mod:`xemu.variability.streamed`) writes each training map of a
variable's residuals once, as float32, to a temporary file
(:class:`~xemu.variability.parametric_stream.RowSpill`), and
:func:`~xemu.variability.parametric_stream.streamed_parameters` reads them back a chunk of
rows at a time, in the order of the in-memory fit's rows (sample by sample, month by
month), in passes:

1. each calendar month's mean per cell (a sum over the rows, added one row after another as
   :func:`numpy.mean` adds them: the same mean, bit for bit) and, for precipitation, the
   maps of each calendar month copied into :class:`MonthTiles`, a file per calendar month
   whose tiles of rows are stored cell by cell;
2. the standard deviation per calendar month and cell, the same way;
3. the EOFs' Gram matrix of the standardised maps (``P x P``, the in-memory fit's own
   matrix when ``P <= N``: summed chunk by chunk, equal to float rounding);
4. the principal components of each chunk: their variances, their pooled lag-1
   autocorrelations (pairs across chunks carried over) and the least-squares loadings;
5. the per-cell remainder's pooled lag-1 autocorrelation.

For precipitation the quantiles of each calendar month are those of a group of cells at a
time, read from its tiles: ``np.quantile`` per cell, as in memory, bit for bit. With fewer
maps than cells (``N < P``) the in-memory fit uses the ``N x N`` Gram matrix: the maps are
then read back whole (fewer numbers than the other case's ``P x P`` matrix) and fitted by
:func:`~xemu.variability.parametric_fit.fit_parameters` itself.

Memory: the Gram matrix, a chunk of rows and the tiles being filled (``budget`` bytes), a
few numbers per map; the maps themselves are on disk (the training targets' size, float32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .copula import QUANTILE_LEVELS, unit_quantiles
from .parametric_fit import (
    assemble_parameters,
    eof_signs,
    eof_weights,
    fit_parameters,
    lag1_from_sums,
    leading_modes,
)

__all__ = ["RowSpill", "MonthTiles", "streamed_parameters"]


class RowSpill:
    """The ``N`` training maps of ``P`` cells of one variable, float32, in the file ``path``.

    Written a range of rows at a time, in any order (``write``), read back in order (``read``,
    ``chunks``)."""

    def __init__(self, path: Path, n_rows: int, n_cells: int):
        self.path, self.n_rows, self.n_cells = Path(path), int(n_rows), int(n_cells)
        self._file = open(self.path, "w+b", buffering=0)  # noqa: SIM115 (closed by close())
        self._file.truncate(self.n_rows * self.n_cells * 4)
        self.rows_written = 0

    def write(self, r0: int, rows: np.ndarray) -> None:
        """Rows ``r0, r0 + 1, ...`` are ``rows`` ``(n, P)``."""
        data = np.ascontiguousarray(rows, dtype=np.float32)
        self._file.seek(r0 * self.n_cells * 4)
        _write_all(self._file, data)
        self.rows_written += data.shape[0]

    def read(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``[r0, r1)``, ``(r1 - r0, P)`` float32."""
        out = np.empty((r1 - r0, self.n_cells), np.float32)
        self._file.seek(r0 * self.n_cells * 4)
        _read_all(self._file, out)
        return out

    def chunks(self, size: int):
        """``(r0, rows)`` for each chunk of ``size`` rows, in order."""
        for r0 in range(0, self.n_rows, size):
            yield r0, self.read(r0, min(r0 + size, self.n_rows))

    def close(self) -> None:
        """Close the file (its folder is the caller's to remove)."""
        self._file.close()


class MonthTiles:
    """The maps of each calendar month of a residual file, in a file per month of tiles stored cell by cell.

    Each tile holds ``tile_rows`` rows, so that a group of cells is read without the others
    (``columns``)."""

    def __init__(self, folder: Path, name: str, n_cells: int, tile_rows: int):
        self._files = [open(Path(folder) / f"{name}.month{m + 1:02d}", "w+b", buffering=0)  # noqa: SIM115
                       for m in range(12)]
        self._buf = np.empty((12, max(1, int(tile_rows)), n_cells), np.float32)
        self._fill = [0] * 12
        self._tiles: list[list[int]] = [[] for _ in range(12)]  # rows of each tile written

    def add(self, m: int, rows: np.ndarray) -> None:
        """Append ``rows`` ``(n, P)`` to calendar month ``m`` (0..11)."""
        size = self._buf.shape[1]
        while rows.shape[0]:
            take = min(size - self._fill[m], rows.shape[0])
            self._buf[m, self._fill[m] : self._fill[m] + take] = rows[:take]
            self._fill[m] += take
            rows = rows[take:]
            if self._fill[m] == size:
                self._flush(m)

    def _flush(self, m: int) -> None:
        n = self._fill[m]
        if n:
            self._files[m].seek(0, 2)
            _write_all(self._files[m], np.ascontiguousarray(self._buf[m, :n].T))
            self._tiles[m].append(n)
            self._fill[m] = 0

    def rows(self, m: int) -> int:
        """The rows of calendar month ``m`` written (after :meth:`finish`)."""
        return sum(self._tiles[m])

    def finish(self) -> None:
        """Write the tiles still being filled; drop the buffer."""
        for m in range(12):
            self._flush(m)
        self._buf = np.empty((12, 0, self._buf.shape[2]), np.float32)

    def columns(self, m: int, c0: int, c1: int) -> np.ndarray:
        """The cells ``[c0, c1)`` of every map of calendar month ``m``, ``(N_m, c1 - c0)`` float32, in order."""
        n_cells, parts, offset = self._buf.shape[2], [], 0
        for n in self._tiles[m]:
            part = np.empty((c1 - c0, n), np.float32)
            self._files[m].seek(offset + c0 * n * 4)
            _read_all(self._files[m], part)
            parts.append(part.T)
            offset += n * n_cells * 4
        return np.concatenate(parts) if parts else np.empty((0, c1 - c0), np.float32)

    def close(self) -> None:
        """Close the files (their folder is the caller's to remove)."""
        for f in self._files:
            f.close()


def _write_all(f, data: np.ndarray) -> None:
    view = memoryview(data).cast("B")
    while view.nbytes:
        view = view[f.write(view):]


def _read_all(f, out: np.ndarray) -> None:
    view = memoryview(out).cast("B")
    while view.nbytes:
        n = f.readinto(view)
        if not n:
            raise OSError(f"{f.name}: ended early (the residuals' temporary file was changed while in use)")
        view = view[n:]


def streamed_parameters(spill: RowSpill, row_month: np.ndarray, pairs: np.ndarray, lat: np.ndarray, n_lon: int,
                        n_modes: int, kind: str, *, budget: int, folder: Path) -> dict[str, np.ndarray]:
    """The parameters :func:`~xemu.variability.parametric_fit.fit_parameters` fits to the maps of
    ``spill`` (``row_month``, ``pairs``: those of
    :func:`~xemu.variability.parametric_fit.training_rows`), from passes over its rows.

    ``budget``: bytes of a chunk of rows (in float64) and of the tiles being filled; ``folder``:
    where the tiles of a precipitation go. Equal to the in-memory fit's parameters to float
    rounding (the Gram matrix and the sums over PCs are added chunk by chunk); ``sigma`` and the
    quantiles bit for bit.
    """
    n, p = spill.n_rows, spill.n_cells
    if n < p:  # the in-memory fit's N x N Gram matrix: the maps, fewer numbers than a P x P one
        z = spill.read(0, n).astype(np.float64)
        return fit_parameters(z, row_month, pairs, lat, n_lon, n_modes, kind)
    rows = max(1, budget // (p * 8 * 4))
    tiles = MonthTiles(folder, spill.path.stem, p, budget // (12 * p * 4)) if kind == "precipitation" else None
    try:
        mu, sigma = _month_scales(spill, row_month, rows, tiles)
        quantiles = _quantiles(tiles, mu, sigma, budget) if tiles is not None else None
    finally:
        if tiles is not None:
            tiles.close()
    w = eof_weights(lat, n_lon)

    def standardised(r0: int, r: np.ndarray) -> np.ndarray:
        return _standardise(r, row_month[r0 : r0 + r.shape[0]], mu, sigma)

    gram = np.zeros((p, p))
    for r0, r in spill.chunks(rows):
        z = standardised(r0, r)
        gram += z.T @ z
    gram *= w[:, None] * w[None, :]
    vals, vecs = leading_modes(gram, n_modes)
    del gram
    weighted = w[:, None] * vecs
    is_pair = np.zeros(n, bool)
    is_pair[pairs] = True
    lam, phi, eofs, flip = _pc_pass(spill, rows, standardised, weighted, is_pair)
    sums, prev = np.zeros((3, p)), None
    for r0, r in spill.chunks(rows):  # the remainder z - pcs @ eofs, per cell
        z = standardised(r0, r)
        e = z - ((z @ weighted) * flip) @ eofs
        _add_pairs(sums, e, prev, r0, is_pair)
        prev = e[-1]
    return assemble_parameters(sigma, eofs, lam, phi, lag1_from_sums(*sums), quantiles)


def _standardise(r: np.ndarray, months: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Rows ``r`` (float32) standardised per calendar month as ``standardise`` does: ``(r - mu) / sigma``, 0 where sigma is 0."""
    z = r.astype(np.float64)
    for m in np.unique(months):
        sel = months == m
        with np.errstate(divide="ignore", invalid="ignore"):
            z[sel] = np.where(sigma[m] > 0, (z[sel] - mu[m]) / sigma[m], 0.0)
    return z


def _month_scales(spill: RowSpill, row_month: np.ndarray, rows: int, tiles: MonthTiles | None):
    """Mean and standard deviation (ddof 0; 0 for constant cells) per calendar month and cell, as
    ``standardise`` computes them; the tiles filled on the way."""
    p = spill.n_cells
    total, square, counts = np.zeros((12, p)), 0.0, np.bincount(row_month, minlength=12)
    for r0, r in spill.chunks(rows):
        months = row_month[r0 : r0 + r.shape[0]]
        z = r.astype(np.float64)
        square += float((z * z).sum())
        for m in np.unique(months):
            total[m] = _add_rows(total[m], z[months == m])
            if tiles is not None:
                tiles.add(int(m), r[months == m])
    if tiles is not None:
        tiles.finish()
    mu = total / counts[:, None]
    scale = np.sqrt(square / (spill.n_rows * p))
    sq = np.zeros((12, p))
    for r0, r in spill.chunks(rows):
        months = row_month[r0 : r0 + r.shape[0]]
        for m in np.unique(months):
            d = r[months == m].astype(np.float64) - mu[m]
            sq[m] = _add_rows(sq[m], d**2)
    sigma = np.sqrt(sq / counts[:, None])
    sigma[sigma <= 1e-9 * scale] = 0.0  # constant cells (float rounding aside)
    if not (sigma > 0).any():
        raise DataError("resid: every residual is constant per cell and calendar month; nothing to model")
    return mu, sigma


def _add_rows(total: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``total`` plus the rows one after another: the order in which ``rows.sum(0)`` adds them."""
    return np.concatenate([total[None], rows]).sum(0)


def _quantiles(tiles: MonthTiles, mu: np.ndarray, sigma: np.ndarray, budget: int) -> np.ndarray:
    """The standardised quantiles per calendar month and cell, a group of cells at a time."""
    p = mu.shape[1]
    out = np.zeros((12, QUANTILE_LEVELS.size, p))
    group = max(2, budget // (max(tiles.rows(m) for m in range(12)) * 8 * 4))
    bounds = [*range(0, p, group), p]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:  # no group of one cell: its sums over levels would
        del bounds[-2]  # be contiguous, added pairwise, not as in the in-memory (levels, P) array
    for m in range(12):
        for c0, c1 in zip(bounds[:-1], bounds[1:], strict=True):
            r = tiles.columns(m, c0, c1).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(sigma[m, c0:c1] > 0, (r - mu[m, c0:c1]) / sigma[m, c0:c1], 0.0)
            out[m, :, c0:c1] = unit_quantiles(np.quantile(z, QUANTILE_LEVELS, axis=0), QUANTILE_LEVELS)
    return out


def _pc_pass(spill: RowSpill, rows: int, standardised, weighted: np.ndarray, is_pair: np.ndarray):
    """The PCs' variances and pooled lag-1 autocorrelations, the EOF loadings and their signs."""
    k = weighted.shape[1]
    s2, sums, loadings, prev = np.zeros(k), np.zeros((3, k)), np.zeros((k, spill.n_cells)), None
    for r0, r in spill.chunks(rows):
        z = standardised(r0, r)
        pcs = z @ weighted
        s2 += (pcs**2).sum(0)
        loadings += pcs.T @ z
        _add_pairs(sums, pcs, prev, r0, is_pair)
        prev = pcs[-1]
    eofs = loadings / s2[:, None]  # least-squares loadings: exact even where w = 0
    flip = eof_signs(eofs)
    return s2 / spill.n_rows, lag1_from_sums(*sums), eofs * flip[:, None], flip


def _add_pairs(sums: np.ndarray, x: np.ndarray, prev: np.ndarray | None, r0: int, is_pair: np.ndarray) -> None:
    """Add to ``sums`` (in place) ``a * b``, ``a**2`` and ``b**2`` over the lag-1 pairs ``(a, b)`` of
    rows ``x`` (from row ``r0``) and the row before them, ``prev``."""
    ext = x if prev is None else np.concatenate([prev[None], x])
    first = r0 - (0 if prev is None else 1)
    i0 = np.nonzero(is_pair[first : r0 + x.shape[0] - 1])[0]
    a, b = ext[i0], ext[i0 + 1]
    sums[0] += (a * b).sum(0)
    sums[1] += (a**2).sum(0)
    sums[2] += (b**2).sum(0)
