"""The files xemu reads, and the checks that run before anything is built from them.

What a file must hold is written down as JSON Schema (draft 2020-12) and checked with
:mod:`jsonschema`; what JSON Schema cannot say (a list as long as a size of the network,
one unit per input) is checked by small functions afterwards. Writing lives in
:mod:`xemu.io`, which also re-exports every name here.

Schemas
-------
* :data:`EMULATOR_SCHEMA`: ``emulator.json``. Unknown keys are refused; when ``fit`` writes
  a new key, add it to ``properties`` (and to ``required`` unless older files lack it).
* :data:`GRID_SCHEMA`: its ``grid``.
* :data:`MODEL_SCHEMA`: its ``model``, the fields of :class:`~xemu.nn.model.ModelConfig`
  with their bounds; fields ModelConfig does not take are refused.
* :data:`BASELINE_META_SCHEMA`: a baseline file's ``xemu_meta`` attribute (other keys are
  tolerated).

A JSON ``number`` here is finite: ``NaN`` and ``Infinity``, which Python's :mod:`json`
reads, are refused; an ``integer`` is a JSON integer (not ``1.0``, not ``true``).

Reading
-------
* :func:`check_emulator_meta` checks ``emulator.json``'s content and returns its
  :class:`~xemu.nn.model.ModelConfig`; every problem found is listed in one
  :class:`~xemu.DataError` naming the file and each problem's place, e.g.
  ``emulator.json: 2 problems: missing key 'window'; 'input_std'[3]: 0 is less than or
  equal to the minimum of 0``.
* :func:`read_emulator_folder` reads an emulator folder: ``emulator.json`` (at most
  :data:`MAX_JSON_BYTES`), the network sized on torch's meta device (no memory; at most
  :data:`MAX_PARAMETERS` parameters and :data:`MAX_LAYERS` layers), ``weights.pt`` loaded
  with ``weights_only=True`` and compared tensor by tensor with the configuration
  (:func:`check_state_dict`) before the network is built, ``baseline.nc`` present if and
  only if the metadata names a baseline.
* :func:`read_baseline_file` checks a baseline's netCDF file (variables of its kind and
  targets, 12 months, finite values, positive ``input_std``, :data:`BASELINE_META_SCHEMA`).
* :func:`read_checkpoint` checks a training checkpoint (:data:`CHECKPOINT_KEYS`).

Every failure to read is a :class:`~xemu.DataError` naming the file (or a
:class:`~xemu.PathError` for a missing path or one of the wrong kind).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.encoding import ENCODINGS
from ..errors import DataError, PathError, XemuError

__all__ = [
    "read_emulator_folder",
    "read_baseline_file",
    "read_checkpoint",
    "read_variability_file",
    "check_emulator_meta",
    "check_state_dict",
    "check_baseline_matches",
    "EMULATOR_FORMAT",
    "EMULATOR_SCHEMA",
    "GRID_SCHEMA",
    "MODEL_SCHEMA",
    "BASELINE_META_SCHEMA",
    "CHECKPOINT_KEYS",
    "MAX_PARAMETERS",
    "MAX_LAYERS",
    "MAX_JSON_BYTES",
]

#: The ``format`` string of ``emulator.json`` this xemu writes and reads.
EMULATOR_FORMAT = "xemu-emulator/1"
#: The most parameters :func:`read_emulator_folder` builds a network for (the study's
#: largest network, the ``seed`` preset on the 48 x 72 grid, has 352,878,672); counted on
#: torch's meta device before anything is allocated. 2e9 float32 parameters are 8 GB.
MAX_PARAMETERS = 2_000_000_000
#: The most layers a loaded configuration may have, counted as branches x (conv blocks +
#: GRU layers) + heads (the ``seed`` preset has 2 x (4 + 2) + 2 = 14). Sizing the network on
#: the meta device takes up to about 1 ms a layer; this bound keeps it well under a second.
MAX_LAYERS = 256
#: The largest ``emulator.json`` read (a 0.1-degree grid's coordinates take ~100 kB).
MAX_JSON_BYTES = 64 * 2**20

_MARKER = "emulator.json"
_BASELINE_KINDS = ("linear", "climatology")
#: The most schema errors gathered for one message, and the most of them it shows.
_MAX_ERRORS, _MAX_SHOWN = 1000, 10
_UNCOUNTED = "(more problems, not counted)"


# -- small helpers ----------------------------------------------------------------------
def _q(path) -> str:
    return repr(str(path))


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]" if text[0] == "[" else text[: limit - 4] + " ..."


def _names(items, limit: int = 8) -> str:
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _first_line(err: BaseException, limit: int = 160) -> str:
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    text = text if len(text) <= limit else text[: limit - 4] + " ..."
    return f"{type(err).__name__}: {text}".rstrip(": ")


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


# -- the schemas (JSON Schema, draft 2020-12) ------------------------------------------------
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_STRING = {"type": "string"}
_NUMBER = {"type": "number"}  # finite (see _is_number)
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_BOOLEAN = {"type": "boolean"}
_OBJECT = {"type": "object"}
_STRINGS = {"type": "array", "items": _STRING}
_DISTINCT = {"type": "array", "items": _STRING, "uniqueItems": True}
_NAMES = {"type": "array", "items": _STRING, "minItems": 1, "uniqueItems": True}
_NUMBERS = {"type": "array", "items": _NUMBER}
_UNITS = {"type": "object", "additionalProperties": _STRING}
_ATTRS = {"type": "object", "additionalProperties": _OBJECT}
_ALIGNMENT = {"enum": ["position", "interp", "exact"]}
_FRACTION = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}


def _integer(minimum: int, maximum: int | None = None) -> dict:
    return {"type": "integer", "minimum": minimum} | ({} if maximum is None else {"maximum": maximum})


#: The grid of an emulator (``emulator.json``'s ``grid``); ``lat`` and ``lon`` hold
#: ``model.height`` and ``model.width`` values.
GRID_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["lat_dim", "lon_dim", "lat", "lon"],
    "additionalProperties": False,
    "properties": {
        "lat_dim": _STRING,
        "lon_dim": _STRING,
        "lat": _NUMBERS,
        "lon": _NUMBERS,
        "lat_attrs": _OBJECT,
        "lon_attrs": _OBJECT,
    },
}

#: ``emulator.json``. Unknown keys are refused: add keys here when ``fit`` writes new ones.
#: The lists of one item per channel or target have the length :func:`check_emulator_meta`
#: takes from ``model``; ``model`` itself is checked with :data:`MODEL_SCHEMA`.
EMULATOR_SCHEMA: dict[str, Any] = {
    "$schema": _DIALECT,
    "type": "object",
    "required": ["format", "kind", "inputs", "targets", "channels", "encoding", "window", "grid_alignment",
                 "baseline", "input_units", "target_units", "target_attrs", "grid", "input_mean", "input_std",
                 "target_scale", "target_mean", "model", "training_selection"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": EMULATOR_FORMAT},
        "kind": {"enum": ["cnn-gru"]},
        "xemu_version": _STRING,
        "inputs": _NAMES,
        "targets": _DISTINCT,
        "channels": _DISTINCT,
        "encoding": {"enum": list(ENCODINGS)},
        "window": _integer(1, 100_000),
        "stride": _integer(1),
        "grid_alignment": _ALIGNMENT,
        "baseline": {"enum": [None, *_BASELINE_KINDS]},
        "baseline_inputs": {"type": ["array", "null"], "items": _STRING, "minItems": 1, "uniqueItems": True},
        "input_units": _UNITS,
        "target_units": _UNITS,
        "target_attrs": _ATTRS,
        "grid": GRID_SCHEMA,
        "input_mean": _NUMBERS,
        "input_std": {"type": "array", "items": _POSITIVE},
        "target_scale": {"type": "array", "items": _POSITIVE},
        "target_mean": {"type": ["array", "null"], "items": _NUMBER},
        "model": _OBJECT,
        "preset": _STRING,
        "train": _OBJECT,
        "loss": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _NUMBER}},
        "training_selection": _STRING,
        "n_train_windows": _integer(0),
        "n_val_windows": _integer(0),
        "history": {"type": "array", "items": _OBJECT},
        "best_epoch": _integer(-1),
        "train_seconds": {"type": "number", "minimum": 0},
        "data_seconds": {"type": "number", "minimum": 0},
        "device": _STRING,
        "notes": _STRINGS,
        "input_ranges": {"description": "{input: [min, max]} in training",
                         "type": "object", "additionalProperties": {**_NUMBERS, "minItems": 2, "maxItems": 2}},
        "baseline_options": {"description": "keyword options of the baseline's fit", **_OBJECT},
        "variability": {"description": "the model of internal variability in variability.nc, or null",
                        "oneOf": [{"type": "null"},
                                  {"type": "object", "additionalProperties": False, "required": ["block", "n_modes"],
                                   "properties": {"block": _integer(2), "n_modes": _integer(0),
                                                  "method": {"enum": ["bootstrap", "parametric"]},
                                                  "n_years": _integer(1)}}]},
    },
}

#: ``emulator.json``'s ``model``: the fields of :class:`~xemu.nn.model.ModelConfig` with their
#: types and bounds. Fields ModelConfig has and this schema lacks pass unchecked to it;
#: fields ModelConfig does not have are refused.
MODEL_SCHEMA: dict[str, Any] = {
    "$schema": _DIALECT,
    "type": "object",
    "required": ["in_channels", "n_targets", "height", "width", "conv_widths", "conv_strides"],
    "properties": {
        "in_channels": _integer(1, 100_000),
        "n_targets": _integer(1, 10_000),
        "height": _integer(1, 1_000_000),
        "width": _integer(1, 1_000_000),
        "conv_widths": {"type": "array", "items": _integer(1, 1_000_000), "minItems": 1, "maxItems": 256},
        "conv_strides": {"type": "array", "items": _integer(1, 2), "minItems": 1, "maxItems": 256},
        "se_reduction": _integer(1),
        "hidden": _integer(1, 10_000_000),
        "gru_layers": _integer(1, 256),
        "gru_dropout": _FRACTION,
        "bidirectional": _BOOLEAN,
        "head_hidden": _integer(1, 10_000_000),
        "head_dropout": _FRACTION,
        "output": {"enum": ["all", "last"]},
        "branches": {"enum": ["shared", "per_target"]},
        "zero_init_head": _BOOLEAN,
        "extra": _OBJECT,
    },
}

#: A baseline netCDF file's ``xemu_meta`` attribute (other keys are tolerated).
BASELINE_META_SCHEMA: dict[str, Any] = {
    "$schema": _DIALECT,
    "type": "object",
    "required": ["kind", "inputs", "targets", "input_units", "target_units", "target_attrs", "grid_alignment",
                 "training_selection"],
    "properties": {
        "kind": {"enum": list(_BASELINE_KINDS)},
        "inputs": _NAMES,
        "targets": _NAMES,
        "input_units": _UNITS,
        "target_units": _UNITS,
        "target_attrs": _ATTRS,
        "input_sample_dims": _STRINGS,
        "grid_alignment": _ALIGNMENT,
        "training_selection": _STRING,
    },
}

#: The entries of a training checkpoint and whether each is required.
CHECKPOINT_KEYS: dict[str, bool] = {
    "model": True, "optimizer": True, "scheduler": True, "rng": True, "history": True, "epoch": True,
    "best_epoch": True, "best_val": True, "fingerprint": True, "best_model": False, "done": False, "ema": False,
}


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


@functools.cache
def _validator(name: str):
    """The validator of one of the schemas above, built once."""
    schema = {"emulator": EMULATOR_SCHEMA, "model": MODEL_SCHEMA, "baseline": BASELINE_META_SCHEMA}[name]
    return _validator_class()(schema)


def _where(path: Sequence) -> str:
    """A place in a JSON document: ``'grid.lat'``, ``'input_std'[3]``, ``'history'[0]['loss']``."""
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
        return f"{_short(value)} is not a finite number"
    text, shown = err.message, repr(value)
    return _short(value) + text[len(shown):] if len(shown) > 60 and text.startswith(shown) else text


def _schema_problems(name: str, instance, at: Sequence = ()) -> list[str]:
    """Every problem of ``instance`` against the schema ``name`` (up to ``_MAX_ERRORS``).

    Missing keys of one object are named together, as are unknown keys; ``at`` is where
    ``instance`` sits in its document.
    """
    problems, seen = [], set()
    errors = list(itertools.islice(_validator(name).iter_errors(instance), _MAX_ERRORS))
    for err in errors:
        path = (*at, *err.absolute_path)
        if err.validator == "required" or (err.validator == "additionalProperties" and err.validator_value is False):
            if (path, err.validator) in seen:
                continue
            seen.add((path, err.validator))
            if err.validator == "required":
                keys, what = [k for k in err.validator_value if k not in err.instance], "missing"
            else:
                known = err.schema.get("properties", {})
                keys, what = [k for k in err.instance if k not in known], "unknown"
            problems.append(f"{what} key{'s' if len(keys) > 1 else ''} "
                            + ", ".join(_where((*path, k)) for k in keys))
        else:
            problems.append(f"{_where(path)}: {_message(err)}" if path else _message(err))
    if len(errors) == _MAX_ERRORS:
        problems.append(_UNCOUNTED)
    return problems


def _listing(problems: list[str]) -> str:
    """``problems`` as one line: the problem, or ``N problems: a; b; ...`` (the first few)."""
    if len(problems) == 1:
        return problems[0]
    counted = [p for p in problems if p is not _UNCOUNTED]
    more = len(counted) - _MAX_SHOWN
    return (f"{'at least ' if len(counted) < len(problems) else ''}{len(counted)} problems: "
            + "; ".join(counted[:_MAX_SHOWN]) + (f"; and {more} more" if more > 0 else ""))


# -- emulator.json --------------------------------------------------------------------------
#: The lists of ``emulator.json`` whose length is a size of the network: (where, the
#: ModelConfig field, what the items are).
_SIZED = (
    (("targets",), "n_targets", "distinct strings"),
    (("channels",), "in_channels", "distinct strings"),
    (("grid", "lat"), "height", "finite numbers"),
    (("grid", "lon"), "width", "finite numbers"),
    (("input_mean",), "in_channels", "finite numbers"),
    (("input_std",), "in_channels", "positive finite numbers"),
    (("target_scale",), "n_targets", "positive finite numbers"),
    (("target_mean",), "n_targets", "finite numbers"),
)


def _sizes(meta: Mapping, cfg) -> list[str]:
    """The lists of :data:`_SIZED` whose length is not the network's size."""
    problems = []
    for path, field, items in _SIZED:
        value = meta
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        n = getattr(cfg, field)
        if isinstance(value, list) and len(value) != n:
            problems.append(f"key {_where(path)} expected a list of {n} {items}; got a list of {len(value)} "
                            f"('model.{field}' is {n})")
    return problems


