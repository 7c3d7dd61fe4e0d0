"""Files xemu writes: atomic writes that never replace what xemu did not write.

Reading and checking the files (the JSON Schemas of ``emulator.json`` and of a baseline's
metadata, :func:`read_emulator_folder`, :func:`read_baseline_file`, :func:`read_checkpoint`
and the limits they keep) live in :mod:`xemu.formats`; their names are importable from here
too.

Writing
-------
* :func:`atomic_path` gives a temporary name beside the destination; the destination is
  replaced by one rename only when the write finished, so a reader never sees half a file.
* :func:`write_netcdf` writes a Dataset that way and refuses to replace an existing file
  unless ``overwrite=True`` (:class:`~xemu.PathError` otherwise): no user file is lost. It
  compresses floating-point variables by default (zlib level 4 with shuffle, lossless).
* :func:`write_zarr` writes a Zarr store the same way (a folder; needs ``xemu[zarr]``).
* :func:`save_baseline_file` writes a baseline's netCDF file; an existing path is replaced
  only when it is an xemu baseline file and ``overwrite=True``; a folder never.
* :func:`save_emulator_folder` writes an emulator folder: everything goes into a temporary
  sibling folder, ``emulator.json`` last (it marks a complete save), then renames swap it
  in. An existing emulator is replaced only with ``overwrite=True`` and only when the folder
  holds nothing but the files xemu writes there (:data:`EMULATOR_FILES`); of the previous
  folder xemu removes those files and then the folder if it is empty, nothing else.
* :func:`recover_interrupted_save` finishes a save interrupted between its two renames
  (:func:`read_emulator_folder` calls it for a missing folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ConfigError, DataError, PathError, warn
from .formats import (
    _BASELINE_KINDS,
    _MARKER,
    BASELINE_META_SCHEMA,
    CHECKPOINT_KEYS,
    EMULATOR_FORMAT,
    EMULATOR_SCHEMA,
    GRID_SCHEMA,
    MAX_JSON_BYTES,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MODEL_SCHEMA,
    _check_baseline_params,
    _names,
    _q,
    check_baseline_matches,
    check_emulator_meta,
    check_state_dict,
    read_baseline_file,
    read_checkpoint,
    read_emulator_folder,
)

__all__ = [
    "atomic_path",
    "write_netcdf",
    "write_zarr",
    "is_zarr_store",
    "NETCDF_COMPRESSION",
    "check_writable",
    "save_baseline_file",
    "save_emulator_folder",
    "recover_interrupted_save",
    "is_xemu_baseline_file",
    "is_xemu_emulator_folder",
    "check_baseline_target",
    "check_emulator_target",
    "EMULATOR_FILES",
    # reading, from xemu.formats
    "read_emulator_folder",
    "read_baseline_file",
    "read_checkpoint",
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

#: The files xemu writes in an emulator folder; ``emulator.json`` is written last.
EMULATOR_FILES = ("emulator.json", "weights.pt", "baseline.nc", "variability.nc")


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


#: The compression :func:`write_netcdf` gives every floating-point variable by default: zlib
#: (deflate) level 4 after the byte shuffle filter, lossless. Level 4 is nearly as small as 9
#: on climate fields and several times faster to write.
NETCDF_COMPRESSION = {"zlib": True, "complevel": 4, "shuffle": True}

# encoding keys that conflict with NETCDF_COMPRESSION (another filter, or no chunking)
_OTHER_COMPRESSION = ("compression", "contiguous", "szip", "zstd", "bzip2", "blosc", "szip_coding",
                      "szip_pixels_per_block", "blosc_shuffle")


def write_netcdf(ds, path: str | os.PathLike, *, overwrite: bool = False, argument: str = "path",
                 encoding: dict | None = None, compress: bool = True) -> Path:
    """Write ``ds`` to the netCDF file ``path`` atomically; an existing file only with ``overwrite``.

    Parameters
    ----------
    ds : xarray.Dataset
        What to write.
    path : path
        The netCDF file. It is written beside its final name and renamed into place, so a
        reader never sees half a file; a missing parent folder is created.
    overwrite : bool
        Replace an existing file (a folder is never replaced).
    argument : str
        How errors name ``path`` (``"--out"`` on the command line).
    encoding : dict, optional
        Per-variable encodings, as for :meth:`xarray.Dataset.to_netcdf`. A variable named
        here is written exactly as given (no compression is added to it).
    compress : bool
        Compress every other floating-point variable (data variables and coordinates) with
        :data:`NETCDF_COMPRESSION` (zlib level 4, shuffle; lossless): a variable's own
        encoding (dtype, packing, fill value, chunks, time units) is kept, only its
        compression settings are replaced. ``False`` writes the variables' encodings as
        they are.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    PathError
        ``path`` is a folder, or exists and ``overwrite`` is false.
    ConfigError
        ``encoding`` is not a dict, or names variables that ``ds`` does not have.

    Examples
    --------
    >>> import xemu
    >>> from xemu.io import write_netcdf
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6)
    >>> write_netcdf(ds, "climate.nc")  # doctest: +SKIP
    >>> write_netcdf(ds, "climate.nc", overwrite=True, compress=False)  # doctest: +SKIP
    """
    _check_dataset(ds, "write_netcdf")
    path = check_writable(path, overwrite=overwrite, argument=argument)
    if encoding is not None and not isinstance(encoding, dict):
        raise ConfigError(f"encoding: expected a dict of per-variable encodings or None; got {type(encoding).__name__}")
    encoding = dict(encoding or {})
    unknown = [k for k in encoding if k not in ds.variables]
    if unknown:
        raise ConfigError(f"encoding: variables {_names(map(str, unknown))} are not in the Dataset; it has "
                          f"{_names(map(str, ds.variables))}")
    if compress:
        ds = ds.copy(deep=False)  # new variables sharing the data: the caller's encodings stay as they are
        for name, var in ds.variables.items():
            if name in encoding or var.dtype.kind != "f":
                continue
            own = {k: v for k, v in var.encoding.items() if k not in _OTHER_COMPRESSION}
            var.encoding = {**own, **NETCDF_COMPRESSION}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, encoding=encoding or None)
    return path


def _check_dataset(ds, who: str) -> None:
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise DataError(f"ds: {who} expected an xarray.Dataset; got {type(ds).__module__}.{type(ds).__name__}"
                        + (" (use da.to_dataset())" if isinstance(ds, xr.DataArray) else ""))


_ZARR_MARKERS = (".zgroup", ".zarray", ".zmetadata", "zarr.json")


def is_zarr_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a Zarr store (version 2 or 3 metadata at its top)."""
    path = Path(path)
    return path.is_dir() and any((path / m).is_file() for m in _ZARR_MARKERS)


