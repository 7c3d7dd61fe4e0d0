"""Saving xemu's own files, atomically, replacing nothing xemu did not write.

* :func:`save_baseline_file` writes a baseline's netCDF file; an existing path is replaced
  only when it is an xemu baseline file and ``overwrite=True``; a folder never.
* :func:`save_emulator_folder` writes an emulator folder: everything goes into a temporary
  sibling folder, ``emulator.json`` last (it marks a complete save), then renames swap it
  in. An existing emulator is replaced only with ``overwrite=True`` and only when the folder
  holds nothing but the files xemu writes there (:data:`EMULATOR_FILES`); of the previous
  folder xemu removes those files and then the folder if it is empty, nothing else.
* :func:`recover_interrupted_save` finishes a save interrupted between its two renames
  (:func:`~xemu.io.read_emulator_folder` calls it for a missing folder).
* :func:`check_baseline_target` and :func:`check_emulator_target` say whether a path may
  be written (the command line asks before it computes anything).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import DataError, PathError, warn
from .baseline_format import check_baseline_params, is_xemu_baseline_file
from .common import MARKER, name_list, quote
from .emulator_format import is_xemu_emulator_folder
from .files import atomic_path, flush_to_disk, overwrite_hint, sibling_path

__all__ = [
    "save_baseline_file",
    "save_emulator_folder",
    "recover_interrupted_save",
    "check_baseline_target",
    "check_emulator_target",
    "EMULATOR_FILES",
]

#: The files xemu writes in an emulator folder; ``emulator.json`` is written last.
EMULATOR_FILES = ("emulator.json", "weights.pt", "baseline.nc", "variability.nc")


def _check_parent_folders(path: Path, *, argument: str = "path", what: str = "a baseline") -> None:
    """Raise :class:`~xemu.PathError` when a parent of ``path`` is a file (no folder can be made under it)."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise PathError(f"{argument}: {quote(path)} lies under {quote(parent)}, which is a file, not a "
                                f"folder; xemu cannot save {what} there (it makes missing folders but never "
                                f"replaces a file); expected a path whose parents are folders: choose another path")
            return


