import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.emulator import Emulator
from xemu.errors import ConfigError, DataError, GridError, NotFittedError, UnitsError
from xemu.testing import TINY_CONFIG as TINY

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
HOLDOUT = {"scenario": "mid", "member": 0, "time": slice("2017-01", None)}


@pytest.fixture(scope="module")
def fitted(synthetic):
    return synthetic.emu.fit(INPUTS, TARGETS, holdout=HOLDOUT, epochs=2, windows_per_epoch=60, batch_size=8,
                             progress=False, config=TINY, seed=0)


@pytest.fixture(scope="module")
def forcing(synthetic):
    return synthetic.drop_vars(["tas", "pr", "tas_forced", "pr_forced"])


def test_fit_predict_keeps_coords_units_and_attrs(fitted, forcing, synthetic):
    pred = forcing.emu.predict(fitted)
    assert set(pred.data_vars) == {"tas", "pr"}
    for name in TARGETS:
        da = pred[name]
        assert da.dims == ("scenario", "time", "lat", "lon")
        for c in ("scenario", "time", "lat", "lon"):
            xr.testing.assert_identical(da[c].reset_coords(drop=True), synthetic[c].reset_coords(drop=True))
        for key in ("units", "standard_name", "long_name"):
            assert da.attrs[key] == synthetic[name].attrs[key]
        assert "history" not in da.attrs  # provenance is global (CF), below
        assert np.isfinite(da.values).all()
    assert pred.pr.attrs["units"] == "mm/day"
    assert "xemu" in pred.attrs["history"] and "holdout" in pred.attrs["history"]
    assert pred.attrs["source"].endswith("cnn-gru emulator (baseline energy-balance)")
    np.testing.assert_array_equal(fitted.predict(forcing).tas.values, pred.tas.values)


@pytest.mark.parametrize("baseline", ["auto", "linear"])
def test_untrained_emulator_is_its_baseline(synthetic, forcing, baseline):
    """The default (``"auto"``, here the energy-balance baseline on CO2, CH4, SO2, BC) and
    ``"linear"``: an emulator whose network never moved predicts its baseline."""
    em = synthetic.emu.fit(INPUTS, TARGETS, epochs=1, windows_per_epoch=8, batch_size=8, lr=0.0,
                           progress=False, config=TINY, baseline=baseline)
    if baseline == "auto":
        assert isinstance(em.baseline, xemu.EnergyBalancePatternScaling)
        base = synthetic.emu.fit(INPUTS[:4], TARGETS, model="energy-balance")
    else:
        assert isinstance(em.baseline, xemu.LinearPatternScaling)
        base = synthetic.emu.fit(INPUTS, TARGETS, model="linear")
    np.testing.assert_allclose(em.predict(forcing).tas.values, base.predict(forcing).tas.values, atol=1e-3)


def test_normalisation_uses_training_months_only(synthetic):
    poisoned = synthetic.copy(deep=True)
    poisoned["CO2"][1, -12:] = 1e6  # scenario 'mid', the held-out year
    kw = dict(epochs=1, windows_per_epoch=8, batch_size=8, progress=False, config=TINY)
    a = synthetic.emu.fit(INPUTS, TARGETS, holdout={"scenario": "mid", "time": slice("2017-01", None)}, **kw)
    b = poisoned.emu.fit(INPUTS, TARGETS, holdout={"scenario": "mid", "time": slice("2017-01", None)}, **kw)
    assert a.meta["input_mean"] == b.meta["input_mean"] and a.meta["target_scale"] == b.meta["target_scale"]


def test_calibrated_prediction_takes_its_variance_from_the_baseline(fitted, forcing):
    """The calibrated prediction of a CNN-GRU on a baseline is its forced response calibrated with the
    baseline's own forced prediction as the reference (each block's variance: the baseline's plus
    the internal variance learned against the baseline, or its own where larger)."""
    from xemu.variability import apply

    assert fitted.variability.needs_reference
    forced = fitted.predict(forcing)
    reference = fitted.baseline.predict(forcing[fitted.baseline.inputs])
    want = apply(forced, fitted.variability, output="calibrated", reference=reference)
    got = fitted.predict(forcing, variability="calibrated")
    for name in TARGETS:
        np.testing.assert_array_equal(got[name].values, want[name].values)
    with pytest.raises(ConfigError, match="reference: this emulator's calibration"):
        apply(forced, fitted.variability, output="calibrated")
    again, base = fitted.forced_response(forcing, with_baseline=True)  # what predict computes it from
    for name in TARGETS:
        np.testing.assert_array_equal(again[name].values, forced[name].values)
        np.testing.assert_array_equal(base[name].values, reference[name].values)
        assert base[name].dims == forced[name].dims and base[name].attrs == forced[name].attrs


