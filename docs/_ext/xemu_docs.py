"""Sphinx directives of xemu's documentation.

``.. xemu-cli::``
    Documents the ``xemu`` command from its own argparse parser (``xemu.cli.parser.build_parser``):
    the output of ``xemu --help`` and, for each subcommand, ``.. program::`` and one
    ``.. option::`` per option (so that ``:option:`xemu fit --out``` links), followed by its
    ``--help`` text. Nothing is copied by hand: the page follows the parser.

One page per object
    A name that several modules export (``xemu.score`` is ``xemu.metrics.score``;
    ``xemu.io`` re-exports :mod:`xemu.io.formats`' readers) gets one page, under its public
    name: the top level when it is there, else the module that defines it. Module pages
    link to it (``xemu_elsewhere`` in the autosummary templates), and a reference by any of
    its names resolves to it (``missing-reference``), also a name relative to the module
    an object comes from (``:data:`ENCODINGS``` in :func:`xemu.encode_season`).

``.. xemu-results::`` (optionally ``.. xemu-results:: <heading>``)
    ``benchmarks/RESULTS.md`` (or one of its sections), rendered: its sections, paragraphs
    and lists (inline code converted from Markdown), its fenced blocks (commands and
    measured output) as literal blocks. The results page quotes the measured tables, the
    commands that produced them and their reading from the file itself, never a copy. A
    heading that is not there is a build warning (an error under ``-W``), and so is
    Markdown that does not read as reStructuredText.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
from pathlib import Path

from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.parsing import nested_parse_to_nodes

logger = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"

#: The modules of the API reference (``xemu.<name>``), one page each.
API_MODULES = ["errors", "data", "data.coords", "data.once", "data.units", "data.grid", "data.encoding",
               "data.checks", "data.prepare", "data.novelty", "data.labels", "data.windows", "data.readers",
               "data.synthetic", "metrics", "metrics.deterministic", "metrics.probabilistic", "io",
               "io.common", "io.schemas", "io.files", "io.saving", "io.records", "io.emulator_format",
               "io.baseline_format", "io.weights", "io.emulator_folder", "nn", "nn.model", "nn.losses",
               "nn.device", "nn.training", "nn.distributed", "variability", "variability.residuals",
               "variability.copula", "variability.parametric_fit", "variability.parametric",
               "variability.bootstrap", "variability.calibration", "variability.anchor", "variability.core",
               "variability.parametric_stream", "variability.streamed",
               "baselines", "baselines.base", "baselines.linear", "baselines.energy_balance",
               "baselines.global_response", "baselines.climatology",
               "baselines.registry", "baselines.regression", "recipe", "recipe.correction", "recipe.source", "scale", "scale.blocks",
               "scale.loader", "scale.passes", "scale.energy_balance", "scale.stream", "scale.variability", "scale.lazy", "emulator",
               "evaluation", "plot", "plot.labels", "plot.land", "plot.maps", "plot.series", "plot.scores", "testing", "accessor", "cli", "cli.app", "cli.parser", "cli.commands", "cli.selection",
               "cli.declare", "cli.paths", "cli.exit_codes"]


def _help_text(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"  # argparse wraps at $COLUMNS: the same text on every machine
    try:
        return parser.format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _option_lines(parser: argparse.ArgumentParser) -> list[str]:
    """``.. option::`` entries for the parser's arguments, with their help (defaults included)."""
    formatter = parser._get_formatter()
    lines: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = formatter._format_args(action, formatter._get_default_metavar_for_optional(action))
            names = ", ".join(f"{o} {metavar}".strip() for o in action.option_strings)
        else:
            names = formatter._get_default_metavar_for_positional(action)
        help_text = formatter._expand_help(action) if action.help else ""
        if action.choices and action.option_strings:
            help_text += f" (one of: {', '.join(map(str, action.choices))})"
        lines += [f".. option:: {names}", "", *(f"   {h}" for h in _rst_escape(help_text).splitlines()), ""]
    return lines


