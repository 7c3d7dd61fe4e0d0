"""``--declare``: units of variables whose files carry none (the CSE 151B store's forcings)."""

from __future__ import annotations

from .selection import name_value_pairs

__all__ = ["DEFAULT_DECLARE", "parse_declare", "with_declared_units"]

#: Units declared by default for the CSE 151B store's forcings, which carry none; applied only
#: to variables that exist and have no units.
DEFAULT_DECLARE = {"CO2": "Gt", "CH4": "Gt yr-1", "SO2": "kg m-2 s-1", "BC": "kg m-2 s-1"}


def parse_declare(items: list[str] | None) -> dict[str, str]:
    """``["CO2=Gt", "SO2=kg m-2 s-1"]`` to a dict; each entry name=units with parsable units."""
    from xemu.data.units import parse_units

    out: dict[str, str] = {}
    pairs = name_value_pairs(
        items,
        malformed=lambda item: f"--declare {item!r}: expected name=units, e.g. CO2=Gt or 'SO2=kg m-2 s-1'",
        repeated=lambda item, name: f"--declare {item!r}: {name!r} is declared twice",
    )
    for item, name, units in pairs:
        parse_units(units, name=f"--declare {item!r}")
        out[name] = units
    return out


def with_declared_units(ds, items: list[str] | None):
    """Declare units: the user's entries (checked against ``ds``), then :data:`DEFAULT_DECLARE` for
    variables that exist and carry no units."""
    from xemu.data.units import declare_units, parse_units, units_of
    from xemu.errors import DataError, UnitsError

    given = parse_declare(items)
    declare = {}
    for name, units in given.items():
        entry = f"--declare {name + '=' + units!r}"
        if name not in ds.data_vars:
            raise DataError(f"{entry}: no variable {name!r} in the data; it has {', '.join(map(str, ds.data_vars))}")
        old = units_of(ds[name])
        if old is None:
            declare[name] = units
        elif old != units and parse_units(old, name=f"{entry}: units of {name!r} in the data") != parse_units(units):
            raise UnitsError(f"{entry}: {name!r} already has units {old!r}; declaring is not converting "
                             f"(drop the entry, or give {name + '=' + old!r})")
    for name, units in DEFAULT_DECLARE.items():
        if name not in given and name in ds.data_vars and units_of(ds[name]) is None:
            declare[name] = units
    return declare_units(ds, declare) if declare else ds
