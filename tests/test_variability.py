"""Tests of xemu.variability: the ResidualModel of internal variability."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.errors import ConfigError, DataError, GridError, UnitsError
from xemu.variability import ResidualModel

RHO = 0.5
KERNEL = np.array([0.25, 0.5, 0.25])
#: correlation of east-west neighbours of a field smoothed once by KERNEL in each direction
NEIGHBOUR_CORR = float(np.sum(KERNEL[:-1] * KERNEL[1:]) / np.sum(KERNEL**2))


def _time(n_months: int, start: str = "2015-01-01") -> xr.DataArray:
    t = xr.date_range(start, periods=n_months, freq="MS", calendar="noleap", use_cftime=True)
    return xr.DataArray(t, dims="time", attrs={"standard_name": "time", "axis": "T"})


def _grid(n_lat: int, n_lon: int) -> dict:
    lat = np.linspace(-90 + 90 / n_lat, 90 - 90 / n_lat, n_lat)
    lon = np.linspace(0, 360, n_lon, endpoint=False) + 180 / n_lon
    return {
        "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
        "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
    }


def known_std(n_lat: int, n_lon: int) -> np.ndarray:
    """The true standard deviation per calendar month and cell, (12, lat, lon)."""
    month = np.arange(12)[:, None, None]
    lat = np.linspace(-1, 1, n_lat)[None, :, None]
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)[None, None, :]
    return 1.0 + 0.5 * np.cos(2 * np.pi * month / 12) * lat + 0.2 * np.sin(lon) ** 2


def ar1_residuals(n_members=4, n_years=30, n_lat=8, n_lon=12, seed=0, rho=RHO) -> xr.DataArray:
    """AR(1) fields (lag-1 autocorrelation ``rho``), smoothed by KERNEL in both directions
    (periodic), unit variance before scaling by :func:`known_std` per month and cell."""
    rng = np.random.default_rng(seed)
    nt = 12 * n_years
    eps = rng.standard_normal((n_members, nt, n_lat, n_lon))
    for axis in (-1, -2):
        eps = sum(k * np.roll(eps, s, axis=axis) for k, s in zip(KERNEL, (-1, 0, 1), strict=True))
    eps /= np.sqrt(np.sum(KERNEL**2)) ** 2  # unit variance
    out = np.empty_like(eps)
    out[:, 0] = eps[:, 0]
    for t in range(1, nt):
        out[:, t] = rho * out[:, t - 1] + np.sqrt(1 - rho**2) * eps[:, t]
    out *= known_std(n_lat, n_lon)[np.arange(nt) % 12]
    return xr.DataArray(
        out,
        dims=("member", "time", "lat", "lon"),
        coords={"member": np.arange(n_members), "time": _time(nt), **_grid(n_lat, n_lon)},
        name="tas",
        attrs={"units": "K"},
    )


def zeros_like_grid(resid: xr.DataArray, n_months: int, **extra) -> xr.DataArray:
    """A prediction of zeros on resid's grid for ``n_months`` months (plus sample dims ``extra``)."""
    shape = (*(len(v) for v in extra.values()), n_months, resid.sizes["lat"], resid.sizes["lon"])
    return xr.DataArray(
        np.zeros(shape, dtype=np.float32),
        dims=(*extra, "time", "lat", "lon"),
        coords={**extra, "time": _time(n_months), "lat": resid.lat, "lon": resid.lon},
        name="tas",
        attrs={"units": "K", "long_name": "forced response"},
    )


def lag1(x: np.ndarray, axis: int) -> np.ndarray:
    """Lag-1 autocorrelation along ``axis`` of series with mean 0 and variance 1 per step."""
    a = np.moveaxis(x, axis, 0)
    return (a[1:] * a[:-1]).mean(0) / (0.5 * (a[1:] ** 2 + a[:-1] ** 2).mean(0))


def neighbour_corr(x: np.ndarray) -> float:
    """Mean correlation of east-west neighbours, over the cells, of x (..., lat, lon) with samples first."""
    flat = x.reshape(-1, *x.shape[-2:])
    flat = (flat - flat.mean(0)) / flat.std(0)
    return float((flat * np.roll(flat, 1, axis=-1)).mean(0).mean())


def skewness(x: np.ndarray, axis: int = 0) -> np.ndarray:
    d = x - x.mean(axis, keepdims=True)
    return (d**3).mean(axis) / (d**2).mean(axis) ** 1.5


@pytest.fixture(scope="module")
def resid():
    return ar1_residuals()


@pytest.fixture(scope="module")
def model(resid):
    return ResidualModel.fit(resid, n_modes=30)


@pytest.fixture(scope="module")
def long_draw(model, resid):
    """20 realizations of 200 years on a zero prediction: the noise itself."""
    pred = zeros_like_grid(resid, 12 * 200)
    return model.sample(pred, 20, seed=7)


