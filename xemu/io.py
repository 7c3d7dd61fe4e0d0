"""Files xemu writes and reads: atomic writes that never replace what xemu did not write, and
reads that check everything before anything is built.

Writing
-------
* :func:`atomic_path` gives a temporary name beside the destination; the destination is
  replaced by one rename only when the write finished, so a reader never sees half a file.
* :func:`write_netcdf` writes a Dataset that way and refuses to replace an existing file
  unless ``overwrite=True`` (:class:`~xemu.PathError` otherwise): no user file is lost.
* :func:`save_baseline_file` writes a baseline's netCDF file; an existing path is replaced
  only when it is an xemu baseline file and ``overwrite=True``; a folder never.
* :func:`save_emulator_folder` writes an emulator folder: everything goes into a temporary
  sibling folder, ``emulator.json`` last (it marks a complete save), then renames swap it
  in. An existing emulator is replaced only with ``overwrite=True`` and only when the folder
  holds nothing but the files xemu writes there (:data:`EMULATOR_FILES`); of the previous
  folder xemu removes those files and then the folder if it is empty, nothing else.

Reading
-------
* :func:`read_emulator_folder` checks ``emulator.json`` against :data:`EMULATOR_SCHEMA`
  (and ``model`` against :data:`MODEL_SCHEMA` and :class:`~xemu.nn.model.ModelConfig`),
  sizes the network on torch's meta device (no memory), refuses more than
  :data:`MAX_PARAMETERS` parameters, loads ``weights.pt`` with ``weights_only=True`` and
  compares every tensor with the configuration before the network is built.
* :func:`read_baseline_file` checks a baseline's netCDF file (variables of its kind and
  targets, 12 months, finite values, positive ``input_std``, readable ``xemu_meta``).
* :func:`read_checkpoint` checks a training checkpoint before ``train`` resumes from it.
* :func:`recover_interrupted_save` finishes a save interrupted between its two renames.

Every failure to read is a :class:`~xemu.DataError` naming the file (or a
:class:`~xemu.PathError` for a missing path or one of the wrong kind).

The schema vocabulary
---------------------
:data:`EMULATOR_SCHEMA` maps each key of ``emulator.json`` to a :class:`Key`: a type spec
and whether the key is required. Type specs are :class:`Str`, :class:`Int`, :class:`Num`,
:class:`Bool`, :class:`OneOf`, :class:`Nullable`, :class:`ListOf`, :class:`MapOf`,
:class:`Record` and :data:`ANY`. To add an optional key to the metadata that ``fit`` writes,
add one line, e.g. ``"input_ranges": Key(MapOf(ANY), required=False)``. A list's length can
name a size of the network (``ListOf(Num(), size="in_channels")``), checked against
``model``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .encoding import ENCODINGS
from .errors import DataError, PathError, warn

__all__ = [
    "atomic_path",
    "write_netcdf",
    "check_writable",
    "save_baseline_file",
    "save_emulator_folder",
    "recover_interrupted_save",
    "read_emulator_folder",
    "read_baseline_file",
    "read_checkpoint",
    "check_emulator_meta",
    "check_state_dict",
    "check_baseline_matches",
    "is_xemu_baseline_file",
    "is_xemu_emulator_folder",
    "EMULATOR_FORMAT",
    "EMULATOR_FILES",
    "EMULATOR_SCHEMA",
    "MODEL_SCHEMA",
    "BASELINE_META_SCHEMA",
    "CHECKPOINT_KEYS",
    "MAX_PARAMETERS",
    "MAX_LAYERS",
    "MAX_JSON_BYTES",
    "Key",
    "Str",
    "Int",
    "Num",
    "Bool",
    "OneOf",
    "Nullable",
    "ListOf",
    "MapOf",
    "Record",
    "ANY",
]

#: The ``format`` string of ``emulator.json`` this xemu writes and reads.
EMULATOR_FORMAT = "xemu-emulator/1"
#: The files xemu writes in an emulator folder; ``emulator.json`` is written last.
EMULATOR_FILES = ("emulator.json", "weights.pt", "baseline.nc")
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


# -- writing ----------------------------------------------------------------------------
def check_writable(path: str | os.PathLike, *, overwrite: bool, argument: str = "path", kind: str = "file") -> Path:
    """Raise :class:`~xemu.PathError` when ``path`` exists and may not be replaced.

    A folder is never replaced by a file (nor the other way round), whatever ``overwrite`` says.
    """
    path = Path(path)
    if path.is_dir() and kind == "file":
        raise PathError(f"{argument}: {str(path)!r} is a folder; expected the path of a {kind} to write")
    if path.exists() and not overwrite:
        raise PathError(
            f"{argument}: {str(path)!r} exists; xemu replaces nothing unless asked "
            f"(overwrite=True, or --overwrite on the command line)"
        )
    return path


def _sibling(path: Path, tag: str) -> Path:
    """A fresh name beside ``path``: ``.NAME.TAG-PID-RANDOM`` (nothing exists there)."""
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path`` (one step).

    On an error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink()


def _fsync(path: Path) -> None:
    """Flush ``path`` to disk where the system allows it (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_netcdf(ds, path: str | os.PathLike, *, overwrite: bool = False, argument: str = "path") -> Path:
    """Write ``ds`` to the netCDF file ``path`` atomically; an existing file only with ``overwrite``."""
    path = check_writable(path, overwrite=overwrite, argument=argument)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)
    return path


