"""The public surface tells the truth (issue 30).

* Every name of ``xemu.__all__`` is the same object before and after every submodule of
  xemu is imported: no submodule shares a name with a top-level name in a way that lets
  the import replace it (``xemu.evaluate`` was a function until ``from xemu.evaluate
  import ...`` made it the module; the module is now :mod:`xemu.evaluation`).
* Every dotted ``xemu.`` path that the package's messages, attributes and docstrings name
  resolves (``importlib`` and ``getattr``), with no exceptions.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import xemu

PACKAGE = Path(xemu.__file__).resolve().parent

#: Run in a fresh interpreter: the test session has imported most submodules already.
_BEFORE_AND_AFTER = """
import importlib, pkgutil
import xemu

before = {name: getattr(xemu, name) for name in xemu.__all__}

def fail(name):
    raise ImportError(f"walk_packages could not import {name}")

imported = 0
for info in pkgutil.walk_packages(xemu.__path__, "xemu.", onerror=fail):
    if info.name.rpartition(".")[2] != "__main__":  # python -m xemu: runs the command
        importlib.import_module(info.name)
        imported += 1
changed = [f"xemu.{name}: {before[name]!r} -> {getattr(xemu, name)!r}"
           for name in xemu.__all__ if getattr(xemu, name) is not before[name]]
print(imported)
print("\\n".join(changed))
"""


def test_importing_submodules_changes_no_top_level_name():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", _BEFORE_AND_AFTER], capture_output=True, text=True, env=env,
                         cwd=PACKAGE.parent, check=False, timeout=300)
    assert run.returncode == 0, run.stderr
    imported, *changed = run.stdout.strip().split("\n")
    assert int(imported) > 50  # every module, not a few
    changed = [line for line in changed if line]
    assert not changed, "names of xemu.__all__ replaced by importing a submodule:\n" + "\n".join(changed)


def test_no_public_name_of_a_package_is_also_its_submodule_unless_it_is_that_module():
    """``P.name`` in ``P.__all__`` and a submodule ``P.name``: then they are the same object."""
    packages = [xemu] + [importlib.import_module(info.name)
                         for info in pkgutil.walk_packages(xemu.__path__, "xemu.") if info.ispkg]
    wrong = []
    for package in packages:
        submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
        for name in set(getattr(package, "__all__", [])) & submodules:
            if getattr(package, name) is not importlib.import_module(f"{package.__name__}.{name}"):
                wrong.append(f"{package.__name__}.{name}")
    assert not wrong, f"public names that are also the names of other submodules: {wrong}"


# -- dotted paths in the package's text --------------------------------------------------------------
#: ``xemu.`` then dotted names; a segment may be a placeholder (``<fn>``, ``{fn}``, ``*``),
#: which never resolves: the text must name a real path.
_PATH = re.compile(r"(?<![\w.\-/])xemu(?:\.(?:[A-Za-z_]\w*|<[^<>\s]*>|\{[^{}\s]*\}|\*))+")

#: Paths that may stay unresolved, with the reason. Empty: every path the package names exists.
EXCEPTIONS: dict[str, str] = {}


def named_paths(package: Path) -> dict[str, list[str]]:
    """``{"xemu.io.saving": ["xemu/emulator.py:12", ...]}``: every dotted ``xemu.`` path in the
    string constants of ``package``'s modules (messages, attributes, docstrings and the
    literal parts of f-strings), trailing dots stripped."""
    out: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for found in _PATH.findall(node.value):
                    out.setdefault(found.rstrip("."), []).append(f"{where}:{node.lineno}")
    return out


def resolve(dotted: str):
    """The object a dotted path names: its longest importable prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def unresolved(paths: dict[str, list[str]]) -> list[str]:
    wrong = []
    for dotted, where in sorted(paths.items()):
        try:
            resolve(dotted)
        except (ImportError, AttributeError) as err:
            wrong.append(f"{dotted} ({', '.join(where)}): {err}")
    return wrong


def test_every_xemu_path_named_in_the_package_exists():
    paths = named_paths(PACKAGE)
    assert len(paths) > 100  # the scan finds the package's many references
    wrong = [line for line in unresolved(paths) if line.split(" ", 1)[0] not in EXCEPTIONS]
    assert not wrong, "paths named in the package that do not exist:\n" + "\n".join(wrong)
    assert not EXCEPTIONS


def test_the_path_scan_finds_what_it_forbids(tmp_path):
    """On made-up text: roles, a trailing dot and parentheses, f-string parts, placeholders."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text(
        '"""See :func:`~xemu.fit` and :class:`Emulator <xemu.Emulator>`, and xemu.load().\n\n'
        'Also xemu.io.saving. and ``xemu.nowhere.thing``."""\n\n'
        'def f(fn):\n    raise ImportError(f"xemu.probabilistic.{fn} needs it; xemu.<fn> too; see xemu.evaluate")\n'
        'x = "xemu evaluate, xemu.json, my-xemu.nc, a/xemu.x, not_xemu.fit"\n')
    paths = named_paths(pkg)
    assert sorted(paths) == ["xemu.<fn>", "xemu.Emulator", "xemu.evaluate", "xemu.fit", "xemu.io.saving",
                             "xemu.json", "xemu.load", "xemu.nowhere.thing", "xemu.probabilistic"]
    assert [line.split(" ", 1)[0] for line in unresolved(paths)] == [
        "xemu.<fn>", "xemu.json", "xemu.nowhere.thing", "xemu.probabilistic"]
    assert callable(resolve("xemu.evaluate")) and resolve("xemu.io.saving").__name__ == "xemu.io.saving"
