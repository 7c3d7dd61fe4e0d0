"""An emulator saved before xemu moved into sub-packages (commit 03d2d6c) loads and predicts
bit for bit what it predicted then: forced, calibrated and two samples.

The fixture is ``tests/data/saved-before-redesign`` (a 2,209-parameter CNN-GRU on a 4 x 8
synthetic grid, parametric residual model; ``make_fixture.py`` there says how it was made).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

import xemu

FIXTURE = Path(__file__).parent / "data" / "saved-before-redesign"


@pytest.fixture(scope="module")
def loaded():
    return xemu.load(FIXTURE / "tiny.xemu")


@pytest.fixture(scope="module")
def new():
    return xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=8, seed=0).sel(scenario=["mid"])


@pytest.mark.parametrize(("name", "kwargs"), [("forced", {}), ("calibrated", {"variability": "calibrated"}),
                                              ("samples", {"samples": 2, "seed": 0})])
def test_saved_before_the_move_predicts_bit_for_bit(loaded, new, name, kwargs):
    with xr.open_dataset(FIXTURE / f"tiny-{name}.nc") as saved:
        saved = saved.load()
    pred = new.emu.predict(loaded, **kwargs)
    # the provenance note starts with the time of the prediction; the rest is the same text
    when, note = pred.attrs.pop("history").split(": ", 1)
    assert note == saved.attrs.pop("history").split(": ", 1)[1] and when.endswith("Z")
    xr.testing.assert_identical(pred, saved)
    for v in saved.data_vars:
        assert (pred[v].values == saved[v].values).all(), v


def test_saved_before_the_move_keeps_its_record(loaded):
    assert loaded.n_parameters == 2209
    assert loaded.inputs == ["CO2", "CH4", "SO2", "BC", "rsdt"] and loaded.targets == ["tas", "pr"]
    assert loaded.variability.method == "parametric"