def _same_keys(meta: Mapping, key: str, names_key: str) -> str | None:
    if key not in meta or names_key not in meta or not isinstance(meta[key], dict):
        return None
    if not isinstance(meta[names_key], list) or set(meta[key]) == set(meta[names_key]):
        return None
    return (f"key {key!r} expected one entry per name of {names_key!r} ({_short(meta[names_key])}); "
            f"got {_short(sorted(meta[key]))}")


def _channels(meta: Mapping) -> str | None:
    want = [*meta["inputs"], *ENCODINGS[meta["encoding"]]]
    if meta["channels"] == want:
        return None
    return (f"key 'channels' expected the inputs followed by the season channels of encoding "
            f"{meta['encoding']!r}, {_short(want)}; got {_short(meta['channels'])}")


def _target_mean(meta: Mapping) -> str | None:
    if "baseline" in meta and meta.get("baseline") is None and meta.get("target_mean", 0) is None:
        return "key 'target_mean' expected a list of numbers (one per target) when 'baseline' is null; got null"
    return None


#: Checks across keys of ``emulator.json``, run when the schema and the sizes are met; each
#: returns a problem or None.
EMULATOR_CHECKS: list[Callable[[Mapping], str | None]] = [
    _channels,
    lambda m: _same_keys(m, "input_units", "inputs"),
    lambda m: _same_keys(m, "target_units", "targets"),
    lambda m: _same_keys(m, "target_attrs", "targets"),
    _target_mean,
]