def is_xemu_baseline_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a netCDF file with an xemu baseline's ``xemu_kind`` attribute."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        return False
    try:
        with xr.open_dataset(path) as f:
            return f.attrs.get("xemu_kind") in _BASELINE_KINDS
    except Exception:  # not netCDF, unreadable: not ours
        return False


def save_baseline_file(params, path: str | os.PathLike, *, overwrite: bool = False, argument: str = "path") -> Path:
    """Write a baseline's parameters to the netCDF file ``path``, atomically.

    Parameters
    ----------
    params : xarray.Dataset
        The baseline's parameters (checked with :func:`read_baseline_file`'s rules first).
    path : path
        The file to write. A missing path is created (with its parent folders).
    overwrite : bool
        Replace an existing xemu baseline file. Any other existing file, and any folder,
        is refused whatever ``overwrite`` says.

    Raises
    ------
    PathError
        ``path`` is a folder, a file that is not an xemu baseline, or an xemu baseline
        without ``overwrite=True``.
    """
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{argument}: {_q(path)} is a folder; a baseline is one netCDF file, and xemu never "
                        f"replaces a folder with a file; choose the path of a file")
    if path.exists() or path.is_symlink():
        if not is_xemu_baseline_file(path):
            raise PathError(f"{argument}: {_q(path)} exists and is not an xemu baseline file; xemu will not "
                            f"replace it (even with overwrite=True); choose another path")
        if not overwrite:
            raise PathError(f"{argument}: {_q(path)} holds an xemu baseline; pass overwrite=True to replace it")
    _check_baseline_params(params, f"{argument}: the baseline to save")
    with atomic_path(path) as tmp:
        params.to_netcdf(tmp)
    return path


