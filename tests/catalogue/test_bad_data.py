"""Bad-input catalogue: data, options and scores (one test id per case).

Each case feeds xemu one mistake a user makes and asserts what must come back: the error
class and the words of its message, or the warning, or the correct result. Grouped by the
issue's items: 2 (a well-posed baseline and what-if scenarios), 4 (units in scores),
5 (the time axis), 6 (silent numerics), 7 (raw crashes), 8 (stale checkpoints); then the
last raw errors of issue 23 (a latitude axis in the other order, a holdout of everything,
memory asked for before it is taken).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.emulator import Emulator
from xemu.errors import ConfigError, CoordinateError, DataError, GridError, UnitsError
from xemu.testing import TINY_CONFIG

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
FORCINGS = ["CO2", "CH4", "SO2", "BC"]
FAST = {"epochs": 1, "windows_per_epoch": 16, "batch_size": 8, "progress": False, "config": TINY_CONFIG}


@pytest.fixture(scope="module")
def ds():
    return xemu.synthetic_climate(n_years=3, n_lat=8, n_lon=12, seed=0).drop_vars(["tas_forced", "pr_forced"])


@pytest.fixture(scope="module")
def forcing(ds):
    return ds.drop_vars(TARGETS)


@pytest.fixture(scope="module")
def em(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.emu.fit(INPUTS, TARGETS, holdout={"scenario": "high"}, seed=0, **FAST)


@pytest.fixture(scope="module")
def lin(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.emu.fit(FORCINGS, TARGETS, model="linear", holdout={"scenario": "high"})


def _replace(ds: xr.Dataset, name: str, values=None, **attrs) -> xr.Dataset:
    """A copy of ``ds`` with ``name``'s values and/or attrs replaced."""
    out = ds.copy()
    da = ds[name].copy(data=values if values is not None else ds[name].values.copy())
    da.attrs = {**ds[name].attrs, **attrs}
    out[name] = da
    return out


def _time(ds: xr.Dataset, stamps) -> xr.Dataset:
    return ds.assign_coords(time=xr.DataArray(list(stamps), dims="time", attrs=ds.time.attrs))


def _fit(data, **kw):
    return data.emu.fit(INPUTS, TARGETS, **{**FAST, **kw})


# --- item 2: a well-posed baseline, bounded what-if answers, warnings outside the training range


def test_collinear_inputs_what_if_is_bounded_and_warned():
    data = xemu.synthetic_climate(n_years=10, n_lat=4, n_lon=6, seed=1)
    rng = np.random.default_rng(0)
    data = _replace(data, "BC", (data.SO2 * 0.2 * (1 + 1e-6 * rng.standard_normal(data.SO2.shape))).values
                    .astype(np.float32))
    forcing = data.drop_vars(["tas", "pr", "tas_forced", "pr_forced"])
    what_if = _replace(forcing, "SO2", forcing.SO2.values * 1.1)
    with pytest.warns(UserWarning, match=r"poorly conditioned.*SO2"):
        ridge = data.emu.fit(FORCINGS, ["tas"], model="linear")
    change = abs(ridge.predict(what_if).tas - ridge.predict(forcing).tas).max()
    assert float(change) < 2.0


def test_ridge_strength_is_recorded_with_how_it_was_chosen(lin):
    alpha = lin.params["alpha"]
    assert set(alpha.target.values) == {"tas", "pr"} and (alpha >= 0).all()
    assert "5 contiguous blocks of time" in alpha.attrs["choice"]  # two training scenarios: too few to leave one out
    assert "cv_error" in lin.params


def test_linear_predict_beyond_training_range_warns(lin, forcing):
    with pytest.warns(UserWarning, match=r"inputs\['CO2'\]: global-mean values reach .* beyond the training range"):
        lin.predict(forcing.sel(scenario=["high"]))


def test_cnn_gru_predict_beyond_training_range_warns(em, forcing):
    hot = _replace(forcing, "CO2", forcing.CO2.values * 3)
    with pytest.warns(UserWarning, match=r"inputs\['CO2'\]: values reach .* Gt, beyond the training range .* by"):
        em.predict(hot)


