"""Data-parallel training (xemu.nn.distributed): two CPU processes (gloo) started by torchrun.

One ``torchrun --standalone --nproc-per-node 2`` launch (this file run as a script) trains
in every scenario the tests need and saves what each rank saw; the tests compare it with
one process trained here. The launch has a time limit and is killed with its workers when
it runs over, so a hung collective fails the tests instead of hanging the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import xemu
from xemu.data.windows import WindowLoader
from xemu.errors import ConfigError, DataError
from xemu.io import CHECKPOINT_KEYS, read_checkpoint
from xemu.nn.distributed import LAUNCH_VARIABLES, is_distributed, setup
from xemu.nn.training import TrainConfig
from xemu.testing import TINY_CONFIG as TINY

INPUTS, TARGETS = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
HOLDOUT = {"scenario": "mid", "member": 0, "time": slice("2017-01", None)}
# 43 windows an epoch in global batches of 8: five full batches (4 windows a rank) and a last
# batch of 3, cut 2 + 1 and weighted; 2 epochs
OPTIONS = dict(epochs=2, windows_per_epoch=43, batch_size=8, seed=1, progress=False, config=TINY,
               holdout=HOLDOUT, variability=False)
LAUNCH_TIMEOUT = 240  # seconds; the launch takes about 25 s on a busy 2-core machine

# Two processes and one agree up to the order of float summation (gloo's sum of two halves,
# batch-norm statistics summed over ranks). Measured after 12 steps: relative L2 difference of
# the whole state 7e-6, of the predictions about 1e-7 of their spread. The conv biases before
# batch norm have no true gradient (batch norm removes them), so Adam turns rounding noise into
# lr-sized steps there: they are compared through the predictions, which they do not change.
STATE_RTOL = 1e-4
PRED_RTOL = 1e-5
# the synthetic climate's forcings are nearly collinear (the baseline says so); not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:inputs. the training design is poorly conditioned")


def _ddp_dataset(rank: int):
    """Every rank's data; rank 1 gets another climate in the 'different data' scenario."""
    return xemu.synthetic_climate(n_years=3, n_lat=8, n_lon=12, seed=rank)


def _record_loader_calls(calls: list) -> tuple:
    """Patch WindowLoader to record ``plan`` and ``batch`` calls of the training loader; returns the originals."""
    original = WindowLoader.batch

    def plan(self, batches):
        if self.shuffle:
            calls.append(("plan", [np.asarray(b).tolist() for b in batches]))

    def batch(self, which):
        if self.shuffle:
            calls.append(("batch", np.asarray(which).tolist()))
        return original(self, which)

    return plan, batch


def _worker(out: Path) -> None:  # pragma: no cover - runs in the torchrun processes
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    ds = _ddp_dataset(0)
    res: dict = {}

    calls: list = []
    original = WindowLoader.batch
    WindowLoader.plan, WindowLoader.batch = _record_loader_calls(calls)
    em = ds.emu.fit(INPUTS, TARGETS, **OPTIONS)
    del WindowLoader.plan
    WindowLoader.batch = original
    res["calls"] = calls
    res["state"] = em.net.state_dict()
    res["history"] = em.meta["history"]
    res["pred"] = ds.emu.predict(em).tas.values

    ckpt = out / "run.ckpt"

    def interrupt(epoch, record):
        if epoch == 0:
            raise KeyboardInterrupt("simulated kill after the first epoch")

    try:
        ds.emu.fit(INPUTS, TARGETS, checkpoint=ckpt, callback=interrupt, **OPTIONS)
    except KeyboardInterrupt:
        res["interrupted"] = True
    after: list = []
    resumed = ds.emu.fit(INPUTS, TARGETS, checkpoint=ckpt, callback=lambda e, r: after.append(e), **OPTIONS)
    res["resumed_state"], res["resumed_epochs"] = resumed.net.state_dict(), after
    res["resumed_history"] = resumed.meta["history"]

    for name, data, options in [("batch_size", ds, {**OPTIONS, "batch_size": 7}),
                                ("data", _ddp_dataset(rank), OPTIONS)]:
        try:
            data.emu.fit(INPUTS, TARGETS, **options)
        except (ConfigError, DataError) as err:
            res[name] = (type(err).__name__, str(err))

    from xemu.cli import main

    res["cli"] = main(["fit", "--data", str(out / "climate.nc"), "--inputs", "CO2", "CH4", "--epochs", "1",
                       "--device", "cpu", "--distributed", "--quiet", "--out", str(out / "cli.xemu")])
    torch.save(res, out / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """What each of the two ranks saved (a dict per rank), and the launch's folder."""
    out = tmp_path_factory.mktemp("ddp")
    _cli_data(out)
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           __file__, str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its workers
        log, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {LAUNCH_TIMEOUT} s:\n{log[-4000:]}")
    if proc.returncode != 0:
        pytest.fail(f"torchrun failed ({proc.returncode}):\n{log[-4000:]}")
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)], out