def is_xemu_emulator_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder whose ``emulator.json`` says it is an xemu emulator (any version)."""
    marker = Path(path) / _MARKER
    try:
        if not marker.is_file() or marker.stat().st_size > MAX_JSON_BYTES:
            return False
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and str(meta.get("format", "")).startswith("xemu-emulator/")


def _folder_target(path: Path, overwrite: bool, argument: str) -> str:
    """What is at ``path``: ``"absent"``, ``"empty"`` or ``"emulator"`` (replaceable); else PathError."""
    if path.is_symlink():
        raise PathError(f"{argument}: {_q(path)} is a symbolic link; xemu does not replace links; save to "
                        f"the folder it points to ({_q(os.path.realpath(path))}) or choose another path")
    if not path.exists():
        return "absent"
    if not path.is_dir():
        raise PathError(f"{argument}: {_q(path)} exists and is a file, not an xemu emulator folder; xemu never "
                        f"replaces a file with a folder; choose another path")
    entries = sorted(os.listdir(path))
    if not entries:
        return "empty"
    if not is_xemu_emulator_folder(path):
        raise PathError(f"{argument}: {_q(path)} exists and is not an xemu emulator (it holds {_names(entries)}); "
                        f"choose another path")
    foreign = [e for e in entries if e not in EMULATOR_FILES or (path / e).is_dir()]
    if foreign:
        raise PathError(f"{argument}: {_q(path)} holds an xemu emulator and also {_names(foreign)}, which xemu "
                        f"did not write; xemu will not replace it (even with overwrite=True); move those "
                        f"away or choose another path")
    if not overwrite:
        raise PathError(f"{argument}: {_q(path)} holds an xemu emulator; pass overwrite=True to replace it")
    return "emulator"


def _remove_xemu_files(folder: Path) -> None:
    """Remove the files xemu writes from ``folder``, then the folder if it is empty; nothing else."""
    for name in EMULATOR_FILES:
        f = folder / name
        if f.is_symlink() or f.is_file():
            f.unlink()
    try:
        folder.rmdir()
    except OSError:
        left = sorted(os.listdir(folder)) if folder.is_dir() else []
        warn(f"path: the previous emulator's folder, moved to {_q(folder)}, still holds {_names(left)}, which "
             f"xemu did not write; xemu left it there")


def save_emulator_folder(
    path: str | os.PathLike,
    write_files: Callable[[Path], None],
    meta_text: str,
    *,
    overwrite: bool = False,
    argument: str = "path",
) -> Path:
    """Write an emulator folder at ``path`` so that ``path`` always holds a whole emulator or nothing new.

    The files go into a temporary sibling folder ``.NAME.tmp-*``: first ``write_files(folder)``
    (``weights.pt``, ``baseline.nc``), then ``emulator.json`` (``meta_text``), last, as the
    mark of a complete save. Then, when no emulator was there, one rename puts the folder in
    place; when one was, two renames: the previous folder to ``.NAME.old-*``, the new one to
    ``path``; of the previous folder xemu then removes the files it writes
    (:data:`EMULATOR_FILES`) and the folder when it is empty. When the second rename fails,
    the first is undone; when that fails too, both folders stay for :func:`xemu.load` to
    finish (see :func:`recover_interrupted_save`).

    Parameters
    ----------
    path : path
        The emulator folder. An empty folder counts as absent (nothing would be lost).
    write_files : callable
        ``write_files(folder)`` writes every file but ``emulator.json`` into ``folder``.
    meta_text : str
        The content of ``emulator.json``.
    overwrite : bool
        Replace an existing xemu emulator folder (one that holds only xemu's files).

    Raises
    ------
    PathError
        ``path`` is a file, a symbolic link, a folder that is not an xemu emulator, an
        emulator folder that also holds other files (even with ``overwrite=True``), or an
        emulator without ``overwrite=True``.
    """
    path = Path(path)
    _folder_target(path, overwrite, argument)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _sibling(path, "tmp")
        try:
            tmp.mkdir()
            break
        except FileExistsError:  # pragma: no cover - a random name taken
            continue
    try:
        write_files(tmp)
        with atomic_path(tmp / _MARKER) as marker:
            marker.write_text(meta_text)
        for f in tmp.iterdir():
            _fsync(f)
        _fsync(tmp)
        state = _folder_target(path, overwrite, argument)  # again: it may have changed meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the folder this call made
        raise
    if state != "emulator":
        try:
            if state == "empty":
                path.rmdir()
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(path.parent)
        return path
    old = _sibling(path, "old")
    try:
        os.replace(path, old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.replace(old, path)  # undo the first rename: the previous emulator is back
        except BaseException:
            err.add_note(f"xemu: the save stopped between its two renames: the new emulator is complete in "
                         f"{_q(tmp)} and the previous one is in {_q(old)}; xemu.load({_q(path)}) finishes "
                         f"the save")
            raise err from None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync(path.parent)
    _remove_xemu_files(old)
    return path


def recover_interrupted_save(path: str | os.PathLike, *, argument: str = "path") -> Path:
    """Finish a save of the emulator folder ``path`` that stopped between its two renames.

    Called when ``path`` does not exist. The rule: when exactly one complete new save (a
    ``.NAME.tmp-*`` folder holding an xemu ``emulator.json``, which is written last) lies
    beside ``path``, it is renamed to ``path`` with a warning that names the previous
    emulator's folder (``.NAME.old-*``) if one was left; xemu removes nothing. Otherwise
    an error says what was found and what to do.

    Returns
    -------
    pathlib.Path
        ``path``, now holding the recovered emulator.

    Raises
    ------
    PathError
        Nothing is at ``path`` and nothing complete was left beside it.
    DataError
        Leftovers need a choice: several complete saves, or only the previous emulator.
    """
    import glob

    path = Path(path)
    pattern = glob.escape(f".{path.name}.")
    tmps = sorted(p for p in path.parent.glob(pattern + "tmp-*") if p.is_dir() and not p.is_symlink())
    olds = sorted(p for p in path.parent.glob(pattern + "old-*")
                  if p.is_dir() and not p.is_symlink() and is_xemu_emulator_folder(p))
    complete = [p for p in tmps if is_xemu_emulator_folder(p)]
    partial = [p for p in tmps if p not in complete]
    also = (f"; an unfinished save left {_names(map(_q, partial))} (without emulator.json): remove it "
            f"unless a save is running" if partial else "")
    if len(complete) == 1:
        try:
            os.rename(complete[0], path)
        except FileNotFoundError:  # another process finished it first
            if not path.is_dir():
                raise
        kept = (f"; the emulator it replaced is kept in {_names(map(_q, olds))}: remove it when no longer needed"
                if olds else "")
        warn(f"{argument}: {_q(path)} was missing because a save stopped between its two renames; xemu "
             f"finished it by renaming the complete new save {_q(complete[0])} to {_q(path)}{kept}{also}")
        return path
    if len(complete) > 1:
        raise DataError(f"{argument}: {_q(path)} does not exist, but interrupted saves left complete emulators "
                        f"in {_names(map(_q, complete))}: rename the one you want to {_q(path)} "
                        f"(e.g. mv {complete[-1]} {path}) and remove the others")
    if olds:
        raise DataError(f"{argument}: {_q(path)} does not exist, but an interrupted save left the previous "
                        f"emulator in {_names(map(_q, olds))}: rename it back to load it "
                        f"(mv {olds[-1]} {path}){also}")
    raise PathError(f"{argument}: {_q(path)} does not exist; expected a folder written by Emulator.save "
                    f"or a baseline's netCDF file{also}")


# -- the schema vocabulary ----------------------------------------------------------------
class Spec:
    """A JSON value's expected type. ``text`` says what is expected; ``problem`` what came instead.

    ``sizes`` maps the network's sizes (``in_channels``, ``n_targets``, ``height``,
    ``width``) to their values when ``model`` is valid; lengths are not checked otherwise.
    """

    def text(self, sizes: Mapping[str, int]) -> str:
        raise NotImplementedError

    def plural(self, sizes: Mapping[str, int]) -> str:
        """How ``text`` reads in ``a list of ...``."""
        return f"items that are each {self.text(sizes)}"

    def problem(self, value, sizes: Mapping[str, int]) -> str | None:
        """``None`` when ``value`` fits, else a description of what came."""
        raise NotImplementedError


def _got(value) -> str:
    if value is None:
        return "null"
    name = _type_name(value)
    return f"{_short(value)} ({'an' if name[0] in 'aeiou' else 'a'} {name})"


class _Any(Spec):
    def text(self, sizes):
        return "any JSON value"

    def plural(self, sizes):
        return "JSON values"

    def problem(self, value, sizes):
        return None


#: Any JSON value.
ANY = _Any()


class Str(Spec):
    """A string."""

    def text(self, sizes):
        return "a string"

    def plural(self, sizes):
        return "strings"

    def problem(self, value, sizes):
        return None if isinstance(value, str) else _got(value)


class Bool(Spec):
    """``true`` or ``false``."""

    def text(self, sizes):
        return "true or false"

    def plural(self, sizes):
        return "booleans"

    def problem(self, value, sizes):
        return None if isinstance(value, bool) else _got(value)


@dataclass(frozen=True)
class Int(Spec):
    """An integer (not a boolean) in ``[min, max]``."""

    min: int | None = None
    max: int | None = None

    def _range(self) -> str:
        if self.min is not None and self.max is not None:
            return f" from {self.min} to {self.max}"
        if self.min is not None:
            return f" >= {self.min}"
        return f" <= {self.max}" if self.max is not None else ""

    def text(self, sizes):
        return "an integer" + self._range()

    def plural(self, sizes):
        return "integers" + self._range()

    def problem(self, value, sizes):
        if not isinstance(value, int) or isinstance(value, bool):
            return _got(value)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return repr(value)
        return None


@dataclass(frozen=True)
class Num(Spec):
    """A finite number (int or float, not a boolean); ``positive``: > 0; ``below``: < that."""

    positive: bool = False
    min: float | None = None
    below: float | None = None

    def _words(self) -> tuple[str, str]:
        adj = "positive finite" if self.positive else "finite"
        rng = ""
        if self.min is not None and self.below is not None:
            rng = f" in [{self.min}, {self.below})"
        elif self.min is not None:
            rng = f" >= {self.min}"
        elif self.below is not None:
            rng = f" < {self.below}"
        return adj, rng

    def text(self, sizes):
        adj, rng = self._words()
        return f"a {adj} number{rng}"

    def plural(self, sizes):
        adj, rng = self._words()
        return f"{adj} numbers{rng}"

    def problem(self, value, sizes):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return _got(value)
        if not math.isfinite(value) or (self.positive and value <= 0):
            return repr(value)
        if (self.min is not None and value < self.min) or (self.below is not None and value >= self.below):
            return repr(value)
        return None


class OneOf(Spec):
    """One of the given JSON values."""

    def __init__(self, *values):
        self.values = values

    def text(self, sizes):
        shown = [json.dumps(v) if not isinstance(v, str) else repr(v) for v in self.values]
        return shown[0] if len(shown) == 1 else "one of " + ", ".join(shown)

    def plural(self, sizes):
        return "items that are each " + self.text(sizes)

    def problem(self, value, sizes):
        ok = any(value == v and type(value) is type(v) for v in self.values)
        return None if ok else _short(value)


@dataclass(frozen=True)
class Nullable(Spec):
    """``null`` or the given spec."""

    spec: Spec

    def text(self, sizes):
        return f"{self.spec.text(sizes)} or null"

    def problem(self, value, sizes):
        return None if value is None else self.spec.problem(value, sizes)


@dataclass(frozen=True)
class ListOf(Spec):
    """A list of items of ``item``; ``size`` fixes its length (an int or a name in ``sizes``);
    ``min_len`` and ``max_len`` bound it; ``unique``: no item twice."""

    item: Spec
    size: int | str | None = None
    min_len: int = 0
    max_len: int | None = None
    unique: bool = False

    def _n(self, sizes) -> int | None:
        return sizes.get(self.size) if isinstance(self.size, str) else self.size

    def text(self, sizes):
        n = self._n(sizes)
        head = "a list of"
        if n is not None:
            head += f" {n}"
        elif self.min_len and self.max_len:
            head += f" {self.min_len} to {self.max_len}"
        elif self.min_len:
            head += f" at least {self.min_len}"
        elif self.max_len:
            head += f" at most {self.max_len}"
        return f"{head} {'distinct ' if self.unique else ''}{self.item.plural(sizes)}"

    def plural(self, sizes):
        return "lists"

    def problem(self, value, sizes):
        if not isinstance(value, list):
            return _got(value)
        n = self._n(sizes)
        if (n is not None and len(value) != n) or len(value) < self.min_len or (
                self.max_len is not None and len(value) > self.max_len):
            return f"a list of {len(value)}: {_short(value)}"
        for i, v in enumerate(value):
            p = self.item.problem(v, sizes)
            if p is not None:
                return f"{_short(value)} (item {i} is {p})"
        if self.unique and len(set(map(json.dumps, value))) != len(value):
            return f"{_short(value)} (an item repeats)"
        return None


@dataclass(frozen=True)
class MapOf(Spec):
    """An object (dict) with string keys and values of ``value``; ``max_len`` bounds its size."""

    value: Spec
    max_len: int | None = None

    def text(self, sizes):
        return "an object" if isinstance(self.value, _Any) else f"an object of {self.value.plural(sizes)}"

    def plural(self, sizes):
        return "objects"

    def problem(self, value, sizes):
        if not isinstance(value, dict):
            return _got(value)
        if self.max_len is not None and len(value) > self.max_len:
            return f"an object of {len(value)} keys"
        for k, v in value.items():
            p = self.value.problem(v, sizes)
            if p is not None:
                return f"{_short(value)} (at key {k!r}: {p})"
        return None


@dataclass(frozen=True)
class Key:
    """An entry of a schema table: the value's :class:`Spec`, and whether the key must be there."""

    spec: Spec
    required: bool = True


