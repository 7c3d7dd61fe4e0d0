"""A catalogue of bad command lines: each gives one line on stderr, a documented exit code, no traceback.

Exit codes (xemu.cli): 0 success, 1 a bug in xemu, 2 bad usage or input, 3 a file or folder that
cannot be read or written, 130 interrupted.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import xemu
import xemu.cli
import xemu.cli.commands
import xemu.testing
from xemu.cli import EXIT_BUG, EXIT_INTERRUPTED, EXIT_PATH, EXIT_USAGE, main
from xemu.errors import DataError

USER_BYTES = b"my own notes; xemu must not touch them\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small climate (CO2 without units, as in the CSE 151B store) and a tiny emulator trained on it."""
    root = tmp_path_factory.mktemp("bad_cli")
    ds = xemu.synthetic_climate(n_years=2, n_lat=8, n_lon=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the baseline's poorly conditioned design on 2 years
        em = ds.emu.fit(["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"], epochs=1, windows_per_epoch=16,
                        batch_size=8, progress=False, config=xemu.testing.TINY_CONFIG)
    em.save(root / "tiny.xemu")
    del ds["CO2"].attrs["units"]
    ds.to_netcdf(root / "data.nc")
    (root / "notes.txt").write_text("not a netCDF file\n")
    return {"data": str(root / "data.nc"), "emu": str(root / "tiny.xemu"), "notes": str(root / "notes.txt")}


def _argv(template: list[str], files: dict, tmp_path: Path) -> list[str]:
    return [a.format(tmp=tmp_path, **files) for a in template]


def _raise(exc):
    def command(args):
        raise exc

    return command


FIT = ["fit", "--data", "{data}", "--model", "linear", "--inputs", "CO2", "CH4", "--targets", "tas",
       "--out", "{tmp}/model.nc"]
PREDICT = ["predict", "{emu}", "--data", "{data}", "--out", "{tmp}/pred.nc"]

# id, argv, exit code, words that must be in the message, optional (name, replacement) in xemu.cli
CASES = [
    ("train-select-unknown-label", FIT + ["--train-select", "scenario=nope"], EXIT_USAGE,
     ["--train-select", "scenario=nope", "labels are low, mid, high"]),
    ("train-select-unknown-dim", FIT + ["--train-select", "ssp=ssp126"], EXIT_USAGE,
     ["--train-select", "dim 'ssp' is not in the data", "dims are scenario, time, lat, lon, member"]),
    ("train-select-without-equals", FIT + ["--train-select", "scenario"], EXIT_USAGE,
     ["--train-select", "'scenario'", "name=value"]),
    ("train-select-label-twice", FIT + ["--train-select", "scenario=low", "scenario=mid"], EXIT_USAGE,
     ["--train-select", "given twice"]),
    ("holdout-time-outside-the-data", FIT + ["--holdout", "time=2090-02:"], EXIT_USAGE,
     ["--holdout", "time=2090-02:", "selects no month", "2015-01-01 to 2016-12-01"]),
    ("holdout-not-a-date", FIT + ["--holdout", "time=2016-02-30"], EXIT_USAGE,
     ["--holdout", "'2016-02-30'", "not a date", "YYYY-MM"]),
    ("holdout-outside-the-training-selection", FIT + ["--train-select", "scenario=low,mid", "--holdout",
     "scenario=high"], EXIT_USAGE, ["--holdout", "scenario=high", "training data", "labels are low, mid"]),
    ("holdout-range-on-a-label-dim", FIT + ["--holdout", "member=0:1"], EXIT_USAGE,
     ["--holdout", "member=0:1", "time only"]),
    ("select-unknown-member", PREDICT + ["--select", "member=7"], EXIT_USAGE,
     ["--select", "member=7", "labels are 0, 1, 2"]),
    ("declare-without-equals", FIT + ["--declare", "CO2"], EXIT_USAGE, ["--declare", "'CO2'", "name=units"]),
    ("declare-unparsable-units", FIT + ["--declare", "CO2=blorps"], EXIT_USAGE,
     ["--declare", "CO2=blorps", "cannot parse units"]),
    ("declare-unknown-variable", FIT + ["--declare", "NOPE=K"], EXIT_USAGE,
     ["--declare", "NOPE=K", "no variable 'NOPE'"]),
    ("declare-conflicts-with-units-in-the-data", FIT + ["--declare", "CH4=K"], EXIT_USAGE,
     ["--declare", "CH4=K", "already has units 'Gt yr-1'"]),
    ("data-missing", ["predict", "{emu}", "--data", "{tmp}/missing.nc", "--out", "{tmp}/pred.nc"], EXIT_PATH,
     ["--data", "missing.nc", "does not exist"]),
    ("data-not-netcdf", ["predict", "{emu}", "--data", "{notes}", "--out", "{tmp}/pred.nc"], EXIT_USAGE,
     ["--data", "notes.txt", "not a netCDF file"]),
    ("data-folder-without-netcdf", ["fit", "--data", "{tmp}", "--out", "{tmp}/m.xemu"], EXIT_USAGE,
     ["--data", "holds no .nc files"]),
    ("emulator-missing", ["predict", "{tmp}/missing.xemu", "--data", "{data}", "--out", "{tmp}/pred.nc"],
     EXIT_PATH, ["emulator", "missing.xemu", "does not exist"]),
    ("emulator-not-an-emulator", ["predict", "{tmp}", "--data", "{data}", "--out", "{tmp}/pred.nc"],
     EXIT_PATH, ["emulator", "not a saved xemu emulator", "no emulator.json"]),
    ("emulator-not-netcdf", ["predict", "{notes}", "--data", "{data}", "--out", "{tmp}/pred.nc"],
     EXIT_USAGE, ["emulator", "notes.txt", "not a netCDF file"]),
    ("predict-out-is-a-folder", ["predict", "{emu}", "--data", "{data}", "--out", "{tmp}"], EXIT_PATH,
     ["--out", "is a folder"]),
    ("predict-out-under-a-file", ["predict", "{emu}", "--data", "{data}", "--out", "{notes}/pred.nc"],
     EXIT_PATH, ["cannot read or write", "notes.txt"]),
    ("demo-out-is-a-file", ["demo", "--out", "{notes}"], EXIT_PATH, ["--out", "notes.txt", "is a file"]),
    ("evaluate-unknown-split", ["evaluate", "--data", "{tmp}", "--split", "bogus"], EXIT_USAGE,
     ["--split", "'bogus'", "scenario:<name>"]),
    ("evaluate-store-shorter-than-years", ["evaluate", "--data", "{data}", "--split", "loso"], EXIT_USAGE,
     ["years:", "last 20 years", "240 months", "scenario 'low' has targets in 24 months", "--years"]),
    ("evaluate-scenario-dim-not-in-data", ["evaluate", "--data", "{data}", "--scenario-dim", "experiment_id"],
     EXIT_USAGE, ["--scenario-dim", "'experiment_id' is not a dim", "scenario, member, time, lat, lon"]),
    ("evaluate-reference-needs-ssp370", ["evaluate", "--data", "{data}"], EXIT_USAGE,
     ["split", "'reference'", "'ssp370'", "scenario: low, mid, high", "loso"]),
    ("evaluate-unknown-scenario", ["evaluate", "--data", "{data}", "--split", "scenario:ssp126"], EXIT_USAGE,
     ["--split", "'ssp126'", "scenario labels are low, mid, high"]),
    ("evaluate-store-missing", ["evaluate", "--data", "{tmp}/nowhere"], EXIT_PATH,
     ["--data", "nowhere", "does not exist"]),
    ("usage-unknown-option", ["predict", "{emu}", "--out", "{tmp}/p.nc", "--nope"], EXIT_USAGE,
     ["unrecognized arguments: --nope", "--help"]),
    ("usage-missing-out", ["predict", "{emu}", "--data", "{data}"], EXIT_USAGE,
     ["predict:", "required", "--out"]),
    ("usage-no-command", [], EXIT_USAGE, ["required", "demo,fit,predict,evaluate"]),
    ("usage-zero-epochs", ["demo", "--epochs", "0"], EXIT_USAGE, ["--epochs", "positive integer"]),
    ("usage-unknown-model", FIT + ["--model", "gpt"], EXIT_USAGE, ["--model", "invalid choice: 'gpt'"]),
    ("internal-error-is-a-bug", PREDICT, EXIT_BUG, ["internal error", "RuntimeError", "boom", "bug in xemu",
     "--debug"], ("cmd_predict", _raise(RuntimeError("boom\nsecond line")))),
    ("interrupted", PREDICT, EXIT_INTERRUPTED, ["interrupted"], ("cmd_predict", _raise(KeyboardInterrupt()))),
    ("permission-error", PREDICT, EXIT_PATH, ["cannot read or write", "Permission denied", "locked.nc"],
     ("cmd_predict", _raise(PermissionError(13, "Permission denied", "locked.nc")))),
]


def _assert_one_line(captured, code: int, expected: int, words: list[str]) -> str:
    err = captured.err
    assert code == expected, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xemu: error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in err and "Traceback" not in captured.out
    return lines[0]


@pytest.mark.parametrize(("argv", "code", "words", "patch"),
                         [pytest.param(c[1], c[2], c[3], c[4] if len(c) > 4 else None, id=c[0]) for c in CASES])
def test_bad_command_line(argv, code, words, patch, files, tmp_path, capsys, monkeypatch):
    if patch:
        monkeypatch.setattr(xemu.cli.commands, *patch)
    got = main(_argv(argv, files, tmp_path))
    _assert_one_line(capsys.readouterr(), got, code, words)


# -- no user file is lost ------------------------------------------------------------------
EXISTS = ["--out", "exists", "--overwrite"]


@pytest.mark.parametrize(("argv", "words"), [
    pytest.param(["predict", "{emu}", "--data", "{data}", "--out", "{tmp}/out"], EXISTS, id="predict"),
    pytest.param(FIT[:-1] + ["{tmp}/out"], EXISTS, id="fit-linear"),
    pytest.param(["fit", "--data", "{data}", "--epochs", "1", "--quiet", "--out", "{tmp}/out"],
                 ["--out", "is a file", "an emulator is saved as a folder"], id="fit-cnn-gru"),
    pytest.param(["fit", "--data", "{data}", "--epochs", "1", "--quiet", "--out", "{tmp}/out", "--overwrite"],
                 ["--out", "is a file", "never replaces a file with a folder"], id="fit-cnn-gru-overwrite"),
    pytest.param(FIT[:-1] + ["{tmp}/out", "--overwrite"], ["--out", "not an xemu baseline file", "even with"],
                 id="fit-linear-overwrite"),
    pytest.param(["evaluate", "--data", "{tmp}/nowhere", "--out", "{tmp}/out"], EXISTS, id="evaluate"),
])
def test_existing_out_is_kept_byte_identical(argv, words, files, tmp_path, capsys):
    (tmp_path / "out").write_bytes(USER_BYTES)
    code = main(_argv(argv, files, tmp_path))
    _assert_one_line(capsys.readouterr(), code, EXIT_PATH, words)
    assert (tmp_path / "out").read_bytes() == USER_BYTES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary file left either


@pytest.mark.parametrize(("argv", "words"), [
    pytest.param(FIT[:-1] + ["{tmp}/out", "--overwrite"], ["--out", "is a folder"], id="fit-linear"),
    pytest.param(["fit", "--data", "{data}", "--epochs", "1", "--quiet", "--out", "{tmp}/out", "--overwrite"],
                 ["--out", "not an xemu emulator", "notes.txt", "even with --overwrite"], id="fit-cnn-gru"),
    pytest.param(["predict", "{emu}", "--data", "{data}", "--out", "{tmp}/out", "--overwrite"],
                 ["--out", "is a folder"], id="predict"),
])
def test_existing_user_folder_is_kept(argv, words, files, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_bytes(USER_BYTES)
    code = main(_argv(argv, files, tmp_path))
    _assert_one_line(capsys.readouterr(), code, EXIT_PATH, words)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
    assert (tmp_path / "out" / "notes.txt").read_bytes() == USER_BYTES


def test_overwrite_replaces_an_existing_out(files, tmp_path, capsys):
    out = tmp_path / "pred.nc"
    out.write_bytes(USER_BYTES)
    assert main(_argv(PREDICT + ["--select", "scenario=high", "--overwrite"], files, tmp_path)) == 0
    assert out.read_bytes()[:4] != USER_BYTES[:4] and capsys.readouterr().err == ""


def test_demo_refuses_a_file_it_did_not_write(tmp_path, capsys):
    (tmp_path / "scores.nc").write_bytes(USER_BYTES)
    code = main(["demo", "--out", str(tmp_path), "--years", "4", "--epochs", "1", "--quiet"])
    _assert_one_line(capsys.readouterr(), code, EXIT_PATH, ["scores.nc", "not written by xemu demo", "--overwrite"])
    assert (tmp_path / "scores.nc").read_bytes() == USER_BYTES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.nc"]


def test_demo_replaces_only_its_own_outputs(files, tmp_path):
    import xarray as xr

    from xemu.cli.paths import demo_outputs as _demo_outputs
    from xemu.cli.paths import written_by_demo as _written_by_demo

    ours = xr.Dataset(attrs={"xemu_written_by": "xemu demo"})
    ours.to_netcdf(tmp_path / "predictions.nc")
    xr.Dataset().to_netcdf(tmp_path / "scores.nc")  # netCDF, but not from the demo
    xemu.load(files["emu"]).save(tmp_path / "demo.xemu")
    assert _written_by_demo(tmp_path / "predictions.nc") and not _written_by_demo(tmp_path / "scores.nc")
    with pytest.raises(xemu.PathError, match="scores.nc"):
        _demo_outputs(tmp_path, overwrite=False)
    assert _demo_outputs(tmp_path, overwrite=True) == tmp_path
    (tmp_path / "scores.nc").unlink()
    assert _demo_outputs(tmp_path, overwrite=False) == tmp_path  # its own outputs: a rerun replaces them
    (tmp_path / "demo.xemu" / "notes.txt").write_bytes(USER_BYTES)  # a user's file in the emulator folder
    with pytest.raises(xemu.PathError, match="notes.txt"):
        _demo_outputs(tmp_path, overwrite=True)


# -- --debug and a real terminal ----------------------------------------------------------
@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_reraises_with_the_traceback(where, files, tmp_path):
    argv = _argv(FIT + ["--train-select", "scenario=nope"], files, tmp_path)
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(DataError, match="--train-select: scenario=nope"):
        main(argv)


def _xemu(argv, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "xemu.cli", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)


def test_subprocess_bad_selection_prints_one_line(files, tmp_path):
    done = _xemu(_argv(FIT + ["--train-select", "scenario=nope"], files, tmp_path), tmp_path)
    assert done.returncode == EXIT_USAGE
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "xemu: error: --train-select: scenario=nope is not in the data; scenario labels are low, mid, high"]


def test_subprocess_debug_prints_the_traceback(files, tmp_path):
    done = _xemu(["--debug", *_argv(FIT + ["--train-select", "scenario=nope"], files, tmp_path)], tmp_path)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "xemu.errors.DataError: --train-select: scenario=nope" in done.stderr


def test_help_documents_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0    success", "1    an unexpected internal error", "2    bad usage", "3    a file or folder",
                 "130  interrupted"):
        assert line in out
    doc = " ".join(xemu.cli.__doc__.split())
    assert "130 interrupted" in doc and "3 a file or folder cannot be read or written" in doc


CSE151B = Path("/work/shared/data/cse151b")


@pytest.mark.skipif(not CSE151B.is_dir(), reason="the CSE 151B store is absent")
def test_store_selection_names_the_store_dims(tmp_path, capsys):
    code = main(["fit", "--data", str(CSE151B), "--train-select", "scenario=nope", "--out", str(tmp_path / "m")])
    _assert_one_line(capsys.readouterr(), code, EXIT_USAGE,
                     ["--train-select: dim 'scenario' is not in the data; dims are ssp, time", "member_id"])
