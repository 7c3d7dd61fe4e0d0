"""Tests of xemu.datasets: the CSE 151B reader (on the real store) and the seeded synthetic climate."""

from __future__ import annotations

import dask
import dask.array
import numpy as np
import pytest
import xarray as xr
from scipy.stats import skew

import xemu
from xemu.data.coords import Roles, roles
from xemu.data.readers import CSE151B_ENV, find_cse151b, open_cse151b
from xemu.data.synthetic import synthetic_climate
from xemu.errors import DataError

TARGETS = ("tas", "pr")
FORCINGS = ("CO2", "CH4", "SO2", "BC")


# --- open_cse151b --------------------------------------------------------------------------


def test_store_dims_and_labels(store):
    assert dict(store.sizes) == {
        "ssp": 4,
        "time": 1021,
        "member_id": 3,
        "y": 48,
        "x": 72,
        "latitude": 48,
        "longitude": 72,
    }
    assert store["ssp"].values.tolist() == ["ssp126", "ssp245", "ssp370", "ssp585"]
    assert store["member_id"].values.tolist() == [0, 1, 2]
    assert store["tas"].dims == ("ssp", "time", "member_id", "y", "x")
    assert store["SO2"].dims == ("ssp", "time", "latitude", "longitude")
    assert store["CO2"].dims == ("ssp", "time")
    assert store["rsdt"].dims == ("ssp", "time", "y", "x")


def test_store_coordinates_carry_cf_attributes(store):
    for name, std, units, axis in [
        ("y", "latitude", "degrees_north", "Y"),
        ("x", "longitude", "degrees_east", "X"),
        ("latitude", "latitude", "degrees_north", "Y"),
        ("longitude", "longitude", "degrees_east", "X"),
    ]:
        attrs = store[name].attrs
        assert (attrs["standard_name"], attrs["units"], attrs["axis"]) == (std, units, axis), name
    assert store["time"].attrs["standard_name"] == "time" and store["time"].attrs["axis"] == "T"
    assert roles(store["tas"]) == Roles("time", "y", "x", ("ssp", "member_id"))
    assert roles(store["SO2"]) == Roles("time", "latitude", "longitude", ("ssp",))
    assert roles(store["CO2"]) == Roles("time", None, None, ("ssp",))


def test_store_time_is_noleap(store):
    assert store["time"].dt.calendar == "noleap"
    first, last = store["time"].values[[0, -1]]
    assert (first.year, first.month, last.year, last.month) == (2015, 1, 2100, 1)
    assert first.calendar == "noleap"
    # a noleap calendar has no 29 February in any year
    assert not ((store["time"].dt.month == 2) & (store["time"].dt.day == 29)).any()


def test_store_units(store):
    assert store["tas"].attrs["units"] == "K"
    assert store["pr"].attrs["units"] == "mm/day"
    assert store["rsdt"].attrs["units"] == "W/m²"
    for name in FORCINGS:
        assert "units" not in store[name].attrs, name
    with pytest.raises(xemu.UnitsError, match="declare_units"):
        xemu.units.check_units(store, list(FORCINGS))
    declared = store.emu.declare_units(CO2="Gt", CH4="Gt yr-1", SO2="kg m-2 s-1", BC="kg m-2 s-1")
    assert xemu.units.check_units(declared, [*TARGETS, *FORCINGS, "rsdt"])["SO2"] == "kg m-2 s-1"


def test_store_is_lazy(store):
    for name in store.data_vars:
        assert isinstance(store[name].data, dask.array.Array), name


def test_store_ssp245_has_no_targets(store):
    for name in TARGETS:
        assert bool(store[name].sel(ssp="ssp245").isnull().all()), name
        sample = store[name].sel(ssp=["ssp126", "ssp370", "ssp585"]).isel(time=[0, 510, 1020])
        assert bool(sample.notnull().all()), name
    # the forcings of ssp245 are there
    assert bool(store["CO2"].sel(ssp="ssp245").notnull().all())


def _no_compute(dsk, keys, **kwargs):
    raise AssertionError("open_cse151b computed dask arrays while opening")