class Record(Spec):
    """An object with the keys of a schema table (``{name: Key}``); ``open``: other keys allowed."""

    def __init__(self, schema: Mapping[str, Key], open: bool = False):
        self.schema = schema
        self.open = open

    def text(self, sizes):
        return "an object with keys " + ", ".join(repr(k) for k in self.schema)

    def plural(self, sizes):
        return "objects"

    def problem(self, value, sizes):
        if not isinstance(value, dict):
            return _got(value)
        problems = _check_table(value, self.schema, sizes, open=self.open)
        return "an object with " + "; ".join(problems) if problems else None


def _check_table(obj: Mapping, schema: Mapping[str, Key], sizes: Mapping[str, int], *, open: bool = False,
                 prefix: str = "") -> list[str]:
    """Every problem of ``obj`` against ``schema``: missing keys, unknown keys, wrong types."""
    problems = []
    missing = [k for k, key in schema.items() if key.required and k not in obj]
    if missing:
        problems.append(f"missing key{'s' if len(missing) > 1 else ''} "
                        + ", ".join(repr(prefix + k) for k in missing))
    unknown = [k for k in obj if k not in schema]
    if unknown and not open:
        problems.append(f"unknown key{'s' if len(unknown) > 1 else ''} "
                        + ", ".join(repr(prefix + str(k)) for k in unknown))
    for k, key in schema.items():
        if k in obj:
            p = key.spec.problem(obj[k], sizes)
            if p is not None:
                problems.append(f"key {prefix + k!r} expected {key.spec.text(sizes)}; got {p}")
    return problems


