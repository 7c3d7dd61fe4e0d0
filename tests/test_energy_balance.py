"""The energy-balance pattern scaling and its global model (xemu.baselines.energy_balance,
xemu.baselines.global_response)."""

import warnings

import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.baselines.global_response import (
    PRIORS,
    STRENGTHS,
    Forcings,
    GlobalResponse,
    choose_strength,
    fit_global_response,
    two_layer,
)
from xemu.errors import ConfigError, DataError

INPUTS = ["CO2", "CH4", "SO2", "BC"]


def _scenarios(n_years=85):
    """Three made-up emission pathways (low, middle, high) in the model's units, monthly."""
    t = np.arange(n_years * 12) / 12.0
    co2 = np.stack([1500 + r * t + q * t ** 2 for r, q in ((40, -0.2), (45, 0.2), (50, 0.5))])
    ch4 = np.stack([0.37 + a * t for a in (-0.003, 0.004, 0.002)])
    so2 = np.stack([78 * np.exp(-t / tau) for tau in (15.0, 120.0, 40.0)])
    bc = np.stack([6 * np.exp(-t / tau) for tau in (20.0, 60.0, 50.0)])
    return Forcings(co2, ch4, so2, bc)


def test_two_layer_reaches_the_equilibrium_of_its_feedback():
    """A step of forcing F warms the surface towards F / feedback, the deep ocean more slowly."""
    step = np.full((1, 12 * 2000), 3.7)
    step[0, 0] = 0.0
    temperature = two_layer(step, 1.2, 0.7, 8.0, 100.0)
    assert temperature[0, -1] == pytest.approx(3.7 / 1.2, rel=1e-3)
    assert 0.3 * 3.7 / 1.2 < temperature[0, 12 * 10] < 0.9 * 3.7 / 1.2  # fast response, then the slow one


def test_global_model_recovers_the_parameters_of_a_synthetic_energy_balance_run():
    """Global means made by the model with known parameters (and a little noise) give them back."""
    f = _scenarios()
    truth = {n: PRIORS[n][0] for n in PRIORS}
    truth.update(tcre=0.62e-3, aerosol=0.018, methane=1.4, feedback=0.9)
    temperature = GlobalResponse(truth, 287.0, (), 0.0).predict(f)
    temperature += np.random.default_rng(0).normal(0, 0.05, temperature.shape)
    mask = np.ones(temperature.shape, bool)
    fitted = fit_global_response(f, temperature, mask, free=("tcre", "aerosol", "methane", "feedback"),
                                 strength=1e-6)
    for name in ("tcre", "aerosol", "methane", "feedback"):
        assert fitted.values[name] == pytest.approx(truth[name], rel=0.05), name
    assert fitted.offset == pytest.approx(287.0, abs=0.05)
    # parameters not free keep their priors
    assert fitted.values["exchange"] == PRIORS["exchange"][0]


def test_the_prior_strength_is_chosen_by_leaving_out_one_forcing_sample():
    f = _scenarios()
    truth = {n: PRIORS[n][0] for n in PRIORS}
    temperature = GlobalResponse({**truth, "tcre": 0.6e-3}, 287.0, (), 0.0).predict(f)
    temperature += np.random.default_rng(1).normal(0, 0.1, temperature.shape)
    mask = np.ones(temperature.shape, bool)
    fitted = choose_strength(f, temperature, mask, np.arange(3))
    assert fitted.cv_error.shape == (len(STRENGTHS), 3) and fitted.strength in STRENGTHS
    assert fitted.strength == STRENGTHS[int(np.argmin(fitted.cv_error.mean(1)))]
    assert "leave one forcing sample out" in fitted.how
    one = choose_strength(f, temperature, mask, np.zeros(3, int))
    assert one.cv_error is None and "default" in one.how


@pytest.fixture(scope="module")
def climate():
    ds = xemu.synthetic_climate(n_years=12, n_lat=4, n_lon=6, seed=3)
    return ds


