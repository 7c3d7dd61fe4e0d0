"""What every module of :mod:`xemu.io` shares: the names of xemu's own files and small helpers
that write paths, values and lists into error messages the same way everywhere.
"""

from __future__ import annotations

__all__ = ["MARKER", "BASELINE_KINDS", "quote", "shorten", "name_list", "first_line", "type_name"]

#: The file that marks an emulator folder (written last by a save).
MARKER = "emulator.json"
#: The kinds of baseline xemu saves (a baseline file's ``xemu_kind``).
BASELINE_KINDS = ("linear", "climatology", "energy-balance")


def quote(path) -> str:
    """``path`` as a quoted string for a message: ``'runs/cesm2.xemu'``.

    >>> quote("runs/a b")
    "'runs/a b'"
    """
    return repr(str(path))


def shorten(value, limit: int = 60) -> str:
    """The repr of ``value``, cut to ``limit`` characters (a list keeps its closing bracket).

    >>> shorten(list(range(30)), 20)
    '[0, 1, 2, 3, 4, ...]'
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]" if text[0] == "[" else text[: limit - 4] + " ..."


def name_list(items, limit: int = 8) -> str:
    """``items`` as ``a, b, c``, the first ``limit`` of them and how many more.

    >>> name_list("abcde", 3)
    'a, b, c and 2 more'
    """
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def first_line(err: BaseException, limit: int = 160) -> str:
    """The class and the first line of an exception's message, cut to ``limit`` characters.

    >>> first_line(ValueError("bad value\\nmore"))
    'ValueError: bad value'
    """
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    text = text if len(text) <= limit else text[: limit - 4] + " ..."
    return f"{type(err).__name__}: {text}".rstrip(": ")


def type_name(value) -> str:
    """The JSON-ish name of ``value``'s type: ``null`` for None, else the Python class name."""
    return "null" if value is None else type(value).__name__
