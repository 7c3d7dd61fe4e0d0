"""The network's correction tapers to its baseline for forcings unlike the training months'
(:mod:`xemu.data.novelty`, ``taper_length`` in ``emulator.json``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import xemu
from xemu.data.novelty import Novelty, taper
from xemu.data.prepare import prepare
from xemu.errors import ConfigError, DataError
from xemu.recipe.correction import TAPER_LENGTH

INPUTS = ["CO2", "CH4", "SO2", "BC", "rsdt"]
SMALL = {"conv_widths": (8, 8), "conv_strides": (1, 2), "hidden": 16, "head_hidden": 32}


@pytest.fixture(scope="module")
def climate():
    return xemu.synthetic_climate(n_years=12, n_lat=6, n_lon=8, seed=5)


def _blob(ds):
    """A warm patch over a quarter of the grid, 1 inside and 0 outside."""
    lat, lon = ds.lat, ds.lon
    return ((lat > 0) & (lon < 180)).astype("float32")


def _fit(ds, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xemu.fit(ds, INPUTS, ["tas", "pr"], **{
            "epochs": 8, "windows_per_epoch": 192, "batch_size": 16, "lr": 3e-3, "progress": False, "config": SMALL,
            "variability": False, **kw})


def _predict(em, ds, length=None):
    if length is not None:
        em.meta["taper_length"] = length
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return em.predict(ds.drop_vars(["tas", "pr"], errors="ignore")).tas


def _correction(em, ds, length=None):
    """The network's part of the prediction: the prediction less the baseline's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = em.baseline.predict(ds.drop_vars(["tas", "pr"], errors="ignore")).tas
    return _predict(em, ds, length) - base


def test_distance_is_zero_on_training_months_and_grows_away_from_them(climate):
    p = prepare(climate, ["CO2", "CH4", "SO2"], ["tas"])
    rows = np.zeros(p.inputs.shape[:2], bool)
    rows[[0, 2]] = True  # low and high scenarios
    nov = Novelty.fit(p, rows)
    d = nov.distance(p)
    assert d[[0, 2]].max() == 0
    far = climate.copy()
    far["CH4"] = climate["CH4"] * 4
    d_far = nov.distance(prepare(far, ["CO2", "CH4", "SO2"], ["tas"]))
    assert (d_far[:, -12:] > d[:, -12:]).all() and d_far.min() > 1
    back = Novelty.from_dict(nov.to_dict())
    np.testing.assert_array_equal(back.distance(p), d)
    assert taper(np.array([0.0]), TAPER_LENGTH)[0] == 1.0


def test_a_length_per_input_and_an_input_left_out(climate):
    """With a length per input, each input's standardised difference is divided by its length;
    an input of length inf is not compared: a scenario that differs from a training one in CO2
    alone is at distance 0 from it then."""
    p = prepare(climate, ["CO2", "CH4", "SO2"], ["tas"])
    rows = np.zeros(p.inputs.shape[:2], bool)
    rows[2] = True  # high
    nov = Novelty.fit(p, rows)
    far = climate.copy()
    far["CO2"] = climate["CO2"] * 3
    q = prepare(far, ["CO2", "CH4", "SO2"], ["tas"])
    assert nov.distance(q)[2, -12:].min() > 1
    assert nov.distance(q, {"CO2": float("inf")})[2].max() == 0
    np.testing.assert_allclose(nov.distance(p, {"CO2": 2.0, "CH4": 2.0, "SO2": 2.0}), nov.distance(p) / 2)
    with pytest.raises(ConfigError, match="lengths: expected a positive length"):
        nov.distance(p, {"CO2": 0})
    with pytest.raises(ConfigError, match="lengths: expected a positive length"):
        nov.distance(p, {"N2O": 1.0})


def test_novelty_refuses_other_inputs_and_bad_records(climate):
    p = prepare(climate, ["CO2", "CH4"], ["tas"])
    nov = Novelty.fit(p, np.ones(p.inputs.shape[:2], bool))
    with pytest.raises(DataError, match=r"novelty: expected the inputs \['CO2', 'CH4'\]; got \['CO2'\]"):
        nov.distance(prepare(climate, ["CO2"], ["tas"]))
    with pytest.raises(DataError, match="points of shape"):
        Novelty(["CO2"], [0.0], [1.0], np.zeros((11, 3, 1)))


