"""Tests of xemu.metrics: hand-computed cases, labelled reductions, NaNs, laziness, the real store."""

from __future__ import annotations

import dask
import dask.array
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xemu
from xemu.errors import ConfigError, DataError
from xemu.metrics import (
    METRICS,
    area_weights,
    competition_score,
    monthly_rmse,
    noise_floor,
    nrmse,
    score,
    time_mean_rmse,
    time_stddev_mae,
)

# two latitudes with unequal weights: cos(0) = 1, cos(60) = 0.5, so w = [4/3, 2/3] (mean 1)
LAT2 = [0.0, 60.0]
W2 = np.array([4 / 3, 2 / 3])


def field(values, lat=LAT2, n_lon=3, n_time=4, extra: dict | None = None) -> xr.DataArray:
    """A (extra..., time, lat, lon) DataArray; ``values`` broadcasts against (time, lat, lon)."""
    extra = extra or {}
    shape = [len(v) for v in extra.values()] + [n_time, len(lat), n_lon]
    data = np.broadcast_to(np.asarray(values, float), shape).copy()
    time = xr.date_range("2000-01-01", periods=n_time, freq="MS", calendar="noleap", use_cftime=True)
    return xr.DataArray(
        data,
        dims=(*extra, "time", "lat", "lon"),
        coords={**extra, "time": time, "lat": lat, "lon": np.arange(n_lon) * 10.0},
        attrs={"units": "K"},
        name="tas",
    )


def per_lat(a, b):
    """(time=1, lat=2, lon=1) values that differ between the two latitudes."""
    return np.array([a, b], float)[None, :, None]


# --- hand-computed cases ------------------------------------------------------------------


@pytest.mark.parametrize("offset", [1.5, -2.0])
def test_constant_offset(offset):
    truth = field(280.0 + np.arange(4.0)[:, None, None])  # varies in time
    pred = truth + offset
    assert float(monthly_rmse(pred, truth)) == pytest.approx(abs(offset), rel=1e-12)
    assert float(time_mean_rmse(pred, truth)) == pytest.approx(abs(offset), rel=1e-12)
    assert float(time_stddev_mae(pred, truth)) == pytest.approx(0.0, abs=1e-12)


def test_latitude_weights_change_the_answer():
    truth = field(0.0)
    # error 3 at the equator only: sqrt(mean(w e^2)) = sqrt((4/3 * 9 + 0) / 2) = sqrt(6)
    pred = field(per_lat(3.0, 0.0))
    assert float(monthly_rmse(pred, truth)) == pytest.approx(np.sqrt(6.0), rel=1e-12)
    assert float(time_mean_rmse(pred, truth)) == pytest.approx(np.sqrt(6.0), rel=1e-12)
    # the same error at 60N weighs half as much: sqrt((2/3 * 9) / 2) = sqrt(3)
    pred = field(per_lat(0.0, 3.0))
    assert float(monthly_rmse(pred, truth)) == pytest.approx(np.sqrt(3.0), rel=1e-12)
    # unweighted would be sqrt(4.5) either way
    assert float(monthly_rmse(pred, truth, weights=xr.ones_like(truth.lat))) == pytest.approx(np.sqrt(4.5))


def test_known_std_difference_population_std():
    s = np.array([1.0, -1.0, 1.0, -1.0])[:, None, None]  # mean 0, population std 1 (sample std 1.155)
    truth = field(290.0 + s * per_lat(1.0, 2.0))
    pred = field(290.0 + s * per_lat(3.0, 2.0))
    # |std p - std t| = [2, 0]: mean(w * d) = (4/3 * 2 + 0) / 2 = 4/3 (with ddof=1 it would be 1.54)
    assert float(time_stddev_mae(pred, truth)) == pytest.approx(4 / 3, rel=1e-12)
    # equal time means, so the time-mean error is zero while the monthly error is not
    assert float(time_mean_rmse(pred, truth)) == pytest.approx(0.0, abs=1e-12)
    # monthly error 2*s at the equator: sqrt((4/3 * 4) / 2) = sqrt(8/3)
    assert float(monthly_rmse(pred, truth)) == pytest.approx(np.sqrt(8 / 3), rel=1e-12)


