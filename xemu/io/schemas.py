"""Checking JSON against a schema (JSON Schema, draft 2020-12) and listing every problem found.

The schemas of xemu's files are written in :mod:`xemu.io.emulator_format` and
:mod:`xemu.io.baseline_format` from the shared pieces here (``STRING``, ``NAMES``,
:func:`integer`, ...). A JSON ``number`` is finite: ``NaN`` and ``Infinity``, which Python's
:mod:`json` reads, are refused; an ``integer`` is a JSON integer (not ``1.0``, not ``true``).

:func:`schema_problems` lists the problems of a document, each with its place
(:func:`where`); :func:`listing` writes them as one line for an error message, e.g.
``2 problems: missing key 'window'; 'input_std'[3]: 0 is less than or equal to the minimum of 0``.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .common import shorten

__all__ = ["schema_problems", "listing", "where", "integer", "DIALECT", "STRING", "NUMBER", "POSITIVE", "NON_NEGATIVE",
           "BOOLEAN", "OBJECT", "STRINGS", "DISTINCT", "NAMES", "NUMBERS", "UNITS", "ATTRS", "ALIGNMENT",
           "FRACTION"]

#: The most schema errors gathered for one message, and the most of them it shows.
_MAX_ERRORS, _MAX_SHOWN = 1000, 10
_UNCOUNTED = "(more problems, not counted)"

# -- the shared pieces of xemu's schemas --------------------------------------------------------
#: The JSON Schema dialect of xemu's schemas.
DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Schema piece: a string.
STRING = {"type": "string"}
#: Schema piece: a finite number.
NUMBER = {"type": "number"}  # finite (see _is_number)
#: Schema piece: a number above 0.
POSITIVE = {"type": "number", "exclusiveMinimum": 0}
#: Schema piece: a number at least 0.
NON_NEGATIVE = {"type": "number", "minimum": 0}
#: Schema piece: true or false.
BOOLEAN = {"type": "boolean"}
#: Schema piece: a JSON object.
OBJECT = {"type": "object"}
#: Schema piece: a list of strings.
STRINGS = {"type": "array", "items": STRING}
#: Schema piece: a list of distinct strings.
DISTINCT = {"type": "array", "items": STRING, "uniqueItems": True}
#: Schema piece: a non-empty list of distinct strings (variable names).
NAMES = {"type": "array", "items": STRING, "minItems": 1, "uniqueItems": True}
#: Schema piece: a list of finite numbers.
NUMBERS = {"type": "array", "items": NUMBER}
#: Schema piece: a map of names to unit strings.
UNITS = {"type": "object", "additionalProperties": STRING}
#: Schema piece: a map of names to attribute objects.
ATTRS = {"type": "object", "additionalProperties": OBJECT}
#: Schema piece: a grid alignment (``fit(..., grid_alignment=...)``).
ALIGNMENT = {"enum": ["position", "interp", "exact"]}
#: Schema piece: a number in [0, 1).
FRACTION = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}


def integer(minimum: int, maximum: int | None = None) -> dict:
    """The schema of an integer in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None).

    >>> integer(1, 2)
    {'type': 'integer', 'minimum': 1, 'maximum': 2}
    """
    return {"type": "integer", "minimum": minimum} | ({} if maximum is None else {"maximum": maximum})


# -- checking against a schema ----------------------------------------------------------------
def _is_integer(checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker, value) -> bool:
    """A finite int or float (not a boolean): Python's json reads NaN, Infinity and 1e999, JSON has none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= sys.float_info.max  # an int beyond is inf as a float
    return isinstance(value, float) and math.isfinite(value)


@functools.cache
def _validator_class():
    """Draft202012Validator with xemu's ``integer`` and ``number``, and a fast ``items`` for long lists."""
    from jsonschema import Draft202012Validator, validators

    items = Draft202012Validator.VALIDATORS["items"]

    def fast_items(validator, schema, instance, parent):
        # a list of one plain type (a grid's coordinates) is checked in one pass; the
        # per-item errors come from the standard keyword when some item does not fit
        kind = schema.get("type") if isinstance(schema, dict) and len(schema) == 1 else None
        if isinstance(kind, str) and isinstance(instance, list) and all(validator.is_type(v, kind) for v in instance):
            return
        yield from items(validator, schema, instance, parent)

    types = Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
    return validators.extend(Draft202012Validator, validators={"items": fast_items}, type_checker=types)


