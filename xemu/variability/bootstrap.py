"""Stochastic internal variability by resampling whole years of training residuals.

:class:`BlockBootstrap` keeps up to ``max_years`` calendar years (January to December,
twelve consecutive training months of one sample) of an emulator's residuals
``r = truth - prediction`` of one variable, each centred by its calendar month's mean over
the kept years. A draw adds to every calendar year of a prediction one kept year, picked at
random with replacement, month by month::

    sample_t(p) = pred_t(p) + r_(k(y), m)(p)

with ``y`` the calendar year of step ``t``, ``m`` its calendar month and ``k(y)`` the kept
year drawn for that year (independently for every year, sample and realization).

What is kept, by construction: the spatial covariance of each calendar month, the
skewness and the seasonal cycle of the variance (the data's own), the month-to-month
persistence within a year, and, for variables fitted on the same training months (an
emulator's targets), the relation between variables: :meth:`Variability.sample
<xemu.variability.Variability.sample>` then draws the same years for all of them. What is
not: persistence across the turn of a year (December and the next January come from
independent years), and variability on time scales longer than a year beyond what the
years themselves differ by. Precipitation (``kind="precipitation"``) is clipped at 0 after
the noise is added, which raises the mean of dry cells a little.

This is the residual model an emulator fits by default (``fit(..., variability=True)``):
on training data only (``benchmarks/variability.py --cnn-gru``: an inner split holding out
ssp585 member 1's last decade) its draws scored closer to the climate model than those of
the parametric :class:`~xemu.variability.ResidualModel`, for xemu's CNN-GRU (competition
score over 10 draws 0.743 against 0.788; CRPS tas 0.521 against 0.526, pr 0.832 against
0.847) and for linear pattern scaling (0.820 against 0.866; CRPS 0.555 / 0.812 against
0.557 / 0.825); see ``benchmarks/RESULTS.md``. The parametric model stays available
(``fit(..., variability="parametric")``): it is smaller on disk and simulates persistence
beyond a year.

Storage: ``max_years`` x 12 maps (default 120 years: 1,440 maps, about 20 MB for one
variable on a 48 x 72 grid as float32 in memory). In the saved netCDF file the residuals
are 16-bit integers times a power of two, compressed: 13.4 MiB for tas and pr of the CSE
151B store together (the parametric model's file: 9.6 MiB). They are kept on that grid,
at most 1/32,767 of their largest magnitude apart, in memory too, so a reloaded model
draws the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import DataError
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
    sample_label,
    saved_params,
    with_units,
)

__all__ = ["BlockBootstrap", "MAX_YEARS", "METHODS", "kept_years", "year_labels"]

#: The most training years a :class:`BlockBootstrap` keeps by default.
MAX_YEARS = 120

#: Residual models an emulator can fit: the block bootstrap (the default) and the parametric
#: :class:`~xemu.variability.ResidualModel`.
METHODS: tuple[str, ...] = ("bootstrap", "parametric")

_FORMAT = 1


class BlockBootstrap:
    """Internal variability of one variable: whole calendar years of training residuals,
    resampled.

    Build one with :meth:`fit` (from residuals) or :meth:`from_dataset` (from a saved
    one); draw with :meth:`sample`. See :mod:`xemu.variability.bootstrap`.

    Examples
    --------
    >>> import xemu
    >>> from xemu.variability import BlockBootstrap
    >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8)
    >>> model = BlockBootstrap.fit(ds.tas - ds.tas_forced)
    >>> model
    BlockBootstrap(kind='additive', n_years=36, grid=6x8)
    >>> draws = model.sample(ds.tas_forced, 3, seed=0)
    >>> draws.dims
    ('realization', 'scenario', 'time', 'lat', 'lon')
    """

    #: The residual model's name in ``fit(..., variability=...)``.
    method = "bootstrap"

    def __init__(self, params: xr.Dataset):
        # private: use fit() or from_dataset(), which validate ``params``
        self._ds = params
        self.kind: str = str(params.attrs["kind"])
        values = params["residuals"].values
        self._shape = values.shape[2:]
        self._r = values.reshape(values.shape[0], 12, -1).astype(np.float32, copy=False)  # (Y, 12, P)

    @property
    def n_years(self) -> int:
        """The number of training years kept."""
        return int(self._r.shape[0])

    @property
    def years(self) -> list[str]:
        """Where each kept year comes from (sample and calendar year)."""
        return [str(v) for v in self._ds["year"].values]

    @property
    def n_modes(self) -> int:
        """0: no EOF modes (for code that reads :attr:`ResidualModel.n_modes <xemu.variability.ResidualModel.n_modes>`)."""
        return 0

    @property
    def sigma(self) -> xr.DataArray:
        """Standard deviation of the kept residuals per calendar month and cell (ddof 0), on ``(month, lat, lon)``.

        The noise of a draw has exactly this standard deviation (before precipitation's
        clip at 0), in expectation over draws.
        """
        sd = np.sqrt(np.mean(self._r.astype(np.float64) ** 2, axis=0))
        return grid_array(self._ds, sd, "sigma", "standard deviation of the kept residuals per calendar month "
                          "and cell", self._ds.attrs.get("units", ""), month=True)

    @property
    def lag1(self) -> xr.DataArray:
        """The lag-1 autocorrelation of the noise per cell, on ``(lat, lon)``.

        Pooled over the twelve pairs of consecutive months of a year: the eleven within a
        year as the kept years have them, December to January as 0 (independent years).
        """
        r = self._r.astype(np.float64)
        num = (r[:, :-1] * r[:, 1:]).sum((0, 1))
        den = (r**2).sum((0, 1))  # 12 pairs a year (with December-January), each of two months' variance
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(den > 0, num / den, 0.0)
        return grid_array(self._ds, rho, "lag1", "lag-1 autocorrelation of the noise", "1")

    def __repr__(self) -> str:
        return f"BlockBootstrap(kind={self.kind!r}, n_years={self.n_years}, grid={self._shape[0]}x{self._shape[1]})"

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, resid: xr.DataArray, *, kind: str = "additive", max_years: int = MAX_YEARS,
            pred: xr.DataArray | None = None) -> BlockBootstrap:
        """Keep whole calendar years of the residual maps ``truth - prediction`` of one variable.

        Parameters
        ----------
        resid : xarray.DataArray
            Residuals on a monthly time dimension, latitude and longitude; every other
            dimension is a sample (e.g. ``ssp``, ``member_id``). A map that is entirely NaN
            is not a training month; a calendar year is kept when all twelve of its months
            are training months. Partly NaN maps and infinite values are refused.
        kind : {"additive", "precipitation"}
            ``"precipitation"`` clips draws at 0.
        max_years : int
            The most years kept (at least 1). With more available, ``max_years`` of them
            are picked at random, with a fixed seed, so the same residuals always keep the
            same years.
        pred : xarray.DataArray, optional
            Only checked, as in :meth:`xemu.variability.ResidualModel.fit`.

        Raises
        ------
        xemu.ConfigError
            ``kind`` or ``max_years`` is invalid.
        xemu.DataError
            ``resid`` is not a DataArray, has partly NaN maps or infinite values, or no
            complete calendar year.
        """
        r, x, months, mindex, valid = fit_series(resid, kind, pred, "max_years", max_years)  # x: (S, T, P)
        years = resid[r.time].dt.year.values
        found, n_available = kept_years(valid, months, mindex, max_years)  # (sample, index of the January)
        kept = np.stack([x[s, t:t + 12] for s, t in found])  # (Y, 12, P)
        del x
        labels = year_labels(found, years, (lambda s: sample_label(resid, r, s)) if r.sample else None)
        attrs = with_units({"kind": kind, "method": "bootstrap", "variable": "" if resid.name is None
                            else str(resid.name), "max_years": int(max_years), "n_years_available": n_available},
                           resid)
        return cls.from_years(kept, labels, resid[r.latitude], resid[r.longitude], attrs)

    @classmethod
    def from_years(cls, kept: np.ndarray, labels: list[str], lat: xr.DataArray, lon: xr.DataArray,
                   attrs: dict) -> BlockBootstrap:
        """The model of the kept years ``kept`` ``(Y, 12, P)`` (float64, residuals of each year's
        twelve months on flat cells; centred here, in place), labelled ``labels``, on the grid
        ``lat`` x ``lon``, with the attrs of :meth:`fit`: what :meth:`fit` and the streamed fit
        (:mod:`xemu.variability.streamed`) both end with."""
        kept -= kept.mean(0)  # centred per calendar month and cell: the noise has mean 0
        shape = (kept.shape[0], 12, lat.size, lon.size)
        return cls(_build(kept.reshape(shape).astype(np.float32), labels, lat, lon, attrs))

    # ------------------------------------------------------------------ sample
    def sample(self, pred: xr.DataArray, n: int, *, seed: int | Sequence[int],
               realization_dim: str = "realization") -> xr.DataArray:
        """Draw ``n`` realizations of ``pred`` plus resampled years of residuals.

        Parameters and return value as in :meth:`xemu.variability.ResidualModel.sample`:
        ``pred`` on the fitted grid, with time and any sample dims (independent draws for
        each sample); realization ``i`` draws from ``SeedSequence(seed).spawn(n)[i]``, so it
        is the same for any ``n > i``; the result is on ``(realization_dim, *pred.dims)``
        with pred's coords, name, attrs (plus ``xemu_variability``) and floating dtype.
        For precipitation every value is ``>= 0``.

        Examples
        --------
        >>> import xemu
        >>> from xemu.variability import BlockBootstrap
        >>> ds = xemu.synthetic_climate(n_years=4, n_lat=6, n_lon=8)
        >>> model = BlockBootstrap.fit(ds.pr - ds.pr_forced, kind="precipitation")
        >>> draws = model.sample(ds.pr_forced.isel(scenario=0), 2, seed=1)
        >>> bool((draws >= 0).all()), bool((draws == model.sample(ds.pr_forced.isel(scenario=0), 2, seed=1)).all())
        (True, True)
        """
        r = check_sample(self._ds, pred, n, seed, realization_dim)
        x, months, mindex = as_series(pred, r, "pred")
        segment = (mindex - (mindex[0] - months[0])) // 12  # calendar year of each step, from 0
        n_seg = int(segment.max()) + 1
        out = np.empty((int(n), *x.shape), dtype=float_dtype(pred))
        for i, child in enumerate(np.random.SeedSequence(seed).spawn(int(n))):
            pick = np.random.default_rng(child).integers(self.n_years, size=(x.shape[0], n_seg))
            out[i] = x + self._r[pick[:, segment], months]  # (S, T, P): one kept year per calendar year
        if self.kind == "precipitation":
            np.maximum(out, 0.0, out=out)  # NaN stays NaN
        return realizations(out, pred, r, realization_dim,
                             f"prediction plus internal variability drawn by xemu.variability.BlockBootstrap "
                             f"(kind={self.kind}, {self.n_years} training years resampled, seed={seed!r})")

    # ------------------------------------------------------------------ storage
    def to_dataset(self) -> xr.Dataset:
        """The kept years as a labelled Dataset, ready for :meth:`xarray.Dataset.to_netcdf`.

        ``residuals`` on ``(year, month, lat, lon)`` (with a packing encoding: 16-bit
        integers, CF ``scale_factor``), the ``year`` coordinate naming each year's sample
        and calendar year; attributes ``kind``, ``method``, ``variable``, ``units``.
        """
        return saved_params(self._ds)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> BlockBootstrap:
        """Rebuild a model from :meth:`to_dataset`'s output, validated (:class:`~xemu.DataError`)."""
        check_params(ds, "BlockBootstrap residuals")
        if "residuals" not in ds.data_vars:
            raise DataError(f"ds: missing variable 'residuals'; a BlockBootstrap needs it, got "
                            f"{sorted(map(str, ds.data_vars))}")
        da = ds["residuals"]
        lat, lon = grid_dims(ds, "residuals")
        want = ("year", "month", lat, lon)
        if set(da.dims) != set(want) or da.ndim != 4:
            raise DataError(f"ds.residuals: expected dims {want}; got {da.dims}")
        values = np.asarray(da.transpose(*want).values)
        if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
            raise DataError("ds.residuals: expected finite numbers")
        if ds.sizes["year"] < 1:
            raise DataError("ds.year: expected at least one kept year; got 0")
        check_months(ds)
        labels = [str(v) for v in ds["year"].values] if "year" in ds.coords else [str(i) for i in range(ds.sizes["year"])]
        attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("_")}
        return cls(_build(values.astype(np.float32), labels, ds[lat], ds[lon], attrs))


