"""Climatology: the training mean of each target per calendar month and cell."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.encoding import month_of
from ..data.prepare import (
    Prepared,
)
from ..errors import DataError
from .base import Baseline

__all__ = ['Climatology']


class Climatology(Baseline):
    """The training mean of each target per calendar month and cell.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> clim = xemu.Climatology().fit(ds, ["CO2"], ["tas"])
    >>> clim.params["mean_tas"].sizes["month"]
    12
    """

    kind = "climatology"

    def fit(self, ds, inputs, targets, *, holdout=None, grid_alignment="position",
            variability: bool | str = True) -> Climatology:
        """Mean of the training months of each calendar month."""
        p, train = self._prepare_fit(ds, inputs, targets, holdout, grid_alignment)
        s_idx, t_idx = np.nonzero(train)
        months = month_of(p.time).values[t_idx]
        lat, lon = p.lat, p.lon
        data = {}
        for v, name in enumerate(p.target_names):
            means = np.zeros((12, lat.size, lon.size))
            for m in range(1, 13):
                sel = months == m
                if not sel.any():
                    raise DataError(f"ds: calendar month {m} has no training month for the climatology")
                means[m - 1] = p.targets[s_idx[sel], t_idx[sel], v].astype(np.float64).mean(0)
            data[f"mean_{name}"] = xr.DataArray(
                means, dims=("month", lat.dims[0], lon.dims[0]),
                attrs={"long_name": f"training climatology of {name}", "units": p.target_units[name]})
        self.set_params(xr.Dataset(data), p, holdout, grid_alignment)
        return self._fit_variability(p, train, variability)

    def predict_arrays(self, p: Prepared) -> np.ndarray:
        """``(S_in, T, V, H, W)`` float32: the climatology of each month, for every sample."""
        self._check_fitted()
        months = month_of(p.time).values - 1
        s_in = p.inputs.shape[0]
        out = [np.broadcast_to(self.params[f"mean_{n}"].values[months], (s_in, months.size,
                               *self.params[f"mean_{n}"].shape[1:])) for n in self.targets]
        return np.stack(out, axis=2).astype(np.float32)
