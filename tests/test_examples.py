"""Every example of the gallery runs as a script, in its fast mode, in an empty folder.

Examples marked ``*Real data.*`` need the CSE 151B store and skip without it; where the
docs build runs them (sphinx-gallery installed), it is their test, and they run here only
with ``XEMU_EXAMPLES_TWICE=1``. What they write goes into the working directory
(``tmp_path``): the what-if example's map is checked.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import xemu

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("plot_*.py"))
TIMEOUT_S = 600
#: The docs build (tests/test_docs.py) runs every example: the real-data ones, minutes each
#: in fast mode, are not run a second time here unless asked.
DOCS_RUN_THEM = importlib.util.find_spec("sphinx_gallery") is not None
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"plot_quickstart.py", "plot_reference_evaluation.py",
                                          "plot_whatif_so2.py", "plot_save_load.py", "plot_diagnostics.py",
                                          "plot_variability.py"}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script, tmp_path):
    if "*Real data.*" in script.read_text(encoding="utf-8"):
        if xemu.find_cse151b() is None:
            pytest.skip("the CSE 151B store is absent (set $XEMU_CSE151B)")
        if DOCS_RUN_THEM and os.environ.get("XEMU_EXAMPLES_TWICE") != "1":
            pytest.skip("run by the docs build, which fails if it fails and checks the files it writes "
                        "(tests/test_docs.py); XEMU_EXAMPLES_TWICE=1 runs it here too")
    env = {**os.environ, "XEMU_EXAMPLES_FAST": "1", "MPLBACKEND": "Agg"}
    env.pop("XEMU_EXAMPLES_OUT", None)  # outputs go to the working directory
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=TIMEOUT_S, check=False)
    print(f"{script.name}: {time.perf_counter() - t0:.0f} s")
    assert run.returncode == 0, f"{script.name} failed:\n{(run.stdout + run.stderr)[-6000:]}"
    if script.name == "plot_whatif_so2.py":
        png = tmp_path / "whatif_so2.png"
        assert png.is_file() and png.stat().st_size > 10_000, "the what-if example wrote no map"
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert (tmp_path / "whatif_so2.nc").is_file()
    if script.name == "plot_save_load.py":
        assert (tmp_path / "synthetic.xemu" / "emulator.json").is_file()
        assert (tmp_path / "predicted.nc").is_file()
