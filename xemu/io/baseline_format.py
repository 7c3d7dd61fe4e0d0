"""The format of a baseline's netCDF file, and its checks.

A baseline file holds the baseline's parameters as variables (``coef_<target>`` and the
inputs' ``input_mean``/``input_std`` for the linear pattern scaling, ``coef_<target>`` and
the global model's ``global_value`` for the energy-balance pattern scaling, ``mean_<target>``
for the climatology) with the attributes ``xemu_kind``, ``xemu_lat``, ``xemu_lon`` and
``xemu_meta`` (JSON, checked with :data:`BASELINE_META_SCHEMA`; other keys are tolerated).

* :func:`check_baseline_params` checks the parameters (before saving and after reading).
* :func:`read_baseline_file` opens and checks a file; :func:`is_xemu_baseline_file` tells
  whether a file is one.
* :func:`check_baseline_matches` checks that a loaded baseline is the one an emulator's
  ``emulator.json`` names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError, PathError
from .common import BASELINE_KINDS, first_line, name_list, quote, shorten, type_name
from .schemas import ALIGNMENT, ATTRS, DIALECT, NAMES, STRING, STRINGS, UNITS, listing, schema_problems

__all__ = ["check_baseline_params", "read_baseline_file", "is_xemu_baseline_file", "check_baseline_matches",
           "BASELINE_META_SCHEMA"]

#: A baseline netCDF file's ``xemu_meta`` attribute (other keys are tolerated).
BASELINE_META_SCHEMA: dict[str, Any] = {
    "$schema": DIALECT,
    "type": "object",
    "required": ["kind", "inputs", "targets", "input_units", "target_units", "target_attrs", "grid_alignment",
                 "training_selection"],
    "properties": {
        "kind": {"enum": list(BASELINE_KINDS)},
        "inputs": NAMES,
        "targets": NAMES,
        "input_units": UNITS,
        "target_units": UNITS,
        "target_attrs": ATTRS,
        "input_sample_dims": STRINGS,
        "grid_alignment": ALIGNMENT,
        "training_selection": STRING,
    },
}

#: What a dimension's size counts, for the messages.
_COUNTS = {"month": " (one per calendar month)", "term": " (one per input, plus the intercept; 2 for energy-balance)",
           "input": " (one per input)"}


def _baseline_meta(attrs: Mapping, file: str) -> dict:
    """The checked ``xemu_meta`` of a baseline's attributes, whose kind ``xemu_kind`` confirms."""
    kind = attrs.get("xemu_kind")
    if kind not in BASELINE_KINDS:
        raise DataError(f"{file}: not a saved xemu baseline (attribute xemu_kind is {shorten(kind)}; expected "
                        f"one of {', '.join(map(repr, BASELINE_KINDS))})")
    raw = attrs.get("xemu_meta")
    if not isinstance(raw, str):
        raise DataError(f"{file}: attribute xemu_meta expected a JSON string; got {type_name(raw)}")
    try:
        meta = json.loads(raw)
    except ValueError as err:
        raise DataError(f"{file}: attribute xemu_meta is not valid JSON ({first_line(err)})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{file}: attribute xemu_meta expected a JSON object; got {type_name(meta)}")
    problems = schema_problems(BASELINE_META_SCHEMA, meta)
    if problems:
        raise DataError(f"{file}: attribute xemu_meta: " + listing(problems))
    if meta["kind"] != kind:
        raise DataError(f"{file}: attribute xemu_meta says kind {meta['kind']!r}; xemu_kind says {kind!r}")
    return meta


def _grid_dims(params, file: str) -> list[str]:
    """The latitude and longitude dimensions ``xemu_lat`` and ``xemu_lon`` name, checked."""
    import numpy as np

    grid = []
    for attr in ("xemu_lat", "xemu_lon"):
        dim = params.attrs.get(attr)
        if not isinstance(dim, str) or dim not in params.coords or params[dim].dims != (dim,):
            raise DataError(f"{file}: attribute {attr} expected the name of a 1-D coordinate; got {shorten(dim)}")
        values = params[dim].values
        if values.size == 0 or values.dtype.kind not in "fiu" or not np.isfinite(values).all():
            raise DataError(f"{file}: coordinate {dim!r} expected finite numbers; got {shorten(values.tolist())}")
        grid.append(dim)
    return grid