def test_predict_inside_training_range_does_not_warn(lin, forcing):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lin.predict(forcing.sel(scenario=["low"]))


def test_constant_input_warns_and_gets_no_coefficient(ds):
    data = _replace(ds, "CH4", np.full(ds.CH4.shape, 0.3))
    with pytest.warns(UserWarning, match=r"\['CH4'\] constant over the training months"):
        bl = data.emu.fit(FORCINGS, ["tas"], model="linear")
    assert float(abs(bl.params["coef_tas"].sel(term="CH4")).max()) == 0.0


@pytest.mark.parametrize("alpha", [-1.0, float("nan"), "gcv", True], ids=["negative", "nan", "unknown-word", "bool"])
def test_bad_ridge_strength(ds, alpha):
    with pytest.raises(ConfigError, match="alpha: expected"):
        ds.emu.fit(FORCINGS, ["tas"], model="linear", alpha=alpha)


@pytest.mark.parametrize("baseline", ["auto", "linear"])
def test_unknown_baseline_option(ds, baseline):
    """The message names the baseline the option was given to (``"auto"`` is energy-balance here)."""
    name = "energy-balance" if baseline == "auto" else baseline
    with pytest.raises(ConfigError, match=rf"options \['alfa'\] do not apply to the '{name}' baseline"):
        ds.emu.fit(INPUTS, TARGETS, baseline=baseline, baseline_options={"alfa": 0}, **FAST)


# --- item 4: units in scores


def test_score_converts_degc_prediction_to_kelvin_truth(ds):
    truth = ds[["tas"]].isel(scenario=0, member=0)
    pred = truth.copy()
    pred["tas"] = truth.tas - 273.15
    pred["tas"].attrs = {**truth.tas.attrs, "units": "degC"}
    rmse = xemu.score(pred, truth)["tas"].sel(metric="monthly_rmse")
    assert float(rmse) < 1e-4  # 273 before: the units were ignored


def test_metric_converts_units(ds):
    truth = ds.tas.isel(scenario=0, member=0)
    pred = (truth * 1.0).assign_attrs(units="degC") - 273.15
    pred.attrs = {"units": "degC"}
    assert float(xemu.time_mean_rmse(pred, truth)) < 1e-4


def test_score_incompatible_units_raise(ds):
    truth = ds[["pr"]].isel(scenario=0, member=0)
    pred = truth.copy()
    pred["pr"] = truth.pr.assign_attrs(units="K")
    with pytest.raises(UnitsError, match=r"units differ and do not convert .*'K'.*'mm/day'"):
        xemu.score(pred, truth)


# --- item 5: the time axis


def test_duplicate_time_stamps(ds):
    t = ds.time.values.copy()
    t[5] = t[4]
    with pytest.raises(CoordinateError, match=r"duplicate time stamps \(1; the first, 2015-05-01, at positions 4 and 5\)"):
        _fit(_time(ds, t))


def test_descending_time(ds):
    with pytest.raises(CoordinateError, match=r"not increasing: .* follows .*sortby\('time'\)"):
        _fit(ds.isel(time=slice(None, None, -1)))


def test_daily_time(ds):
    days = xr.date_range("2015-01-01", periods=ds.sizes["time"], freq="D", calendar="noleap", use_cftime=True)
    with pytest.raises(CoordinateError, match=r"31 time steps fall in the month of 2015-01-01; expected monthly"):
        _fit(_time(ds, days))


def test_yearly_time(ds):
    years = xr.date_range("2015-01-01", periods=ds.sizes["time"], freq="YS", calendar="noleap", use_cftime=True)
    with pytest.raises(CoordinateError, match=r"steps of 12 months \(median\); expected monthly data"):
        _fit(_time(ds, years))


def test_time_as_numbers(ds):
    data = ds.assign_coords(time=xr.DataArray(np.arange(ds.sizes["time"], dtype=float), dims="time",
                                              attrs={"standard_name": "time", "axis": "T"}))
    with pytest.raises(CoordinateError, match=r"expected dates .* got dtype float64 .* decode"):
        _fit(data)