#: The validators built, by the id of their schema (the schema is kept with it, so the id stays its own).
_VALIDATORS: dict[int, tuple[Mapping, Any]] = {}


def _validator(schema: Mapping):
    """The validator of ``schema`` (one of xemu's module-level schemas), built once."""
    if id(schema) not in _VALIDATORS:
        _VALIDATORS[id(schema)] = (schema, _validator_class()(schema))
    return _VALIDATORS[id(schema)][1]


def where(path: Sequence) -> str:
    """A place in a JSON document: ``'grid.lat'``, ``'input_std'[3]``, ``'history'[0]['loss']``.

    >>> print(where(["history", 0, "loss"]))
    'history'[0]['loss']
    """
    keys, rest = [], ""
    for p in path:
        if rest or isinstance(p, int):
            rest += f"[{p!r}]"
        else:
            keys.append(str(p))
    return (repr(".".join(keys)) if keys else "") + rest


def _message(err) -> str:
    """jsonschema's message, with a long value shortened and a non-finite number named as such."""
    value = err.instance
    if (err.validator == "type" and "number" in err.validator_value and isinstance(value, int | float)
            and not isinstance(value, bool)):
        return f"{shorten(value)} is not a finite number"
    text, shown = err.message, repr(value)
    return shorten(value) + text[len(shown):] if len(shown) > 60 and text.startswith(shown) else text


def _keys_problem(err, path: tuple) -> str:
    """Missing keys (``required``) or unknown keys (``additionalProperties: false``) of one object, together."""
    if err.validator == "required":
        keys, what = [k for k in err.validator_value if k not in err.instance], "missing"
    else:
        known = err.schema.get("properties", {})
        keys, what = [k for k in err.instance if k not in known], "unknown"
    return f"{what} key{'s' if len(keys) > 1 else ''} " + ", ".join(where((*path, k)) for k in keys)


def schema_problems(schema: Mapping, instance, at: Sequence = ()) -> list[str]:
    """Every problem of ``instance`` against ``schema`` (up to a thousand), each with its place.

    Missing keys of one object are named together, as are unknown keys; ``at`` is where
    ``instance`` sits in its document. ``schema`` is one of xemu's module-level schemas
    (its validator is built once and kept).

    >>> schema_problems({"type": "object", "required": ["a"], "properties": {"b": integer(0)}}, {"b": -1})
    ["missing key 'a'", "'b': -1 is less than the minimum of 0"]
    """
    problems, seen = [], set()
    errors = list(itertools.islice(_validator(schema).iter_errors(instance), _MAX_ERRORS))
    for err in errors:
        path = (*at, *err.absolute_path)
        if err.validator == "required" or (err.validator == "additionalProperties" and err.validator_value is False):
            if (path, err.validator) in seen:
                continue
            seen.add((path, err.validator))
            problems.append(_keys_problem(err, path))
        else:
            problems.append(f"{where(path)}: {_message(err)}" if path else _message(err))
    if len(errors) == _MAX_ERRORS:
        problems.append(_UNCOUNTED)
    return problems


def listing(problems: list[str]) -> str:
    """``problems`` as one line: the problem, or ``N problems: a; b; ...`` (the first ten).

    >>> listing(["missing key 'window'", "'stride': 0 is less than the minimum of 1"])
    "2 problems: missing key 'window'; 'stride': 0 is less than the minimum of 1"
    """
    if len(problems) == 1:
        return problems[0]
    counted = [p for p in problems if p is not _UNCOUNTED]
    more = len(counted) - _MAX_SHOWN
    return (f"{'at least ' if len(counted) < len(problems) else ''}{len(counted)} problems: "
            + "; ".join(counted[:_MAX_SHOWN]) + (f"; and {more} more" if more > 0 else ""))
