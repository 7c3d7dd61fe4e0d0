import numpy as np
import xarray as xr

import xemu
from xemu.cli import _parse_selection, main


def test_parse_selection():
    sel = _parse_selection(["ssp=ssp126,ssp370", "member_id=0", "time=2090-02:"])
    assert sel == {"ssp": ["ssp126", "ssp370"], "member_id": 0, "time": slice("2090-02", None)}


def test_demo_writes_predictions_and_scores(tmp_path, capsys):
    assert main(["demo", "--years", "4", "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "xemu CNN-GRU" in out and "noise floor" in out and "linear pattern scaling" in out
    pred = xr.open_dataset(tmp_path / "predictions.nc")
    assert pred.tas.attrs["units"] == "K" and pred.pr.attrs["units"] == "mm/day"
    scores = xr.open_dataset(tmp_path / "scores.nc")
    assert np.isfinite(scores.competition_score.values).all()
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


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    code = main(["predict", str(tmp_path / "missing.xemu"), "--data", str(tmp_path / "nothing"), "--out",
                 str(tmp_path / "p.nc")])
    assert code == 2
    assert "xemu: error:" in capsys.readouterr().err
