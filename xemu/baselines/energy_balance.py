"""Energy-balance pattern scaling: a global-mean temperature from the forcings through an
energy-balance model (:mod:`xemu.baselines.global_response`), and per grid cell and calendar
month a linear pattern on that global mean (as MESMER does).

Why this shape: with a few training scenarios, the maps attached to each forcing by
:class:`~xemu.LinearPatternScaling` are barely identified (CH4, SO2 and BC trend together),
and a scenario never run moves them outside their training range. Here the forcings meet
only in one global number, whose response is constrained by physics and by priors, and the
local maps hang on that number alone: a scenario never run changes how warm the world gets,
and the map follows the global mean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..data.checks import warn_outside_range
from ..data.encoding import month_of
from ..data.grid import area_weights
from ..data.prepare import Prepared
from ..errors import ConfigError, DataError
from .base import Baseline, series_given
from .global_response import (
    DEFAULT_FREE,
    EARTH_AREA,
    PARAMETERS,
    PRIORS,
    SECONDS_PER_YEAR,
    STRENGTHS,
    Forcings,
    GlobalResponse,
    check_free,
    choose_strength,
    fit_global_response,
)

__all__ = ["EnergyBalancePatternScaling", "ROLES", "ROLE_UNITS", "GLOBAL_ROLES", "FitOptions", "role_inputs",
           "check_roles", "check_role_dims", "check_fit_options", "role_forcings", "global_mean", "fit_global",
           "pattern_design"]

#: The forcing each role of the global model reads, by default. A fifth role, ``"gmt"``, has
#: no default: an input of global-mean temperature that replaces the global model (the
#: MESMER-style workflow: patterns on a global mean the user brings, e.g. from FaIR).
ROLES: dict[str, str] = {"co2": "CO2", "ch4": "CH4", "so2": "SO2", "bc": "BC"}
#: Units each role is converted to, and the factor from them to the model's units.
ROLE_UNITS: dict[str, tuple[str, float, str]] = {
    "co2": ("Gt", 1.0, "cumulative CO2 emissions (Gt CO2)"),
    "ch4": ("Gt yr-1", 1.0, "CH4 emissions (Gt CH4 per year)"),
    "so2": ("kg m-2 s-1", EARTH_AREA * SECONDS_PER_YEAR / 1e9, "SO2 emission flux"),
    "bc": ("kg m-2 s-1", EARTH_AREA * SECONDS_PER_YEAR / 1e9, "black carbon emission flux"),
    "gmt": ("K", 1.0, "global-mean temperature"),
}
#: Roles whose input must be a global series (no spatial dims): one number per month and sample.
#: The other roles (``so2``, ``bc``) take maps or series; the model reads their global means.
GLOBAL_ROLES: tuple[str, ...] = ("co2", "ch4", "gmt")
TERMS = ["global_temperature", "intercept"]


class FitOptions(NamedTuple):
    """The options of :meth:`EnergyBalancePatternScaling.fit`, checked (:func:`check_fit_options`)."""

    roles: dict  # {role: input}, as check_roles gives them
    free: tuple[str, ...]
    temperature: str
    strength: float | str


def check_fit_options(ds: xr.Dataset, inputs, targets, *, temperature: str = "tas", roles: dict | None = None,
                      free=DEFAULT_FREE, strength: float | str = "cv") -> FitOptions:
    """The options of :meth:`EnergyBalancePatternScaling.fit` (the same defaults), checked against
    ``inputs``, ``targets`` and the dims of ``ds``'s inputs (read lazily: no data is read).

    Raises :class:`~xemu.ConfigError` or :class:`~xemu.DataError` naming the option, as
    :func:`check_roles`, :func:`check_role_dims` and
    :func:`~xemu.baselines.global_response.check_free` do, for a ``temperature`` not among
    ``targets`` and a ``strength`` neither a number >= 0 nor ``"cv"``.
    """
    given, roles = roles, check_roles(roles, inputs)
    check_role_dims(ds, roles, given=given, targets=targets)
    free = check_free(free)
    if temperature not in targets:
        raise ConfigError(f"temperature: expected one of the targets {list(targets)}; got {temperature!r}")
    if not (strength == "cv" or (isinstance(strength, int | float) and not isinstance(strength, bool)
                                 and np.isfinite(strength) and strength >= 0)):
        raise ConfigError(f"strength: expected a number >= 0 or 'cv'; got {strength!r}")
    return FitOptions(roles, free, temperature, strength)


def role_inputs(inputs, roles=None) -> list[str]:
    """The names in ``inputs`` that the global model reads (a role of ``roles``, default :data:`ROLES`)."""
    given = dict(roles) if isinstance(roles, Mapping) else {}
    names = {v for v in {**ROLES, **given}.values() if isinstance(v, str)}
    return [v for v in inputs if v in names]


class EnergyBalancePatternScaling(Baseline):
    """Per cell and calendar month: ``target = a + b * T_global``, where ``T_global`` is the
    global-mean temperature an energy-balance model gives for the forcings.

    Examples
    --------
    >>> import warnings, xemu
    >>> ds = xemu.synthetic_climate(n_years=12, n_lat=4, n_lon=6)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     eb = xemu.EnergyBalancePatternScaling().fit(ds, ["CO2", "CH4", "SO2", "BC"], ["tas", "pr"])
    >>> eb.params["coef_tas"].dims
    ('month', 'term', 'lat', 'lon')
    >>> sorted(eb.global_response.free)
    ['tcre']
    """

    kind = "energy-balance"

    def fit(self, ds, inputs, targets, *, holdout=None, grid_alignment="position", temperature: str = "tas",
            roles: dict | None = None, free=DEFAULT_FREE, strength: float | str = "cv",
            variability: bool | str = True) -> EnergyBalancePatternScaling:
        """Fit the global response to the training months' global-mean ``temperature``, then
        the patterns on the fitted global mean.

        Parameters
        ----------
        ds : xarray.Dataset
            Inputs and targets; every month outside ``holdout`` is a training month.
        inputs : list of str
            The forcings, each with a role in ``roles``: cumulative CO2 emissions (needed),
            CH4 emissions, SO2 and black-carbon emission maps (their global means are used).
        targets : list of str
            Target maps; ``temperature`` must be one of them.
        temperature : str
            The target whose global mean the energy-balance model follows (default ``"tas"``).
        roles : dict, optional
            ``{"co2": name, "ch4": name, "so2": name, "bc": name}``: which input plays which
            part (default :data:`ROLES`); a role without an input contributes nothing.
            ``{"gmt": name}`` instead: ``name`` is a global-mean temperature series (an input
            without spatial dims, in temperature units) on which the patterns are fitted and
            predicted directly; no global model is fitted, and ``inputs`` is ``[name]``.
        free : sequence of str
            Parameters of the global model fitted to the data (default ``("tcre",)``, chosen by
            nested leave-one-scenario-out: :data:`xemu.baselines.global_response.DEFAULT_FREE`;
            e.g. ``("tcre", "aerosol", "methane")``); the others keep their prior means
            (:data:`xemu.baselines.global_response.PRIORS`).
        strength : float or "cv"
            How strongly the free parameters are held to their priors; ``"cv"`` (default)
            chooses it by leaving out one training forcing sample (scenario) at a time
            (:func:`xemu.baselines.global_response.choose_strength`).
        variability : bool or {"bootstrap", "parametric"}
            Also learn internal variability from the training residuals (see :func:`xemu.fit`).
        """
        o = check_fit_options(ds, inputs, targets, temperature=temperature, roles=roles, free=free, strength=strength)
        p, train = self._prepare_fit(ds, inputs, targets, holdout, grid_alignment)
        forcings = role_forcings(p, o.roles)
        glob = None if "gmt" in o.roles else global_mean(p.targets[:, :, p.target_names.index(temperature)], p.lat)
        response, t_hat = fit_global(forcings, glob, train, p.target_to_input, o)
        self.set_fit(p, response, t_hat, _patterns(p, train, t_hat), o, holdout, grid_alignment)
        return self._fit_variability(p, train, variability)

    def set_fit(self, p: Prepared, response: GlobalResponse, t_hat: np.ndarray, coef: np.ndarray, options: FitOptions,
                holdout, grid_alignment) -> EnergyBalancePatternScaling:
        """Keep the parameters of a fit and return self: the last step of :meth:`fit`, and of the
        fit from passes over a store's blocks (:mod:`xemu.scale.energy_balance`).

        ``p``: the prepared global-mean inputs ``(S_in, T, K)`` of every month (their range is
        kept) and the targets' names, units and grid; ``response`` and ``t_hat`` ``(S_in, T)``:
        :func:`fit_global`'s answer; ``coef`` ``(12, 2, V, H, W)``: the patterns' slope and
        intercept per calendar month; ``options``: :func:`check_fit_options`'s answer.
        """
        temperature = options.temperature
        x = p.inputs
        params = xr.Dataset({
            **{f"coef_{name}": xr.DataArray(
                coef[:, :, i], dims=("month", "term", p.lat.dims[0], p.lon.dims[0]),
                attrs={"long_name": f"pattern of {name} on the global-mean {temperature}",
                       "units": p.target_units[name]}) for i, name in enumerate(p.target_names)},
            **_response_variables(response),
            "input_min": ("input", x.min((0, 1)), {"long_name": "training minimum of the global-mean inputs"}),
            "input_max": ("input", x.max((0, 1)), {"long_name": "training maximum of the global-mean inputs"}),
            "global_range": ("bound", [float(t_hat.min()), float(t_hat.max())],
                             {"long_name": f"range of the fitted global-mean {temperature} over the training "
                                           f"forcings", "units": p.target_units[temperature]}),
        }, coords={"term": TERMS, "input": list(p.input_units), "parameter": list(PARAMETERS),
                   "bound": ["min", "max"]})
        if response.cv_error is not None:
            params["cv_error"] = xr.DataArray(
                response.cv_error, dims=("strength_tried", "left_out"),
                coords={"strength_tried": list(STRENGTHS)},
                attrs={"long_name": f"RMS error of the left-out sample's global means (K): {response.how}"})
        self.set_params(params, p, holdout, grid_alignment)
        self.params.attrs.update({"xemu_roles": json.dumps(options.roles), "xemu_temperature": temperature})
        self._response = response
        return self

    @property
    def global_response(self) -> GlobalResponse:
        """The fitted global model (:class:`xemu.baselines.global_response.GlobalResponse`)."""
        self._check_fitted()
        if getattr(self, "_response", None) is None:
            pr = self.params
            free = tuple(n for n, f in zip(PARAMETERS, pr["global_free"].values, strict=True) if f)
            self._response = GlobalResponse(
                dict(zip(PARAMETERS, pr["global_value"].values.tolist(), strict=True)),
                float(pr["global_value"].attrs["offset"]), free, float(pr["global_value"].attrs["strength"]),
                str(pr["global_value"].attrs["strength_choice"]))
        return self._response

    def prepare_predict(self, ds) -> Prepared:
        """The inputs of ``ds`` prepared for a prediction, after checking that each input's dims
        fit its role (:func:`check_role_dims`)."""
        self._check_fitted()
        check_role_dims(ds, json.loads(self.params.attrs["xemu_roles"]))
        return super().prepare_predict(ds)

    def global_temperature(self, p: Prepared) -> np.ndarray:
        """``(S_in, T)`` global-mean temperature of the prepared inputs ``p`` (the global model's,
        or the input of role ``"gmt"``); within ``xemu.baselines.base.given_series``, its series."""
        given = series_given()
        if given is not None:
            if given.shape != (p.inputs.shape[0], p.time.size):
                raise DataError(f"given_series: expected the global-mean temperature of {p.inputs.shape[0]} "
                                f"samples x {p.time.size} months; got shape {given.shape}")
            return given
        forcings = role_forcings(p, json.loads(self.params.attrs["xemu_roles"]))
        return forcings.gmt if forcings.gmt is not None else self.global_response.predict(forcings)

    @property
    def history(self) -> bool:
        """The global model has memory (its ocean layers): a month's prediction depends on every
        month before it in the series; not so with a global-mean temperature input (``"gmt"``)."""
        return "gmt" not in json.loads(self.params.attrs["xemu_roles"])

    def predict_arrays(self, p: Prepared) -> np.ndarray:
        """``(S_in, T, V, H, W)`` float32 predictions from prepared global-mean inputs."""
        self._check_fitted()
        t_hat = self.global_temperature(p)
        months = month_of(p.time).values - 1
        coef = np.stack([self.params[f"coef_{n}"].values for n in self.targets], axis=2)  # (12, 2, V, H, W)
        out = np.empty((t_hat.shape[0], months.size, *coef.shape[2:]), np.float32)
        for m in np.unique(months):  # one calendar month at a time: no (T, V, H, W) copies of the patterns
            at = np.flatnonzero(months == m)
            out[:, at] = coef[m, 1] + coef[m, 0] * t_hat[:, at, None, None, None]  # float64, then float32
        return out

    def check_derived_ranges(self, p: Prepared) -> None:
        """Warn for a global-mean temperature of the global model outside the training range."""
        if "gmt" in json.loads(self.params.attrs["xemu_roles"]):
            return  # the input's own range warning says it
        if series_given() is None:  # else the caller checked the whole series (lazy blocks)
            self.check_global_range(self.global_temperature(p))

    def check_global_range(self, t_hat: np.ndarray) -> None:
        """Warn when the global-mean temperature ``t_hat`` (``(S, T)``) leaves the training range."""
        lo, hi = self.params["global_range"].values.tolist()
        temperature = self.params.attrs["xemu_temperature"]
        warn_outside_range(f"the global-mean {temperature} of the energy-balance model", float(t_hat.min()),
                           float(t_hat.max()), (lo, hi), units=self.meta["target_units"][temperature])


def check_roles(roles, inputs) -> dict:
    """``roles`` (the user's ``roles=``, or ``None``) completed from :data:`ROLES` and checked
    against ``inputs``; returns ``{role: input}`` for the roles an input plays.

    Raises :class:`~xemu.ConfigError` naming the argument for each mismatch a user can make:
    ``roles`` not a dict, an unknown role, a name that is not a string or not among
    ``inputs``, one input given two roles, other roles beside ``"gmt"``, an input with no role,
    no CO2 input. A default role whose input another role takes is dropped.

    Examples
    --------
    >>> from xemu.baselines.energy_balance import check_roles
    >>> check_roles({"co2": "co2_cum"}, ["co2_cum", "CH4"])
    {'co2': 'co2_cum', 'ch4': 'CH4'}
    """
    if roles is not None and not isinstance(roles, Mapping):
        raise ConfigError(f"roles: expected a dict {{role: input name}} with roles among {list(ROLE_UNITS)}; "
                          f"got {roles!r}")
    given = dict(roles or {})
    inputs = list(inputs)
    for role, name in given.items():
        if role not in ROLE_UNITS:
            raise ConfigError(f"roles: unknown role {role!r}; expected roles among {list(ROLE_UNITS)} ("
                              + "; ".join(f"{k}: {v[2]}" for k, v in ROLE_UNITS.items()) + ")")
        if not isinstance(name, str):
            raise ConfigError(f"roles[{role!r}]: expected the name of an input (a str); got {name!r}")
        if name not in inputs:
            raise ConfigError(f"roles[{role!r}]: {name!r} is not among the inputs {inputs}; expected one of them "
                              f"(add it to inputs, or leave the role out)")
    for name in set(given.values()):
        twice = [r for r, n in given.items() if n == name]
        if len(twice) > 1:
            raise ConfigError(f"roles: input {name!r} is given {len(twice)} roles ({', '.join(twice)}); expected "
                              f"one role per input")
    if "gmt" in given:
        others = [r for r in given if r != "gmt"]
        if others:
            raise ConfigError(f"roles: with a global-mean temperature input (roles['gmt']) no global model is fitted "
                              f"and no forcing read; expected no other role; got {others} too")
        if inputs != [given["gmt"]]:
            raise ConfigError(f"inputs: with a global-mean temperature input (roles={{'gmt': {given['gmt']!r}}}) the "
                              f"patterns need no forcing; expected inputs [{given['gmt']!r}]; got {inputs}")
        return {"gmt": given["gmt"]}
    full = {**{k: v for k, v in ROLES.items() if v not in given.values()}, **given}
    used = {k: v for k, v in full.items() if v in inputs}
    if "co2" not in used:
        default = repr(full["co2"]) if "co2" in full else f"{ROLES['co2']!r} plays another role here"
        raise ConfigError(f"inputs: the energy-balance baseline needs cumulative CO2 emissions ({default!s}, "
                          f"or roles={{'co2': <name>}}); got {inputs}")
    others = [v for v in inputs if v not in used.values()]
    if others:
        raise ConfigError(f"inputs: the energy-balance baseline reads only forcings with a role ({full}); "
                          f"got {others} too (name their role with roles=, or leave them out)")
    return used


def check_role_dims(ds: xr.Dataset, roles: dict, *, given=None, targets=None) -> None:
    """Refuse an input whose dims do not fit its role (:class:`~xemu.DataError` naming the role and the dims).

    An input of a role of :data:`GLOBAL_ROLES` (``co2``, ``ch4``, ``gmt``) must be a global
    series: no latitude or longitude dim and, given ``targets``, no dim other than time and the
    targets' sample dims (a grid xemu does not recognise as one). ``roles`` is
    :func:`check_roles`'s answer, ``given`` the user's ``roles=`` (to name the argument).

    Examples
    --------
    >>> import xemu
    >>> from xemu.baselines.energy_balance import check_role_dims
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)
    >>> check_role_dims(ds, {"co2": "SO2"}, given={"co2": "SO2"})
    Traceback (most recent call last):
    ...
    xemu.errors.DataError: roles['co2']: input 'SO2' has the spatial dims (lat, lon); ...
    """
    from ..data.coords import roles as dim_roles

    allowed = None
    if targets:
        first = next((t for t in targets if t in ds), None)
        allowed = None if first is None else set(dim_roles(ds[first], name=f"targets[{first!r}]").sample)
    for role, name in roles.items():
        if role not in GLOBAL_ROLES or name not in ds:
            continue
        label = f"roles[{role!r}]" if role in (given or {}) else f"inputs[{name!r}] (role {role!r})"
        what = ROLE_UNITS[role][2]
        r = dim_roles(ds[name], name=f"inputs[{name!r}]")
        if r.spatial is not None:
            lat, lon = r.spatial
            raise DataError(
                f"{label}: input {name!r} has the spatial dims ({lat}, {lon}); expected a global series, one "
                f"number per month ({what}), e.g. its area-weighted global mean "
                f"ds[{name!r}].weighted(np.cos(np.deg2rad(ds[{lat!r}]))).mean([{lat!r}, {lon!r}]); dims "
                f"({', '.join(map(str, ds[name].dims))})")
        extra = [str(d) for d in r.sample if allowed is not None and d not in allowed]
        if extra:
            raise DataError(
                f"{label}: input {name!r} has the dims ({', '.join(extra)}), neither time nor a sample dim of the "
                f"targets ({', '.join(sorted(allowed))}); expected a global series, one number per month and "
                f"sample ({what}); dims ({', '.join(map(str, ds[name].dims))})")


def role_forcings(p: Prepared, roles: dict) -> Forcings:
    """The prepared global-mean inputs as :class:`Forcings` in the model's units."""
    from ..data.units import get_registry

    names = list(p.input_units)
    out = {}
    for role, (units, factor, what) in ROLE_UNITS.items():
        if role not in roles:
            out[role] = None if role == "gmt" else np.zeros(p.inputs.shape[:2])
            continue
        name = roles[role]
        values = p.inputs[..., names.index(name)].astype(np.float64)
        if p.input_units[name] == units:  # the role's own units: no conversion (and no pint registry to build)
            out[role] = values * factor
            continue
        try:  # whole arrays: temperatures convert with an offset
            out[role] = get_registry().Quantity(values, p.input_units[name]).to(units).magnitude * factor
        except Exception:  # noqa: BLE001 (pint raises several kinds; all mean "not convertible")
            raise DataError(f"inputs[{name!r}]: the energy-balance baseline reads it as {what} (role {role!r}), "
                            f"in units convertible to {units!r}; got {p.input_units[name]!r}") from None
    return Forcings(out["co2"], out["ch4"], out["so2"], out["bc"], out["gmt"])


