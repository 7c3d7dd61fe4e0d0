"""The house rules of xemu's layout, read from the code's own imports (ast), so they stay kept.

Every module belongs to a *unit*: a sub-package (``xemu.data``, ``xemu.nn``, ...) or a top-level
module (``xemu.emulator``, ...). Units are ranked from the ground up (:data:`LAYERS`); a module
may import modules of its own unit and of units of a lower rank, never of its rank or above.
Every import counts, also one inside a function (those keep ``import xemu`` quick, they do not
change who depends on whom). Four rules follow, each a test below:

* no import runs up or across the layers, and the modules' import graph has no circle;
* no module imports another module's private (``_name``) helpers;
* no module calls another module's private methods: ``obj._name(...)`` only on ``self`` or
  ``cls``, or for a ``_name`` that a class of the calling module defines (an object of the
  module's own classes, ``super()._name`` in an override);
* no module is over 600 lines, no function over 80 lines except the plain data tables named
  in :data:`DATA_TABLES`. A function's lines are those of its signature and code, without its
  docstring: a public function's numpydoc parameter list is documentation, not logic
  (``fit`` documents 22 parameters).

``docs/architecture.rst`` explains the layers to contributors.
"""

from __future__ import annotations

import ast
from pathlib import Path

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
    ("xemu.evaluation", "xemu.plot", "xemu.testing"),
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


def find_modules(package: Path) -> dict[str, Path]:
    """``{"xemu.data.coords": path, ...}`` for every module of the package at ``package``."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = find_modules(PACKAGE)


def unit_of(module: str) -> str:
    """The unit of ``module``: its sub-package of ``xemu``, or itself at the top."""
    return ".".join(module.split(".")[:2])


def imports(module: str, modules: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """``(imported module, names, line)`` for each import of a module of the package in ``module``."""
    root = module.split(".")[0]
    tree = ast.parse(modules[module].read_text(), filename=str(modules[module]))
    package = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == root]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != root:
                continue
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            out += [(m, [], node.lineno) for m in submodules]  # from . import x: an import of the module x
            names = [n for n in names if f"{target}.{n}" not in modules]
            if names or not submodules:
                out.append((target, names, node.lineno))
    return out


def layer_breaches(modules: dict[str, Path], rank: dict[str, int]) -> list[str]:
    """Imports of a unit of the same or a higher layer, and of modules that do not exist."""
    wrong = []
    for m in modules:
        for target, _, line in imports(m, modules):
            if target not in modules:
                wrong.append(f"{m}:{line} imports {target}, which is not a module of the package")
                continue
            a, b = unit_of(m), unit_of(target)
            if a != b and rank[b] >= rank[a]:
                wrong.append(f"{m}:{line} ({a}, layer {rank[a]}) imports {target} ({b}, layer {rank[b]})")
    return wrong


def circles(modules: dict[str, Path]) -> list[str]:
    """Each import circle between modules found by a depth-first search, as ``a -> b -> a``."""
    graph = {m: {t for t, _, _ in imports(m, modules) if t in modules and t != m} for m in modules}
    state: dict[str, int] = {}
    found = []

    def visit(m, path):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                found.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(modules: dict[str, Path]) -> list[str]:
    """Imports of another module's private (``_name``) names."""
    return [f"{m}:{line} imports {', '.join(filter(_private, names))} from {target}"
            for m in modules for target, names, line in imports(m, modules)
            if target != m and any(map(_private, names))]