# -- the schema tables ----------------------------------------------------------------------
_ENCODINGS = tuple(ENCODINGS)
_ALIGNMENTS = ("position", "interp", "exact")
_NAMES = ListOf(Str(), min_len=1, unique=True)

#: The grid of an emulator (``emulator.json``'s ``grid``).
GRID_SCHEMA: dict[str, Key] = {
    "lat_dim": Key(Str()),
    "lon_dim": Key(Str()),
    "lat": Key(ListOf(Num(), size="height")),
    "lon": Key(ListOf(Num(), size="width")),
    "lat_attrs": Key(MapOf(ANY), required=False),
    "lon_attrs": Key(MapOf(ANY), required=False),
}

#: ``emulator.json``: every key, its type, and whether it is required. Unknown keys are
#: refused; add optional keys here when ``fit`` writes new ones.
EMULATOR_SCHEMA: dict[str, Key] = {
    "format": Key(OneOf(EMULATOR_FORMAT)),
    "kind": Key(OneOf("cnn-gru")),
    "xemu_version": Key(Str(), required=False),
    "inputs": Key(_NAMES),
    "targets": Key(ListOf(Str(), size="n_targets", unique=True)),
    "channels": Key(ListOf(Str(), size="in_channels", unique=True)),
    "encoding": Key(OneOf(*_ENCODINGS)),
    "window": Key(Int(1, 100_000)),
    "stride": Key(Int(1), required=False),
    "grid_alignment": Key(OneOf(*_ALIGNMENTS)),
    "baseline": Key(Nullable(OneOf(*_BASELINE_KINDS))),
    "baseline_inputs": Key(Nullable(_NAMES), required=False),
    "input_units": Key(MapOf(Str())),
    "target_units": Key(MapOf(Str())),
    "target_attrs": Key(MapOf(MapOf(ANY))),
    "grid": Key(Record(GRID_SCHEMA)),
    "input_mean": Key(ListOf(Num(), size="in_channels")),
    "input_std": Key(ListOf(Num(positive=True), size="in_channels")),
    "target_scale": Key(ListOf(Num(positive=True), size="n_targets")),
    "target_mean": Key(Nullable(ListOf(Num(), size="n_targets"))),
    "model": Key(MapOf(ANY)),  # checked field by field with MODEL_SCHEMA and ModelConfig
    "preset": Key(Str(), required=False),
    "train": Key(MapOf(ANY), required=False),
    "loss": Key(MapOf(MapOf(Num())), required=False),
    "training_selection": Key(Str()),
    "n_train_windows": Key(Int(0), required=False),
    "n_val_windows": Key(Int(0), required=False),
    "history": Key(ListOf(MapOf(ANY)), required=False),
    "best_epoch": Key(Int(-1), required=False),
    "train_seconds": Key(Num(min=0), required=False),
    "data_seconds": Key(Num(min=0), required=False),
    "device": Key(Str(), required=False),
    "notes": Key(ListOf(Str()), required=False),
    "input_ranges": Key(MapOf(ListOf(Num(), size=2)), required=False),  # {input: [min, max]} in training
    "baseline_options": Key(MapOf(ANY), required=False),  # keyword options of the baseline's fit
}

