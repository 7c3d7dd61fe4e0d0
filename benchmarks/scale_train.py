"""Training from stores larger than memory: one epoch streamed from Zarr at 1x, 4x and 16x the CSE 151B store.

Builds (once) Zarr stores of 1, 4 and 16 copies of the CSE 151B store along a new sample dim
``copy`` (:func:`benchmarks._stores.build_tiled_store`, chunk by chunk), then, for each, runs
in a fresh process one epoch of the compact CNN-GRU streamed from the store
(``fit(..., stream=True, epochs=1, variability=False)``, the reference split of every copy)
and reports the child's peak resident memory (``ru_maxrss``), the seconds of the passes
before training, of the epoch and after it, and the epoch's throughput; and the same epoch
of the in-memory path on the 1x store, before and after the streamed runs (the machine's
load drifts; the ratios take the faster of the two). Targets of the issue: streaming
throughput within 2x of in-memory, peak memory at 16x at most 1.5x that at 1x.

``--variability bootstrap`` (or ``parametric``) fits the emulator's internal variability
too (``fit(..., variability=...)``): after the epoch, the streamed fit predicts every training
month in one more pass over the blocks and learns the residual model from them ("after s");
the in-memory runs do the same in memory. ``--months N`` builds the stores from the first
``N`` months of the CSE 151B store only (other stores, ``x16-m120.zarr``), for a shorter run.
``--baseline`` names the baseline the network corrects, in every run (default ``auto``: the
energy-balance baseline on the store's forcings, streamed as in memory; ``linear`` for the
runs before the streamed energy-balance fit).

    python benchmarks/scale_train.py --out /tmp/xemu-scale-train             # 1x, 4x, 16x; 960 windows
    python benchmarks/scale_train.py --out /tmp/xemu-scale-train --factors 1 4 --windows 320
    python benchmarks/scale_train.py --out /tmp/xemu-scale-train --factors 1 16 --windows 320 --months 120 \\
        --variability bootstrap                                               # with internal variability
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def build(out: Path, factors: list[int], data: str | None, months: int | None = None) -> dict[int, Path]:
    """The tiled stores, built where missing (a ``.complete`` marker says a store was finished); of the
    first ``months`` months only when given."""
    sys.path.insert(0, str(REPO))
    import xemu
    from benchmarks._stores import build_tiled_store, open_store

    paths = {}
    tag = f"-m{months}" if months else ""
    for f in factors:  # 1 first: the larger stores copy the 1x Zarr store (faster to read than the netCDF files)
        path = out / f"x{f}{tag}.zarr"
        if not (out / f"x{f}{tag}.complete").exists():
            t0 = time.perf_counter()
            if f == 1:
                src = xemu.open_cse151b(data)
                src = src.isel(time=slice(0, months)) if months else src
            else:
                src = open_store(paths[1]).isel(copy=0, drop=True)
            build_tiled_store(src, path, f, overwrite=True)
            (out / f"x{f}{tag}.complete").write_text("")
            print(f"built {path} ({f} copies) in {time.perf_counter() - t0:.0f} s", flush=True)
        paths[f] = path
    return paths


def child(store: str, windows: int, stream: bool, variability: str = "none", baseline: str = "auto") -> None:
    """One epoch on the store's reference split (every copy), and the residual model after it with
    ``variability`` other than ``"none"``; prints one JSON line."""
    sys.path.insert(0, str(REPO))
    warnings.simplefilter("ignore")
    import torch

    import xemu
    from benchmarks._stores import open_store, sizes
    from xemu.evaluation import FORCING_UNITS, FORCINGS, make_split

    t0 = time.perf_counter()
    ds = open_store(store).emu.declare_units(**FORCING_UNITS)
    split = make_split("reference", ds.isel(copy=0))
    train = ds.sel(split.train)
    records, ended = [], []
    em = xemu.fit(train, FORCINGS, ["tas", "pr"], holdout=split.holdout, epochs=1, windows_per_epoch=windows,
                  variability=False if variability == "none" else variability, device="cpu", progress=False,
                  stream=stream, seed=0, baseline=baseline,
                  callback=lambda epoch, record: (records.append(record), ended.append(time.perf_counter())))
    total = time.perf_counter() - t0
    rec = records[0]
    if variability != "none" and em.variability is None:
        raise SystemExit(f"--variability {variability}: the fit learned none (see its warning)")
    print(json.dumps({
        "store": sizes(train), "copies": int(ds.sizes["copy"]), "stream": stream, "baseline": em.meta["baseline"],
        "samples": int(train.tas.size // (train.sizes["time"] * train.sizes["y"] * train.sizes["x"])),
        "train_windows": em.meta["n_train_windows"], "windows": min(windows, em.meta["n_train_windows"]),
        "total_s": total, "epoch_s": rec["seconds"], "data_s": rec["data_seconds"], "val_loss": rec["val_loss"],
        "after_s": t0 + total - ended[-1], "variability": repr(em.variability),
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "threads": torch.get_num_threads(),
    }), flush=True)


def run_child(store: Path, windows: int, stream: bool, variability: str = "none", baseline: str = "auto") -> dict:
    """Run :func:`child` in a fresh process (its own peak memory); its JSON line as a dict."""
    cmd = [sys.executable, __file__, "--child", str(store), "--windows", str(windows), "--variability",
           variability, "--baseline", baseline] + (["--stream"] if stream else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/xemu-scale-train", help="folder of the tiled stores (never the repository)")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--windows", type=int, default=960, help="training windows in the epoch")
    parser.add_argument("--data", default=None, help="CSE 151B folder (default: $XEMU_CSE151B or ../shared/data/cse151b)")
    parser.add_argument("--variability", default="none", choices=["none", "bootstrap", "parametric"],
                        help="also learn internal variability after the epoch (default: none)")
    parser.add_argument("--months", type=int, default=None,
                        help="build the stores from the first MONTHS months only (default: all)")
    parser.add_argument("--baseline", default="auto", choices=["auto", "energy-balance", "linear"],
                        help="the baseline the network corrects, in every run (default: auto)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.windows, args.stream, args.variability, args.baseline)
        return
    out = Path(args.out).resolve()
    if out == REPO or REPO in out.parents:
        raise SystemExit(f"--out: {out} is inside the repository; use a folder under /tmp")
    out.mkdir(parents=True, exist_ok=True)
    paths = build(out, sorted(set(args.factors) | {1}), args.data, args.months)
    runs = [("1x in memory", 1, False)] + [(f"{f}x streamed", f, True) for f in sorted(args.factors)]
    rows = []
    for name, f, stream in [*runs, ("1x in memory", 1, False)]:
        rows.append((name, run_child(paths[f], args.windows, stream, args.variability, args.baseline)))
        print(name, json.dumps(rows[-1][1]), flush=True)

    what = "" if args.variability == "none" else f", then variability={args.variability!r} (after s)"
    print(f"\none epoch of {args.windows} windows (batch 32), compact preset, CPU "
          f"({rows[0][1]['threads']} threads){what}; reference split of every copy; baseline {rows[0][1]['baseline']}"
          + (f"; first {args.months} months of the store" if args.months else ""))
    head = (f"{'run':<14} {'data':>22} {'samples':>7} {'windows':>8} {'before s':>8} {'epoch s':>8} "
            f"{'after s':>8} {'windows/s':>9} {'wait':>6} {'peak RSS':>9}")
    print(head)
    print("-" * len(head))
    for name, r in rows:
        print(f"{name:<14} {r['store']:>22} {r['samples']:>7} {r['train_windows']:>8} "
              f"{r['total_s'] - r['epoch_s'] - r['after_s']:>8.1f} {r['epoch_s']:>8.1f} {r['after_s']:>8.1f} "
              f"{r['windows'] / r['epoch_s']:>9.1f} "
              f"{r['data_s'] / r['epoch_s']:>6.1%} {r['peak_gib']:>6.2f} GiB")
    mem = max((r for name, r in rows if "memory" in name), key=lambda r: r["windows"] / r["epoch_s"])
    streamed = {name: r for name, r in rows if "streamed" in name}
    rate = mem["windows"] / mem["epoch_s"]
    speed = {n: (r["windows"] / r["epoch_s"]) / rate for n, r in streamed.items()}
    print(f"\nstreaming throughput / in-memory (the faster in-memory run, {rate:.1f} windows/s): "
          + ", ".join(f"{n.split()[0]} {v:.2f}" for n, v in speed.items()) + " (target: at least 0.5)")
    if "1x streamed" in streamed and len(streamed) > 1:
        name, big = list(streamed.items())[-1]
        print(f"peak RSS {name.split()[0]} / 1x: {big['peak_gib'] / streamed['1x streamed']['peak_gib']:.2f} "
              f"(target: at most 1.5); in memory at 1x: {mem['peak_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