def _rst_escape(text: str) -> str:
    return re.sub(r"([*`|_\\])", r"\\\1", text)


class XemuCli(SphinxDirective):
    has_content = False

    def run(self):
        from xemu.cli.parser import build_parser

        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        rst: list[str] = [".. program:: xemu", "", *_option_lines(parser), "", "``xemu --help``:", "",
                          ".. code-block:: text", ""]
        rst += [f"   {line}" for line in _help_text(parser).splitlines()] + [""]
        for name, subparser in sub.choices.items():
            title = f"xemu {name}"
            summary = next((a.help for a in sub._choices_actions if a.dest == name), "")
            rst += [title, "~" * len(title), "", _rst_escape(summary[:1].upper() + summary[1:]) + ".", "",
                    f".. program:: xemu {name}", "", *_option_lines(subparser),
                    f"``xemu {name} --help``:", "", ".. code-block:: text", ""]
            rst += [f"   {line}" for line in _help_text(subparser).splitlines()] + [""]
        return nested_parse_to_nodes(self.state, StringList(rst, source="xemu.cli.parser.build_parser()"),
                                     allow_section_headings=True)


def _markdown_inline(text: str) -> str:
    """Markdown's inline code (`x`) as reStructuredText's (``x``); the rest reads the same."""
    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)


_UNDERLINES = {2: "-", 3: "~", 4: "^", 5: '"'}


def markdown_to_rst(text: str, *, top: int = 2) -> list[str]:
    """The Markdown of ``benchmarks/RESULTS.md`` as reStructuredText lines.

    Headings of level ``top`` and below become sections (``##`` under the page's title);
    the level-1 title is left out (the page has its own). Fenced blocks become literal
    blocks (``bash`` when they hold a command). Paragraphs and lists read the same in
    both, once inline code is converted.
    """
    out: list[str] = []
    fence, block = None, []
    for line in text.splitlines():
        if fence is not None:
            if line.strip() == fence:
                first = next((b for b in block if b.strip()), "")
                language = "bash" if first.lstrip().startswith(("xemu ", "python ")) else "text"
                out += [f".. code-block:: {language}", ""] + [f"   {b}" if b else "" for b in block] + [""]
                fence = None
            else:
                block.append(line)
            continue
        m = re.match(r"(```+)", line)
        if m:
            fence, block = m.group(1), []
            continue
        m = re.match(r"(#{1,6})\s+(.*\S)\s*$", line)
        if m:
            level = len(m.group(1)) - top + 2
            if level < 2:
                continue
            title = _markdown_inline(m.group(2))
            out += ["", title, _UNDERLINES.get(level, "+") * len(title), ""]
            continue
        out.append(_markdown_inline(line))
    return out


def _section(text: str, heading: str) -> str | None:
    """The Markdown under ``heading`` (to the next heading of the same or a higher level)."""
    lines, level, taken, fence = text.splitlines(), None, [], False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"(#{1,6})\s+(.*\S)\s*$", line)
        if level is None:
            if m and m.group(2) == heading:
                level = len(m.group(1))
            continue
        if m and len(m.group(1)) <= level:
            break
        taken.append(line)
    return None if level is None else "\n".join(taken)


class XemuResults(SphinxDirective):
    optional_arguments = 1
    final_argument_whitespace = True

    def run(self):
        self.env.note_dependency(str(RESULTS))
        if not RESULTS.exists():
            logger.warning(f"xemu-results: {RESULTS} is missing", location=self.get_location())
            return []
        text = RESULTS.read_text(encoding="utf-8")
        if self.arguments:
            part = _section(text, self.arguments[0])
            if part is None:
                logger.warning(f"xemu-results: no heading {self.arguments[0]!r} in {RESULTS.name}",
                               location=self.get_location())
                return []
            text = part
        rst = StringList(markdown_to_rst(text), source=str(RESULTS))
        return nested_parse_to_nodes(self.state, rst, allow_section_headings=True)


