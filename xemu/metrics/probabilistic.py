"""Probabilistic scores of an ensemble of predictions against one truth, as labelled DataArrays.

An *ensemble* ``ens`` holds ``m >= 2`` members along ``member_dim`` (draws of a stochastic
emulator, or the climate model's other realizations); ``truth`` is one realization on the
same time axis and grid, without ``member_dim``. With ``x_1 .. x_m`` the members and ``y``
the truth at one month and cell, and ``w`` the study's latitude weights (``cos(lat)`` over
its mean, :func:`xemu.metrics.area_weights`):

* ``crps``: the continuous ranked probability score (Gneiting and Raftery 2007), per point

  - ``fair=True`` (Ferro 2014): ``mean_i |x_i - y| - sum_ij |x_i - x_j| / (2 m (m - 1))``,
    unbiased for the CRPS of the distribution the members are drawn from, so that
    ensembles of different sizes compare (10 emulator draws against 2 model members);
  - ``fair=False``: ``mean_i |x_i - y| - sum_ij |x_i - x_j| / (2 m^2)``, the CRPS of the
    members' empirical distribution (biased high for small ``m``: by ``E|X - X'| / (2 m)``);

  then ``mean_{time,lat,lon,dim}( w * crps )``, in the units of ``truth``. Lower is
  better; a perfect deterministic ensemble (all members equal to the truth) scores 0.
* ``spread_skill_ratio``: ``sqrt((m + 1) / m) * spread / rmse`` with
  ``spread = sqrt( mean_{time,lat,lon,dim}( w * var_i(x_i) ) )`` (member variance, ddof 1)
  and ``rmse = sqrt( mean_{time,lat,lon,dim}( w * (mean_i x_i - y)^2 ) )``. For members and
  truth drawn from the same distribution, ``E var = sigma^2`` and
  ``E (mean_i x_i - y)^2 = sigma^2 (1 + 1/m)``, so a calibrated ensemble has a ratio of 1
  (Fortin et al. 2014); below 1 it is under-dispersed, above 1 over-dispersed.
* ``rank_histogram``: how often the truth falls at rank ``1 .. m + 1`` among the members
  (Hamill 2001); flat when calibrated, U-shaped when under-dispersed, dome-shaped when
  over-dispersed. :func:`rank_flatness` sums it up in one number.

The kernels come from field libraries, imported on first use (install ``xemu[prob]``):
``scores.probability.crps_for_ensemble`` (methods ``"fair"`` and ``"ecdf"``) and
``xskillscore.rank_histogram``. Inputs are checked like :mod:`xemu.metrics` does (same
time, latitude and longitude labels; ``ens`` converted to ``truth``'s units); NaNs
propagate (a score over missing data is NaN), except in :func:`rank_histogram`, which
refuses them. Every function keeps the dims it does not reduce (e.g. a scenario dim).
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Iterable
from types import ModuleType

import numpy as np
import xarray as xr

from ..data.coords import roles
from ..errors import ConfigError, DataError
from .deterministic import (
    as_float64,
    check_has_dim,
    check_same_labels,
    extra_dims,
    grid_dims,
    latitude_weights,
    named_metric,
    same_units,
    score,
)

__all__ = ["crps", "spread_skill_ratio", "rank_histogram", "rank_flatness", "ensemble_scores"]

#: The optional extra that installs the libraries this module needs.
EXTRA = "prob"


def _library(module: str, dist: str, caller: str) -> ModuleType:
    """Import ``module`` on first use, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"xemu.metrics.probabilistic.{caller} needs the optional package {dist!r}, which is not "
            f"installed; install xemu's {EXTRA!r} extra: pip install 'xemu[{EXTRA}]'"
        ) from err


