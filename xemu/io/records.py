"""JSON records of xemu's files: attributes made JSON-safe (:func:`~xemu.io.records.jsonable`)."""

from __future__ import annotations

import numpy as np

__all__ = ["jsonable"]


def jsonable(attrs: dict) -> dict:
    """The entries of ``attrs`` that JSON can hold (numpy scalars and arrays as Python values); others are left out."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, str | int | float | bool | list) or v is None:
            out[k] = v
    return out
