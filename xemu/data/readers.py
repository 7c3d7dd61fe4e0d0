"""Readers of real climate stores.

:func:`open_cse151b` opens the CSE 151B climate-emulation store (CESM2, four SSPs, three
members, 48 x 72 grid, monthly 2015-2100, noleap calendar) as a CF-annotated Dataset;
:func:`open_store` opens any store: a netCDF file, a folder of them, or Zarr.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import xarray as xr

from ..errors import DataError

__all__ = ["open_cse151b", "find_cse151b", "open_store", "is_zarr", "CSE151B_ENV"]

#: Environment variable naming the folder of the CSE 151B store.
CSE151B_ENV = "XEMU_CSE151B"

_FORCING_NOTES = {
    "CO2": "cumulative CO2 emissions (ClimateBench convention: GtCO2); no units in the file",
    "CH4": "CH4 emissions (ClimateBench convention: GtCH4 per year); no units in the file",
    "SO2": "sulphur dioxide emissions map (kg m-2 s-1 by the store's documentation); no units in the file",
    "BC": "black carbon emissions map (kg m-2 s-1 by the store's documentation); no units in the file",
}


def find_cse151b(path: str | os.PathLike | None = None) -> Path | None:
    """Locate the CSE 151B store: ``path``, else ``$XEMU_CSE151B``, else ``../shared/data/cse151b``.

    The last is tried relative to the working directory and to the folder above the
    installed package. Returns ``None`` when nothing is found.
    """
    candidates = []
    if path is not None:
        candidates.append(Path(path))
    elif os.environ.get(CSE151B_ENV):
        candidates.append(Path(os.environ[CSE151B_ENV]))
    else:
        here = Path(__file__).resolve().parents[2]  # the folder that holds the xemu package
        candidates += [Path.cwd() / ".." / "shared" / "data" / "cse151b",
                       here / ".." / "shared" / "data" / "cse151b"]
    for c in candidates:
        if c.exists():
            return c.resolve()
    return None


def open_cse151b(path: str | os.PathLike | None = None, *, chunks: dict | str | None = None) -> xr.Dataset:
    """Open the CSE 151B store as one CF-annotated Dataset.

    Parameters
    ----------
    path : path-like, optional
        A folder of per-scenario netCDF files (``ssp126.nc``, ...) or the original Zarr
        store. Default: ``$XEMU_CSE151B``, else ``../shared/data/cse151b``.
    chunks : dict or "auto", optional
        Dask chunks; by default the files' own chunks (lazy; nothing is read until used).

    Returns
    -------
    xarray.Dataset
        Variables ``tas`` (K), ``pr`` (mm/day), ``rsdt`` (W m-2), and the forcings ``CO2``,
        ``CH4``, ``SO2``, ``BC`` *without units* (the files carry none: declare them with
        ``ds.emu.declare_units``). Time is decoded with its ``noleap`` calendar. The
        coordinates carry CF attributes (``standard_name``, ``units``, ``axis``), including
        ``latitude`` / ``longitude`` of the aerosol grid, which the files leave bare.
        Targets of ``ssp245`` are absent from the files and so NaN here: never train or
        score on them. The files are opened once per process and shared by every Dataset
        this function returns (netCDF4 crashes when the same files are held open by many
        handles at once).

    Examples
    --------
    >>> ds = xemu.open_cse151b()  # doctest: +SKIP
    >>> ds.tas.dims  # doctest: +SKIP
    ('ssp', 'time', 'member_id', 'y', 'x')
    """
    found = find_cse151b(path)
    if found is None:
        raise DataError(
            f"path: no CSE 151B store found (given {path!r}; ${CSE151B_ENV} is "
            f"{os.environ.get(CSE151B_ENV)!r}; also tried ../shared/data/cse151b)"
        )
    if is_zarr(found):
        ds = xr.open_zarr(found, chunks=chunks or {})
    else:
        files = sorted(found.glob("*.nc"))
        if not files:
            raise DataError(f"path: {str(found)!r} holds no .nc files and is not a Zarr store")
        # one file per scenario (a length-1 ``ssp`` dim); ssp245 lacks the targets, so they
        # are NaN after the outer join. Concatenating reads no data, whereas open_mfdataset's
        # merge of the two variable groups compared every forcing across files on open.
        parts = [_open_shared(f, chunks) for f in files]
        ds = xr.concat(parts, dim="ssp", join="outer", data_vars="all", coords="minimal", compat="override")
    return _annotate_cse151b(ds, found)


def is_zarr(path: Path) -> bool:
    """Whether ``path`` is a Zarr store (a ``.zarr`` folder, or one with Zarr's metadata files)."""
    path = Path(path)
    return path.is_dir() and (path.suffix == ".zarr" or any(
        (path / name).exists() for name in (".zmetadata", "zarr.json", ".zgroup")))


def open_store(path: str | os.PathLike, *, chunks: dict | str | None = None) -> xr.Dataset:
    """Open a climate store: a netCDF file, a folder of netCDF files, or a Zarr store (lazy).

    A folder laid out as the CSE 151B store (one file per scenario named after it, ``ssp126.nc``
    and so on, each with a length-one ``ssp`` dim and its label) is opened by :func:`open_cse151b`;
    any other folder by
    :func:`xarray.open_mfdataset` combining the files by their coordinates (e.g. one file per
    scenario, each with a length-one ``experiment_id`` dim and its label). The caller closes
    the Dataset.

    Parameters
    ----------
    path : path-like
        The file or folder.
    chunks : dict or "auto", optional
        Dask chunks; by default the files' own.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    DataError
        A folder that holds no ``.nc`` file and is not a Zarr store.

    Examples
    --------
    >>> import xemu
    >>> from xemu.data.readers import open_store
    >>> ds = open_store("cmip6-ensemble.zarr")  # doctest: +SKIP
    """
    path = Path(path)
    if is_zarr(path):
        return xr.open_zarr(path, chunks=chunks or {})
    if not path.is_dir():
        return xr.open_dataset(path, chunks=chunks)
    files = sorted(path.glob("*.nc"))
    if not files:
        raise DataError(f"path: {str(path)!r} holds no .nc files and is not a Zarr store")
    if all(re.fullmatch(r"ssp\d+\.nc", f.name) for f in files):  # by name: no file opened twice
        ds = open_cse151b(path, chunks=chunks)
        if "ssp" in ds.coords:  # the files had the ``ssp`` dim and labels: the CSE 151B layout
            return ds
    return xr.open_mfdataset(files, combine="by_coords", chunks=chunks or {}, data_vars="minimal", coords="minimal",
                             compat="override", join="outer")


#: The store's files as opened once in this process, by (path, modification time, chunks).
_OPEN: dict[tuple, xr.Dataset] = {}


def _open_shared(file: Path, chunks) -> xr.Dataset:
    """``xr.open_dataset(file)``, opened once per process and shared by every call.

    netCDF4 crashes (a segmentation fault in HDF5) when a file holding variable-length
    strings, as the store's ``ssp`` labels are, is held open by many handles at once
    (netCDF4-python issue 1444); each ``xr.open_dataset`` makes a new handle. Sharing one
    read-only handle per file keeps every Dataset ``open_cse151b`` returns lazy and safe;
    the files stay open for the life of the process.
    """
    stat = file.stat()
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size, repr(chunks or {}))
    if key not in _OPEN:
        _OPEN[key] = xr.open_dataset(file, chunks=chunks or {})
    return _OPEN[key]


