"""Windows per second of xemu's training path, side by side with plain tensor slicing.

On the real CSE 151B store (``$XEMU_CSE151B``, else ``../shared/data/cse151b`` relative to
the repository root), the training split's tensors are built with ``xemu.windows`` (ssp126,
ssp370, ssp585; all members; 12-month windows, stride 1), then in one run:

(a) the training path: ``Windows.loader(batch_size=32, shuffle=True)``, one gather per batch;
(b) plain tensor slicing of the same stacked arrays: ``torch.stack`` of ``X[r : r + 12]`` for
    each window of the same shuffled batches (and the same for the targets);
(c) for reference, xbatcher's own rate: ``xbatcher.BatchGenerator`` over the xarray data of
    one sample (SO2 and BC put on the target grid), one window at a time, on a few hundred
    windows.

(a) and (b) run the same batches (the first ``N_BATCHES`` of a shuffled epoch), alternating
for ``ROUNDS`` epochs; the best round of each is reported. It prints windows/s of each, the
ratio (a) / (b) (target: at least 0.5) and whether (a) and (b) give identical tensors. Run
it with ``python benchmarks/windows.py`` (about two minutes on a busy 2-core CPU).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import xemu

REPO = Path(__file__).resolve().parent.parent
STORE = Path(os.environ.get("XEMU_CSE151B", REPO.parent / "shared" / "data" / "cse151b"))
TRAIN = ["ssp126", "ssp370", "ssp585"]
INPUTS = ["CO2", "CH4", "SO2", "BC", "rsdt"]
TARGETS = ["tas", "pr"]
LENGTH, BATCH = 12, 32
ROUNDS = 3  # (a) and (b) alternate; the best round of each is reported
N_BATCHES = 40  # batches timed per round (of 285 in an epoch)
N_CHECK = 20  # batches compared element by element
XBATCHER_WINDOWS = 300


def plain_slicing(
    x: torch.Tensor, y: torch.Tensor, in_rows: np.ndarray, tgt_rows: np.ndarray, order: np.ndarray
):
    """The same batches as the loader, by stacking one slice per window."""
    for b in range(0, order.size, BATCH):
        chunk = order[b : b + BATCH]
        xb = torch.stack([x[r : r + LENGTH] for r in in_rows[chunk].tolist()])
        yb = torch.stack([y[r : r + LENGTH] for r in tgt_rows[chunk].tolist()])
        yield xb, yb


def timed(batches) -> tuple[float, int]:
    start, n = time.perf_counter(), 0
    for xb, _yb in batches:
        n += xb.shape[0]
    return time.perf_counter() - start, n


def main() -> int:
    if not STORE.exists():
        print(f"the CSE 151B store is not at {STORE} (set $XEMU_CSE151B)")
        return 1
    ds = xemu.open_cse151b(STORE).sel(ssp=TRAIN)
    ds = ds.emu.declare_units(CO2="Gt", CH4="Gt yr-1", SO2="kg m-2 s-1", BC="kg m-2 s-1")

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = xemu.windows(ds, INPUTS, TARGETS, length=LENGTH, stride=1)
    build_s = time.perf_counter() - start
    p = w.prepared
    print(f"store: {STORE}")
    print(
        f"xemu.windows: {len(w)} windows of {LENGTH} months in {build_s:.1f} s; inputs {p.inputs.shape} "
        f"({', '.join(p.channels)}), targets {p.targets.shape}"
    )
    for warning in caught:
        print(f"  warning: {warning.message}")

    loader = w.loader(batch_size=BATCH, shuffle=True)
    n_time = p.inputs.shape[1]
    in_rows = w.index.rows(n_time, p.target_to_input)
    tgt_rows = w.index.rows(n_time)
    x = loader.inputs  # the same stacked tensors the loader gathers from
    y = loader.targets

    def first_batches(order: np.ndarray, n: int) -> np.ndarray:
        return order[: n * BATCH]

    # identical tensors, batch by batch
    order = first_batches(loader.order(0), N_CHECK)
    identical = all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(
            (loader.batch(order[i : i + BATCH]) for i in range(0, order.size, BATCH)),
            plain_slicing(x, y, in_rows, tgt_rows, order),
            strict=True,
        )
    )

    best = {"training path": np.inf, "plain slicing": np.inf}
    n_windows = {}
    for epoch in range(1, ROUNDS + 1):
        order = first_batches(loader.order(epoch), N_BATCHES)
        batches = (loader.batch(order[i : i + BATCH]) for i in range(0, order.size, BATCH))
        elapsed, n_windows["training path"] = timed(batches)
        best["training path"] = min(best["training path"], elapsed)
        elapsed, n_windows["plain slicing"] = timed(plain_slicing(x, y, in_rows, tgt_rows, order))
        best["plain slicing"] = min(best["plain slicing"], elapsed)
    rate = {k: n_windows[k] / best[k] for k in best}

    # xbatcher, one window at a time, over the xarray data of one sample (loaded first), with
    # SO2 and BC on the target grid as in (a) and (b): on a Dataset holding both grids xbatcher
    # stacks (latitude, longitude, y, x) into 12 million samples per window (about 1 window/s)
    import xbatcher

    one = ds[INPUTS + TARGETS].sel(ssp="ssp126", member_id=0).load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the alignment warnings were printed above
        aligned = {v: xemu.coords.align_grid(one[v], one["tas"], name=v) for v in ("SO2", "BC")}
    one = one.drop_dims(["latitude", "longitude"]).assign(aligned)
    gen = xbatcher.BatchGenerator(one, input_dims={"time": LENGTH}, input_overlap={"time": LENGTH - 1})
    start, n = time.perf_counter(), 0
    for _batch in gen:
        n += 1
        if n == XBATCHER_WINDOWS:
            break
    rate["xbatcher BatchGenerator"] = n / (time.perf_counter() - start)

    print(
        f"batches of {BATCH} windows, shuffled; (a) and (b): the same {N_BATCHES} batches per round, best of "
        f"{ROUNDS} rounds; (c): {XBATCHER_WINDOWS} windows"
    )
    print(
        f"  (a) training path (WindowLoader, one gather per batch): {rate['training path']:10.0f} windows/s"
    )
    print(
        f"  (b) plain tensor slicing (torch.stack of X[r:r+12]):    {rate['plain slicing']:10.0f} windows/s"
    )
    print(
        f"  (c) xbatcher BatchGenerator, one window at a time:      {rate['xbatcher BatchGenerator']:10.0f} windows/s"
    )
    ratio = rate["training path"] / rate["plain slicing"]
    print(
        f"ratio training path / plain slicing: {ratio:.2f} (target >= 0.5): {'ok' if ratio >= 0.5 else 'BELOW TARGET'}"
    )
    print(f"identical tensors (a) vs (b) on {N_CHECK} batches (inputs and targets): {identical}")
    return 0 if identical and ratio >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
