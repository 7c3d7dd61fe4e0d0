import numpy as np
import pytest

import xemu
from xemu.baselines import Climatology, LinearPatternScaling
from xemu.baselines.registry import resolve_baseline
from xemu.errors import ConfigError, GridError, NotFittedError
from xemu.testing import TINY_CONFIG

FORCINGS = ["CO2", "CH4", "SO2", "BC"]


def _global_mean(da):
    w = np.cos(np.deg2rad(da.lat.values))
    return (da * w[:, None]).mean(("lat", "lon")) / w.mean()


def test_linear_matches_independent_numpy_least_squares(synthetic):
    ds = synthetic
    lin = LinearPatternScaling().fit(ds, FORCINGS, ["tas", "pr"], alpha=0)
    pred = lin.predict(ds.drop_vars(["tas", "pr"]))
    # independent: per calendar month and cell, lstsq on [raw global means, 1] (no scaling)
    feats = np.stack([ds.CO2.values, ds.CH4.values, _global_mean(ds.SO2).values, _global_mean(ds.BC).values], -1)
    feats = np.broadcast_to(feats[:, None], (3, 3, *feats.shape[1:]))  # (scenario, member, time, K)
    month = ds.time.dt.month.values
    for name in ("tas", "pr"):
        y = ds[name].values  # (scenario, member, time, lat, lon)
        expected = np.zeros((3, y.shape[2], *y.shape[3:]))
        for m in range(1, 13):
            sel = month == m
            x = feats[:, :, sel].reshape(-1, 4).astype(np.float64)
            x = x * np.array([1, 1, 1e10, 1e10])  # well-conditioned units; lstsq is scale-equivariant
            a = np.concatenate([x, np.ones((len(x), 1))], 1)
            coef = np.linalg.lstsq(a, y[:, :, sel].reshape(len(x), -1), rcond=None)[0]
            xs = feats[:, 0, sel].reshape(-1, 4) * np.array([1, 1, 1e10, 1e10])
            expected[:, sel] = (np.concatenate([xs, np.ones((len(xs), 1))], 1) @ coef).reshape(3, sel.sum(), *y.shape[3:])
        got = pred[name].values
        rel = np.abs(got - expected).max() / np.abs(expected - expected.mean()).max()
        assert rel < 0.01, (name, rel)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_climatology_is_the_calendar_month_mean(synthetic):
    clim = Climatology().fit(synthetic, ["CO2"], ["tas"], holdout={"scenario": "mid"})
    pred = clim.predict(synthetic.drop_vars(["tas", "pr"]))
    train = synthetic.tas.sel(scenario=["low", "high"])
    expected = train.groupby("time.month").mean(("scenario", "member", "time"))
    got = pred.tas.sel(scenario="low").groupby("time.month").first()
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "climatology"])
def test_same_interface_save_load(synthetic, kind, tmp_path):
    bl = synthetic.emu.fit(FORCINGS, ["tas", "pr"], model=kind, holdout={"scenario": "mid", "member": 0})
    path = bl.save(tmp_path / f"{kind}.nc")
    loaded = xemu.load(path)
    assert type(loaded) is type(bl)
    forcing = synthetic.drop_vars(["tas", "pr"])
    a, b = bl.predict(forcing), synthetic.emu.predict(loaded)
    np.testing.assert_array_equal(a.tas.values, b.tas.values)
    assert a.pr.attrs["units"] == "mm/day" and f"{kind} baseline" in a.attrs["history"]


def test_baseline_errors(synthetic):
    with pytest.raises(NotFittedError):
        LinearPatternScaling().predict(synthetic)
    lin = LinearPatternScaling().fit(synthetic, FORCINGS, ["tas"])
    with pytest.raises(GridError):
        lin.predict(synthetic.assign_coords(lat=synthetic.lat * 0.9))


def test_ridge_matches_independent_normal_equations(synthetic):
    ds = synthetic
    alpha = 0.05
    lin = LinearPatternScaling().fit(ds, FORCINGS, ["tas"], alpha=alpha)
    pred = lin.predict(ds.drop_vars(["tas", "pr"])).tas.values
    feats = np.stack([ds.CO2.values, ds.CH4.values, _global_mean(ds.SO2).values, _global_mean(ds.BC).values], -1)
    rows = np.broadcast_to(feats[:, None], (3, 3, *feats.shape[1:])).reshape(-1, feats.shape[1], 4)
    mu, sd = rows.reshape(-1, 4).mean(0), rows.reshape(-1, 4).std(0)
    month = ds.time.dt.month.values
    y = ds.tas.values.reshape(9, month.size, -1).astype(np.float64)
    for m in (1, 7):
        sel = month == m
        z = ((rows[:, sel] - mu) / sd).reshape(-1, 4)
        t = y[:, sel].reshape(len(z), -1)
        zc, tc = z - z.mean(0), t - t.mean(0)
        b = np.linalg.solve(zc.T @ zc + alpha * len(z) * np.eye(4), zc.T @ tc)  # (4, P)
        c = t.mean(0) - z.mean(0) @ b
        zs = (feats[:, sel] - mu) / sd  # (3 scenarios, months, 4)
        expected = zs @ b + c
        np.testing.assert_allclose(pred[:, sel].reshape(3, sel.sum(), -1), expected, rtol=1e-5, atol=1e-4)


