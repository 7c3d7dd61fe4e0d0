"""Emulators saved by earlier xemu load and predict bit for bit what they predicted then:
forced, calibrated and two samples.

``tests/data/saved-before-redesign``: saved before xemu moved into sub-packages (commit
03d2d6c; a 2,209-parameter CNN-GRU on a 4 x 8 synthetic grid, linear baseline, parametric
residual model). ``tests/data/saved-before-issue-30``: saved before issue 30 (commit b60dc0b;
today's defaults: energy-balance baseline, block bootstrap). ``make_fixture.py`` in each
says how it was made.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

import xemu

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "saved-before-redesign"
BOOTSTRAP = DATA / "saved-before-issue-30"
BLOCKS = DATA / "saved-before-baseline-variance"
#: What the draws' note named before issue 30, and names now (a module path that exists).
OLD_NOTE, NEW_NOTE = "drawn by xemu.bootstrap.BlockBootstrap", "drawn by xemu.variability.BlockBootstrap"


@pytest.fixture(scope="module")
def loaded():
    return xemu.load(FIXTURE / "tiny.xemu")


@pytest.fixture(scope="module")
def loaded_bootstrap():
    return xemu.load(BOOTSTRAP / "tiny.xemu")


@pytest.fixture(scope="module")
def new():
    return xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=8, seed=0).sel(scenario=["mid"])


@pytest.mark.parametrize(("name", "kwargs"), [("forced", {}), ("calibrated", {"variability": "calibrated"}),
                                              ("samples", {"samples": 2, "seed": 0})])
def test_saved_before_the_move_predicts_bit_for_bit(loaded, new, name, kwargs):
    _predicts_as_saved(loaded, new, FIXTURE / f"tiny-{name}.nc", kwargs)


def _predicts_as_saved(em, new, path, kwargs) -> None:
    """``new.emu.predict(em, **kwargs)`` is the Dataset saved at ``path``: values bit for bit,
    coordinates and attributes (the history line but its time stamp)."""
    with xr.open_dataset(path) as saved:
        saved = saved.load()
    pred = new.emu.predict(em, **kwargs)
    # the provenance note starts with the time of the prediction; the rest is the same text
    when, note = pred.attrs.pop("history").split(": ", 1)
    assert note == saved.attrs.pop("history").split(": ", 1)[1] and when.endswith("Z")
    xr.testing.assert_identical(pred, saved)
    for v in saved.data_vars:
        assert (pred[v].values == saved[v].values).all(), v


@pytest.mark.parametrize(("name", "kwargs"), [("forced", {}), ("calibrated", {"variability": "calibrated"}),
                                              ("samples", {"samples": 2, "seed": 0})])
def test_saved_before_the_baselines_variance_predicts_bit_for_bit(new, name, kwargs):
    """Saved by the last commit before a CNN-GRU on a baseline took its calibrated variance from the
    baseline (``tests/data/saved-before-baseline-variance/make_fixture.py``): it keeps adding the
    internal variance to each block's own, and predicts what it predicted then, bit for bit."""
    em = xemu.load(BLOCKS / "tiny.xemu")
    assert em.variability.calibration == em.meta["variability"]["calibration"] == "internal variance added per block"
    assert not em.variability.needs_reference
    _predicts_as_saved(em, new, BLOCKS / f"tiny-{name}.nc", kwargs)


def test_saved_before_the_move_keeps_its_record(loaded):
    assert loaded.n_parameters == 2209
    assert loaded.inputs == ["CO2", "CH4", "SO2", "BC", "rsdt"] and loaded.targets == ["tas", "pr"]
    assert loaded.variability.method == "parametric"


@pytest.mark.parametrize(("name", "kwargs"), [("forced", {}), ("calibrated", {"variability": "calibrated"}),
                                              ("samples", {"samples": 2, "seed": 0})])
def test_saved_before_issue_30_predicts_bit_for_bit(loaded_bootstrap, new, name, kwargs):
    """The same values, coordinates and attributes; the draws' note names the module path
    that exists (``xemu.variability.BlockBootstrap``), the only text that changed."""
    with xr.open_dataset(BOOTSTRAP / f"tiny-{name}.nc") as saved:
        saved = saved.load()
    pred = new.emu.predict(loaded_bootstrap, **kwargs)
    when, note = pred.attrs.pop("history").split(": ", 1)
    assert note == saved.attrs.pop("history").split(": ", 1)[1] and when.endswith("Z")
    for v in saved.data_vars:
        if "xemu_variability" in saved[v].attrs:
            old = saved[v].attrs["xemu_variability"]
            assert OLD_NOTE in old and NEW_NOTE in pred[v].attrs["xemu_variability"]
            saved[v].attrs["xemu_variability"] = old.replace(OLD_NOTE, NEW_NOTE)
    xr.testing.assert_identical(pred, saved)
    for v in saved.data_vars:
        assert (pred[v].values == saved[v].values).all(), v
    assert ("xemu_variability" in saved.tas.attrs) == (name == "samples")


def test_saved_before_issue_30_keeps_its_record(loaded_bootstrap, tmp_path):
    assert loaded_bootstrap.inputs == ["CO2", "CH4", "SO2", "BC", "rsdt"]
    assert loaded_bootstrap.targets == ["tas", "pr"]
    assert loaded_bootstrap.meta["baseline"] == "energy-balance"
    assert loaded_bootstrap.variability.method == "bootstrap"
    # saved again, it loads and draws the same samples
    loaded_bootstrap.save(tmp_path / "again.xemu")
    again = xemu.load(tmp_path / "again.xemu")
    ds = xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=8, seed=0).sel(scenario=["mid"])
    a, b = (ds.emu.predict(em, samples=2, seed=0) for em in (loaded_bootstrap, again))
    for v in a.data_vars:
        assert (a[v].values == b[v].values).all(), v
