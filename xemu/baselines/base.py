"""What every baseline shares: :class:`~xemu.baselines.base.Baseline` follows :class:`~xemu.Emulator`'s shape
(``fit`` / ``predict`` / ``save`` / ``xemu.load``) and keeps its parameters as an
:class:`xarray.Dataset` saved to netCDF (nothing executable). A new baseline subclasses it,
sets ``kind``, and writes ``fit`` (which ends in ``set_params``) and ``predict_arrays``;
:data:`xemu.baselines.registry.BASELINES` names it for ``fit(model=...)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..data.checks import check_dataset, check_grid, check_prediction_memory, warn_outside_range
from ..data.labels import describe_selection, to_dataset
from ..data.once import checking_once
from ..data.prepare import Prepared, holdout_mask, prepare
from ..errors import DataError, NotFittedError
from ..io.records import jsonable
from ..io.saving import save_baseline_file
from ..variability import Variability
from ..variability import apply as apply_variability
from ..variability.core import fit_variability, variability_method

__all__ = ['Baseline']


_VARIABILITY = "variability__"

_GIVEN_SERIES: contextvars.ContextVar = contextvars.ContextVar("xemu_given_series", default=None)


@contextlib.contextmanager
def given_series(series: np.ndarray):
    """Within it (in this thread only), a baseline with history takes ``series`` (``(S, T)``) as
    the global-mean temperature of what it predicts, instead of computing it from the inputs, and
    does not check its range: the caller computed and checked it over a longer series.

    A lazy prediction's blocks run in it (:mod:`xemu.scale.lazy`): a block alone would restart
    the global model at its own first month. A context variable, not an argument of
    :meth:`xemu.Emulator.predict` (no user passes it) nor a warnings filter (dask runs blocks
    in threads, and warnings filters are process-wide).
    """
    token = _GIVEN_SERIES.set(np.asarray(series))
    try:
        yield
    finally:
        _GIVEN_SERIES.reset(token)


def series_given() -> np.ndarray | None:
    """The series of the :func:`given_series` this thread is in, else None."""
    return _GIVEN_SERIES.get()


class Baseline:
    kind = "baseline"
    #: Whether the prediction of a month depends on the months before it (not only on its own
    #: inputs). Such a baseline also has ``global_temperature(p)`` and ``check_global_range``:
    #: a lazy prediction computes and checks the series once per sample over its whole length,
    #: and gives each block its part (``given_series``, :mod:`xemu.scale.lazy`).
    history = False

    def __init__(self):
        self.params: xr.Dataset | None = None
        self._variability = None

    # -- shared plumbing ----------------------------------------------------------------
    def _prepare_fit(self, ds, inputs, targets, holdout, grid_alignment):
        p = prepare(ds, inputs, targets, encoding="none", inputs_as="global_means", grid_alignment=grid_alignment)
        train = ~holdout_mask(p, holdout)
        if not train.any():
            raise DataError("holdout: leaves no month to train on")
        return p, train

    def _meta(self, p: Prepared, holdout, grid_alignment) -> dict:
        return {
            "kind": self.kind,
            "inputs": list(p.input_units),
            "targets": list(p.target_names),
            "input_units": p.input_units,
            "target_units": p.target_units,
            "target_attrs": {k: jsonable(v) for k, v in p.target_attrs.items()},
            "input_sample_dims": list(p.input_sample_dims),
            "grid_alignment": grid_alignment,
            "training_selection": describe_selection(p, holdout),
        }

    def set_params(self, params: xr.Dataset, p: Prepared, holdout, grid_alignment):
        """Keep ``params`` with the month and grid coordinates and the metadata, and return self.

        The last step of a baseline's ``fit`` (and of a fit from passes over blocks): ``p`` is
        the prepared training data, ``holdout`` and ``grid_alignment`` as ``fit`` was given them.
        """
        lat, lon = p.lat, p.lon
        params = params.assign_coords({"month": np.arange(1, 13), lat.dims[0]: lat.values, lon.dims[0]: lon.values})
        params[lat.dims[0]].attrs = dict(lat.attrs)
        params[lon.dims[0]].attrs = dict(lon.attrs)
        params.attrs = {"xemu_meta": json.dumps(self._meta(p, holdout, grid_alignment)),
                        "xemu_lat": lat.dims[0], "xemu_lon": lon.dims[0], "xemu_kind": self.kind}
        self.params = params
        return self

    def _check_fitted(self):
        if self.params is None:
            raise NotFittedError(f"{type(self).__name__}: predict called before fit (or load)")

    @property
    def meta(self) -> dict:
        self._check_fitted()
        return json.loads(self.params.attrs["xemu_meta"])

    @property
    def targets(self) -> list[str]:
        return self.meta["targets"]

    @property
    def inputs(self) -> list[str]:
        return self.meta["inputs"]

    def grid(self) -> tuple[xr.DataArray, xr.DataArray]:
        """The latitude and longitude of the training grid (with their attributes)."""
        lat_dim, lon_dim = self.params.attrs["xemu_lat"], self.params.attrs["xemu_lon"]
        return self.params[lat_dim], self.params[lon_dim]

    def prepare_predict(self, ds) -> Prepared:
        self._check_fitted()
        meta = self.meta
        lat, lon = self.grid()
        check_grid(ds, lat, lon, who=f"the {self.kind} baseline")
        return prepare(ds, meta["inputs"], None, encoding="none", inputs_as="global_means",
                       input_units=meta["input_units"], grid=(lat, lon), grid_alignment=meta["grid_alignment"])

    @checking_once
    def predict(self, ds: xr.Dataset, *, variability: str = "forced", samples: int | None = None,
                seed: int | None = None, anchor: str | int | None = None) -> xr.Dataset:
        """Predict the targets for the inputs of ``ds``: a Dataset on its samples, time and grid.

        ``variability``, ``samples``, ``seed`` and ``anchor`` work as in :meth:`xemu.Emulator.predict`
        (a calibrated prediction, or stochastic realizations from the baseline's own
        training residuals). A prediction that would need more than
        :data:`xemu.data.checks.MEMORY_FRACTION` of the available memory raises
        :class:`~xemu.ConfigError` before it allocates anything.

        Examples
        --------
        >>> import xemu
        >>> ds = xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=6)
        >>> bl = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], model="linear")
        >>> bl.predict(ds).tas.dims
        ('scenario', 'time', 'lat', 'lon')
        """
        self._check_fitted()
        grid = {d.dims[0]: d.size for d in self.grid()}
        check_prediction_memory(check_dataset(ds, argument="ds"), self.inputs, grid,
                                n_targets=len(self.targets), n_channels=0, samples=samples,
                                anchor=anchor is not None, calibrated=variability == "calibrated",
                                who=f"{type(self).__name__}.predict")
        p = self.prepare_predict(ds)
        self._check_ranges(p)
        values = self.predict_arrays(p)
        pred = to_dataset(values, p, self.targets, self.meta["target_attrs"], self._provenance(),
                          source=self._source(), input_attrs=ds.attrs)
        return apply_variability(pred, self.variability, output=variability, samples=samples, seed=seed,
                                 anchor=anchor)

    @property
    def variability(self):
        """The model of internal variability fitted with the baseline (``None`` without one)."""
        if self.params is None or "xemu_variability_targets" not in self.params.attrs:
            return None
        if getattr(self, "_variability", None) is None:
            own = [v for v in self.params.data_vars if str(v).startswith(_VARIABILITY)]
            part = self.params[own].rename({v: str(v)[len(_VARIABILITY):] for v in own})
            part = part.drop_vars([c for c in part.coords if c not in part.dims and c != "month"])
            part.attrs = {k: v for k, v in self.params.attrs.items() if k.startswith("xemu_variability_")}
            self._variability = Variability.from_dataset(part)
        return self._variability

    def _fit_variability(self, p: Prepared, train: np.ndarray, enabled):
        """Learn internal variability from the in-sample residuals and keep it in ``params``; return self."""
        method = variability_method(enabled)
        if method is None:
            return self
        var = fit_variability(p, self.predict_arrays(p), ~train, method=method)
        if var is not None:
            extra = var.to_dataset()
            for name in extra.data_vars:
                self.params[f"{_VARIABILITY}{name}"] = extra[name]
            self.params.attrs.update(extra.attrs)
            self._variability = var
        return self
    def _check_ranges(self, p: Prepared) -> None:
        """Warn for each input whose global mean leaves its training range (none for a climatology)."""
        if "input_min" not in self.params:
            return
        for k, name in enumerate(self.params["input"].values.tolist()):
            values = p.inputs[..., k]
            if values.size:
                warn_outside_range(f"inputs[{name!r}]", float(values.min()), float(values.max()),
                                   (float(self.params["input_min"][k]), float(self.params["input_max"][k])),
                                   units=p.input_units.get(name), what="global-mean values")
        self.check_derived_ranges(p)

    def check_derived_ranges(self, p: Prepared) -> None:
        """Warn for what the baseline derives from its inputs leaving its training range: nothing
        for most baselines; the energy-balance model's global-mean temperature."""

    def predict_under_network(self, ds: xr.Dataset, like: Prepared | None = None) -> np.ndarray:
        """``(S_in, T, V, H, W)``: the baseline's part of an emulator's prediction of ``ds``, with
        the warnings of :meth:`check_derived_ranges` (the emulator checks its inputs itself).

        ``like``: the emulator's own prepared inputs of ``ds``. A baseline with history inside
        ``given_series`` (the blocks of a lazy prediction) then predicts from the given series
        alone (``predict_arrays`` of ``like``, which reads only its months and samples),
        without preparing ``ds`` again: its global means would not be used.
        """
        if like is not None and self.history and series_given() is not None:
            return self.predict_arrays(like)
        p = self.prepare_predict(ds)
        self.check_derived_ranges(p)
        return self.predict_arrays(p)

    def _source(self) -> str:
        """The global ``source`` of a prediction: xemu's version and the kind of baseline."""
        from ..version import __version__

        return f"xemu {__version__} {self.kind} baseline"

    def _provenance(self) -> str:
        """The ``history`` line of a prediction: what predicted it, fitted on what."""
        return (f"predicted {', '.join(self.targets)} with {self._source()} fitted on "
                f"{self.meta['training_selection']}")

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the parameters to one netCDF file, atomically.

        Parameters
        ----------
        path : path
            The file to write (load it with :func:`xemu.load`).
        overwrite : bool
            Replace an xemu baseline file already at ``path``. Any other file, and any
            folder, is refused even then.

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        PathError
            ``path`` is a folder, a file that is not an xemu baseline, or an xemu baseline
            without ``overwrite=True``.
        """
        self._check_fitted()
        return save_baseline_file(self.params, path, overwrite=overwrite)

    @classmethod
    def from_params(cls, params: xr.Dataset):
        obj = cls()
        obj.params = params
        obj._variability = None
        return obj

    def __repr__(self) -> str:
        if self.params is None:
            return f"<xemu.{type(self).__name__} (not fitted)>"
        m = self.meta
        return f"<xemu.{type(self).__name__} {m['inputs']} -> {m['targets']}; fitted on {m['training_selection']}>"
