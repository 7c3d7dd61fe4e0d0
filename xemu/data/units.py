"""Units through pint, with cf-xarray's unit registry (CF / UDUNITS spellings).

* Known variables have a canonical unit (:data:`CANONICAL_UNITS`): ``tas`` in K, ``pr`` in
  mm/day. Compatible units are converted and the conversion is recorded in the attrs
  (``xemu_units_converted``); precipitation given as a mass flux (kg m-2 s-1) is converted
  through the density of liquid water, 1000 kg m-3 (x 86400 to mm/day).
* Incompatible or unparsable units raise :class:`~xemu.UnitsError`.
* Missing units raise, unless the caller declares them (:func:`declare_units`); nothing is
  ever assumed.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping

import xarray as xr

from ..errors import UnitsError

__all__ = [
    "get_registry",
    "CANONICAL_UNITS",
    "PLAUSIBLE_RANGES",
    "plausible_range",
    "WATER_DENSITY_KG_M3",
    "parse_units",
    "units_of",
    "declare_units",
    "check_units",
    "convert_units",
    "to_canonical",
]

#: Canonical units of the variables xemu knows, by variable name or CF standard_name.
CANONICAL_UNITS: dict[str, str] = {
    "tas": "K",
    "air_temperature": "K",
    "pr": "mm/day",
    "precipitation_flux": "mm/day",
    "lwe_precipitation_rate": "mm/day",
    "precipitation_amount": "mm/day",
}

#: Physically plausible range of the variables xemu knows, in their canonical units (by
#: variable name or CF standard_name). Data outside it almost always has wrong units
#: (kelvin labelled degC gives means of 550 K). Precipitation may dip to -1e-3 mm/day (the
#: round-off of regridding and packing); anything below is an error.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "tas": (150.0, 350.0),
    "air_temperature": (150.0, 350.0),
    "pr": (-1e-3, 2000.0),
    "precipitation_flux": (-1e-3, 2000.0),
    "lwe_precipitation_rate": (-1e-3, 2000.0),
    "precipitation_amount": (-1e-3, 2000.0),
}

#: Density of liquid water (kg m-3) used to turn a precipitation mass flux into a depth rate.
WATER_DENSITY_KG_M3 = 1000.0


@functools.cache
def get_registry():
    """cf-xarray's pint registry (built on first use: it takes about half a second)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cf-xarray warns when matplotlib is absent
        from cf_xarray.units import units

    return units


def __getattr__(name: str):
    if name == "ureg":
        return get_registry()
    if name == "WATER_DENSITY":
        return get_registry().Quantity(WATER_DENSITY_KG_M3, "kg m-3")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_units(units: str, *, name: str = "units"):
    """Parse a unit string with cf-xarray's registry, or raise :class:`~xemu.UnitsError`.

    Examples
    --------
    >>> from xemu.data.units import parse_units
    >>> str(parse_units("kg m-2 s-1"))
    'kilogram / meter ** 2 / second'
    """
    if not isinstance(units, str) or not units.strip():
        raise UnitsError(f"{name}: expected a unit string such as 'K' or 'mm/day'; got {units!r}")
    try:
        return get_registry().Quantity(1, units).units
    except Exception as err:  # pint raises several error types for bad strings
        raise UnitsError(f"{name}: cannot parse units {units!r} ({err})") from None


def units_of(da: xr.DataArray) -> str | None:
    """The ``units`` attribute of ``da`` (``None`` when absent or empty)."""
    value = da.attrs.get("units")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def declare_units(
    ds: xr.Dataset, units: Mapping[str, str] | None = None, *, override: bool = False, **kwargs: str
) -> xr.Dataset:
    """Return a copy of ``ds`` whose variables carry the given ``units`` attributes.

    For data whose files carry no units (the CSE 151B store's forcings, for example).
    A variable that already has different units raises :class:`~xemu.UnitsError` unless
    ``override=True``: declaring is not converting.

    Parameters
    ----------
    ds : xarray.Dataset
    units : mapping of str to str, optional
        Variable name to unit string; may also be given as keyword arguments.
    override : bool
        Replace existing, different units (recorded in ``xemu_units_declared``).

    Examples
    --------
    >>> import xarray as xr, numpy as np
    >>> from xemu.data.units import declare_units
    >>> ds = xr.Dataset({"SO2": ("time", np.zeros(3))})
    >>> declare_units(ds, SO2="kg m-2 s-1")["SO2"].attrs["units"]
    'kg m-2 s-1'
    """
    given = {**(units or {}), **kwargs}
    out = ds.copy()
    for var, unit in given.items():
        if var not in ds.variables:
            raise UnitsError(
                f"declare_units: no variable {var!r} in the Dataset; it has {sorted(map(str, ds.data_vars))}"
            )
        parse_units(unit, name=f"declare_units({var}=...)")
        old = units_of(ds[var])
        if old is not None and old != unit:
            if not override:
                raise UnitsError(
                    f"declare_units: {var!r} already has units {old!r}, not {unit!r}; "
                    f"convert with xemu.units.convert_units or pass override=True"
                )
        out[var] = out[var].copy()
        out[var].attrs = {**ds[var].attrs, "units": unit}
        if old != unit:
            out[var].attrs["xemu_units_declared"] = (
                f"declared by the user (was {old!r})" if old else "declared by the user"
            )
    return out


