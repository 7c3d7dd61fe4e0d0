"""Shared fixtures: small seeded synthetic Datasets and the real store (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import dask
import numpy as np
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


# -- evaluation tables (xemu.evaluate's layout) for the charts of xemu.plot.scores -----------------
EVAL_PUBLISHED = "reference split, 48 x 72 grid, test 2090-02 .. 2100-01 (120 months)"
EVAL_COARSE = "reference split, 12 x 18 grid, test 2090-02 .. 2100-01 (120 months)"


def evaluation_table(labels_kinds, *, folds=None, attrs=None, seed=0):
    """An evaluation table with the layout of xemu.evaluate's (random but plausible numbers)."""
    rng = np.random.default_rng(seed)
    labels = [label for label, _ in labels_kinds]
    shape = ((len(folds),) if folds else ()) + (len(labels),)
    dims = (("fold",) if folds else ()) + ("model",)
    coords = {"model": labels, "model_kind": ("model", [k for _, k in labels_kinds]),
              "metric": ["monthly_rmse", "time_mean_rmse", "time_stddev_mae"]}
    if folds:
        coords["fold"] = folds
    data = {v: ((*dims, "metric"), rng.uniform(0.1, 2.0, (*shape, 3))) for v in ("tas", "pr")}
    data["competition_score"] = (dims, rng.uniform(0.4, 1.5, shape))
    for v in ("tas", "pr"):
        data[f"{v}_crps"] = (dims, rng.uniform(0.5, 1.5, shape))
    return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))


EVAL_REFERENCE_ROWS = [
    ("study first model (published)", "published"),
    ("study CNN-GRU, 352,878,672 params (published)", "published"),
    ("linear pattern scaling, ridge (xemu)", "measured"),
    ("linear pattern scaling, ridge (xemu), calibrated", "measured"),
    ("linear pattern scaling, ridge (xemu), 10 draws: mean", "measured"),
    ("linear pattern scaling, ridge (xemu), 10 draws: std", "measured"),
    ("linear pattern scaling, ridge (xemu), 10 draws, decadal means kept: mean", "measured"),
    ("linear pattern scaling, ridge (xemu), 10 draws, decadal means kept: std", "measured"),
    ("climatology (xemu)", "measured"),
    *[(f"xemu CNN-GRU, seed {s}, on energy-balance pattern scaling{v}", "measured")
      for s in (0, 1, 2) for v in ("", ", calibrated", ", 10 draws: mean", ", 10 draws: std")],
    ("noise floor: member 1 as the prediction", "noise floor"),
    ("noise floor: member 2 as the prediction", "noise floor"),
    ("noise floor: mean of other members as the prediction", "noise floor"),
    ("noise floor: the other 2 members as an ensemble: mean", "noise floor"),
    ("noise floor: the other 2 members as an ensemble: std", "noise floor"),
]
EVAL_LOSO_ROWS = [
    ("linear pattern scaling on CO2 only, ridge (xemu)", "measured"),
    ("energy-balance pattern scaling (xemu)", "measured"),
    ("energy-balance pattern scaling (xemu), calibrated", "measured"),
    ("oracle: pattern scaling on the true global mean (not an emulator)", "oracle"),
    ("oracle: pattern scaling on the true global mean (not an emulator), calibrated", "oracle"),
    ("xemu CNN-GRU, seed 0, on energy-balance pattern scaling", "measured"),
    ("xemu CNN-GRU, seed 0, on energy-balance pattern scaling, calibrated", "measured"),
    ("member floor: another member as the prediction", "noise floor"),
]


@pytest.fixture
def tables():
    """Builders of evaluation tables: ``make(rows, folds=None, attrs=None)``, the rows of a reference
    table and of a loso table, the published protocol and that of the store coarsened 4 x 4."""
    from types import SimpleNamespace

    return SimpleNamespace(make=evaluation_table, reference=EVAL_REFERENCE_ROWS, loso=EVAL_LOSO_ROWS,
                           published=EVAL_PUBLISHED, coarse=EVAL_COARSE)