def kept_years(valid: np.ndarray, months: np.ndarray, mindex: np.ndarray, max_years: int):
    """The years a :class:`BlockBootstrap` keeps: ``(sample, step of the January)`` of every
    calendar year whose twelve months are training months (``valid`` ``(S, T)``; ``months``
    the calendar month 0..11 and ``mindex`` the month count of each step), at most
    ``max_years`` of them picked at random with a fixed seed; and how many there were. A
    :class:`~xemu.DataError` when there is none."""
    found = []
    for t in np.nonzero(months == 0)[0]:
        if t + 12 <= len(months) and mindex[t + 11] - mindex[t] == 11:
            found += [(int(s), int(t)) for s in np.nonzero(valid[:, t:t + 12].all(1))[0]]
    found = sorted(found)
    n_available = len(found)
    if not found:
        raise DataError(f"resid: no complete calendar year (January to December, all twelve months finite) in "
                        f"any sample; {int(valid.sum())} training months in all")
    if len(found) > max_years:
        pick = np.sort(np.random.default_rng(0).choice(len(found), size=int(max_years), replace=False))
        found = [found[i] for i in pick]
    return found, n_available


def year_labels(found: list[tuple[int, int]], years: np.ndarray, label=None) -> list[str]:
    """The label of each kept year ``(sample, step)``: ``label(sample)`` (``None`` without sample
    dims) and the calendar year ``years[step]``."""
    return [f"{label(s)} {int(years[t]):04d}" if label is not None else f"{int(years[t]):04d}" for s, t in found]


