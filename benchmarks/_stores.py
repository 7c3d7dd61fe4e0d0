"""Zarr stores larger than the CSE 151B store, for the scale benchmarks (training and prediction).

``build_tiled_store(src_ds, out_path, factor)`` writes ``factor`` copies of a Dataset along a
new leading dim (``copy`` by default) to a Zarr store, one copy at a time and chunk by chunk
(dask writes each source chunk as it reads it), so building needs the memory of a few chunks,
not of the store. Every data variable gets the new dim, which xemu reads as one more sample
dim: a fit on the tiled store sees ``factor`` times the samples (and forcing samples), with
the same months, grid and chunks.

    from benchmarks._stores import build_tiled_store
    build_tiled_store(xemu.open_cse151b(), "/tmp/xemu-scale/x4.zarr", 4)
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["build_tiled_store", "open_store"]

_KEPT_ENCODING = ("units", "calendar", "dtype", "_FillValue")


def build_tiled_store(src_ds: xr.Dataset, out_path, factor: int, *, dim: str = "copy",
                      time_chunk: int | None = None, overwrite: bool = False) -> Path:
    """Write ``factor`` copies of ``src_ds`` along a new dim ``dim`` to the Zarr store ``out_path``.

    Parameters
    ----------
    src_ds : xarray.Dataset
        The source, usually lazy (dask-backed, e.g. ``xemu.open_cse151b()``); its chunks
        become the store's (with one copy per chunk along ``dim``).
    out_path : path
        The store to write (a folder). Never inside the repository: use ``/tmp``.
    factor : int
        Copies (1 writes the source as it is, with ``dim`` of size 1).
    dim : str
        The new dim, labelled ``0 .. factor - 1``.
    time_chunk : int, optional
        Rechunk time to this many months first (default: the source's chunks).
    overwrite : bool
        Replace an existing store at ``out_path``.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    out = Path(out_path)
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"out_path: {out} exists; pass overwrite=True to replace it")
        shutil.rmtree(out)
    src = src_ds.copy()
    for var in src.variables.values():  # netCDF encodings (zlib, chunksizes, ...) do not apply to Zarr
        var.encoding = {k: v for k, v in var.encoding.items() if k in _KEPT_ENCODING}
    if time_chunk is not None and "time" in src.dims:
        src = src.chunk({"time": time_chunk})
    samples = list(src.data_vars)
    for c in range(factor):
        part = src.assign({n: src[n].expand_dims({dim: [c]}) for n in samples})
        part = part.chunk({dim: 1})
        with warnings.catch_warnings():  # zarr 3: string coordinates and consolidated metadata are not in the v3 spec
            warnings.simplefilter("ignore")
            if c == 0:
                part.to_zarr(out, mode="w", consolidated=True)
            else:
                part[samples].to_zarr(out, append_dim=dim, consolidated=True)
    return out


def open_store(path) -> xr.Dataset:
    """Open a tiled store lazily (one dask chunk per Zarr chunk), as the benchmarks read it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xr.open_zarr(path, consolidated=True)


def sizes(ds: xr.Dataset) -> str:
    """``'4.3 GB in 12,345 chunks'``: the bytes and chunks of a Dataset's data variables."""
    nbytes = sum(v.nbytes for v in ds.data_vars.values())
    chunks = sum(int(np.prod([len(c) for c in v.chunks])) for v in ds.data_vars.values() if v.chunks)
    return f"{nbytes / 1e9:.1f} GB in {chunks:,} chunks"
