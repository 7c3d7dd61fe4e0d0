"""Predictions fit to publish: only attributes that stay true, CF global attributes, clean for cf-xarray."""

import warnings

import numpy as np
import xarray as xr

import xemu
from xemu.cli import main
from xemu.data.labels import CONVENTIONS, KEPT_ATTRS, KEPT_COORD_ATTRS
from xemu.testing import TINY_CONFIG as TINY

#: What the CSE 151B store's tas carries and a prediction must not: CMOR bookkeeping about the
#: source model output, and references to variables a prediction does not have.
FALSE_ATTRS = {"frequency": "day", "mipTable": "day", "comment": "TREFHT", "cell_measures": "area: areacella",
               "bounds": "tas_bnds", "coordinates": "lat lon", "description": "near-surface air temperature",
               "original_units": "kg/m2/s", "valid_max": 400.0}


def _with_false_attrs(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds["tas"].attrs = {**ds["tas"].attrs, **FALSE_ATTRS, "cell_methods": "area: time: mean"}
    ds["lat"].attrs = {**ds["lat"].attrs, "bounds": "lat_bnds", "title": "Latitude"}
    ds.attrs = {**ds.attrs, "history": "2024-01-01: made by a climate model", "source": "a climate model"}
    return ds


def _reopen_cleanly(path) -> xr.Dataset:
    """Open ``path`` and use it through cf-xarray with every warning an error; return it loaded."""
    import cf_xarray  # noqa: F401 - registers .cf

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with xr.open_dataset(path) as ds:
            repr(ds.cf)
            assert ds.cf["air_temperature"].name == "tas"
            assert ds.cf["latitude"].dims == (ds.cf["latitude"].name,)
            ds.cf["time"]
            assert ds.cf.bounds == {} and ds.cf.cell_measures == {}
            return ds.load()


def _check_published(pred: xr.Dataset, source_ds: xr.Dataset, kind: str) -> None:
    for name in ("tas", "pr"):
        attrs = pred[name].attrs
        assert set(attrs) <= set(KEPT_ATTRS), sorted(set(attrs) - set(KEPT_ATTRS))
        for key in ("standard_name", "long_name", "units"):
            assert attrs[key] == source_ds[name].attrs[key]
    assert pred.tas.attrs["cell_methods"] == "area: time: mean"
    assert not set(FALSE_ATTRS) & set(pred.tas.attrs)
    for c in pred.coords:
        assert set(pred[c].attrs) <= set(KEPT_COORD_ATTRS)
    assert pred.lat.attrs == {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}
    assert pred.time.attrs["standard_name"] == "time"
    assert pred.attrs["Conventions"] == CONVENTIONS
    assert pred.attrs["source"].startswith(f"xemu {xemu.__version__} ") and kind in pred.attrs["source"]
    assert pred.attrs["title"] == "xemu prediction of tas and pr"
    first, last = pred.attrs["history"].splitlines()
    assert first == "2024-01-01: made by a climate model"  # the input's history comes first
    stamp, _, what = last.partition(": ")
    assert len(stamp) == 20 and stamp.endswith("Z") and what.startswith("predicted tas, pr with xemu")


def test_cli_prediction_has_only_true_attributes(tmp_path):
    data = tmp_path / "climate.nc"
    ds = _with_false_attrs(xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6))
    ds.to_netcdf(data)
    model, out = tmp_path / "linear.nc", tmp_path / "pred.nc"
    assert main(["fit", "--data", str(data), "--model", "linear", "--inputs", "CO2", "CH4",
                 "--targets", "tas", "pr", "--out", str(model)]) == 0
    assert main(["predict", str(model), "--data", str(data), "--out", str(out)]) == 0
    pred = _reopen_cleanly(out)
    _check_published(pred, ds, "linear baseline")
    assert "linear baseline fitted on scenario=" in pred.attrs["history"]


def test_cnn_gru_prediction_has_only_true_attributes(tmp_path):
    ds = _with_false_attrs(xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12))
    em = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], epochs=1, windows_per_epoch=8, batch_size=8,
                    progress=False, config=TINY)
    pred = em.predict(ds.drop_vars(["tas", "pr"]))
    _check_published(pred, ds, "cnn-gru emulator (baseline energy-balance)")
    xemu.io.write_netcdf(pred, tmp_path / "pred.nc")
    _reopen_cleanly(tmp_path / "pred.nc")


def test_real_store_prediction_is_clean_for_cf_xarray(ssp370, tmp_path):
    """A small netCDF cut from a real file, as a user would: its y/x name bounds that are not
    there, and its tas carries CMOR attributes; ``xemu predict`` writes neither.

    The cut comes from the session's open handle on ssp370.nc (``ssp370`` fixture): opening the
    same HDF5 file again and again in one process is what crashes netCDF4 under dask's threads."""
    small = ssp370.isel(time=slice(0, 24), member_id=[0]).load()
    assert {"frequency", "mipTable", "cell_measures"} <= set(small.tas.attrs) and "bounds" in small.y.attrs
    data = tmp_path / "small.nc"
    small.to_netcdf(data)
    model, out = tmp_path / "linear.nc", tmp_path / "pred.nc"
    assert main(["fit", "--data", str(data), "--model", "linear", "--inputs", "CO2", "CH4", "--targets", "tas",
                 "pr", "--out", str(model), "--quiet"]) == 0
    assert main(["predict", str(model), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    pred = _reopen_cleanly(out)
    assert pred.tas.attrs == {k: small.tas.attrs[k] for k in KEPT_ATTRS if k in small.tas.attrs}
    assert "bounds" not in pred.y.attrs and pred.y.attrs["standard_name"] == "latitude"
    assert pred.attrs["history"].startswith(small.attrs["history"] + "\n")
    assert pred.attrs["Conventions"] == CONVENTIONS and pred.attrs["source"].endswith("linear baseline")
    assert pred.time.encoding["calendar"] == "noleap"
    assert pred.time.attrs == {"standard_name": "time", "axis": "T"}  # the file's time has no attributes
    assert np.isfinite(pred.tas.values).all()
