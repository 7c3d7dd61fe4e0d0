"""Tests of xemu.encoding: hemisphere-aware seasonal channels on any calendar."""

from __future__ import annotations

import datetime

import cftime
import numpy as np
import pytest
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import xemu
from xemu.data.encoding import ENCODINGS, encode_season, month_of
from xemu.errors import ConfigError, CoordinateError

CALENDARS = ["noleap", "360_day", "gregorian", "standard", "all_leap", "julian", "proleptic_gregorian"]
LAT = np.array([-75.0, -40.0, -10.0, 0.0, 10.0, 40.0, 75.0])


def grid(calendar="noleap", n_time=24, lat=LAT, start="2001-01-01") -> xr.DataArray:
    time = xr.date_range(start, periods=n_time, freq="MS", calendar=calendar, use_cftime=True)
    lon = np.array([0.0, 90.0, 180.0, 270.0])
    return xr.DataArray(
        np.zeros((n_time, lat.size, lon.size), np.float32),
        dims=("time", "lat", "lon"),
        coords={"time": time, "lat": lat, "lon": lon},
        name="tas",
    )


@pytest.mark.parametrize("kind", ["sincos", "study"])
def test_southern_january_encodes_like_northern_july(kind):
    enc = encode_season(grid(), kind)
    for name in ENCODINGS[kind]:
        v = enc[name]
        for lat in (10.0, 40.0, 75.0):
            jan_south = v.isel(time=0).sel(lat=-lat)
            jul_north = v.isel(time=6).sel(lat=lat)
            np.testing.assert_allclose(jan_south, jul_north, atol=1e-6)
            # and every month of the south is the north's half a year later
            np.testing.assert_allclose(v.sel(lat=-lat)[:18].values, v.sel(lat=lat)[6:].values, atol=1e-6)
    # the shift matters: same month, mirrored latitude, opposite sign (nonzero for cos)
    first = ENCODINGS[kind][-1]
    np.testing.assert_allclose(enc[first].isel(time=0).sel(lat=-40.0), -enc[first].isel(time=0).sel(lat=40.0))
    assert abs(float(enc[first].isel(time=0, lon=0).sel(lat=40.0))) > 0.5


@pytest.mark.parametrize("kind", ["sincos", "study"])
def test_equator_is_zero(kind):
    enc = encode_season(grid(), kind)
    for name in enc.data_vars:
        assert (enc[name].sel(lat=0.0) == 0).all()


