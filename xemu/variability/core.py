"""What an emulator keeps of internal variability, and what its ``predict`` returns.

:class:`~xemu.variability.Variability` holds, per target variable, the internal variance of the calibrated
prediction (:mod:`xemu.variability.calibration`) and a residual model for stochastic samples
(:class:`~xemu.variability.BlockBootstrap` by default, or the parametric
:class:`~xemu.variability.ResidualModel`), saved together as one netCDF Dataset.
:func:`apply` turns an emulator's forced response into what ``predict`` returns (forced,
calibrated, or samples, optionally anchored: :mod:`xemu.variability.anchor`);
:func:`fit_variability` fits a :class:`Variability` from an emulator's prepared training
data, :func:`variability_method` reads a fit's ``variability`` option and
:func:`variability_meta` says what ``emulator.json`` records.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError, DataError
from .anchor import anchor_draws, anchor_years
from .bootstrap import MAX_YEARS, METHODS, BlockBootstrap
from .calibration import (
    BLOCK_MONTHS,
    added_variance_ratio,
    block_variances,
    calibrate,
    internal_variance,
    ratio_of_variances,
)
from .parametric import ResidualModel
from .residuals import ResidualModelLike, check_seed

__all__ = ["Variability", "apply", "OUTPUTS", "CALIBRATIONS", "fit_variability", "variability_method", "variability_meta",
           "is_precipitation", "calibration_block", "truth_attrs", "warn_unlearnable"]


class Variability:
    """Internal variability an emulator learned from its training residuals, per target.

    Holds, per target variable, the :func:`~xemu.variability.internal_variance` that the
    variability-aware deterministic prediction adds to its own (:meth:`calibrate`; ``internal``
    is ``None`` for an emulator saved before it was recorded, which stretches by its fixed
    :func:`~xemu.variability.variance_ratio` instead), that ratio, and a residual model for
    stochastic samples (:class:`~xemu.variability.BlockBootstrap` by default, or
    :class:`~xemu.variability.ResidualModel`).
    Made by :meth:`fit` at the end of an emulator's fit; saved as one netCDF Dataset
    (:meth:`to_dataset`, :meth:`from_dataset`).
    """

    def __init__(self, ratios: dict[str, xr.DataArray], models: dict[str, ResidualModelLike], block: int,
                 internal: dict[str, xr.DataArray] | None = None, calibration: str | None = None):
        self.ratios, self.models, self.block, self.internal = ratios, models, int(block), internal
        if calibration is None:
            calibration = CALIBRATIONS[1] if internal is not None else CALIBRATIONS[-1]
        if calibration not in CALIBRATIONS or (calibration == CALIBRATIONS[-1]) != (internal is None):
            raise DataError(f"variability: calibration {calibration!r} with{'out' if internal is None else ''} an "
                            f"internal variance; expected one of {list(CALIBRATIONS[:-1])} with it, "
                            f"{CALIBRATIONS[-1]!r} without")
        #: How :meth:`calibrate` adds variance: one of :data:`CALIBRATIONS`.
        self.calibration = calibration

    def __repr__(self) -> str:
        models = ", ".join(f"{name}={model!r}" for name, model in self.models.items())
        return f"Variability(calibration block {self.block} months; {models})"

    @property
    def targets(self) -> list[str]:
        return list(self.models)

    @classmethod
    def fit(cls, truth: xr.Dataset, pred: xr.Dataset, *, block: int = BLOCK_MONTHS, n_modes: int = 40,
            method: str = "bootstrap", max_years: int | None = None,
            reference: xr.Dataset | None = None) -> Variability:
        """From training ``truth`` (NaN outside the training months) and the in-sample ``pred``.

        ``method`` is the residual model of the samples: ``"bootstrap"`` (the default,
        :class:`~xemu.variability.BlockBootstrap`, keeping at most ``max_years`` years,
        :data:`~xemu.variability.bootstrap.MAX_YEARS` by default) or ``"parametric"``
        (:class:`~xemu.variability.ResidualModel` with ``n_modes`` EOFs).
        ``reference``: the in-sample prediction of the baseline under ``pred`` (a CNN-GRU's
        energy-balance baseline). The internal variance is then the truth's less the
        reference's, and :meth:`calibrate` gives each block the reference's variance plus it
        (the first of :data:`CALIBRATIONS`); the residual models are ``pred``'s either way.
        """
        if method not in METHODS:
            raise ConfigError(f"method: expected one of {list(METHODS)}; got {method!r}")
        ratios, models, internal = {}, {}, {}
        for name in truth.data_vars:
            t, p = truth[name], pred[name]
            vt, vp, *v_ref = block_variances(t, p, *([] if reference is None else [reference[name]]), block=block)
            ratios[name] = ratio_of_variances(vt, vp, block)
            internal[name] = internal_variance(vt, v_ref[0] if v_ref else vp, block, t.attrs.get("units", ""))
            kind = "precipitation" if is_precipitation(str(name), t.attrs) else "additive"
            resid = (t - p).transpose(*t.dims)
            resid.attrs = {"units": t.attrs.get("units", "")}
            if method == "bootstrap":
                models[name] = BlockBootstrap.fit(resid, kind=kind, max_years=MAX_YEARS if max_years is None
                                                  else max_years)
            else:
                models[name] = ResidualModel.fit(resid, n_modes=n_modes, kind=kind)
        return cls(ratios, models, block, internal,
                   CALIBRATIONS[0] if reference is not None else CALIBRATIONS[1])

    @property
    def needs_reference(self) -> bool:
        """Whether :meth:`calibrate` takes the variance of each block from a ``reference`` (the
        baseline's prediction of the same months: the first of :data:`CALIBRATIONS`)."""
        return self.calibration == CALIBRATIONS[0]

    @property
    def method(self) -> str:
        """The residual model of the samples: ``"bootstrap"`` or ``"parametric"``."""
        return next(iter(self.models.values())).method

    def calibrate(self, pred: xr.Dataset, reference: xr.Dataset | None = None) -> xr.Dataset:
        """The variability-aware deterministic prediction: ``pred``'s deviations from its running
        mean stretched so that the month-to-month variance per cell of each block of
        ``block`` months of each series is its own plus the internal variance, and the
        block's mean is kept (:func:`~xemu.variability.added_variance_ratio`,
        :func:`~xemu.variability.calibrate`).

        As the emulator was fitted (:attr:`calibration`): a CNN-GRU on a baseline (since
        the first of :data:`CALIBRATIONS` was added) gives each block the variance of ``reference``,
        the baseline's own prediction of the same months, plus the internal variance learned
        against the baseline's training prediction, or its own where that is larger
        (``reference`` is then required: :meth:`xemu.Emulator.predict` passes it). Emulators
        saved before the per-block stretch add the internal variance to the blocks' average
        variance with one stretch per series, and those saved before the internal variance was
        recorded stretch by their fixed variance ratio."""
        if self.needs_reference and reference is None:
            raise ConfigError(f"reference: this emulator's calibration ({self.calibration!r}) takes each block's "
                              f"variance from its baseline's prediction of the same months; expected that "
                              f"prediction (xemu.Emulator.predict(..., variability='calibrated') passes it); got None")
        if reference is not None and not self.needs_reference:
            raise ConfigError(f"reference: only used by the calibration {CALIBRATIONS[0]!r}; this one is "
                              f"{self.calibration!r}; expected reference=None")
        if reference is not None:
            missing = [n for n in self.targets if n not in reference.data_vars]
            if missing:
                raise DataError(f"reference: expected the targets {self.targets}; {missing} missing")
        out = pred.copy()
        per_block = self.calibration in CALIBRATIONS[:2]
        for name in self.targets:
            ratio = (self.ratios[name] if self.internal is None
                     else added_variance_ratio(pred[name], self.internal[name], block=self.block, per_block=per_block,
                                               reference=None if reference is None else reference[name]))
            out[name] = calibrate(pred[name], ratio, block=self.block,
                                  non_negative=self.models[name].kind == "precipitation", per_block=per_block)
        return out

    def sample(self, pred: xr.Dataset, n: int, *, seed: int, realization_dim: str = "realization",
               anchor: str | int | None = None) -> xr.Dataset:
        """``n`` realizations of ``pred`` plus internal variability.

        Each target has its own seed stream, except targets resampled by
        :class:`~xemu.variability.BlockBootstrap` from the same training years (an emulator's
        targets): they share one, so a draw takes the same years for all of them and keeps
        the relation between variables (e.g. warm and dry summers). ``anchor`` (``None``,
        ``"decade"`` or a number of years) shifts each draw so that its mean over each
        calendar block of that many years is ``pred``'s (see :func:`~xemu.variability.anchor_draws`).
        """
        check_seed(seed)
        years = anchor_years(anchor)
        data = {name: self.models[name].sample(pred[name], n, seed=(int(seed), k), realization_dim=realization_dim)
                for k, name in self._streams()}
        out = pred.copy()
        for name, da in data.items():
            if years is not None:
                da = anchor_draws(da, pred[name], years, non_negative=self.models[name].kind == "precipitation")
            out[name] = da
        out[realization_dim].attrs = {"long_name": "stochastic realization of internal variability",
                                      "seed": int(seed)}
        return out

    def _streams(self) -> list[tuple[int, str]]:
        """(seed stream, target): bootstrapped targets with the same kept years share the first one's."""
        out, shared = [], {}
        for k, name in enumerate(self.targets):
            model = self.models[name]
            if model.method == "bootstrap":
                k = shared.setdefault(tuple(model.years), k)
            out.append((k, name))
        return out

    def to_dataset(self) -> xr.Dataset:
        """Every parameter, names prefixed by target (``tas__sigma``, ``tas__variance_ratio``, ...).

        Each model's own dims other than month, latitude and longitude (``mode``,
        ``quantile``) are prefixed too, since their sizes may differ between targets; the
        models' attrs travel on their first variable (``sigma``, or ``residuals`` for a
        :class:`~xemu.variability.BlockBootstrap`) as ``model_*``.
        """
        out = xr.Dataset()
        for name in self.targets:
            ds = self.models[name].to_dataset()
            keep = {"month", *self.ratios[name].dims}
            ds = ds.rename({d: f"{name}__{d}" for d in ds.dims if d not in keep})
            for v in ds.data_vars:
                da = ds[v].copy()
                if v == _main_variable(ds):
                    da.attrs = {**da.attrs, **{f"model_{k}": val for k, val in ds.attrs.items()}}
                out[f"{name}__{v}"] = da
            out[f"{name}__variance_ratio"] = self.ratios[name]
            if self.internal is not None:
                out[f"{name}__internal_variance"] = self.internal[name]
        out.attrs = {"xemu_variability_targets": " ".join(self.targets), "xemu_variability_block": self.block,
                     "xemu_variability_calibration": self.calibration}
        return out

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Variability:
        """The inverse of :meth:`to_dataset`, validated (:class:`~xemu.DataError` naming what is wrong)."""
        targets = str(ds.attrs.get("xemu_variability_targets", "")).split()
        block = ds.attrs.get("xemu_variability_block")
        if not targets or block is None:
            raise DataError("variability: attrs 'xemu_variability_targets' and 'xemu_variability_block' expected; "
                            f"got {sorted(ds.attrs)}")
        ratios, models, internal = {}, {}, {}
        for name in targets:
            own = [str(v) for v in ds.data_vars if str(v).startswith(f"{name}__")]
            if f"{name}__variance_ratio" not in own or not {f"{name}__{v}" for v in _MAIN_VARIABLES} & set(own):
                raise DataError(f"variability: variables of target {name!r} missing; got {sorted(map(str, ds.data_vars))}")
            ratio = ds[f"{name}__variance_ratio"]
            if not np.isfinite(ratio.values).all() or (ratio.values <= 0).any():
                raise DataError(f"variability: {name}__variance_ratio must be positive and finite")
            if f"{name}__internal_variance" in own:
                v_int = ds[f"{name}__internal_variance"]
                if not np.isfinite(v_int.values).all() or (v_int.values < 0).any():
                    raise DataError(f"variability: {name}__internal_variance must be finite and >= 0")
                internal[name] = v_int.rename("internal_variance")
            part = ds[[v for v in own if v not in (f"{name}__variance_ratio", f"{name}__internal_variance")]]
            part = part.rename({v: v.split("__", 1)[1] for v in part.data_vars})
            part = part.rename({d: str(d).split("__", 1)[1] for d in part.dims if str(d).startswith(f"{name}__")})
            main = _main_variable(part)
            main_attrs = dict(part[main].attrs)
            part.attrs = {k[len("model_"):]: v for k, v in main_attrs.items() if k.startswith("model_")}
            part[main].attrs = {k: v for k, v in main_attrs.items() if not k.startswith("model_")}
            if part.attrs.get("method", "parametric") == "bootstrap":
                models[name] = BlockBootstrap.from_dataset(part)
            else:
                models[name] = ResidualModel.from_dataset(part)
            ratios[name] = ratio.rename("variance_ratio")
        if internal and set(internal) != set(targets):
            raise DataError(f"variability: internal_variance of targets {sorted(internal)}, expected every target "
                            f"{targets} or none")
        calibration = ds.attrs.get("xemu_variability_calibration")  # saved before it: by what was recorded
        if calibration is None:
            calibration = CALIBRATIONS[2] if internal else CALIBRATIONS[-1]
        return cls(ratios, models, int(block), internal or None, str(calibration))


#: The variable of a residual model's Dataset that carries the model's attrs: a
#: :class:`~xemu.variability.BlockBootstrap`'s, then a :class:`~xemu.variability.ResidualModel`'s.
_MAIN_VARIABLES = ("residuals", "sigma")


def _main_variable(ds: xr.Dataset) -> str:
    """The variable of a residual model's Dataset that carries the model's attrs."""
    return next(v for v in _MAIN_VARIABLES if v in ds.data_vars)


def is_precipitation(name: str, attrs) -> bool:
    """Whether the target ``name`` (with attrs ``attrs``) is a precipitation: its residual model
    is then of kind ``"precipitation"`` (draws never negative)."""
    from ..data.units import PLAUSIBLE_RANGES

    key = name if name in PLAUSIBLE_RANGES else str(attrs.get("standard_name", ""))
    return key in ("pr", "precipitation_flux", "lwe_precipitation_rate", "precipitation_amount")


#: How a calibrated prediction adds variance (``emulator.json``'s ``variability.calibration``,
#: :attr:`Variability.calibration`): each block of months given its baseline's variance plus the
#: internal variance learned against the baseline (a CNN-GRU on a baseline, since it was added);
#: the internal variance added to the prediction's own in each block of months (baselines alone
#: and a CNN-GRU without one; every fit of a CNN-GRU on a baseline before the first was added);
#: added to the blocks' average with one stretch per series (emulators saved before that); or the
#: fixed variance ratio (emulators saved before the internal variance was recorded; their record
#: has no ``calibration``).
CALIBRATIONS = ("the baseline's variance and internal variance per block", "internal variance added per block",
                "internal variance added", "variance ratio")

#: What ``predict(..., variability=...)`` returns without ``samples``.
OUTPUTS = ("forced", "calibrated")


def apply(pred: xr.Dataset, variability: Variability | None, *, output: str = "forced", samples: int | None = None,
          seed: int | None = None, anchor: str | int | None = None,
          realization_dim: str = "realization", reference: xr.Dataset | None = None) -> xr.Dataset:
    """What an emulator's ``predict`` returns, from its forced response ``pred``.

    ``output="forced"`` returns ``pred``; ``"calibrated"`` the variability-aware
    deterministic prediction (:meth:`Variability.calibrate`); ``samples=n`` draws ``n``
    realizations of ``pred`` plus internal variability on a new ``realization`` dim,
    reproducible for ``seed`` (with ``seed=None`` a fresh seed is drawn and recorded in the
    ``realization`` coordinate's ``seed`` attribute, so that the draw can be repeated);
    with ``anchor="decade"`` each draw keeps ``pred``'s mean over each calendar decade
    (:func:`~xemu.variability.anchor_draws`). ``reference``: the baseline's forced prediction
    of ``pred``'s months, for a calibration that takes its variance from it
    (:attr:`Variability.needs_reference`); only with ``output="calibrated"``.
    """
    if output not in OUTPUTS:
        raise ConfigError(f"variability: expected one of {list(OUTPUTS)}; got {output!r}")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1):
        raise ConfigError(f"samples: expected an integer >= 1 or None; got {samples!r}")
    if samples is not None and output != "forced":
        raise ConfigError(f"variability: samples add internal variability to the forced response; "
                          f"expected variability='forced' with samples={samples}; got {output!r}")
    if seed is not None and samples is None:
        raise ConfigError(f"seed: only used with samples=...; got seed={seed!r} and no samples")
    years = anchor_years(anchor)
    if years is not None and samples is None:
        raise ConfigError(f"anchor: only used with samples=...; got anchor={anchor!r} and no samples")
    if reference is not None and (output != "calibrated" or samples is not None):
        raise ConfigError(f"reference: only used by a calibrated prediction; got variability={output!r}"
                          + (f" with samples={samples}" if samples is not None else ""))
    if output == "forced" and samples is None:
        return pred
    if variability is None:
        raise ConfigError("variability: this emulator has no model of internal variability (fitted with "
                          "variability=False, or saved by an xemu without it); refit it to get "
                          + ("samples" if samples is not None else "a calibrated prediction"))
    if samples is None:
        out = variability.calibrate(pred, reference)
        what = "variability-aware (calibrated on training residuals)"
    else:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**32)
        out = variability.sample(pred, int(samples), seed=seed, realization_dim=realization_dim, anchor=years)
        what = f"{samples} stochastic realizations (seed {seed}" + (
            f"; each draw's mean over each block of {years} calendar years is the forced response's)" if years else ")")
    out.attrs = {**pred.attrs, "title": f"{pred.attrs.get('title', 'xemu prediction')}: {what}"}
    if "history" in out.attrs:
        out.attrs["history"] = f"{out.attrs['history']}; {what}"
    return out


