"""Selections given on the command line (``--train-select``, ``--holdout``, ``--select``).

``name=value`` entries: labels separated by commas (``ssp=ssp126,ssp370``), or one date or
one date range ``start:end`` for time (``time=2090-02:``). :func:`split_selection` checks
their syntax; :func:`select` checks them against the data and returns a selection for
``ds.sel``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

__all__ = ["name_value_pairs", "split_selection", "parse_selection", "select", "format_labels"]


def name_value_pairs(items: list[str] | None, malformed: Callable[[str], str],
                     repeated: Callable[[str, str], str]) -> Iterator[tuple[str, str, str]]:
    """``(item, name, value)`` for each ``name=value`` entry of ``items`` (both stripped), one at a time.

    Raises :class:`~xemu.ConfigError` with ``malformed(item)`` when an entry is not
    ``name=value`` (either side empty), with ``repeated(item, name)`` when a name comes again.
    """
    from xemu.errors import ConfigError

    seen: set[str] = set()
    for item in items or []:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ConfigError(malformed(item))
        if name in seen:
            raise ConfigError(repeated(item, name))
        seen.add(name)
        yield item, name, value


def split_selection(items: list[str] | None, option: str) -> dict:
    """``["ssp=ssp126,ssp370", "time=2090-02:"]`` to ``{"ssp": ["ssp126", "ssp370"],
    "time": slice("2090-02", None)}``: raw strings, syntax checked (:class:`~xemu.ConfigError`)."""
    from xemu.errors import ConfigError

    out: dict = {}
    pairs = name_value_pairs(
        items,
        malformed=lambda item: f"{option}: {item!r}: expected name=value, e.g. ssp=ssp126,ssp370 or time=2090-02:",
        repeated=lambda item, key: f"{option}: {key!r} is given twice; give its labels once, separated by commas",
    )
    for item, key, value in pairs:
        if ":" in value:
            a, _, b = value.partition(":")
            if ":" in b or "," in value or not (a.strip() or b.strip()):
                raise ConfigError(f"{option}: {item!r}: expected one range start:end (either may be left out)")
            out[key] = slice(a.strip() or None, b.strip() or None)
            continue
        parts = [v.strip() for v in value.split(",")]
        if not all(parts):
            raise ConfigError(f"{option}: {item!r}: empty label; separate labels by single commas")
        out[key] = parts
    return out


def parse_selection(items: list[str] | None, option: str = "selection") -> dict:
    """``["ssp=ssp126,ssp370", "member_id=0", "time=2090-02:"]`` to an xarray selection
    (numbers cast, without looking at any data; :func:`select` checks it against the data)."""
    out: dict = {}
    for key, value in split_selection(items, option).items():
        if isinstance(value, slice):
            out[key] = value
        else:
            parts = [_number(v) for v in value]
            out[key] = parts if len(parts) > 1 else parts[0]
    return out


def _number(text: str):
    """``text`` as an int, else a float, else itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def format_labels(labels: list, limit: int = 12) -> str:
    """Labels for a message, separated by commas; the first and last few of more than ``limit``."""
    text = [str(v) for v in labels]
    if len(text) > limit:
        return f"{', '.join(text[: limit // 2])}, ..., {', '.join(text[-3:])} ({len(text)} labels)"
    return ", ".join(text)


def select(ds, items: list[str] | None, option: str, what: str = "the data") -> dict:
    """The selection ``items`` checked against ``ds``: every dim exists, every label exists, every
    time range selects a month. Raises :class:`~xemu.ConfigError` or :class:`~xemu.DataError`
    naming ``option``; returns a selection for ``ds.sel`` (one label: a scalar)."""
    from xemu.errors import DataError

    out: dict = {}
    for dim, value in split_selection(items, option).items():
        if dim not in ds.dims:
            raise DataError(f"{option}: dim {dim!r} is not in {what}; dims are {', '.join(map(str, ds.dims))}")
        index = ds.indexes.get(dim)
        if _is_time_index(index):
            out[dim] = _select_time(index, dim, value, option)
        else:
            out[dim] = _select_labels(ds, index, dim, value, option, what)
    return out


