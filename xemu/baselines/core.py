"""Baselines with the emulator interface: linear pattern scaling and climatology.

Both follow :class:`~xemu.Emulator`'s shape (``fit`` / ``predict`` / ``save`` /
``xemu.load``), can be trained through ``ds.emu.fit(model="linear" | "climatology")`` and
keep their parameters as an :class:`xarray.Dataset` saved to netCDF (nothing executable).

* :class:`LinearPatternScaling`: per grid cell and per calendar month, a ridge regression
  of each target on the area-weighted global means of the inputs, plus an intercept. The
  inputs are standardised before the solve (their magnitudes differ by 14 orders: CO2 in
  Gt, SO2 in kg m-2 s-1), and the ridge strength is chosen by leave-one-scenario-out
  cross-validation on the training months (:mod:`xemu.regression`): ordinary least
  squares (``alpha=0``) fits internal variability along nearly collinear forcings.
  ``predict`` warns when an input's global mean leaves the range seen in training.
* :class:`Climatology`: the training mean of each target per calendar month and cell.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..data.encoding import month_of
from ..data.grid import area_weights
from ..data.prepare import (
    Prepared,
    check_grid,
    describe_selection,
    holdout_mask,
    prepare,
    to_dataset,
    warn_outside_range,
)
from ..errors import ConfigError, DataError, NotFittedError, XemuError, warn
from ..io.files import save_baseline_file
from ..io.formats import read_baseline_file
from ..io.records import jsonable
from ..variability.core import Variability, fit_variability, variability_method
from ..variability.core import apply as apply_variability

__all__ = ["LinearPatternScaling", "Climatology", "BASELINES"]


#: Prefix of the variability model's variables in a baseline's parameters.
_VARIABILITY = "variability__"


class _Baseline:
    kind = "baseline"

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

    def predict(self, ds: xr.Dataset, *, variability: str = "forced", samples: int | None = None,
                seed: int | None = None, anchor: str | int | None = None) -> xr.Dataset:
        """Predict the targets for the inputs of ``ds``: a Dataset on its samples, time and grid.

        ``variability``, ``samples``, ``seed`` and ``anchor`` work as in :meth:`xemu.Emulator.predict`
        (a calibrated prediction, or stochastic realizations from the baseline's own
        training residuals).

        Examples
        --------
        >>> import xemu
        >>> ds = xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=6)
        >>> bl = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], model="linear")
        >>> bl.predict(ds).tas.dims
        ('scenario', 'time', 'lat', 'lon')
        """
        p = self._prepare_predict(ds)
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


class LinearPatternScaling(_Baseline):
    """Per cell and calendar month: ``target = a + sum_k b_k * globalmean(input_k)``, ridge-regularised.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=3, n_lat=4, n_lon=6)
    >>> lin = xemu.LinearPatternScaling().fit(ds, ["CO2", "CH4"], ["tas"])
    >>> lin.params["coef_tas"].dims
    ('month', 'term', 'lat', 'lon')
    """

    kind = "linear"

    def fit(self, ds, inputs, targets, *, holdout=None, grid_alignment="position",
            alpha: float | str = "cv", variability: bool | str = True) -> LinearPatternScaling:
        """Ridge regression per calendar month and cell on the training months of ``ds``.

        Parameters
        ----------
        ds : xarray.Dataset
            Inputs and targets; every month outside ``holdout`` is a training month.
        inputs, targets : list of str
            Input variables (their area-weighted global means are the predictors) and
            target maps.
        holdout : dict, optional
            Months left out of the fit (see :func:`xemu.fit`).
        grid_alignment : {"position", "interp", "exact"}
            How input maps on another grid are aligned.
        alpha : float or "cv"
            Ridge strength on the standardised inputs (:mod:`xemu.regression`); ``"cv"``
            (default) chooses it per target by cross-validation on the training months,
            leaving out one forcing sample (scenario) at a time when there are at least
            three, else five contiguous blocks of time (:func:`xemu.regression.cv_folds`);
            ``0`` is ordinary least squares.
        variability : bool or {"bootstrap", "parametric"}
            Also learn internal variability from the training residuals, and which residual
            model (see :func:`xemu.fit`), for ``predict(..., variability="calibrated")`` and
            ``predict(..., samples=n)``.

        Warns
        -----
        UserWarning
            When the standardised design is poorly conditioned (condition number above
            :data:`xemu.regression.COND_WARN`), naming the least-determined combination
            of inputs.
        """
        from .regression import ALPHAS, choose_alpha, cv_folds, ridge_fit

        check_alpha(alpha)
        p, train = self._prepare_fit(ds, inputs, targets, holdout, grid_alignment)
        s_idx, t_idx = np.nonzero(train)
        y = p.targets[s_idx, t_idx].astype(np.float64)  # (N, V, H, W)
        months = month_of(p.time).values[t_idx]
        # (N, K) global means, standardised
        z, x, mean, std, varying = linear_design(p.inputs[p.target_to_input[s_idx], t_idx], list(p.input_units),
                                                 months)
        k = x.shape[1]
        lat, lon = p.lat, p.lon
        w = np.broadcast_to(area_weights(lat).values[:, None], (lat.size, lon.size)).ravel()
        n_v = len(p.target_names)
        flat = y.reshape(len(y), n_v, -1)
        if alpha == "cv":
            folds, how = cv_folds(p.target_to_input[s_idx], t_idx)
            cv_error = choose_alpha(z, flat, months, folds, w)
            chosen = np.asarray(ALPHAS)[np.argmin(cv_error, axis=0)]
        else:
            how, cv_error, chosen = "fixed by the caller", None, np.full(n_v, float(alpha))
        cond = warn_condition(z, varying, list(p.input_units), chosen, p.target_names)
        coef = np.zeros((12, k + 1, *y.shape[1:]))
        for m in range(1, 13):
            sel = months == m
            for v in range(n_v):
                b, c = ridge_fit(z[sel][:, varying], flat[sel, v], float(chosen[v]))
                coef[m - 1, np.flatnonzero(varying), v] = b.reshape(-1, lat.size, lon.size)
                coef[m - 1, k, v] = c.reshape(lat.size, lon.size)
        return linear_params(self, p, coef, x, mean, std, chosen, how, cv_error, cond, holdout,
                             grid_alignment)._fit_variability(p, train, variability)

    def predict_arrays(self, p: Prepared) -> np.ndarray:
        """``(S_in, T, V, H, W)`` float32 predictions from prepared global-mean inputs."""
        self._check_fitted()
        xs = (p.inputs - self.params["input_mean"].values) / self.params["input_std"].values
        a = np.concatenate([xs, np.ones((*xs.shape[:2], 1))], axis=-1)  # (S, T, K+1)
        months = month_of(p.time).values - 1
        s, t = a.shape[:2]
        out = np.empty((s, t, len(self.targets), *self.params[f"coef_{self.targets[0]}"].shape[-2:]), np.float32)
        for v, name in enumerate(self.targets):
            coef = self.params[f"coef_{name}"].values  # (12, K+1, H, W)
            for m in np.unique(months):  # one matrix product per calendar month (no (T, K+1, H, W) gather)
                rows = months == m
                out[:, rows, v] = (a[:, rows] @ coef[m].reshape(coef.shape[1], -1)).reshape(s, -1, *coef.shape[2:])
        return out


def check_alpha(alpha) -> None:
    """The ridge strength of :meth:`LinearPatternScaling.fit`: a finite number >= 0 or ``"cv"``."""
    if isinstance(alpha, str):
        if alpha != "cv":
            raise ConfigError(f"alpha: expected a number >= 0 or 'cv'; got {alpha!r}")
    elif isinstance(alpha, bool) or not isinstance(alpha, int | float) or not np.isfinite(alpha) or alpha < 0:
        raise ConfigError(f"alpha: expected a finite number >= 0 or 'cv'; got {alpha!r}")


def linear_design(x: np.ndarray, names: list[str], months: np.ndarray):
    """The standardised design ``z`` of linear pattern scaling from the training rows' global means ``x`` ``(N, K)``.

    Warns for inputs constant over the training months (they get no coefficient: the
    intercept holds them) and raises :class:`~xemu.DataError` for a calendar month with
    fewer than 2 training months. Returns ``(z, x, mean, std, varying)``. Shared by
    :meth:`LinearPatternScaling.fit` and the streamed fit (:mod:`xemu.stream`).
    """
    mean, std = x.mean(0), x.std(0)
    constant = [n for n, sd, mu in zip(names, std, mean, strict=True) if not sd > 1e-12 * max(abs(mu), 1e-300)]
    if constant:
        warn(f"inputs: {constant} constant over the training months; they cannot be fitted "
             f"(their coefficients are 0)")
    std = np.where(np.isin(names, constant), 1.0, std)
    for m in range(1, 13):
        if (months == m).sum() < 2:
            raise DataError(
                f"ds: calendar month {m} has {int((months == m).sum())} training months; linear "
                f"pattern scaling needs at least 2 per calendar month"
            )
    return (x - mean) / std, x, mean, std, ~np.isin(names, constant)


def warn_condition(z: np.ndarray, varying: np.ndarray, names: list[str], chosen, targets) -> float:
    """The condition number of the standardised design; warns above :data:`xemu.regression.COND_WARN`,
    naming the least-determined combination of inputs and the ridge strengths chosen."""
    from .regression import COND_WARN, condition

    chosen_text = ", ".join(f"{a:g} for {t}" for a, t in zip(chosen, targets, strict=True))
    cond, direction = condition(z[:, varying])
    names_v = [n for n, ok in zip(names, varying, strict=True) if ok]
    if cond > COND_WARN:
        combo = " ".join(f"{c:+.2f}*{n}" for c, n in sorted(zip(direction, names_v, strict=True),
                                                             key=lambda t: -abs(t[0])) if abs(c) >= 0.1)
        warn(f"inputs: the training design is poorly conditioned (condition number {cond:.3g} of the "
             f"standardised global means, above {COND_WARN:g}); the combination {combo} (standardised) "
             f"is barely sampled and responses along it are set by the ridge penalty (alpha {chosen_text})")
    return cond


def linear_params(bl: LinearPatternScaling, p: Prepared, coef: np.ndarray, x, mean, std, chosen, how, cv_error,
                  cond: float, holdout, grid_alignment) -> LinearPatternScaling:
    """``bl`` with the parameters of a fit: ``coef`` ``(12, K + 1, V, ...)`` per month, term and target."""
    from .regression import ALPHAS

    lat, lon = p.lat, p.lon
    names = list(p.input_units)
    terms = [*names, "intercept"]
    data = {
        f"coef_{name}": xr.DataArray(
            coef[:, :, v].reshape(12, len(terms), lat.size, lon.size), dims=("month", "term", lat.dims[0], lon.dims[0]),
            attrs={"long_name": f"pattern-scaling coefficients of {name} (per standardised input)",
                   "units": p.target_units[name]},
        )
        for v, name in enumerate(p.target_names)
    }
    params = xr.Dataset(
        {**data,
         "input_mean": ("input", mean, {"long_name": "training mean of the global-mean inputs"}),
         "input_std": ("input", std, {"long_name": "training std of the global-mean inputs"}),
         "input_min": ("input", x.min(0), {"long_name": "training minimum of the global-mean inputs"}),
         "input_max": ("input", x.max(0), {"long_name": "training maximum of the global-mean inputs"}),
         "alpha": ("target", chosen, {"long_name": "ridge strength on the standardised inputs",
                                      "choice": how, "condition_number": cond})},
        coords={"term": terms, "input": names, "target": list(p.target_names)},
    )
    if cv_error is not None:
        params["cv_error"] = xr.DataArray(
            cv_error, dims=("alpha_tried", "target"), coords={"alpha_tried": list(ALPHAS)},
            attrs={"long_name": f"cross-validated area-weighted mean squared error ({how})"})
    return bl._set_params(params, p, holdout, grid_alignment)


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
        return self._set_params(xr.Dataset(data), p, holdout, grid_alignment)._fit_variability(p, train, variability)

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
    """Load a baseline saved with ``save`` (netCDF only; no code runs), after checking it.

    Raises
    ------
    PathError
        ``path`` is missing or a folder.
    DataError
        ``path`` is not a netCDF file xemu can read, or not a valid xemu baseline (see
        :func:`xemu.io.read_baseline_file`); the message names the file.
    """
    params = read_baseline_file(path)
    baseline = BASELINES[params.attrs["xemu_kind"]].from_params(params)
    try:
        baseline.variability  # noqa: B018 (read and check the variability model now, not at the first predict)
    except XemuError as err:
        raise DataError(f"{path}: {err}") from None
    return baseline
