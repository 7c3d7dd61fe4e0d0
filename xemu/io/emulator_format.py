"""The format of ``emulator.json``, the description of an emulator folder, and its checks.

What the file must hold is written down as JSON Schema (:mod:`xemu.io.schemas`); what JSON
Schema cannot say (a list as long as a size of the network, one unit per input) is checked by
small functions afterwards.

* :data:`EMULATOR_SCHEMA`: ``emulator.json``. Unknown keys are refused; when ``fit`` writes
  a new key, add it to ``properties`` (and to ``required`` unless older files lack it).
* :data:`GRID_SCHEMA`: its ``grid``.
* :data:`MODEL_SCHEMA`: its ``model``, the fields of :class:`~xemu.nn.model.ModelConfig`
  with their bounds; fields ModelConfig does not take are refused.
* :func:`check_emulator_meta` checks ``emulator.json``'s content and returns its
  :class:`~xemu.nn.model.ModelConfig` (the class is passed in: this layer knows no network);
  every problem found is listed in one :class:`~xemu.DataError` naming the file and each
  problem's place, e.g. ``emulator.json: 2 problems: missing key 'window'; 'input_std'[3]: 0
  is less than or equal to the minimum of 0``.
* :func:`read_emulator_json` reads the file (at most :data:`MAX_JSON_BYTES`);
  :func:`is_xemu_emulator_folder` tells whether a folder holds one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..data.encoding import ENCODINGS
from ..errors import ConfigError, DataError
from .common import BASELINE_KINDS, MARKER, first_line, shorten, type_name
from .schemas import (
    ALIGNMENT,
    ATTRS,
    BOOLEAN,
    DIALECT,
    DISTINCT,
    FRACTION,
    NAMES,
    NON_NEGATIVE,
    NUMBER,
    NUMBERS,
    OBJECT,
    POSITIVE,
    STRING,
    STRINGS,
    UNITS,
    integer,
    listing,
    schema_problems,
    where,
)

__all__ = [
    "check_emulator_meta",
    "read_emulator_json",
    "is_xemu_emulator_folder",
    "EMULATOR_CHECKS",
    "EMULATOR_FORMAT",
    "EMULATOR_SCHEMA",
    "GRID_SCHEMA",
    "MODEL_SCHEMA",
    "MAX_PARAMETERS",
    "MAX_LAYERS",
    "MAX_JSON_BYTES",
]

#: The ``format`` string of ``emulator.json`` this xemu writes and reads.
EMULATOR_FORMAT = "xemu-emulator/1"
#: The most parameters :func:`~xemu.io.read_emulator_folder` builds a network for (the study's
#: largest network, the ``seed`` preset on the 48 x 72 grid, has 352,878,672); counted on
#: torch's meta device before anything is allocated. 2e9 float32 parameters are 8 GB.
MAX_PARAMETERS = 2_000_000_000
#: The most layers a loaded configuration may have, counted as branches x (conv blocks +
#: GRU layers) + heads (the ``seed`` preset has 2 x (4 + 2) + 2 = 14). Sizing the network on
#: the meta device takes up to about 1 ms a layer; this bound keeps it well under a second.
MAX_LAYERS = 256
#: The largest ``emulator.json`` read (a 0.1-degree grid's coordinates take ~100 kB).
MAX_JSON_BYTES = 64 * 2**20


#: The grid of an emulator (``emulator.json``'s ``grid``); ``lat`` and ``lon`` hold
#: ``model.height`` and ``model.width`` values.
GRID_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["lat_dim", "lon_dim", "lat", "lon"],
    "additionalProperties": False,
    "properties": {
        "lat_dim": STRING,
        "lon_dim": STRING,
        "lat": NUMBERS,
        "lon": NUMBERS,
        "lat_attrs": OBJECT,
        "lon_attrs": OBJECT,
    },
}

#: ``emulator.json``. Unknown keys are refused: add keys here when ``fit`` writes new ones.
#: The lists of one item per channel or target have the length :func:`check_emulator_meta`
#: takes from ``model``; ``model`` itself is checked with :data:`MODEL_SCHEMA`.
EMULATOR_SCHEMA: dict[str, Any] = {
    "$schema": DIALECT,
    "type": "object",
    "required": ["format", "kind", "inputs", "targets", "channels", "encoding", "window", "grid_alignment",
                 "baseline", "input_units", "target_units", "target_attrs", "grid", "input_mean", "input_std",
                 "target_scale", "target_mean", "model", "training_selection"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": EMULATOR_FORMAT},
        "kind": {"enum": ["cnn-gru"]},
        "xemu_version": STRING,
        "inputs": NAMES,
        "targets": DISTINCT,
        "channels": DISTINCT,
        "encoding": {"enum": list(ENCODINGS)},
        "window": integer(1, 100_000),
        "stride": integer(1),
        "grid_alignment": ALIGNMENT,
        "baseline": {"enum": [None, *BASELINE_KINDS]},
        "baseline_inputs": {"type": ["array", "null"], "items": STRING, "minItems": 1, "uniqueItems": True},
        "input_units": UNITS,
        "target_units": UNITS,
        "target_attrs": ATTRS,
        "grid": GRID_SCHEMA,
        "input_mean": NUMBERS,
        "input_std": {"type": "array", "items": POSITIVE},
        "target_scale": {"type": "array", "items": POSITIVE},
        "target_mean": {"type": ["array", "null"], "items": NUMBER},
        "model": OBJECT,
        "preset": STRING,
        "train": OBJECT,
        "loss": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": NUMBER}},
        "training_selection": STRING,
        "n_train_windows": integer(0),
        "n_val_windows": integer(0),
        "history": {"type": "array", "items": OBJECT},
        "best_epoch": integer(-1),
        "train_seconds": {"type": "number", "minimum": 0},
        "data_seconds": {"type": "number", "minimum": 0},
        "device": STRING,
        "notes": STRINGS,
        "input_ranges": {"description": "{input: [min, max]} in training",
                         "type": "object", "additionalProperties": {**NUMBERS, "minItems": 2, "maxItems": 2}},
        "clamp_inputs": {"description": "the network's inputs are held to input_ranges at prediction",
                         "type": "boolean"},
        "baseline_options": {"description": "keyword options of the baseline's fit", **OBJECT},
        "novelty": {"description": "the training months' forcings that taper the network's correction "
                                   "(xemu.data.novelty.Novelty)",
                    "type": "object", "additionalProperties": False, "required": ["names", "mean", "std", "points"],
                    "properties": {"names": NAMES, "mean": NUMBERS, "std": {"type": "array", "items": POSITIVE},
                                   "points": {"type": "array", "minItems": 12, "maxItems": 12, "items": {
                                       "type": "array", "items": {"type": "array", "items": {
                                           "oneOf": [NUMBER, {"type": "null"}]}}}}}},
        "taper_length": {"description": "distance from the training forcings at which the correction (since "
                                        "correction_split: its slow part) is exp(-1/2) of itself (0: the "
                                        "baseline alone off the training forcings); or per input (null: not "
                                        "compared)",
                         "oneOf": [NON_NEGATIVE, {"type": "object", "additionalProperties": {
                             "oneOf": [NON_NEGATIVE, {"type": "null"}]}}]},
        "correction_split": {"description": "the correction's slow part, its centred running mean over "
                                            "slow_months, is tapered with taper_length; the rest with "
                                            "fast_taper_length (null: not tapered)",
                             "type": "object", "additionalProperties": False,
                             "required": ["slow_months", "fast_taper_length"],
                             "properties": {"slow_months": integer(1),
                                            "fast_taper_length": {"oneOf": [NON_NEGATIVE, {"type": "null"}]}}},
        "variability": {"description": "the model of internal variability in variability.nc, or null",
                        "oneOf": [{"type": "null"},
                                  {"type": "object", "additionalProperties": False, "required": ["block", "n_modes"],
                                   "properties": {"block": integer(2), "n_modes": integer(0),
                                                  "method": {"enum": ["bootstrap", "parametric"]},
                                                  "n_years": integer(1),
                                                  "calibration": {"enum": ["the baseline's variance and internal variance per block",
                                                                           "internal variance added per block",
                                                                           "internal variance added",
                                                                           "variance ratio"]}}}]},
    },
}

#: ``emulator.json``'s ``model``: the fields of :class:`~xemu.nn.model.ModelConfig` with their
#: types and bounds. Fields ModelConfig has and this schema lacks pass unchecked to it;
#: fields ModelConfig does not have are refused.
MODEL_SCHEMA: dict[str, Any] = {
    "$schema": DIALECT,
    "type": "object",
    "required": ["in_channels", "n_targets", "height", "width", "conv_widths", "conv_strides"],
    "properties": {
        "in_channels": integer(1, 100_000),
        "n_targets": integer(1, 10_000),
        "height": integer(1, 1_000_000),
        "width": integer(1, 1_000_000),
        "conv_widths": {"type": "array", "items": integer(1, 1_000_000), "minItems": 1, "maxItems": 256},
        "conv_strides": {"type": "array", "items": integer(1, 2), "minItems": 1, "maxItems": 256},
        "se_reduction": integer(1),
        "hidden": integer(1, 10_000_000),
        "gru_layers": integer(1, 256),
        "gru_dropout": FRACTION,
        "bidirectional": BOOLEAN,
        "head_hidden": integer(1, 10_000_000),
        "head_dropout": FRACTION,
        "output": {"enum": ["all", "last"]},
        "branches": {"enum": ["shared", "per_target"]},
        "zero_init_head": BOOLEAN,
        "extra": OBJECT,
    },
}

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
            problems.append(f"key {where(path)} expected a list of {n} {items}; got a list of {len(value)} "
                            f"('model.{field}' is {n})")
    return problems


def _same_keys(meta: Mapping, key: str, names_key: str) -> str | None:
    """A problem when the dict ``meta[key]`` does not have one entry per name of ``meta[names_key]``."""
    if key not in meta or names_key not in meta or not isinstance(meta[key], dict):
        return None
    if not isinstance(meta[names_key], list) or set(meta[key]) == set(meta[names_key]):
        return None
    return (f"key {key!r} expected one entry per name of {names_key!r} ({shorten(meta[names_key])}); "
            f"got {shorten(sorted(meta[key]))}")


def _channels(meta: Mapping) -> str | None:
    """A problem when ``channels`` is not the inputs followed by the encoding's season channels."""
    want = [*meta["inputs"], *ENCODINGS[meta["encoding"]]]
    if meta["channels"] == want:
        return None
    return (f"key 'channels' expected the inputs followed by the season channels of encoding "
            f"{meta['encoding']!r}, {shorten(want)}; got {shorten(meta['channels'])}")