def _check(ens, truth, member_dim: str, dim, weights=None) -> tuple:
    """Validate an ensemble against its truth.

    Returns ``ens`` (float64, truth's units, ``member_dim`` in one chunk), ``truth`` (float64),
    the dims to reduce (time, lat, lon and ``dim``), the latitude weights and ``m``.
    """
    for label, obj in (("ens", ens), ("truth", truth)):
        if not isinstance(obj, xr.DataArray):
            raise DataError(f"{label}: expected an xarray.DataArray; got {type(obj).__name__}")
    if member_dim not in ens.dims:
        raise DataError(
            f"member_dim: {member_dim!r} is not a dimension of ens; ens has dims {ens.dims} "
            f"(pass member_dim=... naming its ensemble dim)"
        )
    m = ens.sizes[member_dim]
    if m < 2:
        raise DataError(f"ens: an ensemble needs at least 2 members along {member_dim!r}; got {m}")
    if member_dim in truth.dims:
        raise DataError(
            f"truth: has the member dim {member_dim!r} (size {truth.sizes[member_dim]}); expected one "
            f"realization, e.g. truth.sel({member_dim}=...)"
        )
    if member_dim in truth.coords:  # a scalar label left by .sel(): not a dim, would clash
        truth = truth.drop_vars(member_dim)
    time, lat, lon = grid_dims(truth)
    for d in (time, lat, lon):
        check_has_dim(ens, truth, d, name="ens")
    for d in sorted(set(ens.dims) & set(truth.dims), key=str):
        check_same_labels(ens, truth, d, name="ens")
    extra = extra_dims(dim)
    for d in extra:
        if d == member_dim:
            raise DataError(f"dim: {d!r} is the member dim; members are pooled by the score itself")
        if d not in ens.dims and d not in truth.dims:
            raise DataError(f"dim: {d!r} is not a dimension of ens {ens.dims} or truth {truth.dims}")
    reduce = list(dict.fromkeys([time, lat, lon, *extra]))
    weights = latitude_weights(truth[lat], weights)
    ens = as_float64(same_units(ens, truth, name="ens"))
    if ens.chunks is not None:
        ens = ens.chunk({member_dim: -1})
    return ens, as_float64(truth), reduce, weights, m


