"""Bad-file catalogue: saving never loses a user's files, loading checks every file first.

Each case asserts the error class and the words of its message (or the warning, or the
result). One small emulator is fitted and saved once per module; each case copies it into
its own ``tmp_path`` and breaks the copy.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import xemu
from xemu.errors import ConfigError, DataError, PathError
from xemu.io import CHECKPOINT_KEYS, EMULATOR_SCHEMA, MAX_PARAMETERS, is_xemu_emulator_folder, read_checkpoint
from xemu.testing import TINY_CONFIG

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC"], ["tas", "pr"]


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    return xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6, seed=1)


@pytest.fixture(scope="module")
def fitted(small):
    return small.emu.fit(INPUTS, TARGETS, epochs=1, windows_per_epoch=8, batch_size=8, progress=False,
                         config=TINY_CONFIG, baseline="climatology")


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    """A good emulator folder, saved once; cases copy it."""
    return fitted.save(tmp_path_factory.mktemp("saved") / "em.xemu")


@pytest.fixture
def em_dir(saved, tmp_path):
    """A fresh copy of the saved emulator in this case's tmp_path."""
    return Path(shutil.copytree(saved, tmp_path / "em.xemu"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _edit_json(folder: Path, edit) -> None:
    f = folder / "emulator.json"
    meta = json.loads(f.read_text())
    edit(meta)
    f.write_text(json.dumps(meta))


def _no_leftovers(parent: Path) -> None:
    assert not [p.name for p in parent.iterdir() if p.name.startswith(".")], list(parent.iterdir())


# -- saving an emulator -----------------------------------------------------------------------
@pytest.mark.parametrize("overwrite", [pytest.param(False, id="no-overwrite"),
                                       pytest.param(True, id="with-overwrite")])
def test_save_onto_folder_with_user_files_is_refused(fitted, tmp_path, overwrite):
    target = tmp_path / "results"
    target.mkdir()
    (target / "notes.txt").write_text("my notes\n")
    (target / "data.csv").write_bytes(b"a,b\n1,2\n")
    before = _snapshot(target)
    with pytest.raises(PathError, match=r"exists and is not an xemu emulator \(it holds data.csv, notes.txt\); "
                                        r"xemu will not replace it \(even with overwrite=True\); choose another path"):
        fitted.save(target, overwrite=overwrite)
    assert _snapshot(target) == before
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("overwrite", [pytest.param(False, id="no-overwrite"),
                                       pytest.param(True, id="with-overwrite")])
def test_save_onto_user_file_is_refused(fitted, tmp_path, overwrite):
    target = tmp_path / "em.xemu"
    target.write_bytes(b"precious bytes\x00\x01")
    with pytest.raises(PathError, match="exists and is a file, not an xemu emulator folder"):
        fitted.save(target, overwrite=overwrite)
    assert target.read_bytes() == b"precious bytes\x00\x01"
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("under", [pytest.param("x.xemu", id="in-it"), pytest.param("sub/x.xemu", id="deeper")])
def test_save_under_a_file_is_refused(fitted, tmp_path, under):
    (tmp_path / "a_file").write_bytes(b"precious bytes")
    with pytest.raises(PathError, match=rf"^path: '.*a_file/{under}' lies under '.*a_file', which is a file, not a "
                                        r"folder; xemu cannot save an emulator there \(it makes missing folders but "
                                        r"never replaces a file\); expected a path whose parents are folders: "
                                        r"choose another path$"):
        fitted.save(tmp_path / "a_file" / under)
    assert (tmp_path / "a_file").read_bytes() == b"precious bytes"
    _no_leftovers(tmp_path)


def test_save_onto_emulator_without_overwrite_is_refused(fitted, em_dir):
    before = _snapshot(em_dir)
    with pytest.raises(PathError, match="holds an xemu emulator; pass overwrite=True to replace it"):
        fitted.save(em_dir)
    assert _snapshot(em_dir) == before
    _no_leftovers(em_dir.parent)


def test_save_onto_emulator_with_overwrite_replaces_it(fitted, em_dir):
    _edit_json(em_dir, lambda m: m.update(training_selection="the previous one"))
    assert fitted.save(em_dir, overwrite=True) == em_dir
    assert sorted(p.name for p in em_dir.iterdir()) == ["baseline.nc", "emulator.json", "variability.nc", "weights.pt"]
    assert xemu.load(em_dir).meta["training_selection"] == fitted.meta["training_selection"]
    _no_leftovers(em_dir.parent)


def test_save_onto_emulator_holding_a_user_file_is_refused_even_with_overwrite(fitted, em_dir):
    (em_dir / "my_plot.png").write_bytes(b"\x89PNG user data")
    before = _snapshot(em_dir)
    with pytest.raises(PathError, match=r"holds an xemu emulator and also my_plot.png, which xemu did not "
                                        r"write; xemu will not replace it \(even with overwrite=True\)"):
        fitted.save(em_dir, overwrite=True)
    assert _snapshot(em_dir) == before
    _no_leftovers(em_dir.parent)


def test_save_into_an_empty_folder(fitted, tmp_path):
    (tmp_path / "out").mkdir()
    fitted.save(tmp_path / "out")
    assert isinstance(xemu.load(tmp_path / "out"), xemu.Emulator)
    _no_leftovers(tmp_path)


def test_save_onto_a_symlink_is_refused(fitted, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("mine")
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(PathError, match="is a symbolic link; xemu does not replace links"):
        fitted.save(tmp_path / "link", overwrite=True)
    assert (real / "keep.txt").read_text() == "mine"


def _crash_on_rename_to(monkeypatch, target: Path) -> None:
    """Make every ``os.replace`` onto ``target`` fail: a crash after the first rename (and no undo)."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst) == target:
            raise OSError("simulated crash between the two renames")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_interrupted_save_then_load_finishes_it(fitted, em_dir, monkeypatch):
    _edit_json(em_dir, lambda m: m.update(training_selection="the previous one"))
    _crash_on_rename_to(monkeypatch, em_dir)
    with pytest.raises(OSError, match="simulated crash") as info:
        fitted.save(em_dir, overwrite=True)
    assert "xemu.load" in "".join(getattr(info.value, "__notes__", []))
    monkeypatch.undo()
    assert not em_dir.exists()
    old = [p for p in em_dir.parent.iterdir() if p.name.startswith(".em.xemu.old-")]
    assert len(old) == 1 and is_xemu_emulator_folder(old[0])
    with pytest.warns(UserWarning, match=r"stopped between its two renames; xemu finished it by renaming the "
                                         r"complete new save .*the emulator it replaced is kept in") as rec:
        loaded = xemu.load(em_dir)
    assert str(old[0]) in str(rec[0].message)
    assert loaded.meta["training_selection"] == fitted.meta["training_selection"]
    assert json.loads((old[0] / "emulator.json").read_text())["training_selection"] == "the previous one"
    assert not [p for p in em_dir.parent.iterdir() if ".tmp-" in p.name]


def test_failed_second_rename_is_undone(fitted, em_dir, monkeypatch):
    before = _snapshot(em_dir)
    real, calls = os.replace, []

    def replace(src, dst, *args, **kwargs):  # fails once, onto the target: the undo then works
        if Path(dst) == em_dir and not calls:
            calls.append(dst)
            raise OSError("disk hiccup")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk hiccup"):
        fitted.save(em_dir, overwrite=True)
    monkeypatch.undo()
    assert _snapshot(em_dir) == before
    _no_leftovers(em_dir.parent)


def test_load_with_only_the_previous_emulator_left_explains(em_dir):
    old = em_dir.with_name(".em.xemu.old-1-abcd")
    em_dir.rename(old)
    with pytest.raises(DataError, match=r"an interrupted save left the previous emulator in .*rename it back"):
        xemu.load(em_dir)
    assert old.is_dir()


def test_load_missing_folder_with_only_an_unfinished_save_beside_it(em_dir):
    partial = em_dir.with_name(".em.xemu.tmp-1-cccc")
    em_dir.rename(partial)
    (partial / "emulator.json").unlink()  # the mark of a complete save is written last
    with pytest.raises(PathError, match=r"does not exist; .*an unfinished save left .*tmp-1-cccc.* \(without "
                                        r"emulator.json\): remove it unless a save is running"):
        xemu.load(em_dir)
    assert partial.is_dir()


def test_load_with_two_complete_leftovers_explains(em_dir):
    a, b = em_dir.with_name(".em.xemu.tmp-1-aaaa"), em_dir.with_name(".em.xemu.tmp-2-bbbb")
    shutil.copytree(em_dir, a)
    em_dir.rename(b)
    with pytest.raises(DataError, match=r"interrupted saves left complete emulators in .*tmp-1-aaaa.*tmp-2-bbbb"):
        xemu.load(em_dir)
    assert a.is_dir() and b.is_dir()


# -- saving a baseline ------------------------------------------------------------------------
@pytest.mark.parametrize("overwrite", [pytest.param(False, id="no-overwrite"),
                                       pytest.param(True, id="with-overwrite")])
def test_baseline_save_onto_non_xemu_file_is_refused(fitted, tmp_path, overwrite):
    target = tmp_path / "clim.nc"
    target.write_text("station,temp\nA,3.5\n")
    with pytest.raises(PathError, match=r"exists and is not an xemu baseline file; xemu will not replace it"):
        fitted.baseline.save(target, overwrite=overwrite)
    assert target.read_text() == "station,temp\nA,3.5\n"
    _no_leftovers(tmp_path)


def test_baseline_save_under_a_file_is_refused(fitted, tmp_path):
    (tmp_path / "a_file").write_bytes(b"precious bytes")
    with pytest.raises(PathError, match=r"^path: '.*a_file/clim.nc' lies under '.*a_file', which is a file, not a "
                                        r"folder; xemu cannot save a baseline there"):
        fitted.baseline.save(tmp_path / "a_file" / "clim.nc")
    assert (tmp_path / "a_file").read_bytes() == b"precious bytes"
    _no_leftovers(tmp_path)


def test_baseline_save_onto_a_folder_is_refused(fitted, tmp_path):
    (tmp_path / "clim.nc").mkdir()
    (tmp_path / "clim.nc" / "x.txt").write_text("mine")
    with pytest.raises(PathError, match="is a folder; a baseline is one netCDF file"):
        fitted.baseline.save(tmp_path / "clim.nc", overwrite=True)
    assert (tmp_path / "clim.nc" / "x.txt").read_text() == "mine"


def test_baseline_save_onto_a_baseline_needs_overwrite(fitted, tmp_path):
    target = fitted.baseline.save(tmp_path / "clim.nc")
    with pytest.raises(PathError, match="holds an xemu baseline; pass overwrite=True"):
        fitted.baseline.save(target)
    fitted.baseline.save(target, overwrite=True)
    assert type(xemu.load(target)) is type(fitted.baseline)
    _no_leftovers(tmp_path)


# -- loading an emulator folder ---------------------------------------------------------------
def test_load_missing_folder(tmp_path):
    with pytest.raises(PathError, match=r"path: '.*nowhere.xemu' does not exist; expected a folder written by "
                                        r"Emulator.save"):
        xemu.load(tmp_path / "nowhere.xemu")


def test_load_folder_without_emulator_json(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "notes.txt").write_text("x")
    with pytest.raises(PathError, match=r"is a folder but not an xemu emulator: it has no emulator.json "
                                        r"\(it holds notes.txt\)"):
        xemu.load(tmp_path / "f")


def _set(key, value):
    return lambda m: m.update({key: value})


def _drop(key):
    return lambda m: m.pop(key)


def _set_model(field, value):
    return lambda m: m["model"].update({field: value})


JSON_CASES = [
    pytest.param(_set("format", "xemu-emulator/9"), r"emulator.json: format 'xemu-emulator/9' is not one this xemu "
                 r"reads \(expected 'xemu-emulator/1'\); a newer xemu wrote it", id="wrong-format-string"),
    pytest.param(_drop("format"), r"emulator.json: has no 'format' key", id="no-format"),
    pytest.param(_drop("input_std"), r"emulator.json: missing key 'input_std'$", id="missing-key"),
    pytest.param(_set("colour", "blue"), r"emulator.json: unknown key 'colour'$", id="extra-key"),
    pytest.param(_set("window", "12"), r"emulator.json: 'window': '12' is not of type 'integer'$", id="wrong-type"),
    pytest.param(_set("input_std", [1.0, 0.0, 1.0, 1.0, 1.0, 1.0]), r"emulator.json: 'input_std'\[1\]: 0.0 is less "
                 r"than or equal to the minimum of 0$", id="input-std-zero"),
    pytest.param(_set("input_std", [1.0] * 7), r"emulator.json: key 'input_std' expected a list of 6 positive "
                 r"finite numbers; got a list of 7", id="input-std-wrong-length"),
    pytest.param(_set("input_mean", [float("nan")] * 6), r"emulator.json: 6 problems: 'input_mean'\[0\]: nan is "
                 r"not a finite number; 'input_mean'\[1\]: nan is not a finite number", id="input-mean-nan"),
    pytest.param(_set("targets", ["tas"]), r"key 'targets' expected a list of 2 distinct strings; got a list of 1",
                 id="targets-wrong-length"),
    pytest.param(lambda m: m["grid"].update(lat=[0.0, 1.0]), r"emulator.json: key 'grid.lat' expected a list of 4 "
                 r"finite numbers; got a list of 2", id="grid-wrong-length"),
    pytest.param(lambda m: (m.pop("input_std"), m.update(colour=1, window=-1)), r"emulator.json: 3 problems: "
                 r"missing key 'input_std'; unknown key 'colour'; 'window': -1 is less than the minimum of 1$",
                 id="several-problems"),
    pytest.param(_set_model("colour", "blue"), r"emulator.json: key 'model' has field 'colour' that ModelConfig "
                 r"does not take", id="model-unknown-field"),
    pytest.param(_set_model("hidden", 8.5), r"emulator.json: 'model.hidden': 8.5 is not of type 'integer'$",
                 id="model-wrong-type"),
    pytest.param(_set_model("conv_strides", [2, 1, 1]), r"emulator.json: key 'model': conv_widths / conv_strides: "
                 r"expected equal, non-zero lengths", id="model-config-error"),
    pytest.param(_set("encoding", "study"), r"key 'channels' expected the inputs followed by the season "
                 r"channels of encoding 'study'", id="channels-do-not-match-encoding"),
    pytest.param(lambda m: m["input_units"].pop("CO2"), r"key 'input_units' expected one entry per name of "
                 r"'inputs'", id="units-do-not-match-inputs"),
]


@pytest.mark.parametrize("edit, message", JSON_CASES)
def test_load_malformed_emulator_json(em_dir, edit, message):
    _edit_json(em_dir, edit)
    with pytest.raises(DataError, match=message):
        xemu.load(em_dir)


def test_load_emulator_json_not_json(em_dir):
    (em_dir / "emulator.json").write_text('{"format": "xemu-emulator/1", "kind": ')
    with pytest.raises(DataError, match=r"emulator.json: not valid JSON \(JSONDecodeError: Expecting value"):
        xemu.load(em_dir)


def test_load_emulator_json_not_an_object(em_dir):
    (em_dir / "emulator.json").write_text("[1, 2, 3]")
    with pytest.raises(DataError, match=r"emulator.json: expected a JSON object; got list"):
        xemu.load(em_dir)


def test_load_missing_weights(em_dir):
    (em_dir / "weights.pt").unlink()
    with pytest.raises(DataError, match=r"weights.pt: missing; emulator.json describes a network of [\d,]+ "
                                        r"parameters"):
        xemu.load(em_dir)


def test_load_truncated_weights(em_dir):
    f = em_dir / "weights.pt"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(DataError, match=r"weights.pt: not readable as the weights of an emulator \(.*\); the file "
                                        r"may be truncated"):
        xemu.load(em_dir)


def test_load_weights_of_another_configuration(em_dir):
    from xemu.nn.model import CNNGRU, ModelConfig

    meta = json.loads((em_dir / "emulator.json").read_text())
    other = CNNGRU(ModelConfig(**{**meta["model"], "hidden": 12}))
    torch.save(other.state_dict(), em_dir / "weights.pt")
    with pytest.raises(DataError, match=r"weights.pt: the weights do not fit the configuration in emulator.json: "
                                        r"'branches.0.gru.weight_ih_l0' is \(36, \d+\) float32, the configuration "
                                        r"in emulator.json needs \(24, \d+\) float32"):
        xemu.load(em_dir)


def test_load_weights_with_missing_tensor(em_dir):
    state = torch.load(em_dir / "weights.pt", weights_only=True)
    state.pop("heads.1.net.4.bias")
    torch.save(state, em_dir / "weights.pt")
    with pytest.raises(DataError, match=r"the weights do not fit .*: missing 'heads.1.net.4.bias'"):
        xemu.load(em_dir)


def test_load_weights_with_nan(em_dir):
    state = torch.load(em_dir / "weights.pt", weights_only=True)
    state["heads.0.net.0.weight"][0, 0] = float("nan")
    torch.save(state, em_dir / "weights.pt")
    with pytest.raises(DataError, match=r"weights.pt: tensor 'heads.0.net.0.weight' holds NaN or infinite values"):
        xemu.load(em_dir)


class Payload:
    """Not a tensor: ``weights_only=True`` refuses to unpickle it."""


def test_load_weights_holding_a_pickled_object_runs_no_code(em_dir):
    torch.save({"x": Payload()}, em_dir / "weights.pt")
    with pytest.raises(DataError, match=r"weights.pt: not readable as the weights of an emulator \(Unpickling"):
        xemu.load(em_dir)


def test_load_crafted_enormous_config_fails_fast_without_allocating(em_dir):
    _edit_json(em_dir, lambda m: (m["model"].update(height=2000, width=2000, head_hidden=20000),
                                  m["grid"].update(lat=list(range(2000)), lon=list(range(2000)))))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=rf"key 'model' describes a network of [\d,]+ parameters; xemu loads at "
                                        rf"most {MAX_PARAMETERS:,}"):
        xemu.load(em_dir)
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 500_000  # < 0.5 GB more at peak


def test_load_config_with_too_many_layers_fails_fast(em_dir):
    _edit_json(em_dir, lambda m: m["model"].update(conv_widths=[4] * 200, conv_strides=[1] * 200,
                                                   branches="per_target"))
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=r"describes a network of 404 layers .*; xemu loads at most 256"):
        xemu.load(em_dir)
    assert time.perf_counter() - t0 < 1.0


def test_load_missing_baseline_nc(em_dir):
    (em_dir / "baseline.nc").unlink()
    with pytest.raises(DataError, match=r"baseline.nc: missing; emulator.json says the network corrects the "
                                        r"'climatology' baseline"):
        xemu.load(em_dir)


def test_load_baseline_nc_when_json_names_none(em_dir):
    _edit_json(em_dir, lambda m: m.update(baseline=None, target_mean=[280.0, 3.0]))
    with pytest.raises(DataError, match=r"baseline.nc: present, but emulator.json says the emulator has no "
                                        r"baseline"):
        xemu.load(em_dir)


def test_load_corrupt_baseline_nc(em_dir):
    f = em_dir / "baseline.nc"
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(DataError, match=r"baseline.nc: not a netCDF file xemu can read"):
        xemu.load(em_dir)


def test_load_missing_variability_nc(em_dir):
    (em_dir / "variability.nc").unlink()
    with pytest.raises(DataError, match=r"variability.nc: missing; emulator.json names a variability model"):
        xemu.load(em_dir)


def test_load_variability_nc_when_json_names_none(em_dir):
    _edit_json(em_dir, lambda m: m.update(variability=None))
    with pytest.raises(DataError, match=r"variability.nc: present, but emulator.json says the emulator has no "
                                        r"variability model"):
        xemu.load(em_dir)


def test_load_corrupt_variability_nc(em_dir):
    f = em_dir / "variability.nc"
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(DataError, match=r"variability.nc: not a readable netCDF file"):
        xemu.load(em_dir)


def test_load_variability_nc_with_a_broken_parameter(em_dir):
    import xarray as xr

    f = em_dir / "variability.nc"
    with xr.open_dataset(f) as opened:
        ds = opened.load()
    ds["tas__residuals"][0, 0, 0, 0] = np.inf  # kept training residuals must be finite
    ds["tas__residuals"].encoding = {}  # written as floats (16-bit integers cannot hold it)
    f.unlink()
    ds.to_netcdf(f)
    with pytest.raises(DataError, match=r"variability.nc: ds.residuals: expected finite numbers"):
        xemu.load(em_dir)


def test_load_variability_nc_of_another_residual_model_than_the_json_says(em_dir):
    _edit_json(em_dir, lambda m: m["variability"].update(method="parametric"))
    with pytest.raises(DataError, match=r"variability.nc: a bootstrap residual model; emulator.json says "
                                        r"'parametric'"):
        xemu.load(em_dir)


def test_load_baseline_of_another_grid(em_dir, small):
    other = xemu.Climatology().fit(small.isel(lat=slice(0, 3)), INPUTS, TARGETS)
    (em_dir / "baseline.nc").unlink()
    other.save(em_dir / "baseline.nc")
    with pytest.raises(DataError, match=r"baseline.nc: the baseline's latitude \('lat', 3 points\) differs from "
                                        r"the emulator's grid"):
        xemu.load(em_dir)


# -- loading a baseline file ------------------------------------------------------------------
def test_load_text_file_as_baseline(tmp_path):
    f = tmp_path / "clim.nc"
    f.write_text("this is not netCDF\n")
    with pytest.raises(DataError, match=r"clim.nc: not a netCDF file xemu can read \(.*\); expected a baseline"):
        xemu.load(f)


def _write_params(fitted, tmp_path, edit) -> Path:
    params = edit(fitted.baseline.params.copy(deep=True))
    path = tmp_path / "bl.nc"
    params.to_netcdf(path)
    return path


@pytest.fixture(scope="module")
def linear(small):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xemu.LinearPatternScaling().fit(small, INPUTS, TARGETS)


BASELINE_CASES = [
    pytest.param(lambda p: p.drop_vars("mean_pr"), r"a climatology baseline of the targets \['tas', 'pr'\] needs the "
                 r"variables 'mean_pr', which are missing", id="missing-variable"),
    pytest.param(lambda p: p.isel(month=slice(0, 11)), r"variable 'mean_tas' has 11 month values; expected 12 "
                 r"\(one per calendar month\)", id="wrong-month-count"),
    pytest.param(lambda p: p.assign(mean_tas=p.mean_tas.where(p.month != 3)), r"variable 'mean_tas' expected "
                 r"finite numbers; it holds NaN", id="non-finite"),
    pytest.param(lambda p: p.assign_attrs(xemu_meta="{not json"), r"attribute xemu_meta is not valid JSON",
                 id="unreadable-meta"),
    pytest.param(lambda p: p.assign_attrs(xemu_meta=json.dumps({"kind": "climatology"})), r"attribute xemu_meta: "
                 r"missing keys 'inputs', 'targets'", id="meta-missing-keys"),
    pytest.param(lambda p: p.assign_attrs(xemu_kind="neural"), r"not a saved xemu baseline \(attribute xemu_kind is "
                 r"'neural'", id="unknown-kind"),
]


@pytest.mark.parametrize("edit, message", BASELINE_CASES)
def test_load_malformed_baseline(fitted, tmp_path, edit, message):
    path = _write_params(fitted, tmp_path, edit)
    with pytest.raises(DataError, match=r"bl.nc: " + message):
        xemu.load(path)


@pytest.mark.parametrize("value, message", [
    pytest.param(0.0, r"variable 'input_std' expected 4 positive finite numbers \(one per input\); got \[0.0",
                 id="input-std-zero"),
    pytest.param(np.inf, r"variable 'input_std' expected finite numbers", id="input-std-inf"),
])
def test_load_linear_baseline_with_bad_input_std(linear, tmp_path, value, message):
    params = linear.params.copy(deep=True)
    params["input_std"][0] = value
    params.to_netcdf(tmp_path / "lin.nc")
    with pytest.raises(DataError, match=r"lin.nc: " + message):
        xemu.load(tmp_path / "lin.nc")


# -- checkpoints ------------------------------------------------------------------------------
def _fit_with(small, ckpt):
    return small.emu.fit(INPUTS, TARGETS, epochs=1, windows_per_epoch=8, batch_size=8, progress=False,
                         config=TINY_CONFIG, baseline=None, checkpoint=ckpt)


def _good_checkpoint(small, tmp_path) -> Path:
    ckpt = tmp_path / "run.ckpt"
    _fit_with(small, ckpt)
    return ckpt


def test_checkpoint_truncated(small, tmp_path):
    ckpt = _good_checkpoint(small, tmp_path)
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"checkpoint: '.*run.ckpt' is not a readable xemu checkpoint \(.*\); it "
                                        r"may be truncated or not a checkpoint; remove it"):
        _fit_with(small, ckpt)


def test_checkpoint_text_file(small, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_text("epoch 3, loss 0.2\n")
    with pytest.raises(DataError, match=r"checkpoint: '.*run.ckpt' is not a readable xemu checkpoint"):
        _fit_with(small, ckpt)
    assert ckpt.read_text() == "epoch 3, loss 0.2\n"


def test_checkpoint_directory(small, tmp_path):
    (tmp_path / "run.ckpt").mkdir()
    with pytest.raises(PathError, match=r"checkpoint: '.*run.ckpt' is a folder; expected a checkpoint file"):
        _fit_with(small, tmp_path / "run.ckpt")


def test_checkpoint_without_its_entries(small, tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "run.ckpt")
    with pytest.raises(DataError, match=r"is not an xemu checkpoint \(no 'model', 'optimizer', .*\); remove it"):
        _fit_with(small, tmp_path / "run.ckpt")


def test_checkpoint_keys_name_every_entry_of_a_checkpoint(small, tmp_path):
    state = read_checkpoint(_good_checkpoint(small, tmp_path))  # one process; the data-parallel one: test_distributed
    assert set(state) <= set(CHECKPOINT_KEYS), sorted(set(state) - set(CHECKPOINT_KEYS))
    assert state["world_size"] == 1 and "rng_ranks" not in state


@pytest.mark.parametrize(("edit", "message"), [
    pytest.param({"world_size": 2}, r"written by a run of 2 processes \(world_size\) but holds no 'rng_ranks' \(the "
                 r"random state of each process\); remove it", id="two-processes-without-their-random-states"),
    pytest.param({"world_size": 2, "rng_ranks": [torch.zeros(3, dtype=torch.uint8)]},
                 r"entry 'rng_ranks' must be a list of 2 tensors \(the random state of each of the world_size "
                 r"processes\); got 1 entries; remove it", id="one-random-state-for-two-processes"),
    pytest.param({"world_size": 0}, r"entry 'world_size' \(the number of processes that trained\) must be an "
                 r"integer >= 1; got 0; remove it", id="world-size-zero"),
])
def test_checkpoint_with_bad_data_parallel_entries(small, tmp_path, edit, message):
    ckpt = _good_checkpoint(small, tmp_path)
    torch.save({**torch.load(ckpt, weights_only=True), **edit}, ckpt)
    with pytest.raises(DataError, match=r"^checkpoint: '.*run.ckpt': " + message):
        _fit_with(small, ckpt)


def test_checkpoint_of_another_run_is_still_a_config_error(small, tmp_path):
    ckpt = _good_checkpoint(small, tmp_path)
    with pytest.raises(ConfigError, match="written by another run"):
        small.emu.fit(INPUTS, TARGETS, epochs=1, windows_per_epoch=8, batch_size=8, progress=False,
                      config=TINY_CONFIG, baseline=None, checkpoint=ckpt, seed=7)


# -- good files stay good ---------------------------------------------------------------------
def test_round_trip_and_schema_knows_every_key_fit_writes(fitted, saved, small):
    unknown = sorted(set(fitted.meta) - set(EMULATOR_SCHEMA["properties"]))
    assert not unknown, f"fit writes keys the schema lacks; add them to xemu.io.EMULATOR_SCHEMA: {unknown}"
    loaded = xemu.load(saved)
    forcing = small.drop_vars(["tas", "pr", "tas_forced", "pr_forced"])
    np.testing.assert_array_equal(loaded.predict(forcing).tas.values, fitted.predict(forcing).tas.values)


def test_schemas_are_valid_json_schema():
    from jsonschema import Draft202012Validator

    from xemu.io import BASELINE_META_SCHEMA, MODEL_SCHEMA

    for schema in (EMULATOR_SCHEMA, MODEL_SCHEMA, BASELINE_META_SCHEMA):
        Draft202012Validator.check_schema(schema)
