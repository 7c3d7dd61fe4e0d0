"""Internal variability through the emulators: calibrated predictions, seeded samples, save/load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.errors import ConfigError
from xemu.testing import TINY_CONFIG

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
FAST = {"epochs": 1, "windows_per_epoch": 32, "batch_size": 8, "progress": False, "config": TINY_CONFIG}


@pytest.fixture(scope="module")
def climate():
    return xemu.synthetic_climate(n_years=12, n_lat=8, n_lon=12, seed=0).drop_vars(["tas_forced", "pr_forced"])


@pytest.fixture(scope="module")
def forcing(climate):
    return climate.drop_vars(TARGETS)


@pytest.fixture(scope="module")
def em(climate):
    return climate.emu.fit(INPUTS, TARGETS, holdout={"scenario": "mid", "member": 0, "time": slice("2024-01", None)},
                           seed=0, **FAST)


@pytest.fixture(scope="module")
def lin(climate):
    return climate.emu.fit(["CO2", "CH4", "SO2", "BC"], TARGETS, model="linear")


@pytest.mark.parametrize("which", ["em", "lin"])
def test_seeded_samples_reproduce_and_differ_across_seeds(which, request, forcing):
    model = request.getfixturevalue(which)
    a = model.predict(forcing, samples=3, seed=1)
    b = forcing.emu.predict(model, samples=3, seed=1)  # the accessor forwards
    c = model.predict(forcing, samples=3, seed=2)
    assert a.tas.dims[0] == "realization" and a.sizes["realization"] == 3
    for name in TARGETS:
        np.testing.assert_array_equal(a[name].values, b[name].values)
        assert (a[name].values != c[name].values).mean() > 0.9
    assert a.realization.attrs["seed"] == 1
    # realization i does not depend on how many are drawn
    np.testing.assert_array_equal(model.predict(forcing, samples=1, seed=1).tas.values[0], a.tas.values[0])


def test_unseeded_samples_record_their_seed(em, forcing):
    a = em.predict(forcing, samples=2)
    again = em.predict(forcing, samples=2, seed=a.realization.attrs["seed"])
    np.testing.assert_array_equal(a.tas.values, again.tas.values)


def test_precipitation_samples_and_calibrated_prediction_are_never_negative(em, lin, forcing):
    for model in (em, lin):
        assert float(model.predict(forcing, samples=5, seed=0).pr.min()) >= 0
        assert float(model.predict(forcing, variability="calibrated").pr.min()) >= 0


def test_samples_spread_around_the_forced_response_like_the_residuals(em, forcing):
    forced = em.predict(forcing)
    draws = em.predict(forcing, samples=40, seed=3)
    noise = (draws.tas - forced.tas).sel(scenario="mid")
    fitted = em.variability.models["tas"].sigma  # (month, lat, lon)
    got = noise.groupby("time.month").var(("realization", "time"))
    ratio = (got / fitted**2).values
    assert abs(np.median(ratio) - 1) < 0.1 and np.percentile(ratio, 95) < 1.35, np.percentile(ratio, [5, 50, 95])
    lag1 = xr_corr_lag1(noise)
    model_lag1 = em.variability.models["tas"].lag1.values
    assert np.median(np.abs(lag1 - model_lag1)) < 0.1


def xr_corr_lag1(noise):
    x = noise.transpose("realization", "time", ...).values
    a, b = x[:, :-1].reshape(-1, *x.shape[2:]), x[:, 1:].reshape(-1, *x.shape[2:])
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).mean(0) / np.sqrt((a**2).mean(0) * (b**2).mean(0))


def test_calibrated_prediction_has_the_variability_of_the_members(em, climate, forcing):
    forced = em.predict(forcing).tas.sel(scenario="high")
    calibrated = em.predict(forcing, variability="calibrated").tas.sel(scenario="high")
    truth_std = climate.tas.sel(scenario="high").std("time").mean("member")
    gap_forced = float(abs(forced.std("time") - truth_std).mean())
    gap_calibrated = float(abs(calibrated.std("time") - truth_std).mean())
    assert gap_calibrated < 0.5 * gap_forced, (gap_forced, gap_calibrated)
    # the time mean of the predicted months does not move (tas is not clipped)
    np.testing.assert_allclose(calibrated.mean("time"), forced.mean("time"), rtol=1e-5)  # float32


def test_baseline_save_load_draws_identical_samples(lin, forcing, tmp_path):
    path = lin.save(tmp_path / "lin.nc")
    loaded = xemu.load(path)
    np.testing.assert_array_equal(loaded.predict(forcing, samples=2, seed=4).pr.values,
                                  lin.predict(forcing, samples=2, seed=4).pr.values)


@pytest.mark.parametrize("which", ["em", "lin"])
def test_anchored_draws_keep_each_decade_mean_and_the_variability_within(which, request, forcing):
    """anchor="decade": the same draws, each moved per block so that its mean over 2015-2019 and
    over 2020-2026 is the forced response's; anomalies within a block unchanged for tas; pr >= 0."""
    model = request.getfixturevalue(which)
    forced = model.predict(forcing)
    free = model.predict(forcing, samples=4, seed=5)
    held = model.predict(forcing, samples=4, seed=5, anchor="decade")
    again = forcing.emu.predict(model, samples=4, seed=5, anchor="decade")
    xr.testing.assert_equal(held, again)  # the same values; only the time stamp of history may differ
    assert "each block of 10 calendar years" in held.attrs["title"]
    assert "anchor_draws" in held.tas.attrs["xemu_anchor"] and "xemu_anchor" not in free.tas.attrs
    block = (forcing.time.dt.year >= 2020).rename("block")
    assert set(np.unique(forcing.time.dt.year.values // 10)) == {201, 202}
    gap = held.tas.groupby(block).mean("time") - forced.tas.groupby(block).mean("time")
    assert float(abs(gap).max()) < 1e-3  # K; float32 maps near 288 K
    free_gap = free.tas.groupby(block).mean("time") - forced.tas.groupby(block).mean("time")
    assert float(abs(free_gap).max()) > 0.05  # the unanchored draws' block means do wander
    within_held = held.tas.groupby(block) - held.tas.groupby(block).mean("time")
    within_free = free.tas.groupby(block) - free.tas.groupby(block).mean("time")
    np.testing.assert_allclose(within_held.values, within_free.values, atol=1e-3)
    pr_gap = held.pr.groupby(block).mean("time") - forced.pr.groupby(block).mean("time").clip(min=0)
    assert float(abs(pr_gap).max()) < 1e-4 and float(held.pr.min()) >= 0
    # the draws still vary: month-to-month spread across realizations as large as the free draws'
    ratio = float(held.tas.std("realization").mean() / free.tas.std("realization").mean())
    assert 0.8 < ratio <= 1.0, ratio


def test_anchor_functions_refuse_bad_arguments(lin, forcing):
    from xemu.errors import DataError
    from xemu.variability import anchor_draws, hold_block_means

    forced = lin.predict(forcing).tas
    draws = lin.predict(forcing, samples=2, seed=0).tas
    with pytest.raises(ConfigError, match="years: expected 'decade' or a number of years >= 1; got None"):
        anchor_draws(draws, forced, None)
    with pytest.raises(ConfigError, match="anchor: expected None.*got -3"):
        anchor_draws(draws, forced, -3)
    with pytest.raises(ConfigError, match=r"block: expected one label per time step of pred \(144\); got shape \(3,\)"):
        hold_block_means(draws, forced, np.zeros(3))
    with pytest.raises(DataError, match=r"draws: expected pred's dims .* missing \['scenario'\]"):
        hold_block_means(draws.isel(scenario=0), forced, np.zeros(forced.sizes["time"]))


def test_anchor_blocks_are_calendar_blocks_and_short_ends_join():
    from xemu.variability import anchor_blocks

    year = np.repeat(np.arange(2015, 2101), 12)[:-11]  # 2015-01 .. 2100-01
    blocks = anchor_blocks(year, 10)
    first, last = (year[blocks == b] for b in (blocks[0], blocks[-1]))
    assert (first.min(), first.max(), first.size) == (2015, 2019, 60)  # half a decade: its own block
    assert (last.min(), last.max(), last.size) == (2090, 2100, 121)  # 2100-01 joins the 2090s
    assert np.unique(blocks).size == 9
    assert np.unique(anchor_blocks(np.repeat([2018, 2019, 2020], 12), 10)).size == 1  # 24 months join 12
    assert np.unique(anchor_blocks(np.repeat([2019], 12), 10)).size == 1


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        pytest.param({"anchor": "decade"}, "anchor: only used with samples", id="anchor-without-samples"),
        pytest.param({"samples": 2, "anchor": "century"}, r"anchor: expected None, one of \['decade'\] or a number "
                     r"of years >= 1; got 'century'", id="unknown-anchor"),
        pytest.param({"samples": 2, "anchor": 0}, "anchor: expected None.*got 0", id="zero-years"),
        pytest.param({"samples": 2, "anchor": True}, "anchor: expected None.*got True", id="bool-anchor"),
        pytest.param({"samples": 0}, "samples: expected an integer >= 1 or None; got 0", id="zero-samples"),
        pytest.param({"samples": 2.5}, "samples: expected an integer >= 1", id="float-samples"),
        pytest.param({"variability": "stochastic"}, r"variability: expected one of \['forced', 'calibrated'\]",
                     id="unknown-variability"),
        pytest.param({"samples": 2, "variability": "calibrated"}, "samples add internal variability to the forced",
                     id="samples-and-calibrated"),
        pytest.param({"seed": 3}, "seed: only used with samples", id="seed-without-samples"),
        pytest.param({"samples": 2, "seed": -1}, "seed: expected a non-negative integer", id="negative-seed"),
    ],
)
def test_bad_variability_options(em, forcing, kw, words):
    with pytest.raises(ConfigError, match=words):
        em.predict(forcing, **kw)


def test_without_variability_samples_are_refused(climate, forcing):
    em = climate.emu.fit(INPUTS, TARGETS, variability=False, **FAST)
    assert em.variability is None and em.meta["variability"] is None
    with pytest.raises(ConfigError, match="no model of internal variability"):
        em.predict(forcing, samples=2, seed=0)


def test_too_short_a_series_warns_and_keeps_the_forced_response(climate):
    short = climate.isel(time=slice(0, 18))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        em = short.emu.fit(INPUTS, TARGETS, **FAST)
    assert any("at least 24 are needed to learn internal variability" in str(w.message) for w in caught)
    assert em.variability is None
