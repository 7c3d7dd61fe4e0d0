"""The ``xemu`` command: ``demo``, ``fit``, ``predict``, ``evaluate`` (:func:`~xemu.cli.app.main`).

Examples
--------
::

    xemu demo                                   # synthetic climate: train, score, write predictions
    xemu evaluate --seeds 0 1 2                 # the study's protocol on the CSE 151B store
    xemu fit --data ../shared/data/cse151b --train-select ssp=ssp126,ssp370,ssp585 \\
        --holdout ssp=ssp370 member_id=0 time=2090-02: --out cesm2.xemu
    xemu predict cesm2.xemu --data ../shared/data/cse151b --select ssp=ssp245 --out ssp245.nc

Errors and exit codes
---------------------
A user error prints one line, ``xemu: error: ...``, on stderr and no traceback (``--debug``,
before or after the command, re-raises it with the full traceback instead):

====  ==================================================================================
0     success
1     an unexpected internal error: a bug in xemu (rerun with --debug for the traceback)
2     bad usage or bad input: unknown or malformed options (argparse), selections, unit
      declarations, data xemu cannot use (every :class:`~xemu.XemuError` but PathError)
3     a file or folder cannot be read or written: a missing ``--data`` or emulator, an
      existing output that xemu will not replace without ``--overwrite``, a permission
      error (:class:`~xemu.PathError` and every :class:`OSError`)
130   interrupted (Ctrl-C, KeyboardInterrupt)
====  ==================================================================================

Logging and devices
-------------------
The command logs through :mod:`logging` on stderr, one line per record
(``2025-06-01T12:00:00 INFO xemu.nn.training: epoch 1/6: train loss 0.5127, ...``): training
writes one record per epoch (losses, seconds, learning rate), so a batch job's log keeps
them all; ``--quiet`` logs warnings only and shows no progress bar. The progress bar is
drawn only when stderr is a terminal. ``fit`` and ``predict`` take ``--device`` (``auto``,
the default: CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:<n>``). Started by
``torchrun`` (``torchrun --nproc-per-node 8 -m xemu fit ...``), ``fit`` trains data-parallel
over the processes and rank 0 saves the emulator (``--distributed`` insists on it).
``xemu --version`` prints the version.

Outputs
-------
Outputs never replace an existing file or folder unless ``--overwrite`` is given, and they
are checked before any training starts. ``predict --out`` and ``evaluate --out`` (netCDF)
replace an existing file with ``--overwrite``. ``fit --out`` replaces only what xemu wrote,
with ``--overwrite``: an emulator folder holding only xemu's files, or a baseline's netCDF
file; any other file or folder there is refused even then. ``xemu demo`` writes
``predictions.nc``, ``scores.nc`` and ``demo.xemu`` into its ``--out`` folder, and a rerun
into the same folder replaces them when an earlier demo wrote them (netCDF files with the
attribute ``xemu_written_by = "xemu demo"``; an xemu emulator folder at ``demo.xemu``);
another file at those names needs ``--overwrite``; other files in the folder are left alone.
"""

from .app import main
from .exit_codes import EXIT_BUG, EXIT_INTERRUPTED, EXIT_OK, EXIT_PATH, EXIT_USAGE

__all__ = ["main", "EXIT_OK", "EXIT_BUG", "EXIT_USAGE", "EXIT_PATH", "EXIT_INTERRUPTED"]