@pytest.fixture(scope="module")
def one_process(monkeypatch_module):
    """The same training in this one process, with the training loader's calls recorded."""
    calls: list = []
    plan, batch = _record_loader_calls(calls)
    monkeypatch_module.setattr(WindowLoader, "plan", plan, raising=False)
    monkeypatch_module.setattr(WindowLoader, "batch", batch)
    ds = _ddp_dataset(0)
    em = ds.emu.fit(INPUTS, TARGETS, **OPTIONS)
    monkeypatch_module.undo()
    return em, ds.emu.predict(em).tas.values, calls


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _cli_data(folder: Path) -> Path:
    path = folder / "climate.nc"
    xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6).to_netcdf(path)
    return path


def _relative(a: dict, b: dict) -> float:
    keys = [k for k in a if a[k].dtype.is_floating_point]
    num = sum(float((a[k].double() - b[k].double()).norm() ** 2) for k in keys)
    den = sum(float(a[k].double().norm() ** 2) for k in keys)
    return (num / den) ** 0.5


def test_two_processes_train_like_one_on_the_whole_batch(ddp, one_process):
    (r0, r1), _ = ddp
    em, pred, _ = one_process
    for k in r0["state"]:  # every rank ends with the same weights, bit for bit
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    assert _relative(em.net.state_dict(), r0["state"]) < STATE_RTOL
    assert np.abs(r0["pred"] - pred).max() < PRED_RTOL * pred.std()
    for name in ("train_loss", "val_loss"):  # all-reduced: the one-process numbers, the same on every rank
        one = [h[name] for h in em.meta["history"]]
        assert [h[name] for h in r0["history"]] == [h[name] for h in r1["history"]]
        np.testing.assert_allclose([h[name] for h in r0["history"]], one, rtol=PRED_RTOL)
    assert [h["lr"] for h in r0["history"]] == [h["lr"] for h in em.meta["history"]]


def test_each_rank_plans_and_reads_only_its_slice_of_each_batch(ddp, one_process):
    (r0, r1), _ = ddp
    *_, calls = one_process
    batches = {"one": [c[1] for c in calls if c[0] == "batch"]}
    for r, res in enumerate((r0, r1)):
        plans = [c[1] for c in res["calls"] if c[0] == "plan"]
        assert len(plans) == 2  # one per epoch, before its batches, in the order they are read
        batches[r] = [c[1] for c in res["calls"] if c[0] == "batch"]
        assert batches[r] == [ids for plan in plans for ids in plan]
    assert [len(b) for b in batches[0]] == [4] * 5 + [2] + [4] * 5 + [2]
    assert [len(b) for b in batches[1]] == [4] * 5 + [1] + [4] * 5 + [1]
    assert [a + b for a, b in zip(batches[0], batches[1], strict=True)] == batches["one"]


