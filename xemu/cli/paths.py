"""The command's files and folders, checked before any work: ``--data``, the emulator, ``--out``."""

from __future__ import annotations

import glob
from pathlib import Path

__all__ = ["DEMO_OUTPUTS", "DEMO_MARK", "is_netcdf", "check_netcdf", "check_exists", "open_data", "find_store",
           "load_emulator", "check_out", "written_by_demo", "demo_outputs"]

#: What the demo writes into its output folder.
DEMO_OUTPUTS = ("predictions.nc", "scores.nc", "demo.xemu")
#: The ``xemu_written_by`` attribute of the demo's netCDF files (a rerun may replace them).
DEMO_MARK = "xemu demo"

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_netcdf(path: Path) -> bool:
    """Whether ``path`` starts like a netCDF file (classic, 64-bit, CDF5 or netCDF-4/HDF5)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
            return True
        offset = 0
        while offset + 8 <= size and offset <= 1 << 20:  # the HDF5 superblock: 0, 512, 1024, ...
            f.seek(offset)
            if f.read(8) == _HDF5_MAGIC:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def check_netcdf(path: Path, option: str) -> None:
    """Raise :class:`~xemu.DataError` naming ``option`` unless ``path`` is a netCDF file."""
    from xemu.errors import DataError

    if not is_netcdf(path):
        raise DataError(f"{option}: {str(path)!r} is not a netCDF file")


def check_exists(path, option: str) -> Path:
    """``path`` as a Path; :class:`~xemu.PathError` naming ``option`` when it does not exist."""
    from xemu.errors import PathError

    path = Path(path)
    if not path.exists():
        raise PathError(f"{option}: {str(path)!r} does not exist")
    return path


def open_data(path, *, option: str = "--data"):
    """Open a climate store, checked first (a missing path, a file that is not netCDF, a folder
    without netCDF files or Zarr): a netCDF file, a folder of them (the CSE 151B store's, or
    files that combine by their coordinates) or a Zarr store (:func:`xemu.data.readers.open_store`);
    by default the CSE 151B store. The caller closes it (``with open_data(...) as ds``) and
    declares units (:func:`~xemu.cli.declare.with_declared_units`)."""
    import xarray as xr

    from xemu.data.readers import open_store

    if path is not None and not Path(path).is_dir():
        file = check_exists(path, option)
        check_netcdf(file, option)
        return xr.open_dataset(file)
    return open_store(find_store(path, option))


def find_store(path, option: str = "--data") -> Path:
    """The store's folder (``path``, or the CSE 151B store by default), checked: it exists and is a Zarr
    store or holds netCDF files."""
    from xemu.data.readers import CSE151B_ENV, find_cse151b, is_zarr
    from xemu.errors import DataError, PathError

    if path is not None:
        check_exists(path, option)
    found = find_cse151b(path)
    if found is None:
        raise PathError(f"{option}: not given and no CSE 151B store found (${CSE151B_ENV} is unset or missing, "
                        f"no ../shared/data/cse151b); give --data")
    if found.is_file():
        raise DataError(f"{option}: {str(found)!r} is a file; expected a folder of netCDF files or a Zarr store")
    if not is_zarr(found):
        files = sorted(found.glob("*.nc"))
        if not files:
            raise DataError(f"{option}: {str(found)!r} holds no .nc files and is not a Zarr store; expected a "
                            f"netCDF file, a folder of them (e.g. the CSE 151B store) or a Zarr store")
        for file in files:
            check_netcdf(file, option)
    return found


def load_emulator(path):
    """``xemu.load`` after the checks that name the ``emulator`` argument (a save that stopped
    between its two renames is still finished by ``xemu.load``)."""
    import xemu
    from xemu.errors import PathError

    path = Path(path)
    if path.is_file():
        check_netcdf(path, "emulator")
    elif not path.exists() and not any(path.parent.glob(f".{glob.escape(path.name)}.tmp-*")):
        raise PathError(f"emulator: {str(path)!r} does not exist")
    elif path.is_dir() and not (path / "emulator.json").is_file():
        raise PathError(f"emulator: {str(path)!r} is not a saved xemu emulator (no emulator.json); "
                        f"expected a folder written by xemu fit or a baseline's netCDF file")
    return xemu.load(path)


def check_out(path, overwrite: bool, kind: str = "file") -> Path:
    """Refuse an ``--out`` that the write would refuse, before any work is done.

    ``kind``: ``"file"`` (netCDF written by xemu.io.write_netcdf: an existing file only with
    ``overwrite``), ``"baseline"`` (a baseline's file: an existing one only if it is an xemu
    baseline, with ``overwrite``) or ``"emulator"`` (a folder: absent or empty, or an xemu
    emulator holding only xemu's files, with ``overwrite``). Never a folder for a file or the
    other way round.
    """
    from xemu.io import check_baseline_target, check_emulator_target, check_writable

    if kind == "file":
        return check_writable(path, overwrite=overwrite, argument="--out")
    if kind == "baseline":
        return check_baseline_target(path, overwrite=overwrite, argument="--out")
    check_emulator_target(path, overwrite=overwrite, argument="--out")
    return Path(path)


def written_by_demo(path: Path) -> bool:
    """Whether ``path`` is a netCDF file that an earlier ``xemu demo`` wrote (a rerun may replace it)."""
    import xarray as xr

    if not path.is_file() or not is_netcdf(path):
        return False
    with xr.open_dataset(path) as f:
        return f.attrs.get("xemu_written_by") == DEMO_MARK


def demo_outputs(out, overwrite: bool) -> Path:
    """Check the demo's output folder before training. ``predictions.nc`` and ``scores.nc`` are
    replaced when an earlier demo wrote them (their ``xemu_written_by`` attribute), otherwise only
    with ``--overwrite``; ``demo.xemu`` is replaced when it is an xemu emulator folder holding only
    xemu's files (anything else there is refused, even with ``--overwrite``, as by Emulator.save)."""
    from xemu.errors import PathError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PathError(f"--out: {str(out)!r} is a file; the demo writes into a folder")
    for name in DEMO_OUTPUTS[:2]:
        path = out / name
        if path.is_file() and not overwrite and not written_by_demo(path):
            raise PathError(f"--out: {str(path)!r} exists and was not written by xemu demo; "
                            f"xemu replaces nothing unless asked (--overwrite)")
        check_out(path, overwrite=True, kind="file")  # a folder there is refused
    check_out(out / DEMO_OUTPUTS[2], overwrite=True, kind="emulator")
    return out
