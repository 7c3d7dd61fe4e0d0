"""The house rules of xemu's layout, read from the code's own imports (ast), so they stay kept.

Every module belongs to a *unit*: a sub-package (``xemu.data``, ``xemu.nn``, ...) or a top-level
module (``xemu.emulator``, ...). Units are ranked from the ground up (:data:`LAYERS`); a module
may import modules of its own unit and of units of a lower rank, never of its rank or above.
Every import counts, also one inside a function (those keep ``import xemu`` quick, they do not
change who depends on whom). Three rules follow, each a test below:

* no import runs up or across the layers, and the modules' import graph has no circle;
* no module imports another module's private (``_name``) helpers;
* no module is over 600 lines, no function over 80 lines except the plain data tables named
  in :data:`DATA_TABLES`.

``docs/architecture.rst`` explains the layers to contributors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xemu"

#: Units from the ground up; units on one line have the same rank and know nothing of each other.
LAYERS: list[tuple[str, ...]] = [
    ("xemu.errors", "xemu.version"),
    ("xemu.data",),
    ("xemu.metrics",),
    ("xemu.io",),
    ("xemu.nn", "xemu.variability"),
    ("xemu.baselines",),
    ("xemu.recipe",),
    ("xemu.scale",),
    ("xemu.emulator",),
    ("xemu.evaluate", "xemu.plot", "xemu.testing"),
    ("xemu.accessor",),
    ("xemu",),
    ("xemu.cli",),
    ("xemu.__main__",),
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}

#: Functions allowed over 80 lines because they are plain data (a table of literals), by
#: ``module:function``.
DATA_TABLES: dict[str, str] = {}

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _package(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def unit_of(module: str) -> str:
    """The unit of ``module``: its sub-package of ``xemu``, or itself at the top."""
    parts = module.split(".")
    if len(parts) == 1:
        return module
    candidate = ".".join(parts[:2])
    return candidate


def imports(module: str) -> list[tuple[str, list[str], int]]:
    """``(imported module, names, line)`` for each import of an xemu module in ``module``."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "xemu"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module).split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "xemu":
                continue
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            if submodules:  # from . import distributed: an import of the module xemu.distributed
                out += [(m, [], node.lineno) for m in submodules]
                names = [n for n in names if f"{target}.{n}" not in MODULES]
                if not names:
                    continue
            out.append((target, names, node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imports(m) if t in MODULES and t != m} for m in MODULES}


def test_every_module_has_a_layer():
    missing = sorted({unit_of(m) for m in MODULES} - set(RANK))
    assert not missing, f"units without a layer in LAYERS: {missing}"


def test_imports_run_down_the_layers_only():
    wrong = []
    for m in MODULES:
        for target, _, line in imports(m):
            if target not in MODULES:
                wrong.append(f"{m}:{line} imports {target}, which is not a module of xemu")
                continue
            a, b = unit_of(m), unit_of(target)
            if a != b and RANK[b] >= RANK[a]:
                wrong.append(f"{m}:{line} ({a}, layer {RANK[a]}) imports {target} ({b}, layer {RANK[b]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    graph = _graph()
    state: dict[str, int] = {}
    circles = []

    def visit(m, path):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                circles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, "\n".join(circles)


def test_no_import_of_another_modules_private_names():
    wrong = [f"{m}:{line} imports {', '.join(n for n in names if n.startswith('_') and not n.startswith('__'))} "
             f"from {target}"
             for m in MODULES for target, names, line in imports(m)
             if target != m and any(n.startswith("_") and not n.startswith("__") for n in names)]
    assert not wrong, "\n".join(wrong)


def test_modules_are_short():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _functions(module: str):
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_functions_are_short():
    long = [f"{m}:{line} {name} ({n} lines)" for m in MODULES for name, line, n in _functions(m)
            if n > MAX_FUNCTION_LINES and f"{m}:{name}" not in DATA_TABLES]
    assert not long, "\n".join(long)


@pytest.mark.parametrize("table", sorted(DATA_TABLES))
def test_data_tables_are_data(table):
    """A function excused from the length rule returns a literal: no loop, no branch, no call but dict()."""
    module, name = table.split(":")
    tree = ast.parse(MODULES[module].read_text())
    (fn,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name]
    kinds = {type(n) for n in ast.walk(fn)}
    assert not kinds & {ast.For, ast.While, ast.If, ast.Try, ast.With}, f"{table} has control flow"


def test_the_rules_catch_what_they_forbid(tmp_path):
    """The checks above, on a made-up circle and a private import, fail as they should."""
    src = "from .b import _helper\n"
    tree = ast.parse(src)
    node = tree.body[0]
    assert node.level == 1 and node.names[0].name.startswith("_")
    assert unit_of("xemu.data.coords") == "xemu.data" and unit_of("xemu.emulator") == "xemu.emulator"
    assert RANK["xemu.data"] < RANK["xemu.nn"] < RANK["xemu.emulator"] < RANK["xemu.cli"]