def test_save_load_round_trip_bit_for_bit(fitted, forcing, tmp_path):
    path = fitted.save(tmp_path / "em.xemu")
    assert sorted(p.name for p in path.iterdir()) == ["baseline.nc", "emulator.json", "variability.nc", "weights.pt"]
    loaded = xemu.load(path)
    for kw in ({}, {"variability": "calibrated"}, {"samples": 2, "seed": 5}):
        a, b = fitted.predict(forcing, **kw), loaded.predict(forcing, **kw)
        for name in TARGETS:
            np.testing.assert_array_equal(a[name].values, b[name].values)
    assert loaded.meta["training_selection"] == fitted.meta["training_selection"]
    assert loaded.meta["variability"]["calibration"] == "the baseline's variance and internal variance per block"
    assert loaded.variability.calibration == fitted.variability.calibration
    for name in TARGETS:  # what the calibrated prediction adds, bit for bit
        np.testing.assert_array_equal(loaded.variability.internal[name].values, fitted.variability.internal[name].values)
    fitted.save(path, overwrite=True)  # overwriting an existing save is atomic too
    assert not list(tmp_path.glob(".*"))


def test_loaded_emulator_needs_no_training_data(fitted, tmp_path):
    import subprocess
    import sys

    path = fitted.save(tmp_path / "em.xemu")
    code = (
        "import xemu\n"
        "ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12, scenarios=('new',), seed=5)\n"
        "ds = ds.drop_vars(['tas', 'pr', 'tas_forced', 'pr_forced'])\n"
        f"pred = xemu.load({str(path)!r}).predict(ds)\n"
        "print(pred.tas.dims, float(pred.tas.mean()) > 200)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "('scenario', 'time', 'lat', 'lon') True"


def test_compatible_input_units_are_converted(fitted, forcing):
    mt = forcing.copy()
    mt["CO2"] = forcing.CO2 * 1000
    mt["CO2"].attrs = {**forcing.CO2.attrs, "units": "Mt"}
    np.testing.assert_allclose(fitted.predict(mt).tas.values, fitted.predict(forcing).tas.values, atol=1e-3)
    bad = forcing.copy()
    bad["CO2"].attrs = {**forcing.CO2.attrs, "units": "K"}
    with pytest.raises(UnitsError, match="CO2"):
        fitted.predict(bad)


def test_bad_input_errors(synthetic, fitted, forcing):
    with pytest.raises(DataError, match=r"inputs: unknown variables \['CO3'\]"):
        synthetic.emu.fit(["CO3"], TARGETS, progress=False)
    with pytest.raises(DataError, match=r"targets: unknown variables \['tos'\]"):
        synthetic.emu.fit(INPUTS, ["tos"], progress=False)
    coarse = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    with pytest.raises(GridError, match="trained on 8"):
        fitted.predict(coarse.drop_vars(TARGETS))
    shifted = forcing.assign_coords(lon=forcing.lon + 1.0)
    with pytest.raises(GridError, match="lon"):
        fitted.predict(shifted)
    with pytest.raises(NotFittedError, match="not fitted"):
        Emulator({}).predict(forcing)
    with pytest.raises(DataError, match="at least 12 consecutive months"):
        fitted.predict(forcing.isel(time=slice(0, 8)))
    with pytest.raises(DataError, match="shorter than one window"):
        synthetic.isel(time=slice(0, 10)).emu.fit(INPUTS, TARGETS, progress=False, config=TINY)
    with pytest.raises(DataError, match="NaN"):
        nan = synthetic.copy(deep=True)
        nan["tas"][0, 0, 3] = np.nan
        nan.emu.fit(INPUTS, TARGETS, progress=False, config=TINY)
    with pytest.raises(DataError, match="inputs"):
        fitted.predict(forcing.drop_vars("SO2"))


def test_predict_uses_a_gpu_when_present_by_default():
    import inspect

    assert inspect.signature(Emulator.predict).parameters["device"].default == "auto"
