"""Linear pattern scaling: per grid cell and per calendar month, a ridge regression of each
target on the area-weighted global means of the inputs, plus an intercept.

The inputs are standardised before the solve (their magnitudes differ by 14 orders: CO2 in
Gt, SO2 in kg m-2 s-1), and the ridge strength is chosen by leave-one-scenario-out
cross-validation on the training months (:mod:`xemu.baselines.regression`): ordinary least
squares (``alpha=0``) fits internal variability along nearly collinear forcings.
``predict`` warns when an input's global mean leaves the range seen in training.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.encoding import month_of
from ..data.grid import area_weights
from ..data.prepare import (
    Prepared,
)
from ..errors import ConfigError, DataError, warn
from .base import Baseline

__all__ = ['LinearPatternScaling', 'check_alpha', 'linear_design', 'warn_condition', 'linear_params']


class LinearPatternScaling(Baseline):
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
            Ridge strength on the standardised inputs (:mod:`xemu.baselines.regression`); ``"cv"``
            (default) chooses it per target by cross-validation on the training months,
            leaving out one forcing sample (scenario) at a time when there are at least
            three, else five contiguous blocks of time (:func:`xemu.baselines.regression.cv_folds`);
            ``0`` is ordinary least squares.
        variability : bool or {"bootstrap", "parametric"}
            Also learn internal variability from the training residuals, and which residual
            model (see :func:`xemu.fit`), for ``predict(..., variability="calibrated")`` and
            ``predict(..., samples=n)``.

        Warns
        -----
        UserWarning
            When the standardised design is poorly conditioned (condition number above
            :data:`xemu.baselines.regression.COND_WARN`), naming the least-determined combination
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
        linear_params(self, p, coef, x, mean, std, chosen, how, cv_error, cond, holdout, grid_alignment)
        return self._fit_variability(p, train, variability)

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
    :meth:`LinearPatternScaling.fit` and the streamed fit (:mod:`xemu.scale.stream`).
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
    """The condition number of the standardised design; warns above :data:`xemu.baselines.regression.COND_WARN`,
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
    return bl.set_params(params, p, holdout, grid_alignment)