def private_calls(modules: dict[str, Path]) -> list[str]:
    """Calls ``obj._name(...)`` of a private (``_name``, not ``__name__``) method on any object
    but ``self`` or ``cls`` (``other._name()``, ``self.net._name()``, ``f()._name()``), except
    a ``_name`` defined as a method by a class of the calling module: the module's own classes
    may call their private methods on each other's objects."""
    wrong = []
    for m, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        own = {node.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for node in c.body
               if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _private(node.func.attr)):
                continue
            receiver = node.func.value
            if (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")) or node.func.attr in own:
                continue
            wrong.append(f"{m}:{node.lineno} calls {ast.unparse(node.func)}(...)")
    return wrong


def long_modules(modules: dict[str, Path]) -> dict[str, int]:
    return {m: n for m, p in modules.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}


def function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function from its ``def`` (decorators not counted) to its end, less its docstring's."""
    n = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        n -= first.end_lineno - first.lineno + 1
    return n


def long_functions(modules: dict[str, Path], excused: dict[str, str]) -> list[str]:
    out = []
    for m, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and f"{m}:{node.name}" not in excused:
                if (n := function_lines(node)) > MAX_FUNCTION_LINES:
                    out.append(f"{m}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_every_module_has_a_layer():
    missing = sorted({unit_of(m) for m in MODULES} - set(RANK))
    assert not missing, f"units without a layer in LAYERS: {missing}"


def test_imports_run_down_the_layers_only():
    wrong = layer_breaches(MODULES, RANK)
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    found = circles(MODULES)
    assert not found, "\n".join(found)


def test_no_import_of_another_modules_private_names():
    wrong = private_imports(MODULES)
    assert not wrong, "\n".join(wrong)


def test_no_call_of_another_modules_private_methods():
    wrong = private_calls(MODULES)
    assert not wrong, "\n".join(wrong)


def test_modules_are_short():
    long = long_modules(MODULES)
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short():
    long = long_functions(MODULES, DATA_TABLES)
    assert not long, "\n".join(long)
    assert not DATA_TABLES, "a function excused as a data table: check that it is one (a literal, no logic)"


def test_the_checks_find_what_they_forbid(tmp_path):
    """On a made-up package ``pkg``: an import upwards, a circle, a private import, a long module
    and a long function (its docstring not counted) are each reported, and nothing else is."""
    pkg = tmp_path / "pkg"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("from . import b\nfrom ..high import thing\n\n\ndef _helper():\n    pass\n")
    (pkg / "low" / "b.py").write_text("from .a import _helper\n" + "x = 1\n" * MAX_MODULE_LINES)
    body = "".join(f"    y = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (pkg / "high.py").write_text(f'def thing():\n    """Doc.\n\n    More.\n    """\n{body}\n\n'
                                 f'def short():\n    """{"Doc. " * 3}\n\n    Lines.\n    """\n{body[: -len("    y = 79")-1]}\n')
    modules = find_modules(pkg)
    assert sorted(modules) == ["pkg", "pkg.high", "pkg.low", "pkg.low.a", "pkg.low.b"]
    rank = {"pkg.low": 0, "pkg.high": 1, "pkg": 2}
    assert layer_breaches(modules, rank) == ["pkg.low.a:2 (pkg.low, layer 0) imports pkg.high (pkg.high, layer 1)"]
    assert circles(modules) == ["pkg.low.a -> pkg.low.b -> pkg.low.a"]
    assert private_imports(modules) == ["pkg.low.b:1 imports _helper from pkg.low.a"]
    assert long_modules(modules) == {"pkg.low.b": MAX_MODULE_LINES + 1}
    assert long_functions(modules, {}) == [f"pkg.high:1 thing ({MAX_FUNCTION_LINES + 1} lines)"]
    assert long_functions(modules, {"pkg.high:thing": "a table"}) == []


def test_the_private_call_check_finds_what_it_forbids(tmp_path):
    """On a made-up package ``pkg``: private calls on another object, on an attribute of
    ``self``, on a call's result and on another module are reported; calls on ``self`` and
    ``cls``, dunders, public names, and private methods of the module's own classes (also
    through ``super()`` in an override) are not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "base.py").write_text(
        "class Base:\n"
        "    def _check(self):\n        pass\n\n"
        "    def _twin(self, other):\n        self._check()\n        return other._check()\n\n"
        "    @classmethod\n    def make(cls):\n        return cls._build()\n")
    (pkg / "user.py").write_text(
        "from . import base\n\n\n"
        "class Parser(object):\n"
        "    def _help(self, action):\n        return super()._help(action)\n\n\n"
        "def run(obj, box):\n"
        "    obj._check()\n"
        "    box.net._forward(1)\n"
        "    obj.fit()._vary()\n"
        "    base._helper()\n"
        "    obj.__len__()\n"
        "    obj.public()\n"
        "    return Parser()._help(None)\n")
    assert private_calls(find_modules(pkg)) == [
        "pkg.user:10 calls obj._check(...)",
        "pkg.user:11 calls box.net._forward(...)",
        "pkg.user:12 calls obj.fit()._vary(...)",
        "pkg.user:13 calls base._helper(...)",
    ]