def test_float32_inputs_lose_no_precision():
    """Time means of ~290 K fields in float32 would be off by 1e-5 relative; metrics compute in float64."""
    rng = np.random.default_rng(1)
    t = (290 + 5 * rng.standard_normal((120, 8, 12))).astype(np.float32)
    p = (t + 0.25 + 0.5 * rng.standard_normal(t.shape)).astype(np.float32)
    truth, pred = field(t, lat=np.linspace(-80, 80, 8), n_lon=12, n_time=120), None
    truth = truth.astype(np.float32)
    pred = truth.copy(data=p)
    w = np.cos(np.deg2rad(truth.lat.values))
    w = (w / w.mean())[:, None]
    p64, t64 = p.astype(np.float64), t.astype(np.float64)
    expected = np.sqrt(np.mean(w * (p64.mean(0) - t64.mean(0)) ** 2))
    assert float(time_mean_rmse(pred, truth)) == pytest.approx(expected, rel=1e-9)


# --- labelled reductions ----------------------------------------------------------------


def test_dims_not_reduced_are_kept_and_dim_pools():
    truth = field(280.0, extra={"scenario": ["a", "b"], "member": [0, 1, 2]})
    offsets = xr.DataArray([1.0, 2.0, 3.0], dims="member", coords={"member": [0, 1, 2]})
    pred = truth + offsets
    for metric in (monthly_rmse, time_mean_rmse):
        out = metric(pred, truth)
        assert out.dims == ("scenario", "member")
        assert out["member"].values.tolist() == [0, 1, 2]
        assert out["scenario"].values.tolist() == ["a", "b"]
        np.testing.assert_allclose(out.sel(scenario="b").values, [1.0, 2.0, 3.0], rtol=1e-12)
        pooled = metric(pred, truth, dim="member")
        assert pooled.dims == ("scenario",)
        np.testing.assert_allclose(pooled.values, np.sqrt(14 / 3), rtol=1e-12)
        both = metric(pred, truth, dim=["scenario", "member"])
        assert both.dims == ()
        assert float(both) == pytest.approx(np.sqrt(14 / 3))
    out = time_stddev_mae(pred, truth, dim="member")
    assert out.dims == ("scenario",)
    np.testing.assert_allclose(out.values, 0.0, atol=1e-12)


def test_pooling_std_is_a_mean_over_members():
    s = np.array([1.0, -1.0, 1.0, -1.0])[:, None, None]
    truth = field(s, extra={"member": [0, 1]})  # std 1 for both members
    amp = xr.DataArray([2.0, 4.0], dims="member", coords={"member": [0, 1]})
    pred = truth * amp  # std 2 and 4: errors 1 and 3
    np.testing.assert_allclose(time_stddev_mae(pred, truth).values, [1.0, 3.0], rtol=1e-12)
    assert float(time_stddev_mae(pred, truth, dim="member")) == pytest.approx(2.0)


def test_prediction_broadcasts_over_truth_members():
    truth = field(280.0, extra={"member": [0, 1]}) + xr.DataArray([0.0, 2.0], dims="member")
    pred = field(281.0)  # no member dim
    np.testing.assert_allclose(monthly_rmse(pred, truth).values, [1.0, 1.0])
    assert monthly_rmse(pred, truth).dims == ("member",)


def test_result_metadata():
    truth = field(280.0)
    out = monthly_rmse(truth + 1, truth)
    assert out.name == "monthly_rmse"
    assert out.attrs["units"] == "K"
    assert out.attrs["xemu_metric"] == "monthly_rmse"


@pytest.mark.parametrize("metric", list(METRICS.values()), ids=list(METRICS))
def test_nan_propagates(metric):
    s = np.array([1.0, -1.0, 1.0, -1.0])[:, None, None]
    truth = field(280 + s, extra={"member": [0, 1]})
    pred = truth + 1.0
    pred[1, 2, 0, 1] = np.nan  # one missing value in member 1
    out = metric(pred, truth)
    assert np.isfinite(out.sel(member=0))
    assert np.isnan(out.sel(member=1))
    assert np.isnan(metric(pred, truth, dim="member"))
    truth_nan = truth.copy()
    truth_nan[0, 0, 0, 0] = np.nan
    assert np.isnan(metric(truth, truth_nan).sel(member=0))


