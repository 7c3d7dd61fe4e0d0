"""Fitting :class:`~xemu.variability.ResidualModel`'s parameters to residual maps: the
training rows and lag-1 pairs, the standardisation per calendar month and cell, the
sqrt(cos lat)-weighted EOFs with their principal components, and the pooled lag-1
autocorrelations of the PCs and of the per-cell remainder (the equations are in
:mod:`xemu.variability.parametric`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import linalg
from scipy.sparse.linalg import eigsh

from ..data.grid import area_weights
from ..errors import DataError
from .copula import QUANTILE_LEVELS, unit_quantiles

__all__ = ["PHI_MAX", "training_rows", "fit_parameters", "standardise", "eof_modes", "eof_weights", "leading_modes",
           "eof_signs", "pooled_lag1", "remainder_lag1", "assemble_parameters", "lag1_from_sums"]

#: Lag-1 autocorrelations are clipped to ``[-PHI_MAX, PHI_MAX]`` when fitted.
PHI_MAX: float = 0.99


def training_rows(valid: np.ndarray, months: np.ndarray, mindex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The calendar month (0..11) of each training map (rows of ``x[valid]``: sample-major,
    time-ordered) and the lag-1 pairs ``(pairs, pairs + 1)`` of those rows: two consecutive
    months of one sample. A :class:`~xemu.DataError` when a calendar month has fewer than
    two maps or there is no pair."""
    rows_s, rows_t = np.nonzero(valid)  # sample-major, time-ordered
    row_month = months[rows_t]
    counts = np.bincount(row_month, minlength=12)
    if (counts < 2).any():
        raise DataError(
            f"resid: expected at least 2 finite maps for every calendar month; got "
            f"{dict(zip(range(1, 13), counts.tolist(), strict=True))}"
        )
    pairs = np.nonzero((rows_s[1:] == rows_s[:-1]) & (mindex[rows_t[1:]] - mindex[rows_t[:-1]] == 1))[0]
    if pairs.size == 0:
        raise DataError("resid: no two consecutive months of one sample are both finite; the lag-1 "
                        "autocorrelations cannot be estimated")
    return row_month, pairs


def fit_parameters(z: np.ndarray, row_month: np.ndarray, pairs: np.ndarray, lat: np.ndarray, n_lon: int,
                   n_modes: int, kind: str) -> dict[str, np.ndarray]:
    """The parameters of the training maps ``z`` (N, P), standardised in place, on flat cells:
    ``sigma`` (12, P), ``eofs`` (k, P), ``pc_variance`` and ``pc_phi`` (k,),
    ``remainder_variance`` and ``remainder_phi`` (P,), and for precipitation ``quantiles``
    (12, levels, P), in that order (the order of the saved variables)."""
    i0, i1 = pairs, pairs + 1
    sigma, quantiles = standardise(z, row_month, kind)
    eofs, pcs = eof_modes(z, lat, n_lon, n_modes)
    lam = (pcs**2).sum(0) / z.shape[0]
    phi = pooled_lag1(pcs, i0, i1)
    return assemble_parameters(sigma, eofs, lam, phi, remainder_lag1(z, pcs, eofs, i0, i1), quantiles)


def assemble_parameters(sigma: np.ndarray, eofs: np.ndarray, lam: np.ndarray, phi: np.ndarray, psi: np.ndarray,
                        quantiles: np.ndarray | None) -> dict[str, np.ndarray]:
    """The parameters of :func:`fit_parameters`, in its order, from the scale ``sigma``, the EOFs, the PCs'
    variances ``lam`` and lag-1 autocorrelations ``phi``, the remainder's ``psi`` and the quantiles; the
    remainder's variance is what the EOF part leaves."""
    eof_var = (lam[:, None] * eofs**2).sum(0)
    varying = (sigma > 0).any(0)
    v = np.where(varying, np.clip(1.0 - eof_var, 0.0, None), 0.0)
    out = {"sigma": sigma, "eofs": eofs, "pc_variance": lam, "pc_phi": phi, "remainder_variance": v,
           "remainder_phi": psi}
    if quantiles is not None:
        out["quantiles"] = quantiles
    return out