@pytest.fixture(scope="module")
def precip():
    """Log-normal precipitation residuals of the synthetic climate, and a model fitted to them."""
    ds = xemu.synthetic_climate(n_years=15, n_lat=8, n_lon=12, seed=3)
    res = ds.pr - ds.pr_forced
    res.attrs["units"] = "mm/day"
    return ds, res, ResidualModel.fit(res, kind="precipitation", n_modes=20, pred=ds.pr_forced)


# ---------------------------------------------------------------------- sampling basics
def test_samples_reproduce_and_differ_across_seeds(model, resid):
    pred = zeros_like_grid(resid, 36, ssp=["a", "b"])
    a = model.sample(pred, 3, seed=1)
    b = model.sample(pred, 3, seed=1)
    c = model.sample(pred, 3, seed=2)
    assert np.array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    # realization i does not depend on n; the series of the two ssps are independent
    assert np.array_equal(model.sample(pred, 2, seed=1).values, a.values[:2])
    assert not np.allclose(a.sel(ssp="a").values, a.sel(ssp="b").values)
    # a sequence seed (e.g. one stream per variable) is accepted and differs from its first item
    assert not np.allclose(model.sample(pred, 3, seed=(1, 1)).values, a.values)


def test_sample_layout_and_attrs(model, resid):
    pred = zeros_like_grid(resid, 24, ssp=["a", "b"]).transpose("time", "ssp", "lat", "lon")
    pred = pred + 280.0
    pred.attrs = {"units": "K", "long_name": "forced response"}
    draws = model.sample(pred, 4, seed=0, realization_dim="member")
    assert draws.dims == ("member", "time", "ssp", "lat", "lon")
    assert draws["member"].values.tolist() == [0, 1, 2, 3]
    assert draws.dtype == np.float32 and draws.name == "tas"
    assert draws.attrs["long_name"] == "forced response" and "ResidualModel" in draws.attrs["xemu_variability"]
    xr.testing.assert_equal(draws["ssp"], pred["ssp"])
    assert abs(float((draws - pred).mean())) < 0.1
    nan_pred = pred.where(pred.time != pred.time[3])
    assert np.isnan(model.sample(nan_pred, 1, seed=0).isel(time=3)).all()


# ---------------------------------------------------------------------- what the model matches
def test_variance_budget_is_one_by_construction(model, resid):
    params = model.to_dataset()
    eof = model.eof_variance.values
    np.testing.assert_allclose(eof + params["remainder_variance"].values, 1.0, atol=1e-12)
    assert 0.0 < eof.min() and eof.max() < 1.0
    # on the fitted data, the remainder z - a E has the mean square that the EOF part leaves
    grouped = resid.groupby("time.month")
    z = ((grouped - grouped.mean(("member", "time"))).groupby("time.month") / model.sigma).transpose(..., "lat", "lon")
    z = z.values.reshape(-1, eof.size)
    eofs = params.eofs.values.reshape(model.n_modes, -1)
    w2 = np.repeat(xemu.area_weights(resid.lat).values, resid.sizes["lon"])  # (sqrt(cos lat))^2
    pcs = z @ (w2 * eofs).T
    remainder = z - pcs @ eofs
    np.testing.assert_allclose((remainder**2).mean(0), params["remainder_variance"].values.ravel(), atol=1e-8)
    np.testing.assert_allclose((pcs**2).mean(0), params["pc_variance"].values, rtol=1e-8)


def test_long_draw_matches_variance_and_lag1(model, long_draw):
    noise = long_draw.values  # (realization, time, lat, lon), pred was 0
    months = long_draw["time"].dt.month.values - 1
    sigma = model.sigma.values
    ratio = np.stack([noise[:, months == m].var(axis=(0, 1)) for m in range(12)]) / sigma**2
    worst = np.unravel_index(np.abs(ratio - 1).argmax(), ratio.shape)
    print(f"variance ratio sample / sigma^2: worst {ratio[worst]:.3f} at (month, lat, lon) {worst}")
    assert np.abs(ratio - 1).max() < 0.10
    z = noise / sigma[months]
    rho = lag1(z, axis=1).mean(0)  # per realization, then averaged
    print(f"lag-1: max |sample - model| {np.abs(rho - model.lag1.values).max():.3f}")
    assert np.abs(rho - model.lag1.values).max() < 0.1


def test_recovers_ar1_sigma_and_spatial_correlation(model, resid, long_draw):
    truth = known_std(resid.sizes["lat"], resid.sizes["lon"])
    ratio = model.sigma.values / truth
    assert abs(ratio.mean() - 1) < 0.03 and np.abs(ratio - 1).max() < 0.25
    params = model.to_dataset()
    leading = params.pc_phi.values[:5]
    np.testing.assert_allclose(leading, RHO, atol=0.1)
    assert abs(float(model.lag1.mean()) - RHO) < 0.05
    assert np.abs(model.lag1.values - RHO).max() < 0.1
    z_in = (resid.groupby("time.month") / model.sigma).values
    z_out = (long_draw.groupby("time.month") / model.sigma).values
    c_in, c_out = neighbour_corr(z_in), neighbour_corr(z_out)
    print(f"neighbour correlation: known {NEIGHBOUR_CORR:.3f}, residuals {c_in:.3f}, samples {c_out:.3f}")
    assert abs(c_in - NEIGHBOUR_CORR) < 0.05
    assert abs(c_out - c_in) < 0.1