#: ``emulator.json``'s ``model``: the fields of :class:`~xemu.nn.model.ModelConfig` with their
#: types and bounds. Fields ModelConfig has and this table lacks pass unchecked to it;
#: fields ModelConfig does not have are refused.
MODEL_SCHEMA: dict[str, Key] = {
    "in_channels": Key(Int(1, 100_000)),
    "n_targets": Key(Int(1, 10_000)),
    "height": Key(Int(1, 1_000_000)),
    "width": Key(Int(1, 1_000_000)),
    "conv_widths": Key(ListOf(Int(1, 1_000_000), min_len=1, max_len=256)),
    "conv_strides": Key(ListOf(OneOf(1, 2), min_len=1, max_len=256)),
    "se_reduction": Key(Int(1), required=False),
    "hidden": Key(Int(1, 10_000_000), required=False),
    "gru_layers": Key(Int(1, 256), required=False),
    "gru_dropout": Key(Num(min=0, below=1), required=False),
    "bidirectional": Key(Bool(), required=False),
    "head_hidden": Key(Int(1, 10_000_000), required=False),
    "head_dropout": Key(Num(min=0, below=1), required=False),
    "output": Key(OneOf("all", "last"), required=False),
    "branches": Key(OneOf("shared", "per_target"), required=False),
    "zero_init_head": Key(Bool(), required=False),
    "extra": Key(MapOf(ANY), required=False),
}

