"""A seeded synthetic climate with a known forced response plus internal variability, for
tests, docs and the demo (:func:`synthetic_climate`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["synthetic_climate"]

#: Standard deviation of log pr per unit of ``noise`` (the log-normal's sigma).
PR_LOG_SIGMA = 0.6


def synthetic_climate(
    *,
    n_years: int = 10,
    n_lat: int = 12,
    n_lon: int = 18,
    scenarios: tuple[str, ...] = ("low", "mid", "high"),
    n_members: int = 3,
    start: str = "2015-01-01",
    calendar: str = "noleap",
    noise: float = 1.0,
    seed: int = 0,
) -> xr.Dataset:
    """A seeded synthetic climate with a known forced response plus internal variability.

    Forcings follow the CSE 151B layout: global ``CO2`` (cumulative, Gt) and ``CH4``
    (Gt yr-1) series per scenario, ``SO2`` / ``BC`` emission maps (kg m-2 s-1) per
    scenario and ``rsdt`` (W m-2, a function of month and latitude only, no scenario dim).
    Targets, per scenario and member:

    * ``tas`` (K) = zonal base + seasonal cycle (opposite phase in the two hemispheres,
      growing with latitude) + warming proportional to CO2, CH4 and minus a cooling
      pattern of SO2 + AR(1) noise;
    * ``pr`` (mm/day), positive and right-skewed: a log-normal field whose median follows
      temperature (about 2 % per K) and the seasonal migration of the rain belt.

    The noise-free responses are returned too, as ``tas_forced`` and ``pr_forced``
    (``pr_forced`` is the mean of the log-normal, so it is the expected value).

    Parameters
    ----------
    n_years, n_lat, n_lon : int
        Size; months are ``12 * n_years``.
    scenarios : tuple of str
        Scenario labels, from weakest to strongest forcing.
    n_members : int
        Ensemble members (independent noise, same forcing).
    start, calendar : str
        First month and cftime calendar of the time axis.
    noise : float
        Scale of internal variability (1 gives about 1 K monthly for tas).
    seed : int
        Every random draw comes from ``numpy.random.default_rng(seed)``.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> ds.tas.dims, ds.tas.attrs["units"]
    (('scenario', 'member', 'time', 'lat', 'lon'), 'K')
    """
    rng = np.random.default_rng(seed)
    nt = 12 * n_years
    time = xr.date_range(start, periods=nt, freq="MS", calendar=calendar, use_cftime=True)
    lat = np.linspace(-90 + 90 / n_lat, 90 - 90 / n_lat, n_lat)
    lon = np.linspace(0, 360, n_lon, endpoint=False) + 180 / n_lon
    f = _forcings(n_years, len(scenarios), lat, lon)
    tas_forced, log_median, pr_forced = _forced_response(f, noise)

    shape = (len(scenarios), n_members, nt, n_lat, n_lon)
    tas = tas_forced[:, None] + noise * 1.2 * _ar1(rng, shape)
    pr = np.exp(log_median[:, None] + PR_LOG_SIGMA * noise * _ar1(rng, shape))
    return _dataset(f, tas, pr, tas_forced, pr_forced, scenarios, n_members, time, lat, lon, seed)


def _forcings(n_years: int, ns: int, lat: np.ndarray, lon: np.ndarray) -> dict:
    """CO2 (cumulative, Gt), CH4 (Gt yr-1), SO2 / BC maps and rsdt, with the grid and the season's phase."""
    nt = 12 * n_years
    month = np.arange(nt) % 12
    years = np.arange(nt) / 12.0
    strength = np.linspace(0.5, 2.0, ns) if ns > 1 else np.array([1.0])
    co2 = np.cumsum(np.outer(strength, 30 + 2 * years), axis=1) / 12.0 + 2000.0  # cumulative Gt
    ch4 = 0.3 + 0.1 * np.outer(strength, years) / max(n_years, 1)
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    hotspot = np.exp(-((lat2 - 30) ** 2) / 300 - ((lon2 - 100) ** 2) / 2000)
    peak = np.exp(-((years - n_years / 2) ** 2) / (n_years**2 / 4 + 1))
    so2 = 1e-10 * (0.5 + np.outer(1.0 / strength, peak))[:, :, None, None] * (0.05 + hotspot)
    # black carbon peaks earlier than SO2 (as in the SSPs): the two are correlated, not collinear
    peak_bc = np.exp(-((years - n_years / 3) ** 2) / (n_years**2 / 4 + 1))
    bc = 2e-11 * (0.5 + np.outer(1.0 / strength, peak_bc))[:, :, None, None] * (0.05 + hotspot)
    bc = bc * (1 + 0.1 * np.cos(np.deg2rad(lon2)))
    phase = 2 * np.pi * month / 12
    rsdt = 340 + 120 * np.sin(np.deg2rad(lat2))[None] * np.cos(phase)[:, None, None] * 1.0
    rsdt = rsdt + 80 * np.cos(np.deg2rad(lat2))[None]
    return {"co2": co2, "ch4": ch4, "so2": so2, "bc": bc, "rsdt": rsdt, "lat2": lat2, "phase": phase}