def write_zarr(ds, path: str | os.PathLike, *, overwrite: bool = False, argument: str = "path") -> Path:
    """Write ``ds`` to the Zarr store ``path`` (a folder), atomically.

    Needs the optional dependency zarr (``pip install "xemu[zarr]"``). The store is written
    with zarr's default compressor (what :meth:`xarray.Dataset.to_zarr` gives: Zstandard for
    Zarr format 3, Blosc-LZ4 for format 2; lossless), which suits climate fields well; the
    variables' own encodings are kept. Everything goes into a temporary sibling folder that
    is renamed to ``path`` when complete; a store being replaced is first renamed aside and
    removed only after the new one is in place.

    Parameters
    ----------
    ds : xarray.Dataset
        What to write.
    path : path
        The store's folder; absent, an empty folder, or (with ``overwrite``) a Zarr store.
    overwrite : bool
        Replace an existing Zarr store. A file, or a folder that is not a Zarr store, is
        refused even then.
    argument : str
        How errors name ``path``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ImportError
        zarr is not installed (the message names the ``zarr`` extra).
    PathError
        ``path`` is a file, a folder that is not a Zarr store, or a store without
        ``overwrite``.

    Examples
    --------
    >>> from xemu.io import write_zarr
    >>> write_zarr(pred, "ssp245.zarr")  # doctest: +SKIP
    """
    _check_dataset(ds, "write_zarr")
    try:
        import zarr  # noqa: F401
    except ImportError as err:
        raise ImportError("write_zarr: needs the optional dependency zarr, which is not installed; install "
                          "it with pip install \"xemu[zarr]\" (or pip install \"zarr>=2.18\")") from err
    path = Path(path)
    hint = _overwrite_hint(argument)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise PathError(f"{argument}: {_q(path)} exists and is not a folder; a Zarr store is a folder, and "
                        f"xemu never replaces a file with a folder; choose another path")
    replace = False
    if path.is_dir() and any(path.iterdir()):
        if not is_zarr_store(path):
            raise PathError(f"{argument}: {_q(path)} is a folder that is not a Zarr store (it holds "
                            f"{_names(sorted(os.listdir(path)))}); xemu will not replace it (even with {hint}); "
                            f"choose another path")
        if not overwrite:
            raise PathError(f"{argument}: {_q(path)} holds a Zarr store; pass {hint} to replace it")
        replace = True
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        with warnings.catch_warnings():  # zarr 3's note on consolidated metadata (xarray's default) is not ours
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            ds.to_zarr(tmp, mode="w-")
        if replace:
            old = _sibling(path, "old")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            if path.is_dir():
                path.rmdir()  # an empty folder: nothing is lost
            os.replace(tmp, path)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
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
    path = check_baseline_target(path, overwrite=overwrite, argument=argument)
    _check_baseline_params(params, f"{argument}: the baseline to save")
    with atomic_path(path) as tmp:
        params.to_netcdf(tmp)
    return path


