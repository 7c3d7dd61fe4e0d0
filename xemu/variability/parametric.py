"""Stochastic internal variability: a parametric model of an emulator's residuals.

A deterministic emulator predicts the forced response. :class:`~xemu.variability.ResidualModel` is fitted to
its training residuals ``r = truth - prediction`` of one variable and draws noise that,
added to a prediction, looks like another ensemble member. With ``m`` the calendar month
of month ``t``, ``p`` a grid cell and ``mu``/``sigma`` the residuals' mean and standard
deviation per calendar month and cell (ddof 0):

* ``z_t(p) = (r_t(p) - mu_m(p)) / sigma_m(p)``, standardised residuals (0 where sigma is 0);
* ``z_t(p) = sum_j a_tj E_j(p) + e_t(p)``: EOFs ``E_j`` of ``z`` weighted by
  ``sqrt(cos lat)`` (at most ``n_modes``, capped by the rank), principal components
  ``a_j`` and a remainder ``e`` (the least-squares split: ``e`` is orthogonal to every PC);
* ``a_tj = phi_j a_(t-1)j + sqrt(lambda_j (1 - phi_j^2)) eps_tj``, ``lambda_j`` the PC's
  variance, ``phi_j`` its lag-1 autocorrelation;
* ``e_t(p) = psi_p e_(t-1)(p) + sqrt(v_p (1 - psi_p^2)) eta_t(p)``, independent per
  cell, with ``v_p = 1 - sum_j lambda_j E_j(p)^2``;
* ``additive``: ``noise_t(p) = sigma_m(p) z_t(p)``, sample ``= pred + noise``;
* ``precipitation``: a Gaussian copula, ``n_t(p) = sigma_m(p) Q_mp(Phi(z_t(p)))`` with
  ``Q_mp`` the empirical quantile function of ``z`` for that month and cell, and a
  latent variable censored at zero: sample ``= max(pred - c_t(p) + n_t(p), 0)``, where
  the shift ``c_t(p) >= 0`` solves ``E[max(pred - c + n, 0)] = pred`` (0 when
  ``pred >= sigma_m(p) |Q_mp(0)|``, i.e. when no draw can go negative).

``eps`` and ``eta`` are independent standard normals; every chain starts from its
stationary distribution.

What is matched
---------------
*Exactly, by construction (in the model's expectation):* the noise has mean 0 and
variance ``sigma_m(p)^2`` per cell and calendar month, for both kinds (for precipitation
before the censoring, which keeps the mean): ``v_p`` is defined
as the variance that the EOF part leaves (the PCs are simulated independent, each with
its fitted variance), so EOF part plus remainder is 1 in standardised units; for
precipitation, ``z`` is then standard normal, ``Phi(z)`` uniform, and the stored
quantiles are shifted and scaled so that the distribution they define has mean 0 and
variance 1 exactly. On the fitted data the split is exact too: ``v_p`` equals the
remainder's mean square ``mean(e_t(p)^2)`` (the orthogonal split of ``z``, whose mean
square is 1 per cell over the training months), except in cells where some calendar
month has ``sigma = 0``, whose remainder makes up what those months lack.

*Approximately:* the lag-1 autocorrelation per cell (the model's is
``sum_j lambda_j E_j(p)^2 phi_j + v_p psi_p``, see :attr:`ResidualModel.lag1`; lagged
cross-covariances between different PCs, and between PCs and the remainder, are
neglected), the spatial covariance (the leading ``n_modes`` EOFs, pooled over calendar
months, plus independent cells), and for precipitation the copula's nonlinearity, which
slightly lowers the correlations of skewed cells, and the censoring at zero, which lowers
the variance where the prediction is drier than the lowest residual allows.

Precipitation never goes negative and keeps its mean
----------------------------------------------------
Adding noise to a dry prediction could go below zero, and clipping at zero would raise
the mean. Instead, the sample is a *censored latent variable*: where ``pred`` is too small
for the lowest stored quantile, the latent value ``pred - c + n`` is lowered by just the
shift ``c`` for which the censored mean ``E[max(pred - c + n, 0)]`` is exactly ``pred``
(``c`` is solved in closed form from the piecewise-linear quantile function, per cell and
month, once per call). Draws below zero become exactly 0 (dry months); the shape and
scale of the upper tail are kept; the variance is lowered only by the censoring. A
prediction ``<= 0`` gives 0. The sample mean thus equals ``max(pred, 0)`` in expectation
(measured: relative biases of -0.1 % and -0.3 %, each within one standard error, for 200
realizations on the synthetic climate's prediction and on a fifth of it). Because
``sigma`` and the quantiles are pooled over the training months of a calendar month,
dry cells whose prediction varies a lot get more exact zeros than the climate model
has (CESM2 pr, ssp370: 4 % of the draws against 0.5 % of the truth).

NaNs in the residuals mark months that are not training months: a map that is entirely
NaN (for one sample and month) is skipped, and lag-1 pairs are only formed from two
consecutive calendar months of the same sample that are both present. A map that is
partly NaN, or any infinite value, is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.special import ndtr

from ..errors import DataError
from .copula import QUANTILE_LEVELS, censoring_shift, quantile_locator
from .parametric_fit import fit_parameters, training_rows
from .residuals import (
    as_series,
    check_months,
    check_params,
    check_sample,
    fit_series,
    float_dtype,
    grid_array,
    grid_dims,
    realizations,
    saved_params,
    with_units,
)

__all__ = ["ResidualModel"]

_FORMAT = 1
_VARIABLES = ("sigma", "eofs", "pc_variance", "pc_phi", "remainder_variance", "remainder_phi")
_LAT, _LON = "<lat>", "<lon>"
_DIMS = {
    "sigma": ("month", _LAT, _LON),
    "eofs": ("mode", _LAT, _LON),
    "pc_variance": ("mode",),
    "pc_phi": ("mode",),
    "remainder_variance": (_LAT, _LON),
    "remainder_phi": (_LAT, _LON),
    "quantiles": ("month", "quantile", _LAT, _LON),
}
_ATTRS = {
    "sigma": "standard deviation of the residuals per calendar month and cell (ddof 0)",
    "eofs": "EOF loadings of the standardised residuals (sqrt(cos lat)-weighted SVD, unweighted loadings)",
    "pc_variance": "variance of each principal component",
    "pc_phi": "lag-1 autocorrelation of each principal component (AR(1) coefficient)",
    "remainder_variance": "variance of the per-cell AR(1) remainder, 1 - sum_j pc_variance_j eofs_j^2",
    "remainder_phi": "lag-1 autocorrelation of the per-cell remainder (AR(1) coefficient)",
    "quantiles": "quantiles of the standardised residuals, shifted and scaled to mean 0 and variance 1",
}


class ResidualModel:
    """Internal variability of one variable: month- and cell-wise scale, EOFs with AR(1)
    principal components, an AR(1) remainder per cell, and a Gaussian copula for
    precipitation.

    Build one with :meth:`fit` (from residuals) or :meth:`from_dataset` (from saved
    parameters); draw with :meth:`sample`. The equations, and what is matched exactly and
    what approximately, are in the documentation of :mod:`xemu.variability.parametric`.

    Examples
    --------
    >>> import xemu
    >>> from xemu.variability import ResidualModel
    >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8)
    >>> model = ResidualModel.fit(ds.tas - ds.tas_forced, n_modes=5)
    >>> model
    ResidualModel(kind='additive', n_modes=5, grid=6x8)
    >>> draws = model.sample(ds.tas_forced, 3, seed=0)
    >>> draws.dims
    ('realization', 'scenario', 'time', 'lat', 'lon')
    """

    #: The residual model's name in ``fit(..., variability=...)``.
    method = "parametric"

    def __init__(self, params: xr.Dataset):
        # private: use fit() or from_dataset(), which validate ``params``
        self._ds = params
        self.kind: str = str(params.attrs["kind"])
        lat, lon = params.attrs["_lat"], params.attrs["_lon"]

        def order(name: str) -> np.ndarray:
            return params[name].values.astype(np.float64)

        ny, nx = params.sizes[lat], params.sizes[lon]
        self._shape = (ny, nx)
        p = ny * nx
        self._sigma = order("sigma").reshape(12, p)
        self._eofs = order("eofs").reshape(-1, p)
        self._lam = order("pc_variance")
        self._phi = order("pc_phi")
        self._v = order("remainder_variance").reshape(p)
        self._psi = order("remainder_phi").reshape(p)
        self._levels = self._q = None
        if self.kind == "precipitation":
            self._levels = params["quantile"].values.astype(np.float64)
            self._q = order("quantiles").reshape(12, self._levels.size, p)

    # ------------------------------------------------------------------ properties
    @property
    def n_modes(self) -> int:
        """The number of EOF modes kept (``n_modes`` capped by the rank of the residuals)."""
        return int(self._eofs.shape[0])

    @property
    def sigma(self) -> xr.DataArray:
        """Standard deviation of the residuals per calendar month and cell, on ``(month, lat, lon)``."""
        return self._ds["sigma"].copy()

    @property
    def eof_variance(self) -> xr.DataArray:
        """Fraction of each cell's (standardised) variance carried by the EOF part, on ``(lat, lon)``."""
        frac = (self._lam[:, None] * self._eofs**2).sum(0)
        return grid_array(self._ds, frac, "eof_variance", "fraction of variance in the EOF part", "1")

    @property
    def lag1(self) -> xr.DataArray:
        """The model's lag-1 autocorrelation per cell, on ``(lat, lon)``.

        ``sum_j lambda_j E_j(p)^2 phi_j + v_p psi_p``: the correlation of the noise of two
        consecutive months (exact for ``kind="additive"``, where the noise of a calendar
        month is ``sigma_m`` times a stationary series of variance 1; slightly weaker
        where the precipitation copula skews the noise).
        """
        rho = (self._lam[:, None] * self._eofs**2 * self._phi[:, None]).sum(0) + self._v * self._psi
        return grid_array(self._ds, rho, "lag1", "lag-1 autocorrelation of the noise implied by the model", "1")

    def __repr__(self) -> str:
        return (f"ResidualModel(kind={self.kind!r}, n_modes={self.n_modes}, "
                f"grid={self._shape[0]}x{self._shape[1]})")

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(
        cls,
        resid: xr.DataArray,
        *,
        n_modes: int = 40,
        kind: str = "additive",
        pred: xr.DataArray | None = None,
    ) -> ResidualModel:
        """Fit the model to residual maps ``truth - prediction`` of one variable.

        Parameters
        ----------
        resid : xarray.DataArray
            Residuals on a monthly time dimension (numpy datetimes or cftime), latitude and
            longitude (found by :mod:`xemu.data.coords`); every other dimension is a sample
            (e.g. ``ssp``, ``member_id``), whose series are separate for the lag-1
            autocorrelations. A map that is entirely NaN is skipped (not a training
            month); partly NaN maps and infinite values are refused. Dask-backed data are
            loaded.
        n_modes : int
            EOF modes to keep (at least 1); fewer are kept when the residuals' rank is
            lower.
        kind : {"additive", "precipitation"}
            ``"precipitation"`` adds the Gaussian copula of the residuals' empirical
            quantiles (skewness) and keeps samples non-negative (see
            :mod:`xemu.variability.parametric`).
        pred : xarray.DataArray, optional
            The predictions the residuals were taken from, on resid's dims or some of them
            (e.g. without the member dim). Only checked:
            for precipitation, ``pred + resid`` (the truth) must not be negative, which
            catches residuals taken the wrong way round or in other units.

        Returns
        -------
        ResidualModel

        Raises
        ------
        xemu.ConfigError
            ``n_modes`` or ``kind`` is invalid.
        xemu.DataError
            ``resid`` is not a DataArray, has partly NaN maps or infinite values, fewer
            than two maps for a calendar month, no two consecutive months, or is zero.

        Examples
        --------
        >>> import xemu
        >>> from xemu.variability import ResidualModel
        >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8)
        >>> model = ResidualModel.fit(ds.pr - ds.pr_forced, kind="precipitation", n_modes=5)
        >>> model.sigma.dims, model.n_modes
        (('month', 'lat', 'lon'), 5)
        """
        r, x, months, mindex, valid = fit_series(resid, kind, pred, "n_modes", n_modes)
        row_month, pairs = training_rows(valid, months, mindex)
        z = x[valid]  # (N, P) float64 copy
        del x
        arrays = fit_parameters(z, row_month, pairs, resid[r.latitude].values, resid.sizes[r.longitude], n_modes, kind)
        attrs = with_units({
            "kind": kind,
            "variable": "" if resid.name is None else str(resid.name),
            "n_modes_requested": int(n_modes),
            "n_maps": int(z.shape[0]),
            "n_lag1_pairs": int(pairs.size),
        }, resid)
        return cls.from_parameters(arrays, resid[r.latitude], resid[r.longitude], attrs)

    @classmethod
    def from_parameters(cls, arrays: dict[str, np.ndarray], lat: xr.DataArray, lon: xr.DataArray,
                        attrs: dict) -> ResidualModel:
        """The model of the parameters ``arrays`` on flat cells, as
        :func:`~xemu.variability.parametric_fit.fit_parameters` gives them, on the grid ``lat`` x
        ``lon``, with the attrs of :meth:`fit` (validated as :meth:`from_dataset` does): what
        :meth:`fit` and the streamed fit (:mod:`xemu.variability.streamed`) both end with."""
        shape = (lat.size, lon.size)
        arrays = {name: a if _DIMS[name][-1] != _LON else a.reshape(*a.shape[:-1], *shape) for name, a in arrays.items()}
        return cls.from_dataset(_build(arrays, lat, lon, QUANTILE_LEVELS, attrs))

    # ------------------------------------------------------------------ sample
    def sample(
        self,
        pred: xr.DataArray,
        n: int,
        *,
        seed: int | Sequence[int],
        realization_dim: str = "realization",
    ) -> xr.DataArray:
        """Draw ``n`` realizations of ``pred`` plus internal variability.

        Parameters
        ----------
        pred : xarray.DataArray
            The forced response on (time, latitude, longitude) and any sample dims (e.g.
            ``ssp``: each sample gets independent series). Its grid must be the fitted
            one; consecutive time steps are treated as consecutive months, and the
            calendar month of each step picks ``sigma`` (and the quantiles).
        n : int
            Number of realizations (at least 1).
        seed : int or sequence of int
            Seeds :class:`numpy.random.SeedSequence`; realization ``i`` draws from
            ``default_rng(SeedSequence(seed).spawn(n)[i])``, so it is the same for any
            ``n > i``. The same seed and ``pred`` shape give identical draws. Pass e.g.
            ``seed=(seed, k)`` for the ``k``-th variable, so variables do not share their
            random numbers.
        realization_dim : str
            Name of the new leading dimension (coordinate ``0..n-1``).

        Returns
        -------
        xarray.DataArray
            On ``(realization_dim, *pred.dims)`` with pred's coords, name and attrs (plus
            an ``xemu_variability`` note); pred's floating dtype (float64 otherwise). NaNs
            in ``pred`` stay NaN. For precipitation every value is ``>= 0`` and the mean
            over realizations is ``max(pred, 0)`` in expectation (a censored latent
            variable: see :mod:`xemu.variability.parametric`).

        Raises
        ------
        xemu.ConfigError
            ``n``, ``seed`` or ``realization_dim`` is invalid.
        xemu.GridError
            ``pred``'s grid is not the fitted one.
        xemu.UnitsError
            ``pred``'s units differ from the residuals'.

        Examples
        --------
        >>> import xemu
        >>> from xemu.variability import ResidualModel
        >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8).isel(scenario=0)
        >>> model = ResidualModel.fit(ds.tas - ds.tas_forced, n_modes=5)
        >>> a = model.sample(ds.tas_forced, 2, seed=1)
        >>> b = model.sample(ds.tas_forced, 2, seed=1)
        >>> a.sizes["realization"], bool((a == b).all())
        (2, True)
        """
        r = check_sample(self._ds, pred, n, seed, realization_dim)
        x, months, _ = as_series(pred, r, "pred")
        out = self._draw(x, months, int(n), seed, float_dtype(pred))
        return realizations(out, pred, r, realization_dim,
                             f"prediction plus internal variability drawn by xemu.variability.ResidualModel "
                             f"(kind={self.kind}, {self.n_modes} EOF modes, seed={seed!r})")

    def _draw(self, x: np.ndarray, months: np.ndarray, n: int, seed, dtype) -> np.ndarray:
        """Draws on (n, S, T, P): one pass over time, vectorised over realizations, samples, cells."""
        n_samples, n_time, p = x.shape
        k = self._eofs.shape[0]
        rngs = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(n)]
        sd_a, sd_e = np.sqrt(self._lam), np.sqrt(self._v)
        step_a = np.sqrt(self._lam * (1 - self._phi**2))
        step_e = np.sqrt(self._v * (1 - self._psi**2))
        precip = self.kind == "precipitation"
        if precip:
            base = np.maximum(x, 0.0)  # NaN stays NaN
            shift = self._censoring_shift(base, months)  # (S, T, P), 0 where nothing can go negative
            levels, cols = self._levels, np.arange(p)
            q_flat = self._q.reshape(12, -1)  # (12, levels * P): level-major
            slope = (np.diff(self._q, axis=1) / np.diff(levels)[:, None]).reshape(12, -1)
            locate = quantile_locator(levels)
        else:
            base = x
        out = np.empty((n, n_samples, n_time, p), dtype=dtype)
        first = np.stack([g.standard_normal((n_samples, k + p)) for g in rngs])
        a, e = first[..., :k] * sd_a, first[..., k:] * sd_e
        block = max(1, min(32, (1 << 22) // max(1, n * n_samples * (k + p))))
        innov = None
        for t in range(n_time):
            if t > 0:
                j = (t - 1) % block
                if j == 0:
                    nb = min(block, n_time - t)
                    innov = np.stack([g.standard_normal((nb, n_samples, k + p)) for g in rngs])
                a = self._phi * a + step_a * innov[:, j, :, :k]
                e = self._psi * e + step_e * innov[:, j, :, k:]
            z = a @ self._eofs + e if k else e.copy()  # (n, S, P)
            m = months[t]
            if precip:
                u = ndtr(z)  # uniform, then through the piecewise-linear quantile function
                i = locate(u)
                flat = i * p + cols
                z = np.take(q_flat[m], flat) + (u - np.take(levels, i)) * np.take(slope[m], flat)
                out[:, :, t] = np.maximum(base[:, t] - shift[:, t] + self._sigma[m] * z, 0.0)
            else:
                out[:, :, t] = base[:, t] + self._sigma[m] * z
        return out

    def _censoring_shift(self, base: np.ndarray, months: np.ndarray) -> np.ndarray:
        """The shift c >= 0 per (sample, time, cell) with E[max(base - c + sigma Q(U), 0)] = base."""
        shift = np.zeros_like(base)
        for m in range(12):
            steps = months == m
            if steps.any():
                shift[:, steps] = censoring_shift(base[:, steps], self._sigma[m], self._q[m], self._levels)
        return shift

    # ------------------------------------------------------------------ storage
    def to_dataset(self) -> xr.Dataset:
        """Every parameter as a labelled variable, ready for :meth:`xarray.Dataset.to_netcdf`.

        Variables: ``sigma`` (month, lat, lon), ``eofs`` (mode, lat, lon), ``pc_variance``
        and ``pc_phi`` (mode), ``remainder_variance`` and ``remainder_phi`` (lat, lon), and
        for precipitation ``quantiles`` (month, quantile, lat, lon) with the probability
        levels as the ``quantile`` coordinate. Attributes: ``kind``, ``variable``,
        ``units`` (when known), the fit's sizes and ``xemu_variability_format``.

        Examples
        --------
        >>> import xemu
        >>> from xemu.variability import ResidualModel
        >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8)
        >>> params = ResidualModel.fit(ds.tas - ds.tas_forced, n_modes=5).to_dataset()
        >>> sorted(params.data_vars)
        ['eofs', 'pc_phi', 'pc_variance', 'remainder_phi', 'remainder_variance', 'sigma']
        >>> ResidualModel.from_dataset(params)
        ResidualModel(kind='additive', n_modes=5, grid=6x8)
        """
        return saved_params(self._ds)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> ResidualModel:
        """Rebuild a model from :meth:`to_dataset`'s output, validated.

        The parameters are copied into memory (a lazily opened file can be closed after).

        Raises
        ------
        xemu.DataError
            Naming the variable: missing, on other dims, non-finite, ``sigma`` or a
            variance negative, ``|phi| >= 1``, quantiles decreasing, or a bad ``kind``.

        Examples
        --------
        >>> import xemu
        >>> from xemu.variability import ResidualModel
        >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8)
        >>> spoilt = ResidualModel.fit(ds.tas - ds.tas_forced, n_modes=5).to_dataset().drop_vars("pc_phi")
        >>> ResidualModel.from_dataset(spoilt)
        Traceback (most recent call last):
        ...
        xemu.errors.DataError: ds: missing variable 'pc_phi'; ...
        """
        kind = check_params(ds, "ResidualModel parameters")
        names = (*_VARIABLES, "quantiles") if kind == "precipitation" else _VARIABLES
        for name in names:
            if name not in ds.data_vars:
                raise DataError(f"ds: missing variable {name!r}; a {kind} ResidualModel needs {list(names)}, "
                                f"got {sorted(map(str, ds.data_vars))}")
        lat, lon = grid_dims(ds, "sigma")
        arrays = {name: _read_values(ds, name, lat, lon) for name in names}
        check_months(ds)
        levels = _check_values(ds, arrays, kind)
        attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("_")}
        return cls(_build(arrays, ds[lat], ds[lon], levels, attrs))


def _read_values(ds: xr.Dataset, name: str, lat: str, lon: str) -> np.ndarray:
    """Parameter ``name`` of saved parameters ``ds`` on its canonical dims, as finite float64
    numbers (a :class:`~xemu.DataError` naming it otherwise)."""
    want = tuple({_LAT: lat, _LON: lon}.get(d, d) for d in _DIMS[name])
    da = ds[name]
    if set(da.dims) != set(want) or da.ndim != len(want):
        raise DataError(f"ds.{name}: expected dims {want}; got {da.dims}")
    values = np.asarray(da.transpose(*want).values)
    if not np.issubdtype(values.dtype, np.number):
        raise DataError(f"ds.{name}: expected numbers; got dtype {values.dtype}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"ds.{name}: expected finite values; got {int((~np.isfinite(values)).sum())} "
                        f"NaN or infinite")
    return values


def _check_values(ds: xr.Dataset, arrays: dict[str, np.ndarray], kind: str) -> np.ndarray | None:
    """Check the values of saved parameters (at least one mode, variances >= 0, stationary
    AR(1) coefficients, increasing levels and non-decreasing quantiles); the quantile levels
    of a precipitation model (``None`` otherwise)."""
    if ds.sizes["mode"] < 1:
        raise DataError("ds.mode: expected at least one EOF mode; got 0")
    for name in ("sigma", "pc_variance", "remainder_variance"):
        if (arrays[name] < 0).any():
            raise DataError(f"ds.{name}: expected values >= 0; got minimum {arrays[name].min():g}")
    for name in ("pc_phi", "remainder_phi"):
        if (np.abs(arrays[name]) >= 1).any():
            raise DataError(f"ds.{name}: expected lag-1 autocorrelations with |phi| < 1 (a stationary "
                            f"AR(1)); got max |phi| {np.abs(arrays[name]).max():g}")
    if kind != "precipitation":
        return None
    levels = np.asarray(ds["quantile"].values if "quantile" in ds.coords else [], dtype=np.float64)
    if levels.size < 2 or not np.isfinite(levels).all() or levels[0] != 0 or levels[-1] != 1 \
            or (np.diff(levels) <= 0).any():
        raise DataError(f"ds.quantile: expected increasing probability levels from 0 to 1; got "
                        f"{levels.tolist()}")
    if (np.diff(arrays["quantiles"], axis=1) < 0).any():
        raise DataError("ds.quantiles: expected values non-decreasing along 'quantile'; some decrease")
    return levels


def _build(arrays: dict, lat: xr.DataArray, lon: xr.DataArray, levels, attrs: dict) -> xr.Dataset:
    """The parameter Dataset (canonical dims, float64, labelled coordinates)."""
    la, lo = str(lat.dims[0]), str(lon.dims[0])
    k = arrays["eofs"].shape[0]
    coords = {
        "month": ("month", np.arange(1, 13), {"long_name": "calendar month"}),
        "mode": ("mode", np.arange(k), {"long_name": "EOF mode"}),
        la: (la, np.asarray(lat.values), dict(lat.attrs)),
        lo: (lo, np.asarray(lon.values), dict(lon.attrs)),
    }
    if "quantiles" in arrays:
        coords["quantile"] = ("quantile", np.asarray(levels, dtype=np.float64),
                              {"long_name": "probability level of the stored quantiles"})
    units = attrs.get("units")
    data_vars = {}
    for name, values in arrays.items():
        dims = tuple({_LAT: la, _LON: lo}.get(d, d) for d in _DIMS[name])
        var_units = units if (name == "sigma" and units) else "1"
        data_vars[name] = (dims, np.array(values, dtype=np.float64), {"long_name": _ATTRS[name], "units": var_units})
    attrs = {
        **attrs,
        "xemu_variability_format": _FORMAT,
        "description": "parameters of xemu.variability.ResidualModel (see its documentation for the equations)",
        "_lat": la,
        "_lon": lo,
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
