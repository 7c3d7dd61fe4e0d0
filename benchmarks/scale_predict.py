"""Lazy prediction at scale: predict and write stores 1x and 16x the CSE 151B store, with
emulators on each baseline side by side.

The 1x store holds one scenario's forcings (``--scenario``, 1,021 months); 16x, 16 copies of
it. For each size and each emulator (the default compact network and a small one, each on the
linear and on the energy-balance baseline), a fresh process opens the tiled Zarr store
(``benchmarks/_stores.py``: copies of the store's inputs along a new sample dim ``copy``),
predicts (lazy: :mod:`xemu.scale.lazy`) and writes the prediction with ``to_zarr``; the
process reports its seconds and its peak resident memory. Last, the same at 1x on the
in-memory path (the inputs read whole, then predicted). Each row gives months per second,
the peak memory against the same emulator's lazy 1x, and the time against the linear
baseline's with the same network, size and path (measured in the same run).

    python benchmarks/scale_predict.py --out /tmp/xemu-scale [--factors 1 4 16]

The emulators are fitted once on the store (one short epoch: speed and memory do not depend
on how well they are trained) and saved under ``--out``; stores and predictions are written
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
    if args.blocks_at_once is not None:
        import xemu.scale.lazy

        xemu.scale.lazy.BLOCKS_AT_ONCE = args.blocks_at_once
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
    print(json.dumps({"seconds": seconds, "months": months, "peak_gib": _peak_rss_gib()}))
    shutil.rmtree(target, ignore_errors=True)


#: The networks compared: the default (``compact`` preset) and a small one, whose prediction
#: costs little beside the data's reading and the baseline's.
NETWORKS = {"default": None, "small": {"conv_widths": (4, 4), "conv_strides": (2, 2), "hidden": 8, "head_hidden": 8}}


def _peak_rss_gib() -> float:
    """This process's peak resident memory (GiB): ``VmHWM`` of ``/proc/self/status``, which starts
    afresh with the program (``getrusage``'s ``ru_maxrss`` keeps the parent's peak from before the
    child's ``exec``, on Linux); ``ru_maxrss`` where there is no ``/proc``."""
    try:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        return kib / 2**20
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _emulator(out: Path, data, baseline: str, network: str) -> Path:
    """An emulator of ``network`` (:data:`NETWORKS`) on ``baseline``, fitted briefly on the store
    (speed and memory do not depend on how well it is trained); kept under ``out``."""
    import dask

    import xemu
    from xemu.evaluation import FORCING_UNITS

    path = out / f"emulator-{baseline}-{network}.xemu"
    if path.exists():
        return path
    dask.config.set(scheduler="synchronous")  # netCDF4 reads from one thread
    ds = xemu.open_cse151b(data).emu.declare_units(**FORCING_UNITS)
    train = ds.sel(ssp=["ssp126", "ssp370", "ssp585"], member_id=[0]).load()
    config = NETWORKS[network]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = train.emu.fit(INPUTS, ["tas", "pr"], epochs=1, windows_per_epoch=64, progress=False, variability=False,
                           baseline=baseline, **({"config": config} if config else {}))
    em.save(path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/xemu-scale"), help="scratch folder (stores, emulator)")
    ap.add_argument("--data", default=None, help="the CSE 151B store (default: ../shared/data/cse151b)")
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--scenario", default="ssp245", help="the scenario whose forcings the stores tile (1x: its 1,021 months)")
    ap.add_argument("--baselines", nargs="+", default=["linear", "energy-balance"],
                    help="the baselines of the emulators compared, side by side in this run")
    ap.add_argument("--networks", nargs="+", default=["small", "default"], choices=list(NETWORKS))
    ap.add_argument("--store-time-chunk", type=int, default=120, help="months per chunk of the tiled stores")
    ap.add_argument("--time-chunk", type=int, default=None, help="months per block of the lazy prediction")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch threads per process (0: torch's default)")
    ap.add_argument("--dask-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--blocks-at-once", type=int, default=None,
                    help="xemu.scale.lazy.BLOCKS_AT_ONCE in each process (default: xemu's)")
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
    dask.config.set(scheduler="synchronous")
    from xemu.evaluation import FORCING_UNITS

    src = xemu.open_cse151b(args.data).emu.declare_units(**FORCING_UNITS)[INPUTS].sel(ssp=[args.scenario])
    src = src.drop_vars([c for c in src.coords if c not in src.dims])
    emulators = {(b, n): _emulator(args.out, args.data, b, n) for n in args.networks for b in args.baselines}
    runs = [(f, False) for f in args.factors] + [(min(args.factors), True)]
    rows = []
    for factor, eager in runs:  # the emulators one after the other at each size: side by side
        store = args.out / f"inputs-{args.scenario}-x{factor}-t{args.store_time_chunk}.zarr"
        if not store.exists():
            build_tiled_store(src, store, factor, time_chunk=args.store_time_chunk)
        for (baseline, network), emulator in emulators.items():
            cmd = [sys.executable, __file__, "--child", "--store", str(store), "--emulator", str(emulator),
                   "--write", str(args.out / "prediction.zarr"), "--torch-threads", str(args.torch_threads),
                   "--dask-threads", str(args.dask_threads)]
            cmd += ["--blocks-at-once", str(args.blocks_at_once)] if args.blocks_at_once is not None else []
            cmd += ["--eager"] if eager else []
            cmd += ["--time-chunk", str(args.time_chunk)] if args.time_chunk and not eager else []
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            r = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((baseline, network, factor, "in memory" if eager else "lazy", r))
    print(f"store time chunk {args.store_time_chunk} months; lazy blocks "
          f"{args.time_chunk or 'from the chunks'}; torch threads {args.torch_threads or 'default'}, "
          f"dask threads {args.dask_threads}; blocks at once {'default' if args.blocks_at_once is None else args.blocks_at_once}; "
          f"{os.cpu_count()} CPUs")
    print(f"{'network':>8} {'baseline':>15} {'size':>5} {'path':>10} {'months':>7} {'seconds':>8} {'months/s':>9} "
          f"{'peak RSS GiB':>13} {'vs lazy 1x':>11} {'time vs linear':>15}")
    for baseline, network, factor, how, r in sorted(rows, key=lambda row: (row[1], row[2], row[3])):
        one = next(q["peak_gib"] for b, n, f, h, q in rows
                   if (b, n, h) == (baseline, network, "lazy") and f == min(args.factors))
        linear = next((q["seconds"] for b, n, f, h, q in rows if (b, n, f, h) == ("linear", network, factor, how)),
                      None)
        ratio = f"{r['seconds'] / linear:.2f}" if linear else "-"
        print(f"{network:>8} {baseline:>15} {factor:>4}x {how:>10} {r['months']:>7} {r['seconds']:>8.2f} "
              f"{r['months'] / r['seconds']:>9.0f} {r['peak_gib']:>13.2f} {r['peak_gib'] / one:>11.2f} {ratio:>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