#: A baseline netCDF file's ``xemu_meta`` attribute (other keys are tolerated).
BASELINE_META_SCHEMA: dict[str, Key] = {
    "kind": Key(OneOf(*_BASELINE_KINDS)),
    "inputs": Key(_NAMES),
    "targets": Key(_NAMES),
    "input_units": Key(MapOf(Str())),
    "target_units": Key(MapOf(Str())),
    "target_attrs": Key(MapOf(MapOf(ANY))),
    "input_sample_dims": Key(ListOf(Str()), required=False),
    "grid_alignment": Key(OneOf(*_ALIGNMENTS)),
    "training_selection": Key(Str()),
}

#: The entries of a training checkpoint and whether each is required.
CHECKPOINT_KEYS: dict[str, bool] = {
    "model": True, "optimizer": True, "scheduler": True, "rng": True, "history": True, "epoch": True,
    "best_epoch": True, "best_val": True, "fingerprint": True, "best_model": False, "done": False, "ema": False,
}


# -- emulator.json --------------------------------------------------------------------------
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


#: Checks across keys of ``emulator.json``, run after the per-key checks; each returns a
#: problem or None. Add to it with the schema table.
EMULATOR_CHECKS: list[Callable[[Mapping], str | None]] = [
    _channels,
    lambda m: _same_keys(m, "input_units", "inputs"),
    lambda m: _same_keys(m, "target_units", "targets"),
    lambda m: _same_keys(m, "target_attrs", "targets"),
    lambda m: ("key 'target_mean' expected a list of numbers (one per target) when 'baseline' is null; got null"
               if "baseline" in m and m.get("baseline") is None and m.get("target_mean", 0) is None else None),
]