def test_nan_maps_are_skipped(resid):
    held_out = resid.copy()
    held_out[1] = np.nan  # member 1 entirely held out
    a = ResidualModel.fit(held_out, n_modes=10).to_dataset()
    b = ResidualModel.fit(resid.isel(member=[0, 2, 3]), n_modes=10).to_dataset()
    xr.testing.assert_allclose(a.drop_attrs(), b.drop_attrs(), rtol=1e-8, atol=1e-10)
    tail = resid.copy()
    tail[0, -12:] = np.nan  # the last year of member 0: fits, with fewer maps and pairs
    fitted = ResidualModel.fit(tail, n_modes=10).to_dataset()
    assert fitted.attrs["n_maps"] == resid.sizes["member"] * resid.sizes["time"] - 12


# ---------------------------------------------------------------------- precipitation
def test_precipitation_non_negative_skewed_and_mean_kept(precip):
    ds, res, model = precip
    pred = ds.pr_forced.isel(scenario=1)
    draws = model.sample(pred, 20, seed=0)
    assert float(draws.min()) >= 0.0
    # skewness of the noise per cell (standardised per month, pooled) where the residuals are skewed
    months = pred.time.dt.month.values - 1
    sigma = model.sigma.values
    z_out = ((draws - pred).values / sigma[months]).reshape(-1, *sigma.shape[1:])
    z_in = (res.groupby("time.month") / model.sigma).transpose(..., "lat", "lon").values
    skew_in = skewness(z_in.reshape(-1, *sigma.shape[1:]))
    skew_out = skewness(z_out)
    assert (skew_in > 0.3).all()
    assert (skew_out > 0).all() and np.median(skew_out / skew_in) > 0.5
    bias = float((draws.mean("realization") - pred).mean() / pred.mean())
    print(f"precipitation: relative mean bias {bias:+.4f}, skewness in {np.median(skew_in):.2f} out "
          f"{np.median(skew_out):.2f}")
    assert abs(bias) < 0.005
    # a much drier prediction (a fifth): censored at 0 (dry months appear), never negative, mean kept
    dry = pred * 0.2
    draws = model.sample(dry, 20, seed=0)
    assert float(draws.min()) >= 0.0 and float((draws == 0).mean()) > 0.05
    bias = float((draws.mean("realization") - dry).mean() / dry.mean())
    noise = model.sample(pred, 20, seed=0) - pred  # the same noise, uncensored at the wetter prediction
    clipped = float((np.maximum(dry + noise, 0).mean("realization") - dry).mean() / dry.mean())
    print(f"drier prediction: relative mean bias {bias:+.4f} (clipping pred + noise at 0 instead: {clipped:+.4f})")
    assert abs(bias) < 0.01
    assert clipped > 10 * abs(bias)


def test_censoring_shift_keeps_the_mean_exactly():
    """E[max(pred - c + sigma Q(U), 0)] = pred, by quadrature of the piecewise-linear Q."""
    from xemu.variability import QUANTILE_LEVELS
    from xemu.variability.copula import censoring_shift as _shift
    from xemu.variability.copula import unit_quantiles as _unit_quantiles

    rng = np.random.default_rng(0)
    n_cells = 20
    skewed = rng.lognormal(0, rng.uniform(0.2, 1.2, n_cells), size=(500, n_cells))
    q = _unit_quantiles(np.quantile(skewed, QUANTILE_LEVELS, axis=0), QUANTILE_LEVELS)
    sigma = rng.uniform(0.5, 2, n_cells)
    base = np.stack([sigma * f for f in (0, 0.01, 0.1, 0.3, 0.6, 1, 2, 5)])
    shift = _shift(base, sigma, q, QUANTILE_LEVELS)
    assert (shift >= 0).all() and (shift[-1] == 0).all() and (shift[2] > 0).all()
    u = (np.arange(100_000) + 0.5) / 100_000
    quantile = np.stack([np.interp(u, QUANTILE_LEVELS, q[:, c]) for c in range(n_cells)], axis=1)
    mean = np.maximum(base[:, None] - shift[:, None] + sigma * quantile, 0).mean(1)
    np.testing.assert_allclose(mean, base, atol=1e-6)
    assert np.isnan(_shift(np.full((1, n_cells), np.nan), sigma, q, QUANTILE_LEVELS)).all()