# -- a baseline file ----------------------------------------------------------------------------
def save_baseline_file(params, path: str | os.PathLike, *, overwrite: bool = False, argument: str = "path") -> Path:
    """Write a baseline's parameters to the netCDF file ``path``, atomically.

    Parameters
    ----------
    params : xarray.Dataset
        The baseline's parameters (checked with :func:`~xemu.io.read_baseline_file`'s rules first).
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
    path = check_baseline_target(path, overwrite=overwrite, argument=argument)
    check_baseline_params(params, f"{argument}: the baseline to save")
    with atomic_path(path) as tmp:
        params.to_netcdf(tmp)
    return path


def check_baseline_target(path: str | os.PathLike, *, overwrite: bool, argument: str = "path") -> Path:
    """Raise :class:`~xemu.PathError` unless a baseline may be saved at ``path``.

    Absent, or an xemu baseline file with ``overwrite``; a folder or any other file never.
    """
    path = Path(path)
    hint = overwrite_hint(argument)
    _check_parent_folders(path, argument=argument, what="a baseline")
    if path.is_dir():
        raise PathError(f"{argument}: {quote(path)} is a folder; a baseline is one netCDF file, and xemu never "
                        f"replaces a folder with a file; choose the path of a file")
    if path.exists() or path.is_symlink():
        if not is_xemu_baseline_file(path):
            raise PathError(f"{argument}: {quote(path)} exists and is not an xemu baseline file; xemu will not "
                            f"replace it (even with {hint}); choose another path")
        if not overwrite:
            raise PathError(f"{argument}: {quote(path)} holds an xemu baseline; pass {hint} to replace it")
    return path


# -- an emulator folder -------------------------------------------------------------------------
def check_emulator_target(path: str | os.PathLike, *, overwrite: bool, argument: str = "path") -> str:
    """What is at ``path``: ``"absent"``, ``"empty"`` or ``"emulator"`` (replaceable); else :class:`~xemu.PathError`.

    An emulator may be saved where nothing is, in an empty folder, or (with ``overwrite``)
    over an xemu emulator folder that holds only the files xemu writes there.
    """
    path = Path(path)
    hint = overwrite_hint(argument)
    if path.is_symlink():
        raise PathError(f"{argument}: {quote(path)} is a symbolic link; xemu does not replace links; save to "
                        f"the folder it points to ({quote(os.path.realpath(path))}) or choose another path")
    if not path.exists():
        _check_parent_folders(path, argument=argument, what="an emulator")
        return "absent"
    if not path.is_dir():
        raise PathError(f"{argument}: {quote(path)} exists and is a file, not an xemu emulator folder; an emulator "
                        f"is saved as a folder, and xemu never replaces a file with a folder; choose another path")
    entries = sorted(os.listdir(path))
    if not entries:
        return "empty"
    if not is_xemu_emulator_folder(path):
        raise PathError(f"{argument}: {quote(path)} exists and is not an xemu emulator (it holds "
                        f"{name_list(entries)}); xemu will not replace it (even with {hint}); choose another path")
    foreign = [e for e in entries if e not in EMULATOR_FILES or (path / e).is_dir()]
    if foreign:
        raise PathError(f"{argument}: {quote(path)} holds an xemu emulator and also {name_list(foreign)}, which "
                        f"xemu did not write; xemu will not replace it (even with {hint}); move those "
                        f"away or choose another path")
    if not overwrite:
        raise PathError(f"{argument}: {quote(path)} holds an xemu emulator; pass {hint} to replace it")
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
        warn(f"path: the previous emulator's folder, moved to {quote(folder)}, still holds {name_list(left)}, "
             f"which xemu did not write; xemu left it there")


def _new_sibling_folder(path: Path) -> Path:
    """Create and return a fresh temporary folder ``.NAME.tmp-*`` beside ``path``."""
    while True:
        tmp = sibling_path(path, "tmp")
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:  # pragma: no cover - a random name taken
            continue


def _write_complete(folder: Path, write_files: Callable[[Path], None], meta_text: str) -> None:
    """Write every file into ``folder``, ``emulator.json`` last (the mark of a complete save), and flush them."""
    write_files(folder)
    with atomic_path(folder / MARKER) as marker:
        marker.write_text(meta_text)
    for f in folder.iterdir():
        flush_to_disk(f)
    flush_to_disk(folder)


def _move_in(tmp: Path, path: Path, state: str) -> None:
    """Rename the new folder ``tmp`` to ``path``, where nothing (``state`` ``"absent"``) or an empty folder is."""
    try:
        if state == "empty":
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    flush_to_disk(path.parent)


def _swap_in(tmp: Path, path: Path) -> Path:
    """Rename the emulator at ``path`` aside to ``.NAME.old-*``, then ``tmp`` to ``path``; return the old folder.

    When the second rename fails the first is undone; when that fails too, both folders stay
    and the error says so (:func:`recover_interrupted_save` finishes the save).
    """
    old = sibling_path(path, "old")
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
                         f"{quote(tmp)} and the previous one is in {quote(old)}; xemu.load({quote(path)}) "
                         f"finishes the save")
            raise err from None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    flush_to_disk(path.parent)
    return old


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
    check_emulator_target(path, overwrite=overwrite, argument=argument)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_sibling_folder(path)
    try:
        _write_complete(tmp, write_files, meta_text)
        state = check_emulator_target(path, overwrite=overwrite, argument=argument)  # again: it may have changed meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the folder this call made
        raise
    if state != "emulator":
        _move_in(tmp, path, state)
    else:
        _remove_xemu_files(_swap_in(tmp, path))
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
    also = (f"; an unfinished save left {name_list(map(quote, partial))} (without emulator.json): remove it "
            f"unless a save is running" if partial else "")
    if len(complete) == 1:
        try:
            os.rename(complete[0], path)
        except FileNotFoundError:  # another process finished it first
            if not path.is_dir():
                raise
        kept = (f"; the emulator it replaced is kept in {name_list(map(quote, olds))}: remove it when no longer "
                f"needed" if olds else "")
        warn(f"{argument}: {quote(path)} was missing because a save stopped between its two renames; xemu "
             f"finished it by renaming the complete new save {quote(complete[0])} to {quote(path)}{kept}{also}")
        return path
    if len(complete) > 1:
        raise DataError(f"{argument}: {quote(path)} does not exist, but interrupted saves left complete emulators "
                        f"in {name_list(map(quote, complete))}: rename the one you want to {quote(path)} "
                        f"(e.g. mv {complete[-1]} {path}) and remove the others")
    if olds:
        raise DataError(f"{argument}: {quote(path)} does not exist, but an interrupted save left the previous "
                        f"emulator in {name_list(map(quote, olds))}: rename it back to load it "
                        f"(mv {olds[-1]} {path}){also}")
    raise PathError(f"{argument}: {quote(path)} does not exist; expected a folder written by Emulator.save "
                    f"or a baseline's netCDF file{also}")