def _check_model(model: Mapping):
    """Check ``emulator.json``'s ``model``: its :class:`ModelConfig`, or None and the problems."""
    import dataclasses

    from ..errors import ConfigError
    from ..nn.model import ModelConfig

    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = [k for k in model if k not in known]
    problems = []
    if unknown:
        problems.append(f"key 'model' has field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))} that ModelConfig does not take")
    problems += _schema_problems("model", model, at=("model",))
    if problems:
        return None, problems
    try:
        cfg = ModelConfig(**model)
    except ConfigError as err:
        return None, [f"key 'model': {err}"]
    except TypeError as err:  # a field ModelConfig does not take
        return None, [f"key 'model' is not a ModelConfig ({err})"]
    layers = (cfg.n_targets if cfg.branches == "per_target" else 1) * (len(cfg.conv_widths) + cfg.gru_layers)
    layers += cfg.n_targets
    if layers > MAX_LAYERS:
        return None, [f"key 'model' describes a network of {layers} layers (branches x (conv blocks + GRU "
                      f"layers) + heads); xemu loads at most {MAX_LAYERS}"]
    return cfg, []


def check_emulator_meta(meta, file: str = "emulator.json"):
    """Check an emulator's metadata (``emulator.json``, with its ``format``) and return its ModelConfig.

    Checks :data:`EMULATOR_SCHEMA` (missing keys, unknown keys, types, bounds), ``model``
    (with :data:`MODEL_SCHEMA` and :class:`~xemu.nn.model.ModelConfig`), the lengths that
    follow from the network's sizes, then ``EMULATOR_CHECKS``. Builds nothing.

    Parameters
    ----------
    meta : object
        The parsed JSON.
    file : str
        Named in the error.

    Returns
    -------
    ModelConfig
        The network's configuration.

    Raises
    ------
    DataError
        Naming ``file`` and listing every problem found, each with its place in the file.
    """
    if not isinstance(meta, dict):
        raise DataError(f"{file}: expected a JSON object; got {_type_name(meta)}")
    fmt = meta.get("format")
    if "format" in meta and fmt != EMULATOR_FORMAT:
        newer = isinstance(fmt, str) and fmt.startswith("xemu-emulator/")
        raise DataError(f"{file}: format {_short(fmt)} is not one this xemu reads (expected {EMULATOR_FORMAT!r})"
                        + ("; a newer xemu wrote it" if newer else "; it is not an xemu emulator"))
    cfg, model_problems = _check_model(meta["model"]) if isinstance(meta.get("model"), dict) else (None, [])
    problems = _schema_problems("emulator", meta) + (_sizes(meta, cfg) if cfg is not None else []) + model_problems
    if not problems:
        problems = [p for p in (check(meta) for check in EMULATOR_CHECKS) if p]
    if problems:
        raise DataError(f"{file}: " + _listing(problems))
    return cfg