def variability_method(value, argument: str = "variability") -> str | None:
    """The residual model named by a fit's ``variability`` option: ``True`` is the default
    (``"bootstrap"``), ``False`` none (``None``)."""
    if value is True or value is False or isinstance(value, np.bool_):
        return "bootstrap" if value else None
    if isinstance(value, str) and value in METHODS:
        return value
    raise ConfigError(f"{argument}: expected True (the default residual model, 'bootstrap'), False (none) or one "
                      f"of {list(METHODS)}; got {value!r}")


def variability_meta(variability: Variability | None) -> dict | None:
    """What ``emulator.json`` records of an emulator's :class:`Variability` (``None`` without one)."""
    if variability is None:
        return None
    models = variability.models.values()
    out = {"block": variability.block, "n_modes": int(max(m.n_modes for m in models)), "method": variability.method,
           "calibration": variability.calibration}
    if variability.method == "bootstrap":
        out["n_years"] = int(max(m.n_years for m in models))
    return out


def fit_variability(p, values: np.ndarray, held: np.ndarray, *, n_modes: int = 40,
                    method: str = "bootstrap", reference: np.ndarray | None = None) -> Variability | None:
    """The :class:`Variability` of an emulator from its prepared training data.

    Parameters
    ----------
    p : xemu.data.prepare.Prepared
        The training data (targets on their sample dims).
    values : numpy.ndarray
        ``(S_in, T, V, H, W)``: the emulator's own prediction of every month of the inputs.
    held : numpy.ndarray
        ``(S_t, T)`` bool: held-out months (not training months; left out of everything).
    method : {"bootstrap", "parametric"}
        The residual model of the samples (see :meth:`Variability.fit`).
    reference : numpy.ndarray, optional
        Shaped as ``values``: the baseline's part of them (a CNN-GRU on a baseline); the
        calibration then takes its variance from the baseline (:meth:`Variability.fit`).

    The block of :func:`~xemu.variability.variance_ratio` is
    :data:`~xemu.variability.BLOCK_MONTHS`, or the longest run of consecutive training months
    when that is shorter (the block used is recorded); with
    fewer than 24 such months nothing is fitted (a warning says so) and ``None`` is returned.
    """
    from ..data.labels import to_dataset

    block = calibration_block(p.time, held)
    if block is None:
        return None
    attrs = {n: {"units": p.target_units[n]} for n in p.target_names}
    pred = to_dataset(values, p, p.target_names, attrs, "")
    if reference is not None:
        reference = to_dataset(reference, p, p.target_names, attrs, "")[list(p.target_names)].reset_coords(drop=True)
    dims = (*p.target_sample_dims, p.time.dims[0], p.lat.dims[0], p.lon.dims[0])
    shape = [p.sample_coords[d].size for d in p.target_sample_dims] + [p.time.size, p.lat.size, p.lon.size]
    coords = {d: p.sample_coords[d] for d in p.target_sample_dims}
    coords.update({p.time.dims[0]: p.time, p.lat.dims[0]: p.lat, p.lon.dims[0]: p.lon})
    mask = held[:, :, None, None]
    truth = xr.Dataset({
        name: xr.DataArray(np.where(mask, np.nan, p.targets[:, :, v]).reshape(shape), dims=dims, coords=coords,
                           attrs=truth_attrs(p, name))
        for v, name in enumerate(p.target_names)
    })
    try:
        return Variability.fit(truth, pred[list(p.target_names)].reset_coords(drop=True), block=block,
                               n_modes=n_modes, method=method, reference=reference)
    except DataError as err:
        warn_unlearnable(err)
        return None