def test_store_opens_without_reading_data(store_path):
    # e.g. no comparison of every variable across the files, which reads ~300 MB on open
    with dask.config.set(scheduler=_no_compute):
        ds = open_cse151b(store_path)
    ds.close()


def test_missing_path_raises(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="no CSE 151B store found.*nowhere"):
        open_cse151b(missing)
    with pytest.raises(DataError, match="holds no .nc files"):
        open_cse151b(tmp_path)
    monkeypatch.setenv(CSE151B_ENV, str(missing))
    assert find_cse151b() is None
    with pytest.raises(DataError, match=f"\\${CSE151B_ENV} is '.*nowhere'"):
        open_cse151b()


def test_environment_variable_points_to_the_store(store_path, monkeypatch):
    monkeypatch.setenv(CSE151B_ENV, str(store_path))
    assert find_cse151b() == store_path.resolve()


# --- synthetic_climate ------------------------------------------------------------------


def small(seed=0, **kw):
    return synthetic_climate(n_years=2, n_lat=6, n_lon=8, seed=seed, **kw)


def test_synthetic_is_deterministic_for_a_seed():
    xr.testing.assert_identical(small(3), small(3))


def test_synthetic_differs_across_seeds_but_not_its_forced_response():
    a, b = small(0), small(1)
    assert not np.allclose(a["tas"].values, b["tas"].values)
    assert not np.allclose(a["pr"].values, b["pr"].values)
    xr.testing.assert_identical(a["tas_forced"], b["tas_forced"])
    xr.testing.assert_identical(a["CO2"], b["CO2"])
    assert a.attrs["xemu_seed"] == 0 and b.attrs["xemu_seed"] == 1


def test_synthetic_layout_and_units(synthetic):
    assert synthetic["tas"].dims == ("scenario", "member", "time", "lat", "lon")
    assert synthetic["rsdt"].dims == ("time", "lat", "lon")  # no scenario dim
    assert synthetic["CO2"].dims == ("scenario", "time")
    assert dict(synthetic.sizes) == {"scenario": 3, "member": 3, "time": 36, "lat": 8, "lon": 12}
    assert synthetic["time"].dt.calendar == "noleap"
    units = {v: synthetic[v].attrs["units"] for v in ("tas", "pr", "CO2", "CH4", "SO2", "BC", "rsdt")}
    assert units == {
        "tas": "K",
        "pr": "mm/day",
        "CO2": "Gt",
        "CH4": "Gt yr-1",
        "SO2": "kg m-2 s-1",
        "BC": "kg m-2 s-1",
        "rsdt": "W m-2",
    }
    assert synthetic_climate(n_years=1, n_lat=4, n_lon=4, calendar="360_day")["time"].dt.calendar == "360_day"


def _seasonal_anomaly(da: xr.DataArray) -> np.ndarray:
    clim = da.groupby("time.month").mean()
    return (clim - clim.mean("month")).values


def test_synthetic_seasons_are_opposite_in_the_hemispheres(synthetic):
    for name in ("tas_forced", "tas"):
        field = synthetic[name]
        if "member" in field.dims:
            field = field.mean("member")
        field = field.mean(["scenario", "lon"])
        south = _seasonal_anomaly(field.isel(lat=0))
        north = _seasonal_anomaly(field.isel(lat=-1))
        assert np.corrcoef(south, north)[0, 1] < -0.9, name
        # warm in the local summer: July in the north, January in the south
        assert north.argmax() in (5, 6, 7) and south.argmax() in (11, 0, 1), name


def test_synthetic_precipitation_is_positive_and_right_skewed(synthetic):
    pr = synthetic["pr"].values
    assert (pr > 0).all()
    assert skew(pr.ravel()) > 0
    # right-skewed cell by cell too (a log-normal), not only through mixing regions
    per_cell = skew(
        synthetic["pr"].stack(s=("scenario", "member", "time")).transpose("s", ...).values, axis=0
    )
    assert np.mean(per_cell > 0) > 0.9