def _check_model(model: Mapping, file: str):
    """Check ``emulator.json``'s ``model`` and return its :class:`ModelConfig`; DataError otherwise."""
    import dataclasses

    from .errors import ConfigError
    from .nn.model import ModelConfig

    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = [k for k in model if k not in known]
    problems = []
    if unknown:
        problems.append(f"key 'model' has field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))} that ModelConfig does not take")
    problems += _check_table(model, {k: v for k, v in MODEL_SCHEMA.items() if k in known}, {}, open=True,
                             prefix="model.")
    if problems:
        raise DataError(f"{file}: " + "; ".join(problems))
    try:
        cfg = ModelConfig(**model)
    except ConfigError as err:
        raise DataError(f"{file}: key 'model': {err}") from None
    except TypeError as err:  # a field ModelConfig does not take
        raise DataError(f"{file}: key 'model' is not a ModelConfig ({err})") from None
    layers = (cfg.n_targets if cfg.branches == "per_target" else 1) * (len(cfg.conv_widths) + cfg.gru_layers)
    layers += cfg.n_targets
    if layers > MAX_LAYERS:
        raise DataError(f"{file}: key 'model' describes a network of {layers} layers (branches x (conv blocks "
                        f"+ GRU layers) + heads); xemu loads at most {MAX_LAYERS}")
    return cfg


def check_emulator_meta(meta, file: str = "emulator.json"):
    """Check an emulator's metadata (``emulator.json``, with its ``format``) and return its ModelConfig.

    Checks :data:`EMULATOR_SCHEMA` (missing keys, unknown keys, types), ``model`` (with
    :data:`MODEL_SCHEMA` and :class:`~xemu.nn.model.ModelConfig`), the lengths that follow
    from the network's sizes and :data:`EMULATOR_CHECKS`. Builds nothing.

    Raises
    ------
    DataError
        Naming ``file`` and listing every problem found.
    """
    if not isinstance(meta, dict):
        raise DataError(f"{file}: expected a JSON object; got {_type_name(meta)}")
    fmt = meta.get("format")
    if "format" in meta and fmt != EMULATOR_FORMAT:
        newer = isinstance(fmt, str) and fmt.startswith("xemu-emulator/")
        raise DataError(f"{file}: format {_short(fmt)} is not one this xemu reads (expected {EMULATOR_FORMAT!r})"
                        + ("; a newer xemu wrote it" if newer else "; it is not an xemu emulator"))
    cfg = None
    sizes: dict[str, int] = {}
    problems = []
    if isinstance(meta.get("model"), dict):
        try:
            cfg = _check_model(meta["model"], file)
            sizes = {"in_channels": cfg.in_channels, "n_targets": cfg.n_targets, "height": cfg.height,
                     "width": cfg.width}
        except DataError as err:
            problems.append(str(err).removeprefix(f"{file}: "))
    problems = _check_table(meta, EMULATOR_SCHEMA, sizes) + problems
    if not problems:
        problems = [p for p in (check(meta) for check in EMULATOR_CHECKS) if p]
    if problems:
        raise DataError(f"{file}: " + ("; ".join(problems) if len(problems) == 1 else
                                       f"{len(problems)} problems: " + "; ".join(problems)))
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

    from .nn.model import CNNGRU

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
    baseline. A missing ``path`` goes to :func:`recover_interrupted_save`.

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
    problems = _check_table(meta, BASELINE_META_SCHEMA, {}, open=True)
    if problems:
        raise DataError(f"{file}: attribute xemu_meta: " + "; ".join(problems))
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
