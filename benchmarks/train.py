"""One training epoch of the compact CNN-GRU on the CSE 151B training selection.

Prints seconds per epoch, peak memory, the parameter count and the fraction of the epoch
spent waiting for data (gathering window batches), which should stay under 10 %.

    python benchmarks/train.py                 # CPU (all windows of the reference training split)
    python benchmarks/train.py --device cuda   # GPU, bf16 autocast
    python benchmarks/train.py --windows 2500  # a shorter epoch (the default training setting)
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch

import xemu
from xemu.evaluation import FORCING_UNITS, FORCINGS, make_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CSE 151B folder (default: $XEMU_CSE151B or ../shared/data/cse151b)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--windows", type=int, default=None, help="windows in the epoch (default: all)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    t0 = time.perf_counter()
    ds = xemu.open_cse151b(args.data).emu.declare_units(**FORCING_UNITS)
    split = make_split("reference", ds)
    train = ds.sel(split.train)
    epochs = []
    em = train.emu.fit(FORCINGS, ["tas", "pr"], holdout=split.holdout, epochs=1, device=args.device,
                       windows_per_epoch=args.windows, batch_size=args.batch_size, progress=False,
                       callback=lambda epoch, record: epochs.append(record))
    total = time.perf_counter() - t0
    rec = epochs[0]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    device = args.device if args.device != "cpu" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    if args.device.startswith("cuda") and torch.cuda.is_available():
        device = f"{torch.cuda.get_device_name()} (peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB)"
    n_windows = min(em.meta["n_train_windows"], args.windows or em.meta["n_train_windows"])
    print(f"device: {device}")
    print(f"parameters (compact preset): {em.n_parameters:,} ({em.n_parameters / 352_878_672:.2%} of the study's)")
    print(f"training windows in the epoch: {n_windows} of {em.meta['n_train_windows']} (batch {args.batch_size})")
    print(f"seconds per epoch: {rec['seconds']:.1f}  ({n_windows / rec['seconds']:.1f} windows/s)")
    print(f"waiting for data: {rec['data_seconds']:.2f} s = {rec['data_seconds'] / rec['seconds']:.1%} of the epoch")
    print(f"validation loss after one epoch: {rec['val_loss']:.4f}")
    print(f"peak resident memory of the process: {peak_gib:.2f} GiB")
    print(f"whole run (open, prepare, baseline, one epoch, validation): {total:.1f} s")


if __name__ == "__main__":
    main()
