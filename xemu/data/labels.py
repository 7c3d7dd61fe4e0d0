"""The way back from arrays to labelled Datasets.

:func:`~xemu.data.labels.to_dataset` puts a prediction on the inputs' samples and time and
the target grid, with the attributes that stay true of a prediction
(:data:`~xemu.data.labels.KEPT_ATTRS`) and a provenance note
(:func:`~xemu.data.labels.prediction_attrs`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .prepare import Prepared

__all__ = ["to_dataset", "prediction_attrs", "describe_selection", "KEPT_ATTRS", "KEPT_COORD_ATTRS",
           "CONVENTIONS"]


#: Attributes of a target variable that a prediction of it keeps: those that stay true of a
#: prediction. Everything else is dropped, because it describes the model output the emulator
#: was trained on, not the prediction: ``frequency``/``mipTable`` (the source's sampling),
#: ``comment``/``description``/``history`` (notes on the source data), ``cell_measures``,
#: ``bounds``, ``coordinates``, ``ancillary_variables``, ``grid_mapping`` (they name variables a
#: prediction does not carry), ``valid_min``/``valid_max``/``valid_range`` (a prediction may leave
#: them), packing and fill values (the writer's business) and any other CMOR bookkeeping.
#: ``xemu_units_converted`` is xemu's note that the target was converted to these units.
KEPT_ATTRS: tuple[str, ...] = ("standard_name", "long_name", "units", "cell_methods", "xemu_units_converted")


#: Attributes of a prediction's coordinates (time, the grid, the sample dims) that it keeps:
#: the CF attributes that describe the coordinate itself. ``bounds`` is dropped (a prediction
#: carries no bounds variables), and so is anything else (``title``, ``type``, CMOR notes).
#: Time's ``units`` and ``calendar`` live in its encoding and are written as they came; time
#: gets ``standard_name: time`` and ``axis: T`` when the input's time coordinate had none.
KEPT_COORD_ATTRS: tuple[str, ...] = ("standard_name", "long_name", "units", "axis", "calendar", "positive",
                                     "valid_min", "valid_max", "valid_range")


#: The CF version a prediction's global ``Conventions`` attribute names.
CONVENTIONS = "CF-1.8"


def to_dataset(values: np.ndarray, p: Prepared, names: Sequence[str], attrs: dict[str, dict],
               history: str, *, source: str | None = None, input_attrs: dict | None = None) -> xr.Dataset:
    """Turn ``(S_in, T, V, H, W)`` predictions into a Dataset on the inputs' samples, time and grid.

    Both the CNN-GRU (:meth:`xemu.Emulator.predict`) and the baselines build their
    predictions here, so that every prediction carries the same, true, metadata.

    Parameters
    ----------
    values : numpy.ndarray
        ``(S_in, T, V, H, W)`` predictions in the targets' units.
    p : Prepared
        The prepared inputs (samples, time and grid labels).
    names : list of str
        The ``V`` target names.
    attrs : dict
        Attributes of each target in the training data; only :data:`KEPT_ATTRS` are kept.
    history : str
        What made the prediction, e.g. ``"predicted tas, pr with xemu 0.1.0 ..."``; it becomes
        a dated line of the global ``history`` (see :func:`prediction_attrs`).
    source : str, optional
        The global ``source`` attribute, e.g. ``"xemu 0.1.0 cnn-gru emulator (baseline energy-balance)"``.
    input_attrs : dict, optional
        The input Dataset's global attributes: its ``history``, when there is one, is kept and
        the new line appended.

    Returns
    -------
    xarray.Dataset
        One variable per target, with :data:`KEPT_ATTRS` only; coordinates with
        :data:`KEPT_COORD_ATTRS` only; global attributes from :func:`prediction_attrs`.
    """
    dims = (*p.input_sample_dims, p.time.dims[0], p.lat.dims[0], p.lon.dims[0])
    shape = [p.sample_coords[d].size for d in p.input_sample_dims] + [p.time.size, p.lat.size, p.lon.size]
    coords = {d: _coord(p.sample_coords[d]) for d in p.input_sample_dims}
    time = _coord(p.time)
    time.attrs = {"standard_name": "time", "axis": "T", **time.attrs}  # true of a time axis, if the input said nothing
    coords.update({p.time.dims[0]: time, p.lat.dims[0]: _coord(p.lat), p.lon.dims[0]: _coord(p.lon)})
    out = {}
    for v, name in enumerate(names):
        a = {k: attrs[name][k] for k in KEPT_ATTRS if k in attrs.get(name, {})}
        out[name] = xr.DataArray(values[:, :, v].reshape(shape), dims=dims, coords=coords, attrs=a)
    return xr.Dataset(out, attrs=prediction_attrs(names, history, source=source, input_attrs=input_attrs))


def _coord(da: xr.DataArray) -> xr.DataArray:
    """``da`` as a dimension coordinate with only :data:`KEPT_COORD_ATTRS` (its encoding kept)."""
    dim = da.dims[0]
    var = xr.Variable(dim, np.asarray(da.values), {k: da.attrs[k] for k in KEPT_COORD_ATTRS if k in da.attrs})
    var.encoding = {k: v for k, v in da.encoding.items() if k in ("units", "calendar", "dtype")}
    return xr.DataArray(var, coords={dim: var}, name=dim)


def prediction_attrs(names: Sequence[str], history: str, *, source: str | None = None,
                     input_attrs: dict | None = None, now: str | None = None) -> dict:
    """Global attributes of a prediction: ``Conventions``, ``title``, ``source``, ``history``.

    Parameters
    ----------
    names : list of str
        The predicted variables (they name the ``title``).
    history : str
        What made the prediction; written as the line ``"<UTC time>: <history>"``.
    source : str, optional
        What produced the values (default: ``"xemu <version>"``).
    input_attrs : dict, optional
        The input Dataset's global attributes; its ``history`` (when there is one) comes
        first and the new line is appended, as CF asks.
    now : str, optional
        The time stamp (default: now, UTC, ISO 8601 to the second).

    Examples
    --------
    >>> a = prediction_attrs(["tas", "pr"], "predicted tas, pr with xemu", source="xemu 0.1.0 linear baseline",
    ...                      input_attrs={"history": "made by a climate model"}, now="2025-06-01T12:00:00Z")
    >>> a["Conventions"], a["title"], a["source"]
    ('CF-1.8', 'xemu prediction of tas and pr', 'xemu 0.1.0 linear baseline')
    >>> print(a["history"])
    made by a climate model
    2025-06-01T12:00:00Z: predicted tas, pr with xemu
    """
    from datetime import UTC, datetime

    from ..version import __version__

    names = [str(n) for n in names]
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    stamp = now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = str((input_attrs or {}).get("history") or "").rstrip("\n")
    line = f"{stamp}: {history}"
    return {
        "Conventions": CONVENTIONS,
        "title": f"xemu prediction of {what}",
        "source": source or f"xemu {__version__}",
        "history": f"{before}\n{line}" if before else line,
    }


def describe_selection(p: Prepared, holdout) -> str:
    """What a model was trained on: the samples, the time span and the holdout left out, in words."""
    dims = ", ".join(f"{d}={p.sample_coords[d].values.tolist()}" for d in p.target_sample_dims)
    t = p.time.values
    span = f"time {t[0]} .. {t[-1]}" if t.size else "no time"
    text = f"{dims}; {span}" if dims else span
    if holdout:
        text += f"; except the holdout {_format_holdout(holdout)}"
    return text


def _format_holdout(holdout: dict) -> str:
    parts = []
    for k, v in holdout.items():
        if isinstance(v, slice):
            v = f"{v.start or ''}..{v.stop or ''}"
        parts.append(f"{k}={v}")
    return "{" + ", ".join(parts) + "}"
