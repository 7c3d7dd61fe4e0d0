"""The ``ds.emu`` / ``da.emu`` accessor: thin, stateless methods that delegate.

The accessor holds only the object it was made for (xarray makes a new one for every
new object, so nothing can be kept on it). Each method forwards to a plain function.
"""

from __future__ import annotations

import xarray as xr

from . import metrics
from .data import coords, encoding, units
from .data.coords import Roles

__all__ = ["EmuAccessor"]


@xr.register_dataset_accessor("emu")
@xr.register_dataarray_accessor("emu")
class EmuAccessor:
    """xemu's methods on Datasets and DataArrays (``ds.emu.fit(...)``, ``pred.emu.score(...)``)."""

    def __init__(self, obj: xr.Dataset | xr.DataArray):
        self._obj = obj

    # --- data layer -------------------------------------------------------------------
    @property
    def roles(self) -> Roles | dict[str, Roles]:
        """Time, latitude, longitude and sample dims (:func:`xemu.data.coords.roles`); per variable for a Dataset."""
        if isinstance(self._obj, xr.DataArray):
            return coords.roles(self._obj)
        return {str(k): coords.roles(v, name=str(k)) for k, v in self._obj.data_vars.items()}

    def declare_units(self, mapping=None, *, override: bool = False, **kwargs) -> xr.Dataset:
        """Declare missing units, e.g. ``ds.emu.declare_units(SO2="kg m-2 s-1")`` (:func:`xemu.data.units.declare_units`)."""
        return units.declare_units(self._dataset(), mapping, override=override, **kwargs)

    def check_units(self, variables=None) -> dict[str, str]:
        """Check units of ``variables`` (all data variables by default) (:func:`xemu.data.units.check_units`)."""
        ds = self._dataset()
        return units.check_units(ds, variables if variables is not None else list(ds.data_vars))

    def convert_units(self, to: str) -> xr.DataArray:
        """Convert a DataArray (:func:`xemu.data.units.convert_units`)."""
        return units.convert_units(self._dataarray("convert_units"), to)

    def encode_season(self, kind: str = "sincos") -> xr.Dataset:
        """Hemisphere-aware seasonal channels on this grid (:func:`xemu.encode_season`)."""
        return encoding.encode_season(self._obj, kind)

    def align_grid(self, target, *, method: str = "position", max_offset: float | None = None):
        """Put this map on ``target``'s grid (:func:`xemu.data.coords.align_grid`)."""
        return coords.align_grid(self._dataarray("align_grid"), target, method=method, max_offset=max_offset)

    def windows(self, inputs, targets=None, **kwargs):
        """Model-ready windows (:func:`xemu.windows`)."""
        from .data.windows import windows

        return windows(self._dataset(), inputs, targets, **kwargs)

    # --- metrics ----------------------------------------------------------------------
    def score(self, truth, **kwargs):
        """The study's metrics against ``truth`` (:func:`xemu.metrics.score`)."""
        if isinstance(self._obj, xr.DataArray):
            name = self._obj.name or "data"
            return metrics.score(self._obj.to_dataset(name=name), truth.to_dataset(name=name), **kwargs)[name]
        return metrics.score(self._obj, truth, **kwargs)

    def nrmse(self, truth, **kwargs) -> xr.DataArray:
        """ClimateBench normalised RMSEs against ``truth`` (:func:`xemu.metrics.nrmse`)."""
        return metrics.nrmse(self._dataarray("nrmse"), truth, **kwargs)

    def noise_floor(self, *, member, member_dim: str = "member_id", **kwargs) -> xr.Dataset:
        """Scores of other members as predictions of ``member`` (:func:`xemu.metrics.noise_floor`)."""
        return metrics.noise_floor(self._dataset(), member=member, member_dim=member_dim, **kwargs)

    # --- emulation --------------------------------------------------------------------
    def fit(self, inputs, targets, *, model: str = "cnn-gru", **kwargs):
        """Train an emulator of ``targets`` from ``inputs`` (:func:`xemu.fit`)."""
        from .emulator import fit

        return fit(self._dataset(), inputs, targets, model=model, **kwargs)

    def predict(self, emulator, **kwargs) -> xr.Dataset:
        """Predict with a fitted emulator (``emulator.predict(ds)``)."""
        return emulator.predict(self._dataset(), **kwargs)

    # --- plots (matplotlib, imported when a figure is drawn) ------------------------
    def plot_map(self, **kwargs):
        """A map of this 2-D field (:func:`xemu.plot.field_map`); returns the Axes."""
        from . import plot

        return plot.field_map(self._dataarray("plot_map"), **kwargs)

    def plot_difference(self, truth, **kwargs):
        """A map of this prediction minus ``truth``, time mean (:func:`xemu.plot.difference_map`)."""
        from . import plot

        return plot.difference_map(self._dataarray("plot_difference"), truth, **kwargs)

    def plot_global_mean(self, members=None, **kwargs):
        """Area-weighted global mean over time, against ``members`` (:func:`xemu.plot.global_mean_series`)."""
        from . import plot

        return plot.global_mean_series(self._dataarray("plot_global_mean"), members, **kwargs)

    def plot_zonal_mean(self, **kwargs):
        """Time-mean zonal mean of this field (:func:`xemu.plot.zonal_means`)."""
        from . import plot

        return plot.zonal_means(self._dataarray("plot_zonal_mean"), **kwargs)

    # --- helpers ----------------------------------------------------------------------
    def _dataset(self) -> xr.Dataset:
        if isinstance(self._obj, xr.Dataset):
            return self._obj
        return self._obj.to_dataset(name=self._obj.name or "data")

    def _dataarray(self, method: str) -> xr.DataArray:
        if not isinstance(self._obj, xr.DataArray):
            raise TypeError(f"{method}: works on a DataArray (da.emu.{method}); got a Dataset")
        return self._obj

