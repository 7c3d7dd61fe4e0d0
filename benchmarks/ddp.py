"""Data-parallel training on CPU: seconds per epoch of 2 processes (gloo) against 1, side by side.

Trains the compact CNN-GRU on a subset of the reference training selection of the CSE 151B
store twice, one run after the other, with the same seed, windows and global batch:

* 1 process with 2 threads (``python benchmarks/ddp.py --worker``);
* 2 processes with 1 thread each (``torchrun --standalone --nproc-per-node 2``), each
  training on half of every batch;
* 1 process with 1 thread: the scale of the other two, and how far float rounding alone
  (another thread count) moves the weights.

On a 2-core machine the first two are the fair comparison: both use both cores. Each
process reads its selection into memory first (``.load()``: netCDF4 is not thread-safe).
Prints seconds per epoch (median over the epochs; the training steps, and the whole epoch
with validation), windows per second, the speed-up, and how far the runs' validation
losses and weights are apart.

    python benchmarks/ddp.py                         # 3 epochs of 384 windows, member 0
    python benchmarks/ddp.py --windows 960 --epochs 2 --members 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def worker(args) -> None:
    import xemu
    from xemu.evaluation import FORCING_UNITS, FORCINGS, make_split
    from xemu.nn.distributed import is_main_process

    ds = xemu.open_cse151b(args.data).emu.declare_units(**FORCING_UNITS)
    split = make_split("reference", ds)
    train = ds.sel(split.train).sel(member_id=args.members)
    train = train[FORCINGS + ["tas", "pr"]].load()  # netCDF4 is not thread-safe: read it all first
    marks: list[float] = []
    t0 = time.perf_counter()
    em = train.emu.fit(FORCINGS, ["tas", "pr"], holdout=split.holdout, epochs=args.epochs, seed=0,
                       windows_per_epoch=args.windows, batch_size=args.batch_size, threads=args.threads,
                       progress=False, variability=False, patience=None, restore_best=False,
                       callback=lambda epoch, record: marks.append(time.perf_counter()))
    if is_main_process():
        world = int(os.environ.get("WORLD_SIZE", 1))
        starts = [t0] + marks[:-1]
        out = {"processes": world, "threads": torch.get_num_threads(), "history": em.meta["history"],
               "epoch_wall": [b - a for a, b in zip(starts, marks, strict=True)],
               "n_train_windows": em.meta["n_train_windows"], "n_val_windows": em.meta["n_val_windows"]}
        Path(args.out).write_text(json.dumps(out))
        torch.save(em.net.state_dict(), args.out + ".pt")


def run(args) -> None:
    here = Path(__file__).resolve()
    common = ["--worker", "--windows", str(args.windows), "--epochs", str(args.epochs), "--batch-size",
              str(args.batch_size), "--members", *map(str, args.members)]
    if args.data:
        common += ["--data", args.data]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT")}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "1 process x 2 threads": [sys.executable, str(here), *common, "--threads", "2"],
            "2 processes x 1 thread (gloo)": [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                              "--nproc-per-node", "2", str(here), *common, "--threads", "1"],
            "1 process x 1 thread": [sys.executable, str(here), *common, "--threads", "1"],
        }
        for i, (label, cmd) in enumerate(runs.items()):
            out = os.path.join(tmp, f"run{i}.json")
            subprocess.run([*cmd, "--out", out], env=env, check=True, stdout=subprocess.DEVNULL)
            results[label] = (json.loads(Path(out).read_text()), torch.load(out + ".pt", weights_only=True))

    (one, w1), (two, w2), (single, w0) = results.values()
    print(f"training windows per epoch: {args.windows} of {one['n_train_windows']} (members {args.members} of "
          f"the reference training selection), global batch {args.batch_size}, {args.epochs} epochs; "
          f"validation windows: {one['n_val_windows']}; machine: {os.cpu_count()} CPUs")
    print(f"{'run':32s} {'steps s/epoch':>14s} {'windows/s':>10s} {'epoch s with val':>17s} "
          f"{'val loss (last)':>16s}")
    for label, (res, _) in results.items():
        steps = statistics.median(h["seconds"] for h in res["history"])
        wall = statistics.median(res["epoch_wall"][1:] or res["epoch_wall"])  # the first holds reading too
        print(f"{label:32s} {steps:14.1f} {args.windows / steps:10.1f} {wall:17.1f} "
              f"{res['history'][-1]['val_loss']:16.6f}")
    for label, (res, _) in results.items():
        print(f"  steps seconds of each epoch, {label}: " + ", ".join(f"{h['seconds']:.1f}" for h in res["history"]))
    s1, s2, s0 = (statistics.median(h["seconds"] for h in r["history"]) for r in (one, two, single))
    print(f"speed-up of the training steps (medians), 2 processes x 1 thread against 1 process x 2 threads: "
          f"{s1 / s2:.2f}x; against 1 process x 1 thread: {s0 / s2:.2f}x")
    print(f"relative L2 difference of the final weights: 2 processes against 1 process x 2 threads "
          f"{_relative(w1, w2):.2e}; 1 process, 1 thread against 2 threads (rounding alone) "
          f"{_relative(w1, w0):.2e}")


def _relative(a: dict, b: dict) -> float:
    keys = [k for k in a if a[k].dtype.is_floating_point]
    diff = sum(float((a[k].double() - b[k].double()).norm() ** 2) for k in keys)
    return (diff / sum(float(a[k].double().norm() ** 2) for k in keys)) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CSE 151B folder (default: $XEMU_CSE151B or ../shared/data/cse151b)")
    parser.add_argument("--windows", type=int, default=384, help="training windows per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch")
    parser.add_argument("--members", type=int, nargs="+", default=[0], help="member_id of the training selection")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    worker(args) if args.worker else run(args)


if __name__ == "__main__":
    main()
