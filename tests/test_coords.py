"""Tests of xemu.coords: roles (cf-xarray, then the documented guess), latitude checks, grid alignment."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.data.coords import Roles, align_grid, check_latitude, find_dim, is_datetime_like, roles, sample_dims
from xemu.errors import CoordinateError, GridError

TIME = xr.date_range("2000-01-01", periods=3, freq="MS", calendar="noleap", use_cftime=True)


def cube(
    dims=("member", "time", "lat", "lon"),
    lat=(-45.0, 0.0, 45.0),
    lon=(0.0, 90.0, 180.0, 270.0),
    attrs: dict | None = None,
) -> xr.DataArray:
    """A small DataArray with the given dim names playing (sample, time, latitude, longitude)."""
    sample, t, y, x = dims
    da = xr.DataArray(
        np.zeros((2, TIME.size, len(lat), len(lon))),
        dims=dims,
        coords={sample: [0, 1], t: TIME, y: list(lat), x: list(lon)},
        name="v",
    )
    for name, a in (attrs or {}).items():
        da[name].attrs = a
    return da


def grid(lat, lon, names=("lat", "lon"), value=None) -> xr.DataArray:
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    data = np.zeros((lat.size, lon.size)) if value is None else value(lat[:, None], lon[None, :])
    return xr.DataArray(data, dims=names, coords={names[0]: lat, names[1]: lon}, name="g")


# --- roles ------------------------------------------------------------------------------


def test_roles_by_cf_attributes():
    # names that the guess would never take: only the attributes can identify them
    da = cube(
        dims=("ens", "when", "phi", "lam"),
        attrs={
            "when": {"standard_name": "time"},
            "phi": {"standard_name": "latitude", "units": "degrees_north"},
            "lam": {"standard_name": "longitude", "units": "degrees_east"},
        },
    )
    assert roles(da) == Roles(time="when", latitude="phi", longitude="lam", sample=("ens",))


def test_cf_attributes_work_in_a_fresh_process():
    """The cf path must not depend on cf_xarray having been imported by something else first."""
    code = (
        "import numpy as np, xarray as xr, xemu\n"
        "da = xr.DataArray(np.zeros((2, 3)), dims=('phi', 'lam'), coords={'phi': [0.0, 1.0], 'lam': [0.0, 1, 2]})\n"
        "da.phi.attrs['standard_name'] = 'latitude'; da.lam.attrs['standard_name'] = 'longitude'\n"
        "print(xemu.coords.roles(da).spatial)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "('phi', 'lam')"


def test_roles_by_cf_axis_only():
    da = cube(
        dims=("ens", "when", "a", "b"), attrs={"when": {"axis": "T"}, "a": {"axis": "Y"}, "b": {"axis": "X"}}
    )
    r = roles(da)
    assert (r.time, r.latitude, r.longitude) == ("when", "a", "b")


@pytest.mark.parametrize(
    "names",
    [
        ("member", "time", "lat", "lon"),
        ("ssp", "t", "latitude", "longitude"),
        ("run", "month", "Y", "X"),
        ("run", "date", "nav_lat", "nav_lon"),
    ],
)
def test_roles_by_name_guess(names):
    da = cube(dims=names)  # no attributes at all
    r = roles(da)
    assert (r.time, r.latitude, r.longitude, r.sample) == (names[1], names[2], names[3], (names[0],))
    assert r.spatial == (names[2], names[3])
    assert sample_dims(da) == (names[0],)


def test_guess_accepts_bare_degree_units_like_the_store():
    da = cube(dims=("ssp", "time", "latitude", "longitude"), attrs={"latitude": {"units": "degrees"}})
    assert roles(da).latitude == "latitude"


def test_guess_needs_degrees_and_dates():
    # a projected "y" in metres is not a latitude
    da = cube(dims=("m", "time", "y", "x"), attrs={"y": {"units": "m"}})
    with pytest.raises(CoordinateError, match="no latitude found"):
        find_dim(da, "latitude")
    # a "time" holding plain numbers is not a time
    numeric = cube().assign_coords(time=[0.0, 1.0, 2.0])
    assert find_dim(numeric, "time", required=False) is None


def test_no_latitude_message_lists_what_was_looked_for():
    da = xr.DataArray(np.zeros((2, 3, 4, 5)), dims=("ssp", "time", "a", "b"))
    with pytest.raises(CoordinateError) as err:
        find_dim(da, "latitude", name="inputs")
    msg = str(err.value)
    assert msg.startswith("inputs: no latitude found")
    assert "standard_name 'latitude'" in msg and "axis 'Y'" in msg
    assert "lat/latitude/y" in msg
    assert "DataArray has dims (ssp, time, a, b)" in msg
    with pytest.raises(CoordinateError, match=r"Dataset has dims \(ssp, time, a, b\)"):
        find_dim(da.to_dataset(name="v"), "latitude", name="inputs")
    with pytest.raises(CoordinateError, match="no time found.*datetime values"):
        find_dim(da, "time")


def test_two_candidates_raise():
    ds = xr.Dataset(
        {"a": cube()["lat"], "b": grid([-40.0, 40.0], [0.0, 180.0], names=("latitude", "longitude"))}
    )
    with pytest.raises(CoordinateError, match=r"more than one latitude dimension.*\['lat', 'latitude'\]"):
        find_dim(ds, "latitude")


def test_unknown_role():
    with pytest.raises(ValueError, match="role"):
        find_dim(cube(), "height")


def test_global_series_and_half_maps():
    series = xr.DataArray(np.zeros((2, 3)), dims=("ssp", "time"), coords={"time": TIME})
    r = roles(series)
    assert (r.time, r.latitude, r.longitude, r.spatial, r.sample) == ("time", None, None, None, ("ssp",))
    # a latitude without a longitude is neither a map nor a series
    with pytest.raises(CoordinateError, match="v: no longitude found"):
        roles(cube().rename(lon="q"))


@pytest.mark.parametrize("lat", [[0.0, 45.0, 100.0], [-95.0, 0.0, 10.0], [np.nan, 0.0, 10.0]])
def test_latitude_outside_range_raises(lat):
    da = cube(lat=lat, attrs={"lat": {"standard_name": "latitude", "units": "degrees_north"}})
    with pytest.raises(CoordinateError, match=r"within \[-90, 90\]"):
        roles(da)
    with pytest.raises(CoordinateError, match="1 values outside"):
        check_latitude(np.asarray(lat))


def test_is_datetime_like():
    assert is_datetime_like(np.array(["2000-01-01"], dtype="datetime64[ns]"))
    assert is_datetime_like(np.asarray(TIME))
    assert not is_datetime_like(np.arange(3.0))
    assert not is_datetime_like(np.array(["2000-01-01"], dtype=object))


# --- grid alignment ------------------------------------------------------------------------


def test_align_by_position_on_the_real_store(ssp370):
    so2 = ssp370["SO2"].isel(ssp=0, time=slice(0, 2)).load()
    tas = ssp370["tas"].isel(ssp=0, time=0, member_id=0)
    with pytest.warns(UserWarning, match="SO2: aligned to the target grid by position") as rec:
        out = align_grid(so2, tas)
    msg = str(rec[0].message)
    offsets = re.search(r"largest offset ([\d.]+) degrees \(latitude ([\d.]+), longitude ([\d.]+)\)", msg)
    assert offsets, msg
    total, dlat, dlon = map(float, offsets.groups())
    assert dlat == pytest.approx(0.46, abs=0.01)
    assert dlon == pytest.approx(0.625, abs=1e-3)
    assert total == pytest.approx(0.625, abs=1e-3)
    assert out.dims == ("time", "y", "x")
    np.testing.assert_array_equal(out["y"].values, tas["y"].values)
    np.testing.assert_array_equal(out["x"].values, tas["x"].values)
    np.testing.assert_array_equal(out.values, so2.values)  # cell by cell, nothing interpolated
    assert set(out.coords) == {"time", "y", "x", "ssp"}  # the target's scalar coords stay behind
    assert out.isel(y=0).sizes == {"time": 2, "x": 72}
    assert "largest offset 0.625" in out.attrs["xemu_grid_alignment"]


def test_align_by_interpolation_on_the_real_store(ssp370):
    so2 = ssp370["SO2"].isel(ssp=0, time=slice(0, 2)).load()
    tas = ssp370["tas"].isel(ssp=0, time=0, member_id=0)
    out = align_grid(so2, tas, method="interp")
    assert out.dims == ("time", "y", "x") and bool(np.isfinite(out).all())
    # target x = 356.875 lies between the source's 356.25 and 361.25 (= 1.25): an eighth of the way
    lat = float(tas["y"][20])
    src = so2.interp(latitude=lat)
    wrapped = 0.875 * src.sel(longitude=356.25) + 0.125 * src.sel(longitude=1.25)
    np.testing.assert_allclose(out.isel(y=20).sel(x=356.875).values, wrapped.values, rtol=1e-6)


def test_position_warns_and_wraps_longitude():
    tgt = grid([-45.0, 45.0], [0.0, 90.0, 180.0, 270.0])
    src = grid([-44.0, 44.0], [359.0, 89.0, 179.0, 269.0], names=("latitude", "longitude"))
    with pytest.warns(
        UserWarning, match=r"largest offset 1\.000 degrees \(latitude 1\.000, longitude 1\.000\)"
    ) as record:
        out = align_grid(src, tgt, name="BC")
    assert record[0].filename == __file__
    assert out.dims == ("lat", "lon")


def test_position_rejects_large_offsets_and_other_shapes():
    tgt = grid([-45.0, 45.0], [0.0, 90.0, 180.0, 270.0])
    far = grid([-45.0, 45.0], [50.0, 140.0, 230.0, 320.0])  # 50 degrees > half of the 90-degree spacing
    with pytest.raises(GridError, match="50 degrees apart, more than the 45 accepted"):
        align_grid(far, tgt, name="SO2")
    near = grid([-44.0, 46.0], [0.0, 90.0, 180.0, 270.0])
    with pytest.raises(GridError, match="more than the 0.5 accepted"):
        align_grid(near, tgt, max_offset=0.5)
    with pytest.warns(UserWarning):
        align_grid(far, tgt, max_offset=60)
    other = grid([-60.0, 0.0, 60.0], [0.0, 90.0, 180.0, 270.0])
    with pytest.raises(GridError, match=r"grid shape \(3, 4\) differs from the target grid \(2, 4\)"):
        align_grid(other, tgt, name="SO2")
    with pytest.raises(GridError, match="method"):
        align_grid(near, tgt, method="nearest")
    with pytest.raises(GridError, match="expected a map"):
        align_grid(xr.DataArray(np.zeros(3), dims="time", coords={"time": TIME}), tgt)


def test_exact_raises_on_any_offset():
    tgt = grid([-45.0, 45.0], [0.0, 90.0, 180.0, 270.0])
    src = grid([-45.0, 45.001], [0.0, 90.0, 180.0, 270.0], names=("latitude", "longitude"))
    with pytest.raises(GridError, match="differs from the target grid by up to 0.001 degrees"):
        align_grid(src, tgt, method="exact")
    same = grid([-45.0, 45.0], [0.0, 90.0, 180.0, 270.0], names=("latitude", "longitude"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = align_grid(same, tgt, method="exact")
        out_pos = align_grid(same, tgt)  # identical grids: no warning either
    assert out.dims == out_pos.dims == ("lat", "lon")


def test_interp_puts_a_linear_field_on_the_target_grid():
    def linear(lat, lon):
        return 2.0 * lat + 0.5 * lon

    tgt = grid(np.linspace(-60, 60, 5), np.arange(20.0, 360, 40))  # 20 .. 340
    src = grid(
        np.linspace(-80, 80, 9), np.arange(0.0, 360, 30), names=("latitude", "longitude"), value=linear
    )
    out = align_grid(src, tgt, method="interp", name="SO2")
    assert out.dims == ("lat", "lon")
    expected = linear(tgt["lat"].values[:, None], tgt["lon"].values[None, :])
    inside = tgt["lon"].values <= 330.0  # the source's last column
    np.testing.assert_allclose(out.values[:, inside], expected[:, inside], rtol=1e-10)
    # the source is global (0 .. 330 every 30 degrees): 340 lies between 330 and 360 = 0
    seam = 2 / 3 * linear(tgt["lat"].values, 330.0) + 1 / 3 * linear(tgt["lat"].values, 0.0)
    np.testing.assert_allclose(out.sel(lon=340.0).values, seam, rtol=1e-10)
    assert "periodic" in out.attrs["xemu_grid_alignment"]
    np.testing.assert_array_equal(out["lon"].values, tgt["lon"].values)
    assert "interpolation" in out.attrs["xemu_grid_alignment"]


# -- scenario and member dims (issue 29) -----------------------------------------------------------
def test_find_ensemble_dim_by_cmip6_names_cf_realization_or_as_named():
    from xemu.data.coords import find_ensemble_dim

    ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)
    assert (find_ensemble_dim(ds, "scenario"), find_ensemble_dim(ds, "member")) == ("scenario", "member")
    cmip = ds.rename(scenario="experiment_id", member="variant_label")
    assert (find_ensemble_dim(cmip, "scenario"), find_ensemble_dim(cmip, "member")) == ("experiment_id",
                                                                                          "variant_label")
    # CF's standard name for an ensemble member, whatever the dim is called
    cf = ds.rename(member="r").assign_coords(r=("r", [0, 1, 2], {"standard_name": "realization"}))
    assert find_ensemble_dim(cf, "member") == "r"
    assert find_ensemble_dim(cf.rename(scenario="forcing"), "scenario", given="forcing") == "forcing"
    with pytest.raises(CoordinateError, match=r"scenario_dim: 'pathway' is not a dim of ds; its dims are \("):
        find_ensemble_dim(ds, "scenario", given="pathway")
    with pytest.raises(CoordinateError, match="member_dim: ds has more than one member dim .member, run.; name the "
                                              "one to use with member_dim="):
        find_ensemble_dim(ds.expand_dims(run=[0]), "member")
    with pytest.raises(CoordinateError, match="--scenario-dim: no scenario dim found in ds; looked for the names "
                                              "experiment_id/"):
        find_ensemble_dim(ds.isel(scenario=0, drop=True), "scenario", argument="--scenario-dim")
    assert find_ensemble_dim(ds.isel(member=0, drop=True), "member", required=False) is None


def test_ensemble_layout_checks_the_targets_dims_and_finds_the_scenarios_with_targets():
    from xemu.data.ensemble import ensemble_layout
    from xemu.errors import DataError

    ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)
    ds["tas"] = ds.tas.where(ds.scenario != "mid")  # forcings only, as ssp245 in the CSE 151B store
    out, layout = ensemble_layout(ds, ["tas", "pr"])
    assert out is ds and layout.scenarios == ["low", "high"] and layout.members == [0, 1, 2]
    assert (layout.scenario, layout.member, layout.time, layout.added_member) == ("scenario", "member", "time", False)
    with pytest.raises(CoordinateError, match=r"targets\['tas'\]: expected the dims \(scenario, member, time, lat, "
                                              r"lon\) in any order; got \(level, .*\): level not expected"):
        ensemble_layout(ds.assign(tas=ds.tas.expand_dims(level=[850, 500])), ["tas"])
    with pytest.raises(DataError, match=r"targets: \['ts'\] not in the data"):
        ensemble_layout(ds, ["ts"])


def test_a_prediction_finds_each_variables_roles_and_checks_its_time_once(monkeypatch):
    """The emulator, its energy-balance baseline and the memory check read the same Dataset;
    within one prediction each variable's roles are found once and the time checked once
    (xemu.data.once.checking_once), outside it every call finds them anew, and an error
    is never remembered."""
    import xemu.data.checks as checks
    import xemu.data.coords as coords
    from xemu.testing import TINY_CONFIG

    ds = xemu.synthetic_climate(n_years=11, n_lat=4, n_lon=6, seed=0)
    em = ds.emu.fit(["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"], epochs=1, windows_per_epoch=4, seed=0,
                    config=TINY_CONFIG, batch_size=4, progress=False, variability=False)
    assert em.baseline.kind == "energy-balance"
    forcing = ds.sel(scenario=["mid"]).drop_vars(["tas", "pr", "tas_forced", "pr_forced"])
    before = em.predict(forcing)
    found, timed = [], []
    real_roles, real_time = coords._roles, checks._check_time
    monkeypatch.setattr(coords, "_roles", lambda da, name: found.append(str(da.name)) or real_roles(da, name))
    monkeypatch.setattr(checks, "_check_time", lambda t, argument: timed.append(argument) or real_time(t, argument))
    xr.testing.assert_equal(em.predict(forcing), before)  # the history line's time stamp aside
    assert sorted(found) == sorted(em.variables_read())  # once each (the baseline reads four of the five)
    assert len(timed) == 1
    found.clear()
    roles(forcing["CO2"])
    roles(forcing["CO2"])
    assert found == ["CO2", "CO2"]
    bad = forcing.assign_coords(time=forcing.time.values[::-1])
    for _ in range(2):  # raised each time, never remembered
        with pytest.raises(xemu.XemuError, match="not increasing"):
            em.predict(bad)
