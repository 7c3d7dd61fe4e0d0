"""Tests of xemu.prepare: variable checks, NaN reports, units, grids, broadcasting, holdout masks."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xemu.data.checks import check_variables
from xemu.data.prepare import holdout_mask, prepare
from xemu.errors import ConfigError, DataError, GridError, UnitsError


def with_values(ds: xr.Dataset, name: str, fn) -> xr.Dataset:
    values = ds[name].values.copy()
    fn(values)
    return ds.assign({name: ds[name].copy(data=values)})


# --- NaNs ---------------------------------------------------------------------------------


def test_nan_in_targets_says_how_many_and_where(synthetic):
    def poke(v):  # dims (scenario, member, time, lat, lon)
        v[1, 2, 3, 0, 0] = np.nan
        v[1, 2, 5, 1, 1] = np.inf
        v[0, 0, 0, 0, 0] = np.nan

    ds = with_values(synthetic, "tas", poke)
    with pytest.raises(DataError) as err:
        prepare(ds, ["CO2"], ["tas", "pr"])
    msg = str(err.value)
    assert msg.startswith("targets['tas']: 3 NaN or infinite values of")
    assert "scenario='low', member=0: 1" in msg
    assert "scenario='mid', member=2: 2" in msg
    assert "scenario='high'" not in msg and "member=1" not in msg
    assert "time: 3 of 36 steps, 2015-01-01 .. 2015-06-01" in msg  # months 0, 3 and 5
    assert "fills nothing" in msg


def test_nan_report_with_time_between_sample_dims(synthetic):
    """The store's layout (ssp, time, member_id, y, x): the report must still name the right sample."""
    ds = with_values(synthetic, "tas", lambda v: v.__setitem__((2, 1, 7, 3, 4), np.nan))
    ds = ds.assign(tas=ds["tas"].transpose("scenario", "time", "member", "lat", "lon"))
    with pytest.raises(DataError, match=r"1 NaN or infinite values of \d+ \(scenario='high', member=1: 1; time: 1 of 36 steps, 2015-08-01\)"):
        prepare(ds, ["CO2"], ["tas"])


def test_nan_report_for_a_single_map_series_names_the_months(synthetic):
    from xemu.data.checks import check_no_nan

    tas = synthetic["tas"].isel(scenario=0, member=1).copy(deep=True)  # (time, lat, lon): no sample dims
    tas[4, 0, 0] = np.nan
    tas[10, 2, 2] = np.nan
    with pytest.raises(DataError, match=r"^x: 2 NaN or infinite values of 3456 \(time: 2 of 36 steps, 2015-05-01 \.\. 2015-11-01\)"):
        check_no_nan(tas, argument="x")


def test_nan_in_an_input_is_reported(synthetic):
    ds = with_values(synthetic, "CO2", lambda v: v.__setitem__((1, 5), np.nan))  # a global series
    with pytest.raises(
        DataError, match=r"inputs\['CO2'\]: 1 NaN or infinite values of 108 \(scenario='mid': 1; time: 1 of 36 steps, 2015-06-01\)"
    ):
        prepare(ds, ["CO2", "SO2"], ["tas"])
    with pytest.raises(DataError, match=r"inputs\['CO2'\]: 1 NaN"):
        prepare(ds, ["CO2"], ["tas"], inputs_as="global_means")
    ds = with_values(synthetic, "SO2", lambda v: v.__setitem__((0, 0, 0, 0), np.nan))
    with pytest.raises(DataError, match=r"inputs\['SO2'\]: 1 NaN.*scenario='low': 1"):
        prepare(ds, ["SO2"], ["tas"])


def test_real_store_ssp245_targets_are_reported(store):
    ds = store.isel(time=slice(0, 2)).emu.declare_units(CO2="Gt")
    with pytest.raises(DataError) as err:
        prepare(ds, ["CO2"], ["tas"])
    msg = str(err.value)
    n = 2 * 3 * 48 * 72  # 2 months x 3 members x grid
    assert msg.startswith(f"targets['tas']: {n} NaN or infinite values of {4 * n}")
    for m in range(3):
        assert f"ssp='ssp245', member_id={m}: {2 * 48 * 72}" in msg
    assert "ssp126" not in msg


# --- variables, units, grids --------------------------------------------------------------