def _fit(ds, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xemu.fit(ds, INPUTS, ["tas", "pr"], model="energy-balance", **kw)


def test_fit_predict_and_save_load_round_trip_bit_for_bit(climate, tmp_path):
    eb = _fit(climate)
    assert isinstance(eb, xemu.EnergyBalancePatternScaling)
    pred = eb.predict(climate)
    assert pred.tas.dims == ("scenario", "time", "lat", "lon") and pred.tas.attrs["units"] == "K"
    assert np.isfinite(pred.tas.values).all()
    path = eb.save(tmp_path / "eb.nc")
    back = xemu.load(path)
    assert isinstance(back, xemu.EnergyBalancePatternScaling)
    xr.testing.assert_identical(back.params.drop_attrs() if hasattr(back.params, "drop_attrs") else back.params,
                                eb.params.drop_attrs() if hasattr(eb.params, "drop_attrs") else eb.params)
    assert back.global_response.values == eb.global_response.values
    assert back.global_response.offset == eb.global_response.offset
    again = back.predict(climate)
    for v in ("tas", "pr"):
        np.testing.assert_array_equal(again[v].values, pred[v].values)
    cal = back.predict(climate, variability="calibrated")
    assert np.isfinite(cal.pr.values).all()


def test_the_pattern_follows_the_global_mean(climate):
    """The area-weighted global mean of the predicted tas moves with the model's global mean."""
    eb = _fit(climate, variability=False)
    p = eb.prepare_predict(climate)
    glob = eb.global_temperature(p)
    pred = eb.predict(climate)
    w = np.cos(np.deg2rad(pred.lat))
    pred_glob = pred.tas.weighted(w).mean(("lat", "lon")).values
    annual = pred_glob[:, : 12 * 12].reshape(pred_glob.shape[0], 12, 12).mean(-1)
    g = glob[:, : 12 * 12].reshape(glob.shape[0], 12, 12).mean(-1)
    assert np.corrcoef(annual.ravel(), g.ravel())[0, 1] > 0.99


def test_a_scenario_far_outside_the_training_range_warns_and_stays_finite_and_bounded(climate):
    eb = _fit(climate, variability=False)
    far = climate.copy()
    far["CO2"] = climate["CO2"] * 4
    far["SO2"] = climate["SO2"] * 0
    with pytest.warns(UserWarning, match="global-mean tas of the energy-balance model"):
        pred = eb.predict(far)
    assert np.isfinite(pred.tas.values).all() and np.isfinite(pred.pr.values).all()
    # the maps scale with the global mean: bounded by the patterns times its excursion
    glob = eb.global_temperature(eb.prepare_predict(far))
    slope = np.abs(eb.params["coef_tas"].sel(term="global_temperature")).max().item()
    base = eb.predict(climate)
    excursion = np.abs(glob - eb.global_temperature(eb.prepare_predict(climate))).max()
    assert float(np.abs(pred.tas - base.tas).max()) <= slope * excursion * (1 + 1e-6) + 1e-4
    assert float(pred.tas.max()) < 400.0


def test_clear_errors(climate):
    with pytest.raises(ConfigError, match="temperature: expected one of the targets"):
        xemu.fit(climate, INPUTS, ["pr"], model="energy-balance")
    with pytest.raises(ConfigError, match="inputs: the energy-balance baseline reads only forcings with a role"):
        xemu.fit(climate, [*INPUTS, "rsdt"] if "rsdt" in climate else [*INPUTS, "tas"], ["tas"],
                 model="energy-balance")
    with pytest.raises(ConfigError, match="needs cumulative CO2 emissions"):
        xemu.fit(climate, ["CH4"], ["tas"], model="energy-balance")
    with pytest.raises(ConfigError, match="strength: expected a number >= 0 or 'cv'"):
        xemu.fit(climate, INPUTS, ["tas"], model="energy-balance", strength=-1)
    with pytest.raises(ConfigError, match="free: expected distinct names"):
        xemu.fit(climate, INPUTS, ["tas"], model="energy-balance", free=("tcre", "nonsense"))
    bad = climate.copy()
    bad["CH4"] = bad["CH4"].assign_attrs(units="K")
    with pytest.raises(DataError, match=r"inputs\['CH4'\]: the energy-balance baseline reads it as CH4 emissions"):
        xemu.fit(bad, INPUTS, ["tas"], model="energy-balance")
    with pytest.raises(ConfigError, match=r"variability: expected False with model='energy-balance' and "
                                          r"stream=True"):  # streamed alone, as the other baselines
        xemu.fit(climate, INPUTS, ["tas"], model="energy-balance", stream=True)


def test_cnn_gru_on_the_energy_balance_baseline_takes_its_inputs_with_roles(climate, tmp_path):
    inputs = [*INPUTS, "rsdt"] if "rsdt" in climate else INPUTS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = xemu.fit(climate, inputs, ["tas", "pr"], baseline="energy-balance", epochs=1, progress=False,
                      config={"conv_widths": (4, 4), "conv_strides": (2, 1), "hidden": 8, "head_hidden": 8}, variability=False)
    assert em.meta["baseline"] == "energy-balance" and em.meta["baseline_inputs"] == INPUTS
    pred = em.predict(climate)
    back = xemu.load(em.save(tmp_path / "em.xemu"))
    np.testing.assert_array_equal(back.predict(climate).tas.values, pred.tas.values)


def test_network_inputs_are_held_to_their_training_range(climate):
    """Outside the training range the network's correction stays at the edge of what it learned:
    without a baseline, a prediction from far-out inputs is the prediction from those inputs
    clipped to their training range; inside the range nothing changes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = xemu.fit(climate, ["CO2", "CH4"], ["tas"], baseline=None, epochs=1, progress=False,
                      config={"conv_widths": (4, 4), "conv_strides": (2, 1), "hidden": 8, "head_hidden": 8},
                      variability=False)
    assert em.meta["clamp_inputs"] is True
    em.meta.pop("novelty")  # the correction's taper (tests/test_novelty.py) apart: the clamp alone
    far = climate.copy()
    far["CO2"] = climate["CO2"] * 5
    lo, hi = em.meta["input_ranges"]["CO2"]
    clipped = far.copy()
    clipped["CO2"] = far["CO2"].clip(lo, hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(em.predict(far).tas.values, em.predict(clipped).tas.values)
    meta = dict(em.meta)
    meta.pop("clamp_inputs")
    unclamped = xemu.Emulator(meta, em.net, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not np.array_equal(unclamped.predict(far).tas.values, em.predict(far).tas.values)
    np.testing.assert_array_equal(unclamped.predict(climate).tas.values, em.predict(climate).tas.values)


def test_patterns_on_a_global_mean_the_user_brings_and_another_models_layout(climate):
    """The MESMER-style path (a global-mean temperature series as the input, no global model) and
    data laid out as another model's: a ``realization`` dim, another grid size, a 360-day calendar."""
    other = xemu.synthetic_climate(n_years=12, n_lat=6, n_lon=8, seed=5, calendar="360_day")
    other = other.rename(member="realization")
    w = np.cos(np.deg2rad(other.lat))
    gmt = other.tas_forced.weighted(w).mean(("lat", "lon"))
    other["gmt"] = (gmt - 273.15).assign_attrs(units="degC")
    eb = xemu.fit(other, ["gmt"], ["tas", "pr"], model="energy-balance", roles={"gmt": "gmt"}, variability=False)
    assert eb.global_response.free == () and "gmt" in eb.global_response.how
    p = eb.prepare_predict(other)
    np.testing.assert_allclose(eb.global_temperature(p), gmt.values, rtol=0, atol=1e-3)  # degC -> K
    pred = eb.predict(other)
    assert pred.tas.dims == ("scenario", "time", "lat", "lon") and pred.sizes["lat"] == 6
    # the forced tas is linear in its own global mean by construction of the synthetic climate
    err = float(abs(pred.tas - other.tas_forced).mean())
    assert err < 0.5
    with pytest.raises(ConfigError, match="with a global-mean temperature input"):
        xemu.fit(other, ["gmt", "CO2"], ["tas"], model="energy-balance", roles={"gmt": "gmt"})
    eb2 = _fit(other)  # the forcing path on the same layout
    assert np.isfinite(eb2.predict(other).tas.values).all()


# -- roles checked by shape and by name (issue 29) ----------------------------------------------------
def _with_co2_map(climate):
    """``climate`` with ``CO2map``: the CO2 series spread over the grid (a map, as a user might give it)."""
    spread = climate["SO2"] / climate["SO2"].mean()
    return climate.assign(CO2map=(climate["CO2"] * spread).assign_attrs(units="Gt"))


@pytest.mark.parametrize(("role", "make", "inputs", "label"), [
    ("co2", lambda ds: ds.assign(co2_map=_with_co2_map(ds).CO2map), ["co2_map", "CH4"], "roles['co2']"),
    ("ch4", lambda ds: ds.assign(CH4=(ds.CH4 * ds.SO2 / ds.SO2.mean()).assign_attrs(units="Gt yr-1")),
     ["CO2", "CH4"], "inputs['CH4'] (role 'ch4')"),
    ("gmt", lambda ds: ds.assign(tmap=ds.tas.mean(ds.tas.dims[1]).assign_attrs(units="K")), ["tmap"],
     "roles['gmt']"),
])
def test_a_global_role_given_a_map_is_refused_naming_the_role_and_the_dims(climate, role, make, inputs, label):
    ds = make(climate)
    roles = {"co2": "co2_map"} if role == "co2" else {"gmt": "tmap"} if role == "gmt" else None
    with pytest.raises(DataError) as err:
        xemu.fit(ds, inputs, ["tas"], model="energy-balance", roles=roles)
    message = str(err.value)
    assert message.startswith(f"{label}: input ") and "has the spatial dims (lat, lon)" in message
    assert "expected a global series" in message and "dims (scenario, time, lat, lon)" in message


def test_a_map_given_to_a_global_role_at_prediction_is_refused(climate):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eb = xemu.fit(climate, ["CO2", "CH4"], ["tas"], model="energy-balance", variability=False)
    with pytest.raises(DataError, match=r"inputs\['CO2'\] \(role 'co2'\): input 'CO2' has the spatial dims"):
        eb.predict(climate.assign(CO2=_with_co2_map(climate).CO2map))
    extra = climate.assign(CH4=climate.CH4.expand_dims(site=[1, 2]))
    with pytest.raises(DataError, match=r"inputs\['CH4'\] \(role 'ch4'\): input 'CH4' has the dims \(site\), neither "
                                        r"time nor a sample dim of the targets \(member, scenario\)"):
        xemu.fit(extra, ["CO2", "CH4"], ["tas"], model="energy-balance")


@pytest.mark.parametrize(("roles", "inputs", "words"), [
    (["co2"], ["CO2"], "roles: expected a dict {role: input name} with roles among ['co2', 'ch4', 'so2', 'bc', 'gmt']"),
    ({"co2e": "CO2"}, ["CO2"], "roles: unknown role 'co2e'; expected roles among"),
    ({"co2": 3}, ["CO2"], "roles['co2']: expected the name of an input (a str); got 3"),
    ({"ch4": "methane"}, ["CO2"], "roles['ch4']: 'methane' is not among the inputs ['CO2']"),
    ({"co2": "CO2", "ch4": "CO2"}, ["CO2"], "roles: input 'CO2' is given 2 roles (co2, ch4)"),
    ({"gmt": "tas_global", "co2": "CO2"}, ["tas_global", "CO2"], "roles: with a global-mean temperature input"),
    ({"ch4": "CO2"}, ["CO2"], "needs cumulative CO2 emissions ('CO2' plays another role here"),
])
def test_every_roles_mismatch_names_the_argument_what_was_expected_and_what_came(climate, roles, inputs, words):
    ds = climate.assign(tas_global=climate.CO2.assign_attrs(units="K"))
    with pytest.raises(ConfigError) as err:
        xemu.fit(ds, inputs, ["tas"], model="energy-balance", roles=roles)
    assert words in str(err.value)


def test_the_two_layer_filter_is_scipys_to_the_bit():
    """The two-layer model's transfer function and recursive filter give every value that
    ``scipy.signal.ss2tf`` and ``lfilter`` give, bit for bit, for parameters across and beyond
    the priors and forcings of several sizes (so that predictions did not change when xemu
    stopped importing ``scipy.signal``)."""
    from scipy.signal import lfilter, ss2tf

    from xemu.baselines.global_response import DT, recursive_filter, transfer_function

    rng = np.random.default_rng(0)
    for _ in range(50):
        feedback, exchange = rng.uniform(0.2, 3.0), rng.uniform(0.1, 2.0)
        heat, deep = rng.uniform(1.0, 20.0), rng.uniform(10.0, 300.0)
        a = np.eye(2) + DT * np.array([[-(feedback + exchange) / heat, exchange / heat],
                                       [exchange / deep, -exchange / deep]])
        b, c = np.array([[DT / heat], [0.0]]), np.array([[1.0, 0.0]])
        num, den = transfer_function(a, b, c @ a, c @ b)
        want_num, want_den = ss2tf(a, b, c @ a, c @ b)
        np.testing.assert_array_equal(num, want_num[0])
        np.testing.assert_array_equal(den, want_den)
        x = rng.normal(size=(int(rng.integers(1, 4)), int(rng.integers(1, 3000)))) * rng.uniform(0.01, 10.0)
        np.testing.assert_array_equal(recursive_filter(num, den, x), lfilter(want_num[0], want_den, x, axis=1))
    with pytest.raises(ValueError, match="three coefficients"):
        recursive_filter(np.ones(2), np.ones(2), np.ones((1, 3)))