def calibration_block(time, held: np.ndarray) -> int | None:
    """The block of :func:`~xemu.variability.variance_ratio` of an emulator trained on the months
    ``~held`` ``(S_t, T)`` of ``time``: :data:`~xemu.variability.BLOCK_MONTHS`, or the longest run
    of consecutive training months when that is shorter; ``None`` (and a warning) when that run
    is under 24 months."""
    from ..data.checks import month_index
    from ..data.windows import runs
    from ..errors import warn

    months = month_index(time)
    longest = max((b - a for s in range(held.shape[0]) for a, b in runs(~held[s], months)), default=0)
    if longest < 24:
        warn(f"variability: the longest run of consecutive training months is {longest}; at least 24 are "
             f"needed to learn internal variability, so predict(..., samples=...) and "
             f"variability='calibrated' are unavailable for this emulator")
        return None
    return min(BLOCK_MONTHS, longest)  # recorded in the emulator's metadata ("variability": {"block": ...})


def truth_attrs(p, name: str) -> dict:
    """The attrs of the training truth of target ``name`` that its residual model reads (units, standard name)."""
    return {"units": p.target_units[name], **{k: v for k, v in p.target_attrs[name].items() if k == "standard_name"}}


def warn_unlearnable(err: Exception) -> None:
    """Warn that internal variability cannot be learned from the training residuals (``err`` says why)."""
    from ..errors import warn

    warn(f"variability: cannot be learned from the training residuals ({err}); predict(..., samples=...) "
         f"and variability='calibrated' are unavailable for this emulator")