def _read_json(file: Path) -> Any:
    try:
        size = file.stat().st_size
        if size > MAX_JSON_BYTES:
            raise DataError(f"{file}: {size:,} bytes; xemu reads emulator descriptions of at most "
                            f"{MAX_JSON_BYTES:,} bytes")
        text = file.read_bytes().decode("utf-8")
        return json.loads(text)
    except DataError:
        raise
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not a text file ({_first_line(err)}); expected the JSON that Emulator.save "
                        f"writes") from None
    except (ValueError, RecursionError) as err:
        raise DataError(f"{file}: not valid JSON ({_first_line(err)}); expected the JSON that Emulator.save "
                        f"writes") from None
    except OSError as err:
        raise DataError(f"{file}: cannot be read ({_first_line(err)})") from None


# -- weights --------------------------------------------------------------------------------
def _skeleton(cfg):
    """The network of ``cfg`` on torch's meta device: shapes and dtypes, no memory."""
    import torch

    from ..nn.model import CNNGRU

    with torch.device("meta"):
        return CNNGRU(cfg)


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def check_state_dict(state, reference: Mapping, file: str, *, what: str = "the configuration in emulator.json",
                     finite: bool = True) -> None:
    """Check that ``state`` (a torch state dict) has exactly the tensors of ``reference``.

    Parameters
    ----------
    state : object
        What was loaded.
    reference : mapping
        ``{name: tensor}`` (e.g. the state dict of a meta-device network): names, shapes
        and dtypes expected.
    file : str
        Named in the error.
    finite : bool
        Also refuse NaN or infinite values in floating-point tensors.

    Raises
    ------
    DataError
        Reporting the first mismatches by name.
    """
    import torch

    if not isinstance(state, dict):
        raise DataError(f"{file}: expected a dict of tensors (a torch state dict); got {_type_name(state)}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise DataError(f"{file}: expected a dict of tensors (a torch state dict); entry {_short(bad[0])} is "
                        f"{_type_name(state[bad[0]])}")
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    wrong = [f"{k!r} is {_fmt_shape(state[k].shape)} {str(state[k].dtype).removeprefix('torch.')}, "
             f"{what} needs {_fmt_shape(reference[k].shape)} {str(reference[k].dtype).removeprefix('torch.')}"
             for k in reference if k in state and (tuple(state[k].shape) != tuple(reference[k].shape)
                                                   or state[k].dtype != reference[k].dtype)]
    parts = []
    if wrong:
        parts.append("; ".join(wrong[:3]) + (f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""))
    if missing:
        parts.append(f"missing {_names(map(repr, missing), 4)}")
    if unexpected:
        parts.append(f"unexpected {_names(map(repr, unexpected), 4)}")
    if parts:
        raise DataError(f"{file}: the weights do not fit {what}: " + "; ".join(parts))
    if finite:
        for k, v in state.items():
            if v.dtype.is_floating_point and v.numel() and not _all_finite(v):
                raise DataError(f"{file}: tensor {k!r} holds NaN or infinite values")


