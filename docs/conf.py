"""Sphinx configuration of xemu's documentation.

Build (what ``tests/test_docs.py`` runs, warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Environment variables:

``XEMU_EXAMPLES_FAST``
    ``1`` (the default here) runs the gallery's examples in their fast mode (fewer
    epochs, fewer windows, shorter series); ``0`` runs them full size, as the scripts do
    when run by hand (the real protocol: about 10 minutes per example on the real store).
``XEMU_DOCS_INTERSPHINX``
    ``1`` links to the documentation of Python, xarray, numpy, pandas, dask, torch, pint
    and matplotlib through intersphinx, which downloads their inventories. Off by default,
    so that the build passes offline with ``-W``: without it, references to those packages
    are accepted unresolved (``nitpick_ignore_regex`` below) and every other reference must
    resolve (``nitpicky``).
``XEMU_EXAMPLES_OUT``
    Folder the examples write their files into (by default ``docs/_build/examples-output``
    for the docs build; the current directory when a script is run by hand).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import sphinx_autosummary_accessors

import xemu

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

os.environ.setdefault("XEMU_EXAMPLES_FAST", "1")
os.environ.setdefault("XEMU_EXAMPLES_OUT", str(DOCS / "_build" / "examples-output"))
os.environ.setdefault("MPLBACKEND", "Agg")
# the gallery runs in this process: read lazy netCDF data in one thread (netCDF4/HDF5 is not
# thread-safe; see tests/conftest.py)
import dask  # noqa: E402

dask.config.set(scheduler="synchronous")
INTERSPHINX = os.environ.get("XEMU_DOCS_INTERSPHINX") == "1"

# -- project -----------------------------------------------------------------------------
project = "xemu"
author = "xemu developers"
copyright = "xemu developers"  # noqa: A001  (Sphinx's name)
release = xemu.__version__
version = ".".join(release.split(".")[:2])

# -- extensions --------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_autosummary_accessors",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "xemu_docs",  # docs/_ext/xemu_docs.py: one page per object, the CLI's help, the measured results
]

templates_path = ["_templates", sphinx_autosummary_accessors.templates_path]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5",
                    "auto_examples/*.codeobj.json"]
root_doc = "index"
default_role = "py:obj"
nitpicky = True

# -- autodoc, autosummary, numpydoc ------------------------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False  # a module page lists its __all__
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc sections give the types
autodoc_default_options = {"member-order": "bysource"}
autodoc_inherit_docstrings = False  # torch's forward() docstrings are not xemu's
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- intersphinx: online only on request ---------------------------------------------------
_INVENTORIES = {
    "python": ("https://docs.python.org/3", None),
    "xarray": ("https://docs.xarray.dev/en/stable", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "pandas": ("https://pandas.pydata.org/docs", None),
    "dask": ("https://docs.dask.org/en/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "pint": ("https://pint.readthedocs.io/en/stable", None),
    "matplotlib": ("https://matplotlib.org/stable", None),
}
intersphinx_mapping = _INVENTORIES if INTERSPHINX else {}
intersphinx_timeout = 10

# References to other projects. Offline, those that intersphinx would resolve are accepted
# unresolved (rendered as code, without a link); every other unresolved reference stays an
# error under -W. Online, they must resolve too, except the projects without an inventory
# here and the usual abbreviations (np., xr.), which no inventory has.
_LINKED = (r"(xarray|numpy|pandas|dask|torch|pint|matplotlib|pathlib|os|collections|typing|datetime|argparse|"
           r"warnings|json|dataclasses|enum|logging|functools|inspect|re|sys|hashlib|tempfile|shutil|importlib|"
           r"abc|numbers|math|contextlib)(\..+)?")
_BUILTINS = (r"(int|float|str|bool|bytes|dict|list|tuple|set|frozenset|object|type|None|True|False|callable|"
             r"Callable|Exception|ValueError|TypeError|KeyError|OSError|ImportError|RuntimeError|UserWarning|"
             r"Warning|KeyboardInterrupt|FileNotFoundError|NotImplementedError|slice|range|Ellipsis)")
_UNLINKED = (r"((xr|np|pd|mpl|cftime|cf_xarray|xbatcher|cartopy|jsonschema|tqdm|scipy)(\..+)?|"
             r"optional|array-like|array_like|path|path-like|PathLike|default|of|or|and)")
nitpick_ignore_regex = [(r"py:.*", _UNLINKED)]
if not INTERSPHINX:
    nitpick_ignore_regex += [(r"py:.*", _LINKED), (r"py:.*", _BUILTINS)]

# -- sphinx-gallery ----------------------------------------------------------------------
# Examples marked "*Real data.*" read the CSE 151B store; without it they are shown
# without running (their code, no output), and the build says so.
_REAL_DATA = sorted(p.name for p in (ROOT / "examples").glob("plot_*.py") if "*Real data.*" in p.read_text())
_RUN = r"/plot_"
if xemu.find_cse151b() is None and _REAL_DATA:
    print(f"xemu docs: no CSE 151B store ($XEMU_CSE151B, ../shared/data/cse151b): not running {_REAL_DATA}")
    _RUN = r"/plot_(?!(" + "|".join(re.escape(name.removeprefix("plot_")) for name in _REAL_DATA) + r")$)"

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": str(DOCS / "auto_examples"),
    "filename_pattern": _RUN,
    "ignore_pattern": r"(__init__|conftest)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "capture_repr": ("_repr_html_", "__repr__"),
    "min_reported_time": 1,
    "show_memory": False,
    "backreferences_dir": None,
    "matplotlib_animations": False,
    "promote_jupyter_magic": False,
}

# -- matplotlib's plot directive (figures in the user guide) -----------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.figsize": (7.5, 3.6)}

# -- HTML --------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"xemu {release}"
html_static_path = ["_static"]
html_css_files = ["xemu.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
html_copy_source = False
