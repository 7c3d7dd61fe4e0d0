"""The command's entry point, :func:`~xemu.cli.app.main`: parse, log, run the command, and turn its errors
into one line on stderr and an exit code (:mod:`xemu.cli.exit_codes`)."""

from __future__ import annotations

import logging
import sys

from .exit_codes import EXIT_BUG, EXIT_INTERRUPTED, EXIT_PATH, EXIT_USAGE
from .parser import build_parser

__all__ = ["main"]

#: How the command writes a log record: time, level, logger, message.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    """Run the ``xemu`` command; returns its exit code (see the documentation of :mod:`xemu.cli`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version (0) or a usage error (2, printed by _Parser.error)
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    log = logging.getLogger("xemu")
    level = log.level
    handler = _configure_logging(quiet=args.quiet)
    try:
        return _run(args)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _configure_logging(quiet: bool) -> logging.Handler:
    """Log xemu's records on stderr, one line each: INFO and above (WARNING and above when ``quiet``).

    The handler goes on the ``xemu`` logger (the caller's root logger is left alone) and is
    removed by :func:`main` when the command ends.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    log = logging.getLogger("xemu")
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    return handler


def _one_line(text: str) -> str:
    """``text`` with its runs of white space, line breaks included, as single spaces."""
    return " ".join(str(text).split())


def _fail(message: str) -> None:
    """Print ``xemu: error: <message>`` on stderr, on one line."""
    print(f"xemu: error: {_one_line(message)}", file=sys.stderr)


def _run(args) -> int:
    """Run the command of ``args``; an error becomes one line on stderr and its exit code
    (``--debug``: the error is raised again, with its traceback)."""
    from xemu.errors import PathError, XemuError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except PathError as err:
        if args.debug:
            raise
        _fail(str(err))
        return EXIT_PATH
    except XemuError as err:
        if args.debug:
            raise
        _fail(str(err))
        return EXIT_USAGE
    except OSError as err:
        if args.debug:
            raise
        what = f"{err.strerror or err}: {err.filename!r}" if err.filename else str(err) or type(err).__name__
        _fail(f"cannot read or write a file: {what}")
        return EXIT_PATH
    except Exception as err:
        if args.debug:
            raise
        _fail(f"internal error ({type(err).__name__}: {err}); this is a bug in xemu, please report it; "
              f"rerun with --debug for the traceback")
        return EXIT_BUG