def remainder_lag1(z: np.ndarray, pcs: np.ndarray, eofs: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> np.ndarray:
    """The lag-1 autocorrelation per cell of the remainder ``z - pcs @ eofs``, a block of cells at a time."""
    psi = np.zeros(z.shape[1])
    for c in range(0, z.shape[1], 512):  # the remainder, a block of cells at a time
        cols = slice(c, c + 512)
        e = z[:, cols] - pcs @ eofs[:, cols]
        psi[cols] = pooled_lag1(e, i0, i1)
    return psi


def standardise(z: np.ndarray, row_month: np.ndarray, kind: str):
    """In place: z -> (z - mu) / sigma per calendar month; sigma (12, P) and the quantiles."""
    p = z.shape[1]
    sigma = np.zeros((12, p))
    quantiles = np.zeros((12, QUANTILE_LEVELS.size, p)) if kind == "precipitation" else None
    scale = np.sqrt(np.mean(z**2))
    for m in range(12):
        rows = row_month == m
        block = z[rows]
        block -= block.mean(0)
        sd = np.sqrt(np.mean(block**2, axis=0))
        sd[sd <= 1e-9 * scale] = 0.0  # constant cells (float rounding aside)
        with np.errstate(divide="ignore", invalid="ignore"):
            block = np.where(sd > 0, block / sd, 0.0)
        z[rows] = block
        sigma[m] = sd
        if quantiles is not None:
            quantiles[m] = unit_quantiles(np.quantile(block, QUANTILE_LEVELS, axis=0), QUANTILE_LEVELS)
    if not (sigma > 0).any():
        raise DataError("resid: every residual is constant per cell and calendar month; nothing to model")
    return sigma, quantiles


def eof_modes(z: np.ndarray, lat: np.ndarray, n_lon: int, n_modes: int) -> tuple[np.ndarray, np.ndarray]:
    """EOF loadings (k, P) and PCs (N, k) of z, sqrt(cos lat)-weighted, from the smaller Gram matrix."""
    n, p = z.shape
    w = eof_weights(lat, n_lon)
    if p <= n:
        gram = z.T @ z
        gram *= w[:, None] * w[None, :]
    else:
        gram = (z * w**2) @ z.T
    vals, vecs = leading_modes(gram, n_modes)
    pcs = z @ (w[:, None] * vecs) if p <= n else vecs * np.sqrt(vals)
    s2 = (pcs**2).sum(0)
    eofs = (pcs.T @ z) / s2[:, None]  # least-squares loadings: exact even where w = 0
    flip = eof_signs(eofs)
    return eofs * flip[:, None], pcs * flip


def eof_weights(lat: np.ndarray, n_lon: int) -> np.ndarray:
    """The weight sqrt(cos lat) of each cell, in (lat, lon) order, of the EOFs' Gram matrix."""
    w = np.sqrt(np.clip(area_weights(xr.DataArray(np.asarray(lat, float), dims="lat")).values, 0, None))
    return np.repeat(w, n_lon)


def leading_modes(gram: np.ndarray, n_modes: int) -> tuple[np.ndarray, np.ndarray]:
    """The leading (at most ``n_modes``) eigenvalues, decreasing, and eigenvectors of the Gram matrix
    ``gram``, those below 1e-10 of the first dropped; a :class:`~xemu.DataError` when it is zero."""
    size = gram.shape[0]
    k = min(n_modes, size)
    if size > 200 and k < size // 4:  # Lanczos: the leading few of a large matrix, to machine precision
        vals, vecs = eigsh(gram, k=k, v0=np.full(size, size**-0.5), tol=0)
    else:
        vals, vecs = linalg.eigh(gram, subset_by_index=[size - k, size - 1])
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    if not vals.size or vals[0] <= 0:
        raise DataError("resid: the standardised residuals are all zero; nothing to model")
    keep = vals > 1e-10 * vals[0]
    return vals[keep], vecs[:, keep]


def eof_signs(eofs: np.ndarray) -> np.ndarray:
    """The sign of each EOF's largest loading (the EOFs and PCs are multiplied by it)."""
    return np.sign(eofs[np.arange(eofs.shape[0]), np.abs(eofs).argmax(1)])


def pooled_lag1(x: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation per column over the pairs (i0, i1), pooled, clipped to +-PHI_MAX."""
    a, b = x[i0], x[i1]
    return lag1_from_sums((a * b).sum(0), (a**2).sum(0), (b**2).sum(0))


def lag1_from_sums(ab: np.ndarray, aa: np.ndarray, bb: np.ndarray) -> np.ndarray:
    """The pooled lag-1 autocorrelation of :func:`pooled_lag1` from the sums over the pairs (a, b)
    of ``a * b``, ``a**2`` and ``b**2``."""
    num = ab
    den = 0.5 * (aa + bb)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(den > 0, num / den, 0.0)
    return np.clip(phi, -PHI_MAX, PHI_MAX)
