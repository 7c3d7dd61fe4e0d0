import numpy as np
import pytest
import xarray as xr

from xemu.errors import ConfigError, CoordinateError, DataError
from xemu.evaluation import PUBLISHED, PUBLISHED_PROTOCOL, evaluate, format_table, make_split

# the data README's reference rows (monthly_rmse / time_mean_rmse / time_stddev_mae), computed with numpy
README = {
    "linear pattern scaling, least squares (xemu)": ((1.131, 0.234, 0.171), (1.972, 0.202, 0.739), 0.736),
    "climatology (xemu)": ((2.237, 1.868, 0.266), (2.050, 0.431, 0.836), 1.810),
    "noise floor: member 1 as the prediction": ((1.514, 0.249, 0.112), (2.785, 0.238, 0.215), 0.595),
    "noise floor: member 2 as the prediction": ((1.609, 0.293, 0.112), (2.873, 0.307, 0.217), 0.661),
    "noise floor: mean of other members as the prediction": ((1.362, 0.232, 0.126), (2.466, 0.225, 0.364), 0.620),
}


def test_splits(store):
    ref = make_split("reference", store)
    assert ref.holdout == {"ssp": "ssp370", "member_id": 0, "time": slice("2090-02", None)}
    assert ref.train == {"ssp": ["ssp126", "ssp370", "ssp585"]}
    scen = make_split("scenario:ssp370", store)
    assert scen.train == {"ssp": ["ssp126", "ssp585"]} and scen.holdout is None
    mem = make_split("member:2", store)
    assert mem.train["member_id"] == [0, 1] and mem.test["member_id"] == 2
    with pytest.raises(ConfigError, match="split"):
        make_split("random", store)


def test_reference_baselines_and_noise_floor_match_the_independent_numbers(store):
    table = evaluate(store, models=("linear-ols", "climatology"), log=lambda *a: None)
    for label, (tas, pr, sc) in README.items():
        row = table.sel(model=label)
        np.testing.assert_allclose(row.tas.values, tas, atol=1.5e-3, err_msg=label)
        np.testing.assert_allclose(row.pr.values, pr, atol=1.5e-3, err_msg=label)
        assert float(row.competition_score) == pytest.approx(sc, abs=1.5e-3)
    for label in PUBLISHED:
        assert table.model_kind.sel(model=label) == "published"
    # what the table was measured on: the published protocol, so its charts draw the published rows
    assert table.attrs["protocol"] == table.attrs["published_protocol"] == PUBLISHED_PROTOCOL
    assert table.attrs["grid"] == "48 x 72" and table.attrs["test_period"] == "2090-02 .. 2100-01 (120 months)"
    text = format_table(table)
    assert "linear pattern scaling" in text and "tas monthly" in text and len(text.splitlines()) == 2 + table.sizes["model"]