@pytest.fixture(scope="module")
def corrected(climate):
    """The default fit on 'low' and 'high' (a small network, one short epoch), with a correction
    planted in its network: the last layer of the tas head set to a warm patch of 3 K on a
    quarter of the grid and nothing else, so that the network adds exactly that patch to the
    baseline in every month. What the fit learned besides (baseline, statistics, the training
    forcings, the taper) is the default fit's."""
    em = _fit(climate.sel(scenario=["low", "high"]), epochs=1, windows_per_epoch=16)
    last = em.net.heads[0].net[-1]
    scale = em.meta["target_scale"][0]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.from_numpy(3.0 * _blob(climate).values.ravel() / scale))
    return em, _blob(climate).astype(bool)


def test_a_correction_learned_on_the_training_scenarios_is_not_carried_far_from_them(corrected, climate):
    """On the training scenarios the network adds its whole correction (the patch, to float32
    rounding); for a new scenario whose CH4 lies four times beyond the training range, where
    nothing says the correction still holds, the prediction is its baseline's within 10 % of
    the patch."""
    em, inside = corrected
    assert em.meta["taper_length"] == TAPER_LENGTH
    train = _correction(em, climate.sel(scenario=["low", "high"]))
    np.testing.assert_allclose(train.where(inside).mean(), 3.0, rtol=1e-5)
    new = climate.sel(scenario=["high"]).drop_vars(["tas", "pr"]).assign_coords(scenario=["new"])
    new["CH4"] = new["CH4"] * 4
    late = _correction(em, new).isel(time=slice(-60, None))
    assert float(abs(late).max()) <= 0.3
    untapered = _correction(em, new, length=float("inf")).isel(time=slice(-60, None))
    np.testing.assert_allclose(untapered.where(inside).mean(), 3.0, rtol=1e-5)  # the taper did it


def test_a_correction_is_kept_where_the_forcings_were_seen(corrected, climate):
    """For a new scenario whose forcings lie among the training months' ('mid', between 'low' and
    'high'), the fit keeps at least 80 % of the correction in every month, and all of it where
    a month's forcings are a training month's (the first year: every scenario starts alike)."""
    em, inside = corrected
    kept = _correction(em, climate.sel(scenario=["mid"])).where(inside).mean(["lat", "lon"]) / 3.0
    assert float(kept.min()) >= 0.8
    np.testing.assert_allclose(kept.isel(time=slice(0, 12)), 1.0, rtol=1e-5)


def test_emulators_saved_without_a_taper_predict_as_before(climate, tmp_path):
    """An emulator whose emulator.json has no novelty record (saved before the taper) predicts
    with the whole correction; the taper's record round-trips bit for bit."""
    em = _fit(climate.sel(scenario=["low", "high"]), epochs=1)
    back = xemu.load(em.save(tmp_path / "em.xemu"))
    assert back.meta["novelty"] == em.meta["novelty"] and back.meta["taper_length"] == TAPER_LENGTH
    np.testing.assert_array_equal(_predict(back, climate).values, _predict(em, climate).values)
    old = xemu.Emulator({k: v for k, v in em.meta.items() if k not in ("novelty", "taper_length")}, em.net,
                        em.baseline, None)
    np.testing.assert_array_equal(_predict(old, climate).values, _predict(em, climate, length=float("inf")).values)


def test_running_mean_is_xarrays_centred_rolling_mean():
    """:func:`xemu.recipe.correction.running_mean` over an even and an odd span equals ``xarray``'s
    ``rolling(center=True, min_periods=1).mean()`` (the ends of the series included)."""
    import xarray as xr

    from xemu.recipe.correction import running_mean

    x = np.random.default_rng(0).standard_normal((2, 40, 3)).astype(np.float32)
    for months in (12, 7, 1):
        want = xr.DataArray(x, dims=("s", "time", "v")).rolling(time=months, center=True, min_periods=1).mean()
        np.testing.assert_allclose(running_mean(x, months), want.values, rtol=1e-6, atol=1e-6)
        assert running_mean(x, months).dtype == np.float32