def test_study_formula_values():
    lat = np.array([-89.0, -60.0, -23.5, 0.0, 5.0, 45.0, 88.0])
    g = grid(lat=lat, n_time=12)
    enc = encode_season(g, "study")["season_study"]
    month = np.arange(1, 13)
    expected = (
        np.sign(lat)[None, :]
        * np.cos(np.deg2rad(lat))[None, :]
        * np.cos(2 * np.pi * (month - 1) / 12)[:, None]
    )
    np.testing.assert_allclose(enc.isel(lon=2).values, expected, rtol=1e-6, atol=1e-7)
    # spot values: 60S in April (month 4): -1 * 0.5 * cos(pi/2) = 0; 45N in January: cos(45 deg)
    assert float(enc.isel(time=3, lon=0).sel(lat=-60.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(enc.isel(time=0, lon=0).sel(lat=45.0)) == pytest.approx(np.sqrt(0.5), rel=1e-6)
    assert float(enc.isel(time=6, lon=0).sel(lat=-23.5)) == pytest.approx(np.cos(np.deg2rad(23.5)), rel=1e-6)


def test_sincos_formula_values():
    g = grid(n_time=12)
    enc = encode_season(g, "sincos")
    phase = 2 * np.pi * np.arange(12) / 12
    sign = np.sign(LAT)[None, :]
    np.testing.assert_allclose(enc["season_sin"].isel(lon=1).values, np.sin(phase)[:, None] * sign, atol=1e-7)
    np.testing.assert_allclose(enc["season_cos"].isel(lon=1).values, np.cos(phase)[:, None] * sign, atol=1e-7)


@pytest.mark.parametrize("kind", ["sincos", "study"])
def test_output_dims_attrs_names(kind):
    g = grid()
    enc = encode_season(g, kind)
    assert isinstance(enc, xr.Dataset)
    assert list(enc.data_vars) == list(ENCODINGS[kind])
    assert enc.attrs["xemu_encoding"] == kind
    for name, da in enc.data_vars.items():
        assert da.name == name
        assert da.dims == ("time", "lat", "lon")
        assert da.dtype == np.float32
        assert set(da.attrs) >= {"long_name", "formula", "units"}
        assert da.attrs["units"] == "1"
        assert kind in da.attrs["long_name"]
        np.testing.assert_array_equal(da["lat"].values, g["lat"].values)
        np.testing.assert_array_equal(da["lon"].values, g["lon"].values)
        assert (da["time"].values == g["time"].values).all()
        # broadcast over longitude: every column equal
        assert (da == da.isel(lon=0)).all()
    assert "sign(lat)" in enc[ENCODINGS[kind][0]].attrs["formula"]


def test_none_and_unknown_kind():
    assert len(encode_season(grid(), "none").data_vars) == 0
    with pytest.raises(ConfigError, match="kind"):
        encode_season(grid(), "fourier")


def test_dataset_and_dataarray_agree_and_time_override(synthetic):
    xr.testing.assert_identical(encode_season(synthetic), encode_season(synthetic["tas"]))
    # the time argument replaces the object's own time (here: another calendar, from July)
    other = xr.DataArray(
        xr.date_range("1990-07-01", periods=6, freq="MS", calendar="360_day", use_cftime=True), dims="t"
    )
    enc = encode_season(synthetic, time=other)
    assert enc["season_cos"].dims == ("t", "lat", "lon")
    north = enc["season_cos"].isel(lon=0, lat=-1).values
    np.testing.assert_allclose(north, np.cos(2 * np.pi * np.arange(6, 12) / 12), atol=1e-6)


def test_encoding_on_the_real_grid(ssp370, store):
    tas = ssp370["tas"].isel(ssp=0, member_id=0, time=slice(0, 12))
    enc = encode_season(tas, "sincos")
    assert enc["season_cos"].dims == ("time", "y", "x")
    # January (month 1) at the southernmost row: -cos(0) = -1; at the northernmost: +1
    assert float(enc["season_cos"].isel(time=0, y=0, x=0)) == -1.0
    assert float(enc["season_cos"].isel(time=0, y=-1, x=0)) == 1.0
    # the annotated store holds two grids (inputs on latitude/longitude, targets on y/x)
    with pytest.raises(CoordinateError, match=r"more than one latitude.*ds\['tas'\]\.emu\.encode_season"):
        store.emu.encode_season()
    assert store["tas"].emu.encode_season()["season_cos"].dims == ("time", "y", "x")


def test_month_of_rejects_non_dates():
    with pytest.raises(CoordinateError, match="datetime64 or cftime"):
        month_of(xr.DataArray(np.arange(5.0), dims="time"))


# --- calendars ----------------------------------------------------------------------------


@st.composite
def cftime_dates(draw):
    calendar = draw(st.sampled_from(CALENDARS))
    n = draw(st.integers(1, 8))
    dates = []
    for _ in range(n):
        year = draw(st.integers(1, 2999))
        month = draw(st.integers(1, 12))
        last = 30 if calendar == "360_day" else 28
        day = draw(st.integers(1, last))
        # the Julian-to-Gregorian switch skips 1582-10-05 .. 1582-10-14
        assume(not (calendar in ("gregorian", "standard") and (year, month) == (1582, 10)))
        dates.append((year, month, day))
    return calendar, dates


@settings(max_examples=60, deadline=None)
@given(cftime_dates())
def test_month_of_cftime(case):
    calendar, dates = case
    values = [cftime.datetime(y, m, d, calendar=calendar) for y, m, d in dates]
    time = xr.DataArray(np.array(values, dtype=object), dims="time")
    months = month_of(time)
    assert months.values.tolist() == [m for _, m, _ in dates]
    assert months.dtype == np.int64


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dates(datetime.date(1700, 1, 1), datetime.date(2200, 12, 31)), min_size=1, max_size=8))
def test_month_of_numpy_datetimes(dates):
    values = np.array([np.datetime64(d.isoformat()) for d in dates], dtype="datetime64[ns]")
    months = month_of(xr.DataArray(values, dims="time"))
    assert months.values.tolist() == [d.month for d in dates]


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(CALENDARS), st.integers(1, 12), st.sampled_from(["sincos", "study"]))
def test_encoding_is_the_same_on_every_calendar(calendar, start_month, kind):
    start = f"2001-{start_month:02d}-01"
    ref = grid(n_time=12, start=start)
    ref = ref.assign_coords(time=xr.date_range(start, periods=12, freq="MS"))  # numpy datetime64
    other = grid(calendar, n_time=12, start=start)
    a, b = encode_season(ref, kind), encode_season(other, kind)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_top_level_name():
    assert xemu.encode_season is encode_season
