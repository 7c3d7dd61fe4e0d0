"""Lazy prediction at scale: predict and write stores 1x, 4x and 16x the CSE 151B store.

For each size, a fresh process opens the tiled Zarr store (``benchmarks/_stores.py``: copies
of the store's inputs along a new sample dim ``copy``), predicts with an emulator of the
default compact network (lazy: :mod:`xemu.scale.lazy`) and writes the prediction with
``to_zarr``; the process reports its seconds and its peak resident memory. A last process
does the same at 1x on the in-memory path (the inputs read whole, then predicted), for
comparison.

    python benchmarks/scale_predict.py --out /tmp/xemu-scale

The emulator is fitted once on the store (one short epoch: speed and memory do not depend
on how well it is trained) and saved under ``--out``; stores and predictions are written
there too (about 1.1 GB at 16x), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

INPUTS = ["CO2", "CH4", "SO2", "BC", "rsdt"]


def _child(args) -> None:
    """One measured run: open, predict, write; print seconds and peak memory as JSON."""
    import dask
    import torch
    import xarray as xr

    import xemu

    warnings.simplefilter("ignore")
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    dask.config.set(num_workers=args.dask_threads)
    em = xemu.load(args.emulator)
    target = Path(args.write)
    shutil.rmtree(target, ignore_errors=True)
    t0 = time.perf_counter()
    ds = xr.open_zarr(args.store, consolidated=True)
    if args.eager:
        ds = ds.load()
        pred = em.predict(ds)
    else:
        pred = em.predict(ds, time_chunk=args.time_chunk)
    pred.to_zarr(target, mode="w", consolidated=True)
    seconds = time.perf_counter() - t0
    months = int(pred.tas.size // (pred.tas.shape[-1] * pred.tas.shape[-2]))
    print(json.dumps({"seconds": seconds, "months": months,
                      "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
    shutil.rmtree(target, ignore_errors=True)


def _emulator(out: Path, data) -> Path:
    """An emulator of the default compact network on the store (fitted once, kept under ``out``)."""
    import dask

    import xemu
    from xemu.evaluation import FORCING_UNITS

    path = out / "emulator.xemu"
    if path.exists():
        return path
    dask.config.set(scheduler="synchronous")  # netCDF4 reads from one thread
    ds = xemu.open_cse151b(data).emu.declare_units(**FORCING_UNITS)
    train = ds.sel(ssp=["ssp126", "ssp370", "ssp585"], member_id=[0]).load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = train.emu.fit(INPUTS, ["tas", "pr"], epochs=1, windows_per_epoch=64, progress=False, variability=False)
    em.save(path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/xemu-scale"), help="scratch folder (stores, emulator)")
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: ../shared/data/cse151b)")
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--store-time-chunk", type=int, default=120, help="months per chunk of the tiled stores")
    ap.add_argument("--time-chunk", type=int, default=None, help="months per block of the lazy prediction")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch threads per process (0: torch's default)")
    ap.add_argument("--dask-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--eager", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--emulator", help=argparse.SUPPRESS)
    ap.add_argument("--write", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args)
        return 0

    import dask
    from _stores import build_tiled_store

    import xemu

    args.out.mkdir(parents=True, exist_ok=True)
    emulator = _emulator(args.out, args.data)
    dask.config.set(scheduler="synchronous")
    from xemu.evaluation import FORCING_UNITS

    src = xemu.open_cse151b(args.data).emu.declare_units(**FORCING_UNITS)[INPUTS]
    src = src.drop_vars([c for c in src.coords if c not in src.dims])
    runs = [(f, False) for f in args.factors] + [(min(args.factors), True)]
    rows = []
    for factor, eager in runs:
        store = args.out / f"inputs-x{factor}-t{args.store_time_chunk}.zarr"
        if not store.exists():
            build_tiled_store(src, store, factor, time_chunk=args.store_time_chunk)
        cmd = [sys.executable, __file__, "--child", "--store", str(store), "--emulator", str(emulator),
               "--write", str(args.out / "prediction.zarr"), "--torch-threads", str(args.torch_threads),
               "--dask-threads", str(args.dask_threads)]
        cmd += ["--eager"] if eager else []
        cmd += ["--time-chunk", str(args.time_chunk)] if args.time_chunk and not eager else []
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((factor, "in memory" if eager else "lazy", r))
    base = next(r["peak_gib"] for f, how, r in rows if how == "lazy" and f == min(args.factors))
    print(f"store time chunk {args.store_time_chunk} months; lazy blocks "
          f"{args.time_chunk or 'from the chunks'}; torch threads {args.torch_threads or 'default'}, "
          f"dask threads {args.dask_threads}; {os.cpu_count()} CPUs")
    print(f"{'size':>5} {'path':>10} {'series':>7} {'months':>7} {'seconds':>8} {'months/s':>9} "
          f"{'peak RSS GiB':>13} {'vs lazy 1x':>11}")
    for factor, how, r in rows:
        print(f"{factor:>4}x {how:>10} {r['months'] // 1021:>7} {r['months']:>7} {r['seconds']:>8.1f} "
              f"{r['months'] / r['seconds']:>9.0f} {r['peak_gib']:>13.2f} {r['peak_gib'] / base:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
