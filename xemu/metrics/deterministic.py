"""Area-weighted metrics as labelled DataArrays, exactly as the study computed them.

For a prediction ``p`` and truth ``t`` with latitude weights ``w`` (mean 1):

* ``monthly_rmse   = sqrt( mean_{time,lat,lon}( w * (p - t)^2 ) )``
* ``time_mean_rmse = sqrt( mean_{lat,lon}( w * (mean_time p - mean_time t)^2 ) )``
* ``time_stddev_mae = mean_{lat,lon}( w * | std_time p - std_time t | )`` (ddof = 0)

Every metric has the signature ``(pred, truth, *, dim=None, weights=None)``: it reduces
over time, latitude and longitude (found by :mod:`xemu.data.coords`) plus the extra dims in
``dim``, and keeps all others (one value per member or scenario). NaNs propagate: a
metric over missing data is NaN, never a mean of what happens to be there. Inputs may be
dask-backed; results are then lazy.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import xarray as xr

from ..data.coords import find_dim, roles
from ..data.grid import area_weights
from ..errors import DataError, UnitsError

__all__ = [
    "area_weights",
    "monthly_rmse",
    "time_mean_rmse",
    "time_stddev_mae",
    "METRICS",
    "score",
    "competition_score",
    "nrmse",
    "noise_floor",
]


def _dims(pred: xr.DataArray, truth: xr.DataArray, dim: str | Iterable[str] | None, weights) -> tuple:
    """Check ``pred`` against ``truth``; return both in float64, the dims to reduce and the weights."""
    time, lat, lon = grid_dims(truth)
    for d in (time, lat, lon):
        check_has_dim(pred, truth, d)
        check_same_labels(pred, truth, d)
    pred = same_units(pred, truth)
    extra = extra_dims(dim)
    for d in extra:
        if d not in truth.dims:
            raise DataError(f"dim: {d!r} is not a dimension of truth {truth.dims}")
    return as_float64(pred), as_float64(truth), time, lat, lon, extra, latitude_weights(truth[lat], weights)


def grid_dims(truth: xr.DataArray) -> tuple[str, str, str]:
    """The time, latitude and longitude dims of ``truth`` (:func:`~xemu.data.coords.find_dim`)."""
    return (find_dim(truth, "time", name="truth"), find_dim(truth, "latitude", name="truth"),
            find_dim(truth, "longitude", name="truth"))


def check_has_dim(pred: xr.DataArray, truth: xr.DataArray, d: str, *, name: str = "pred") -> None:
    """Raise :class:`~xemu.DataError` unless ``pred`` has truth's dim ``d``.

    ``name`` is what messages call ``pred`` (``"ens"`` for :mod:`xemu.metrics.probabilistic`).
    """
    if d not in pred.dims:
        raise DataError(f"{name}: missing dimension {d!r} of truth; {name} has dims {pred.dims}")


def check_same_labels(pred: xr.DataArray, truth: xr.DataArray, d: str, *, name: str = "pred") -> None:
    """Raise :class:`~xemu.DataError` unless ``pred`` has truth's size and coordinate along ``d``."""
    if pred.sizes[d] != truth.sizes[d]:
        raise DataError(f"{name}: size {pred.sizes[d]} along {d!r} differs from truth's {truth.sizes[d]}")
    if d in pred.indexes and d in truth.indexes and not pred.indexes[d].equals(truth.indexes[d]):
        raise DataError(
            f"{name}: coordinate {d!r} differs from truth's ({name} {pred[d].values[[0, -1]].tolist()}, "
            f"truth {truth[d].values[[0, -1]].tolist()} at the ends); select the same labels, "
            f"e.g. {name}.sel({d}=truth.{d})"
        )


def extra_dims(dim: str | Iterable[str] | None) -> list:
    """``dim`` (the extra dims a metric pools) as a list."""
    return [dim] if isinstance(dim, str) else list(dim or [])