def _build(values: np.ndarray, labels: list[str], lat: xr.DataArray, lon: xr.DataArray, attrs: dict) -> xr.Dataset:
    la, lo = str(lat.dims[0]), str(lon.dims[0])
    units = attrs.get("units", "")
    # kept on a grid of 16-bit integers times a power of two: exactly what the netCDF file
    # packs and reads back, so that a saved and reloaded model draws the same samples
    span = float(np.abs(values).max()) or 1.0
    step = 2.0 ** np.ceil(np.log2(span / 32767.0))
    values = (np.round(values / step) * step).astype(np.float32)
    da = xr.DataArray(values, dims=("year", "month", la, lo), attrs={
        "long_name": "residuals of the kept training years, centred per calendar month and cell", "units": units})
    da.encoding = {"dtype": "int16", "scale_factor": np.float32(step), "_FillValue": np.int16(-32768)}
    coords = {
        "year": ("year", np.array(labels, dtype=object), {"long_name": "sample and calendar year of each kept year"}),
        "month": ("month", np.arange(1, 13), {"long_name": "calendar month"}),
        la: (la, np.asarray(lat.values), dict(lat.attrs)),
        lo: (lo, np.asarray(lon.values), dict(lon.attrs)),
    }
    attrs = {**attrs, "method": "bootstrap", "xemu_variability_format": _FORMAT,
             "description": "training residuals kept by xemu.variability.BlockBootstrap", "_lat": la, "_lon": lo}
    return xr.Dataset({"residuals": da}, coords=coords, attrs=attrs)
