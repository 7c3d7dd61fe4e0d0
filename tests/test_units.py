"""Tests of xemu.units: canonical units, conversions recorded in attrs, declared units."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from xemu.data.units import (
    check_units,
    convert_units,
    declare_units,
    parse_units,
    to_canonical,
    units_of,
)
from xemu.errors import UnitsError


def series(values, units=None, name="x", dtype=np.float64) -> xr.DataArray:
    attrs = {} if units is None else {"units": units}
    return xr.DataArray(np.asarray(values, dtype), dims="time", attrs=attrs, name=name)


@pytest.fixture
def forcings() -> xr.Dataset:
    return xr.Dataset(
        {
            "tas": series([280.0, 290.0], "K", "tas"),
            "pr": series([1e-5, 2e-5], "kg m-2 s-1", "pr"),
            "SO2": series([1.0, 2.0], None, "SO2"),
            "BC": series([3.0, 4.0], None, "BC"),
            "CO2": series([1.0, 2.0], "", "CO2"),  # empty counts as missing
        }
    )


# --- conversion -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pr_mass_flux_to_mm_per_day(dtype):
    pr = series([1e-5, 2.5e-5, 0.0], "kg m-2 s-1", "pr", dtype)
    out = to_canonical(pr)
    np.testing.assert_allclose(out.values, pr.values.astype(float) * 86400, rtol=1e-6)
    assert out.dtype == dtype
    assert out.name == "pr"
    assert out.attrs["units"] == "mm/day"
    note = out.attrs["xemu_units_converted"]
    assert "'kg m-2 s-1'" in note and "'mm/day'" in note and "86400" in note and "density" in note
    assert pr.attrs == {"units": "kg m-2 s-1"}  # the input is untouched
    assert out.values[2] == 0.0  # zero stays zero


def test_pr_mm_per_day_back_to_mass_flux():
    pr = series([0.864, 8.64, 0.0], "mm/day", "pr", np.float64)
    out = convert_units(pr, "kg m-2 s-1")
    np.testing.assert_allclose(out.values, [1e-5, 1e-4, 0.0], rtol=1e-12)
    assert out.attrs["units"] == "kg m-2 s-1"
    assert "density" in out.attrs["xemu_units_converted"]
    back = convert_units(out, "mm/day")
    np.testing.assert_allclose(back.values, pr.values, rtol=1e-12)


def test_same_dimension_conversion_has_no_density_note():
    out = convert_units(series([1.0], "mm s-1"), "mm/day")
    assert float(out[0]) == pytest.approx(86400.0)
    assert "density" not in out.attrs["xemu_units_converted"]


def test_degc_to_kelvin():
    tas = series([0.0, 25.0, -40.0], "degC", "tas")
    out = to_canonical(tas)
    np.testing.assert_allclose(out.values, [273.15, 298.15, 233.15], rtol=1e-12)
    assert out.attrs["units"] == "K"
    assert "273.15" in out.attrs["xemu_units_converted"]


def test_equal_units_are_returned_unchanged():
    tas = series([280.0], "K", "tas")
    assert to_canonical(tas) is tas
    other = series([1.0], "K", "rsdt_like")
    assert to_canonical(other) is other  # no canonical unit for unknown names


def test_canonical_by_standard_name():
    da = series([1e-5], "kg m-2 s-1", "precip")
    da.attrs["standard_name"] = "precipitation_flux"
    assert to_canonical(da).attrs["units"] == "mm/day"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=10))
def test_temperature_round_trip(values):
    k = series(values, "degC", "tas")
    back = convert_units(convert_units(k, "K"), "degC")
    np.testing.assert_allclose(back.values, k.values, atol=1e-9)


# --- errors -----------------------------------------------------------------------------


def test_incompatible_units_raise_naming_the_variable(forcings):
    bad = forcings.assign(tas=series([1.0, 2.0], "m", "tas"))
    with pytest.raises(UnitsError, match=r"targets\['tas'\].*'m'.*incompatible with 'K'"):
        check_units(bad, ["tas"], argument="targets")
    with pytest.raises(UnitsError, match="tas: units 'm'.*cannot be converted"):
        to_canonical(bad["tas"])
    # an amount (kg m-2) is not a rate
    amount = forcings.assign(pr=series([1.0, 2.0], "kg m-2", "pr"))
    with pytest.raises(UnitsError, match=r"\['pr'\]"):
        check_units(amount, ["pr"])


def test_missing_units_raise_listing_them_and_suggest_declare(forcings):
    with pytest.raises(UnitsError) as err:
        check_units(forcings, ["tas", "SO2", "BC", "CO2"], argument="inputs")
    msg = str(err.value)
    assert msg.startswith("inputs:")
    assert "['SO2', 'BC', 'CO2']" in msg
    assert 'declare_units(SO2="...", BC="...", CO2="...")' in msg
    with pytest.raises(UnitsError, match="no 'units' attribute"):
        convert_units(forcings["SO2"], "kg m-2 s-1")


def test_check_units_returns_units_and_rejects_bad_strings(forcings):
    assert check_units(forcings, ["tas", "pr"]) == {"tas": "K", "pr": "kg m-2 s-1"}
    bad = forcings.assign(SO2=series([1.0, 2.0], "not a unit", "SO2"))
    with pytest.raises(UnitsError, match="cannot parse units 'not a unit'"):
        check_units(bad, ["SO2"])
    with pytest.raises(UnitsError, match="no variables \\['nope'\\]"):
        check_units(forcings, ["nope"])


def test_parse_units():
    assert str(parse_units("kg m-2 s-1")) == "kilogram / meter ** 2 / second"
    assert parse_units("W/m²") == parse_units("W m-2")
    for bad in ["", "   ", None, "not a unit"]:
        with pytest.raises(UnitsError):
            parse_units(bad)


def test_units_of():
    assert units_of(series([1.0], "K")) == "K"
    assert units_of(series([1.0], "")) is None
    assert units_of(series([1.0])) is None


# --- declaring ---------------------------------------------------------------------------


def test_declare_units_sets_units_on_a_copy(forcings):
    out = declare_units(forcings, SO2="kg m-2 s-1", BC="kg m-2 s-1")
    assert out["SO2"].attrs["units"] == "kg m-2 s-1"
    assert out["BC"].attrs["units"] == "kg m-2 s-1"
    assert out["SO2"].attrs["xemu_units_declared"] == "declared by the user"
    assert "units" not in forcings["SO2"].attrs  # the input Dataset is not modified
    check_units(out, ["SO2", "BC"])
    # mapping and keywords together
    both = declare_units(forcings, {"SO2": "kg m-2 s-1"}, CO2="Gt")
    assert (both["SO2"].attrs["units"], both["CO2"].attrs["units"]) == ("kg m-2 s-1", "Gt")
    np.testing.assert_array_equal(out["SO2"].values, forcings["SO2"].values)


def test_declare_same_units_is_a_no_op_note(forcings):
    out = declare_units(forcings, tas="K")
    assert out["tas"].attrs == forcings["tas"].attrs


def test_declare_refuses_to_overwrite_different_units(forcings):
    with pytest.raises(UnitsError, match="'tas' already has units 'K', not 'degC'.*override=True"):
        declare_units(forcings, tas="degC")
    out = declare_units(forcings, tas="degC", override=True)
    assert out["tas"].attrs["units"] == "degC"
    assert "'K'" in out["tas"].attrs["xemu_units_declared"]
    np.testing.assert_array_equal(out["tas"].values, forcings["tas"].values)  # declaring is not converting


def test_declare_rejects_unknown_variables_and_bad_units(forcings):
    with pytest.raises(UnitsError, match="no variable 'nope'.*'SO2'"):
        declare_units(forcings, nope="K")
    with pytest.raises(UnitsError, match=r"declare_units\(SO2=...\): cannot parse units"):
        declare_units(forcings, SO2="not a unit")
    with pytest.raises(UnitsError, match="expected a unit string"):
        declare_units(forcings, SO2="")


def test_a_prediction_in_the_emulators_own_units_builds_no_unit_registry(tmp_path):
    """Inputs whose units are exactly the emulator's are not parsed again (the pint registry
    costs about half a second in a fresh process); other units are still converted."""
    import subprocess
    import sys

    import xemu
    from xemu.testing import TINY_CONFIG

    ds = xemu.synthetic_climate(n_years=11, n_lat=4, n_lon=6, seed=0)
    em = ds.emu.fit(["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"], epochs=1, windows_per_epoch=4, seed=0,
                    config=TINY_CONFIG, batch_size=4, progress=False, variability=False)
    em.save(tmp_path / "em.xemu")
    forcing = ds.sel(scenario=["mid"]).drop_vars(["tas", "pr", "tas_forced", "pr_forced"])
    forcing.to_netcdf(tmp_path / "same.nc")
    mt = forcing.assign(CO2=forcing.CO2 * 1000)
    mt["CO2"].attrs = {**forcing.CO2.attrs, "units": "Mt"}
    mt.to_netcdf(tmp_path / "mt.nc")
    code = ("import sys, warnings; warnings.simplefilter('ignore'); import xarray as xr, xemu; "
            "em = xemu.load(sys.argv[1]); em.predict(xr.open_dataset(sys.argv[2])).to_netcdf(sys.argv[3]); "
            "print('cf_xarray.units' in sys.modules)")
    built = {}
    for name in ("same", "mt"):
        run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "em.xemu"), str(tmp_path / f"{name}.nc"),
                              str(tmp_path / f"pred-{name}.nc")], capture_output=True, text=True, check=True)
        built[name] = run.stdout.strip().splitlines()[-1]
    assert built == {"same": "False", "mt": "True"}
    with xr.open_dataset(tmp_path / "pred-same.nc") as a, xr.open_dataset(tmp_path / "pred-mt.nc") as b:
        xr.testing.assert_allclose(a.tas, b.tas, rtol=1e-5)
        np.testing.assert_array_equal(a.tas.values, em.predict(forcing).tas.values)
