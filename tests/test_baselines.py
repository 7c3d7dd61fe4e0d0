import numpy as np
import pytest

import xemu
from xemu.baselines import Climatology, LinearPatternScaling
from xemu.errors import GridError, NotFittedError

FORCINGS = ["CO2", "CH4", "SO2", "BC"]


def _global_mean(da):
    w = np.cos(np.deg2rad(da.lat.values))
    return (da * w[:, None]).mean(("lat", "lon")) / w.mean()


def test_linear_matches_independent_numpy_least_squares(synthetic):
    ds = synthetic
    lin = LinearPatternScaling().fit(ds, FORCINGS, ["tas", "pr"])
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
    assert a.pr.attrs["units"] == "mm/day" and "baseline" in a.pr.attrs["history"]


def test_baseline_errors(synthetic):
    with pytest.raises(NotFittedError):
        LinearPatternScaling().predict(synthetic)
    lin = LinearPatternScaling().fit(synthetic, FORCINGS, ["tas"])
    with pytest.raises(GridError):
        lin.predict(synthetic.assign_coords(lat=synthetic.lat * 0.9))