def test_predict_with_duplicate_time_stamps(em, forcing):
    t = forcing.time.values.copy()
    t[20] = t[19]
    with pytest.raises(CoordinateError, match="duplicate time stamps"):
        em.predict(_time(forcing, t))


def test_a_missing_year_is_a_gap_not_an_error(ds):
    data = ds.isel(time=[*range(0, 12), *range(24, 36)])  # 2016 is missing: windows never cross it
    windows = xemu.windows(data, ["CO2"], ["tas"], length=12, stride=12)
    assert len(windows) == 2 * 3 * 3  # two windows per (scenario, member)


# --- item 6: silent numerics


def test_float16_input(forcing, em):
    with pytest.raises(DataError, match=r"inputs\['SO2'\]: dtype float16 is too narrow .* expected float32"):
        em.predict(forcing.assign(SO2=forcing.SO2.astype(np.float16)))


def test_float16_target(ds):
    with pytest.raises(DataError, match=r"targets\['tas'\]: dtype float16 is too narrow"):
        _fit(ds.assign(tas=ds.tas.astype(np.float16)))


def test_latitude_in_radians_with_units(ds):
    lat = ds.lat.copy(data=np.deg2rad(ds.lat.values))
    lat.attrs = {**ds.lat.attrs, "units": "radians"}
    with pytest.raises(CoordinateError, match=r"latitude has units 'radians'; expected degrees"):
        _fit(ds.assign_coords(lat=lat))


def test_latitude_in_radians_without_units_warns():
    data = xemu.synthetic_climate(n_years=1, n_lat=12, n_lon=6)
    lat = xr.DataArray(np.deg2rad(data.lat.values), dims="lat", attrs={"standard_name": "latitude"})
    with pytest.warns(UserWarning, match=r"latitude values lie within \[-1.571, 1.571\]: radians\?"):
        xemu.coords.find_dim(data.tas.assign_coords(lat=lat), "latitude")


def test_longitude_in_radians_with_units(ds):
    lon = ds.lon.copy(data=np.deg2rad(ds.lon.values))
    lon.attrs = {**ds.lon.attrs, "units": "rad"}
    with pytest.raises(CoordinateError, match=r"longitude has units 'rad'; expected degrees"):
        _fit(ds.assign_coords(lon=lon))


def test_loss_with_every_weight_zero(ds):
    with pytest.raises(ConfigError, match="every term of every target has weight 0.*nothing would be trained"):
        _fit(ds, loss={"tas": "0*mse", "pr": "0*mse"})


def test_loss_with_one_target_weight_zero_warns(ds):
    with pytest.warns(UserWarning, match=r"every term of \['pr'\] has weight 0"):
        _fit(ds, loss={"tas": "mse", "pr": "0*mse"})


def test_absurd_temperature(ds):
    tas = ds.tas.values.copy()
    tas[0, 0, 0, 0, 0] = 1e30
    with pytest.raises(DataError, match=r"targets\['tas'\]: 1 of .* outside the plausible range \[150, 350\] K"):
        _fit(_replace(ds, "tas", tas))


def test_kelvin_labelled_degc(ds):
    with pytest.raises(DataError, match=r"outside the plausible range \[150, 350\] K .* after converting from 'degC'"):
        _fit(_replace(ds, "tas", units="degC"))


def test_degc_labelled_kelvin(ds):
    with pytest.raises(DataError, match=r"targets\['tas'\]: .* plausible range .* are the units right"):
        _fit(_replace(ds, "tas", ds.tas.values - 273.15))


def test_negative_precipitation(ds):
    pr = ds.pr.values.copy()
    pr[1, 1, 5] = -0.5
    with pytest.raises(DataError, match=r"targets\['pr'\]: 96 of .* plausible range \[-0.001, 2000\] mm/day"):
        _fit(_replace(ds, "pr", pr))


def test_round_off_negative_precipitation_is_accepted(ds):
    pr = ds.pr.values.copy()
    pr[0, 0, 0, 0, 0] = -1e-6
    em = _fit(_replace(ds, "pr", pr))
    assert em.n_parameters > 0