def _all_finite(v) -> bool:
    """Whether a floating-point tensor holds only finite values (min and max propagate NaN; fast)."""
    import torch

    try:
        lo, hi = torch.aminmax(v)
    except RuntimeError:  # pragma: no cover - a dtype without aminmax
        return bool(torch.isfinite(v).all())
    return bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))


def _torch_load(file: Path, what: str):
    import torch

    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{file}: not readable as {what} ({_first_line(err)}); the file may be truncated "
                        f"(an interrupted copy) or not a torch file") from None


def read_emulator_folder(path: str | os.PathLike, *, argument: str = "path"):
    """Read and check the emulator folder ``path``; build its network only when all is well.

    Order: ``emulator.json`` (size, JSON, :func:`check_emulator_meta`), the network sized on
    the meta device (refused over :data:`MAX_PARAMETERS`), ``weights.pt`` (size, then
    ``torch.load(..., weights_only=True)``, then names, shapes, dtypes and finite values
    against the sized network), ``baseline.nc`` present if and only if the metadata names a
    baseline. A missing ``path`` goes to :func:`xemu.io.recover_interrupted_save`.

    Returns
    -------
    meta : dict
        ``emulator.json`` without ``format``.
    net : CNNGRU
        The network with the weights, in eval mode, on the CPU.
    baseline_file : pathlib.Path or None
        ``baseline.nc`` when the metadata names a baseline.

    Raises
    ------
    PathError
        ``path`` is missing (and nothing recoverable is beside it), or a folder without
        ``emulator.json``.
    DataError
        Anything in the folder is unreadable, malformed or inconsistent (naming the file).
    """
    import torch

    from .files import recover_interrupted_save  # xemu.io imports this module

    path = Path(path)
    if not path.exists():
        recover_interrupted_save(path, argument=argument)
    if not path.is_dir():
        raise PathError(f"{argument}: {_q(path)} is not a folder; expected an emulator folder written by "
                        f"Emulator.save")
    meta_file = path / _MARKER
    if not meta_file.is_file():
        held = sorted(os.listdir(path))
        raise PathError(f"{argument}: {_q(path)} is a folder but not an xemu emulator: it has no emulator.json "
                        f"({'it holds ' + _names(held) if held else 'it is empty'}); expected a folder written "
                        f"by Emulator.save")
    meta = _read_json(meta_file)
    if isinstance(meta, dict) and "format" not in meta:
        raise DataError(f"{meta_file}: has no 'format' key; expected {EMULATOR_FORMAT!r} (a file written by "
                        f"Emulator.save)")
    cfg = check_emulator_meta(meta, str(meta_file))
    meta.pop("format")

    try:
        skeleton = _skeleton(cfg)
    except Exception as err:
        raise DataError(f"{meta_file}: key 'model' describes a network torch cannot size ({_first_line(err)})") \
            from None
    reference = skeleton.state_dict()
    n_params = sum(p.numel() for p in skeleton.parameters())
    if n_params > MAX_PARAMETERS:
        raise DataError(f"{meta_file}: key 'model' describes a network of {n_params:,} parameters; xemu loads "
                        f"at most {MAX_PARAMETERS:,} (the study's largest has 352,878,672)")

    weights = path / "weights.pt"
    if weights.exists() and not weights.is_file():
        raise DataError(f"{weights}: not a file; expected the weights that Emulator.save writes")
    if not weights.is_file():
        raise DataError(f"{weights}: missing; emulator.json describes a network of {n_params:,} parameters "
                        f"whose weights should be there (an incomplete copy of the folder?)")
    need = sum(v.numel() * v.element_size() for v in reference.values())
    size = weights.stat().st_size
    if size > 2 * need + 64 * 2**20:
        raise DataError(f"{weights}: {size:,} bytes, far more than the {need:,} bytes of weights the "
                        f"configuration in emulator.json needs; these are not this emulator's weights")
    state = _torch_load(weights, "the weights of an emulator")
    check_state_dict(state, reference, str(weights))

    baseline_file = path / "baseline.nc"
    if meta["baseline"] is not None and not baseline_file.is_file():
        raise DataError(f"{baseline_file}: missing; emulator.json says the network corrects the "
                        f"{meta['baseline']!r} baseline, saved in that file (an incomplete copy of the folder?)")
    if meta["baseline"] is None and baseline_file.exists():
        raise DataError(f"{baseline_file}: present, but emulator.json says the emulator has no baseline "
                        f"('baseline': null); remove the file or restore the emulator.json that names it")

    # the checked tensors become the network's (no second copy of the weights); every
    # parameter and buffer is in ``state`` (checked above), so nothing stays on the meta device
    net = skeleton
    with torch.no_grad():
        net.load_state_dict(state, strict=True, assign=True)
    left = [k for k, v in [*net.named_parameters(), *net.named_buffers()] if v.is_meta]
    if left:  # pragma: no cover - a non-persistent buffer would need building for real
        raise DataError(f"{weights}: the network has tensors the weights do not set: {_names(left, 4)}")
    net.eval()
    return meta, net, baseline_file if meta["baseline"] is not None else None