def test_mismatched_inputs_raise():
    truth = field(280.0)
    with pytest.raises(DataError, match="missing dimension 'lon'"):
        monthly_rmse(truth.isel(lon=0), truth)
    with pytest.raises(DataError, match="size 3 along 'time'"):
        monthly_rmse(truth.isel(time=slice(0, 3)), truth)
    with pytest.raises(DataError, match="'member' is not a dimension"):
        monthly_rmse(truth, truth, dim="member")
    # same sizes, other months: no silent inner join on the overlapping labels
    longer = field(280.0, n_time=5)
    shifted = longer.isel(time=slice(1, None))
    with pytest.raises(DataError, match="coordinate 'time' differs"):
        monthly_rmse(shifted, longer.isel(time=slice(0, 4)))
    with pytest.raises(DataError, match="coordinate 'lat' differs"):
        time_mean_rmse(truth.assign_coords(lat=[1.0, 61.0]), truth)


# --- score, competition score, ClimateBench -----------------------------------------


def scores_dataset(tas, pr):
    metric = xr.DataArray(list(METRICS), dims="metric")
    return xr.Dataset(
        {
            "tas": xr.DataArray(tas, dims="metric", coords={"metric": metric}),
            "pr": xr.DataArray(pr, dims="metric", coords={"metric": metric}),
        }
    )


def test_competition_score_formula():
    # 0.5 (0.1*10 + 20 + 30) + 0.5 (0.1*40 + 50 + 0.75*60) = 25.5 + 49.5
    assert float(competition_score(scores_dataset([10, 20, 30], [40, 50, 60]))) == pytest.approx(75.0)
    # each coefficient on its own
    for i, (tas_w, pr_w) in enumerate([(0.05, 0.05), (0.5, 0.5), (0.5, 0.375)]):
        one = np.eye(3)[i]
        assert float(competition_score(scores_dataset(one, 0 * one))) == pytest.approx(tas_w)
        assert float(competition_score(scores_dataset(0 * one, one))) == pytest.approx(pr_w)
    with pytest.raises(DataError, match="needs 'pr'"):
        competition_score(scores_dataset([1, 2, 3], [1, 2, 3])[["tas"]])


def test_score_dataset_layout(synthetic):
    truth = synthetic[["tas", "pr", "CO2"]]
    pred = truth + 0.5
    s = score(pred, truth)
    assert set(s.data_vars) == {"tas", "pr", "competition_score"}  # CO2 is not a map
    assert s["tas"].dims == ("metric", "scenario", "member")
    assert s["metric"].values.tolist() == list(METRICS)
    for name, f in METRICS.items():
        xr.testing.assert_allclose(
            s["pr"].sel(metric=name, drop=True), f(pred["pr"], truth["pr"]).rename("pr"), rtol=1e-12
        )
    xr.testing.assert_allclose(s["competition_score"], competition_score(s))
    assert score(pred, truth, dim="member")["tas"].dims == ("metric", "scenario")
    assert "competition_score" not in score(pred, truth, variables=["tas"])
    with pytest.raises(DataError, match="no variable in common"):
        score(pred[["tas"]].rename(tas="x"), truth[["pr"]])


def test_nrmse_hand_case():
    # truth -10 everywhere (normaliser |<mean t>| = 10); prediction = truth + pattern + (+1, -1, +1, -1)
    # pattern [1, -2] on lat [0, 60] has weighted mean 0 and <pattern^2> = (4/3 + 8/3) / 2 = 2
    truth = field(-10.0)
    pattern = per_lat(1.0, -2.0)
    wiggle = np.array([1.0, -1.0, 1.0, -1.0])[:, None, None]
    pred = field(-10.0 + pattern + wiggle)
    out = nrmse(pred, truth)
    assert out.dims == ("nrmse",)
    assert out["nrmse"].values.tolist() == ["spatial", "global", "total"]
    assert float(out.sel(nrmse="spatial")) == pytest.approx(np.sqrt(2) / 10, rel=1e-12)
    assert float(out.sel(nrmse="global")) == pytest.approx(0.1, rel=1e-12)
    assert float(out.sel(nrmse="total")) == pytest.approx(np.sqrt(2) / 10 + 0.5, rel=1e-12)