def test_precipitation_negative_pred_is_raised_to_zero(precip):
    ds, res, model = precip
    pred = ds.pr_forced.isel(scenario=0, time=slice(0, 24)) * 0 - 1.0
    pred.attrs["units"] = "mm/day"
    assert float(model.sample(pred, 2, seed=0).max()) == 0.0


# ---------------------------------------------------------------------- storage
@pytest.mark.parametrize("which", ["additive", "precipitation"])
def test_round_trip_through_netcdf_draws_identical_samples(which, model, resid, precip, tmp_path):
    if which == "precipitation":
        ds, _, fitted = precip
        pred = ds.pr_forced.isel(scenario=0, time=slice(0, 48))
    else:
        fitted, pred = model, zeros_like_grid(resid, 48)
    path = tmp_path / "variability.nc"
    fitted.to_dataset().to_netcdf(path)
    with xr.open_dataset(path) as saved:
        loaded = ResidualModel.from_dataset(saved)
    assert loaded.kind == which
    xr.testing.assert_identical(loaded.to_dataset(), fitted.to_dataset())
    np.testing.assert_array_equal(loaded.sample(pred, 3, seed=5).values, fitted.sample(pred, 3, seed=5).values)


def _spoil(ds: xr.Dataset, how: str) -> xr.Dataset:
    ds = ds.copy(deep=True)
    if how == "missing":
        return ds.drop_vars("remainder_phi")
    if how == "wrong dims":
        return ds.assign(sigma=ds.sigma.isel(month=0, drop=True))
    if how == "nan":
        ds["eofs"][0, 0, 0] = np.nan
    elif how == "negative sigma":
        ds["sigma"][3, 1, 1] = -0.1
    elif how == "phi one":
        ds["pc_phi"][0] = 1.0
    elif how == "remainder phi":
        ds["remainder_phi"][0, 0] = -1.5
    elif how == "months":
        return ds.assign_coords(month=np.arange(12))
    elif how == "kind":
        ds.attrs["kind"] = "gaussian"
    elif how == "quantiles":
        ds["quantiles"][0, 5, 0, 0] = 50.0
    elif how == "levels":
        return ds.assign_coords(quantile=ds["quantile"].values[::-1])
    return ds


@pytest.mark.parametrize(
    ("how", "names"),
    [("missing", "remainder_phi"), ("wrong dims", "ds.sigma"), ("nan", "ds.eofs"),
     ("negative sigma", "ds.sigma"), ("phi one", "ds.pc_phi"), ("remainder phi", "ds.remainder_phi"),
     ("months", "ds.month"), ("kind", "kind"), ("quantiles", "ds.quantiles"), ("levels", "ds.quantile")],
)
def test_bad_datasets_raise(how, names, precip):
    params = precip[2].to_dataset()
    with pytest.raises(DataError, match=names.replace(".", r"\.")):
        ResidualModel.from_dataset(_spoil(params, how))


