"""Tests of the ``.emu`` accessor: each method gives what its function gives, and it keeps no state."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import xarray as xr

import xemu
from xemu import coords, encoding, metrics, units
from xemu.accessor import EmuAccessor


@pytest.fixture
def ds(synthetic):
    return synthetic.copy()


def test_accessor_is_registered_on_both_types(ds):
    assert isinstance(ds.emu, EmuAccessor)
    assert isinstance(ds["tas"].emu, EmuAccessor)


def test_roles(ds):
    assert ds["tas"].emu.roles == coords.roles(ds["tas"])
    per_var = ds.emu.roles
    assert set(per_var) == set(ds.data_vars)
    for name, r in per_var.items():
        assert r == coords.roles(ds[name], name=name)
    assert per_var["CO2"].spatial is None and per_var["rsdt"].sample == ()


@pytest.mark.parametrize("kind", ["sincos", "study"])
def test_encode_season(ds, kind):
    xr.testing.assert_identical(ds.emu.encode_season(kind), encoding.encode_season(ds, kind))
    xr.testing.assert_identical(ds["tas"].emu.encode_season(kind), encoding.encode_season(ds["tas"], kind))


def test_check_units(ds):
    assert (
        ds.emu.check_units(["tas", "pr"])
        == units.check_units(ds, ["tas", "pr"])
        == {"tas": "K", "pr": "mm/day"}
    )
    assert ds.emu.check_units() == units.check_units(ds, list(ds.data_vars))
    bare = ds.copy()
    bare["SO2"] = bare["SO2"].copy()
    bare["SO2"].attrs = {}
    with pytest.raises(xemu.UnitsError) as via_accessor:
        bare.emu.check_units()
    with pytest.raises(xemu.UnitsError) as via_function:
        units.check_units(bare, list(bare.data_vars))
    assert str(via_accessor.value) == str(via_function.value)


def test_declare_units(ds):
    bare = ds.copy()
    bare["SO2"] = bare["SO2"].copy()
    bare["SO2"].attrs = {}
    out = bare.emu.declare_units(SO2="kg m-2 s-1")
    xr.testing.assert_identical(out, units.declare_units(bare, SO2="kg m-2 s-1"))
    xr.testing.assert_identical(
        bare.emu.declare_units({"SO2": "g m-2 s-1"}), units.declare_units(bare, {"SO2": "g m-2 s-1"})
    )
    assert "units" not in bare["SO2"].attrs  # a new object, the old one untouched
    with pytest.raises(xemu.UnitsError, match="override=True"):
        ds.emu.declare_units(tas="degC")
    assert ds.emu.declare_units(tas="degC", override=True)["tas"].attrs["units"] == "degC"
    # on a DataArray: the array as a one-variable Dataset
    assert ds["tas"].emu.declare_units(tas="K")["tas"].attrs["units"] == "K"


def test_convert_units_and_align_grid_need_a_dataarray(ds):
    xr.testing.assert_identical(ds["pr"].emu.convert_units("mm/s"), units.convert_units(ds["pr"], "mm/s"))
    with pytest.raises(TypeError, match="DataArray"):
        ds.emu.convert_units("K")
    so2 = ds["SO2"].rename(lat="latitude", lon="longitude")
    so2 = so2.assign_coords(latitude=so2["latitude"].values + 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xr.testing.assert_identical(so2.emu.align_grid(ds), coords.align_grid(so2, ds))
    with pytest.raises(TypeError, match="align_grid"):
        ds.emu.align_grid(ds)


def test_windows(ds):
    w = ds.emu.windows(["CO2", "rsdt"], ["tas"], length=12, stride=3)
    ref = xemu.windows(ds, ["CO2", "rsdt"], ["tas"], length=12, stride=3)
    assert len(w) == len(ref)
    np.testing.assert_array_equal(w.index.sample, ref.index.sample)
    np.testing.assert_array_equal(w.index.start, ref.index.start)
    for a, b in zip(w.tensors([0, 3, len(w) - 1]), ref.tensors([0, 3, len(w) - 1]), strict=True):
        assert torch.equal(a, b)


def test_score(ds):
    truth = ds[["tas", "pr"]]
    pred = truth * 1.001 + 0.1
    xr.testing.assert_identical(pred.emu.score(truth), metrics.score(pred, truth))
    xr.testing.assert_identical(pred.emu.score(truth, dim="member"), metrics.score(pred, truth, dim="member"))
    # on a DataArray: that variable's rows
    xr.testing.assert_identical(pred["tas"].emu.score(truth["tas"]), metrics.score(pred, truth)["tas"])


def test_nrmse_and_noise_floor(ds):
    xr.testing.assert_identical(ds["tas"].emu.nrmse(ds["tas"] + 1), metrics.nrmse(ds["tas"], ds["tas"] + 1))
    one = ds[["tas", "pr"]].isel(scenario=0)
    xr.testing.assert_identical(
        one.emu.noise_floor(member=1, member_dim="member"),
        metrics.noise_floor(one, member=1, member_dim="member"),
    )


def test_the_accessor_keeps_no_state(ds):
    acc = ds.emu
    assert vars(acc) == {"_obj": ds} and acc._obj is ds
    acc.roles, acc.check_units(), acc.encode_season(), acc.declare_units(tas="K")
    acc.score(ds[["tas", "pr"]])
    assert vars(acc) == {"_obj": ds}  # nothing cached on it
    # a new object gets its own accessor, and methods see the new object, not a stored one
    sub = ds.isel(scenario=[0])
    assert sub.emu is not acc and sub.emu._obj is sub
    assert sub.emu.roles["tas"] == coords.roles(sub["tas"], name="tas")
    renamed = ds.rename(lat="latitude")
    assert renamed.emu.roles["tas"].latitude == "latitude"
    # methods return new objects and leave the original as it was
    before = ds.copy(deep=True)
    ds.emu.declare_units(tas="degC", override=True)
    ds.emu.windows(["CO2"], ["tas"], stride=12)
    xr.testing.assert_identical(ds, before)