def test_precipitation_mass_flux_converted_not_flagged(ds):
    pr = (ds.pr / 86400.0).assign_attrs({**ds.pr.attrs, "units": "kg m-2 s-1"})
    em = _fit(ds.assign(pr=pr))
    assert em.meta["target_units"]["pr"] == "mm/day"


# --- item 7: raw crashes become xemu errors


def test_fit_on_a_dataarray(ds):
    with pytest.raises(DataError, match=r"ds: expected an xarray.Dataset; got xarray.core.dataarray.DataArray"):
        xemu.fit(ds.tas, INPUTS, TARGETS)


def test_predict_on_a_dataarray(em, forcing):
    with pytest.raises(DataError, match="ds: expected an xarray.Dataset.*DataArray"):
        em.predict(forcing.CO2)


def test_baseline_predict_on_a_dataarray(lin, forcing):
    with pytest.raises(DataError, match="ds: expected an xarray.Dataset"):
        lin.predict(forcing.CO2)


def test_predict_on_an_empty_selection(em, forcing):
    with pytest.raises(DataError, match=r"nothing selected along \['scenario'\] \(size 0\)"):
        em.predict(forcing.sel(scenario=[]))


def test_fit_on_an_empty_selection(ds):
    with pytest.raises(DataError, match=r"nothing selected along \['member'\]"):
        _fit(ds.isel(member=[]))


def test_predict_on_no_months(em, forcing):
    with pytest.raises(DataError, match="no time steps"):
        em.predict(forcing.isel(time=[]))


def test_config_typo(ds):
    with pytest.raises(ConfigError, match=r"config: unknown fields \['hiden'\]; known: .*'hidden'"):
        _fit(ds, config={**TINY_CONFIG, "hiden": 8})


def test_config_not_a_dict(ds):
    with pytest.raises(ConfigError, match="config: expected a dict of options or None; got int"):
        _fit(ds, config=8)


def test_config_bad_value(ds):
    with pytest.raises(ConfigError, match="hidden: expected an integer >= 1; got -8"):
        _fit(ds, config={**TINY_CONFIG, "hidden": -8})


def test_train_config_typo(ds):
    with pytest.raises(ConfigError, match=r"unknown options \['epoch'\]; known: \['epochs'"):
        ds.emu.fit(INPUTS, TARGETS, train_config={"epoch": 2}, config=TINY_CONFIG, progress=False)


def test_fit_option_typo(ds):
    with pytest.raises(ConfigError, match=r"fit: unknown options \['seeds'\]"):
        _fit(ds, seeds=3)


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        pytest.param("epochs", 1.5, "epochs: expected an integer >= 1; got 1.5", id="epochs-float"),
        pytest.param("epochs", 0, "epochs: expected an integer >= 1; got 0", id="epochs-zero"),
        pytest.param("batch_size", 0, "batch_size: expected an integer >= 1; got 0", id="batch-size-zero"),
        pytest.param("lr", -1, r"lr: expected a finite number 0 <= lr; got -1", id="lr-negative"),
        pytest.param("lr", float("nan"), "lr: expected a finite number 0 <= lr; got nan", id="lr-nan"),
        pytest.param("device", "tpu", r"device: expected 'auto', 'cpu', 'cuda', 'cuda:<n>' or 'mps'; got 'tpu'",
                     id="device-tpu"),
        pytest.param("windows_per_epoch", 0.5, "windows_per_epoch: expected an integer >= 1 or None; got 0.5",
                     id="windows-per-epoch-float"),
        pytest.param("warmup", 2.0, "warmup: expected a finite number 0 <= warmup < 1; got 2.0", id="warmup-2"),
        pytest.param("patience", -1, "patience: expected an integer >= 0 or None; got -1", id="patience-negative"),
    ],
)
def test_bad_training_option(ds, option, value, words):
    with pytest.raises(ConfigError, match=words):
        _fit(ds, **{option: value})


def test_predict_device_tpu(em, forcing):
    with pytest.raises(ConfigError, match="device: expected 'auto', 'cpu', 'cuda'"):
        em.predict(forcing, device="tpu")


