"""Files xemu writes: atomic writes that never replace what xemu did not write.

* :func:`atomic_path` gives a temporary name beside the destination; the destination is
  replaced by one rename only when the write finished, so a reader never sees half a file.
* :func:`write_netcdf` writes a Dataset that way and refuses to replace an existing file
  unless ``overwrite=True`` (:class:`~xemu.PathError` otherwise): no user file is lost. It
  compresses floating-point variables by default (zlib level 4 with shuffle, lossless).
* :func:`write_zarr` writes a Zarr store the same way (a folder; needs ``xemu[zarr]``).

Saving xemu's own files (an emulator folder, a baseline file) builds on these, in
:mod:`xemu.io.saving`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError, DataError, PathError
from .common import name_list, quote

__all__ = [
    "atomic_path",
    "write_netcdf",
    "write_zarr",
    "is_zarr_store",
    "NETCDF_COMPRESSION",
    "check_writable",
    "sibling_path",
    "flush_to_disk",
    "overwrite_hint",
]


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


def sibling_path(path: Path, tag: str) -> Path:
    """A fresh name beside ``path``: ``.NAME.TAG-PID-RANDOM`` (nothing exists there)."""
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path`` (one step).

    On an error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_path(path, "tmp")
    try:
        yield tmp
        flush_to_disk(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink()


def flush_to_disk(path: Path) -> None:
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
        The netCDF file written, ``path``.

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
        raise ConfigError(f"encoding: variables {name_list(map(str, unknown))} are not in the Dataset; it has "
                          f"{name_list(map(str, ds.variables))}")
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
    """Raise :class:`~xemu.DataError` unless ``ds`` is a Dataset (``who`` names the writer)."""
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
        The store written, ``path``.

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
    replace = _zarr_target(path, overwrite=overwrite, argument=argument)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_path(path, "tmp")
    try:
        with warnings.catch_warnings():  # zarr 3's note on consolidated metadata (xarray's default) is not ours
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            ds.to_zarr(tmp, mode="w-")
        if replace:
            old = sibling_path(path, "old")
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


def _zarr_target(path: Path, *, overwrite: bool, argument: str) -> bool:
    """Whether writing a Zarr store at ``path`` replaces one; :class:`~xemu.PathError` when it may not be written."""
    hint = overwrite_hint(argument)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise PathError(f"{argument}: {quote(path)} exists and is not a folder; a Zarr store is a folder, and "
                        f"xemu never replaces a file with a folder; choose another path")
    if not (path.is_dir() and any(path.iterdir())):
        return False
    if not is_zarr_store(path):
        raise PathError(f"{argument}: {quote(path)} is a folder that is not a Zarr store (it holds "
                        f"{name_list(sorted(os.listdir(path)))}); xemu will not replace it (even with {hint}); "
                        f"choose another path")
    if not overwrite:
        raise PathError(f"{argument}: {quote(path)} holds a Zarr store; pass {hint} to replace it")
    return True


def overwrite_hint(argument: str) -> str:
    """How the caller asks for a replacement: ``--overwrite`` on the command line, else ``overwrite=True``."""
    return "--overwrite" if argument.startswith("--") else "overwrite=True"
