"""Whether two checkouts of xemu fit and predict the same, bit for bit, on a synthetic climate.

    git worktree add /tmp/xemu-before <commit>
    python benchmarks/same_results.py --other /tmp/xemu-before

Each checkout runs in its own process (``PYTHONPATH`` set to it) and writes what it fitted and
predicted to netCDF: a CNN-GRU with a holdout (forced, calibrated, 3 samples anchored to the
decade, training history), one without a baseline with the parametric residual model
(2 samples), the linear and climatology baselines (prediction and 2 samples), a streamed fit
(``stream=True``), a lazy prediction and the scores of the forced prediction. The files are
then compared with ``xarray.testing.assert_identical`` and value by value; the training
history's wall-clock seconds are left out (they are timings, not results).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys, warnings
import xarray as xr
import xemu, xemu.testing as xt
warnings.simplefilter("ignore")
out = sys.argv[1]
ds = xemu.synthetic_climate(n_years=12, n_lat=8, n_lon=12, seed=1)
train, new = ds.sel(scenario=["low", "high"]), ds.sel(scenario=["mid"])
I, T = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
small = dict(config=xt.TINY_CONFIG, batch_size=8, progress=False)
res = {}
em = train.emu.fit(I, T, epochs=2, windows_per_epoch=32, seed=3,
                   holdout={"scenario": "high", "member": 0, "time": slice("2024-01", None)}, **small)
res["cnn_forced"] = new.emu.predict(em)
res["cnn_calibrated"] = new.emu.predict(em, variability="calibrated")
res["cnn_samples"] = new.emu.predict(em, samples=3, seed=1, anchor="decade")
res["cnn_history"] = em.history.drop_vars(["seconds", "data_seconds"])
em2 = train.emu.fit(I, T, epochs=1, windows_per_epoch=16, seed=0, variability="parametric", baseline=None, **small)
res["cnn_no_baseline_samples"] = new.emu.predict(em2, samples=2, seed=0)
for model in ["linear", "climatology"]:
    bl = train.emu.fit(I, T, model=model)
    res[model] = new.emu.predict(bl)
    res[model + "_samples"] = new.emu.predict(bl, samples=2, seed=0)
ems = xemu.fit(train.chunk({"time": 48}), I, T, epochs=1, windows_per_epoch=16, seed=0, stream=True,
               variability=False, **small)
res["streamed"] = new.emu.predict(ems)
res["lazy"] = new.chunk({"time": 48}).emu.predict(em).compute()
res["scores"] = res["cnn_forced"].emu.score(new[["tas", "pr"]].sel(member=0)).compute()
for name, value in res.items():
    value = value.copy()
    value.attrs.pop("history", None)  # the provenance note starts with the time of the prediction
    value.to_netcdf(f"{out}/{name}.nc")
"""


def run(checkout: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    # in ``out``, not the caller's folder: ``python -c`` puts its working folder first on sys.path, and run
    # from a checkout's root both children would import that checkout's xemu (and compare it with itself)
    subprocess.run([sys.executable, "-c", CHILD, str(out)], env=env, check=True, cwd=out)


def compare(a: Path, b: Path) -> int:
    import xarray as xr

    differences = 0
    for file in sorted(a.glob("*.nc")):
        with xr.open_dataset(file) as x, xr.open_dataset(b / file.name) as y:
            x, y = x.load(), y.load()
        try:
            xr.testing.assert_identical(x, y)
            same = all(((x[v].values == y[v].values) | (x[v].isnull() & y[v].isnull()).values).all()
                       for v in x.data_vars)
        except AssertionError:
            same = False
        print(f"{'identical' if same else 'DIFFERENT'}  {file.stem}")
        differences += not same
    print(f"{differences} of {len(list(a.glob('*.nc')))} differ")
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True, type=Path, help="the other checkout (its repository root)")
    args = parser.parse_args()
    if not (args.other / "xemu" / "__init__.py").is_file():  # else the child would import this checkout's xemu
        parser.error(f"--other: expected a checkout of xemu (a folder holding xemu/__init__.py); got {args.other}")
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / "other", Path(tmp) / "this"]
        for checkout, out in zip([args.other, here], outs, strict=True):
            out.mkdir()
            run(checkout, out)
        return 1 if compare(*outs) else 0


if __name__ == "__main__":
    sys.exit(main())