# ---------------------------------------------------------------------- input errors
def test_bad_inputs_raise(resid, model):
    with pytest.raises(ConfigError, match="n_modes"):
        ResidualModel.fit(resid, n_modes=0)
    with pytest.raises(ConfigError, match="kind"):
        ResidualModel.fit(resid, kind="gamma")
    with pytest.raises(DataError, match="resid"):
        ResidualModel.fit(resid.values)
    partial = resid.copy()
    partial[0, 5, 0, 0] = np.nan
    with pytest.raises(DataError, match="partly NaN"):
        ResidualModel.fit(partial)
    infinite = resid.copy()
    infinite[0, 5, 0, 0] = np.inf
    with pytest.raises(DataError, match="infinite"):
        ResidualModel.fit(infinite)
    with pytest.raises(DataError, match="calendar month"):
        ResidualModel.fit(resid.isel(member=[0], time=slice(0, 12)))
    with pytest.raises(DataError, match="pred"):
        ResidualModel.fit(-abs(resid) - 1, kind="precipitation", pred=xr.zeros_like(resid))
    pred = zeros_like_grid(resid, 12)
    with pytest.raises(ConfigError, match="^n:"):
        model.sample(pred, 0, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        model.sample(pred, 1, seed=-1)
    with pytest.raises(ConfigError, match="realization_dim"):
        model.sample(pred, 1, seed=0, realization_dim="time")
    with pytest.raises(GridError, match="pred"):
        model.sample(pred.assign_coords(lat=pred.lat + 1), 1, seed=0)
    with pytest.raises(UnitsError, match="pred"):
        model.sample(pred.assign_attrs(units="mm/day"), 1, seed=0)
    assert model.sample(pred.assign_attrs(units="kelvin"), 1, seed=0).sizes["time"] == 12


def test_n_modes_capped_by_rank():
    small = ar1_residuals(n_members=1, n_years=2, n_lat=3, n_lon=4)
    fitted = ResidualModel.fit(small, n_modes=40)
    assert fitted.n_modes <= 12
    assert np.isfinite(fitted.lag1.values).all()


def test_calibrated_precipitation_is_never_negative_and_every_cell_keeps_its_mean():
    """The stretch keeps every cell's time mean exactly; where precipitation would go below
    0, dry months become 0 and the cell's other months are lowered by one shift, so that
    its mean is still kept (and a wet cell is untouched)."""
    from xemu.variability import calibrate

    t = xr.date_range("2000-01-01", periods=120, freq="MS", use_cftime=True)
    season = np.sin(2 * np.pi * np.arange(120) / 12)
    pred = xr.DataArray(np.stack([0.3 + 0.25 * season, 5.0 + 1.0 * season], axis=-1)[:, None, :],
                        dims=("time", "lat", "lon"), coords={"time": t, "lat": [0.0], "lon": [0.0, 1.0]})
    ratio = xr.DataArray([[3.0, 3.0]], dims=("lat", "lon"), coords={"lat": [0.0], "lon": [0.0, 1.0]})
    free = calibrate(pred, ratio)
    np.testing.assert_allclose(free.mean("time"), pred.mean("time"), rtol=1e-12)
    stretch = (free - free.mean("time")).std("time") / (pred - pred.mean("time")).std("time")
    np.testing.assert_allclose(stretch, 3.0, rtol=1e-3)  # the running mean is not flat at the ends
    assert float(free.isel(lon=0).min()) < 0
    out = calibrate(pred, ratio, non_negative=True)
    assert float(out.min()) == 0 and out.dims == pred.dims
    np.testing.assert_allclose(out.isel(lon=1), free.isel(lon=1))  # wet: untouched
    np.testing.assert_allclose(out.mean("time"), pred.mean("time"), rtol=1e-9)  # dry: mean kept too
    dry, wet_months = out.isel(lon=0), out.isel(lon=0) > 0
    shift = (free.isel(lon=0) - dry).where(wet_months)
    np.testing.assert_allclose(shift.dropna("time"), float(shift.max()), rtol=1e-9)  # one shift per cell
    assert float(shift.max()) > 0 and int((dry == 0).sum()) > 0
    # dask-backed (time in chunks, as a lazy prediction's): the same values, still lazy
    lazy = calibrate(pred.chunk(time=30), ratio, non_negative=True)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, out.values, rtol=1e-12)


def _seasonal_maps(amplitude, n_months=240, noise=0.0, seed=0):
    """(time, lat, lon) monthly maps: a seasonal cycle of ``amplitude`` per cell plus white noise."""
    t = xr.date_range("2000-01-01", periods=n_months, freq="MS", use_cftime=True)
    season = np.sin(2 * np.pi * np.arange(n_months) / 12)[:, None, None] * np.asarray(amplitude)[None, None, :]
    rng = np.random.default_rng(seed)
    values = season + noise * rng.standard_normal((n_months, 1, season.shape[-1]))
    return xr.DataArray(values, dims=("time", "lat", "lon"),
                        coords={"time": t, "lat": [0.0], "lon": np.arange(season.shape[-1], dtype=float)},
                        attrs={"units": "K"})


def test_calibration_adds_the_internal_variance_to_a_new_predictions_own():
    """Learned on training months where the forced seasonal cycle has amplitude 1 and the truth
    adds white noise of variance 0.5, the calibrated prediction of a climate whose forced cycle
    has amplitude 3 has variance 9/2 + 0.5 (its own plus the internal), where the fixed ratio of
    the emulators saved before stretches it to 4.5 * (0.5 + 0.5) / 0.5 = 9."""
    from xemu.variability import Variability, added_variance_ratio, internal_variance, variance_ratio
    from xemu.variability.calibration import block_variances

    truth = _seasonal_maps([1.0, 1.0], n_months=2400, noise=np.sqrt(0.5)).rename("tas")
    train = _seasonal_maps([1.0, 1.0], n_months=2400).rename("tas")
    vt, vp = block_variances(truth, train)
    internal = internal_variance(vt, vp, 120, "K")
    np.testing.assert_allclose(internal, 0.5, rtol=0.05)
    assert internal.attrs["units"] == "(K)^2" and internal.name == "internal_variance"
    assert float(internal_variance(vp, vt, 120).max()) == 0.0  # never negative
    new = _seasonal_maps([3.0, 0.0])  # a cell with no forced variance at all is left as it is
    ratio = added_variance_ratio(new, internal)
    np.testing.assert_allclose(ratio.isel(lon=0), np.sqrt((4.5 + internal.isel(lon=0)) / 4.5), rtol=1e-6)
    assert ratio.isel(lon=1).item() == 1.0
    fitted = Variability.fit(xr.Dataset({"tas": truth}), xr.Dataset({"tas": train}), method="parametric", n_modes=2)
    xr.testing.assert_allclose(fitted.internal["tas"], internal)
    out = fitted.calibrate(xr.Dataset({"tas": new}))["tas"]
    np.testing.assert_allclose(out.isel(lon=0).var("time"), 4.5 + internal.isel(lon=0).item(), rtol=0.02)
    xr.testing.assert_allclose(out.isel(lon=1), new.isel(lon=1))
    old = Variability(fitted.ratios, fitted.models, fitted.block)  # saved before: the fixed ratio
    stretched = old.calibrate(xr.Dataset({"tas": new}))["tas"].isel(lon=0).var("time")
    np.testing.assert_allclose(stretched, 4.5 * variance_ratio(truth, train).isel(lon=0).item() ** 2, rtol=0.02)
    assert stretched.item() > 1.4 * (4.5 + 0.5)