def test_variant_rows_and_the_table_is_written(store, tmp_path):
    """Forced, calibrated and stochastic rows with CRPS columns, the members as an ensemble, and
    the whole table (attrs included) written to netCDF and read back: on a cut of the real grid."""
    from xemu.io import write_netcdf

    small = store.isel(y=slice(20, 28), x=slice(0, 12))
    table = evaluate(small, models=("linear",), samples=3, log=lambda *a: None)
    labels = table.model.values.tolist()
    base = "linear pattern scaling, ridge (xemu)"
    held = f"{base}, 3 draws, decadal means kept"
    for label in (base, f"{base}, calibrated", f"{base}, 3 draws: mean", f"{base}, 3 draws: std",
                  f"{held}: mean", f"{held}: std", "noise floor: the other 2 members as an ensemble: mean"):
        assert label in labels
    # the same draws held to the forced response's mean of the 2090s (2090-01 .. 2100-01): the
    # test months (2090-02 .. 2100-01) then have nearly the forced response's time mean
    tmean = table.tas.sel(metric="time_mean_rmse")
    assert abs(float(tmean.sel(model=f"{held}: mean")) - float(tmean.sel(model=base))) < 0.05
    assert float(tmean.sel(model=f"{base}, 3 draws: mean")) > float(tmean.sel(model=f"{held}: mean"))
    assert float(table.attrs[f"{held} tas spread-skill ratio"]) > 0.5
    row = table.sel(model=f"{base}, 3 draws: mean")
    # the fair CRPS of an ensemble is below the absolute error of its forced response
    assert 0 < float(row.tas_crps) < float(table.tas_crps.sel(model=base))
    assert float(table.competition_score.sel(model=f"{base}, 3 draws: std")) > 0
    assert float(table.pr.sel(model=f"{base}, calibrated", metric="time_stddev_mae")) < \
        float(table.pr.sel(model=base, metric="time_stddev_mae"))
    assert 0.5 < float(table.attrs[f"{base}, 3 draws tas spread-skill ratio"]) < 2
    assert len(table.attrs[f"{base}, 3 draws pr rank histogram (4 ranks)"].split()) == 4
    # a cut of the grid is not the published protocol: its charts name the published rows as not comparable
    assert table.attrs["grid"] == "8 x 12" and table.attrs["protocol"].startswith("reference split, 8 x 12 grid")
    assert table.attrs["published_protocol"] == PUBLISHED_PROTOCOL != table.attrs["protocol"]
    path = write_netcdf(table, tmp_path / "eval.nc")
    back = xr.open_dataset(path)
    assert back.model.values.tolist() == labels and back.attrs == table.attrs
    back.close()
    text = format_table(table)
    assert f"{held}: mean " in text and f"{held}: std " in text  # whole labels, however long


def test_loso_never_trains_on_the_held_out_scenario(store, monkeypatch):
    """Each fold's fits see only the other scenarios (asserted on what every fit received), every
    member of the held-out scenario is scored over its last 240 months, and the mean is the folds'."""
    import xemu.emulator
    from xemu.evaluation import TRAIN_SSPS, loso_splits

    seen = []
    real = xemu.emulator.fit

    def spy(ds, inputs, targets, **kw):
        seen.append((ds.ssp.values.tolist(), kw.get("holdout"), ds.sizes["member_id"], ds.sizes["time"]))
        return real(ds, inputs, targets, **kw)

    monkeypatch.setattr(xemu.emulator, "fit", spy)
    small = store.isel(y=slice(20, 28), x=slice(0, 12))
    folds = loso_splits(small)
    assert [sp.test["ssp"] for sp in folds] == TRAIN_SSPS
    for sp in folds:
        assert sp.test["ssp"] not in sp.train["ssp"] and sp.holdout is None
        test = small.sel(sp.test)
        assert test.sizes["time"] == 240 and test.sizes["member_id"] == 3
        assert str(test.time.values[0])[:7] == "2080-02"
    table = evaluate(small, split="loso", models=("linear-co2", "energy-balance"), log=lambda *a: None)
    assert len(seen) == 2 * len(folds)
    for i, sp in enumerate(folds):
        for ssps, holdout, members, months in seen[2 * i: 2 * i + 2]:
            assert sorted(ssps) == sorted(set(TRAIN_SSPS) - {sp.test["ssp"]}), (sp.test["ssp"], ssps)
            assert holdout is None and members == 3 and months == small.sizes["time"]
    assert table.fold.values.tolist() == [*TRAIN_SSPS, "mean"]
    labels = table.model.values.tolist()
    assert labels == ["linear pattern scaling on CO2 only, ridge (xemu)", "energy-balance pattern scaling (xemu)",
                      "energy-balance pattern scaling (xemu), calibrated",
                      "member floor: another member as the prediction"]
    np.testing.assert_allclose(table.competition_score.sel(fold="mean"),
                               table.competition_score.sel(fold=TRAIN_SSPS).mean("fold"))
    assert "ssp126 energy-balance fit seconds" in table.attrs and table.attrs["split"] == "loso"
    text = format_table(table)
    assert text.count("held out: ") == 3 and "mean over the folds" in text