def test_resume_under_two_processes_equals_the_uninterrupted_run(ddp):
    (r0, r1), out = ddp
    for res in (r0, r1):
        assert res["interrupted"] and res["resumed_epochs"] == [1]
        for k in res["state"]:
            assert torch.equal(res["resumed_state"][k], r0["state"][k]), k
        assert [h["val_loss"] for h in res["resumed_history"]] == [h["val_loss"] for h in r0["history"]]
    state = torch.load(out / "run.ckpt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2


def test_a_data_parallel_checkpoint_validates(ddp):
    _, out = ddp
    state = read_checkpoint(out / "run.ckpt")  # the checks of every checkpoint, and of its data-parallel entries
    assert set(state) <= set(CHECKPOINT_KEYS), sorted(set(state) - set(CHECKPOINT_KEYS))
    assert {"world_size", "rng_ranks"} <= set(state)
    assert state["world_size"] == 2 and [r.dtype for r in state["rng_ranks"]] == [torch.uint8] * 2


def test_a_checkpoint_of_two_processes_is_not_resumed_by_one(ddp):
    _, out = ddp
    with pytest.raises(ConfigError, match="written by a run of 2 processes and this run has 1"):
        _ddp_dataset(0).emu.fit(INPUTS, TARGETS, checkpoint=out / "run.ckpt", **OPTIONS)


def test_batch_size_must_divide_among_the_processes(ddp):
    (r0, r1), _ = ddp
    assert r0["batch_size"] == r1["batch_size"]
    kind, message = r0["batch_size"]
    assert kind == "ConfigError"
    assert message.startswith("batch_size: expected a multiple of the number of processes (2, WORLD_SIZE)")
    assert "got 7" in message


def test_ranks_with_different_data_all_raise(ddp):
    (r0, r1), _ = ddp
    for kind, message in (r0["data"], r1["data"]):
        assert kind == "DataError"
        assert "ranks [1] differ from rank 0" in message and "same data with the same options" in message


def test_distributed_requested_without_the_launcher(synthetic, monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not is_distributed(None)
    with pytest.raises(ConfigError, match=r"distributed: True .* RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, "
                                          r"MASTER_PORT are missing .* torchrun --nproc-per-node N"):
        synthetic.emu.fit(INPUTS, TARGETS, **{**OPTIONS, "epochs": 1, "distributed": True})
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")  # half a torchrun environment
    with pytest.raises(ConfigError, match="LOCAL_RANK, MASTER_ADDR, MASTER_PORT are missing"):
        is_distributed(None)
    assert not is_distributed(False)


@pytest.mark.parametrize(("env", "device", "match"), [
    ({"RANK": "x"}, "cpu", "environment variable RANK: expected an integer >= 0 and < 2; got 'x'"),
    ({"RANK": "2"}, "cpu", "environment variable RANK: expected an integer >= 0 and < 2; got '2'"),
    ({}, "mps", "no MPS backend"),
    pytest.param({}, "cuda", "CUDA is not available here", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="CUDA is available")),
])
def test_launcher_environment_and_device_errors(monkeypatch, env, device, match):
    launch = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    for name, value in {**launch, **env}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=match):
        setup(None, device)  # raised before any process group is made


def test_fit_command_under_torchrun_saves_once(ddp):
    (r0, r1), out = ddp
    assert r0["cli"] == r1["cli"] == 0
    em = xemu.load(out / "cli.xemu")  # rank 0 saved it; rank 1 wrote nothing
    assert em.meta["train"]["distributed"] is True and em.history.sizes["epoch"] == 1


def test_fit_command_distributed_without_torchrun(tmp_path, capsys, monkeypatch):
    from xemu.cli import main

    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    code = main(["fit", "--data", str(_cli_data(tmp_path)), "--inputs", "CO2", "CH4", "--distributed",
                 "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("xemu: error: distributed: True asks for data-parallel training")
    assert "torchrun --nproc-per-node N" in err and not (tmp_path / "m").exists()


def test_distributed_option_is_checked():
    with pytest.raises(ConfigError, match="distributed: expected True, False or None"):
        TrainConfig(distributed="yes")


if __name__ == "__main__":  # pragma: no cover - torchrun runs this file in each process
    _worker(Path(sys.argv[1]))