# -- one page per object ------------------------------------------------------------------
def _owner(obj, name: str, modules: dict) -> str | None:
    """The module (``"xemu.io.formats"``) that defines ``name``, among those that export it."""
    defined = getattr(obj, "__module__", None)
    if (inspect.isfunction(obj) or inspect.isclass(obj)) and defined in modules:
        return defined
    for modname, module in modules.items():
        source = inspect.getsource(module)
        if re.search(rf"^{re.escape(name)}\s*(:[^=\n]*)?=", source, re.MULTILINE):
            return modname
    return None


def canonical_names(api_modules: list[str]) -> dict[str, str]:
    """``{"xemu.metrics.score": "xemu.score", "xemu.io.MAX_PARAMETERS": "xemu.io.formats.MAX_PARAMETERS", ...}``.

    Every name by which an object documented elsewhere can be reached, to the name of its
    page: the top level of xemu when it is there, else the module that defines it.
    """
    import xemu

    modules = {f"xemu.{m}": importlib.import_module(f"xemu.{m}") for m in api_modules}
    out: dict[str, str] = {}
    for modname, module in modules.items():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            if name in xemu.__all__ and getattr(xemu, name) is obj:
                home = f"xemu.{name}"
            else:
                owner = _owner(obj, name, {m: mod for m, mod in modules.items() if hasattr(mod, name) and getattr(mod, name) is obj
                                           and name in getattr(mod, "__all__", [])})
                home = f"{owner}.{name}" if owner else f"{modname}.{name}"
            for other, mod in modules.items():  # the same object under the same name elsewhere
                if hasattr(mod, name) and getattr(mod, name) is obj and f"{other}.{name}" != home:
                    out[f"{other}.{name}"] = home
    return out


def _config_inited(app, config) -> None:
    names = canonical_names(config.xemu_api_modules)
    config.autosummary_context = {**(config.autosummary_context or {}), "xemu_elsewhere": names}
    app.env_xemu_names = names  # for _missing_reference


def _page_object(docname: str):
    """The object a generated API page documents (``api/generated/xemu.fit`` -> xemu.fit), or None."""
    from sphinx.ext.autosummary import import_by_name

    if "/generated/" not in docname:
        return None
    try:
        _, obj, *_ = import_by_name(docname.rsplit("/", 1)[-1])
    except ImportError:
        return None
    return obj


def _missing_reference(app, env, node, contnode):
    """Resolve a reference by another name of its object (see the module documentation)."""
    if node.get("refdomain") != "py":
        return None
    names: dict[str, str] = getattr(app, "env_xemu_names", {})
    target = node["reftarget"].lstrip("~.")
    contexts = [node.get("py:module")]
    obj = _page_object(node.get("refdoc", ""))
    if obj is not None:
        contexts.append(getattr(obj, "__module__", None))
    candidates = [target] + [f"{c}.{target}" for c in contexts if c and not target.startswith("xemu")]
    domain = env.get_domain("py")
    for candidate in candidates:
        alias = names.get(candidate)
        if alias is None:  # a member of an object known by another name: Emulator.history
            for key, value in names.items():
                if candidate.startswith(key + "."):
                    alias = value + candidate[len(key):]
                    break
        for name in (candidate, alias):
            if not name:
                continue
            newnode = node.deepcopy()
            newnode["reftarget"] = name
            found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], name, newnode,
                                        contnode)
            if found is not None:
                return found
    return None


def setup(app):
    app.add_config_value("xemu_api_modules", API_MODULES, "env")
    app.connect("config-inited", _config_inited)
    app.connect("missing-reference", _missing_reference)
    app.add_directive("xemu-cli", XemuCli)
    app.add_directive("xemu-results", XemuResults)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