def test_a_scenario_split_scores_every_member(store):
    small = store.isel(y=slice(20, 28), x=slice(0, 12))
    sp = make_split("scenario:ssp585", small)
    assert sp.test == {"ssp": "ssp585", "time": slice("2080-02", None)}
    with pytest.raises(ConfigError, match="split: expected a scenario with targets"):
        make_split("scenario:ssp245", small)


def test_the_oracle_row_uses_the_held_out_scenarios_true_global_mean(store):
    """The "oracle" row (scenario splits only) is energy-balance pattern scaling on the held-out
    scenario's true global-mean tas: its kind says it is no emulator, and it predicts the held-out
    global mean far better than the energy-balance model's own global mean does."""
    from xemu.evaluation import ORACLE_LABEL

    small = store.isel(y=slice(20, 28), x=slice(0, 12))
    table = evaluate(small, split="scenario:ssp126", models=("energy-balance", "oracle"), log=lambda *a: None)
    kinds = dict(zip(table.model.values.tolist(), table.model_kind.values.tolist(), strict=True))
    assert kinds[ORACLE_LABEL] == "oracle" and kinds[f"{ORACLE_LABEL}, calibrated"] == "oracle"
    tm = table.tas.sel(metric="time_mean_rmse")
    assert float(tm.sel(model=ORACLE_LABEL)) < float(tm.sel(model="energy-balance pattern scaling (xemu)"))
    assert "oracle fit seconds" in table.attrs
    with pytest.raises(ConfigError, match="models: 'oracle' needs a scenario held out"):
        evaluate(small, split="reference", models=("oracle",), log=lambda *a: None)


# -- any store: the CMIP6 layout, other names, a single member, a short run ------------------------
CSE_NAMES = {"experiment_id": "ssp", "variant_label": "member_id"}
QUIET = {"log": lambda *a: None}
TINY_FIT = {"epochs": 1, "windows_per_epoch": 16, "batch_size": 8, "progress": False}


@pytest.fixture(scope="module")
def cmip6():
    """A synthetic ensemble laid out the CMIP6 way: experiment_id x variant_label x time x lat x lon,
    30 years on the Gregorian calendar (numpy dates), scenarios ssp119 / ssp245 / ssp460, pr in kg m-2 s-1."""
    from xemu.testing import synthetic_cmip6

    return synthetic_cmip6(n_years=30, n_lat=4, n_lon=6)


def _as_cse151b(ds: xr.Dataset) -> xr.Dataset:
    """The same data under the CSE 151B store's names (dims ssp / member_id, scenarios ssp126 / ssp370
    / ssp585, members 0 / 1 / 2)."""
    return ds.rename(CSE_NAMES).assign_coords(ssp=["ssp126", "ssp370", "ssp585"],
                                              member_id=np.arange(ds.sizes["variant_label"]))


def test_a_cmip6_store_gives_the_same_loso_table_as_under_the_cse151b_names(cmip6):
    from xemu.testing import TINY_CONFIG

    assert cmip6.indexes["time"].dtype.kind == "M" and cmip6.sizes["time"] == 360  # Gregorian, 30 years
    options = {"split": "loso", "models": ("linear", "energy-balance", "oracle", "cnn-gru"),
               "fit_options": {**TINY_FIT, "config": TINY_CONFIG}, **QUIET}
    ours = evaluate(cmip6, **options)
    theirs = evaluate(_as_cse151b(cmip6), **options)
    assert ours.fold.values.tolist() == ["ssp119", "ssp245", "ssp460", "mean"]
    assert theirs.fold.values.tolist() == ["ssp126", "ssp370", "ssp585", "mean"]
    assert ours.model.values.tolist() == theirs.model.values.tolist()
    assert "member floor: another member as the prediction" in ours.model.values.tolist()
    for name in ours.data_vars:  # the same numbers, bit for bit
        np.testing.assert_array_equal(ours[name].values, theirs[name].values, err_msg=name)
    assert np.isfinite(ours.competition_score.values).all()
    # pr is scored in mm/day (the canonical units), not in the store's kg m-2 s-1
    assert 0.5 < float(ours.pr.sel(model="linear pattern scaling, ridge (xemu)", metric="monthly_rmse",
                                   fold="mean")) < 20
    assert "over the last 240 months" in ours.attrs["split_description"]