def test_calibration_adds_the_internal_variance_in_each_block():
    """A new prediction whose forced variance grows along the series (a seasonal cycle of amplitude
    1 for 120 months, then 3) gains the internal variance 0.5 in each block of 120 months: 0.5 + 0.5
    and 4.5 + 0.5. One stretch per series (emulators saved before it, ``"internal variance
    added"``) adds it to the blocks' average only: the quiet block gets 0.5 * 3 / 2.5, less than
    its share, the loud one 4.5 * 3 / 2.5, more."""
    from xemu.variability import Variability, added_variance_ratio

    truth = _seasonal_maps([1.0], n_months=2400, noise=np.sqrt(0.5)).rename("tas")
    fitted = Variability.fit(xr.Dataset({"tas": truth}), xr.Dataset({"tas": _seasonal_maps([1.0], n_months=2400)}),
                             method="parametric", n_modes=1)
    assert fitted.calibration == "internal variance added per block"
    internal = fitted.internal["tas"].item()
    grow = xr.DataArray(np.repeat([1.0, 3.0], 120), dims="time")
    new = (_seasonal_maps([1.0]) * grow).rename("tas")
    ratio = added_variance_ratio(new, fitted.internal["tas"], block=120, per_block=True)
    assert ratio.dims == new.dims and ratio.sizes["time"] == 240
    np.testing.assert_allclose(ratio.isel(time=[0, 119, 120, 239], lat=0, lon=0),
                               np.sqrt((np.array([0.5, 0.5, 4.5, 4.5]) + internal) / [0.5, 0.5, 4.5, 4.5]), rtol=1e-6)
    out = fitted.calibrate(xr.Dataset({"tas": new}))["tas"]
    by_block = [out.isel(time=slice(a, a + 120)).var("time").item() for a in (0, 120)]
    np.testing.assert_allclose(by_block, [0.5 + internal, 4.5 + internal], rtol=0.03)
    for a in (0, 120):  # and each block keeps its mean
        np.testing.assert_allclose(out.isel(time=slice(a, a + 120)).mean("time"),
                                   new.isel(time=slice(a, a + 120)).mean("time"), atol=1e-12)
    once = Variability(fitted.ratios, fitted.models, fitted.block, fitted.internal, "internal variance added")
    by_series = [once.calibrate(xr.Dataset({"tas": new}))["tas"].isel(time=slice(a, a + 120)).var("time").item()
                 for a in (0, 120)]
    np.testing.assert_allclose(by_series, np.array([0.5, 4.5]) * (2.5 + internal) / 2.5, rtol=0.03)
    short = new.isel(time=slice(0, 30))  # shorter than a block: one block
    np.testing.assert_allclose(added_variance_ratio(short, fitted.internal["tas"], block=120, per_block=True),
                               added_variance_ratio(short, fitted.internal["tas"], block=120).broadcast_like(short))
    tail = new.isel(time=slice(0, 170))  # the months after the last whole block take its stretch
    r = added_variance_ratio(tail, fitted.internal["tas"], block=120, per_block=True)
    assert (r.isel(time=slice(120, None)) == r.isel(time=119)).all()
    whole = added_variance_ratio(tail.isel(time=slice(0, 120)), fitted.internal["tas"], block=120, per_block=True)
    xr.testing.assert_allclose(r.isel(time=slice(0, 120)), whole)  # the block's variance leaves the tail out


