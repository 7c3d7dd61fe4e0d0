"""The documentation: built by Sphinx with warnings as errors, and the code of its pages run.

The build runs on a copy of ``docs/``, ``examples/`` and ``benchmarks/RESULTS.md`` under
``tmp_path`` (a clean checkout's state: no generated pages, and nothing written into the
repository), with the examples in their fast mode. The pages' ``>>>`` code is run here as
doctests; lines marked ``# doctest: +REAL_DATA`` need the CSE 151B store and are skipped
without it.
"""

from __future__ import annotations

import doctest
import gc
import html as html_module
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

import xemu

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
EXAMPLES = sorted((REPO / "examples").glob("plot_*.py"))
BUILD_TIMEOUT_S = 1500  # the build takes about 6 minutes of CPU on a 2-core machine (most of it the gallery;
# the never-run example trains a CNN-GRU per held-out scenario): room for a machine shared with other work
GENERATED = ("_build", "auto_examples", "generated", "sg_execution_times.rst")
REAL_DATA = doctest.register_optionflag("REAL_DATA")
HAS_STORE = xemu.find_cse151b() is not None


def _needs_store(script: Path) -> bool:
    return "*Real data.*" in script.read_text(encoding="utf-8")


def _text(page: Path) -> str:
    """A page's text without its HTML tags (highlighted code is split into spans)."""
    return html_module.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The HTML site, built once from a copy of the sources: ``sphinx-build -W --keep-going``."""
    root = tmp_path_factory.mktemp("docs")
    src = root / "src"
    shutil.copytree(DOCS, src / "docs", ignore=shutil.ignore_patterns(*GENERATED, "__pycache__"))
    shutil.copytree(REPO / "examples", src / "examples", ignore=shutil.ignore_patterns("__pycache__", "*.png",
                                                                                        "*.nc", "*.xemu"))
    (src / "benchmarks").mkdir()
    shutil.copy2(REPO / "benchmarks" / "RESULTS.md", src / "benchmarks" / "RESULTS.md")
    env = {**os.environ, "XEMU_EXAMPLES_FAST": "1", "XEMU_EXAMPLES_OUT": str(root / "examples-output"),
           "MPLBACKEND": "Agg"}
    env.pop("XEMU_DOCS_INTERSPHINX", None)  # offline: no inventories to fetch
    out = root / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q", str(src / "docs"), str(out)]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                         check=False)
    seconds = time.perf_counter() - t0
    print(f"sphinx-build: {seconds:.0f} s")
    assert run.returncode == 0, f"sphinx-build -W failed ({seconds:.0f} s):\n{(run.stdout + run.stderr)[-8000:]}"
    return out


def test_build_has_the_main_pages(html):
    for page in ["index", "install", "quickstart", "cli", "whats-new", "api/index", "user-guide/index",
                 "user-guide/encoding", "user-guide/results"]:
        assert (html / f"{page}.html").is_file(), page
    quickstart = _text(html / "quickstart.html")
    assert "ds.emu.fit" in quickstart and "emu.score" in quickstart


def test_accessor_methods_have_api_pages(html):
    """sphinx-autosummary-accessors' pages: ``Dataset.emu.fit`` and the rest."""
    generated = html / "api" / "generated"
    for name in ["Dataset.emu.fit", "Dataset.emu.predict", "Dataset.emu.score", "DataArray.emu.score",
                 "DataArray.emu.plot_map", "Dataset.emu.roles"]:
        page = generated / f"xarray.{name}.html"
        assert page.is_file(), name
    fit = (generated / "xarray.Dataset.emu.fit.html").read_text(encoding="utf-8")
    assert "Dataset.emu." in fit and "xemu.fit" in fit  # the signature, and the link to the function