def check_baseline_matches(meta: Mapping, baseline, file: str) -> None:
    """Check that a loaded ``baseline`` is the one ``meta`` (``emulator.json``) names: kind, targets,
    inputs and grid. Raises :class:`~xemu.DataError` naming ``file`` otherwise."""
    import numpy as np

    bmeta = baseline.meta
    if baseline.kind != meta["baseline"]:
        raise DataError(f"{file}: a {baseline.kind!r} baseline; emulator.json names {meta['baseline']!r}")
    if list(bmeta["targets"]) != list(meta["targets"]):
        raise DataError(f"{file}: a baseline of the targets {bmeta['targets']}; the emulator's are {meta['targets']}")
    want_inputs = meta.get("baseline_inputs")
    if want_inputs is not None and list(bmeta["inputs"]) != list(want_inputs):
        raise DataError(f"{file}: a baseline of the inputs {bmeta['inputs']}; emulator.json says "
                        f"{list(want_inputs)}")
    g = meta["grid"]
    lat, lon = baseline._grid()
    for name, dim, values in (("latitude", g["lat_dim"], g["lat"]), ("longitude", g["lon_dim"], g["lon"])):
        da = lat if name == "latitude" else lon
        if da.dims[0] != dim or da.size != len(values) or not np.allclose(da.values, values, rtol=0, atol=1e-6):
            raise DataError(f"{file}: the baseline's {name} ({da.dims[0]!r}, {da.size} points) differs from "
                            f"the emulator's grid in emulator.json ({dim!r}, {len(values)} points)")