def test_calibration_takes_each_blocks_variance_from_the_baseline():
    """A network that fits part of the training truth's month-to-month variance (here 0.6 of its
    noise) learns a smaller internal variance than its baseline (the seasonal cycle alone). Fitted
    with the baseline's training prediction as ``reference``, the internal variance is the
    truth's less the baseline's (0.5, the noise), and each block of a new prediction gets the
    baseline's variance there plus it, or keeps its own where that is larger; each block's mean
    is kept. Without the reference such a Variability refuses to calibrate; other calibrations
    refuse one."""
    from xemu.variability import Variability, added_variance_ratio, apply

    truth = _seasonal_maps([1.0], n_months=2400, noise=np.sqrt(0.5)).rename("tas")
    base = _seasonal_maps([1.0], n_months=2400).rename("tas")
    net = base + 0.6 * (truth - base)  # fits part of the internal variability
    fitted = Variability.fit(xr.Dataset({"tas": truth}), xr.Dataset({"tas": net}), method="parametric", n_modes=1,
                             reference=xr.Dataset({"tas": base}))
    own = Variability.fit(xr.Dataset({"tas": truth}), xr.Dataset({"tas": net}), method="parametric", n_modes=1)
    assert fitted.calibration == "the baseline's variance and internal variance per block" and fitted.needs_reference
    assert own.calibration == "internal variance added per block" and not own.needs_reference
    np.testing.assert_allclose(fitted.internal["tas"], 0.5, rtol=0.05)  # the truth's less the baseline's
    np.testing.assert_allclose(own.internal["tas"], 0.5 * (1 - 0.36), rtol=0.05)  # the network's: smaller
    np.testing.assert_allclose(fitted.ratios["tas"], own.ratios["tas"])  # the rest is the network's
    internal = fitted.internal["tas"].item()
    # a new climate: the baseline's cycle of amplitude 1, then 3; the network's prediction of it quieter in
    # the first block (amplitude 0.5) and louder in the second (amplitude 4, larger than baseline + internal)
    grow = xr.DataArray(np.repeat([1.0, 3.0], 120), dims="time")
    reference = (_seasonal_maps([1.0]) * grow).rename("tas")
    new = (_seasonal_maps([1.0]) * xr.DataArray(np.repeat([0.5, 4.0], 120), dims="time") + 2.0).rename("tas")
    ratio = added_variance_ratio(new, fitted.internal["tas"], block=120, per_block=True, reference=reference)
    np.testing.assert_allclose(ratio.isel(time=[0, 119, 120, 239], lat=0, lon=0),
                               np.sqrt(np.array([0.5 + internal] * 2 + [8.0] * 2) / [0.125, 0.125, 8.0, 8.0]),
                               rtol=1e-6)
    out = fitted.calibrate(xr.Dataset({"tas": new}), xr.Dataset({"tas": reference}))["tas"]
    by_block = [out.isel(time=slice(a, a + 120)).var("time").item() for a in (0, 120)]
    np.testing.assert_allclose(by_block, [0.5 + internal, 8.0], rtol=0.03)  # the baseline's plus internal; its own
    for a in (0, 120):
        np.testing.assert_allclose(out.isel(time=slice(a, a + 120)).mean("time"),
                                   new.isel(time=slice(a, a + 120)).mean("time"), atol=1e-12)
    via_apply = apply(xr.Dataset({"tas": new}), fitted, output="calibrated", reference=xr.Dataset({"tas": reference}))
    np.testing.assert_array_equal(via_apply["tas"].values, out.values)
    with pytest.raises(ConfigError, match="reference: this emulator's calibration .* got None"):
        fitted.calibrate(xr.Dataset({"tas": new}))
    with pytest.raises(ConfigError, match="reference: only used by the calibration"):
        own.calibrate(xr.Dataset({"tas": new}), xr.Dataset({"tas": reference}))
    with pytest.raises(ConfigError, match="reference: only used by a calibrated prediction"):
        apply(xr.Dataset({"tas": new}), fitted, samples=2, seed=0, reference=xr.Dataset({"tas": reference}))
    with pytest.raises(DataError, match=r"reference: expected the targets \['tas'\]"):
        fitted.calibrate(xr.Dataset({"tas": new}), xr.Dataset({"pr": reference}))
    with pytest.raises(DataError, match="reference: expected pred's dims and sizes"):
        fitted.calibrate(xr.Dataset({"tas": new}), xr.Dataset({"tas": reference.isel(time=slice(0, 200))}))
    with pytest.raises(DataError, match="reference: its time differs from pred's"):
        shifted = reference.assign_coords(time=xr.date_range("2100-01-01", periods=240, freq="MS", use_cftime=True))
        fitted.calibrate(xr.Dataset({"tas": new}), xr.Dataset({"tas": shifted}))
    with pytest.raises(ConfigError, match="reference: the baseline's variance is added block by block"):
        added_variance_ratio(new, fitted.internal["tas"], reference=reference)
    loaded = Variability.from_dataset(fitted.to_dataset())  # the calibration survives a save
    assert loaded.calibration == fitted.calibration
    np.testing.assert_array_equal(
        loaded.calibrate(xr.Dataset({"tas": new}), xr.Dataset({"tas": reference}))["tas"].values, out.values)


