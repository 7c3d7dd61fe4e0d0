import numpy as np
import pytest
import xarray as xr

import xemu
from xemu.cli import main
from xemu.cli.selection import parse_selection as _parse_selection


def test_parse_selection():
    sel = _parse_selection(["ssp=ssp126,ssp370", "member_id=0", "time=2090-02:"])
    assert sel == {"ssp": ["ssp126", "ssp370"], "member_id": 0, "time": slice("2090-02", None)}


def test_demo_writes_predictions_and_scores(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--years", "4", "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "xemu CNN-GRU" in out and "noise floor" in out and "linear pattern scaling" in out
    with xr.open_dataset(tmp_path / "predictions.nc") as pred:
        assert pred.tas.attrs["units"] == "K" and pred.pr.attrs["units"] == "mm/day"
    with xr.open_dataset(tmp_path / "scores.nc") as scores:
        assert np.isfinite(scores.competition_score.values).all()
    em = xemu.load(tmp_path / "demo.xemu")
    # the held-out months are the scored ones: the demo chooses nothing by them
    assert em.meta["train"]["restore_best"] is False and em.meta["train"]["patience"] is None
    assert "no early stopping and no best-epoch weights" in out
    # a rerun into the same folder replaces the demo's own outputs, and only those
    assert main(["demo", "--years", "4", "--epochs", "1", "--quiet", "--out", str(tmp_path), "--seed", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.xemu", "notes.txt", "predictions.nc", "scores.nc"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert isinstance(xemu.load(tmp_path / "demo.xemu"), xemu.Emulator)


def test_fit_and_predict_commands(tmp_path, capsys):
    data = tmp_path / "climate.nc"
    xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6).to_netcdf(data)
    model = tmp_path / "linear.nc"
    assert main(["fit", "--data", str(data), "--model", "linear", "--inputs", "CO2", "CH4",
                 "--targets", "tas", "--out", str(model), "--holdout", "scenario=mid"]) == 0
    out = tmp_path / "pred.nc"
    assert main(["predict", str(model), "--data", str(data), "--select", "scenario=high", "--out", str(out)]) == 0
    pred = xr.open_dataset(out)
    assert pred.tas.dims == ("time", "lat", "lon") and pred.tas.attrs["units"] == "K"


def test_predict_command_draws_seeded_samples_and_calibrates(tmp_path, capsys):
    data = tmp_path / "climate.nc"
    xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=6).to_netcdf(data)
    model = tmp_path / "linear.nc"
    assert main(["fit", "--data", str(data), "--model", "linear", "--inputs", "CO2", "CH4", "--targets", "tas",
                 "pr", "--out", str(model), "--quiet"]) == 0
    run = ["predict", str(model), "--data", str(data), "--select", "scenario=high"]
    for name in ("a.nc", "b.nc"):
        assert main([*run, "--samples", "3", "--seed", "7", "--out", str(tmp_path / name)]) == 0
    with xr.open_dataset(tmp_path / "a.nc") as a, xr.open_dataset(tmp_path / "b.nc") as b:
        assert a.tas.dims == ("realization", "time", "lat", "lon") and a.sizes["realization"] == 3
        xr.testing.assert_equal(a, b)  # the same values; only the time stamp of history differs
        assert float(a.pr.min()) >= 0
    assert main([*run, "--samples", "3", "--seed", "7", "--anchor", "decade", "--out", str(tmp_path / "e.nc")]) == 0
    assert main([*run, "--out", str(tmp_path / "f.nc")]) == 0
    with xr.open_dataset(tmp_path / "a.nc") as a, xr.open_dataset(tmp_path / "e.nc") as e, \
            xr.open_dataset(tmp_path / "f.nc") as f:
        assert "calendar years" in e.attrs["title"] and float(e.pr.min()) >= 0
        # 2015-2017 is one block: each draw's time mean is the forced response's
        np.testing.assert_allclose(e.tas.mean("time").values, np.broadcast_to(f.tas.mean("time"), (3, 4, 6)),
                                   atol=1e-3)
        assert float(abs(a.tas.mean("time") - f.tas.mean("time")).max()) > 0.01  # unanchored: they wander
    assert main([*run, "--variability", "calibrated", "--out", str(tmp_path / "c.nc")]) == 0
    with xr.open_dataset(tmp_path / "c.nc") as c:
        assert "realization" not in c.dims and "calibrated" in c.attrs["title"]
    capsys.readouterr()
    assert main([*run, "--seed", "7", "--out", str(tmp_path / "d.nc")]) == 2  # a usage error
    assert "seed: only used with samples" in capsys.readouterr().err
    assert not (tmp_path / "d.nc").exists()


def test_fit_command_chooses_the_residual_model(tmp_path, capsys):
    data = tmp_path / "climate.nc"
    xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=6).to_netcdf(data)
    fit = ["fit", "--data", str(data), "--model", "linear", "--inputs", "CO2", "CH4", "--targets", "tas", "pr",
           "--quiet"]
    kinds = {}
    for choice in ("bootstrap", "parametric", "none"):
        out = tmp_path / f"{choice}.nc"
        assert main([*fit, "--variability", choice, "--out", str(out)]) == 0
        var = xemu.load(out).variability
        kinds[choice] = None if var is None else var.method
    assert main([*fit, "--out", str(tmp_path / "default.nc")]) == 0
    assert kinds == {"bootstrap": "bootstrap", "parametric": "parametric", "none": None}
    assert xemu.load(tmp_path / "default.nc").variability.method == "bootstrap"
    capsys.readouterr()
    assert main([*fit, "--variability", "eofs", "--out", str(tmp_path / "x.nc")]) == 2
    assert "--variability: invalid choice: 'eofs'" in capsys.readouterr().err