def _needed_variables(kind: str, meta: Mapping, lat: str, lon: str) -> dict[str, tuple[str, ...]]:
    """``{variable: dims}`` a baseline of ``kind`` and ``meta``'s targets holds."""
    if kind == "linear":
        need = {f"coef_{t}": ("month", "term", lat, lon) for t in meta["targets"]}
        need.update({"input_mean": ("input",), "input_std": ("input",)})
        return need
    if kind == "energy-balance":
        need = {f"coef_{t}": ("month", "term", lat, lon) for t in meta["targets"]}
        need.update({"global_value": ("parameter",), "global_free": ("parameter",), "input_min": ("input",),
                     "input_max": ("input",), "global_range": ("bound",)})
        return need
    return {f"mean_{t}": ("month", lat, lon) for t in meta["targets"]}


def _check_variable(da, name: str, dims: tuple, sizes: Mapping, n_in: int, file: str) -> None:
    """Check one parameter variable: its dims, their sizes, finite numbers, a positive ``input_std``."""
    import numpy as np

    if da.dims != dims:
        raise DataError(f"{file}: variable {name!r} expected dims {dims}; got {da.dims}")
    for d in dims:
        if da.sizes[d] != sizes[d]:
            raise DataError(f"{file}: variable {name!r} has {da.sizes[d]} {d} values; expected "
                            f"{sizes[d]}{_COUNTS.get(d, '')}")
    values = da.values
    if values.dtype.kind not in "fiu" or not np.isfinite(values).all():
        raise DataError(f"{file}: variable {name!r} expected finite numbers; it holds NaN, infinite or "
                        f"non-numeric values")
    if name == "input_std" and not (values > 0).all():
        raise DataError(f"{file}: variable 'input_std' expected {n_in} positive finite numbers (one per input); "
                        f"got {shorten(values.tolist())}")


def check_baseline_params(params, file: str) -> dict:
    """Check a baseline's parameter Dataset; return its ``xemu_meta``.

    Raises
    ------
    DataError
        Naming ``file``: ``xemu_kind`` or ``xemu_meta`` missing or malformed, the variables
        of its kind and targets missing, a month count other than 12, non-finite values, an
        ``input_std`` that is not positive.
    """
    meta = _baseline_meta(params.attrs, file)
    kind = meta["kind"]
    lat, lon = _grid_dims(params, file)
    n_in = len(meta["inputs"])
    sizes = {"month": 12, "term": 2 if kind == "energy-balance" else n_in + 1, "input": n_in,
             "parameter": len(params.get("parameter", ())), "bound": 2, lat: params.sizes[lat], lon: params.sizes[lon]}
    need = _needed_variables(kind, meta, lat, lon)
    missing = [n for n in need if n not in params.data_vars]
    if missing:
        raise DataError(f"{file}: a {kind} baseline of the targets {meta['targets']} needs the variables "
                        f"{name_list(map(repr, missing))}, which are missing")
    for name, dims in need.items():
        _check_variable(params[name], name, dims, sizes, n_in, file)
    if "month" in params.coords and params["month"].values.tolist() != list(range(1, 13)):
        raise DataError(f"{file}: coordinate 'month' expected 1 .. 12; got {shorten(params['month'].values.tolist())}")
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
        raise PathError(f"{argument}: {quote(path)} does not exist; expected a baseline's netCDF file")
    if path.is_dir():
        raise PathError(f"{argument}: {quote(path)} is a folder; expected a baseline's netCDF file")
    try:
        with xr.open_dataset(path) as f:
            params = f.load()
    except Exception as err:
        raise DataError(f"{path}: not a netCDF file xemu can read ({first_line(err)}); expected a baseline "
                        f"saved by xemu") from None
    check_baseline_params(params, str(path))
    return params


def is_xemu_baseline_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a netCDF file with an xemu baseline's ``xemu_kind`` attribute."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        return False
    try:
        with xr.open_dataset(path) as f:
            return f.attrs.get("xemu_kind") in BASELINE_KINDS
    except Exception:  # not netCDF, unreadable: not ours
        return False


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
    lat, lon = baseline.grid()
    for name, dim, values in (("latitude", g["lat_dim"], g["lat"]), ("longitude", g["lon_dim"], g["lon"])):
        da = lat if name == "latitude" else lon
        if da.dims[0] != dim or da.size != len(values) or not np.allclose(da.values, values, rtol=0, atol=1e-6):
            raise DataError(f"{file}: the baseline's {name} ({da.dims[0]!r}, {da.size} points) differs from "
                            f"the emulator's grid in emulator.json ({dim!r}, {len(values)} points)")
