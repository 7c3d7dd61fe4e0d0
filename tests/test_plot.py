"""xemu.plot: each figure draws, is labelled from attrs, and fails clearly (Agg backend)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

import xemu

matplotlib = pytest.importorskip("matplotlib", reason="xemu.plot needs matplotlib (pip install 'xemu[plot]')")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from xemu import plot  # noqa: E402


@pytest.fixture(scope="module")
def ds():
    return xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def no_cartopy(monkeypatch):
    """Plain latitude/longitude axes, whether or not cartopy is installed."""
    monkeypatch.setattr(plot, "_cartopy_crs", lambda: None)


def _colorbar(ax):
    return next(c.colorbar for c in ax.collections if getattr(c, "colorbar", None) is not None)


def _mesh(ax):
    return next(c for c in ax.collections if getattr(c, "colorbar", None) is not None)


def _history(n=5, val=True):
    return [
        {"epoch": i, "train_loss": 1.0 / (i + 1), "seconds": 0.1, "lr": 1e-3,
         **({"val_loss": 1.2 / (i + 1) + 0.15 * i} if val else {})}
        for i in range(n)
    ]


# --- field_map ----------------------------------------------------------------------
def test_field_map_labels_from_attrs(ds, no_cartopy):
    ax = plot.field_map(ds["tas"].isel(scenario=0, member=0).mean("time", keep_attrs=True))
    assert isinstance(ax, Axes)
    label = _colorbar(ax).ax.get_xlabel()
    assert "near-surface air temperature" in label and "[K]" in label
    assert "near-surface air temperature" in ax.get_title()
    assert "scenario = low" in ax.get_title()  # scalar coordinates say what is shown
    assert "longitude" in ax.get_xlabel() and "degrees" in ax.get_xlabel()
    assert "latitude" in ax.get_ylabel() and "degrees" in ax.get_ylabel()


def test_field_map_center_is_symmetric_and_options_apply(ds, no_cartopy):
    field = ds["tas"].isel(scenario=0, member=0, time=0)
    ax = plot.field_map(field, center=280.0, cmap="coolwarm", title="custom")
    norm = _mesh(ax).norm
    assert norm.vmin + norm.vmax == pytest.approx(560.0)
    assert _mesh(ax).cmap.name == "coolwarm" and ax.get_title() == "custom"
    ax = plot.field_map(field, vmin=250, vmax=300)
    assert (_mesh(ax).norm.vmin, _mesh(ax).norm.vmax) == (250, 300)


def test_field_map_time_dim_is_refused_with_a_hint(ds):
    with pytest.raises(xemu.DataError, match=r'reduce time first, e.g. \.mean\("time"\) or \.isel\(time=0\)'):
        plot.field_map(ds["tas"].isel(scenario=0, member=0))


def test_field_map_other_dims_are_refused(ds):
    with pytest.raises(xemu.DataError, match="select or reduce scenario, member"):
        plot.field_map(ds["tas"].isel(time=0))


def test_field_map_draws_into_given_axes(ds, no_cartopy):
    fig, (left, right) = plt.subplots(1, 2)
    out = plot.field_map(ds["pr"].isel(scenario=0, member=0, time=0), ax=right)
    assert out is right and not left.collections


def test_field_map_with_cartopy(ds):
    pytest.importorskip("cartopy")
    with pytest.warns(UserWarning) if _offline_cartopy() else _nothing():
        ax = plot.field_map(ds["tas"].isel(scenario=0, member=0, time=0))
    assert hasattr(ax, "projection")
    assert "[K]" in _colorbar(ax).ax.get_xlabel()


def _offline_cartopy() -> bool:
    from cartopy.io import shapereader

    try:
        shapereader.natural_earth(resolution="110m", category="physical", name="coastline")
    except Exception:
        return True
    return False


def _nothing():
    from contextlib import nullcontext

    return nullcontext()


# --- difference_map -----------------------------------------------------------------
def test_difference_map_symmetric_about_zero(ds, no_cartopy):
    pred = ds["tas_forced"].isel(scenario=2)
    truth = ds["tas"].isel(scenario=2, member=0)
    ax = plot.difference_map(pred, truth)
    norm = _mesh(ax).norm
    assert norm.vmin == pytest.approx(-norm.vmax) and norm.vmax > 0
    assert "near-surface air temperature" in ax.get_title() and "prediction - truth" in ax.get_title()
    assert "24 months" in ax.get_title()
    assert "[K]" in _colorbar(ax).ax.get_xlabel()
    expected = (pred - truth).mean("time").transpose("lat", "lon").values
    np.testing.assert_allclose(_mesh(ax).get_array().reshape(expected.shape), expected, rtol=1e-5)


def test_difference_map_converts_pred_to_truth_units(ds, no_cartopy):
    truth = ds["tas"].isel(scenario=2, member=0)
    pred = ds["tas_forced"].isel(scenario=2)
    pred_c = xemu.units.convert_units(pred, "degC")
    same = _mesh(plot.difference_map(pred, truth)).get_array()
    converted = _mesh(plot.difference_map(pred_c, truth)).get_array()
    np.testing.assert_allclose(converted, same, atol=1e-3)


# --- global_mean_series -------------------------------------------------------------
def test_global_mean_series_lines_and_band(ds):
    pred, members = ds["tas_forced"], ds["tas"]
    ax = plot.global_mean_series(pred, members, member_dim="member")
    assert isinstance(ax, Axes)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [t for t in texts if t.startswith("prediction")] == [
        "prediction, scenario=low", "prediction, scenario=mid", "prediction, scenario=high"]
    assert sum(t.startswith("members min-max") for t in texts) == 3
    assert "tas" in ax.get_ylabel() and "[K]" in ax.get_ylabel()
    if not _has("nc_time_axis"):
        assert ax.get_xlabel() == "time [year]"
    # the first line is the area-weighted global mean of the first scenario
    w = xemu.area_weights(pred.lat)
    expected = pred.isel(scenario=0).weighted(w).mean(["lat", "lon"]).values
    np.testing.assert_allclose(ax.lines[0].get_ydata(), expected, rtol=1e-6)


def test_global_mean_series_without_members_and_bad_member_dim(ds):
    ax = plot.global_mean_series(ds["tas"].isel(scenario=0, member=0), label="emulator")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["emulator"]
    with pytest.raises(xemu.DataError, match="member_id"):
        plot.global_mean_series(ds["tas_forced"], ds["tas"])  # member_dim defaults to member_id


def test_decimal_years_any_calendar():
    import cftime

    dates = [cftime.Datetime360Day(2020, 1, 1), cftime.Datetime360Day(2020, 7, 1)]
    np.testing.assert_allclose(plot.decimal_years(dates), [2020.0, 2020.5])
    days = np.array(["2001-01-01", "2001-07-02T12"], dtype="datetime64[h]")
    np.testing.assert_allclose(plot.decimal_years(days), [2001.0, 2001.5])


# --- zonal_means --------------------------------------------------------------------
def test_zonal_means_compares_fields(ds):
    low = ds.sel(scenario="low", member=0)
    ax = plot.zonal_means(low["pr"], low["pr_forced"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pr", "pr_forced"]
    assert len(ax.lines) == 2
    assert "latitude" in ax.get_xlabel()
    assert "precipitation" in ax.get_ylabel() and "[mm/day]" in ax.get_ylabel()
    np.testing.assert_allclose(ax.lines[0].get_xdata(), ds.lat.values)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), low["pr"].mean(["time", "lon"]).values, rtol=1e-6)


def test_zonal_means_refuses_leftover_dims(ds):
    with pytest.raises(xemu.DataError, match="scenario, member"):
        plot.zonal_means(ds["tas"])
    with pytest.raises(ValueError, match="labels"):
        plot.zonal_means(ds["tas"].isel(scenario=0, member=0), labels=["a", "b"])


# --- training_curves ----------------------------------------------------------------
def _as_dataset(records, val=True):
    ds = xr.Dataset(
        {k: ("epoch", [r[k] for r in records]) for k in ("train_loss", "seconds", "lr")},
        coords={"epoch": [r["epoch"] for r in records]},
    )
    if val:
        ds["val_loss"] = ("epoch", [r["val_loss"] for r in records])
    return ds


@pytest.mark.parametrize("form", ["list", "dataset", "object"])
def test_training_curves_both_history_forms(form):
    records = _history()
    history = {"list": records, "dataset": _as_dataset(records),
               "object": SimpleNamespace(history=_as_dataset(records))}[form]
    ax = plot.training_curves(history)
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "training loss", "validation loss", "best validation (epoch 2)"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [r["train_loss"] for r in records])
    assert ax.get_xlabel() == "epoch"


@pytest.mark.parametrize("as_dataset", [False, True])
def test_training_curves_without_validation(as_dataset):
    records = _history(val=False)
    ax = plot.training_curves(_as_dataset(records, val=False) if as_dataset else records)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss"]


def test_training_curves_from_an_emulator():
    em = xemu.Emulator({"history": _history(3)})
    ax = plot.training_curves(em)
    assert len(ax.lines) == 3  # training, validation, best epoch


def test_training_curves_refuses_empty_or_wrong_history():
    with pytest.raises(xemu.DataError, match="train_loss"):
        plot.training_curves([])
    with pytest.raises(TypeError, match="history"):
        plot.training_curves("history.json")


# --- accessor, optional dependency, files -------------------------------------------
def test_accessor_forwards(ds, no_cartopy):
    one = ds["tas"].isel(scenario=0, member=0)
    assert "[K]" in _colorbar(one.isel(time=0).emu.plot_map(center=280.0)).ax.get_xlabel()
    assert "prediction - truth" in ds["tas_forced"].isel(scenario=0).emu.plot_difference(one).get_title()
    ax = ds["tas_forced"].emu.plot_global_mean(ds["tas"], member_dim="member")
    assert len(ax.get_legend().get_texts()) == 9
    assert len(one.emu.plot_zonal_mean(labels=["member 0"]).lines) == 1
    with pytest.raises(TypeError, match="plot_map: works on a DataArray"):
        ds.emu.plot_map()


def test_missing_matplotlib_names_the_extra(ds, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "xemu\[plot\]"'):
        plot.field_map(ds["tas"].isel(scenario=0, member=0, time=0))
    with pytest.raises(ImportError, match="matplotlib"):
        plot.training_curves(_history())


def test_import_xemu_does_not_import_matplotlib():
    code = ("import sys, xemu, xemu.plot; ds = xemu.synthetic_climate; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'; print(xemu.plot.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "xemu.plot"


def test_writes_a_png(ds, tmp_path, no_cartopy):
    ax = plot.difference_map(ds["pr_forced"].isel(scenario=0), ds["pr"].isel(scenario=0, member=0))
    path = tmp_path / "difference.png"
    ax.figure.savefig(path)
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
