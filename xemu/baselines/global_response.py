"""The global-mean temperature response to the forcings: effective radiative forcing from
the inputs, a two-layer energy-balance model, and a fit to the training scenarios that
stays near physical prior values where the data cannot tell parameters apart.

The model, for one forcing series (monthly steps, ``dt = 1/12`` year):

* **CO2** warms in proportion to cumulative emissions (the transient climate response to
  cumulative emissions, TCRE; IPCC AR6 WG1 SPM D.1.1: 0.45 K per 1000 GtCO2, likely range
  0.27-0.63): ``T_co2 = tcre * E``. The near-linear relation is what the carbon cycle and
  the ocean's heat uptake give together, so it does not go through the energy-balance model.
* **Methane** emissions (Gt CH4 per year) feed a one-box concentration (lifetime
  :data:`CH4_LIFETIME` years, 2.78 Tg per ppb, natural emissions :data:`CH4_NATURAL`, at
  equilibrium with the first month before the series starts) whose forcing is the simplified
  expression ``0.036 (sqrt(M) - sqrt(722))`` W m-2 (Myhre et al. 1998), scaled by ``methane``.
* **Aerosols**: the global mean of the SO2 emission flux cools by ``aerosol`` W m-2 per
  Tg SO2 per year and that of black carbon warms by ``black_carbon`` W m-2 per Tg BC per year.
* The non-CO2 forcing drives the two-layer model (Held et al. 2010; Geoffroy et al. 2013)
  ``C dT/dt = F - feedback*T - exchange*(T - Td)``, ``C_d dTd/dt = exchange*(T - Td)``,
  spun up over :data:`SPIN_UP_YEARS` years of forcing rising to the first month's.

The global mean is ``offset + T_co2 + T``. The fit (:func:`fit_global_response`) minimises
the squared error of 12-month means over the training series plus ``strength`` times the
squared distance of the free parameters (:data:`DEFAULT_FREE` unless chosen otherwise) from
their prior means in prior standard deviations (:data:`PRIORS`); ``strength`` is chosen by leaving out one training scenario
at a time (:func:`choose_strength`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["PRIORS", "PARAMETERS", "STRENGTHS", "DEFAULT_FREE", "DEFAULT_STRENGTH", "ERROR_SCALE", "CH4_LIFETIME",
           "CH4_NATURAL", "PPB_PER_GT_CH4", "SPIN_UP_YEARS", "SECONDS_PER_YEAR", "EARTH_AREA", "DT",
           "methane_concentration", "check_free", "Forcings", "effective_forcing", "two_layer",
           "transfer_function", "recursive_filter",
           "GlobalResponse", "fit_global_response", "choose_strength", "block_means"]

#: Prior mean and standard deviation of each parameter, with its units.
PRIORS: dict[str, tuple[float, float, str]] = {
    "tcre": (0.45e-3, 0.2e-3, "K (Gt CO2)-1"),
    "methane": (1.0, 0.3, "1"),
    "aerosol": (0.0115, 0.0065, "W m-2 (Tg SO2 yr-1)-1"),
    "black_carbon": (0.034, 0.02, "W m-2 (Tg BC yr-1)-1"),
    "feedback": (1.2, 0.5, "W m-2 K-1"),
    "exchange": (0.7, 0.3, "W m-2 K-1"),
    "heat_capacity": (8.0, 3.0, "W yr m-2 K-1"),
    "deep_heat_capacity": (100.0, 50.0, "W yr m-2 K-1"),
}
#: The parameters in their stored order (the offset, in K, is fitted too and never penalised).
PARAMETERS: tuple[str, ...] = tuple(PRIORS)
#: Parameters fitted by default; the others keep their prior means. Chosen by nested
#: leave-one-scenario-out on the CSE 151B store (``benchmarks/loso_choices.py``): in each
#: outer fold, the training scenarios' inner folds preferred ``tcre`` alone to
#: ``tcre, aerosol, methane`` and to those plus ``feedback``.
DEFAULT_FREE: tuple[str, ...] = ("tcre",)
#: Prior strengths tried by :func:`choose_strength`.
STRENGTHS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: The strength used when fewer than two training scenarios leave nothing to choose it by.
DEFAULT_STRENGTH = 1e-3
#: The error scale of the fit's data term (K): strength 1 weighs one prior standard deviation
#: like a 0.1 K error of every 12-month mean.
ERROR_SCALE = 0.1
#: Lifetime of a methane perturbation in the one-box model (years).
CH4_LIFETIME = 9.3
#: Natural methane emissions (Gt CH4 per year), added to the input's.
CH4_NATURAL = 0.19
#: Methane concentration per mass in the atmosphere: 2.78 Tg per ppb.
PPB_PER_GT_CH4 = 1000.0 / 2.78
#: Years of the two-layer model's spin-up before the first month.
SPIN_UP_YEARS = 165
#: Seconds per (365-day) year, for emission fluxes per second.
SECONDS_PER_YEAR = 365.0 * 86400.0
#: The Earth's surface area (m2), for global emissions from a global-mean flux.
EARTH_AREA = 5.1e14
#: The model's time step (years): one month.
DT = 1.0 / 12.0


@dataclass
class Forcings:
    """One forcing series per sample, in the units the model uses.

    ``co2`` cumulative emissions (Gt CO2), ``ch4`` emissions (Gt CH4 yr-1), ``so2`` and
    ``bc`` global emissions (Tg yr-1); arrays ``(S, T)`` (zeros for a forcing not given);
    ``gmt``: a global-mean temperature input (K) that replaces the model, or ``None``.
    """

    co2: np.ndarray
    ch4: np.ndarray
    so2: np.ndarray
    bc: np.ndarray
    gmt: np.ndarray | None = None  # a global-mean temperature given as an input (K), if any

    def take(self, rows) -> Forcings:
        """The forcings of the samples ``rows`` (an index or a boolean mask on ``S``)."""
        return Forcings(self.co2[rows], self.ch4[rows], self.so2[rows], self.bc[rows],
                        None if self.gmt is None else self.gmt[rows])


def methane_concentration(ch4: np.ndarray) -> np.ndarray:
    """``(S, T)`` CH4 concentration (ppb) of a one-box model at equilibrium before the first month."""
    decay = np.exp(-DT / CH4_LIFETIME)
    m = PPB_PER_GT_CH4 * CH4_LIFETIME * (ch4[:, 0] + CH4_NATURAL)
    out = np.empty_like(ch4, dtype=np.float64)
    for t in range(ch4.shape[1]):
        m = m * decay + PPB_PER_GT_CH4 * CH4_LIFETIME * (ch4[:, t] + CH4_NATURAL) * (1 - decay)
        out[:, t] = m
    return out


def effective_forcing(f: Forcings) -> dict[str, np.ndarray]:
    """The non-CO2 forcing per unit of each parameter, ``(S, T)`` W m-2: ``methane`` (the
    simplified expression), ``aerosol`` (minus the SO2 emissions) and ``black_carbon``."""
    m = methane_concentration(f.ch4)
    return {"methane": 0.036 * (np.sqrt(m) - np.sqrt(722.0)), "aerosol": -f.so2, "black_carbon": f.bc}


def two_layer(forcing: np.ndarray, feedback: float, exchange: float, heat_capacity: float,
              deep_heat_capacity: float) -> np.ndarray:
    """Surface temperature ``(S, T)`` (K) of the two-layer model driven by ``forcing`` ``(S, T)``
    (W m-2, monthly), after a spin-up of :data:`SPIN_UP_YEARS` years of forcing rising
    exponentially (e-folding 45 years) to the first month's.

    The monthly steps are the state-space model's transfer function run as a recursive
    filter (:func:`transfer_function`, :func:`recursive_filter`: what ``scipy.signal.ss2tf``
    and ``scipy.signal.lfilter`` compute, to the bit, without importing ``scipy.signal``,
    which takes about a second of a prediction's time).
    """
    a = np.eye(2) + DT * np.array([[-(feedback + exchange) / heat_capacity, exchange / heat_capacity],
                                   [exchange / deep_heat_capacity, -exchange / deep_heat_capacity]])
    b = np.array([[DT / heat_capacity], [0.0]])
    c = np.array([[1.0, 0.0]])
    num, den = transfer_function(a, b, c @ a, c @ b)
    k = np.arange(-SPIN_UP_YEARS * 12, 0)
    ramp = forcing[:, :1] * np.exp(k * DT / 45.0)[None, :]
    full = np.concatenate([ramp, forcing], axis=1)
    return recursive_filter(num, den, full)[:, ramp.shape[1]:]


def transfer_function(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of the transfer function of the single-input, single-output
    state-space system ``(a, b, c, d)`` (``b`` a column, ``c`` a row, ``d`` ``(1, 1)``), as
    ``scipy.signal.ss2tf`` computes them (the same :func:`numpy.poly` calls, the same floats).

    Examples
    --------
    >>> num, den = transfer_function(np.array([[0.5]]), np.array([[1.0]]), np.array([[1.0]]), np.array([[0.0]]))
    >>> num.tolist(), den.tolist()
    ([0.0, 1.0], [1.0, -0.5])
    """
    den = np.poly(a)
    num = np.poly(a - np.dot(b, np.atleast_2d(c[0, :]))) + (d[0] - 1) * den
    return num, den


def recursive_filter(num: np.ndarray, den: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``scipy.signal.lfilter(num, den, x, axis=1)`` for a second-order filter (three
    coefficients each, ``den[0] == 1``) from a zero state: the direct form II transposed, with
    the operations in scipy's order, so that every value is the same to the bit.

    A loop over months in Python floats (IEEE doubles, as scipy's): about 5 ms for three
    series of 3,000 months.

    Examples
    --------
    >>> recursive_filter(np.array([1.0, 0.0, 0.0]), np.array([1.0, -0.5, 0.0]), np.ones((1, 4))).tolist()
    [[1.0, 1.5, 1.75, 1.875]]
    """
    if len(num) != 3 or len(den) != 3 or den[0] != 1.0:
        raise ValueError(f"recursive_filter: expected three coefficients each and den[0] == 1; got {num}, {den}")
    b0, b1, b2 = (float(v) for v in num)
    a1, a2 = float(den[1]), float(den[2])
    out = np.empty(x.shape, np.float64)
    for s in range(x.shape[0]):
        z0 = z1 = 0.0
        values = []
        for xk in x[s].tolist():
            yk = z0 + b0 * xk
            z0 = z1 + xk * b1 - yk * a1
            z1 = xk * b2 - yk * a2
            values.append(yk)
        out[s] = values
    return out


@dataclass
class GlobalResponse:
    """A fitted global response: every parameter's value (free or at its prior), the offset
    (K), which were free, the prior strength and how it was chosen."""

    values: dict[str, float]
    offset: float
    free: tuple[str, ...]
    strength: float
    how: str = "fixed by the caller"
    cv_error: np.ndarray | None = None

    def predict(self, f: Forcings) -> np.ndarray:
        """Global-mean temperature ``(S, T)`` (K) for the forcings ``f``."""
        return self.offset + _anomaly(self.values, f, effective_forcing(f))


def _anomaly(v: dict[str, float], f: Forcings, erf: dict[str, np.ndarray]) -> np.ndarray:
    forcing = v["methane"] * erf["methane"] + v["aerosol"] * erf["aerosol"] + v["black_carbon"] * erf["black_carbon"]
    slow = two_layer(forcing, v["feedback"], v["exchange"], v["heat_capacity"], v["deep_heat_capacity"])
    return v["tcre"] * f.co2 + slow


def block_means(x: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Means of consecutive 12-month blocks of ``x`` ``(S, T)``, and which blocks are whole
    (all 12 months finite and, with ``mask``, all True)."""
    n = x.shape[1] // 12
    blocks = x[:, : n * 12].reshape(x.shape[0], n, 12)
    ok = np.isfinite(blocks).all(-1)
    if mask is not None:
        ok &= mask[:, : n * 12].reshape(x.shape[0], n, 12).all(-1)
    return np.where(ok, np.nan_to_num(blocks).mean(-1), 0.0), ok


def check_free(free) -> tuple[str, ...]:
    """``free`` as a tuple of :data:`PARAMETERS`, checked."""
    free = (free,) if isinstance(free, str) else tuple(free)
    unknown = [n for n in free if n not in PRIORS]
    if unknown or not free or len(set(free)) != len(free):
        raise ConfigError(f"free: expected distinct names among {list(PARAMETERS)}; got {list(free)!r}")
    return free


def fit_global_response(f: Forcings, temperature: np.ndarray, mask: np.ndarray, *, free=DEFAULT_FREE,
                        strength: float = DEFAULT_STRENGTH) -> GlobalResponse:
    """Fit the free parameters (and the offset) to the global-mean ``temperature`` ``(S, T)``
    (K) of the samples forced by ``f`` (one forcing row per temperature row), over the
    12-month blocks whose months are all in ``mask``; see the module documentation."""
    from scipy.optimize import least_squares

    free = check_free(free)
    y, ok = block_means(temperature, mask)
    if not ok.any():
        raise ConfigError("ds: no whole 12-month block of training months to fit the global response to")
    erf = effective_forcing(f)
    prior = {n: PRIORS[n][0] for n in PARAMETERS}
    sd = np.array([PRIORS[n][1] for n in free])
    mu = np.array([prior[n] for n in free])
    n_ok = ok.sum()

    def residuals(theta):
        v = {**prior, **dict(zip(free, theta * sd + mu, strict=True))}
        model, _ = block_means(_anomaly(v, f, erf))
        r = (y - model)[ok]
        r = r - r.mean()  # the offset, profiled out
        return np.concatenate([r / ERROR_SCALE / np.sqrt(n_ok), np.sqrt(strength) * theta])

    lower = np.maximum((1e-6 - mu) / sd, -np.inf)  # every parameter stays positive
    fit = least_squares(residuals, np.zeros(len(free)), bounds=(lower, np.inf))
    values = {**prior, **dict(zip(free, (fit.x * sd + mu).tolist(), strict=True))}
    model, _ = block_means(_anomaly(values, f, erf))
    return GlobalResponse(values, float((y - model)[ok].mean()), free, float(strength))


def choose_strength(f: Forcings, temperature: np.ndarray, mask: np.ndarray, groups: np.ndarray, *,
                    free=DEFAULT_FREE, strengths=STRENGTHS, last_blocks: int = 20) -> GlobalResponse:
    """Fit with the prior strength that best predicts each left-out forcing sample.

    ``groups`` ``(S,)`` names each row's forcing sample (e.g. the scenario: its members share
    it). For each strength and each group, fit on the other groups and score the RMS error of
    the left-out group's last ``last_blocks`` 12-month means (where an emulator of a scenario
    never run is read: the end of the century, furthest from the shared start). The strength
    with the smallest mean error is refitted on all rows. With fewer than two groups the
    strength is :data:`DEFAULT_STRENGTH`.
    """
    labels = np.unique(groups)
    if len(labels) < 2:
        fitted = fit_global_response(f, temperature, mask, free=free, strength=DEFAULT_STRENGTH)
        fitted.how = f"default (one forcing sample: nothing to leave out); strength {DEFAULT_STRENGTH:g}"
        return fitted
    errors = np.zeros((len(strengths), len(labels)))
    for i, s in enumerate(strengths):
        for j, g in enumerate(labels):
            out = groups == g
            fitted = fit_global_response(f.take(~out), temperature[~out], mask[~out], free=free, strength=s)
            left = f.take(out)
            y, ok = block_means(temperature[out], mask[out])
            p, _ = block_means(fitted.predict(left))
            err = np.where(ok, y - p, np.nan)[:, -last_blocks:]
            errors[i, j] = np.sqrt(np.nanmean(err ** 2))
    best = int(np.argmin(errors.mean(1)))
    fitted = fit_global_response(f, temperature, mask, free=free, strength=strengths[best])
    fitted.how = (f"leave one forcing sample out ({len(labels)} samples; RMS error of the left-out sample's "
                  f"last {last_blocks} 12-month global means)")
    fitted.cv_error = errors
    return fitted
