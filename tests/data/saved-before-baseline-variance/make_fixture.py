"""How the files beside this script were made, with xemu at commit e327b0d (before a CNN-GRU on a
baseline took each decade's calibrated variance from the baseline; its record says
``variability.calibration: "internal variance added per block"``): ``python make_fixture.py
<this folder>``. ``tests/test_saved_fixture.py`` loads ``tiny.xemu`` with today's xemu and
predicts the same three Datasets bit for bit. Do not rerun it with a newer xemu: the files are
the record of what that commit saved.

That commit's defaults: the energy-balance baseline (``baseline="auto"`` with CO2 in the inputs
and tas in the targets), the block bootstrap of whole training years, the internal variance
added to each block's own.
"""

from __future__ import annotations

import sys


def main(out: str) -> None:
    import xemu
    import xemu.testing as xt

    ds = xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=8, seed=0)
    train = ds.sel(scenario=["low", "high"])
    em = train.emu.fit(inputs=["CO2", "CH4", "SO2", "BC", "rsdt"], targets=["tas", "pr"],
                       config=xt.TINY_CONFIG, epochs=2, windows_per_epoch=16, batch_size=8, seed=0,
                       progress=False)
    em.save(f"{out}/tiny.xemu", overwrite=True)
    new = ds.sel(scenario=["mid"])
    new.emu.predict(em).to_netcdf(f"{out}/tiny-forced.nc")
    new.emu.predict(em, variability="calibrated").to_netcdf(f"{out}/tiny-calibrated.nc")
    new.emu.predict(em, samples=2, seed=0).to_netcdf(f"{out}/tiny-samples.nc")


if __name__ == "__main__":
    main(sys.argv[1])