def global_mean(values: np.ndarray, lat: xr.DataArray) -> np.ndarray:
    """The area-weighted global mean (float64) of maps ``values`` ``(..., H, W)`` on the latitudes
    ``lat``: ``(...)``. The same arithmetic on every month, whether the maps come whole or in
    blocks of months."""
    w = area_weights(lat).values
    return (values.astype(np.float64) * w[:, None]).mean((-2, -1)) / w.mean()


def fit_global(forcings: Forcings, glob: np.ndarray | None, train: np.ndarray, target_to_input: np.ndarray,
               options: FitOptions) -> tuple[GlobalResponse, np.ndarray]:
    """The global model fitted to the global-mean temperature ``glob`` ``(S_t, T)`` of the target
    samples over the training months ``train`` ``(S_t, T)`` (:func:`global_mean` of the
    temperature target), and its global mean ``(S_in, T)`` for ``forcings``.

    With a global-mean temperature input (role ``"gmt"``) no model is fitted (``glob`` is not
    read): the global mean is that input.
    """
    if "gmt" in options.roles:  # the user's global mean: no global model
        response = GlobalResponse({n: PRIORS[n][0] for n in PARAMETERS}, 0.0, (), 0.0,
                                  f"none: the global-mean temperature is the input {options.roles['gmt']!r}")
        return response, forcings.gmt
    rows = forcings.take(target_to_input)
    if options.strength == "cv":
        response = choose_strength(rows, glob, train, target_to_input, free=options.free)
    else:
        response = fit_global_response(rows, glob, train, free=options.free, strength=float(options.strength))
    return response, response.predict(forcings)


