"""Writing predictions: compressed netCDF by default, Zarr as an extra (xemu.io)."""

import sys

import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.errors import ConfigError, DataError, PathError
from xemu.io import NETCDF_COMPRESSION, write_netcdf, write_zarr

FORCINGS = ["CO2", "CH4", "SO2", "BC"]


@pytest.fixture(scope="module")
def prediction():
    """A linear baseline's prediction on a synthetic climate: smooth maps, float32, as users write them."""
    ds = xemu.synthetic_climate(n_years=6, n_lat=24, n_lon=36, seed=1)
    bl = ds.emu.fit(FORCINGS, ["tas", "pr"], model="linear")
    return bl.predict(ds.drop_vars(["tas", "pr", "tas_forced", "pr_forced"]))


def test_netcdf_is_compressed_by_default_and_lossless(prediction, tmp_path):
    small = write_netcdf(prediction, tmp_path / "compressed.nc")
    plain = write_netcdf(prediction, tmp_path / "plain.nc", compress=False)
    ratio = small.stat().st_size / plain.stat().st_size
    assert ratio < 0.7, f"compressed / uncompressed = {ratio:.3f}"
    with xr.open_dataset(small) as back:
        for name in ("tas", "pr"):
            enc = back[name].encoding
            assert (enc["zlib"], enc["complevel"], enc["shuffle"]) == (True, 4, True)
            assert back[name].dtype == prediction[name].dtype
            np.testing.assert_array_equal(back[name].values, prediction[name].values)  # exactly
        xr.testing.assert_identical(back.load(), prediction)
    with xr.open_dataset(plain) as back:
        assert not back.tas.encoding["zlib"]
    assert not prediction.tas.encoding  # the caller's Dataset is left as it was


def test_netcdf_caller_encoding_wins_for_its_variables(prediction, tmp_path):
    path = write_netcdf(prediction, tmp_path / "p.nc", encoding={"tas": {"dtype": "float64"}})
    with xr.open_dataset(path) as back:
        assert back.tas.encoding["dtype"] == np.float64 and not back.tas.encoding["zlib"]
        assert back.pr.encoding["zlib"] and back.pr.encoding["complevel"] == NETCDF_COMPRESSION["complevel"]


def test_netcdf_bad_arguments_name_themselves(prediction, tmp_path):
    with pytest.raises(ConfigError, match=r"encoding: variables tos are not in the Dataset; it has "):
        write_netcdf(prediction, tmp_path / "p.nc", encoding={"tos": {"zlib": True}})
    with pytest.raises(ConfigError, match="encoding: expected a dict"):
        write_netcdf(prediction, tmp_path / "p.nc", encoding=[("tas", {})])
    with pytest.raises(DataError, match=r"ds: write_netcdf expected an xarray.Dataset; got .*DataArray"):
        write_netcdf(prediction.tas, tmp_path / "p.nc")
    assert not list(tmp_path.iterdir())


def test_netcdf_keeps_packing_and_replaces_other_compression(tmp_path):
    ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)[["tas"]]
    ds.tas.encoding = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 273.15, "_FillValue": -32768,
                       "contiguous": True, "complevel": 9, "zlib": False}
    path = write_netcdf(ds, tmp_path / "packed.nc")
    with xr.open_dataset(path) as back:
        enc = back.tas.encoding
        assert enc["dtype"] == np.int16 and enc["scale_factor"] == pytest.approx(0.01)
        assert (enc["zlib"], enc["complevel"], enc["shuffle"]) == (True, 4, True)
        np.testing.assert_allclose(back.tas.values, ds.tas.values, atol=0.005 + 1e-6)


def test_netcdf_replaces_only_with_overwrite(prediction, tmp_path):
    path = write_netcdf(prediction, tmp_path / "p.nc")
    with pytest.raises(PathError, match="exists; xemu replaces nothing unless asked"):
        write_netcdf(prediction, path)
    write_netcdf(prediction.isel(time=slice(0, 12)), path, overwrite=True)
    with xr.open_dataset(path) as back:
        assert back.sizes["time"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.nc"]  # no temporary file left


def test_zarr_without_zarr_names_the_extra(prediction, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)  # as if zarr were not installed
    with pytest.raises(ImportError, match=r'pip install "xemu\[zarr\]"'):
        write_zarr(prediction, tmp_path / "p.zarr")
    assert not list(tmp_path.iterdir())


def test_zarr_round_trip_and_replacement(prediction, tmp_path):
    pytest.importorskip("zarr", reason="zarr is an optional extra (pip install 'xemu[zarr]')")
    path = write_zarr(prediction, tmp_path / "p.zarr")
    with xr.open_zarr(path) as back:
        xr.testing.assert_identical(back.load(), prediction)
    with pytest.raises(PathError, match="holds a Zarr store; pass overwrite=True"):
        write_zarr(prediction, path)
    write_zarr(prediction.isel(time=slice(0, 12)), path, overwrite=True)
    with xr.open_zarr(path) as back:
        assert back.sizes["time"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zarr"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(PathError, match="not a Zarr store"):
        write_zarr(prediction, mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "mine"