def test_predict_cuda_without_cuda(em, forcing):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="device: 'cuda' asked for, but CUDA is not available"):
        em.predict(forcing, device="cuda")


@pytest.mark.parametrize("value", [0, -3, 2.5], ids=["zero", "negative", "float"])
def test_predict_batch_months(em, forcing, value):
    with pytest.raises(ConfigError, match=f"batch_months: expected an integer >= 1; got {value}"):
        em.predict(forcing, batch_months=value)


def test_unknown_model(ds):
    with pytest.raises(ConfigError, match=r"model: expected 'cnn-gru' or one of \['linear', 'climatology'.*\]; "
                                          r"got 'rf'"):
        ds.emu.fit(INPUTS, TARGETS, model="rf")


def test_training_options_on_a_baseline(ds):
    with pytest.raises(ConfigError, match=r"options \['epochs'\] do not apply to the 'linear' baseline"):
        ds.emu.fit(FORCINGS, TARGETS, model="linear", epochs=3)


def test_unfitted_emulator(forcing):
    with pytest.raises(xemu.NotFittedError, match="not fitted"):
        Emulator({}).predict(forcing)


# --- item 8: a stale checkpoint is not reused


def test_checkpoint_of_changed_data_with_the_same_shape_and_statistics(ds, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    holdout = {"scenario": "high"}
    _fit(ds, checkpoint=ckpt, holdout=holdout)
    changed = ds.copy()
    tas = ds.tas.values.copy()
    tas[2] += 1.0  # the held-out scenario's months: every training statistic stays the same, bit for bit
    changed["tas"] = ds.tas.copy(data=tas)
    with pytest.raises(ConfigError, match="was written by another run"):
        _fit(changed, checkpoint=ckpt, holdout=holdout)


def test_checkpoint_of_the_same_data_is_resumed(ds, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    a = _fit(ds, checkpoint=ckpt)
    b = _fit(ds, checkpoint=ckpt)  # finished run: resumed, nothing retrained
    np.testing.assert_array_equal(a.predict(ds.drop_vars(TARGETS)).tas.values,
                                  b.predict(ds.drop_vars(TARGETS)).tas.values)


# --- issue 23: a latitude axis in the other order, a holdout of everything, memory asked for first


def _north_to_south(data: xr.Dataset, dim: str = "lat") -> xr.Dataset:
    return data.isel({dim: slice(None, None, -1)})


@pytest.mark.parametrize("model", ["em", "lin"])
def test_predict_north_to_south_with_a_model_fitted_south_to_north(model, forcing, request):
    who = {"em": "the emulator", "lin": "the linear baseline"}[model]
    with pytest.raises(GridError, match=rf"ds: grid 'lat' has 8 values in \[-78.75, 78.75\], stored north to south; "
                                        rf"{who} was trained on the same 8 values stored south to north: the order "
                                        rf"is the problem; reverse it with ds.sortby\('lat'\)$"):
        request.getfixturevalue(model).predict(_north_to_south(forcing))


def test_fit_north_to_south_then_predict_south_to_north(ds, forcing):
    em = _fit(_north_to_south(ds))  # a grid stored north to south is a grid: fit and predict on it work
    assert em.predict(_north_to_south(forcing)).lat.values[0] > 0
    with pytest.raises(GridError, match=r"stored south to north; the emulator was trained on the same 8 values stored "
                                        r"north to south: the order is the problem; reverse it with "
                                        r"ds.sortby\('lat', ascending=False\)"):
        em.predict(forcing)


def test_predict_north_to_south_names_the_latitude_dim_of_the_data(ds):
    data = ds.rename(lat="y", lon="x")  # the CSE 151B store's names for the target grid
    em = _fit(data)
    with pytest.raises(GridError, match=r"grid 'y' .* stored north to south; .* reverse it with ds.sortby\('y'\)"):
        em.predict(_north_to_south(data.drop_vars(TARGETS), "y"))


def test_input_grid_north_to_south_aligned_by_position(em, forcing):
    so2 = forcing.SO2.rename(lat="latitude", lon="longitude")  # an input on its own grid, half a cell away
    so2 = so2.assign_coords(latitude=so2.latitude.values + 0.5, longitude=so2.longitude.values + 0.5)
    so2.latitude.attrs, so2.longitude.attrs = {"standard_name": "latitude"}, {"standard_name": "longitude"}
    with pytest.raises(GridError, match=r"inputs\['SO2'\]: latitude 'latitude' is stored north to south and the "
                                        r"target grid's 'lat' south to north, so their cells do not match by "
                                        r"position: the order is the problem; reverse it with "
                                        r"ds.sortby\('latitude'\)"):
        em.predict(forcing.drop_vars("SO2").assign(SO2=_north_to_south(so2, "latitude")))


@pytest.mark.parametrize("holdout", [
    pytest.param({"scenario": ["low", "mid", "high"]}, id="every-scenario"),
    pytest.param({"time": slice(None, None)}, id="every-month"),
    pytest.param({"member": [0, 1, 2], "time": slice("2015-01", "2017-12")}, id="every-member-every-month"),
])
@pytest.mark.parametrize("model", ["cnn-gru", "linear"])
def test_holdout_of_everything(ds, holdout, model):
    options = FAST if model == "cnn-gru" else {}
    with pytest.raises(DataError, match=r"^holdout: .* selects every month of the data \(every scenario \(low, mid, "
                                        r"high\), every member \(0, 1, 2\), all 36 months\), which leaves nothing "
                                        r"to train on; expected a part of it, e.g. holdout=\{'scenario': 'high'\}$"):
        ds.emu.fit(INPUTS if model == "cnn-gru" else FORCINGS, TARGETS, model=model, holdout=holdout, **options)


@pytest.mark.parametrize("model", ["em", "lin"])
def test_predict_ten_million_samples_is_refused_before_it_allocates(model, forcing, request):
    fitted = request.getfixturevalue(model)
    who = {"em": "Emulator", "lin": "LinearPatternScaling"}[model]
    lazy = "; lazy=True predicts the forced response block by block" if model == "em" else ""
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"^samples: {who}.predict with samples=10000000 on \(scenario 3, time 36, "
                                          rf"lat 8, lon 12\) needs about [\d,.]+ GiB in memory \(the result "
                                          rf"[\d,.]+ GiB, working arrays [\d,.]+ GiB\), more than the .* allowed "
                                          rf"\(.*xemu.data.checks.MEMORY_(FRACTION|LIMIT)\); expected at most about "
                                          rf"\d+ samples here: ask for fewer, or draw them in batches \(each with its "
                                          rf"own seed\) and write each to disk{lazy}$"):
        forcing.emu.predict(fitted, samples=10**7, seed=0)
    assert time.perf_counter() - start < 1.0  # asked for before it is taken: nothing computed


@pytest.mark.parametrize("model", ["em", "lin"])
def test_predict_over_the_memory_limit(model, forcing, request, monkeypatch):
    fitted = request.getfixturevalue(model)
    limit = {"em": 2**19, "lin": 2**16}[model]  # 0.5 and 0.06 MiB: the whole forced response does not fit
    monkeypatch.setattr(xemu.data.checks, "MEMORY_LIMIT", limit)
    fix = (r"pass lazy=True \(or a dask-backed Dataset\) to predict block by block, or predict a part of ds at a "
           r"time$" if model == "em"
           else r"predict a part of ds at a time \(e.g. ds.isel\(time=slice\(0, n\)\) or one scenario\)$")
    with pytest.raises(ConfigError, match=rf"^ds: \w+.predict on \(scenario 3, time 36, lat 8, lon 12\) needs about "
                                          rf"[\d.]+ MiB in memory .* more than the {limit / 2**20:.1f} MiB allowed "
                                          rf"\(xemu.data.checks.MEMORY_LIMIT\); {fix}"):
        fitted.predict(forcing)
    if model == "em":  # the way out it names: block by block, each block within the limit
        lazy = forcing.emu.predict(fitted, lazy=True, time_chunk=12).compute()
        monkeypatch.undo()
        xr.testing.assert_allclose(lazy, fitted.predict(forcing))
