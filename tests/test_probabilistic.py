"""Tests of xemu.metrics.probabilistic: hand-computed CRPS, estimator bias, calibration, weights, units, checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import xarray as xr

import xemu
from xemu.errors import ConfigError, DataError, UnitsError
from xemu.metrics import score
from xemu.metrics.probabilistic import (
    crps,
    ensemble_scores,
    rank_flatness,
    rank_histogram,
    spread_skill_ratio,
)

xs = pytest.importorskip("xskillscore")
pytest.importorskip("scores")

M = "realization"
SQRT_PI = np.sqrt(np.pi)


def field(values, *, lat=(0.0,), n_lon=1, n_time=1, lead: dict | None = None, units="K", name="tas"):
    """A (lead..., time, lat, lon) DataArray; ``values`` broadcasts against that shape."""
    lead = lead or {}
    shape = [len(v) for v in lead.values()] + [n_time, len(lat), n_lon]
    data = np.broadcast_to(np.asarray(values, float), shape).copy()
    time = xr.date_range("2000-01-01", periods=n_time, freq="MS", calendar="noleap", use_cftime=True)
    coords = {**lead, "time": time, "lat": list(lat), "lon": np.arange(n_lon) * 360.0 / n_lon}
    return xr.DataArray(
        data, dims=(*lead, "time", "lat", "lon"), coords=coords, attrs={"units": units}, name=name
    )


def draws(m: int, *, scale: float = 1.0, seed: int = 0, n_time=40, n_lat=20, n_lon=50):
    """Truth and ``m`` members, all independent N(0, 1) (members scaled by ``scale``): 40,000 cells."""
    rng = np.random.default_rng(seed)
    lat = tuple(np.linspace(-85.0, 85.0, n_lat))
    shape = (n_time, n_lat, n_lon)
    truth = field(rng.standard_normal(shape), lat=lat, n_lon=n_lon, n_time=n_time)
    ens = field(
        scale * rng.standard_normal((m, *shape)), lat=lat, n_lon=n_lon, n_time=n_time, lead={M: np.arange(m)}
    )
    return ens, truth


# --- CRPS: hand-computed ------------------------------------------------------------------

# one cell and month per case; crps = mean|x - y| - sum_ij |x_i - x_j| / (2K), K = m^2 or m(m - 1)
CASES = [
    # members, truth, plain (K = m^2), fair (K = m (m - 1))
    ([1.0, 3.0], 2.0, 1 - 4 / 8, 1 - 4 / 4),  # mean|x-y| = 1, sum|xi-xj| = 4
    ([1.0, 3.0], 0.0, 2 - 4 / 8, 2 - 4 / 4),
    ([1.0, 3.0], 5.0, 3 - 4 / 8, 3 - 4 / 4),
    ([0.0, 1.0, 4.0], 2.0, 5 / 3 - 16 / 18, 5 / 3 - 16 / 12),  # sum|xi-xj| = 2 (1 + 4 + 3) = 16
    ([0.0, 1.0, 4.0], -1.0, 8 / 3 - 16 / 18, 8 / 3 - 16 / 12),
]


@pytest.mark.parametrize("members, y, plain, fair", CASES)
def test_crps_hand_computed(members, y, plain, fair):
    truth = field(y)
    ens = field(np.asarray(members)[:, None, None, None], lead={M: np.arange(len(members))})
    assert float(crps(ens, truth, fair=False)) == pytest.approx(plain, abs=1e-12)
    assert float(crps(ens, truth)) == pytest.approx(fair, abs=1e-12)


def test_crps_keeps_dims_not_reduced_and_averages_the_rest():
    # the three 2-member cases on a kept "case" dim; then pooled with dim="case"
    ys = [c[1] for c in CASES[:3]]
    truth = field(np.array(ys)[:, None, None, None], lead={"case": ["a", "b", "c"]})
    ens = field(np.array([1.0, 3.0])[:, None, None, None, None], lead={M: [0, 1], "case": ["a", "b", "c"]})
    per_case = crps(ens, truth, fair=False)
    assert per_case.dims == ("case",)
    np.testing.assert_allclose(per_case, [c[2] for c in CASES[:3]], atol=1e-12)
    assert float(crps(ens, truth, fair=False, dim="case")) == pytest.approx(1.5)
    assert float(crps(ens, truth, dim="case")) == pytest.approx(1.0)


def test_plain_crps_matches_properscoring_through_xskillscore():
    ens, truth = draws(5, n_time=6, n_lat=4, n_lon=5)
    per_point = xs.crps_ensemble(truth, ens, member_dim=M, dim=[])
    w = xemu.area_weights(truth["lat"])
    expected = float((w * per_point).mean())
    assert float(crps(ens, truth, fair=False)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fair", [True, False])
def test_crps_of_a_perfect_ensemble_is_zero(fair):
    _, truth = draws(2, n_time=5, n_lat=4, n_lon=6)
    ens = xr.concat([truth, truth, truth], dim=M)
    assert float(crps(ens, truth, fair=fair)) == 0.0


def test_fair_crps_compares_ensemble_sizes_and_plain_is_biased():
    # truth and members from N(0, 1): E CRPS = E|X - Y| - E|X - X'| / 2 = 2/sqrt(pi) - 1/sqrt(pi);
    # the plain estimator adds E|X - X'| / (2m) = 1 / (m sqrt(pi)). 40,000 cells: standard errors ~0.003.
    expected = 1 / SQRT_PI
    ens10, truth = draws(10, seed=1)
    ens2 = ens10.isel({M: slice(0, 2)})
    fair2, fair10 = float(crps(ens2, truth)), float(crps(ens10, truth))
    plain2, plain10 = float(crps(ens2, truth, fair=False)), float(crps(ens10, truth, fair=False))
    assert fair2 == pytest.approx(expected, abs=0.02)
    assert fair10 == pytest.approx(expected, abs=0.02)
    assert abs(fair2 - fair10) < 0.02
    assert plain2 == pytest.approx(expected * (1 + 1 / 2), abs=0.02)  # biased by 0.28
    assert plain10 == pytest.approx(expected * (1 + 1 / 10), abs=0.02)
    assert plain2 - fair2 > 0.2


# --- spread-skill ratio -------------------------------------------------------------------


@pytest.mark.parametrize("m", [2, 10])
def test_spread_skill_ratio_of_calibrated_draws_is_one(m):
    ens, truth = draws(m, seed=2)
    ratio = spread_skill_ratio(ens, truth)
    assert float(ratio) == pytest.approx(1.0, abs=0.1)
    assert float(ratio) == pytest.approx(1.0, abs=0.03)  # in fact much closer with 40,000 cells
    assert ratio.attrs["units"] == "1" and ratio.attrs["n_members"] == m


def test_spread_skill_ratio_with_half_the_spread_is_about_half():
    m = 10
    ens, truth = draws(m, scale=0.5, seed=3)
    # E var = 1/4, E (mean - y)^2 = 1 + 1/(4m): ratio sqrt((m+1)/m / 4) / sqrt(1 + 1/(4m)) = 0.518
    exact = np.sqrt((m + 1) / m * 0.25) / np.sqrt(1 + 0.25 / m)
    ratio = float(spread_skill_ratio(ens, truth))
    assert ratio == pytest.approx(exact, abs=0.02)
    assert ratio == pytest.approx(0.5, abs=0.05)


# --- rank histogram ----------------------------------------------------------------------


def test_rank_histogram_of_calibrated_draws_is_flat():
    m = 9
    ens, truth = draws(m, seed=4)
    hist = rank_histogram(ens, truth)
    assert hist.dims == ("rank",)
    assert hist["rank"].values.tolist() == list(range(1, m + 2))
    assert hist.dtype.kind == "i" and int(hist.sum()) == truth.size
    chi2 = float(rank_flatness(hist))
    assert chi2 < scipy.stats.chi2.ppf(0.999, df=m)  # independent cells: chi-square with m dof
    assert float(rank_flatness(hist, kind="ratio")) < 1.15


def test_rank_histogram_of_under_dispersed_draws_is_u_shaped():
    m = 9
    ens, truth = draws(m, scale=0.3, seed=5)
    hist = rank_histogram(ens, truth).values
    middle = hist[1:-1].max()
    assert hist[0] > 3 * middle and hist[-1] > 3 * middle
    assert float(rank_flatness(xr.DataArray(hist, dims="rank"))) > 100 * scipy.stats.chi2.ppf(0.999, df=m)


def test_rank_histogram_breaks_ties_at_random_with_a_seed_and_restores_the_generator():
    # all zero (dry) everywhere: every rank is a tie, drawn uniformly among the m + 1 positions
    truth = field(0.0, lat=tuple(np.linspace(-80, 80, 10)), n_lon=20, n_time=30, units="mm/day", name="pr")
    ens = xr.concat([truth] * 4, dim=M)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a, b = rank_histogram(ens, truth, seed=7), rank_histogram(ens, truth, seed=7)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    xr.testing.assert_identical(a, b)
    assert float(rank_flatness(a)) < scipy.stats.chi2.ppf(0.999, df=4)
    assert not np.array_equal(a.values, rank_histogram(ens, truth, seed=8).values)


def test_rank_histogram_keeps_dims_and_refuses_nans():
    ens, truth = draws(3, n_time=4, n_lat=4, n_lon=5)
    truth2 = xr.concat([truth, truth + 10.0], dim=xr.DataArray(["a", "b"], dims="case"))
    hist = rank_histogram(ens, truth2)
    assert set(hist.dims) == {"case", "rank"}
    assert hist.sel(case="b", rank=4).item() == truth.size  # truth far above every member
    assert int(rank_histogram(ens, truth2, dim="case").sum()) == truth2.size
    holed = truth.copy()
    holed[0, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"truth: 1 NaN values of 80"):
        rank_histogram(ens, holed)


def test_rank_flatness_checks_its_arguments():
    with pytest.raises(DataError, match="hist: expected a rank histogram"):
        rank_flatness(xr.DataArray([1, 2], dims="x"))
    with pytest.raises(ConfigError, match="kind"):
        rank_flatness(xr.DataArray([1, 2], dims="rank"), kind="entropy")


# --- weights, units, NaNs, laziness ------------------------------------------------------


def test_area_weights_change_the_answer_on_two_latitudes():
    # cos(0) = 1, cos(60) = 0.5: w = [4/3, 2/3]; members all equal: crps = |x - y|
    lat = (0.0, 60.0)
    truth = field(1.0, lat=lat, n_lon=3, n_time=2)
    err = np.array([1.0, 4.0])[None, :, None]
    ens = field(np.stack([1.0 + err, 1.0 + err]), lat=lat, n_lon=3, n_time=2, lead={M: [0, 1]})
    assert float(crps(ens, truth)) == pytest.approx((4 / 3 * 1 + 2 / 3 * 4) / 2)  # 2.0
    flat = xr.ones_like(truth["lat"])
    assert float(crps(ens, truth, weights=flat)) == pytest.approx(2.5)
    # spread: member variance 2 at 0N, 8 at 60N; error of the ensemble mean 1 everywhere
    spread = np.array([1.0, 2.0])[None, :, None]
    ens = field(np.stack([2.0 - spread, 2.0 + spread]), lat=lat, n_lon=3, n_time=2, lead={M: [0, 1]})
    assert float(spread_skill_ratio(ens, truth)) == pytest.approx(
        np.sqrt(1.5) * np.sqrt((4 / 3 * 2 + 2 / 3 * 8) / 2)
    )
    assert float(spread_skill_ratio(ens, truth, weights=flat)) == pytest.approx(np.sqrt(1.5) * np.sqrt(5.0))
    # plain CRPS 0.5 at 0N, 1.0 at 60N: "cos" gives (4/3 * 0.5 + 2/3 * 1) / 2 = 2/3, "area" another mix
    assert float(crps(ens, truth, fair=False)) == pytest.approx(2 / 3)
    assert float(crps(ens, truth, fair=False, weights="area")) != pytest.approx(2 / 3)


def test_units_are_converted_to_truths():
    ens, truth = draws(3, n_time=4, n_lat=4, n_lon=5)
    truth = truth + 280.0
    truth.attrs["units"] = "K"
    ens_k = (ens + 280.0).assign_attrs(units="K")
    ens_c = (ens_k - 273.15).assign_attrs(units="degC")
    c = crps(ens_c, truth)
    assert c.attrs["units"] == "K"
    assert float(c) == pytest.approx(float(crps(ens_k, truth)), rel=1e-9)
    assert float(spread_skill_ratio(ens_c, truth)) == pytest.approx(float(spread_skill_ratio(ens_k, truth)))
    # a mass flux against a depth rate (through the density of water)
    pr = (abs(truth - 280.0)).assign_attrs(units="mm/day")
    pr_ens = (abs(ens) / 86400.0).assign_attrs(units="kg m-2 s-1")
    assert float(crps(pr_ens, pr)) == pytest.approx(float(crps(abs(ens).assign_attrs(units="mm/day"), pr)))
    with pytest.raises(UnitsError, match="ens and truth: units differ"):
        crps(ens_k.assign_attrs(units="m"), truth)


def test_nans_propagate_in_crps():
    ens, truth = draws(3, n_time=3, n_lat=4, n_lon=5)
    ens = ens.copy()
    ens[1, 0, 0, 0] = np.nan
    assert np.isnan(float(crps(ens, truth)))
    assert np.isnan(float(spread_skill_ratio(ens, truth)))


def test_dask_inputs_stay_lazy_and_match():
    ens, truth = draws(4, n_time=6, n_lat=4, n_lon=5)
    lazy_ens, lazy_truth = ens.chunk({M: 1, "time": 3}), truth.chunk({"time": 3})
    for f in (crps, spread_skill_ratio):
        lazy = f(lazy_ens, lazy_truth)
        assert lazy.chunks is not None
        assert float(lazy) == pytest.approx(float(f(ens, truth)), rel=1e-12)
    xr.testing.assert_identical(rank_histogram(lazy_ens, lazy_truth), rank_histogram(ens, truth))


# --- input checks ------------------------------------------------------------------------


@pytest.mark.parametrize("f", [crps, spread_skill_ratio, rank_histogram])
def test_inputs_are_checked(f):
    ens, truth = draws(3, n_time=4, n_lat=4, n_lon=5)
    with pytest.raises(DataError, match=r"member_dim: 'member' is not a dimension of ens"):
        f(ens, truth, member_dim="member")
    with pytest.raises(
        DataError, match=r"ens: an ensemble needs at least 2 members along 'realization'; got 1"
    ):
        f(ens.isel({M: [0]}), truth)
    with pytest.raises(DataError, match=r"truth: has the member dim 'realization'"):
        f(ens, ens)
    shifted = truth.assign_coords(
        time=xr.date_range("2001-01-01", periods=4, freq="MS", calendar="noleap", use_cftime=True)
    )
    with pytest.raises(DataError, match=r"ens: coordinate 'time' differs from truth's"):
        f(ens, shifted)
    with pytest.raises(DataError, match=r"ens: size 3 along 'lat' differs from truth's 4"):
        f(ens.isel(lat=slice(0, 3)), truth)
    with pytest.raises(DataError, match=r"ens: missing dimension 'lon'"):
        f(ens.isel(lon=0), truth)
    with pytest.raises(DataError, match=r"dim: 'realization' is the member dim"):
        f(ens, truth, dim=M)
    with pytest.raises(DataError, match=r"dim: 'case' is not a dimension"):
        f(ens, truth, dim="case")
    with pytest.raises(DataError, match=r"ens: expected an xarray.DataArray; got ndarray"):
        f(ens.values, truth)
    # a scalar member label left by .sel() on truth is not a clash
    f(ens, truth.assign_coords({M: 5}))


def test_missing_libraries_name_the_extra(monkeypatch):
    ens, truth = draws(2, n_time=2, n_lat=2, n_lon=2)
    monkeypatch.setitem(sys.modules, "scores.probability", None)
    with pytest.raises(ImportError, match=r"^xemu\.metrics\.probabilistic\.crps needs the optional package 'scores'.*xemu\[prob\]"):
        crps(ens, truth)
    monkeypatch.setitem(sys.modules, "xskillscore", None)
    with pytest.raises(ImportError, match=r"^xemu\.metrics\.probabilistic\.rank_histogram needs the optional package 'xskillscore'.*xemu\[prob\]"):
        rank_histogram(ens, truth)


def test_importing_the_module_imports_no_scoring_library():
    code = (
        "import sys, xemu, xemu.metrics.probabilistic; "
        "print(sorted(m for m in ('xskillscore', 'scores', 'properscoring') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- ensemble_scores ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def climate():
    return xemu.synthetic_climate(n_years=2, n_lat=6, n_lon=8, n_members=4, scenarios=("low", "high"), seed=1)


def test_ensemble_scores_layout_and_values(climate):
    ens, truth = climate[["tas", "pr"]].sel(member=[1, 2, 3]), climate[["tas", "pr"]].sel(member=0)
    s = ensemble_scores(ens, truth, member_dim="member")
    assert s.attrs == {"member_dim": "member", "n_members": 3, "crps_estimator": "fair"}
    per_member = score(ens, truth.drop_vars("member"))
    for v in ("tas", "pr", "competition_score"):
        xr.testing.assert_allclose(s[v], per_member[v].transpose("member", ...))
        xr.testing.assert_allclose(s[f"{v}_member_mean"], per_member[v].mean("member"))
        xr.testing.assert_allclose(s[f"{v}_member_std"], per_member[v].std("member", ddof=1))
    assert s["tas"].dims == ("member", "metric", "scenario")
    assert s["competition_score_member_mean"].dims == ("scenario",)
    of_mean = score(ens.mean("member"), truth.drop_vars("member"))
    xr.testing.assert_allclose(s["pr_ensemble_mean"], of_mean["pr"])
    xr.testing.assert_allclose(s["competition_score_ensemble_mean"], of_mean["competition_score"])
    xr.testing.assert_allclose(
        s["tas_crps"], crps(ens.tas, truth.tas, member_dim="member").rename("tas_crps"), check_dim_order=False
    )
    assert s["pr_crps"].attrs["units"] == "mm/day" and s["pr_spread_skill_ratio"].dims == ("scenario",)
    # the ensemble mean beats a typical member on monthly RMSE (it averages out the weather)
    assert (
        s["tas_ensemble_mean"].sel(metric="monthly_rmse") < s["tas_member_mean"].sel(metric="monthly_rmse")
    ).all()
    pooled = ensemble_scores(ens, truth, member_dim="member", dim="scenario", fair=False, variables=["tas"])
    assert pooled["tas_crps"].dims == () and pooled.attrs["crps_estimator"] == "ecdf"
    assert "competition_score" not in pooled


def test_ensemble_scores_checks_inputs(climate):
    ens, truth = climate[["tas", "pr"]].sel(member=[1, 2]), climate[["tas", "pr"]].sel(member=0)
    with pytest.raises(DataError, match=r"variables: no variable in common with a 'realization' dim"):
        ensemble_scores(ens, truth)
    with pytest.raises(DataError, match=r"truth: no variable 'CO2'"):
        ensemble_scores(ens.assign(CO2=ens.tas), truth, member_dim="member", variables=["tas", "CO2"])
    with pytest.raises(DataError, match=r"ens: an ensemble needs at least 2 members"):
        ensemble_scores(ens.isel(member=[0]), truth, member_dim="member")
    with pytest.raises(DataError, match=r"ens: expected an xarray.Dataset"):
        ensemble_scores(ens.tas, truth, member_dim="member")