def test_per_block_calibration_keeps_each_blocks_mean_of_a_precipitation():
    """A stretch that differs from block to block (a dry decade, then a wet one with a larger
    seasonal cycle), clipped at 0: each block keeps its own time mean, not only the series."""
    from xemu.variability import calibrate

    t = xr.date_range("2000-01-01", periods=250, freq="MS", use_cftime=True)
    cycle = np.sin(2 * np.pi * np.arange(250) / 12)
    values = np.where(np.arange(250) < 120, 0.3 + 0.3 * cycle, 3.0 + 2.0 * cycle)
    pred = xr.DataArray(values[:, None], dims=("time", "lon"), coords={"time": t, "lon": [0.0]})
    ratio = xr.DataArray(np.where(np.arange(250) < 120, 4.0, 1.5)[:, None], dims=("time", "lon"),
                         coords={"time": t, "lon": [0.0]})
    out = calibrate(pred, ratio, block=120, non_negative=True, per_block=True)
    assert float(out.min()) >= 0.0 and out.dims == pred.dims
    for part in (slice(0, 120), slice(120, 250)):  # the last 10 months join the last whole block
        np.testing.assert_allclose(out.isel(time=part).mean("time"), pred.isel(time=part).mean("time"), rtol=1e-6)
    once = calibrate(pred, ratio, block=120, non_negative=True)  # the series' mean only
    np.testing.assert_allclose(once.mean("time"), pred.mean("time"), rtol=1e-6)
    assert abs(float(once.isel(time=slice(0, 120)).mean() - pred.isel(time=slice(0, 120)).mean())) > 0.01


def test_internal_variance_round_trips_and_is_checked(tmp_path):
    from xemu.variability import Variability

    truth = _seasonal_maps([1.0, 2.0], n_months=240, noise=0.7).rename("tas")
    fitted = Variability.fit(xr.Dataset({"tas": truth}), xr.Dataset({"tas": _seasonal_maps([1.0, 2.0])}))
    path = tmp_path / "variability.nc"
    fitted.to_dataset().to_netcdf(path)
    with xr.open_dataset(path) as saved:
        loaded = Variability.from_dataset(saved.load())
    np.testing.assert_array_equal(loaded.internal["tas"].values, fitted.internal["tas"].values)
    new = xr.Dataset({"tas": _seasonal_maps([2.0, 0.5])})
    np.testing.assert_array_equal(loaded.calibrate(new)["tas"].values, fitted.calibrate(new)["tas"].values)
    bad = fitted.to_dataset().copy(deep=True)
    bad["tas__internal_variance"][0, 1] = -1.0
    with pytest.raises(DataError, match="tas__internal_variance must be finite and >= 0"):
        Variability.from_dataset(bad)
    with pytest.raises(DataError, match="calibration 'internal variance added per block' without an internal"):
        Variability.from_dataset(fitted.to_dataset().drop_vars("tas__internal_variance"))
    ratio_only = fitted.to_dataset().drop_vars("tas__internal_variance")
    del ratio_only.attrs["xemu_variability_calibration"]
    without = Variability.from_dataset(ratio_only)
    assert without.internal is None  # saved before it was recorded: the fixed ratio
    assert without.calibration == "variance ratio"
    assert loaded.calibration == "internal variance added per block"
    before = fitted.to_dataset()  # saved with the internal variance, before the per-block stretch
    del before.attrs["xemu_variability_calibration"]
    once = Variability.from_dataset(before)
    assert once.calibration == "internal variance added"
    np.testing.assert_array_equal(
        once.calibrate(new)["tas"].values,
        Variability(fitted.ratios, fitted.models, fitted.block, fitted.internal, "internal variance added")
        .calibrate(new)["tas"].values)
    bad = fitted.to_dataset()
    bad.attrs["xemu_variability_calibration"] = "per cell"
    with pytest.raises(DataError, match="calibration 'per cell' with an internal variance; expected one of"):
        Variability.from_dataset(bad)
    with pytest.raises(DataError, match="calibration 'internal variance added' without an internal variance"):
        Variability(fitted.ratios, fitted.models, fitted.block, None, "internal variance added")
    with_base = fitted.to_dataset()
    with_base.attrs["xemu_variability_calibration"] = "the baseline's variance and internal variance per block"
    assert Variability.from_dataset(with_base).needs_reference


def test_emulator_record_names_the_calibration():
    """``emulator.json`` says how a calibrated prediction adds variance, with the schema's words."""
    from xemu.io.emulator_format import EMULATOR_SCHEMA
    from xemu.variability import Variability
    from xemu.variability.core import CALIBRATIONS, variability_meta

    schema = EMULATOR_SCHEMA["properties"]["variability"]["oneOf"][1]["properties"]["calibration"]
    assert tuple(schema["enum"]) == CALIBRATIONS
    truth = _seasonal_maps([1.0], n_months=240, noise=0.5).rename("tas")
    fitted = Variability.fit(xr.Dataset({"tas": truth}), xr.Dataset({"tas": _seasonal_maps([1.0])}))
    assert variability_meta(fitted)["calibration"] == "internal variance added per block"
    once = Variability(fitted.ratios, fitted.models, fitted.block, fitted.internal, "internal variance added")
    assert variability_meta(once)["calibration"] == "internal variance added"
    old = Variability(fitted.ratios, fitted.models, fitted.block)
    assert variability_meta(old)["calibration"] == "variance ratio"