def test_unknown_and_duplicate_variables_raise(synthetic):
    with pytest.raises(
        DataError, match=r"inputs: unknown variables \['co2'\]; the Dataset has \['BC', 'CH4'"
    ):
        prepare(synthetic, ["co2"], ["tas"])
    with pytest.raises(DataError, match=r"targets: unknown variables \['ts'\]"):
        prepare(synthetic, ["CO2"], ["ts"])
    with pytest.raises(DataError, match="listed twice"):
        check_variables(synthetic, ["CO2", "CO2"], argument="inputs")
    with pytest.raises(DataError, match="at least one"):
        check_variables(synthetic, [], argument="inputs")
    with pytest.raises(DataError, match=r"\['tas'\] are in both"):
        prepare(synthetic, ["CO2", "tas"], ["tas"])
    assert check_variables(synthetic, "CO2", argument="inputs") == ["CO2"]


def test_a_target_without_units_raises(synthetic):
    ds = synthetic.copy()
    ds["pr"] = ds["pr"].copy()
    ds["pr"].attrs = {k: v for k, v in ds["pr"].attrs.items() if k != "units"}
    with pytest.raises(UnitsError, match=r"targets: variables \['pr'\] have no 'units'.*declare_units\(pr="):
        prepare(ds, ["CO2"], ["tas", "pr"])


def test_an_input_without_units_raises(synthetic):
    ds = synthetic.copy()
    ds["SO2"] = ds["SO2"].copy()
    ds["SO2"].attrs = {}
    with pytest.raises(UnitsError, match=r"inputs: variables \['SO2'\] have no 'units'"):
        prepare(ds, ["CO2", "SO2"], ["tas"])


def test_targets_are_converted_to_canonical_units(synthetic):
    ds = synthetic.copy()
    ds["pr"] = (synthetic["pr"] / 86400).assign_attrs({**synthetic["pr"].attrs, "units": "kg m-2 s-1"})
    p = prepare(ds, ["CO2"], ["tas", "pr"])
    assert p.target_units == {"tas": "K", "pr": "mm/day"}
    np.testing.assert_allclose(
        p.targets[:, :, 1], prepare(synthetic, ["CO2"], ["pr"]).targets[:, :, 0], rtol=1e-5
    )
    assert any("'kg m-2 s-1' to 'mm/day'" in note for note in p.notes)


def test_mismatched_grids_raise(synthetic):
    # a target on another grid
    pr = synthetic["pr"].rename(lat="latitude", lon="longitude")
    ds = synthetic.drop_vars("pr").assign(pr=pr)
    with pytest.raises(GridError, match=r"targets\['pr'\].*all targets share one grid"):
        prepare(ds, ["CO2"], ["tas", "pr"])
    # an input map on another grid of the same shape, too far off to match by position
    far = synthetic["SO2"].rename(lat="la", lon="lo")
    far = far.assign_coords(lo=(far["lo"] + 20.0).assign_attrs(far["lo"].attrs))  # half of 22.5 accepted
    with pytest.raises(
        GridError,
        match=r"inputs\['SO2f'\]: grids of the same shape are 20 degrees apart, more than the 11.25 accepted",
    ):
        prepare(synthetic.assign(SO2f=far), ["SO2f"], ["tas"])
    # an input map with the grid's dim names but other coordinates (prediction on a given grid)
    shifted = (synthetic["lat"] + 1.0, synthetic["lon"])
    with pytest.raises(GridError, match=r"inputs\['SO2'\]: 'lat' has 8 values"):
        prepare(synthetic, ["SO2"], grid=shifted)
    # an input map on a grid of another shape
    coarse = synthetic["SO2"].isel(lat=slice(0, 4)).rename(lat="la", lon="lo")
    ds = synthetic.assign(SO2c=coarse)
    with pytest.raises(
        GridError, match=r"inputs\['SO2c'\]: grid shape \(4, 12\) differs from the target grid \(8, 12\)"
    ):
        prepare(ds, ["SO2c"], ["tas"])
    with pytest.raises(GridError, match="differs from the target grid"):
        prepare(ds, ["SO2c"], ["tas"], grid_alignment="exact")


def test_input_maps_on_an_offset_grid_are_aligned_with_a_warning(synthetic):
    so2 = synthetic["SO2"].rename(lat="latitude", lon="longitude")
    so2 = so2.assign_coords(latitude=so2["latitude"].values + 0.5, longitude=so2["longitude"].values - 0.5)
    ds = synthetic.assign(SO2x=so2)
    with pytest.warns(
        UserWarning, match=r"inputs\['SO2x'\]: aligned to the target grid by position; largest offset 0.500"
    ) as record:
        p = prepare(ds, ["SO2x"], ["tas"])
    assert record[0].filename == __file__  # the warning points at the user's line, not into xemu
    np.testing.assert_array_equal(p.inputs[:, :, 0], synthetic["SO2"].values)
    assert any("SO2x" in note and "by position" in note for note in p.notes)


