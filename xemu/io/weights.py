"""Torch files xemu reads: an emulator's weights and training checkpoints.

Both are loaded with ``torch.load(..., weights_only=True)``, which runs no code from the file.

* :func:`check_state_dict` compares a loaded state dict tensor by tensor (names, shapes,
  dtypes, finite values) with the one a configuration needs.
* :func:`load_weights_file` loads a state dict, naming the file when it cannot.
* :func:`read_checkpoint` checks a training checkpoint (:data:`CHECKPOINT_KEYS`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import DataError, PathError
from .common import first_line, name_list, quote, shorten, type_name

__all__ = ["check_state_dict", "load_weights_file", "read_checkpoint", "CHECKPOINT_KEYS"]

#: The entries of a training checkpoint and whether each is required. ``world_size`` (the
#: number of processes that trained, 1 when absent) and ``rng_ranks`` (the random state of
#: every rank, in rank order) are those of data-parallel training (:mod:`xemu.nn.distributed`):
#: a checkpoint of a data-parallel run holds both.
CHECKPOINT_KEYS: dict[str, bool] = {
    "model": True, "optimizer": True, "scheduler": True, "rng": True, "history": True, "epoch": True,
    "best_epoch": True, "best_val": True, "fingerprint": True, "best_model": False, "done": False, "ema": False,
    "world_size": False, "rng_ranks": False,
}


def _fmt_shape(shape) -> str:
    """A tensor shape as Python writes a tuple: ``(3,)``, ``(2, 4)``."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _mismatches(state: Mapping, reference: Mapping, what: str) -> list[str]:
    """What differs between ``state`` and ``reference``: wrong shapes or dtypes, missing, unexpected names."""
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
        parts.append(f"missing {name_list(map(repr, missing), 4)}")
    if unexpected:
        parts.append(f"unexpected {name_list(map(repr, unexpected), 4)}")
    return parts


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
    what : str
        What ``reference`` describes, as the error names it.
    finite : bool
        Also refuse NaN or infinite values in floating-point tensors.

    Raises
    ------
    DataError
        Reporting the first mismatches by name.
    """
    import torch

    if not isinstance(state, dict):
        raise DataError(f"{file}: expected a dict of tensors (a torch state dict); got {type_name(state)}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise DataError(f"{file}: expected a dict of tensors (a torch state dict); entry {shorten(bad[0])} is "
                        f"{type_name(state[bad[0]])}")
    parts = _mismatches(state, reference, what)
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


def load_weights_file(file: Path, what: str):
    """``torch.load(file, weights_only=True)`` on the CPU; a :class:`~xemu.DataError` naming ``file`` (``what`` it
    should be) when it cannot be read."""
    import torch

    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{file}: not readable as {what} ({first_line(err)}); the file may be truncated "
                        f"(an interrupted copy) or not a torch file") from None


def read_checkpoint(path: str | os.PathLike, *, argument: str = "checkpoint") -> dict:
    """Load a training checkpoint with ``weights_only=True`` and check its entries.

    Raises
    ------
    PathError
        ``path`` is a folder.
    DataError
        Unreadable (truncated, a text file, not a torch file), without the entries of
        :data:`CHECKPOINT_KEYS`, or with data-parallel entries that disagree (``world_size``
        not a positive integer, ``rng_ranks`` not one random state per process); the
        message says to remove it (training then starts afresh).
    """
    path = Path(path)
    fix = "remove it (training then starts afresh) or choose another checkpoint path"
    if path.is_dir():
        raise PathError(f"{argument}: {quote(path)} is a folder; expected a checkpoint file (which need not "
                        f"exist yet)")
    try:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{argument}: {quote(path)} is not a readable xemu checkpoint ({first_line(err)}); it may "
                        f"be truncated or not a checkpoint; {fix}") from None
    if not isinstance(state, dict):
        raise DataError(f"{argument}: {quote(path)} is not an xemu checkpoint (a {type_name(state)}, expected a "
                        f"dict); {fix}")
    missing = [k for k, required in CHECKPOINT_KEYS.items() if required and k not in state]
    if missing:
        raise DataError(f"{argument}: {quote(path)} is not an xemu checkpoint (no {name_list(map(repr, missing))}); "
                        f"{fix}")
    _check_ranks(state, f"{argument}: {quote(path)}", fix)
    return state


def _check_ranks(state: dict, where: str, fix: str) -> None:
    """The data-parallel entries of a checkpoint: ``world_size`` an integer >= 1 and, when there,
    ``rng_ranks`` one random state (a tensor) per process."""
    import torch

    world = state.get("world_size", 1)
    if isinstance(world, bool) or not isinstance(world, int) or world < 1:
        raise DataError(f"{where}: entry 'world_size' (the number of processes that trained) must be an integer "
                        f">= 1; got {shorten(world)}; {fix}")
    ranks = state.get("rng_ranks")
    if ranks is None:
        if world > 1:
            raise DataError(f"{where}: written by a run of {world} processes (world_size) but holds no 'rng_ranks' "
                            f"(the random state of each process); {fix}")
        return
    if not isinstance(ranks, list | tuple) or len(ranks) != world \
            or not all(isinstance(r, torch.Tensor) for r in ranks):
        got = (f"{len(ranks)} entries" if isinstance(ranks, list | tuple) else type_name(ranks))
        raise DataError(f"{where}: entry 'rng_ranks' must be a list of {world} tensors (the random state of each "
                        f"of the world_size processes); got {got}; {fix}")