def latitude_weights(lat: xr.DataArray, weights: xr.DataArray | str | None) -> xr.DataArray:
    """The latitude weights a metric uses: ``weights`` as given, or
    :func:`~xemu.data.grid.area_weights` of ``lat`` (``"cos"``, or the kind ``weights`` names)."""
    if weights is None:
        return area_weights(lat)
    if isinstance(weights, str):
        return area_weights(lat, kind=weights)
    return weights


def _time_statistic_gap(pred: xr.DataArray, truth: xr.DataArray, dim, weights, statistic: str) -> tuple:
    """``statistic`` (``"mean"``, or ``"std"`` with ddof 0) over time of ``pred`` minus that of
    ``truth``, per cell; the weights, the dims left to average over and ``truth`` (float64)."""
    pred, truth, time, lat, lon, extra, w = _dims(pred, truth, dim, weights)
    kw = {"ddof": 0} if statistic == "std" else {}
    of_pred = getattr(pred, statistic)(time, skipna=False, **kw)
    diff = of_pred - getattr(truth, statistic)(time, skipna=False, **kw)
    return diff, w, [lat, lon, *extra], truth


def monthly_rmse(
    pred: xr.DataArray,
    truth: xr.DataArray,
    *,
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.DataArray:
    """Area-weighted RMSE over all months and cells (and ``dim``).

    Parameters
    ----------
    pred, truth : xarray.DataArray
        Same time, latitude and longitude; other dims broadcast.
    dim : str or list of str, optional
        Extra dims to pool (e.g. ``"member_id"``); the rest are kept.
    weights : DataArray or {"cos", "area"}, optional
        Latitude weights; default ``area_weights(lat, "cos")``.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=3)
    >>> round(float(monthly_rmse(ds.tas + 1.0, ds.tas).max()), 4)
    1.0
    """
    pred, truth, time, lat, lon, extra, w = _dims(pred, truth, dim, weights)
    err = (w * (pred - truth) ** 2).mean([time, lat, lon, *extra], skipna=False)
    return named_metric(np.sqrt(err), "monthly_rmse", truth.attrs.get("units"))


def time_mean_rmse(
    pred: xr.DataArray,
    truth: xr.DataArray,
    *,
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.DataArray:
    """Area-weighted RMSE of the time means (the error of the climate, not the weather).

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=3)
    >>> round(float(time_mean_rmse(ds.tas - 2.0, ds.tas).max()), 4)
    2.0
    """
    diff, w, over, truth = _time_statistic_gap(pred, truth, dim, weights, "mean")
    err = (w * diff**2).mean(over, skipna=False)
    return named_metric(np.sqrt(err), "time_mean_rmse", truth.attrs.get("units"))


def time_stddev_mae(
    pred: xr.DataArray,
    truth: xr.DataArray,
    *,
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.DataArray:
    """Area-weighted mean absolute error of the temporal standard deviations (ddof 0).

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=3)
    >>> round(float(time_stddev_mae(ds.tas + 5.0, ds.tas).max()), 4)  # a shift keeps the std
    0.0
    """
    diff, w, over, truth = _time_statistic_gap(pred, truth, dim, weights, "std")
    err = (w * abs(diff)).mean(over, skipna=False)
    return named_metric(err, "time_stddev_mae", truth.attrs.get("units"))


def same_units(pred: xr.DataArray, truth: xr.DataArray, *, name: str = "pred") -> xr.DataArray:
    """``pred`` in ``truth``'s units: converted when both carry compatible units, else :class:`~xemu.UnitsError`.

    When one side carries no units there is nothing to compare and ``pred`` is used as it is.
    ``name`` is what messages call ``pred`` (``"ens"`` for :mod:`xemu.metrics.probabilistic`).
    """
    from ..data.units import convert_units, parse_units, units_of

    have, want = units_of(pred), units_of(truth)
    if have is None or want is None or have == want:
        return pred
    if parse_units(have, name=f"{name}.units") == parse_units(want, name="truth.units"):
        return pred
    try:
        return convert_units(pred, want, name=f"{name} ({pred.name})" if pred.name else name)
    except UnitsError as err:
        raise UnitsError(f"{name} and truth: units differ and do not convert ({err})") from None


def as_float64(da: xr.DataArray) -> xr.DataArray:
    # float32 time means of fields like tas (~290 K) lose digits the metrics need
    return da.astype(np.float64) if da.dtype.kind == "f" and da.dtype.itemsize < 8 else da


def _is_map(da: xr.DataArray) -> bool:
    r = roles(da)
    return r.spatial is not None and r.time is not None


def named_metric(da: xr.DataArray, name: str, units: str | None, **attrs) -> xr.DataArray:
    """``da`` named ``name``, with the metric's ``long_name``, ``xemu_metric``, ``attrs`` and ``units``."""
    da = da.rename(name)
    da.attrs = {"long_name": name.replace("_", " "), "xemu_metric": name, **attrs}
    if units is not None:
        da.attrs["units"] = units
    return da


#: The study's three metrics, in table order.
METRICS = {
    "monthly_rmse": monthly_rmse,
    "time_mean_rmse": time_mean_rmse,
    "time_stddev_mae": time_stddev_mae,
}


def score(
    pred: xr.Dataset,
    truth: xr.Dataset,
    *,
    variables: Iterable[str] | None = None,
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.Dataset:
    """All three metrics for each variable, and the competition score when tas and pr are there.

    Returns
    -------
    xarray.Dataset
        One variable per scored variable with a ``metric`` dim (``monthly_rmse``,
        ``time_mean_rmse``, ``time_stddev_mae``) plus the dims not reduced, and
        ``competition_score`` when both ``tas`` and ``pr`` are scored.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> s = score(ds, ds)
    >>> s["tas"].sel(metric="monthly_rmse").dims
    ('scenario', 'member')
    """
    names = list(variables) if variables is not None else [
        v for v in pred.data_vars if v in truth.data_vars and _is_map(truth[v])
    ]
    if not names:
        raise DataError(
            f"variables: no variable in common to score; pred has {sorted(map(str, pred.data_vars))}, "
            f"truth has {sorted(map(str, truth.data_vars))}"
        )
    out = {}
    for name in names:
        for side, ds in (("pred", pred), ("truth", truth)):
            if name not in ds:
                raise DataError(f"{side}: no variable {name!r}; it has {sorted(map(str, ds.data_vars))}")
        values = [f(pred[name], truth[name], dim=dim, weights=weights) for f in METRICS.values()]
        da = xr.concat(values, dim=xr.DataArray(list(METRICS), dims="metric", name="metric"))
        da.attrs = {"units": truth[name].attrs.get("units", ""), "long_name": f"scores of {name}"}
        out[name] = da.rename(name)
    result = xr.Dataset(out)
    if "tas" in result and "pr" in result:
        result["competition_score"] = competition_score(result)
    return result


def competition_score(scores: Mapping[Hashable, xr.DataArray] | xr.Dataset) -> xr.DataArray:
    """The CSE 151B competition score from :func:`score`'s output (lower is better).

    ``0.5 * (0.1 tas.monthly_rmse + tas.time_mean_rmse + tas.time_stddev_mae)
    + 0.5 * (0.1 pr.monthly_rmse + pr.time_mean_rmse + 0.75 pr.time_stddev_mae)``
    """
    for name in ("tas", "pr"):
        if name not in scores:
            raise DataError(f"scores: the competition score needs {name!r}; got {list(scores)}")
    t, p = scores["tas"], scores["pr"]

    def m(da, k):
        return da.sel(metric=k, drop=True)

    value = 0.5 * (0.1 * m(t, "monthly_rmse") + m(t, "time_mean_rmse") + m(t, "time_stddev_mae"))
    value = value + 0.5 * (
        0.1 * m(p, "monthly_rmse") + m(p, "time_mean_rmse") + 0.75 * m(p, "time_stddev_mae")
    )
    value.attrs = {"long_name": "CSE 151B competition score (lower is better)", "units": "1"}
    return value.rename("competition_score")


def nrmse(
    pred: xr.DataArray,
    truth: xr.DataArray,
    *,
    dim: str | Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.DataArray:
    """ClimateBench normalised RMSEs (Watson-Parris et al., 2022).

    With ``<.>`` the area-weighted global mean and ``N = |<mean_time t>|``:
    ``spatial = sqrt(<(mean_time p - mean_time t)^2>) / N``,
    ``global = sqrt(mean_time (<p> - <t>)^2) / N``, ``total = spatial + 5 * global``.
    ClimateBench applies it to annual means of the ensemble-mean truth over 2080-2100;
    select and average before calling (``dim`` pools extra dims, e.g. members, after the
    time mean).

    Returns
    -------
    xarray.DataArray
        With a ``nrmse`` dim: ``spatial``, ``global``, ``total``.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> nrmse(ds.tas, ds.tas).sel(nrmse="total").max().item()
    0.0
    """
    pred, truth, time, lat, lon, extra, w = _dims(pred, truth, dim, weights)
    space = [lat, lon]
    norm = abs((w * truth.mean(time, skipna=False)).mean(space + extra, skipna=False))
    tm = pred.mean(time, skipna=False) - truth.mean(time, skipna=False)
    spatial = np.sqrt((w * tm**2).mean(space + extra, skipna=False)) / norm
    gp = (w * pred).mean(space, skipna=False)
    gt = (w * truth).mean(space, skipna=False)
    glob = np.sqrt(((gp - gt) ** 2).mean([time, *extra], skipna=False)) / norm
    out = xr.concat(
        [spatial, glob, spatial + 5 * glob],
        dim=xr.DataArray(["spatial", "global", "total"], dims="nrmse", name="nrmse"),
    )
    out.attrs = {"long_name": "ClimateBench normalised RMSE", "units": "1"}
    return out.rename("nrmse")


def noise_floor(
    truth: xr.Dataset,
    *,
    member: object,
    member_dim: str = "member_id",
    variables: Iterable[str] | None = None,
    weights: xr.DataArray | str | None = None,
) -> xr.Dataset:
    """What internal variability allows: the scores of the other members as predictions.

    For the held-out ``member``, scores (:func:`score`) of each other member taken as the
    prediction, and of the mean of the other members. A deterministic emulator predicts
    the forced response; its monthly RMSE cannot go much below the mean-of-others row.

    Returns
    -------
    xarray.Dataset
        :func:`score`'s layout with an extra ``prediction`` dim labelled
        ``"member <m>"`` for each other member and ``"mean of other members"``.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6, n_members=3)
    >>> nf = noise_floor(ds.isel(scenario=0), member=0, member_dim="member")
    >>> nf["prediction"].values.tolist()
    ['member 1', 'member 2', 'mean of other members']
    """
    if member_dim not in truth.dims:
        raise DataError(f"member_dim: {member_dim!r} is not a dim of truth {tuple(truth.dims)}")
    members = truth[member_dim].values.tolist()
    if member not in members:
        raise DataError(f"member: {member!r} not in {member_dim} {members}")
    others = [m for m in members if m != member]
    if not others:
        raise DataError(f"truth: the noise floor needs at least two members; {member_dim} has {members}")
    names = list(variables) if variables is not None else [
        v for v in truth.data_vars if member_dim in truth[v].dims and _is_map(truth[v])
    ]
    held = truth[names].sel({member_dim: member}, drop=True)
    preds = [truth[names].sel({member_dim: m}, drop=True) for m in others]
    preds.append(truth[names].sel({member_dim: others}).mean(member_dim, skipna=False))
    labels = [f"member {m}" for m in others] + ["mean of other members"]
    rows = [score(p, held, variables=names, weights=weights) for p in preds]
    return xr.concat(rows, dim=xr.DataArray(labels, dims="prediction", name="prediction"))
