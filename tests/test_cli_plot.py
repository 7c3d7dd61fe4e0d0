"""``xemu plot`` and ``xemu evaluate --plot``: the charts of an evaluation table, from a saved file."""

from __future__ import annotations

import sys

import pytest

from xemu.cli import main

pytest.importorskip("matplotlib", reason="the charts need matplotlib (pip install 'xemu[plot]')")

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_command_draws_a_saved_table(tables, tmp_path, capsys):
    reference = tmp_path / "eval.nc"
    tables.make(tables.reference, attrs={"protocol": tables.coarse, "published_protocol": tables.published,
                                         "split": "reference"}).to_netcdf(reference)
    assert main(["plot", str(reference), "--out", str(tmp_path / "eval.png")]) == 0
    out = capsys.readouterr().out
    assert "eval.png (score chart)" in out and "eval-metrics.png (metrics chart)" in out
    for name in ("eval.png", "eval-metrics.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG and (tmp_path / name).stat().st_size > 10_000
    loso = tmp_path / "loso.nc"
    tables.make(tables.loso, folds=["ssp126", "ssp370", "ssp585", "mean"], attrs={"grid": "48 x 72"}).to_netcdf(loso)
    assert main(["plot", str(loso), "--out", str(tmp_path / "loso.svg")]) == 0
    svg = (tmp_path / "loso.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert sorted(p.name for p in tmp_path.glob("loso*")) == ["loso.nc", "loso.svg"]
    # an existing figure is replaced only with --overwrite
    assert main(["plot", str(loso), "--out", str(tmp_path / "loso.svg")]) == 3
    assert "--overwrite" in capsys.readouterr().err
    assert main(["plot", str(loso), "--out", str(tmp_path / "loso.svg"), "--overwrite"]) == 0


def test_plot_command_errors_name_the_argument(tables, tmp_path, capsys, monkeypatch):
    table = tmp_path / "eval.nc"
    tables.make(tables.reference).to_netcdf(table)
    cases = [
        (["plot", str(tmp_path / "missing.nc"), "--out", str(tmp_path / "a.png")], 3, "table"),
        (["plot", str(table), "--out", str(tmp_path / "a.txt")], 2,
         "--out: expected a file name ending in one of"),
        (["plot", str(table)], 2, "the following arguments are required: --out"),
    ]
    not_a_table = tmp_path / "pred.nc"
    import xemu

    xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6).to_netcdf(not_a_table)
    cases.append((["plot", str(not_a_table), "--out", str(tmp_path / "b.png")], 2,
                  "table: expected an evaluation table (xemu evaluate --out: dim 'model'"))
    text = tmp_path / "notes.txt"
    text.write_text("not netCDF")
    cases.append((["plot", str(text), "--out", str(tmp_path / "c.png")], 2, "table"))
    for argv, code, message in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert not any(tmp_path.glob("[abc].*")), "nothing is written on an error"
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["plot", str(table), "--out", str(tmp_path / "d.png")]) == 2
    assert 'needs matplotlib, which is not installed: pip install "xemu[plot]"' in capsys.readouterr().err


def test_evaluate_checks_plot_before_any_work(tmp_path, capsys):
    """A bad --plot fails at once, before the store is even opened (no fit waits on it)."""
    missing_store = tmp_path / "no-store"
    assert main(["evaluate", "--data", str(missing_store), "--plot", str(tmp_path / "chart.jpeg2")]) == 2
    assert "--plot: expected a file name ending in one of" in capsys.readouterr().err
    (tmp_path / "chart-metrics.png").write_bytes(b"mine")
    assert main(["evaluate", "--data", str(missing_store), "--plot", str(tmp_path / "chart.png")]) == 3
    assert "chart-metrics.png" in capsys.readouterr().err
    assert (tmp_path / "chart-metrics.png").read_bytes() == b"mine"