def test_nrmse_keeps_and_pools_dims():
    truth = field(-10.0, extra={"member": [0, 1]})
    pred = truth + xr.DataArray([1.0, 3.0], dims="member")
    out = nrmse(pred, truth)
    assert out.dims == ("nrmse", "member")
    np.testing.assert_allclose(out.sel(nrmse="global").values, [0.1, 0.3])
    pooled = nrmse(pred, truth, dim="member")
    assert float(pooled.sel(nrmse="global")) == pytest.approx(np.sqrt(5) / 10)


# --- area weights -------------------------------------------------------------------------


def test_area_weights_values():
    lat = xr.DataArray([-60.0, 0.0, 60.0], dims="lat")
    np.testing.assert_allclose(area_weights(lat).values, [0.75, 1.5, 0.75])
    np.testing.assert_allclose(area_weights(lat, "area").values, [0.75, 1.5, 0.75])
    two = xr.DataArray(LAT2, dims="y", coords={"y": LAT2})
    np.testing.assert_allclose(area_weights(two).values, W2)
    # band edges -90, 30, 90: sin differences 1.5 and 0.5
    np.testing.assert_allclose(area_weights(two, "area").values, [1.5, 0.5])
    np.testing.assert_allclose(area_weights(two[::-1], "area").values, [0.5, 1.5])
    assert area_weights(two).dims == ("y",)
    assert area_weights(two)["y"].values.tolist() == LAT2
    with pytest.raises(ConfigError, match="kind"):
        area_weights(two, "equal")


def test_weights_argument_changes_metric():
    truth = field(0.0)
    pred = field(per_lat(3.0, 0.0))
    assert float(monthly_rmse(pred, truth, weights="area")) == pytest.approx(np.sqrt(1.5 * 9 / 2))
    assert float(monthly_rmse(pred, truth, weights="cos")) == pytest.approx(np.sqrt(6.0))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-89.5, 89.5, allow_nan=False), min_size=2, max_size=30, unique=True),
    st.booleans(),
    st.sampled_from(["cos", "area"]),
)
def test_area_weights_mean_one(lats, descending, kind):
    lats = sorted(lats, reverse=descending)
    w = area_weights(xr.DataArray(lats, dims="lat"), kind)
    assert float(w.mean()) == pytest.approx(1.0, rel=1e-12)
    assert (w >= 0).all()


# --- laziness ---------------------------------------------------------------------------


def _no_compute(dsk, keys, **kwargs):
    raise AssertionError("a lazy metric was computed before it was asked to")


@pytest.mark.parametrize("metric", [*METRICS.values(), nrmse], ids=[*METRICS, "nrmse"])
def test_dask_inputs_give_lazy_results(metric):
    s = np.array([1.0, -1.0, 1.0, -1.0])[:, None, None]
    truth = field(280 + s * per_lat(1.0, 2.0), extra={"member": [0, 1]})
    pred = truth * 1.01
    eager = metric(pred, truth)
    with dask.config.set(scheduler=_no_compute):
        lazy = metric(pred.chunk({"member": 1}), truth.chunk({"member": 1}))
        assert isinstance(lazy.data, dask.array.Array)
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-12)


def test_score_is_lazy_on_dask(synthetic):
    truth = synthetic[["tas", "pr"]].chunk({"member": 1})
    with dask.config.set(scheduler=_no_compute):
        s = score(truth * 1.01, truth)
        assert all(isinstance(s[v].data, dask.array.Array) for v in s.data_vars)
    eager = score(synthetic[["tas", "pr"]] * 1.01, synthetic[["tas", "pr"]])
    xr.testing.assert_allclose(s.compute(), eager, rtol=1e-10)


# --- noise floor --------------------------------------------------------------------------


