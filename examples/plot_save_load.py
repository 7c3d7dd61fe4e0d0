"""
Save, load in a fresh process, predict
======================================

An emulator is trained once and used many times, often by another process on another
machine. :meth:`Emulator.save <xemu.Emulator.save>` writes a folder (``emulator.json``,
``weights.pt``, ``baseline.nc``); :func:`xemu.load` reads it back in any process, checking
everything before it builds the network, and runs no code from the files.

Here a small emulator of the synthetic climate is saved, a *separate Python process*
loads it and writes its prediction to netCDF, and this process checks that the file
holds exactly what the emulator predicts here.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

import xemu
from xemu.io import write_netcdf

FAST = os.environ.get("XEMU_EXAMPLES_FAST") == "1"
OUT = Path(os.environ.get("XEMU_EXAMPLES_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)

# %%
# Train and save
# --------------
# ``overwrite=True`` replaces an emulator saved by an earlier run of this example; xemu
# never replaces a folder that holds anything else.

ds = xemu.synthetic_climate(n_years=6 if FAST else 20, n_lat=24, n_lon=36, seed=1)
inputs, targets = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
em = ds.emu.fit(inputs, targets, seed=0, progress=False,
                epochs=1 if FAST else 4, windows_per_epoch=100 if FAST else 500)
path = em.save(OUT / "synthetic.xemu", overwrite=True)
print(sorted(p.name for p in path.iterdir()))

# %%
# The forcings of one scenario go to a netCDF file (compressed, written atomically:
# :func:`xemu.io.write_netcdf`), for the other process to read.

forcing = ds[inputs].sel(scenario=["high"])
write_netcdf(forcing, OUT / "forcing.nc", overwrite=True)

# %%
# Load and predict in a fresh process
# -----------------------------------
# A new Python interpreter: nothing of this session is there but the files. The command
# line does the same with ``xemu predict synthetic.xemu --data forcing.nc --out
# predicted.nc``.

script = textwrap.dedent(f"""
    import xarray as xr
    import xemu
    from xemu.io import write_netcdf

    em = xemu.load({str(path)!r})
    print(em)
    with xr.open_dataset({str(OUT / "forcing.nc")!r}) as forcing:
        pred = em.predict(forcing.load(), device="cpu")
    write_netcdf(pred, {str(OUT / "predicted.nc")!r}, overwrite=True)
    print("wrote predicted.nc:", dict(pred.sizes))
""")
run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
print(run.stdout, run.stderr)
run.check_returncode()

# %%
# The same numbers
# ----------------
# The file written by the other process holds what this process predicts, to float32
# rounding: a few units in the last place at most (about 3e-5 K at 290 K), because the CPU
# kernels may add in another order in another process (threads, kernel choice).

here = em.predict(forcing, device="cpu")
with xr.open_dataset(OUT / "predicted.nc") as there:
    there = there.load()
for name in targets:
    diff = float(np.abs(there[name] - here[name]).max())
    print(f"{name}: largest difference {diff:.2g} {there[name].attrs['units']}")
    np.testing.assert_allclose(there[name], here[name], rtol=1e-6, atol=1e-6)
print({k: there.attrs[k] for k in ("Conventions", "title", "source", "history") if k in there.attrs})

# %%
# The prediction read back from the file, its last year's mean:

ax = there.tas.isel(time=slice(-12, None)).mean("time").emu.plot_map(coastlines=False)
plt.show()