def test_running_mean_is_numpys_cumulative_sums_bit_for_bit():
    """:func:`xemu.recipe.correction.running_mean` adds the months one by one and keeps only the
    sums its span needs: the same numbers, bit for bit, as the differences of ``numpy.cumsum``
    (float64) it replaced, for spans shorter and longer than the series; and so is the correction
    (``apply_correction`` with ``parts``, whose slow part it subtracts in place)."""
    from xemu.recipe.correction import apply_correction, running_mean

    def cumsum_mean(x, months):
        csum = np.concatenate([np.zeros_like(x[:, :1], np.float64), np.cumsum(x, axis=1, dtype=np.float64)], axis=1)
        t = np.arange(x.shape[1])
        lo, hi = np.maximum(t - months // 2, 0), np.minimum(t + (months - 1) // 2 + 1, x.shape[1])
        return ((csum[:, hi] - csum[:, lo]) / (hi - lo)[None, :, None, None, None]).astype(x.dtype)

    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 150, 2, 3, 4)) * 3 + 1).astype(np.float32)
    scale = np.array([2.0, 0.5], np.float32)[None, None, :, None, None]
    w, dw = rng.uniform(0, 1, (2, 2, 150)).astype(np.float32)
    for months in (120, 12, 7, 1, 400):
        np.testing.assert_array_equal(running_mean(x, months), cumsum_mean(x, months))
        meta = {"target_scale": [2.0, 0.5], "correction_split": {"slow_months": months}}
        full = x * scale
        want = x * (scale * w[:, :, None, None, None]) + dw[:, :, None, None, None] * (full - cumsum_mean(full, months))
        np.testing.assert_array_equal(apply_correction(x, meta, parts=(w, dw)), want)


def _far(climate):
    """A new scenario whose CH4 lies four times beyond the training range ('high' otherwise)."""
    new = climate.sel(scenario=["high"]).drop_vars(["tas", "pr"]).assign_coords(scenario=["new"])
    new["CH4"] = new["CH4"] * 4
    return new


def test_the_slow_and_the_fast_part_of_the_correction_are_weighted_apart(corrected, climate):
    """``apply_correction``: the correction's running mean over ``SLOW_MONTHS`` is weighted by the
    slow part's taper, the rest (here a seasonal cycle) by the fast part's (not tapered by
    default). Where the two weights are equal, or for an emulator saved before the split, the
    correction is ``out * scale * weight``, bit for bit as before the split."""
    from xemu.recipe.correction import SLOW_MONTHS, apply_correction, correction_weights

    em, _ = corrected
    meta = {**em.meta, "taper_length": TAPER_LENGTH}  # another test sets the fixture's length
    assert meta["correction_split"] == {"slow_months": SLOW_MONTHS, "fast_taper_length": None}
    p = em._prepare_inputs(_far(climate))
    n = p.time.size
    seasonal = np.sin(2 * np.pi * np.arange(n) / 12)
    out = np.zeros((1, n, 2, p.lat.size, p.lon.size), np.float32)
    out[:, :, 0] = (1.0 + seasonal)[None, :, None, None]
    w_slow, w_fast = correction_weights(meta, p, "slow")[0], correction_weights(meta, p, "fast")[0]
    assert w_slow[-12:].max() < 0.1 and (w_fast == 1).all()
    scale = np.float32(meta["target_scale"][0])
    got = apply_correction(out, meta, p)[0, :, 0, 0, 0]
    # months whose running mean spans whole years (SLOW_MONTHS is a multiple of 12): there the
    # seasonal cycle's mean is 0 and the slow part is the constant
    inner = slice(SLOW_MONTHS // 2, n - (SLOW_MONTHS - 1) // 2)
    assert SLOW_MONTHS % 12 == 0 and len(range(n)[inner]) >= 12
    np.testing.assert_allclose(got[inner], (scale * (w_slow + w_fast * seasonal))[inner], atol=1e-5)
    before = {k: v for k, v in meta.items() if k != "correction_split"}
    np.testing.assert_array_equal(apply_correction(out, before, p),
                                  out * (np.asarray(meta["target_scale"], np.float32)[None, None, :, None, None]
                                         * w_slow[None, :, None, None, None]))


def test_lazy_prediction_of_a_split_correction_equals_in_memory(climate):
    """Far from the training forcings the slow part's running mean reaches across a lazy
    prediction's blocks of months: each block reads the months around it, and the blocks
    together give the in-memory prediction."""
    em = _fit(climate.sel(scenario=["low", "high"]), epochs=1)
    new = _far(climate)
    assert float(abs(em.correction_weight(new, "fast") - em.correction_weight(new)).max()) > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = em.predict(new, lazy=False)
        lazy = em.predict(new.chunk({"time": 24}), lazy=True, time_chunk=24).compute()
    import xarray as xr

    xr.testing.assert_allclose(lazy, eager, rtol=1e-6, atol=1e-5)


def test_correction_weight_part_is_checked(corrected, climate):
    em, _ = corrected
    with pytest.raises(ConfigError, match="part: expected 'slow' or 'fast'; got 'all'"):
        em.correction_weight(climate.sel(scenario=["low"]), part="all")