def test_noise_floor_rows(synthetic):
    truth = synthetic[["tas", "pr"]].isel(scenario=0, drop=True)
    nf = noise_floor(truth, member=0, member_dim="member")
    assert nf["prediction"].values.tolist() == ["member 1", "member 2", "mean of other members"]
    held = truth.sel(member=0, drop=True)
    for label, pred in [
        ("member 1", truth.sel(member=1, drop=True)),
        ("member 2", truth.sel(member=2, drop=True)),
        ("mean of other members", truth.sel(member=[1, 2]).mean("member")),
    ]:
        xr.testing.assert_allclose(nf.sel(prediction=label, drop=True), score(pred, held), rtol=1e-12)
    # another member held out
    assert noise_floor(truth, member=2, member_dim="member")["prediction"].values.tolist() == [
        "member 0",
        "member 1",
        "mean of other members",
    ]


def test_noise_floor_errors(synthetic):
    truth = synthetic[["tas"]].isel(scenario=0, drop=True)
    with pytest.raises(DataError, match="not in member"):
        noise_floor(truth, member=7, member_dim="member")
    with pytest.raises(DataError, match="'member_id' is not a dim"):
        noise_floor(truth, member=0)
    with pytest.raises(DataError, match="at least two members"):
        noise_floor(truth.isel(member=[0]), member=0, member_dim="member")


# --- the real store ---------------------------------------------------------------------


def numpy_metrics(p: np.ndarray, t: np.ndarray, lat: np.ndarray) -> tuple[float, float, float]:
    """The README's formulas in plain numpy, float64, for (time, lat, lon) arrays."""
    p, t = p.astype(np.float64), t.astype(np.float64)
    w = np.cos(np.deg2rad(lat))
    w = w / w.mean()
    monthly = np.sqrt(np.mean(w[None, :, None] * (p - t) ** 2))
    tmean = np.sqrt(np.mean(w[:, None] * (p.mean(axis=0) - t.mean(axis=0)) ** 2))
    tstd = np.mean(w[:, None] * np.abs(p.std(axis=0, ddof=0) - t.std(axis=0, ddof=0)))
    return monthly, tmean, tstd


def readme_score(tas, pr):
    return 0.5 * (0.1 * tas[0] + tas[1] + tas[2]) + 0.5 * (0.1 * pr[0] + pr[1] + 0.75 * pr[2])


def test_member1_as_prediction_matches_numpy_and_readme(validation):
    assert validation.sizes["time"] == 120
    assert str(validation.time.values[0])[:7] == "2090-02"
    truth = validation.sel(member_id=0, drop=True)
    pred = validation.sel(member_id=1, drop=True)
    s = score(pred, truth)
    reference = {"tas": (1.514, 0.249, 0.112), "pr": (2.785, 0.238, 0.215)}
    mine = {}
    for var in ("tas", "pr"):
        mine[var] = numpy_metrics(pred[var].values, truth[var].values, validation.y.values)
        np.testing.assert_allclose(s[var].values, mine[var], rtol=1e-6)
        np.testing.assert_allclose(s[var].values, reference[var], atol=5e-4 + 1e-12)
    assert float(s["competition_score"]) == pytest.approx(readme_score(mine["tas"], mine["pr"]), rel=1e-6)
    assert abs(float(s["competition_score"]) - 0.595) <= 5e-4


def test_noise_floor_matches_readme(validation):
    nf = noise_floor(validation, member=0)
    readme = {  # prediction: tas, pr, score
        "member 1": ((1.514, 0.249, 0.112), (2.785, 0.238, 0.215), 0.595),
        "member 2": ((1.609, 0.293, 0.112), (2.873, 0.307, 0.217), 0.661),
        "mean of other members": ((1.362, 0.232, 0.126), (2.466, 0.225, 0.364), 0.620),
    }
    for row, (tas, pr, total) in readme.items():
        got = nf.sel(prediction=row)
        np.testing.assert_allclose(got["tas"].values, tas, atol=5e-4 + 1e-12)
        np.testing.assert_allclose(got["pr"].values, pr, atol=5e-4 + 1e-12)
        assert abs(float(got["competition_score"]) - total) <= 5e-4 + 1e-12


def test_top_level_names():
    assert xemu.monthly_rmse is monthly_rmse and xemu.score is score and xemu.nrmse is nrmse