def _annotate_cse151b(ds: xr.Dataset, path: Path) -> xr.Dataset:
    ds = ds.copy()
    cf = {
        "y": {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"},
        "x": {"standard_name": "longitude", "units": "degrees_east", "axis": "X"},
        "latitude": {
            "standard_name": "latitude",
            "units": "degrees_north",
            "axis": "Y",
            "long_name": "latitude of the aerosol-emission grid",
        },
        "longitude": {
            "standard_name": "longitude",
            "units": "degrees_east",
            "axis": "X",
            "long_name": "longitude of the aerosol-emission grid",
        },
        "time": {"standard_name": "time", "axis": "T"},
        "ssp": {"long_name": "Shared Socioeconomic Pathway"},
        "member_id": {"long_name": "ensemble member (index into original_member_ids)"},
    }
    for name, attrs in cf.items():
        if name in ds.coords:
            ds[name].attrs = {**ds[name].attrs, **attrs}
    for name in ("lat", "lon"):
        if name in ds.coords:
            full = "latitude" if name == "lat" else "longitude"
            ds[name].attrs = {
                **ds[name].attrs,
                "long_name": f"2-D auxiliary {full} of the target grid",
                "units": "degrees_north" if name == "lat" else "degrees_east",
            }
    if "pr" in ds:
        ds["pr"].attrs = {"standard_name": "lwe_precipitation_rate", **ds["pr"].attrs}
    for name, note in _FORCING_NOTES.items():
        if name in ds:
            ds[name].attrs = {**ds[name].attrs, "long_name": note.split(" (")[0], "comment": note}
    ds.attrs = {**ds.attrs, "xemu_source": f"CSE 151B store read by xemu.open_cse151b from {path}"}
    return ds