def crps(
    ens: xr.DataArray,
    truth: xr.DataArray,
    *,
    member_dim: str = "realization",
    fair: bool = True,
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.DataArray:
    """Area-weighted ensemble CRPS over all months and cells (and ``dim``).

    Per month and cell, ``scores.probability.crps_for_ensemble`` (``method="fair"`` or
    ``"ecdf"``): ``mean_i |x_i - y| - sum_ij |x_i - x_j| / (2K)`` with ``K = m (m - 1)``
    (fair) or ``m^2``; then ``mean_{time,lat,lon,dim}(w * crps)``.

    Parameters
    ----------
    ens : xarray.DataArray
        The ensemble: ``member_dim`` plus truth's time, latitude and longitude; other dims
        broadcast against truth's.
    truth : xarray.DataArray
        One realization (no ``member_dim``).
    member_dim : str
        The members' dim in ``ens``.
    fair : bool
        The fair estimator (Ferro 2014), unbiased for finite ensembles, so that ensembles of
        different sizes compare; ``False``: the CRPS of the members' empirical distribution.
    dim : str or list of str, optional
        Extra dims to pool; the rest are kept.
    weights : DataArray or {"cos", "area"}, optional
        Latitude weights; default ``area_weights(lat, "cos")`` (mean 1).

    Returns
    -------
    xarray.DataArray
        Named ``crps``, in truth's units.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6, n_members=3).isel(scenario=0)
    >>> truth = ds.tas.sel(member=0, drop=True)
    >>> float(crps(xr.concat([truth, truth], "realization"), truth))  # perfect ensemble
    0.0
    >>> c = crps(ds.tas.sel(member=[1, 2]), truth, member_dim="member")
    >>> c.attrs["units"], c.attrs["crps_estimator"]
    ('K', 'fair')
    """
    sp = _library("scores.probability", "scores", "crps")
    ens, truth, reduce, w, m = _check(ens, truth, member_dim, dim, weights)
    method = "fair" if fair else "ecdf"
    point = sp.crps_for_ensemble(ens, truth, member_dim, method=method, preserve_dims="all")
    # scores skips NaN members (it scores the others): a NaN member makes the point NaN here
    point = point.where(ens.notnull().all(member_dim))
    value = (w * point).mean(reduce, skipna=False)
    return named_metric(
        value,
        "crps",
        truth.attrs.get("units"),
        crps_estimator=method,
        n_members=m,
        long_name=f"{'fair ' if fair else ''}ensemble CRPS ({m} members)",
    )


def spread_skill_ratio(
    ens: xr.DataArray,
    truth: xr.DataArray,
    *,
    member_dim: str = "realization",
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.DataArray:
    """Area-weighted ensemble spread over the RMSE of the ensemble mean; 1 when calibrated.

    ``sqrt((m + 1) / m) * sqrt(mean(w * var_i x_i)) / sqrt(mean(w * (mean_i x_i - y)^2))``,
    means over time, latitude, longitude and ``dim``, member variance with ddof 1. The spread
    is the root of the mean variance, not the mean of the standard deviations: those are
    biased low for few members (by a factor ``sqrt(2/pi) = 0.80`` for ``m = 2``), and the
    ratio would then not be 1 for a calibrated ensemble.

    Parameters
    ----------
    ens, truth, member_dim, dim, weights
        As in :func:`crps`.

    Returns
    -------
    xarray.DataArray
        Named ``spread_skill_ratio`` (units ``1``).

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6, n_members=3).isel(scenario=0)
    >>> r = spread_skill_ratio(ds.tas.sel(member=[1, 2]), ds.tas.sel(member=0), member_dim="member")
    >>> r.name, r.dims
    ('spread_skill_ratio', ())
    """
    ens, truth, reduce, w, m = _check(ens, truth, member_dim, dim, weights)
    variance = ens.var(member_dim, ddof=1, skipna=False)
    spread = np.sqrt((w * variance).mean(reduce, skipna=False))
    error = ens.mean(member_dim, skipna=False) - truth
    rmse = np.sqrt((w * error**2).mean(reduce, skipna=False))
    value = np.sqrt((m + 1) / m) * spread / rmse
    return named_metric(value, "spread_skill_ratio", "1", n_members=m)


def rank_histogram(
    ens: xr.DataArray,
    truth: xr.DataArray,
    *,
    member_dim: str = "realization",
    dim: str | Iterable[str] | None = None,
    seed: int | None = 0,
) -> xr.DataArray:
    """How often the truth takes each rank, 1 to ``m + 1``, among the members (Talagrand diagram).

    ``xskillscore.rank_histogram`` over time, latitude, longitude and ``dim`` (counts, not
    weighted by area). Ties (e.g. zero precipitation in truth and members) are broken at
    random, as xskillscore does (Hamill 2001: the rank is drawn uniformly among the tied
    positions), with numpy's global generator; ``seed`` seeds it for this call only and the
    generator's previous state is restored afterwards (so results are reproducible; not
    thread-safe). ``seed=None`` leaves the generator as it is. Lazy inputs are computed
    (with dask's synchronous scheduler, so that the draws are reproducible): the
    histogram is small.

    Parameters
    ----------
    ens, truth, member_dim, dim
        As in :func:`crps`. NaNs are refused (a :class:`~xemu.DataError`): a rank of a
        missing value has no meaning.
    seed : int or None
        Seed of the tie-breaking draws.

    Returns
    -------
    xarray.DataArray
        Integer counts named ``rank_histogram`` on a ``rank`` dim labelled ``1 .. m + 1``,
        plus the dims not reduced. See :func:`rank_flatness` for one number.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6, n_members=3).isel(scenario=0)
    >>> h = rank_histogram(ds.tas.sel(member=[1, 2]), ds.tas.sel(member=0), member_dim="member")
    >>> h["rank"].values.tolist(), int(h.sum())
    ([1, 2, 3], 288)
    """
    xs = _library("xskillscore", "xskillscore", "rank_histogram")
    ens, truth, reduce, _, m = _check(ens, truth, member_dim, dim)
    for label, obj in (("ens", ens), ("truth", truth)):
        missing = int(obj.isnull().sum())
        if missing:
            raise DataError(
                f"{label}: {missing} NaN values of {obj.size}; the rank histogram needs complete data "
                f"(select the months and cells that have it)"
            )
    truth, ens = xr.broadcast(truth, ens, exclude=[member_dim])
    state = np.random.get_state() if seed is not None else None
    try:
        if seed is not None:
            np.random.seed(seed)
        hist = xs.rank_histogram(truth, ens, dim=reduce, member_dim=member_dim, keep_attrs=False)
        hist = hist.compute(scheduler="synchronous")
    finally:
        if state is not None:
            np.random.set_state(state)
    hist = hist.astype(np.int64).assign_coords(rank=np.arange(1, m + 2))
    hist = hist.rename("rank_histogram")
    hist.attrs = {
        "long_name": f"rank histogram of the truth among {m} members",
        "units": "1",
        "n_members": m,
        "ties": "broken at random (xskillscore, Hamill 2001)"
        + (f", seed {seed}" if seed is not None else ""),
    }
    return hist


def rank_flatness(hist: xr.DataArray, *, kind: str = "chi2", rank_dim: str = "rank") -> xr.DataArray:
    """One number for how flat a :func:`rank_histogram` is.

    ``kind="chi2"``: Pearson's statistic ``sum_k (n_k - N / K)^2 / (N / K)`` over the
    ``K = m + 1`` bins with ``N`` counts. For independent ranks of a calibrated ensemble it
    follows a chi-square distribution with ``m`` degrees of freedom (mean ``m``); months and
    cells are correlated in climate data, so read it as a relative measure, not a p-value.
    ``kind="ratio"``: the largest bin count over the smallest (1 when flat, ``inf`` with an
    empty bin).

    Examples
    --------
    >>> import xarray as xr
    >>> h = xr.DataArray([10, 10, 10], dims="rank", coords={"rank": [1, 2, 3]})
    >>> float(rank_flatness(h)), float(rank_flatness(h, kind="ratio"))
    (0.0, 1.0)
    """
    if not isinstance(hist, xr.DataArray) or rank_dim not in hist.dims:
        dims = hist.dims if isinstance(hist, xr.DataArray) else type(hist).__name__
        raise DataError(f"hist: expected a rank histogram with a {rank_dim!r} dim; got {dims}")
    counts = hist.astype(np.float64)
    k = hist.sizes[rank_dim]
    if kind == "chi2":
        expected = counts.sum(rank_dim) / k
        value = ((counts - expected) ** 2 / expected).sum(rank_dim)
        attrs = {"long_name": "chi-square statistic of the rank histogram", "degrees_of_freedom": k - 1}
    elif kind == "ratio":
        with np.errstate(divide="ignore"):
            value = counts.max(rank_dim) / counts.min(rank_dim)
        attrs = {"long_name": "largest over smallest rank count"}
    else:
        raise ConfigError(f"kind: expected 'chi2' or 'ratio'; got {kind!r}")
    value = value.rename(f"rank_{kind}")
    value.attrs = {**attrs, "units": "1"}
    return value


def _variables(ens: xr.Dataset, truth: xr.Dataset, member_dim: str, variables) -> list[Hashable]:
    if variables is not None:
        names = list(variables)
    else:
        names = [
            v
            for v in ens.data_vars
            if v in truth.data_vars and member_dim in ens[v].dims and roles(truth[v]).spatial is not None
        ]
    if not names:
        raise DataError(
            f"variables: no variable in common with a {member_dim!r} dim to score; ens has "
            f"{sorted(map(str, ens.data_vars))}, truth has {sorted(map(str, truth.data_vars))}"
        )
    for name in names:
        for side, ds in (("ens", ens), ("truth", truth)):
            if name not in ds:
                raise DataError(f"{side}: no variable {name!r}; it has {sorted(map(str, ds.data_vars))}")
    return names


def ensemble_scores(
    ens: xr.Dataset,
    truth: xr.Dataset,
    *,
    member_dim: str = "realization",
    variables: Iterable[str] | None = None,
    fair: bool = True,
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.Dataset:
    """The study's metrics of each member and of the ensemble mean, the CRPS and spread-skill ratio.

    Parameters
    ----------
    ens : xarray.Dataset
        The ensemble; every scored variable has ``member_dim``.
    truth : xarray.Dataset
        One realization (no ``member_dim``).
    member_dim, fair, dim, weights
        As in :func:`crps`.
    variables : list of str, optional
        Variables to score; default every map variable of truth that ens has with ``member_dim``.

    Returns
    -------
    xarray.Dataset
        For each variable ``v`` (dims not reduced are kept throughout):

        * ``v`` (``member_dim``, ``metric``): :func:`xemu.metrics.score` of each member
          (``monthly_rmse``, ``time_mean_rmse``, ``time_stddev_mae``);
        * ``v_member_mean``, ``v_member_std`` (``metric``): their mean and standard
          deviation (ddof 1) over members;
        * ``v_ensemble_mean`` (``metric``): the metrics of the ensemble mean as the prediction;
        * ``v_crps``: :func:`crps` (fair unless ``fair=False``), in ``v``'s units;
        * ``v_spread_skill_ratio``: :func:`spread_skill_ratio`.

        When ``tas`` and ``pr`` are scored, the competition score likewise:
        ``competition_score`` (``member_dim``), ``competition_score_member_mean``,
        ``competition_score_member_std`` and ``competition_score_ensemble_mean``. The
        Dataset's attrs give ``member_dim``, ``n_members`` and ``crps_estimator``.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6, n_members=3).isel(scenario=0)
    >>> s = ensemble_scores(ds.sel(member=[1, 2]), ds.sel(member=0), member_dim="member")
    >>> s["tas"].dims, s["tas_crps"].attrs["units"], s["competition_score"].dims
    (('member', 'metric'), 'K', ('member',))
    >>> sorted(k for k in s.data_vars if k.startswith("pr"))  # doctest: +NORMALIZE_WHITESPACE
    ['pr', 'pr_crps', 'pr_ensemble_mean', 'pr_member_mean', 'pr_member_std', 'pr_spread_skill_ratio']
    """
    for label, obj in (("ens", ens), ("truth", truth)):
        if not isinstance(obj, xr.Dataset):
            raise DataError(f"{label}: expected an xarray.Dataset; got {type(obj).__name__}")
    names = _variables(ens, truth, member_dim, variables)
    members, target, m = _checked_variables(ens, truth, names, member_dim, dim, weights)
    per_member = score(members, target, variables=names, dim=dim, weights=weights)
    ens_mean = members.mean(member_dim, skipna=False, keep_attrs=True)
    of_mean = score(ens_mean, target, variables=names, dim=dim, weights=weights)
    out = {}
    for name in [*names, "competition_score"]:
        if name not in per_member:
            continue
        da = per_member[name].transpose(member_dim, ...)
        out[name] = da
        out.update(_member_summaries(da, of_mean[name], name, member_dim))
        if name != "competition_score":
            kw = {"member_dim": member_dim, "dim": dim, "weights": weights}
            out[f"{name}_crps"] = crps(members[name], target[name], fair=fair, **kw).rename(f"{name}_crps")
            out[f"{name}_spread_skill_ratio"] = spread_skill_ratio(members[name], target[name], **kw).rename(
                f"{name}_spread_skill_ratio"
            )
    result = xr.Dataset(out)
    result.attrs = {"member_dim": member_dim, "n_members": m, "crps_estimator": "fair" if fair else "ecdf"}
    return result


def _checked_variables(ens: xr.Dataset, truth: xr.Dataset, names: list[str], member_dim: str, dim,
                       weights) -> tuple[xr.Dataset, xr.Dataset, int | None]:
    """Every variable of ``ens`` and ``truth`` checked (``_check``) before any is scored, in
    truth's units and float64; and the number of members."""
    members, target, m = {}, {}, None
    for name in names:
        e, t, _, _, m = _check(ens[name].rename(name), truth[name], member_dim, dim, weights)
        members[name], target[name] = e, t
    return xr.Dataset(members), xr.Dataset(target), m


#: The ``long_name`` prefix of each summary over members in :func:`ensemble_scores`.
_SUMMARY_NAMES = {
    "member_mean": "mean over members of",
    "member_std": "std over members (ddof 1) of",
    "ensemble_mean": "the ensemble mean's",
}


def _member_summaries(da: xr.DataArray, of_mean: xr.DataArray, name: str, member_dim: str) -> dict:
    """``{name}_member_mean``, ``{name}_member_std`` (ddof 1) of the per-member scores ``da`` and
    ``{name}_ensemble_mean`` (``of_mean``, the score of the ensemble mean), with long names."""
    out = {}
    for suffix, value in (
        ("member_mean", da.mean(member_dim, skipna=False)),
        ("member_std", da.std(member_dim, ddof=1, skipna=False)),
        ("ensemble_mean", of_mean),
    ):
        out[f"{name}_{suffix}"] = value.rename(f"{name}_{suffix}").assign_attrs(
            {**da.attrs, "long_name": f"{_SUMMARY_NAMES[suffix]} {da.attrs.get('long_name', name)}"}
        )
    return out