# -- baselines ------------------------------------------------------------------------------
def _check_baseline_params(params, file: str) -> dict:
    """Check a baseline's parameter Dataset; return its ``xemu_meta``. DataError naming ``file``."""
    import numpy as np

    attrs = params.attrs
    kind = attrs.get("xemu_kind")
    if kind not in _BASELINE_KINDS:
        raise DataError(f"{file}: not a saved xemu baseline (attribute xemu_kind is {_short(kind)}; expected "
                        f"one of {', '.join(map(repr, _BASELINE_KINDS))})")
    raw = attrs.get("xemu_meta")
    if not isinstance(raw, str):
        raise DataError(f"{file}: attribute xemu_meta expected a JSON string; got {_type_name(raw)}")
    try:
        meta = json.loads(raw)
    except ValueError as err:
        raise DataError(f"{file}: attribute xemu_meta is not valid JSON ({_first_line(err)})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{file}: attribute xemu_meta expected a JSON object; got {_type_name(meta)}")
    problems = _schema_problems("baseline", meta)
    if problems:
        raise DataError(f"{file}: attribute xemu_meta: " + _listing(problems))
    if meta["kind"] != kind:
        raise DataError(f"{file}: attribute xemu_meta says kind {meta['kind']!r}; xemu_kind says {kind!r}")
    grid = []
    for attr in ("xemu_lat", "xemu_lon"):
        dim = attrs.get(attr)
        if not isinstance(dim, str) or dim not in params.coords or params[dim].dims != (dim,):
            raise DataError(f"{file}: attribute {attr} expected the name of a 1-D coordinate; got {_short(dim)}")
        values = params[dim].values
        if values.size == 0 or values.dtype.kind not in "fiu" or not np.isfinite(values).all():
            raise DataError(f"{file}: coordinate {dim!r} expected finite numbers; got {_short(values.tolist())}")
        grid.append(dim)
    lat, lon = grid
    n_in = len(meta["inputs"])
    sizes = {"month": 12, "term": n_in + 1, "input": n_in, lat: params.sizes[lat], lon: params.sizes[lon]}
    if kind == "linear":
        need = {f"coef_{t}": ("month", "term", lat, lon) for t in meta["targets"]}
        need.update({"input_mean": ("input",), "input_std": ("input",)})
    else:
        need = {f"mean_{t}": ("month", lat, lon) for t in meta["targets"]}
    missing = [n for n in need if n not in params.data_vars]
    if missing:
        raise DataError(f"{file}: a {kind} baseline of the targets {meta['targets']} needs the variables "
                        f"{_names(map(repr, missing))}, which are missing")
    for name, dims in need.items():
        da = params[name]
        if da.dims != dims:
            raise DataError(f"{file}: variable {name!r} expected dims {dims}; got {da.dims}")
        for d in dims:
            if da.sizes[d] != sizes[d]:
                what = {"month": " (one per calendar month)", "term": " (one per input, plus the intercept)",
                        "input": " (one per input)"}.get(d, "")
                raise DataError(f"{file}: variable {name!r} has {da.sizes[d]} {d} values; expected "
                                f"{sizes[d]}{what}")
        values = da.values
        if values.dtype.kind not in "fiu" or not np.isfinite(values).all():
            raise DataError(f"{file}: variable {name!r} expected finite numbers; it holds NaN, infinite or "
                            f"non-numeric values")
        if name == "input_std" and not (values > 0).all():
            raise DataError(f"{file}: variable 'input_std' expected {n_in} positive finite numbers (one per input); "
                            f"got {_short(values.tolist())}")
    if "month" in params.coords and params["month"].values.tolist() != list(range(1, 13)):
        raise DataError(f"{file}: coordinate 'month' expected 1 .. 12; got {_short(params['month'].values.tolist())}")
    return meta


