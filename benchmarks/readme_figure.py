"""The README's figure: scenarios never run, from a saved leave-one-scenario-out table.

Usage::

    xemu evaluate --split loso --seeds 0 1 --out loso.nc      # RESULTS.md, about 22 minutes
    python benchmarks/readme_figure.py loso.nc                # writes docs/_static/scenarios-never-run.svg

The same chart as ``xemu plot loso.nc --out loso.svg`` (:func:`xemu.plot.loso_chart`), written
as SVG with its text kept as text and no time stamp, so that the file stays small (under
200 KB) and changes only when the numbers do.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

import xemu  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "_static" / "scenarios-never-run.svg"


def main(table_path: str = "loso.nc", out: Path = OUT) -> Path:
    """Draw the loso chart of ``table_path`` into ``out``; prints the file's size."""
    with xr.open_dataset(table_path) as opened:
        table = opened.load()
    if "fold" not in table.dims:
        sys.exit(f"{table_path}: expected a table of xemu evaluate --split loso (dim 'fold'); got dims "
                 f"{tuple(table.dims)}")
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "xemu"}):
        fig = xemu.plot.loso_chart(table)
        fig.savefig(out, metadata={"Date": None})
    print(f"wrote {out} ({out.stat().st_size / 1000:.0f} KB)")
    return out


if __name__ == "__main__":
    main(*sys.argv[1:2])
