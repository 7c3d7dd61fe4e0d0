"""Shared fixtures: small seeded synthetic Datasets and the real store (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import dask
import pytest
import xarray as xr

import xemu

# dask's threads read lazy netCDF data in the background; netCDF4/HDF5 is not thread-safe, and
# a file handle closed by the garbage collector in one of those threads while the main thread
# opens another file of the store crashed the interpreter (a segmentation fault in netCDF4's
# open, seen twice with many handles on the same files). The tests read small pieces: one thread.
dask.config.set(scheduler="synchronous")

REPO = Path(__file__).resolve().parent.parent
STORE = Path(os.environ.get("XEMU_CSE151B", REPO.parent / "shared" / "data" / "cse151b"))


@pytest.fixture(scope="session")
def synthetic():
    """A small seeded synthetic climate (3 scenarios x 3 members x 36 months, 8 x 12 grid)."""
    return xemu.synthetic_climate(n_years=3, n_lat=8, n_lon=12, seed=0)


@pytest.fixture(scope="session")
def store_path():
    if not STORE.exists():
        pytest.skip(f"the CSE 151B store is not at {STORE} (set $XEMU_CSE151B)")
    return STORE


@pytest.fixture(scope="session")
def store(store_path):
    return xemu.open_cse151b(store_path)


@pytest.fixture(scope="session")
def ssp370(store_path):
    """``ssp370.nc`` opened with plain xarray (lazy, no xemu annotation): the raw file as users see it."""
    ds = xr.open_dataset(store_path / "ssp370.nc")
    yield ds
    ds.close()


@pytest.fixture(scope="session")
def validation(ssp370):
    """tas and pr of ssp370 over the reference validation window (the last 120 months), loaded."""
    return ssp370[["tas", "pr"]].isel(ssp=0, time=slice(-120, None)).load()