def _target_mean(meta: Mapping) -> str | None:
    """A problem when ``target_mean`` is null although there is no baseline."""
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


def _check_model(model: Mapping, config_class: type):
    """Check ``emulator.json``'s ``model``: its ``config_class`` (ModelConfig), or None and the problems."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = [k for k in model if k not in known]
    problems = []
    if unknown:
        problems.append(f"key 'model' has field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))} that ModelConfig does not take")
    problems += schema_problems(MODEL_SCHEMA, model, at=("model",))
    if problems:
        return None, problems
    try:
        cfg = config_class(**model)
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


def check_emulator_meta(meta, file: str = "emulator.json", *, config_class: type):
    """Check an emulator's metadata (``emulator.json``, with its ``format``) and return its configuration.

    Checks :data:`EMULATOR_SCHEMA` (missing keys, unknown keys, types, bounds), ``model``
    (with :data:`MODEL_SCHEMA` and ``config_class``), the lengths that follow from the
    network's sizes, then ``EMULATOR_CHECKS``. Builds nothing but the configuration.

    Parameters
    ----------
    meta : object
        The parsed JSON.
    file : str
        Named in the error.
    config_class : type
        The dataclass of the network's configuration, :class:`~xemu.nn.model.ModelConfig`:
        ``model`` may hold only its fields, and ``config_class(**model)`` runs its checks (a
        :class:`~xemu.ConfigError` it raises becomes a problem of ``model``).

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
        raise DataError(f"{file}: expected a JSON object; got {type_name(meta)}")
    fmt = meta.get("format")
    if "format" in meta and fmt != EMULATOR_FORMAT:
        newer = isinstance(fmt, str) and fmt.startswith("xemu-emulator/")
        raise DataError(f"{file}: format {shorten(fmt)} is not one this xemu reads (expected {EMULATOR_FORMAT!r})"
                        + ("; a newer xemu wrote it" if newer else "; it is not an xemu emulator"))
    model = meta.get("model")
    cfg, model_problems = _check_model(model, config_class) if isinstance(model, dict) else (None, [])
    problems = (schema_problems(EMULATOR_SCHEMA, meta) + (_sizes(meta, cfg) if cfg is not None else [])
                + model_problems)
    if not problems:
        problems = [p for p in (check(meta) for check in EMULATOR_CHECKS) if p]
    if problems:
        raise DataError(f"{file}: " + listing(problems))
    return cfg


def read_emulator_json(file: Path) -> Any:
    """The parsed ``emulator.json`` at ``file`` (at most :data:`MAX_JSON_BYTES`); DataError naming it."""
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
        raise DataError(f"{file}: not a text file ({first_line(err)}); expected the JSON that Emulator.save "
                        f"writes") from None
    except (ValueError, RecursionError) as err:
        raise DataError(f"{file}: not valid JSON ({first_line(err)}); expected the JSON that Emulator.save "
                        f"writes") from None
    except OSError as err:
        raise DataError(f"{file}: cannot be read ({first_line(err)})") from None


def is_xemu_emulator_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder whose ``emulator.json`` says it is an xemu emulator (any version)."""
    marker = Path(path) / MARKER
    try:
        if not marker.is_file() or marker.stat().st_size > MAX_JSON_BYTES:
            return False
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and str(meta.get("format", "")).startswith("xemu-emulator/")