def test_global_inputs_are_broadcast(synthetic):
    p = prepare(synthetic, ["CO2", "CH4", "SO2"], ["tas"], encoding="none")
    assert p.channels == ["CO2", "CH4", "SO2"]
    assert p.inputs.shape == (3, 36, 3, 8, 12)
    assert p.inputs.dtype == np.float32
    for c, name in enumerate(["CO2", "CH4"]):
        series = synthetic[name].values.astype(np.float32)  # (scenario, time)
        np.testing.assert_array_equal(
            p.inputs[:, :, c], np.broadcast_to(series[:, :, None, None], (3, 36, 8, 12))
        )
    np.testing.assert_array_equal(p.inputs[:, :, 2], synthetic["SO2"].values)
    # rsdt has no scenario dim: broadcast over the scenarios of the other inputs
    p = prepare(synthetic, ["CO2", "rsdt"], ["tas"], encoding="none")
    for s in range(3):
        np.testing.assert_array_equal(p.inputs[s, :, 1], synthetic["rsdt"].values)


@pytest.mark.parametrize(
    "encoding, extra", [("sincos", ["season_sin", "season_cos"]), ("study", ["season_study"]), ("none", [])]
)
def test_encoding_channels(synthetic, encoding, extra):
    p = prepare(synthetic, ["CO2"], ["tas"], encoding=encoding)
    assert p.channels == ["CO2", *extra]
    assert p.inputs.shape[2] == 1 + len(extra)
    with pytest.raises(ConfigError, match="encoding"):
        prepare(synthetic, ["CO2"], ["tas"], encoding="fourier")


def test_global_means(synthetic):
    p = prepare(synthetic, ["CO2", "SO2"], ["tas"], inputs_as="global_means")
    assert p.inputs.shape == (3, 36, 2)
    w = np.cos(np.deg2rad(synthetic["lat"].values))
    so2 = (synthetic["SO2"].values.astype(np.float64) * w[:, None]).sum(axis=(2, 3)) / (w.sum() * 12)
    np.testing.assert_allclose(p.inputs[:, :, 1], so2, rtol=1e-5)
    np.testing.assert_array_equal(p.inputs[:, :, 0], synthetic["CO2"].values)


def test_prepare_without_targets_needs_a_grid(synthetic):
    with pytest.raises(ConfigError, match="grid"):
        prepare(synthetic, ["CO2"])
    p = prepare(synthetic, ["CO2"], grid=(synthetic["lat"], synthetic["lon"]))
    assert p.targets is None and p.inputs.shape[:2] == (3, 36)


# --- holdout_mask ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(synthetic):
    return prepare(synthetic, ["CO2"], ["tas"])


def test_holdout_mask_selects_the_right_months(prepared):
    mask = holdout_mask(prepared, {"scenario": "high", "member": 0, "time": slice("2017-02", None)})
    assert mask.shape == (9, 36)
    labels = prepared.sample_labels(prepared.target_sample_dims)
    row = labels.index({"scenario": "high", "member": 0})
    assert row == 6
    expected = np.zeros((9, 36), bool)
    expected[row, 25:] = True  # 2015-01 is month 0, so 2017-02 is month 25
    np.testing.assert_array_equal(mask, expected)


def test_holdout_mask_lists_and_partial_dates(prepared):
    mask = holdout_mask(prepared, {"member": [1, 2], "time": slice("2015-06", "2015-08")})
    assert mask.sum() == 3 * 2 * 3
    rows = [
        i for i, lab in enumerate(prepared.sample_labels(prepared.target_sample_dims)) if lab["member"] > 0
    ]
    np.testing.assert_array_equal(np.flatnonzero(mask.any(axis=1)), rows)
    np.testing.assert_array_equal(np.flatnonzero(mask.any(axis=0)), [5, 6, 7])
    whole = holdout_mask(prepared, {"scenario": "mid"})
    assert whole.sum() == 3 * 36
    assert not holdout_mask(prepared, None).any()
    assert not holdout_mask(prepared, {}).any()


def test_holdout_mask_errors(prepared):
    with pytest.raises(
        DataError, match=r"holdout: unknown dims \['ssp'\]; expected some of \['scenario', 'member', 'time'\]"
    ):
        holdout_mask(prepared, {"ssp": "ssp370"})
    with pytest.raises(DataError, match="cannot select"):
        holdout_mask(prepared, {"scenario": "nope"})
    with pytest.raises(DataError, match="selects no month"):
        holdout_mask(prepared, {"time": slice("2030-01", None)})