def _forced_response(f: dict, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The noise-free tas (scenario, time, lat, lon), the log-median of pr and pr's expected value."""
    co2, ch4, so2, lat2, phase = f["co2"], f["ch4"], f["so2"], f["lat2"], f["phase"]
    base = 300 - 40 * np.sin(np.deg2rad(lat2)) ** 2
    seasonal = -12 * np.sin(np.deg2rad(lat2))[None] * np.cos(phase)[:, None, None]
    amplification = 1 + 0.8 * np.abs(np.sin(np.deg2rad(lat2)))
    warming = (0.0015 * (co2 - co2[:, :1]) + 3.0 * (ch4 - ch4[:, :1]))[:, :, None, None] * amplification
    cooling = -4e9 * (so2 - so2[:, :1])
    tas_forced = base + seasonal + warming + cooling  # (scenario, time, lat, lon)

    # pr: a log-normal whose median follows temperature and the rain belt
    belt = 15 * np.cos(phase)  # latitude of the rain belt, north in July... south in January
    belt_lat = -belt[:, None, None]
    wet = 1.0 + 5.0 * np.exp(-((lat2[None] - belt_lat) ** 2) / 200)
    log_median = np.log(wet)[None] + 0.02 * (tas_forced - base - seasonal)
    spread = PR_LOG_SIGMA * noise
    return tas_forced, log_median, np.exp(log_median + spread**2 / 2)


def _ar1(rng: np.random.Generator, shape: tuple, rho: float = 0.5) -> np.ndarray:
    """Internal variability: AR(1) in time (axis -3), spatially smooth, unit standard deviation."""
    eps = rng.standard_normal(shape)
    kernel = np.array([0.25, 0.5, 0.25])
    for axis in (-1, -2):
        eps = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), axis, eps)
    out = np.empty_like(eps)
    out[..., 0, :, :] = eps[..., 0, :, :]
    for t in range(1, eps.shape[-3]):
        out[..., t, :, :] = rho * out[..., t - 1, :, :] + np.sqrt(1 - rho**2) * eps[..., t, :, :]
    return out / out.std()


def _dataset(f: dict, tas, pr, tas_forced, pr_forced, scenarios, n_members: int, time, lat, lon,
             seed: int) -> xr.Dataset:
    """The synthetic climate as a CF-annotated Dataset (maps in float32)."""
    coords = {
        "scenario": ("scenario", list(scenarios), {"long_name": "forcing scenario"}),
        "member": ("member", np.arange(n_members), {"long_name": "ensemble member"}),
        "time": ("time", time, {"standard_name": "time", "axis": "T"}),
        "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}),
        "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}),
    }
    grid = ("lat", "lon")
    f32 = np.float32
    data_vars = {
        "CO2": (("scenario", "time"), f["co2"], {"units": "Gt", "long_name": "cumulative CO2 emissions"}),
        "CH4": (("scenario", "time"), f["ch4"], {"units": "Gt yr-1", "long_name": "CH4 emissions"}),
        "SO2": (("scenario", "time", *grid), f["so2"].astype(f32),
                {"units": "kg m-2 s-1", "long_name": "SO2 emissions"}),
        "BC": (("scenario", "time", *grid), f["bc"].astype(f32),
               {"units": "kg m-2 s-1", "long_name": "black carbon emissions"}),
        "rsdt": (("time", *grid), f["rsdt"].astype(f32), {"units": "W m-2", "long_name": "TOA incident shortwave"}),
        "tas": (("scenario", "member", "time", *grid), tas.astype(f32),
                {"units": "K", "standard_name": "air_temperature", "long_name": "near-surface air temperature"}),
        "pr": (("scenario", "member", "time", *grid), pr.astype(f32),
               {"units": "mm/day", "standard_name": "lwe_precipitation_rate", "long_name": "precipitation"}),
        "tas_forced": (("scenario", "time", *grid), tas_forced.astype(f32),
                       {"units": "K", "long_name": "forced response of tas (noise-free)"}),
        "pr_forced": (("scenario", "time", *grid), pr_forced.astype(f32),
                      {"units": "mm/day", "long_name": "forced response of pr (expected value)"}),
    }
    return xr.Dataset(
        data_vars,
        coords=coords,
        attrs={"title": "xemu synthetic climate", "xemu_seed": seed, "Conventions": "CF-1.8"},
    )
