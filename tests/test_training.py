import logging
import sys

import pytest
import torch

from xemu.errors import ConfigError
from xemu.nn.device import choose_device
from xemu.nn.training import TrainConfig, atomic_torch_save, interactive
from xemu.testing import TINY_CONFIG as TINY

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
HOLDOUT = {"scenario": "mid", "member": 0, "time": slice("2017-01", None)}


def _fit(ds, **kw):
    opts = dict(epochs=3, windows_per_epoch=40, batch_size=8, progress=False, config=TINY, holdout=HOLDOUT)
    return ds.emu.fit(INPUTS, TARGETS, **{**opts, **kw})


def _same_weights(a, b):
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_deterministic_on_cpu(synthetic):
    assert _same_weights(_fit(synthetic, seed=3), _fit(synthetic, seed=3))
    assert not _same_weights(_fit(synthetic, seed=3), _fit(synthetic, seed=4))


@pytest.mark.parametrize("ema", [None, 0.9])
def test_resume_from_checkpoint_gives_the_uninterrupted_weights(synthetic, tmp_path, ema):
    full = _fit(synthetic, seed=1, ema=ema)
    ckpt = tmp_path / "run.ckpt"

    def interrupt(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill after the second epoch")

    with pytest.raises(KeyboardInterrupt):
        _fit(synthetic, seed=1, checkpoint=ckpt, callback=interrupt, ema=ema)
    assert ckpt.exists() and not list(tmp_path.glob(".*tmp*"))
    epochs_after_resume = []
    resumed = _fit(synthetic, seed=1, checkpoint=ckpt, ema=ema,
                   callback=lambda e, r: epochs_after_resume.append(e))
    assert epochs_after_resume == [2]
    assert _same_weights(full, resumed)
    for name in ("train_loss", "val_loss", "lr"):
        assert full.history[name].values.tolist() == resumed.history[name].values.tolist()


def test_checkpoint_of_another_run_is_refused(synthetic, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    _fit(synthetic, seed=1, epochs=1, checkpoint=ckpt)
    with pytest.raises(ConfigError, match="another run"):
        _fit(synthetic, seed=2, epochs=1, checkpoint=ckpt)


def test_early_stopping_and_best_epoch(synthetic):
    em = _fit(synthetic, epochs=6, patience=1, lr=0.05, warmup=0.0, schedule="constant")
    vals = em.history.val_loss.values.tolist()
    best = min(range(len(vals)), key=vals.__getitem__)
    assert em.meta["best_epoch"] == best
    assert len(vals) <= 6
    if len(vals) < 6:  # stopped early: the epoch after the best did not improve
        assert len(vals) - 1 - best >= 1


def test_atomic_save_replaces_whole_files(tmp_path):
    path = tmp_path / "x.pt"
    atomic_torch_save({"a": torch.ones(2)}, path)
    atomic_torch_save({"a": torch.zeros(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_device_choice_and_guard():
    assert choose_device("cpu").type == "cpu"
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            choose_device("cuda")


def test_bad_train_options(synthetic):
    with pytest.raises(ConfigError):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="unknown option"):
        _fit(synthetic, epochs=1, learning_rate=1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_training_with_bf16(synthetic):
    em = _fit(synthetic, epochs=1, device="cuda")
    assert em.meta["device"].startswith("cuda") and float(em.history.train_loss[0]) > 0
    assert em.predict(synthetic.drop_vars(TARGETS), device="cuda").tas.notnull().all()


def test_ema_weights_are_the_average_not_the_last_step(synthetic):
    kw = dict(seed=2, restore_best=False, epochs=2)
    raw, averaged = _fit(synthetic, **kw), _fit(synthetic, ema=0.5, **kw)
    assert not _same_weights(raw, averaged)
    with pytest.raises(ConfigError, match="ema"):
        TrainConfig(ema=1.5)


def test_history_is_a_labelled_dataset(synthetic):
    em = _fit(synthetic, epochs=2)
    h = em.history
    assert h.epoch.values.tolist() == [1, 2]
    assert set(h.data_vars) == {"train_loss", "val_loss", "seconds", "data_seconds", "lr"}
    for name, da in h.data_vars.items():
        assert da.dims == ("epoch",) and da.attrs["long_name"] and da.attrs["units"], name
    assert h.seconds.attrs["units"] == "s"
    assert h.train_loss.values.tolist() == [r["train_loss"] for r in em.meta["history"]]  # the raw records
    no_val = _fit(synthetic, epochs=1, holdout=None)
    assert "val_loss" not in no_val.history and no_val.history.sizes["epoch"] == 1


def test_one_log_record_per_epoch_and_no_bar_off_a_terminal(synthetic, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="xemu.nn.training"):
        em = _fit(synthetic, epochs=2, progress=True)  # stderr is not a terminal here: no bar
    records = [r for r in caplog.records if r.name == "xemu.nn.training"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    for n, (rec, row) in enumerate(zip(records, em.meta["history"], strict=True), start=1):
        text = rec.getMessage()
        assert "\n" not in text
        assert text.startswith(f"epoch {n}/2: train loss {row['train_loss']:.4g}, "
                               f"validation loss {row['val_loss']:.4g}, ")
        assert " s (data " in text and text.endswith(f"lr {row['lr']:.3g}")
    assert "epoch 1/2" not in capsys.readouterr().err  # the bar (its description) was not drawn


def test_bar_only_when_interactive(monkeypatch):
    class Tty:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.setattr(sys, "stderr", Tty(True))
    assert interactive()
    monkeypatch.setattr(sys, "stderr", Tty(False))
    assert not interactive()
    monkeypatch.setattr(sys, "stderr", None)
    assert not interactive()