def _overwrite_hint(argument: str) -> str:
    """How the caller asks for a replacement: ``--overwrite`` on the command line, else ``overwrite=True``."""
    return "--overwrite" if argument.startswith("--") else "overwrite=True"


def check_baseline_target(path: str | os.PathLike, *, overwrite: bool, argument: str = "path") -> Path:
    """Raise :class:`~xemu.PathError` unless a baseline may be saved at ``path``.

    Absent, or an xemu baseline file with ``overwrite``; a folder or any other file never.
    """
    path = Path(path)
    hint = _overwrite_hint(argument)
    if path.is_dir():
        raise PathError(f"{argument}: {_q(path)} is a folder; a baseline is one netCDF file, and xemu never "
                        f"replaces a folder with a file; choose the path of a file")
    if path.exists() or path.is_symlink():
        if not is_xemu_baseline_file(path):
            raise PathError(f"{argument}: {_q(path)} exists and is not an xemu baseline file; xemu will not "
                            f"replace it (even with {hint}); choose another path")
        if not overwrite:
            raise PathError(f"{argument}: {_q(path)} holds an xemu baseline; pass {hint} to replace it")
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


def check_emulator_target(path: str | os.PathLike, *, overwrite: bool, argument: str = "path") -> str:
    """What is at ``path``: ``"absent"``, ``"empty"`` or ``"emulator"`` (replaceable); else :class:`~xemu.PathError`.

    An emulator may be saved where nothing is, in an empty folder, or (with ``overwrite``)
    over an xemu emulator folder that holds only the files xemu writes there.
    """
    path = Path(path)
    hint = _overwrite_hint(argument)
    if path.is_symlink():
        raise PathError(f"{argument}: {_q(path)} is a symbolic link; xemu does not replace links; save to "
                        f"the folder it points to ({_q(os.path.realpath(path))}) or choose another path")
    if not path.exists():
        return "absent"
    if not path.is_dir():
        raise PathError(f"{argument}: {_q(path)} exists and is a file, not an xemu emulator folder; an emulator "
                        f"is saved as a folder, and xemu never replaces a file with a folder; choose another path")
    entries = sorted(os.listdir(path))
    if not entries:
        return "empty"
    if not is_xemu_emulator_folder(path):
        raise PathError(f"{argument}: {_q(path)} exists and is not an xemu emulator (it holds {_names(entries)}); "
                        f"xemu will not replace it (even with {hint}); choose another path")
    foreign = [e for e in entries if e not in EMULATOR_FILES or (path / e).is_dir()]
    if foreign:
        raise PathError(f"{argument}: {_q(path)} holds an xemu emulator and also {_names(foreign)}, which xemu "
                        f"did not write; xemu will not replace it (even with {hint}); move those "
                        f"away or choose another path")
    if not overwrite:
        raise PathError(f"{argument}: {_q(path)} holds an xemu emulator; pass {hint} to replace it")
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
    check_emulator_target(path, overwrite=overwrite, argument=argument)
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
        state = check_emulator_target(path, overwrite=overwrite, argument=argument)  # again: it may have changed meanwhile
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