def read_baseline_file(path: str | os.PathLike, *, argument: str = "path"):
    """Open and check a baseline's netCDF file; return its parameters, loaded (the file is closed).

    Raises
    ------
    PathError
        ``path`` is missing or a folder.
    DataError
        Not a netCDF file xemu can read, or not an xemu baseline: ``xemu_kind`` or
        ``xemu_meta`` missing or malformed, the variables of its kind and targets missing,
        a month count other than 12, non-finite values, an ``input_std`` that is not positive.
    """
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise PathError(f"{argument}: {_q(path)} does not exist; expected a baseline's netCDF file")
    if path.is_dir():
        raise PathError(f"{argument}: {_q(path)} is a folder; expected a baseline's netCDF file")
    try:
        with xr.open_dataset(path) as f:
            params = f.load()
    except Exception as err:
        raise DataError(f"{path}: not a netCDF file xemu can read ({_first_line(err)}); expected a baseline "
                        f"saved by xemu") from None
    _check_baseline_params(params, str(path))
    return params


# -- checkpoints ----------------------------------------------------------------------------
def read_variability_file(file: Path, described, targets) -> object | None:
    """The :class:`~xemu.variability.Variability` saved in ``file``, checked against ``emulator.json``.

    ``described`` is the metadata's ``variability`` entry (``None``: the file must not be
    there); every failure to read is a :class:`~xemu.DataError` naming the file.
    """
    import xarray as xr

    from ..variability.core import Variability

    file = Path(file)
    if described is None:
        if file.exists():
            raise DataError(f"{file}: present, but emulator.json says the emulator has no variability model "
                            f"('variability': null); remove the file or restore the emulator.json that names it")
        return None
    if not file.is_file():
        raise DataError(f"{file}: missing; emulator.json names a variability model saved in that file "
                        f"(an incomplete copy of the folder?)")
    try:
        with xr.open_dataset(file) as f:
            ds = f.load()
    except Exception as err:  # netCDF4 and xarray raise many kinds of errors for a bad file
        raise DataError(f"{file}: not a readable netCDF file ({_first_line(err)})") from None
    try:
        variability = Variability.from_dataset(ds)
    except XemuError as err:
        raise DataError(f"{file}: {err}") from None
    if sorted(variability.targets) != sorted(targets):
        raise DataError(f"{file}: models targets {variability.targets}; emulator.json's targets are {list(targets)}")
    if variability.block != described["block"]:
        raise DataError(f"{file}: block of {variability.block} months; emulator.json says {described['block']}")
    if variability.method != described.get("method", "parametric"):
        raise DataError(f"{file}: a {variability.method} residual model; emulator.json says "
                        f"{described.get('method', 'parametric')!r}")
    return variability


def read_checkpoint(path: str | os.PathLike, *, argument: str = "checkpoint") -> dict:
    """Load a training checkpoint with ``weights_only=True`` and check its entries.

    Raises
    ------
    PathError
        ``path`` is a folder.
    DataError
        Unreadable (truncated, a text file, not a torch file) or without the entries of
        :data:`CHECKPOINT_KEYS`; the message says to remove it (training then starts afresh).
    """
    path = Path(path)
    fix = "remove it (training then starts afresh) or choose another checkpoint path"
    if path.is_dir():
        raise PathError(f"{argument}: {_q(path)} is a folder; expected a checkpoint file (which need not "
                        f"exist yet)")
    try:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{argument}: {_q(path)} is not a readable xemu checkpoint ({_first_line(err)}); it may "
                        f"be truncated or not a checkpoint; {fix}") from None
    if not isinstance(state, dict):
        raise DataError(f"{argument}: {_q(path)} is not an xemu checkpoint (a {_type_name(state)}, expected a "
                        f"dict); {fix}")
    missing = [k for k, required in CHECKPOINT_KEYS.items() if required and k not in state]
    if missing:
        raise DataError(f"{argument}: {_q(path)} is not an xemu checkpoint (no {_names(map(repr, missing))}); "
                        f"{fix}")
    return state
