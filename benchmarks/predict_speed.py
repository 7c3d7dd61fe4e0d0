"""In-memory prediction speed of this checkout, optionally against another one, side by side.

    git worktree add /tmp/xemu-before <commit>
    python benchmarks/predict_speed.py --emulator /tmp/xemu-scale/emulator.xemu \
        --store /tmp/xemu-scale/inputs-x1-t120.zarr --other /tmp/xemu-before

Each checkout runs in its own process (``--other`` first, then this one, twice each,
alternating, so that a change of the machine's load shows); each process reads the store
into memory, predicts once to warm up, then reports the best of three predictions. The
emulator and store are those of ``benchmarks/scale_predict.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys, time, warnings
sys.path.insert(0, sys.argv[1])
import xarray as xr
import xemu
warnings.simplefilter("ignore")
em = xemu.load(sys.argv[2])
ds = xr.open_zarr(sys.argv[3]).load()
em.predict(ds)
months = em.predict(ds).tas.size // (ds.sizes["latitude"] * ds.sizes["longitude"])
best = min((lambda t: (em.predict(ds), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(f"{sys.argv[1]}: {months} months in {best:.2f} s, {months / best:.0f} months/s")
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--store", required=True, help="a Zarr store of the emulator's inputs")
    ap.add_argument("--other", help="another checkout of xemu to compare with")
    args = ap.parse_args(argv)
    here = str(Path(__file__).resolve().parents[1])
    trees = [args.other, here] * 2 if args.other else [here]
    for tree in trees:
        subprocess.run([sys.executable, "-c", CHILD, tree, args.emulator, args.store], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
