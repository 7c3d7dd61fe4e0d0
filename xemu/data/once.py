"""Checks made once per call: within a prediction, the emulator, its baseline and the memory
check read the same Dataset; :func:`~xemu.data.once.checking_once` makes the checks that go
through :func:`~xemu.data.once.once` (a variable's coordinate roles,
:func:`xemu.data.coords.roles`; a time coordinate's, :func:`xemu.data.checks.check_time`) run
once per object for the length of the call.
"""

from __future__ import annotations

import contextvars
import functools

__all__ = ["checking_once", "once"]

#: What :func:`once` remembered within :func:`checking_once` (``None`` outside it).
_ONCE: contextvars.ContextVar = contextvars.ContextVar("xemu_checked_once", default=None)


def checking_once(fn):
    """Decorate ``fn`` (a prediction) so that, while it runs, each check made through :func:`once`
    runs once per object: the roles of a variable and the check of a time coordinate, which
    the emulator, its baseline and the memory check would otherwise each repeat on the same
    Dataset. Nested calls share the outer call's record; it is dropped when the outer call
    returns (the objects are never compared by value, only by identity while they are alive)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _ONCE.get() is not None:
            return fn(*args, **kwargs)
        token = _ONCE.set({})
        try:
            return fn(*args, **kwargs)
        finally:
            _ONCE.reset(token)

    return wrapper


def once(kind: str, objects: tuple, compute):
    """``compute()``, or within :func:`checking_once` what it returned before for the same
    ``kind`` and the same ``objects`` (by identity; they are kept alive with the answer). An
    error is never remembered: the next call raises it again."""
    memo = _ONCE.get()
    if memo is None:
        return compute()
    key = (kind, *map(id, objects))
    if key not in memo:
        memo[key] = (compute(), objects)
    return memo[key][0]