def test_every_public_name_is_documented(html):
    """Every name of ``xemu.__all__`` and of each documented module's ``__all__`` has a target."""
    from sphinx.util.inventory import InventoryFile

    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import xemu_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    modules = xemu_docs.API_MODULES
    with open(html / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", os.path.join)
    documented = {name for entries in inventory.values() for name in entries}
    missing = []
    for name in xemu.__all__:
        obj = getattr(xemu, name)
        if type(obj).__name__ == "module":
            wanted = obj.__name__
        else:
            wanted = f"xemu.{name}"
        if wanted not in documented:
            missing.append(wanted)
    homes = xemu_docs.canonical_names(modules)
    for modname in modules:
        module = __import__(f"xemu.{modname}", fromlist=["__all__"])
        if f"xemu.{modname}" not in documented:
            missing.append(f"xemu.{modname}")
        for name in getattr(module, "__all__", []):
            wanted = homes.get(f"xemu.{modname}.{name}", f"xemu.{modname}.{name}")
            if wanted not in documented:
                missing.append(wanted)
    assert not missing, f"public names without a page: {sorted(set(missing))}"


def test_cli_page_documents_commands_and_options(html):
    cli = (html / "cli.html").read_text(encoding="utf-8")
    for command in ["demo", "fit", "predict", "evaluate"]:
        assert f"xemu {command}" in _text(html / "cli.html")
    for anchor in ["cmdoption-xemu-fit-out", "cmdoption-xemu-predict-device", "cmdoption-xemu-evaluate-split",
                   "cmdoption-xemu-version"]:
        assert f'id="{anchor}"' in cli, anchor
    assert "130" in cli and "exit code" in cli.lower()


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_gallery_page_with_figures(html, script):
    page = html / "auto_examples" / f"{script.stem}.html"
    assert page.is_file()
    if _needs_store(script) and not HAS_STORE:
        pytest.skip("the CSE 151B store is absent: the example is shown without running")
    figures = sorted((html / "_images").glob(f"sphx_glr_{script.stem}_0*.png"))
    assert figures, f"{script.name}: no figure in the gallery"
    assert all(f.stat().st_size > 1000 for f in figures)
    assert f"sphx_glr_{script.stem}_001.png" in page.read_text(encoding="utf-8")


def test_gallery_figures_say_what_makes_them_results(html):
    """The three figures the gallery's header points to first print the number that makes
    each a result, and the size it ran at (here the docs build's fast mode)."""
    if not HAS_STORE:
        pytest.skip("the CSE 151B store is absent: the real-data examples are shown without running")
    pages = {name: _text(html / "auto_examples" / f"{name}.html")
             for name in ("plot_scenario_never_run", "plot_reference_evaluation", "plot_whatif_so2")}
    assert "tas time-mean RMSE" in pages["plot_scenario_never_run"]
    assert "12 x 18 grid (the store coarsened 4 x 4): the CNN-GRU scores" in pages["plot_reference_evaluation"]
    assert "the CNN-GRU is drawn" in pages["plot_whatif_so2"]  # it beat its baseline on months it never saw
    out = html.parent / "examples-output"  # what the examples wrote ($XEMU_EXAMPLES_OUT)
    png = out / "whatif_so2.png"
    assert png.is_file() and png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with xr.open_dataset(out / "whatif_so2.nc") as maps:
        assert set(maps.data_vars) == {"baseline", "cnn_gru"} and maps.cnn_gru.attrs["units"] == "K"


def test_encoding_figure_is_drawn(html):
    figures = list((html / "_images").glob("encoding-*.png")) + list((html / "plot_directive").rglob("encoding-*.png"))
    assert figures and all(f.stat().st_size > 1000 for f in figures)


def test_results_page_quotes_the_measured_tables(html):
    page = _text(html / "user-guide" / "results.html")
    results = (REPO / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    first_table_row = next(line for line in results.splitlines() if line.startswith("study CNN-GRU, 352,878,672"))
    assert first_table_row.split()[-1] in page  # the published score, as the file gives it
    assert "xemu evaluate --seeds 0 1 2" in page


# -- the pages' code ----------------------------------------------------------------------
PAGES = sorted(p for p in DOCS.rglob("*.rst")
               if not any(part in GENERATED for part in p.relative_to(DOCS).parts)
               and ">>>" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
@pytest.mark.filterwarnings("ignore:.*the emulator extrapolates there:UserWarning")  # the pages say so
def test_page_code_runs(page, tmp_path, monkeypatch):
    """The ``>>>`` lines of a page, run and compared like doctests, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(page.read_text(encoding="utf-8"), {}, page.name, str(page), 0)
    if not HAS_STORE:
        for example in test.examples:
            if example.options.get(REAL_DATA):
                example.options[doctest.SKIP] = True
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    try:
        runner.run(test, out=report.append)
    finally:  # close what the page opened here, in this thread, not later in the garbage collector's
        for value in list(test.globs.values()):
            if isinstance(value, xr.Dataset | xr.DataArray):
                value.close()
        test.globs.clear()
        gc.collect()
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
    assert result.attempted > 0
