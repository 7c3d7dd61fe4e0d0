"""The exit codes of the ``xemu`` command, and the table of them that ``--help`` prints."""

from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_BUG", "EXIT_USAGE", "EXIT_PATH", "EXIT_INTERRUPTED", "EXIT_CODES_HELP"]

#: Exit code: success.
EXIT_OK = 0
#: Exit code: an unexpected internal error, a bug in xemu (``--debug`` shows the traceback).
EXIT_BUG = 1
#: Exit code: bad usage or bad input (options, selections, ``--declare``, data xemu cannot use).
EXIT_USAGE = 2
#: Exit code: a file or folder that cannot be read or written (:class:`~xemu.PathError`, :class:`OSError`).
EXIT_PATH = 3
#: Exit code: interrupted (Ctrl-C).
EXIT_INTERRUPTED = 130

#: The epilog of ``xemu --help`` and of each command's ``--help``.
EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    an unexpected internal error: a bug in xemu (rerun with --debug for the traceback)
  2    bad usage or bad input (options, selections, --declare, data xemu cannot use)
  3    a file or folder cannot be read or written (missing --data or emulator, an existing
       output that is not replaced without --overwrite, permissions)
  130  interrupted (Ctrl-C)

Errors print one line 'xemu: error: ...' on stderr; --debug shows the traceback instead."""
