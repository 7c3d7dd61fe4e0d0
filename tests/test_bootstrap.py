"""The block bootstrap residual model (xemu.variability.bootstrap): what a draw keeps, seeds, storage, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.errors import ConfigError, DataError
from xemu.testing import TINY_CONFIG
from xemu.variability import ResidualModel, Variability
from xemu.variability.bootstrap import MAX_YEARS, BlockBootstrap

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
FAST = {"epochs": 1, "windows_per_epoch": 32, "batch_size": 8, "progress": False, "config": TINY_CONFIG}


@pytest.fixture(scope="module")
def climate():
    return xemu.synthetic_climate(n_years=12, n_lat=8, n_lon=12, seed=0)


@pytest.fixture(scope="module")
def tas_model(climate):
    return BlockBootstrap.fit(climate.tas - climate.tas_forced)


def _lag1(noise: np.ndarray) -> np.ndarray:
    """Pooled lag-1 autocorrelation per cell of (realization, time, cell) noise."""
    a, b = noise[:, :-1], noise[:, 1:]
    return (a * b).sum((0, 1)) / (0.5 * ((a**2).sum((0, 1)) + (b**2).sum((0, 1))))


def test_long_draw_has_the_fitted_variance_and_persistence(climate, tas_model):
    # 1,500 realizations of 3 years of one series: 4,500 values per cell and calendar month
    forced = climate.tas_forced.isel(scenario=0, time=slice(0, 36))
    draws = tas_model.sample(forced, 1500, seed=0)
    noise = (draws - forced).transpose("realization", "time", "lat", "lon")
    got = noise.groupby("time.month").var(("realization", "time"))
    ratio = (got / tas_model.sigma**2).values
    assert np.abs(ratio - 1).max() < 0.1, (ratio.min(), ratio.max())
    flat = noise.values.reshape(1500, 36, -1)
    model_lag1 = tas_model.lag1.values.reshape(-1)
    assert np.abs(_lag1(flat) - model_lag1).max() < 0.1
    # the synthetic climate's residuals are persistent: the draws keep it within a year
    assert float(np.median(model_lag1)) > 0.2
    # mean zero: the kept years are centred per calendar month and cell
    assert abs(float(noise.mean())) < 0.02 * float(tas_model.sigma.mean())


def test_a_draw_is_the_forced_response_plus_whole_kept_years(climate, tas_model):
    forced = climate.tas_forced.isel(scenario=1, time=slice(5, 41))  # starts in June
    draw = tas_model.sample(forced, 1, seed=4).isel(realization=0)
    noise = (draw - forced).values.reshape(36, -1)
    kept = tas_model._r  # (year, month, cell)
    months = forced.time.dt.month.values - 1
    years = forced.time.dt.year.values
    for year in np.unique(years):
        steps = np.nonzero(years == year)[0]
        match = [k for k in range(tas_model.n_years)
                 if np.allclose(noise[steps], kept[k, months[steps]], atol=1e-4)]
        assert match, f"calendar year {year}: not one kept year"


def test_precipitation_never_negative_and_as_skewed_as_the_residuals(climate):
    resid = climate.pr - climate.pr_forced
    model = BlockBootstrap.fit(resid, kind="precipitation")
    forced = climate.pr_forced.isel(scenario=0)
    draws = model.sample(forced, 200, seed=1)
    assert float(draws.min()) >= 0 and float((draws == 0).mean()) > 0  # dry months: clipped at 0

    def skew(x):
        x = x - x.mean()
        return float((x**3).mean() / (x**2).mean() ** 1.5)

    kept = skew(model._r.astype(np.float64).reshape(-1))
    assert kept > 0.5  # precipitation residuals are skewed to the wet side
    wet = forced + 1000.0  # nothing clipped: the noise itself
    noise = (model.sample(wet, 200, seed=1) - wet).values.reshape(-1)
    assert abs(skew(noise) - kept) < 0.1


def test_seeds_reproduce_differ_and_realizations_do_not_depend_on_n(climate, tas_model):
    forced = climate.tas_forced
    a = tas_model.sample(forced, 3, seed=7)
    np.testing.assert_array_equal(a.values, tas_model.sample(forced, 3, seed=7).values)
    assert (a.values != tas_model.sample(forced, 3, seed=8).values).mean() > 0.9
    np.testing.assert_array_equal(tas_model.sample(forced, 1, seed=7).values[0], a.values[0])
    # samples (scenarios) get independent years
    assert not np.allclose((a - forced).isel(scenario=0).values, (a - forced).isel(scenario=1).values)


def test_variables_fitted_on_the_same_months_draw_the_same_years(climate):
    truth, pred = climate[TARGETS], climate[["tas_forced", "pr_forced"]].rename(tas_forced="tas", pr_forced="pr")
    var = Variability.fit(truth, pred)
    assert var.method == "bootstrap" and var.models["tas"].years == var.models["pr"].years
    forced = pred.isel(scenario=0, time=slice(0, 24))
    draws = var.sample(forced, 2, seed=3)
    for i in range(2):
        for year in (0, 1):
            steps = slice(12 * year, 12 * year + 12)
            tas_noise = (draws.tas - forced.tas).isel(realization=i, time=steps).values.reshape(12, -1)
            k = [k for k in range(var.models["tas"].n_years)
                 if np.allclose(tas_noise, var.models["tas"]._r[k], atol=1e-4)]
            pr_noise = (draws.pr - forced.pr).isel(realization=i, time=steps).values.reshape(12, -1)
            wet = (forced.pr.isel(time=steps).values.reshape(12, -1) > 50)  # nothing clipped there
            assert len(k) == 1 and np.allclose(pr_noise[wet], var.models["pr"]._r[k[0]][wet], atol=1e-4)


def test_kept_years_are_bounded_and_always_the_same(climate):
    resid = climate.tas - climate.tas_forced
    small = BlockBootstrap.fit(resid, max_years=10)
    again = BlockBootstrap.fit(resid, max_years=10)
    assert small.n_years == 10 and small.years == again.years
    assert small.to_dataset().attrs["n_years_available"] == 3 * 3 * 12
    assert BlockBootstrap.fit(resid).n_years == min(MAX_YEARS, 3 * 3 * 12)
    # held-out months (NaN maps) make a year incomplete: it is not kept
    held = resid.where(~((resid.scenario == "mid") & (resid.time.dt.year == 2020)))
    assert not any(label.endswith("2020") and "mid" in label for label in BlockBootstrap.fit(held).years)


def test_netcdf_round_trip_draws_identical_samples(tmp_path, climate, tas_model):
    file = tmp_path / "model.nc"
    tas_model.to_dataset().to_netcdf(file)
    with xr.open_dataset(file) as f:
        assert f["residuals"].encoding["dtype"] == np.dtype("int16")
        loaded = BlockBootstrap.from_dataset(f.load())
    assert loaded.years == tas_model.years
    np.testing.assert_array_equal(loaded.sample(climate.tas_forced, 2, seed=5).values,
                                  tas_model.sample(climate.tas_forced, 2, seed=5).values)


def test_emulator_default_is_the_bootstrap_and_saves_it(tmp_path, climate):
    ds = climate.drop_vars(["tas_forced", "pr_forced"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = ds.emu.fit(INPUTS, TARGETS, seed=0, **FAST)
        par = ds.emu.fit(INPUTS, TARGETS, seed=0, variability="parametric", **FAST)
    assert isinstance(em.variability.models["tas"], BlockBootstrap)
    assert isinstance(par.variability.models["tas"], ResidualModel)
    assert em.meta["variability"]["method"] == "bootstrap" and em.meta["variability"]["n_years"] == 108
    assert par.meta["variability"]["method"] == "parametric"
    forcing = ds.drop_vars(TARGETS)
    again = xemu.load(em.save(tmp_path / "em.xemu"))
    for name in TARGETS:
        np.testing.assert_array_equal(again.predict(forcing, samples=3, seed=2)[name].values,
                                      em.predict(forcing, samples=3, seed=2)[name].values)


def test_bad_options_and_residuals_are_refused(climate):
    resid = climate.tas - climate.tas_forced
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="max_years: expected an integer >= 1"):
            BlockBootstrap.fit(resid, max_years=bad)
    with pytest.raises(ConfigError, match="kind: expected one of"):
        BlockBootstrap.fit(resid, kind="multiplicative")
    with pytest.raises(DataError, match="no complete calendar year"):
        BlockBootstrap.fit(resid.isel(time=slice(3, 14)))
    partly = resid.copy()
    partly[0, 0, 0, 5, 5] = np.nan
    with pytest.raises(DataError, match="partly NaN"):
        BlockBootstrap.fit(partly)
    with pytest.raises(ConfigError, match=r"variability: expected True .* one of \['bootstrap', 'parametric'\]; got 'eofs'"):
        climate.emu.fit(["CO2", "CH4", "SO2", "BC"], TARGETS, model="linear", variability="eofs")
    with pytest.raises(DataError, match="ds: missing variable 'residuals'"):
        BlockBootstrap.from_dataset(BlockBootstrap.fit(resid).to_dataset().drop_vars("residuals"))