def test_the_scenario_and_member_dims_may_be_named(cmip6):
    ds = cmip6.isel(lat=slice(0, 2), lon=slice(0, 3)).rename(experiment_id="forcing", variant_label="run_id")
    with pytest.raises(CoordinateError, match="scenario_dim: no scenario dim found in the targets; looked for "
                                              "the names experiment_id/"):
        evaluate(ds, split="loso", models=("linear",), **QUIET)
    table = evaluate(ds, split="scenario:ssp245", scenario_dim="forcing", member_dim="run_id", years=5,
                     models=("linear",), variants=False, **QUIET)
    assert table.attrs["split"] == "scenario:ssp245" and "from 2040-01 (60 months" in table.attrs["split_description"]
    assert table.model.values.tolist()[-1] == "member floor: another member as the prediction"
    with pytest.raises(CoordinateError, match="member_dim: 'member' is not a dim of the targets"):
        evaluate(ds, split="loso", scenario_dim="forcing", member_dim="member", **QUIET)


def test_a_store_shorter_than_the_scored_years_is_refused_clearly(cmip6):
    short = cmip6.isel(time=slice(0, 120))  # 2015-2024: ten years
    with pytest.raises(DataError, match=r"years: the scored window is the last 20 years of each held-out scenario, "
                                        r"240 months \(longer than the data's time, 120 months from 2015-01\); "
                                        r"experiment_id 'ssp119' has targets in 120 months"):
        evaluate(short, split="loso", models=("linear",), **QUIET)
    # a run that stops early inside a longer time axis (its last months NaN) is refused too
    ragged = cmip6.copy()
    ragged["tas"] = cmip6.tas.where((cmip6.experiment_id != "ssp460") | (cmip6.time < np.datetime64("2035-01-01")))
    with pytest.raises(DataError, match=r"experiment_id 'ssp460' has targets in 240 months \(2015-01 .. 2034-12\), "
                                        r"120 of them in the window"):
        evaluate(ragged, split="scenario:ssp460", models=("linear",), **QUIET)
    with pytest.raises(ConfigError, match="split: 'reference' tests on the study's scenario 'ssp370'"):
        evaluate(cmip6, models=("linear",), **QUIET)


@pytest.mark.parametrize("drop", [False, True], ids=["member-dim-of-one", "no-member-dim"])
def test_a_single_member_store_gives_a_table_whose_floor_row_says_why_it_is_missing(cmip6, drop):
    one = cmip6.isel(variant_label=slice(0, 1), lat=slice(0, 2), lon=slice(0, 3))
    if drop:
        one = one.isel(variant_label=0, drop=True)
    table = evaluate(one, split="loso", models=("linear", "energy-balance"), years=5, **QUIET)
    labels = table.model.values.tolist()
    why = ("the targets have no member dim (a single run)" if drop
           else "the data hold one member (variant_label 'r1i1p1f1')")
    assert labels[-1] == f"member floor: missing, {why}; it needs two members or more"
    assert np.isnan(table.competition_score.sel(model=labels[-1])).all()
    assert np.isfinite(table.competition_score.sel(model=labels[:-1])).all()
    assert table.attrs["ssp119 member floor"] == f"missing: {why}"
    assert "member floor: missing" in format_table(table)
