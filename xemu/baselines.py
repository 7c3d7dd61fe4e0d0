"""Baselines with the emulator interface: linear pattern scaling and climatology.

Both follow :class:`~xemu.Emulator`'s shape (``fit`` / ``predict`` / ``save`` /
``xemu.load``), can be trained through ``ds.emu.fit(model="linear" | "climatology")`` and
keep their parameters as an :class:`xarray.Dataset` saved to netCDF (nothing executable).

* :class:`LinearPatternScaling`: per grid cell and per calendar month, least squares of each
  target on the area-weighted global means of the inputs, plus an intercept. The inputs
  are standardised before the solve (their magnitudes differ by 14 orders: CO2 in Gt,
  SO2 in kg m-2 s-1; unscaled, a least-squares solver truncates the small ones).
* :class:`Climatology`: the training mean of each target per calendar month and cell.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from .encoding import month_of
from .errors import DataError, NotFittedError
from .prepare import Prepared, check_grid, holdout_mask, prepare, to_dataset

__all__ = ["LinearPatternScaling", "Climatology", "BASELINES"]


class _Baseline:
    kind = "baseline"

    def __init__(self):
        self.params: xr.Dataset | None = None

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
            "target_attrs": {k: _jsonable(v) for k, v in p.target_attrs.items()},
            "input_sample_dims": list(p.input_sample_dims),
            "grid_alignment": grid_alignment,
            "training_selection": _describe_selection(p, holdout),
        }

    def _set_params(self, params: xr.Dataset, p: Prepared, holdout, grid_alignment):
        """Keep ``params`` with the month and grid coordinates and the metadata, and return self."""
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

    def _grid(self) -> tuple[xr.DataArray, xr.DataArray]:
        lat_dim, lon_dim = self.params.attrs["xemu_lat"], self.params.attrs["xemu_lon"]
        return self.params[lat_dim], self.params[lon_dim]

    def _prepare_predict(self, ds) -> Prepared:
        self._check_fitted()
        meta = self.meta
        lat, lon = self._grid()
        check_grid(ds, lat, lon, who=f"the {self.kind} baseline")
        return prepare(ds, meta["inputs"], None, encoding="none", inputs_as="global_means",
                       input_units=meta["input_units"], grid=(lat, lon), grid_alignment=meta["grid_alignment"])

    def predict(self, ds: xr.Dataset) -> xr.Dataset:
        """Predict the targets for the inputs of ``ds``: a Dataset on its samples, time and grid.

        Examples
        --------
        >>> import xemu
        >>> ds = xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=6)
        >>> bl = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], model="linear")
        >>> bl.predict(ds).tas.dims
        ('scenario', 'time', 'lat', 'lon')
        """
        p = self._prepare_predict(ds)
        values = self.predict_arrays(p)
        return to_dataset(values, p, self.targets, self.meta["target_attrs"], self._history())

    def _history(self) -> str:
        from . import __version__

        return (f"predicted by xemu {__version__} {self.kind} baseline fitted on "
                f"{self.meta['training_selection']}")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the parameters to one netCDF file, atomically."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.params.to_netcdf(tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def from_params(cls, params: xr.Dataset):
        obj = cls()
        obj.params = params
        return obj

    def __repr__(self) -> str:
        if self.params is None:
            return f"<xemu.{type(self).__name__} (not fitted)>"
        m = self.meta
        return f"<xemu.{type(self).__name__} {m['inputs']} -> {m['targets']}; fitted on {m['training_selection']}>"


class LinearPatternScaling(_Baseline):
    """Per cell and calendar month: ``target = a + sum_k b_k * globalmean(input_k)``.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=6)
    >>> lin = xemu.LinearPatternScaling().fit(ds, ["CO2", "CH4"], ["tas"])
    >>> lin.params["coef_tas"].dims
    ('month', 'term', 'lat', 'lon')
    """

    kind = "linear"

    def fit(self, ds, inputs, targets, *, holdout=None, grid_alignment="position") -> LinearPatternScaling:
        """Least squares per calendar month and cell on the training months of ``ds``."""
        p, train = self._prepare_fit(ds, inputs, targets, holdout, grid_alignment)
        s_idx, t_idx = np.nonzero(train)
        x = p.inputs[p.target_to_input[s_idx], t_idx]  # (N, K) global means
        y = p.targets[s_idx, t_idx].astype(np.float64)  # (N, V, H, W)
        mean, std = x.mean(0), x.std(0)
        std = np.where(std > 0, std, 1.0)
        months = month_of(p.time).values[t_idx]
        k = x.shape[1]
        coef = np.zeros((12, k + 1, *y.shape[1:]))
        for m in range(1, 13):
            sel = months == m
            if sel.sum() < k + 1:
                raise DataError(
                    f"ds: calendar month {m} has {int(sel.sum())} training months; linear pattern "
                    f"scaling on {k} inputs needs at least {k + 1}"
                )
            a = np.concatenate([(x[sel] - mean) / std, np.ones((sel.sum(), 1))], axis=1)
            sol = np.linalg.lstsq(a, y[sel].reshape(sel.sum(), -1), rcond=None)[0]
            coef[m - 1] = sol.reshape(k + 1, *y.shape[1:])
        lat, lon = p.lat, p.lon
        terms = [*p.input_units, "intercept"]
        data = {
            f"coef_{name}": xr.DataArray(
                coef[:, :, v], dims=("month", "term", lat.dims[0], lon.dims[0]),
                attrs={"long_name": f"pattern-scaling coefficients of {name} (per standardised input)",
                       "units": p.target_units[name]},
            )
            for v, name in enumerate(p.target_names)
        }
        params = xr.Dataset(
            {**data,
             "input_mean": ("input", mean, {"long_name": "training mean of the global-mean inputs"}),
             "input_std": ("input", std, {"long_name": "training std of the global-mean inputs"})},
            coords={"term": terms, "input": list(p.input_units)},
        )
        return self._set_params(params, p, holdout, grid_alignment)

    def predict_arrays(self, p: Prepared) -> np.ndarray:
        """``(S_in, T, V, H, W)`` float32 predictions from prepared global-mean inputs."""
        self._check_fitted()
        xs = (p.inputs - self.params["input_mean"].values) / self.params["input_std"].values
        a = np.concatenate([xs, np.ones((*xs.shape[:2], 1))], axis=-1)  # (S, T, K+1)
        months = month_of(p.time).values - 1
        out = []
        for name in self.targets:
            coef = self.params[f"coef_{name}"].values  # (12, K+1, H, W)
            out.append(np.einsum("stk,tkhw->sthw", a, coef[months]))
        return np.stack(out, axis=2).astype(np.float32)


class Climatology(_Baseline):
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

    def fit(self, ds, inputs, targets, *, holdout=None, grid_alignment="position") -> Climatology:
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
        return self._set_params(xr.Dataset(data), p, holdout, grid_alignment)

    def predict_arrays(self, p: Prepared) -> np.ndarray:
        """``(S_in, T, V, H, W)`` float32: the climatology of each month, for every sample."""
        self._check_fitted()
        months = month_of(p.time).values - 1
        s_in = p.inputs.shape[0]
        out = [np.broadcast_to(self.params[f"mean_{n}"].values[months], (s_in, months.size,
                               *self.params[f"mean_{n}"].shape[1:])) for n in self.targets]
        return np.stack(out, axis=2).astype(np.float32)


#: Baselines by the name ``fit(model=...)`` takes.
BASELINES = {"linear": LinearPatternScaling, "climatology": Climatology}


def load_baseline(path: str | os.PathLike):
    """Load a baseline saved with ``save`` (netCDF only; no code runs)."""
    with xr.open_dataset(path) as f:
        params = f.load()
    kind = params.attrs.get("xemu_kind")
    if kind not in BASELINES:
        raise DataError(f"path: {str(path)!r} is not a saved xemu baseline (kind {kind!r})")
    return BASELINES[kind].from_params(params)


def _jsonable(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, str | int | float | bool | list) or v is None:
            out[k] = v
    return out


def _describe_selection(p: Prepared, holdout) -> str:
    dims = ", ".join(f"{d}={p.sample_coords[d].values.tolist()}" for d in p.target_sample_dims)
    t = p.time.values
    span = f"time {t[0]} .. {t[-1]}" if t.size else "no time"
    text = f"{dims}; {span}" if dims else span
    if holdout:
        text += f"; except the holdout {_fmt_holdout(holdout)}"
    return text


def _fmt_holdout(holdout: dict) -> str:
    parts = []
    for k, v in holdout.items():
        if isinstance(v, slice):
            v = f"{v.start or ''}..{v.stop or ''}"
        parts.append(f"{k}={v}")
    return "{" + ", ".join(parts) + "}"