def test_fit_replaces_its_own_output_only_with_overwrite(tmp_path, capsys):
    data = tmp_path / "climate.nc"
    ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    del ds["CO2"].attrs["units"]  # as in the CSE 151B store: CO2=Gt is declared by default
    ds.to_netcdf(data)
    fit = ["fit", "--data", str(data), "--model", "linear", "--inputs", "CO2", "CH4", "--targets", "tas",
           "--out", str(tmp_path / "linear.nc")]
    assert main(fit) == 0
    assert main(fit) == 3 and "--overwrite" in capsys.readouterr().err
    # entries equal to the units in the data are fine; the emulator records CO2's declared units
    assert main(fit + ["--overwrite", "--declare", "CO2=Gt", "CH4=Gt yr-1"]) == 0
    assert xemu.load(tmp_path / "linear.nc").meta["input_units"]["CO2"] == "Gt"


def test_user_errors_exit_with_a_documented_code_and_one_line(tmp_path, capsys):
    code = main(["predict", str(tmp_path / "missing.xemu"), "--data", str(tmp_path / "nothing"), "--out",
                 str(tmp_path / "p.nc")])
    assert code == 3  # a path that cannot be read
    err = capsys.readouterr().err
    assert err.startswith("xemu: error: emulator:") and "missing.xemu" in err and len(err.splitlines()) == 1
    data = tmp_path / "climate.nc"
    xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6).to_netcdf(data)
    code = main(["fit", "--data", str(data), "--train-select", "scenario=nope", "--out", str(tmp_path / "m")])
    assert code == 2  # bad input
    assert capsys.readouterr().err == ("xemu: error: --train-select: scenario=nope is not in the data; "
                                       "scenario labels are low, mid, high\n")


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"xemu {xemu.__version__}\n"


def test_fit_logs_every_epoch_on_stderr_and_quiet_does_not(tmp_path, capsys):
    import logging
    import re

    data = tmp_path / "climate.nc"
    xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6).to_netcdf(data)
    fit = ["fit", "--data", str(data), "--epochs", "2", "--holdout", "scenario=mid", "member=0",
           "--device", "cpu", "--inputs", "CO2", "CH4"]
    assert main(fit + ["--out", str(tmp_path / "a.xemu")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "xemu.nn.training" in line]
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
    for n, line in enumerate(lines, start=1):  # one line per epoch, with the losses
        assert re.fullmatch(rf"{stamp} INFO xemu\.nn\.training: epoch {n}/2: train loss [0-9.e+-]+, validation "
                            rf"loss [0-9.e+-]+, [0-9.]+ s \(data [0-9.]+ s\), lr [0-9.e+-]+", line), line
    assert len(lines) == 2
    assert logging.getLogger("xemu").handlers == []  # the command removes its handler when done
    assert main(fit + ["--out", str(tmp_path / "b.xemu"), "--quiet"]) == 0
    assert "xemu.nn.training" not in capsys.readouterr().err
    em = xemu.load(tmp_path / "a.xemu")
    assert em.history.sizes["epoch"] == 2 and em.meta["train"]["device"] == "cpu"
    out = tmp_path / "pred.nc"
    assert main(["predict", str(tmp_path / "a.xemu"), "--data", str(data), "--out", str(out), "--device", "cpu"]) == 0
    with xr.open_dataset(out) as pred:
        assert pred.attrs["source"] == f"xemu {xemu.__version__} cnn-gru emulator (baseline energy-balance)"


def test_device_option(tmp_path, capsys):
    import torch

    data = tmp_path / "climate.nc"
    xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6).to_netcdf(data)
    code = main(["fit", "--data", str(data), "--device", "tpu", "--out", str(tmp_path / "m")])
    assert code == 2 and "argument --device: expected auto, cpu, cuda or cuda:<n>; got 'tpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        code = main(["fit", "--data", str(data), "--device", "cuda", "--out", str(tmp_path / "m")])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("xemu: error: --device: 'cuda' asked for, but CUDA is not available")
        assert not (tmp_path / "m").exists()