def pattern_design(time: xr.DataArray, train: np.ndarray, t_hat: np.ndarray, target_to_input: np.ndarray):
    """``(s_idx, t_idx, months, x)`` of the patterns' fit: each training month's target sample, time
    step, calendar month (0-11) and global mean (``t_hat`` ``(S_in, T)`` of its input sample).

    Raises :class:`~xemu.DataError` when a calendar month has fewer than 2 training months with
    distinct global means (the slope is not determined).
    """
    s_idx, t_idx = np.nonzero(train)
    months = month_of(time).values[t_idx] - 1
    x = t_hat[target_to_input[s_idx], t_idx]
    for m in range(12):
        sel = months == m
        if sel.sum() < 2 or np.ptp(x[sel]) == 0:
            raise DataError(f"ds: calendar month {m + 1} has {int(sel.sum())} training months with distinct "
                            f"global means; the patterns need at least 2")
    return s_idx, t_idx, months, x


def _patterns(p: Prepared, train: np.ndarray, t_hat: np.ndarray) -> np.ndarray:
    """``(12, 2, V, H, W)``: per calendar month, the least-squares slope and intercept of each
    cell on the fitted global mean ``t_hat`` ``(S_in, T)`` over the training months."""
    s_idx, t_idx, months, x = pattern_design(p.time, train, t_hat, p.target_to_input)
    shape = p.targets.shape[2:]
    coef = np.zeros((12, 2, *shape))
    for m in range(12):
        sel = months == m
        y = p.targets[s_idx[sel], t_idx[sel]].astype(np.float64).reshape(int(sel.sum()), -1)
        xm = x[sel] - x[sel].mean()
        slope = xm @ (y - y.mean(0)) / (xm @ xm)
        coef[m, 0] = slope.reshape(shape)
        coef[m, 1] = (y.mean(0) - slope * x[sel].mean()).reshape(shape)
    return coef


def _response_variables(r: GlobalResponse) -> dict:
    """The global model's parameters as variables on ``parameter``."""
    attrs = {"long_name": "parameters of the global response (xemu.baselines.global_response)",
             "units_by_parameter": json.dumps({n: PRIORS[n][2] for n in PARAMETERS}),
             "offset": r.offset, "offset_units": "K", "strength": r.strength, "strength_choice": r.how}
    return {
        "global_value": ("parameter", [r.values[n] for n in PARAMETERS], attrs),
        "global_free": ("parameter", np.array([n in r.free for n in PARAMETERS], np.int8),
                        {"long_name": "1 where the parameter was fitted, 0 where it kept its prior mean"}),
        "global_prior_mean": ("parameter", [PRIORS[n][0] for n in PARAMETERS], {"long_name": "prior mean"}),
        "global_prior_sd": ("parameter", [PRIORS[n][1] for n in PARAMETERS],
                            {"long_name": "prior standard deviation"}),
    }