def test_ridge_strength_is_chosen_by_leaving_scenarios_out(synthetic):
    lin = LinearPatternScaling().fit(synthetic, FORCINGS, ["tas", "pr"])
    alpha, cv = lin.params["alpha"], lin.params["cv_error"]
    assert "leave one forcing sample out (3 folds)" in alpha.attrs["choice"]
    for t in ("tas", "pr"):
        best = cv.sel(target=t).idxmin("alpha_tried")
        assert float(alpha.sel(target=t)) == float(best)
    # one or two forcing samples: a fit on one scenario cannot tell its forcings apart; blocks of time
    for kept in (["mid"], ["low", "high"]):
        few = LinearPatternScaling().fit(synthetic.sel(scenario=kept), FORCINGS, ["tas"])
        assert "5 contiguous blocks of time" in few.params["alpha"].attrs["choice"]


def test_ridge_bounds_a_what_if_along_collinear_inputs():
    """BC proportional to SO2 but for a 1e-6 wiggle: least squares answers a 10 % change of SO2 alone
    with an absurd response; the ridge fit answers with a bounded one, and warns about the design."""
    import warnings

    ds = xemu.synthetic_climate(n_years=10, n_lat=4, n_lon=6, seed=1)
    rng = np.random.default_rng(0)
    ds["BC"] = ds.SO2 * 0.2 * (1 + 1e-6 * rng.standard_normal(ds.SO2.shape)).astype(np.float32)
    ds["BC"].attrs = {"units": "kg m-2 s-1"}
    forcing = ds.drop_vars(["tas", "pr", "tas_forced", "pr_forced"])
    what_if = forcing.copy()
    what_if["SO2"] = forcing.SO2 * 1.1
    what_if["SO2"].attrs = forcing.SO2.attrs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ols = LinearPatternScaling().fit(ds, FORCINGS, ["tas"], alpha=0)
        ridge = LinearPatternScaling().fit(ds, FORCINGS, ["tas"])
    assert any("poorly conditioned" in str(w.message) and "SO2" in str(w.message) for w in caught)
    ols_resp = float(abs(ols.predict(what_if).tas - ols.predict(forcing).tas).max())
    ridge_resp = float(abs(ridge.predict(what_if).tas - ridge.predict(forcing).tas).max())
    assert ols_resp > 100 and ridge_resp < 2, (ols_resp, ridge_resp)


def test_predict_warns_when_inputs_leave_the_training_range(synthetic):
    lin = LinearPatternScaling().fit(synthetic, FORCINGS, ["tas"], holdout={"scenario": "high"})
    forcing = synthetic.drop_vars(["tas", "pr"])
    with pytest.warns(UserWarning, match=r"inputs\['CO2'\]: global-mean values reach .* Gt, beyond the training range"):
        lin.predict(forcing.sel(scenario=["high"]))


def test_auto_baseline_is_energy_balance_where_it_can_be_fitted():
    """``baseline="auto"``: the energy-balance baseline with cumulative CO2 emissions among the
    inputs and tas among the targets, in memory and streamed alike, on the inputs the fit chooses; else linear."""
    inputs, targets = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
    assert resolve_baseline("auto", inputs, targets) == "energy-balance"
    assert resolve_baseline("auto", ["CO2"], ["tas"]) == "energy-balance"
    assert resolve_baseline("auto", ["CH4", "SO2", "rsdt"], targets) == "linear"  # no CO2
    assert resolve_baseline("auto", inputs, ["pr"]) == "linear"  # no temperature to fit the global model to
    assert resolve_baseline("auto", inputs, targets, baseline_inputs=["CO2", "CH4"]) == "linear"
    for name in ("linear", "energy-balance", "climatology", None):  # a named baseline is kept
        assert resolve_baseline(name, ["x"], ["y"]) == name
    with pytest.raises(ConfigError, match=r"baseline: expected 'auto', one of .* or None; got 'ridge'"):
        resolve_baseline("ridge", inputs, targets)


def test_fit_resolves_auto_baseline(synthetic):
    """What ``fit`` does with the default: the energy-balance baseline on the synthetic climate's
    forcings, linear pattern scaling when CO2 is not an input; the emulator says which."""
    kw = dict(epochs=1, windows_per_epoch=4, batch_size=4, progress=False, config=TINY_CONFIG,
              variability=False)
    em = synthetic.emu.fit(["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"], **kw)
    assert em.baseline.kind == "energy-balance" and em.baseline.inputs == ["CO2", "CH4", "SO2", "BC"]
    assert em.meta["baseline"] == "energy-balance"
    em = synthetic.emu.fit(["CH4", "SO2", "rsdt"], ["tas", "pr"], **kw)
    assert em.baseline.kind == "linear" and em.meta["baseline"] == "linear"