def _is_time_index(index) -> bool:
    """Whether ``index`` is an index of dates (pandas or cftime)."""
    import pandas as pd
    import xarray as xr

    return isinstance(index, pd.DatetimeIndex | xr.CFTimeIndex)


def _select_labels(ds, index, dim: str, value, option: str, what: str = "the data"):
    """The labels ``value`` of ``dim``, each checked to be in ``ds`` (numbers cast on a numeric dim)."""
    from xemu.errors import ConfigError, DataError

    if isinstance(value, slice):
        raise ConfigError(
            f"{option}: {dim}={value.start or ''}:{value.stop or ''}: ranges start:end are for time only; "
            f"give the labels of {dim!r} separated by commas"
        )
    labels = list(range(ds.sizes[dim])) if index is None else index.tolist()
    numeric = index is None or index.dtype.kind in "iuf"
    chosen = []
    for text in value:
        if numeric:
            label = _number(text)
            found = not isinstance(label, str) and label in labels
        else:
            label = next((v for v in labels if str(v) == text), None)
            found = label is not None
        if not found:
            raise DataError(f"{option}: {dim}={text} is not in {what}; {dim} labels are {format_labels(labels)}")
        chosen.append(label)
    return chosen if len(chosen) > 1 else chosen[0]


_DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int, calendar: str) -> int:
    """Days in ``month`` of ``year`` in a CF ``calendar``."""
    if calendar == "360_day":
        return 30
    if month != 2:
        return _DAYS[month - 1]
    if calendar in ("noleap", "365_day"):
        return 28
    if calendar in ("all_leap", "366_day"):
        return 29
    leap = year % 4 == 0 if calendar == "julian" else (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0))
    return 29 if leap else 28


def _date(text: str, dim: str, calendar: str, option: str) -> str:
    """``"2090-2"`` to ``"2090-02"``; a ConfigError unless YYYY, YYYY-MM or YYYY-MM-DD of ``calendar``."""
    from xemu.errors import ConfigError

    m = _DATE.fullmatch(text)
    year, month, day = (int(g) if g else None for g in m.groups()) if m else (None, None, None)
    if (m is None or (month is not None and not 1 <= month <= 12)
            or (day is not None and not 1 <= day <= _days_in_month(year, month, calendar))):
        raise ConfigError(
            f"{option}: {dim}={text!r} is not a date; expected YYYY, YYYY-MM or YYYY-MM-DD "
            f"(calendar {calendar}), or a range such as 2090-02: or 2080:2089"
        )
    return "-".join([f"{year:04d}"] + [f"{v:02d}" for v in (month, day) if v is not None])


def _select_time(index, dim: str, value, option: str):
    """One date or one range of ``dim``, checked to select at least one month of ``index``."""
    from xemu.errors import ConfigError, DataError

    calendar = getattr(index, "calendar", "standard")
    if isinstance(value, list) and len(value) > 1:
        raise ConfigError(f"{option}: {dim}={','.join(value)}: give one date or one range start:end for {dim!r}")
    if isinstance(value, slice):
        start = None if value.start is None else _date(value.start, dim, calendar, option)
        stop = None if value.stop is None else _date(value.stop, dim, calendar, option)
    else:
        start = stop = _date(value[0], dim, calendar, option)
    if not index.is_monotonic_increasing:
        raise DataError(f"{option}: the data's {dim!r} is not sorted; cannot select dates from it")
    dates = [f"{t.year:04d}-{t.month:02d}-{t.day:02d}" for t in index]
    hit = any((start is None or d[: len(start)] >= start) and (stop is None or d[: len(stop)] <= stop)
              for d in dates)
    shown = f"{value.start or ''}:{value.stop or ''}" if isinstance(value, slice) else value[0]
    if not hit:
        span = f"runs from {dates[0]} to {dates[-1]}" if dates else "is empty"
        raise DataError(f"{option}: {dim}={shown} selects no month; the data's {dim} {span}")
    return slice(start, stop) if isinstance(value, slice) else start