def test_fit_command_energy_balance_model_and_baseline(tmp_path, capsys):
    """``xemu fit --model energy-balance`` takes the forcings with a role by default (not rsdt);
    ``--baseline energy-balance`` puts it under the CNN-GRU."""
    data = tmp_path / "climate.nc"
    xemu.synthetic_climate(n_years=12, n_lat=4, n_lon=6).to_netcdf(data)
    model = tmp_path / "eb.nc"
    assert main(["fit", "--data", str(data), "--model", "energy-balance", "--out", str(model), "--quiet",
                 "--variability", "none"]) == 0
    eb = xemu.load(model)
    assert isinstance(eb, xemu.EnergyBalancePatternScaling) and eb.inputs == ["CO2", "CH4", "SO2", "BC"]
    out = tmp_path / "pred.nc"
    assert main(["predict", str(model), "--data", str(data), "--select", "scenario=high", "--out", str(out)]) == 0
    with xr.open_dataset(out) as pred:
        assert pred.tas.attrs["units"] == "K" and np.isfinite(pred.tas.values).all()
    em_path = tmp_path / "em.xemu"
    assert main(["fit", "--data", str(data), "--baseline", "energy-balance", "--epochs", "1", "--quiet",
                 "--variability", "none", "--out", str(em_path)]) == 0
    em = xemu.load(em_path)
    assert em.meta["baseline"] == "energy-balance" and em.meta["baseline_inputs"] == ["CO2", "CH4", "SO2", "BC"]


# -- xemu evaluate on any store (issue 29) ----------------------------------------------------------
def _cmip6_store(tmp_path, form: str, **kw):
    """The synthetic CMIP6-layout ensemble written as one netCDF file, a folder of them (one file per
    experiment) or a Zarr store; returns its path."""
    from xemu.testing import synthetic_cmip6

    ds = synthetic_cmip6(n_lat=4, n_lon=6, **kw)
    if form == "file":
        ds.to_netcdf(tmp_path / "cmip6.nc")
        return tmp_path / "cmip6.nc"
    if form == "folder":
        (tmp_path / "cmip6").mkdir()
        for name in ds.experiment_id.values.tolist():
            ds.sel(experiment_id=[name]).to_netcdf(tmp_path / "cmip6" / f"{name}.nc")
        return tmp_path / "cmip6"
    ds.to_zarr(tmp_path / "cmip6.zarr")
    return tmp_path / "cmip6.zarr"


@pytest.mark.parametrize("form", ["file", "folder", "zarr"])
def test_evaluate_command_on_a_cmip6_store(tmp_path, capsys, form):
    """``xemu evaluate --data`` on the CMIP6-layout store as a netCDF file (leave one scenario out), a
    folder of netCDF files and a Zarr store (one scenario held out: the same reader path, less time)."""
    path = _cmip6_store(tmp_path, form)
    out = tmp_path / "table.nc"
    split = "loso" if form == "file" else "scenario:ssp460"
    code = main(["evaluate", "--data", str(path), "--split", split, "--models", "linear", "--quiet",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "member floor: another member as the prediction" in captured.out
    with xr.open_dataset(out) as table:
        assert np.isfinite(table.competition_score.values).all()
        if form == "file":
            assert table.fold.values.tolist() == ["ssp119", "ssp245", "ssp460", "mean"]
            assert all(f"held out: {name}" in captured.out for name in ("ssp119", "ssp245", "ssp460"))
        else:
            assert table.attrs["split"] == "scenario:ssp460" and "test on every member of ssp460 from 2025-01" \
                in table.attrs["split_description"]


def test_evaluate_command_on_a_store_shorter_than_years_exits_2(tmp_path, capsys):
    path = _cmip6_store(tmp_path, "file", n_years=10)
    code = main(["evaluate", "--data", str(path), "--split", "loso", "--models", "linear"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("xemu: error: years: the scored window is the last 20 years of each held-out scenario, "
                          "240 months") and "internal error" not in err and len(err.splitlines()) == 1
    # fewer years fit: a table, with a single member too
    code = main(["evaluate", "--data", str(path), "--split", "scenario:ssp245", "--years", "5", "--models",
                 "linear", "--member-dim", "variant_label", "--scenario-dim", "experiment_id"])
    assert code == 0 and "member floor: another member" in capsys.readouterr().out
