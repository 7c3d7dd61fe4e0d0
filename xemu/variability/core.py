"""Stochastic internal variability: a parametric model of an emulator's residuals.

A deterministic emulator predicts the forced response. :class:`ResidualModel` is fitted to
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
from scipy import linalg
from scipy.sparse.linalg import eigsh
from scipy.special import ndtr

from ..data.coords import find_dim, roles
from ..data.encoding import month_of
from ..data.grid import area_weights
from ..errors import ConfigError, DataError, GridError, UnitsError, XemuError

__all__ = ["ResidualModel", "Variability", "variance_ratio", "calibrate", "keep_mean_clip", "apply", "OUTPUTS",
           "anchor_draws", "anchor_blocks", "anchor_years", "hold_block_means", "ANCHORS",
           "BLOCK_MONTHS", "KINDS",
           "QUANTILE_LEVELS", "PHI_MAX"]

#: The kinds of variable a :class:`ResidualModel` models.
KINDS: tuple[str, ...] = ("additive", "precipitation")

#: Probability levels of the stored quantiles (``kind="precipitation"``): the minimum (0),
#: 0.5 %, 1 %, 2.5 %, 5 %, 10 % to 90 % by 5 %, 95 %, 97.5 %, 99 %, 99.5 % and the maximum (1).
QUANTILE_LEVELS: np.ndarray = np.round(
    np.concatenate([[0.0, 0.005, 0.01, 0.025, 0.05], np.arange(0.10, 0.901, 0.05),
                    [0.95, 0.975, 0.99, 0.995, 1.0]]), 6
)

#: Lag-1 autocorrelations are clipped to ``[-PHI_MAX, PHI_MAX]`` when fitted.
PHI_MAX: float = 0.99

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
    what approximately, are in the documentation of :mod:`xemu.variability`.

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
        self._lat_dim, self._lon_dim = lat, lon
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
        return self._grid_array(frac, "eof_variance", "fraction of variance in the EOF part")

    @property
    def lag1(self) -> xr.DataArray:
        """The model's lag-1 autocorrelation per cell, on ``(lat, lon)``.

        ``sum_j lambda_j E_j(p)^2 phi_j + v_p psi_p``: the correlation of the noise of two
        consecutive months (exact for ``kind="additive"``, where the noise of a calendar
        month is ``sigma_m`` times a stationary series of variance 1; slightly weaker
        where the precipitation copula skews the noise).
        """
        rho = (self._lam[:, None] * self._eofs**2 * self._phi[:, None]).sum(0) + self._v * self._psi
        return self._grid_array(rho, "lag1", "lag-1 autocorrelation of the noise implied by the model")

    def _grid_array(self, values: np.ndarray, name: str, long_name: str) -> xr.DataArray:
        ds = self._ds
        return xr.DataArray(
            values.reshape(self._shape),
            dims=(self._lat_dim, self._lon_dim),
            coords={self._lat_dim: ds[self._lat_dim], self._lon_dim: ds[self._lon_dim]},
            name=name,
            attrs={"long_name": long_name, "units": "1"},
        )

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
            longitude (found by :mod:`xemu.coords`); every other dimension is a sample
            (e.g. ``ssp``, ``member_id``), whose series are separate for the lag-1
            autocorrelations. A map that is entirely NaN is skipped (not a training
            month); partly NaN maps and infinite values are refused. Dask-backed data are
            loaded.
        n_modes : int
            EOF modes to keep (at least 1); fewer are kept when the residuals' rank is
            lower.
        kind : {"additive", "precipitation"}
            ``"precipitation"`` adds the Gaussian copula of the residuals' empirical
            quantiles (skewness) and keeps samples non-negative (see :mod:`xemu.variability`).
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
        r, x, months, mindex, valid = _fit_series(resid, kind, pred, "n_modes", n_modes)
        rows_s, rows_t = np.nonzero(valid)  # sample-major, time-ordered
        z = x[valid]  # (N, P) float64 copy
        del x
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
        i0, i1 = pairs, pairs + 1

        sigma, quantiles = _standardise(z, row_month, kind)
        lat_values = resid[r.latitude].values
        eofs, pcs = _eofs(z, lat_values, resid.sizes[r.longitude], n_modes)
        n = z.shape[0]
        lam = (pcs**2).sum(0) / n
        phi = _lag1(pcs, i0, i1)
        eof_var = (lam[:, None] * eofs**2).sum(0)
        varying = (sigma > 0).any(0)
        v = np.where(varying, np.clip(1.0 - eof_var, 0.0, None), 0.0)
        psi = np.zeros(z.shape[1])
        for c in range(0, z.shape[1], 512):  # the remainder, a block of cells at a time
            cols = slice(c, c + 512)
            e = z[:, cols] - pcs @ eofs[:, cols]
            psi[cols] = _lag1(e, i0, i1)

        shape = (resid.sizes[r.latitude], resid.sizes[r.longitude])
        arrays = {
            "sigma": sigma.reshape(12, *shape),
            "eofs": eofs.reshape(-1, *shape),
            "pc_variance": lam,
            "pc_phi": phi,
            "remainder_variance": v.reshape(shape),
            "remainder_phi": psi.reshape(shape),
        }
        if quantiles is not None:
            arrays["quantiles"] = quantiles.reshape(12, QUANTILE_LEVELS.size, *shape)
        attrs = {
            "kind": kind,
            "variable": "" if resid.name is None else str(resid.name),
            "n_modes_requested": int(n_modes),
            "n_maps": int(n),
            "n_lag1_pairs": int(pairs.size),
        }
        units = resid.attrs.get("units")
        if isinstance(units, str) and units.strip():
            attrs["units"] = units
        params = _build(arrays, resid[r.latitude], resid[r.longitude], QUANTILE_LEVELS, attrs)
        return cls.from_dataset(params)

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
            variable: see :mod:`xemu.variability`).

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
        >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8)
        >>> model = ResidualModel.fit(ds.tas - ds.tas_forced, n_modes=5)
        >>> a = model.sample(ds.tas_forced.isel(scenario=0), 2, seed=1)
        >>> b = model.sample(ds.tas_forced.isel(scenario=0), 2, seed=1)
        >>> a.sizes["realization"], bool((a == b).all())
        (2, True)
        """
        r = _check_sample(self._ds, pred, n, seed, realization_dim)
        x, months, _ = _as_series(pred, r, "pred")
        out = self._draw(x, months, int(n), seed, _float_dtype(pred))
        return _realizations(out, pred, r, realization_dim,
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
            locate = _locator(levels)
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
                shift[:, steps] = _shift(base[:, steps], self._sigma[m], self._q[m], self._levels)
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
        ds = self._ds.copy(deep=True)
        ds.attrs = {k: v for k, v in ds.attrs.items() if k not in ("_lat", "_lon")}
        return ds

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
        >>> params = ResidualModel.fit(ds.tas - ds.tas_forced, n_modes=5).to_dataset()
        >>> ResidualModel.from_dataset(params.drop_vars("pc_phi"))
        Traceback (most recent call last):
        ...
        xemu.errors.DataError: ds: missing variable 'pc_phi'; ...
        """
        if not isinstance(ds, xr.Dataset):
            raise DataError(f"ds: expected an xarray.Dataset of ResidualModel parameters; got {type(ds).__name__}")
        kind = ds.attrs.get("kind")
        if kind not in KINDS:
            raise DataError(f"ds.attrs['kind']: expected one of {list(KINDS)}; got {kind!r}")
        names = (*_VARIABLES, "quantiles") if kind == "precipitation" else _VARIABLES
        for name in names:
            if name not in ds.data_vars:
                raise DataError(f"ds: missing variable {name!r}; a {kind} ResidualModel needs {list(names)}, "
                                f"got {sorted(map(str, ds.data_vars))}")
        lat, lon = _grid_dims(ds, "sigma")
        arrays = {}
        for name in names:
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
            arrays[name] = values
        _check_months(ds)
        if ds.sizes["mode"] < 1:
            raise DataError("ds.mode: expected at least one EOF mode; got 0")
        for name in ("sigma", "pc_variance", "remainder_variance"):
            if (arrays[name] < 0).any():
                raise DataError(f"ds.{name}: expected values >= 0; got minimum {arrays[name].min():g}")
        for name in ("pc_phi", "remainder_phi"):
            if (np.abs(arrays[name]) >= 1).any():
                raise DataError(f"ds.{name}: expected lag-1 autocorrelations with |phi| < 1 (a stationary "
                                f"AR(1)); got max |phi| {np.abs(arrays[name]).max():g}")
        levels = None
        if kind == "precipitation":
            levels = np.asarray(ds["quantile"].values if "quantile" in ds.coords else [], dtype=np.float64)
            if levels.size < 2 or not np.isfinite(levels).all() or levels[0] != 0 or levels[-1] != 1 \
                    or (np.diff(levels) <= 0).any():
                raise DataError(f"ds.quantile: expected increasing probability levels from 0 to 1; got "
                                f"{levels.tolist()}")
            if (np.diff(arrays["quantiles"], axis=1) < 0).any():
                raise DataError("ds.quantiles: expected values non-decreasing along 'quantile'; some decrease")
        attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("_")}
        return cls(_build(arrays, ds[lat], ds[lon], levels, attrs))


# ---------------------------------------------------------------------- helpers
def _map_roles(da: xr.DataArray, name: str):
    r = roles(da, name=name)
    if r.time is None:
        find_dim(da, "time", name=name)  # raises with the explanation
    if r.spatial is None:
        find_dim(da, "latitude", name=name)
    return r


def _as_series(da: xr.DataArray, r, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values on (samples, time, cells) in float64, calendar month 0..11 and a month count per step."""
    order = (*r.sample, r.time, r.latitude, r.longitude)
    values = np.asarray(da.transpose(*order).values, dtype=np.float64)
    n_time, p = da.sizes[r.time], da.sizes[r.latitude] * da.sizes[r.longitude]
    time = da[r.time]
    months = month_of(time).values.astype(np.int64) - 1
    mindex = time.dt.year.values.astype(np.int64) * 12 + months
    return values.reshape(-1, n_time, p), months, mindex


def _sample_label(da: xr.DataArray, r, s: int) -> str:
    if not r.sample:
        return "-"
    index = np.unravel_index(s, tuple(da.sizes[d] for d in r.sample))
    return ", ".join(f"{d}={da[d].values[i] if d in da.coords else i}" for d, i in zip(r.sample, index, strict=True))


def _grid_dims(ds: xr.Dataset, name: str) -> tuple[str, str]:
    """The latitude and longitude dims of a residual model's parameter ``name`` (a
    :class:`~xemu.DataError` when they cannot be found)."""
    try:
        return find_dim(ds[name], "latitude", name=f"ds.{name}"), find_dim(ds[name], "longitude", name=f"ds.{name}")
    except XemuError as err:
        raise DataError(str(err)) from None


def _check_months(ds: xr.Dataset) -> None:
    """A residual model's parameters have the calendar months 1..12 as their ``month`` coordinate."""
    if ds.sizes["month"] != 12 or "month" not in ds.coords or \
            not np.array_equal(ds["month"].values, np.arange(1, 13)):
        got = ds["month"].values.tolist() if "month" in ds.coords else f"{ds.sizes['month']} unlabelled"
        raise DataError(f"ds.month: expected the calendar months 1..12; got {got}")


def _fit_series(resid, kind: str, pred, count_name: str, count):
    """Check the arguments of a residual model's ``fit`` (``count_name``: an integer >= 1);
    resid's roles, its series (S, T, P) in float64, calendar months, month counts and the
    (S, T) training maps (see :func:`_training_maps`)."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ConfigError(f"{count_name}: expected an integer >= 1; got {count!r}")
    if kind not in KINDS:
        raise ConfigError(f"kind: expected one of {list(KINDS)}; got {kind!r}")
    if not isinstance(resid, xr.DataArray):
        raise DataError(f"resid: expected an xarray.DataArray of residual maps; got {type(resid).__name__}")
    r = _map_roles(resid, "resid")
    x, months, mindex = _as_series(resid, r, "resid")
    if pred is not None:
        _check_fit_pred(pred, resid, kind)
    return r, x, months, mindex, _training_maps(x, resid, r)


def _training_maps(x: np.ndarray, resid: xr.DataArray, r) -> np.ndarray:
    """(samples, time) bool: the finite maps of residual series ``x`` (S, T, P); partly NaN
    maps and infinite values are refused (a :class:`~xemu.DataError` naming the first)."""
    if np.isinf(x).any():
        raise DataError(f"resid: {int(np.isinf(x).sum())} infinite values; expected finite residuals "
                        f"(or whole maps of NaN for months that are not training months)")
    finite = np.isfinite(x)
    valid = finite.all(-1)
    partial = finite.any(-1) & ~valid
    if partial.any():
        s, t = (int(i[0]) for i in np.nonzero(partial))
        raise DataError(
            f"resid: {int(partial.sum())} maps are partly NaN (first: sample {_sample_label(resid, r, s)}, "
            f"time {resid[r.time].values[t]}); expected each map all finite (a training month) or all "
            f"NaN (skipped)"
        )
    return valid


def _check_sample(params: xr.Dataset, pred, n, seed, realization_dim):
    """Check the arguments of a residual model's ``sample`` and pred's grid and units against
    the model's ``params`` (attrs ``_lat``, ``_lon``, ``units``); pred's roles."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"n: expected an integer >= 1 (number of realizations); got {n!r}")
    _check_seed(seed)
    if not isinstance(pred, xr.DataArray):
        raise DataError(f"pred: expected an xarray.DataArray; got {type(pred).__name__}")
    if not isinstance(realization_dim, str) or not realization_dim or realization_dim in pred.dims:
        raise ConfigError(f"realization_dim: expected a new dimension name (pred has dims {pred.dims}); "
                          f"got {realization_dim!r}")
    r = _map_roles(pred, "pred")
    for dim, own in ((r.latitude, params.attrs["_lat"]), (r.longitude, params.attrs["_lon"])):
        mine, theirs = params[own].values, pred[dim].values
        if theirs.shape != mine.shape or not np.allclose(theirs, mine, atol=1e-6, rtol=0):
            raise GridError(
                f"pred: {dim} ({theirs.size} values, {theirs[0]:g} .. {theirs[-1]:g}) differs from the "
                f"fitted grid's {own} ({mine.size} values, {mine[0]:g} .. {mine[-1]:g}); predict on "
                f"the grid the model was fitted on"
            )
    mine, theirs = params.attrs.get("units"), pred.attrs.get("units")
    if mine and isinstance(theirs, str) and theirs.strip() and theirs != mine:
        from ..data.units import parse_units

        if parse_units(theirs, name="pred") != parse_units(mine, name="model units"):
            raise UnitsError(f"pred: units {theirs!r} differ from the residuals' {mine!r}; convert pred "
                             f"first (xemu.units.convert_units)")
    return r


def _float_dtype(pred: xr.DataArray) -> np.dtype:
    return pred.dtype if np.issubdtype(pred.dtype, np.floating) else np.dtype(np.float64)


def _realizations(out: np.ndarray, pred: xr.DataArray, r, realization_dim: str, note: str) -> xr.DataArray:
    """Draws ``out`` (n, S, T, P) as a DataArray on ``(realization_dim, *pred.dims)`` with
    pred's coords, name and attrs (plus ``xemu_variability``: ``note``)."""
    order = (*r.sample, r.time, r.latitude, r.longitude)
    shaped = out.reshape(out.shape[0], *(pred.sizes[d] for d in order))
    coords = dict(pred.coords)
    coords[realization_dim] = xr.Variable(realization_dim, np.arange(out.shape[0]),
                                          {"long_name": "stochastic realization"})
    da = xr.DataArray(shaped, dims=(realization_dim, *order), coords=coords, name=pred.name,
                      attrs={**pred.attrs, "xemu_variability": note})
    return da.transpose(realization_dim, *pred.dims)


def _check_fit_pred(pred, resid: xr.DataArray, kind: str) -> None:
    if not isinstance(pred, xr.DataArray):
        raise DataError(f"pred: expected an xarray.DataArray or None; got {type(pred).__name__}")
    if not set(pred.dims) <= set(resid.dims) or any(pred.sizes[d] != resid.sizes[d] for d in pred.dims):
        raise DataError(f"pred: expected dims and sizes among resid's {dict(resid.sizes)}; got {dict(pred.sizes)}")
    if kind == "precipitation":
        try:
            truth = xr.align(pred.astype(np.float64), resid.astype(np.float64), join="exact")
        except ValueError as err:
            raise DataError(f"pred: coordinates differ from resid's ({err})") from None
        truth = (truth[0] + truth[1]).values
        scale = float(np.nanmax(np.abs(pred.values))) if np.isfinite(pred.values).any() else 0.0
        bad = truth < -1e-4 * max(scale, 1e-12)
        if bad.any():
            raise DataError(
                f"pred: pred + resid (the truth) is negative at {int(bad.sum())} points (minimum "
                f"{np.nanmin(truth):g}); expected resid = truth - pred of a precipitation, in pred's units"
            )


def _standardise(z: np.ndarray, row_month: np.ndarray, kind: str):
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
            quantiles[m] = _unit_quantiles(np.quantile(block, QUANTILE_LEVELS, axis=0), QUANTILE_LEVELS)
    if not (sigma > 0).any():
        raise DataError("resid: every residual is constant per cell and calendar month; nothing to model")
    return sigma, quantiles


def _unit_quantiles(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
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


def _shift(base: np.ndarray, sigma: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
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


def _eofs(z: np.ndarray, lat: np.ndarray, n_lon: int, n_modes: int) -> tuple[np.ndarray, np.ndarray]:
    """EOF loadings (k, P) and PCs (N, k) of z, sqrt(cos lat)-weighted, from the smaller Gram matrix."""
    n, p = z.shape
    w = np.sqrt(np.clip(area_weights(xr.DataArray(np.asarray(lat, float), dims="lat")).values, 0, None))
    w = np.repeat(w, n_lon)  # per cell, (lat, lon) order
    if p <= n:
        gram = z.T @ z
        gram *= w[:, None] * w[None, :]
    else:
        gram = (z * w**2) @ z.T
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
    vals, vecs = vals[keep], vecs[:, keep]
    pcs = z @ (w[:, None] * vecs) if p <= n else vecs * np.sqrt(vals)
    s2 = (pcs**2).sum(0)
    eofs = (pcs.T @ z) / s2[:, None]  # least-squares loadings: exact even where w = 0
    flip = np.sign(eofs[np.arange(eofs.shape[0]), np.abs(eofs).argmax(1)])
    return eofs * flip[:, None], pcs * flip


def _lag1(x: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation per column over the pairs (i0, i1), pooled, clipped to +-PHI_MAX."""
    a, b = x[i0], x[i1]
    num = (a * b).sum(0)
    den = 0.5 * ((a**2).sum(0) + (b**2).sum(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(den > 0, num / den, 0.0)
    return np.clip(phi, -PHI_MAX, PHI_MAX)


def _locator(levels: np.ndarray):
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


def _check_seed(seed) -> None:
    items = seed if isinstance(seed, list | tuple) else [seed]
    ok = len(items) > 0 and all(
        isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0 for s in items
    )
    if not ok:
        raise ConfigError(f"seed: expected a non-negative integer or a sequence of them; got {seed!r}")


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


# -- what an emulator keeps: the variance ratio (calibration) and a residual model per target
#: Months per block over which the variance ratio of a calibrated prediction is measured (a
#: decade: the span over which the study's time-stddev metric is taken).
BLOCK_MONTHS = 120


def variance_ratio(truth: xr.DataArray, pred: xr.DataArray, *, block: int = BLOCK_MONTHS) -> xr.DataArray:
    """Per cell, ``sqrt(mean var(truth) / mean var(pred))`` over blocks of ``block`` months.

    The variances are taken over the months of each block of consecutive months of each
    sample (e.g. each scenario and member) and averaged over blocks; a block with a missing
    month (NaN in ``truth``: not a training month) is left out of both means. ``pred`` is
    broadcast against ``truth`` (it may lack the member dim).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = xr.date_range("2000-01-01", periods=240, freq="MS", use_cftime=True)
    >>> rng = np.random.default_rng(0)
    >>> truth = xr.DataArray(rng.standard_normal((240, 2, 3)) * 2, coords={"time": t, "lat": [0.0, 10], "lon": [0.0, 1, 2]})
    >>> pred = truth * 0 + rng.standard_normal((240, 2, 3))
    >>> float(variance_ratio(truth, pred).mean().round(1))
    2.0
    """
    r = roles(truth, name="truth")
    if r.time is None or r.spatial is None:
        raise DataError(f"truth: expected maps with a time dimension; got dims {truth.dims}")
    if truth.sizes[r.time] < block:
        raise DataError(f"truth: {truth.sizes[r.time]} months; the variance ratio needs blocks of {block}")
    pred = pred.broadcast_like(truth).where(truth.notnull())

    def block_var(da):
        blocks = da.coarsen({r.time: block}, boundary="trim").construct({r.time: ("block", "month_in_block")})
        return blocks.var("month_in_block", skipna=False)

    vt, vp = block_var(truth), block_var(pred)
    over = [d for d in vt.dims if d not in (r.latitude, r.longitude)]
    ratio = np.sqrt(vt.mean(over, skipna=True) / vp.mean(over, skipna=True))
    ratio = ratio.where(np.isfinite(ratio) & (ratio > 0), 1.0)  # a constant prediction is left as it is
    ratio.attrs = {"long_name": f"ratio of the truth's to the prediction's standard deviation over {block} months",
                   "units": "1"}
    return ratio.rename("variance_ratio")


def calibrate(pred: xr.DataArray, ratio: xr.DataArray, *, block: int = BLOCK_MONTHS,
              non_negative: bool = False) -> xr.DataArray:
    """Stretch ``pred``'s deviations from its running mean by ``ratio`` (per cell).

    ``out = m + ratio * (pred - m) + c`` with ``m`` the centred running mean of ``pred``
    over ``block`` months (shorter at the ends) and ``c`` the per-cell constant that keeps
    the time mean of ``pred`` over all its months exactly: the month-to-month standard
    deviation becomes the truth's, as measured on training data by :func:`variance_ratio`,
    and the mean of what was asked for does not move.

    ``non_negative`` (precipitation): where the stretch goes below 0, the result is
    ``max(out - s, 0)`` with the per-cell shift ``s >= 0`` for which its time mean is still
    exactly ``pred``'s (:func:`keep_mean_clip`): dry months become 0 and the cell's other
    months are lowered by what that added, so the time mean never moves. Measured on
    training data only (``benchmarks/variability.py --cnn-gru``, an inner split: ssp585
    member 1's last decade held out) against a plain clip at 0 (which raises the mean of
    dry cells) and a rescaling after the clip: for xemu's CNN-GRU the shift scored closest
    to the climate model (pr monthly RMSE / time-mean RMSE / time-stddev MAE 2.340 / 0.316
    / 0.254, score 0.640, against 2.355 / 0.341 / 0.254 and 0.653 clipped, 2.326 / 0.316 /
    0.258 and 0.641 rescaled); for linear pattern scaling the plain clip scored better
    (0.698 against 0.705; the clip lowers its pr time-mean RMSE from 0.309 to 0.301: its
    forced response is too dry in dry cells). See
    ``benchmarks/RESULTS.md``.
    """
    time = find_dim(pred, "time", name="pred")
    m = pred.rolling({time: block}, center=True, min_periods=1).mean()
    out = m + ratio * (pred - m)
    target = pred.mean(time)
    out = out + (target - out.mean(time))
    if non_negative:
        out = xr.apply_ufunc(keep_mean_clip, out, target, input_core_dims=[[time], []], output_core_dims=[[time]],
                             dask="parallelized", output_dtypes=[out.dtype],
                             dask_gufunc_kwargs={"allow_rechunk": True}).transpose(*out.dims)
    out.attrs = dict(pred.attrs)
    return out.astype(pred.dtype)


#: Named values of ``anchor`` (``predict(..., samples=n, anchor=...)``) and their years.
ANCHORS: dict[str, int] = {"decade": 10}


def anchor_years(anchor) -> int | None:
    """The block length in years named by ``anchor``: ``None``, ``"decade"`` (10) or an
    integer >= 1 (a :class:`~xemu.ConfigError` naming ``anchor`` otherwise)."""
    if anchor is None:
        return None
    if isinstance(anchor, str) and anchor in ANCHORS:
        return ANCHORS[anchor]
    if not isinstance(anchor, bool) and isinstance(anchor, int | np.integer) and anchor >= 1:
        return int(anchor)
    raise ConfigError(f"anchor: expected None, one of {list(ANCHORS)} or a number of years >= 1; got {anchor!r}")


def anchor_blocks(year: np.ndarray, years: int) -> np.ndarray:
    """The block of each month of a monthly series from its calendar ``year``: blocks of
    ``years`` calendar years that start in a year divisible by ``years`` (for 10, the
    decades 2080-2089, 2090-2099, ...). A first or last piece shorter than half a block
    (fewer than ``6 * years`` months) joins its neighbour, so that no short stretch is held
    to its prediction's mean.

    Examples
    --------
    >>> import numpy as np
    >>> year = np.repeat(np.arange(2083, 2101), 12)[1:-11]  # 2083-02 .. 2100-01
    >>> blocks = anchor_blocks(year, 10)
    >>> [(int(year[blocks == b][0]), int(year[blocks == b][-1]), int((blocks == b).sum())) for b in np.unique(blocks)]
    [(2083, 2089, 83), (2090, 2100, 121)]
    """
    block = np.asarray(year, dtype=np.int64) // int(years)
    ids = np.unique(block)
    half = 6 * int(years)
    if ids.size > 1 and np.count_nonzero(block == ids[0]) < half:
        block = np.where(block == ids[0], ids[1], block)
        ids = ids[1:]
    if ids.size > 1 and np.count_nonzero(block == ids[-1]) < half:
        block = np.where(block == ids[-1], ids[-2], block)
    return block


def anchor_draws(draws: xr.DataArray, pred: xr.DataArray, years: int | str, *,
                 non_negative: bool = False) -> xr.DataArray:
    """Shift each draw so that its mean over each block of :func:`anchor_blocks` is ``pred``'s.

    Within a block, every month of a draw moves by the same amount per cell: the draw's
    anomalies from its block mean, and so its month-to-month and year-to-year variability
    inside the block, are kept; what goes is the variability of the block means themselves
    (for ``"decade"``: decadal variability), which the ensemble then no longer spreads.
    ``non_negative`` (precipitation): the shift is :func:`keep_mean_clip`'s, so draws stay
    ``>= 0`` and the block mean is still exactly ``max(pred's block mean, 0)``.

    Examples
    --------
    >>> import xemu
    >>> from xemu.bootstrap import BlockBootstrap
    >>> ds = xemu.synthetic_climate(n_years=30, n_lat=6, n_lon=8).isel(scenario=0)
    >>> draws = BlockBootstrap.fit(ds.tas - ds.tas_forced).sample(ds.tas_forced, 3, seed=0)
    >>> held = anchor_draws(draws, ds.tas_forced, 10)
    >>> decade = ds.time.dt.year // 10
    >>> gap = (held.groupby(decade).mean("time") - ds.tas_forced.groupby(decade).mean("time"))
    >>> bool(abs(gap).max() < 1e-3)  # K, float32 maps near 288 K
    True
    """
    length = anchor_years(years)
    if length is None:
        raise ConfigError("years: expected 'decade' or a number of years >= 1; got None")
    time = find_dim(pred, "time", name="pred")
    out = hold_block_means(draws, pred, anchor_blocks(pred[time].dt.year.values, length), non_negative=non_negative)
    out.attrs["xemu_anchor"] = (f"each draw's mean over each block of {length} calendar years is the prediction's "
                                f"(xemu.variability.anchor_draws)")
    return out


def hold_block_means(draws: xr.DataArray, pred: xr.DataArray, block: np.ndarray, *,
                     non_negative: bool = False) -> xr.DataArray:
    """What :func:`anchor_draws` does, for any blocks: ``block`` labels each time step of
    ``pred``; each draw is shifted per block (and cell) so that its block mean is ``pred``'s."""
    time = find_dim(pred, "time", name="pred")
    block = np.asarray(block)
    if block.shape != (pred.sizes[time],):
        raise ConfigError(f"block: expected one label per time step of pred ({pred.sizes[time]}); "
                          f"got shape {block.shape}")
    missing = [d for d in pred.dims if d not in draws.dims]
    if missing:
        raise DataError(f"draws: expected pred's dims {list(pred.dims)} and the realizations'; missing {missing}")
    order = [d for d in draws.dims if d != time] + [time]
    x = np.array(draws.transpose(*order).values)  # a copy, in the draws' dtype
    # pred on the draws' order, with length-1 axes for the draws' own dims (the realizations)
    p = np.asarray(pred.transpose(*[d for d in order if d in pred.dims]).values)
    p = p.reshape([pred.sizes[d] if d in pred.dims else 1 for d in order])
    for b in np.unique(block):
        at = np.flatnonzero(block == b)
        target = p[..., at].mean(-1, dtype=np.float64)
        seg = x[..., at].astype(np.float64)
        seg += (target - seg.mean(-1))[..., None]
        x[..., at] = keep_mean_clip(seg, target) if non_negative else seg
    out = xr.DataArray(x, dims=order, coords=draws.coords, name=draws.name, attrs=dict(draws.attrs))
    return out.transpose(*draws.dims)


def keep_mean_clip(x: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
    """``max(x - s, 0)`` along the last axis, with the shift ``s >= 0`` per series for which
    the mean over the last axis is ``max(mean, 0)`` (0 where nothing goes below 0).

    Exact, from the series sorted in decreasing order: with the ``k`` largest values above
    ``s``, the mean is ``(sum of them - k s) / n``, so ``s = (sum - n mean) / k`` for the
    ``k`` at which ``s`` falls between the ``k``-th and the ``k + 1``-th value. NaN in a
    series gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([-1.0, 1.0, 3.0])  # mean 1
    >>> keep_mean_clip(x, 1.0)
    array([0. , 0.5, 2.5])
    >>> keep_mean_clip(np.array([1.0, 2.0]), 1.5)  # nothing below 0: unchanged
    array([1., 2.])
    """
    x = np.asarray(x)
    mean = np.maximum(np.broadcast_to(np.asarray(mean, dtype=np.float64), x.shape[:-1]), 0.0)
    n = x.shape[-1]
    xs = -np.sort(-x.astype(np.float64), axis=-1)  # decreasing
    k = np.arange(1, n + 1)
    shift = (np.cumsum(xs, axis=-1) - n * mean[..., None]) / k
    below = np.concatenate([xs[..., 1:], np.full((*x.shape[:-1], 1), -np.inf)], axis=-1)
    ok = (shift >= below) & (shift <= xs)  # the k largest values stay above the shift
    s = np.take_along_axis(shift, ok.argmax(-1)[..., None], -1)[..., 0]
    s = np.where(ok.any(-1) & (xs[..., -1] < 0), np.maximum(s, 0.0), 0.0)
    return np.maximum(x - s[..., None].astype(x.dtype), 0).astype(x.dtype)


class Variability:
    """Internal variability an emulator learned from its training residuals, per target.

    Holds, per target variable, the :func:`variance_ratio` used by the variability-aware
    deterministic prediction (:func:`calibrate`) and a residual model for stochastic
    samples (:class:`~xemu.bootstrap.BlockBootstrap` by default, or :class:`ResidualModel`).
    Made by :meth:`fit` at the end of an emulator's fit; saved as one netCDF Dataset
    (:meth:`to_dataset`, :meth:`from_dataset`).
    """

    def __init__(self, ratios: dict[str, xr.DataArray], models: dict[str, ResidualModel], block: int):
        self.ratios, self.models, self.block = ratios, models, int(block)

    def __repr__(self) -> str:
        models = ", ".join(f"{name}={model!r}" for name, model in self.models.items())
        return f"Variability(calibration block {self.block} months; {models})"

    @property
    def targets(self) -> list[str]:
        return list(self.models)

    @classmethod
    def fit(cls, truth: xr.Dataset, pred: xr.Dataset, *, block: int = BLOCK_MONTHS, n_modes: int = 40,
            method: str = "bootstrap", max_years: int | None = None) -> Variability:
        """From training ``truth`` (NaN outside the training months) and the in-sample ``pred``.

        ``method`` is the residual model of the samples: ``"bootstrap"`` (the default,
        :class:`~xemu.bootstrap.BlockBootstrap`, keeping at most ``max_years`` years,
        :data:`~xemu.bootstrap.MAX_YEARS` by default) or ``"parametric"``
        (:class:`ResidualModel` with ``n_modes`` EOFs).
        """
        from .bootstrap import MAX_YEARS, METHODS, BlockBootstrap

        if method not in METHODS:
            raise ConfigError(f"method: expected one of {list(METHODS)}; got {method!r}")
        ratios, models = {}, {}
        for name in truth.data_vars:
            t, p = truth[name], pred[name]
            ratios[name] = variance_ratio(t, p, block=block)
            kind = "precipitation" if _is_precipitation(str(name), t) else "additive"
            resid = (t - p).transpose(*t.dims)
            resid.attrs = {"units": t.attrs.get("units", "")}
            if method == "bootstrap":
                models[name] = BlockBootstrap.fit(resid, kind=kind, max_years=MAX_YEARS if max_years is None
                                                  else max_years)
            else:
                models[name] = ResidualModel.fit(resid, n_modes=n_modes, kind=kind)
        return cls(ratios, models, block)

    @property
    def method(self) -> str:
        """The residual model of the samples: ``"bootstrap"`` or ``"parametric"``."""
        return next(iter(self.models.values())).method

    def calibrate(self, pred: xr.Dataset) -> xr.Dataset:
        """The variability-aware deterministic prediction (see :func:`calibrate`)."""
        out = pred.copy()
        for name in self.targets:
            out[name] = calibrate(pred[name], self.ratios[name], block=self.block,
                                  non_negative=self.models[name].kind == "precipitation")
        return out

    def sample(self, pred: xr.Dataset, n: int, *, seed: int, realization_dim: str = "realization",
               anchor: str | int | None = None) -> xr.Dataset:
        """``n`` realizations of ``pred`` plus internal variability.

        Each target has its own seed stream, except targets resampled by
        :class:`~xemu.bootstrap.BlockBootstrap` from the same training years (an emulator's
        targets): they share one, so a draw takes the same years for all of them and keeps
        the relation between variables (e.g. warm and dry summers). ``anchor`` (``None``,
        ``"decade"`` or a number of years) shifts each draw so that its mean over each
        calendar block of that many years is ``pred``'s (see :func:`anchor_draws`).
        """
        _check_seed(seed)
        years = anchor_years(anchor)
        data = {name: self.models[name].sample(pred[name], n, seed=(int(seed), k), realization_dim=realization_dim)
                for k, name in self._streams()}
        out = pred.copy()
        for name, da in data.items():
            if years is not None:
                da = anchor_draws(da, pred[name], years, non_negative=self.models[name].kind == "precipitation")
            out[name] = da
        out[realization_dim].attrs = {"long_name": "stochastic realization of internal variability",
                                      "seed": int(seed)}
        return out

    def _streams(self) -> list[tuple[int, str]]:
        """(seed stream, target): bootstrapped targets with the same kept years share the first one's."""
        out, shared = [], {}
        for k, name in enumerate(self.targets):
            model = self.models[name]
            if model.method == "bootstrap":
                k = shared.setdefault(tuple(model.years), k)
            out.append((k, name))
        return out

    def to_dataset(self) -> xr.Dataset:
        """Every parameter, names prefixed by target (``tas__sigma``, ``tas__variance_ratio``, ...).

        Each model's own dims other than month, latitude and longitude (``mode``,
        ``quantile``) are prefixed too, since their sizes may differ between targets; the
        models' attrs travel on their first variable (``sigma``, or ``residuals`` for a
        :class:`~xemu.bootstrap.BlockBootstrap`) as ``model_*``.
        """
        out = xr.Dataset()
        for name in self.targets:
            ds = self.models[name].to_dataset()
            keep = {"month", *self.ratios[name].dims}
            ds = ds.rename({d: f"{name}__{d}" for d in ds.dims if d not in keep})
            for v in ds.data_vars:
                da = ds[v].copy()
                if v == _main_variable(ds):
                    da.attrs = {**da.attrs, **{f"model_{k}": val for k, val in ds.attrs.items()}}
                out[f"{name}__{v}"] = da
            out[f"{name}__variance_ratio"] = self.ratios[name]
        out.attrs = {"xemu_variability_targets": " ".join(self.targets), "xemu_variability_block": self.block}
        return out

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Variability:
        """The inverse of :meth:`to_dataset`, validated (:class:`~xemu.DataError` naming what is wrong)."""
        targets = str(ds.attrs.get("xemu_variability_targets", "")).split()
        block = ds.attrs.get("xemu_variability_block")
        if not targets or block is None:
            raise DataError("variability: attrs 'xemu_variability_targets' and 'xemu_variability_block' expected; "
                            f"got {sorted(ds.attrs)}")
        from .bootstrap import BlockBootstrap

        ratios, models = {}, {}
        for name in targets:
            own = [str(v) for v in ds.data_vars if str(v).startswith(f"{name}__")]
            if f"{name}__variance_ratio" not in own or not {f"{name}__{v}" for v in _MAIN_VARIABLES} & set(own):
                raise DataError(f"variability: variables of target {name!r} missing; got {sorted(map(str, ds.data_vars))}")
            ratio = ds[f"{name}__variance_ratio"]
            if not np.isfinite(ratio.values).all() or (ratio.values <= 0).any():
                raise DataError(f"variability: {name}__variance_ratio must be positive and finite")
            part = ds[[v for v in own if v != f"{name}__variance_ratio"]]
            part = part.rename({v: v.split("__", 1)[1] for v in part.data_vars})
            part = part.rename({d: str(d).split("__", 1)[1] for d in part.dims if str(d).startswith(f"{name}__")})
            main = _main_variable(part)
            main_attrs = dict(part[main].attrs)
            part.attrs = {k[len("model_"):]: v for k, v in main_attrs.items() if k.startswith("model_")}
            part[main].attrs = {k: v for k, v in main_attrs.items() if not k.startswith("model_")}
            if part.attrs.get("method", "parametric") == "bootstrap":
                models[name] = BlockBootstrap.from_dataset(part)
            else:
                models[name] = ResidualModel.from_dataset(part)
            ratios[name] = ratio.rename("variance_ratio")
        return cls(ratios, models, int(block))


#: The variable of a residual model's Dataset that carries the model's attrs: a
#: :class:`~xemu.bootstrap.BlockBootstrap`'s, then a :class:`ResidualModel`'s.
_MAIN_VARIABLES = ("residuals", "sigma")


def _main_variable(ds: xr.Dataset) -> str:
    """The variable of a residual model's Dataset that carries the model's attrs."""
    return next(v for v in _MAIN_VARIABLES if v in ds.data_vars)


def _is_precipitation(name: str, da: xr.DataArray) -> bool:
    from ..data.units import PLAUSIBLE_RANGES

    key = name if name in PLAUSIBLE_RANGES else str(da.attrs.get("standard_name", ""))
    return key in ("pr", "precipitation_flux", "lwe_precipitation_rate", "precipitation_amount")


#: What ``predict(..., variability=...)`` returns without ``samples``.
OUTPUTS = ("forced", "calibrated")


def apply(pred: xr.Dataset, variability: Variability | None, *, output: str = "forced", samples: int | None = None,
          seed: int | None = None, anchor: str | int | None = None,
          realization_dim: str = "realization") -> xr.Dataset:
    """What an emulator's ``predict`` returns, from its forced response ``pred``.

    ``output="forced"`` returns ``pred``; ``"calibrated"`` the variability-aware
    deterministic prediction (:meth:`Variability.calibrate`); ``samples=n`` draws ``n``
    realizations of ``pred`` plus internal variability on a new ``realization`` dim,
    reproducible for ``seed`` (with ``seed=None`` a fresh seed is drawn and recorded in the
    ``realization`` coordinate's ``seed`` attribute, so that the draw can be repeated);
    with ``anchor="decade"`` each draw keeps ``pred``'s mean over each calendar decade
    (:func:`anchor_draws`).
    """
    if output not in OUTPUTS:
        raise ConfigError(f"variability: expected one of {list(OUTPUTS)}; got {output!r}")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1):
        raise ConfigError(f"samples: expected an integer >= 1 or None; got {samples!r}")
    if samples is not None and output != "forced":
        raise ConfigError(f"variability: samples add internal variability to the forced response; "
                          f"expected variability='forced' with samples={samples}; got {output!r}")
    if seed is not None and samples is None:
        raise ConfigError(f"seed: only used with samples=...; got seed={seed!r} and no samples")
    years = anchor_years(anchor)
    if years is not None and samples is None:
        raise ConfigError(f"anchor: only used with samples=...; got anchor={anchor!r} and no samples")
    if output == "forced" and samples is None:
        return pred
    if variability is None:
        raise ConfigError("variability: this emulator has no model of internal variability (fitted with "
                          "variability=False, or saved by an xemu without it); refit it to get "
                          + ("samples" if samples is not None else "a calibrated prediction"))
    if samples is None:
        out = variability.calibrate(pred)
        what = "variability-aware (calibrated on training residuals)"
    else:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**32)
        out = variability.sample(pred, int(samples), seed=seed, realization_dim=realization_dim, anchor=years)
        what = f"{samples} stochastic realizations (seed {seed}" + (
            f"; each draw's mean over each block of {years} calendar years is the forced response's)" if years else ")")
    out.attrs = {**pred.attrs, "title": f"{pred.attrs.get('title', 'xemu prediction')}: {what}"}
    if "history" in out.attrs:
        out.attrs["history"] = f"{out.attrs['history']}; {what}"
    return out


def variability_method(value, argument: str = "variability") -> str | None:
    """The residual model named by a fit's ``variability`` option: ``True`` is the default
    (``"bootstrap"``), ``False`` none (``None``)."""
    from .bootstrap import METHODS

    if value is True or value is False or isinstance(value, np.bool_):
        return "bootstrap" if value else None
    if isinstance(value, str) and value in METHODS:
        return value
    raise ConfigError(f"{argument}: expected True (the default residual model, 'bootstrap'), False (none) or one "
                      f"of {list(METHODS)}; got {value!r}")


def variability_meta(variability: Variability | None) -> dict | None:
    """What ``emulator.json`` records of an emulator's :class:`Variability` (``None`` without one)."""
    if variability is None:
        return None
    models = variability.models.values()
    out = {"block": variability.block, "n_modes": int(max(m.n_modes for m in models)), "method": variability.method}
    if variability.method == "bootstrap":
        out["n_years"] = int(max(m.n_years for m in models))
    return out


def fit_variability(p, values: np.ndarray, held: np.ndarray, *, n_modes: int = 40,
                    method: str = "bootstrap") -> Variability | None:
    """The :class:`Variability` of an emulator from its prepared training data.

    Parameters
    ----------
    p : xemu.prepare.Prepared
        The training data (targets on their sample dims).
    values : numpy.ndarray
        ``(S_in, T, V, H, W)``: the emulator's own prediction of every month of the inputs.
    held : numpy.ndarray
        ``(S_t, T)`` bool: held-out months (not training months; left out of everything).
    method : {"bootstrap", "parametric"}
        The residual model of the samples (see :meth:`Variability.fit`).

    The block of :func:`variance_ratio` is :data:`BLOCK_MONTHS`, or the longest run of
    consecutive training months when that is shorter (the block used is recorded); with
    fewer than 24 such months nothing is fitted (a warning says so) and ``None`` is returned.
    """
    from ..data.prepare import month_index, to_dataset
    from ..data.windows import runs
    from ..errors import warn

    months = month_index(p.time)
    longest = max((b - a for s in range(held.shape[0]) for a, b in runs(~held[s], months)), default=0)
    if longest < 24:
        warn(f"variability: the longest run of consecutive training months is {longest}; at least 24 are "
             f"needed to learn internal variability, so predict(..., samples=...) and "
             f"variability='calibrated' are unavailable for this emulator")
        return None
    block = min(BLOCK_MONTHS, longest)  # recorded in the emulator's metadata ("variability": {"block": ...})
    pred = to_dataset(values, p, p.target_names, {n: {"units": p.target_units[n]} for n in p.target_names}, "")
    dims = (*p.target_sample_dims, p.time.dims[0], p.lat.dims[0], p.lon.dims[0])
    shape = [p.sample_coords[d].size for d in p.target_sample_dims] + [p.time.size, p.lat.size, p.lon.size]
    coords = {d: p.sample_coords[d] for d in p.target_sample_dims}
    coords.update({p.time.dims[0]: p.time, p.lat.dims[0]: p.lat, p.lon.dims[0]: p.lon})
    mask = held[:, :, None, None]
    truth = xr.Dataset({
        name: xr.DataArray(np.where(mask, np.nan, p.targets[:, :, v]).reshape(shape), dims=dims, coords=coords,
                           attrs={"units": p.target_units[name], **{k: val for k, val in p.target_attrs[name].items()
                                                                      if k == "standard_name"}})
        for v, name in enumerate(p.target_names)
    })
    try:
        return Variability.fit(truth, pred[list(p.target_names)].reset_coords(drop=True), block=block,
                               n_modes=n_modes, method=method)
    except DataError as err:
        warn(f"variability: cannot be learned from the training residuals ({err}); predict(..., samples=...) "
             f"and variability='calibrated' are unavailable for this emulator")
        return None