def check_units(
    ds: xr.Dataset, variables: Iterable[str], *, argument: str = "variables", known: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Check that each variable has parsable units and return them.

    Variables with a canonical unit must be compatible with it. ``known``: units checked
    before (an emulator's, when it was fitted); a variable whose units are exactly the
    string ``known`` gives it is not parsed again (so a prediction on data in the
    emulator's own units never builds the pint registry).

    Raises
    ------
    UnitsError
        Listing every variable without units (with the call that declares them), or the
        first unparsable or incompatible unit.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=2, n_lat=4, n_lon=6)
    >>> xemu.data.units.check_units(ds, ["tas", "pr"])
    {'tas': 'K', 'pr': 'mm/day'}
    """
    variables = list(variables)
    unknown = [v for v in variables if v not in ds.variables]
    if unknown:
        raise UnitsError(
            f"{argument}: no variables {unknown} in the Dataset; it has {sorted(map(str, ds.data_vars))}"
        )
    missing = [v for v in variables if units_of(ds[v]) is None]
    if missing:
        hint = ", ".join(f'{v}="..."' for v in missing)
        raise UnitsError(
            f"{argument}: variables {missing} have no 'units' attribute; xemu does not guess "
            f"units. Declare them, e.g. ds.emu.declare_units({hint})"
        )
    found = {}
    for var in variables:
        unit = units_of(ds[var])
        if known is not None and known.get(var) == unit:
            found[var] = unit
            continue
        parsed = parse_units(unit, name=f"{argument}[{var!r}]")
        canonical = _canonical_for(var, ds[var])
        if canonical is not None and not _convertible(parsed, parse_units(canonical)):
            raise UnitsError(
                f"{argument}[{var!r}]: units {unit!r} ({parsed.dimensionality}) are incompatible "
                f"with {canonical!r} expected for {var!r}"
            )
        found[var] = unit
    return found


def _canonical_for(name: str, da: xr.DataArray) -> str | None:
    if name in CANONICAL_UNITS:
        return CANONICAL_UNITS[name]
    return CANONICAL_UNITS.get(str(da.attrs.get("standard_name", "")))


def plausible_range(name: str, da: xr.DataArray) -> tuple[float, float] | None:
    """:data:`PLAUSIBLE_RANGES` of ``name`` (or of ``da``'s standard_name), when ``da`` is in canonical units."""
    key = name if name in PLAUSIBLE_RANGES else str(da.attrs.get("standard_name", ""))
    if key not in PLAUSIBLE_RANGES or units_of(da) != _canonical_for(name, da):
        return None
    return PLAUSIBLE_RANGES[key]


def _convertible(src, dst) -> bool:
    return _conversion(src, dst) is not None


def _conversion(src, dst):
    """``(quantity, how)``: what one ``src`` becomes before ``.to(dst)``; ``None`` if it cannot.

    Same dimensionality converts directly; a mass flux and a depth rate convert through
    the density of liquid water, in either direction.
    """
    ureg = get_registry()
    one = ureg.Quantity(1.0, src)
    if one.dimensionality == dst.dimensionality:
        return one, ""
    rho = ureg.Quantity(WATER_DENSITY_KG_M3, "kg m-3")
    for quantity in (one / rho, one * rho):  # mass flux -> depth rate, depth rate -> mass flux
        if quantity.dimensionality == dst.dimensionality:
            return quantity, " through the density of liquid water (1000 kg m-3)"
    return None


def convert_units(da: xr.DataArray, units: str, *, name: str | None = None) -> xr.DataArray:
    """Convert ``da`` to ``units`` and record the conversion in its attrs.

    A mass flux (kg m-2 s-1) converts to a depth rate (mm/day) and back through
    :data:`WATER_DENSITY_KG_M3`. Equal units return ``da`` unchanged.

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.data.units import convert_units
    >>> pr = xr.DataArray([1e-5], dims="time", attrs={"units": "kg m-2 s-1"}, name="pr")
    >>> out = convert_units(pr, "mm/day")
    >>> round(float(out[0]), 6), out.attrs["units"]
    (0.864, 'mm/day')
    """
    label = name or str(da.name)
    src_str = units_of(da)
    if src_str is None:
        raise UnitsError(f"{label}: no 'units' attribute to convert from; declare them first")
    if src_str == units:
        return da
    src, dst = parse_units(src_str, name=label), parse_units(units, name="units")
    conversion = _conversion(src, dst)
    if conversion is None:
        raise UnitsError(
            f"{label}: units {src_str!r} ({src.dimensionality}) cannot be converted to "
            f"{units!r} ({dst.dimensionality})"
        )
    factor_q, how = conversion
    offset = get_registry().Quantity(0.0, src).to(dst).magnitude if not how else 0.0
    scale = factor_q.to(dst).magnitude - offset
    out = da * scale + offset if offset else da * scale
    out = out.astype(da.dtype) if da.dtype.kind == "f" else out
    out.name = da.name
    out.attrs = {
        **da.attrs,
        "units": units,
        "xemu_units_converted": f"from {src_str!r} to {units!r}{how} (x {scale:g}"
        + (f", + {offset:g})" if offset else ")"),
    }
    return out


def to_canonical(da: xr.DataArray, *, name: str | None = None) -> xr.DataArray:
    """Convert a known variable (``tas``, ``pr``, ...) to its canonical unit; others unchanged.

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.data.units import to_canonical
    >>> tas = xr.DataArray([0.0], dims="time", attrs={"units": "degC"}, name="tas")
    >>> float(to_canonical(tas)[0])
    273.15
    """
    label = name or str(da.name)
    canonical = _canonical_for(label, da)
    if canonical is None:
        return da
    return convert_units(da, canonical, name=label)
