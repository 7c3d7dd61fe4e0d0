"""The ``xemu`` command: ``demo``, ``fit``, ``predict``, ``evaluate``.

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
(``2025-06-01T12:00:00 INFO xemu.training: epoch 1/6: train loss 0.5127, ...``): training
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

from __future__ import annotations

import argparse
import glob
import logging
import re
import sys
import time
from pathlib import Path

__all__ = ["main", "EXIT_OK", "EXIT_BUG", "EXIT_USAGE", "EXIT_PATH", "EXIT_INTERRUPTED"]

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

EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    an unexpected internal error: a bug in xemu (rerun with --debug for the traceback)
  2    bad usage or bad input (options, selections, --declare, data xemu cannot use)
  3    a file or folder cannot be read or written (missing --data or emulator, an existing
       output that is not replaced without --overwrite, permissions)
  130  interrupted (Ctrl-C)

Errors print one line 'xemu: error: ...' on stderr; --debug shows the traceback instead."""

#: Units declared by default for the CSE 151B store's forcings, which carry none; applied only
#: to variables that exist and have no units.
DEFAULT_DECLARE = {"CO2": "Gt", "CH4": "Gt yr-1", "SO2": "kg m-2 s-1", "BC": "kg m-2 s-1"}

#: What the demo writes into its output folder.
_DEMO_OUTPUTS = ("predictions.nc", "scores.nc", "demo.xemu")
_DEMO_MARK = "xemu demo"


# -- selections ---------------------------------------------------------------------------
def _split_selection(items: list[str] | None, option: str) -> dict:
    """``["ssp=ssp126,ssp370", "time=2090-02:"]`` to ``{"ssp": ["ssp126", "ssp370"],
    "time": slice("2090-02", None)}``: raw strings, syntax checked (:class:`~xemu.ConfigError`)."""
    from xemu.errors import ConfigError

    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(f"{option}: {item!r}: expected name=value, e.g. ssp=ssp126,ssp370 or time=2090-02:")
        if key in out:
            raise ConfigError(f"{option}: {key!r} is given twice; give its labels once, separated by commas")
        if ":" in value:
            a, _, b = value.partition(":")
            if ":" in b or "," in value or not (a.strip() or b.strip()):
                raise ConfigError(f"{option}: {item!r}: expected one range start:end (either may be left out)")
            out[key] = slice(a.strip() or None, b.strip() or None)
            continue
        parts = [v.strip() for v in value.split(",")]
        if not all(parts):
            raise ConfigError(f"{option}: {item!r}: empty label; separate labels by single commas")
        out[key] = parts
    return out


def _parse_selection(items: list[str] | None, option: str = "selection") -> dict:
    """``["ssp=ssp126,ssp370", "member_id=0", "time=2090-02:"]`` to an xarray selection
    (numbers cast, without looking at any data; :func:`_select` checks it against the data)."""
    out: dict = {}
    for key, value in _split_selection(items, option).items():
        if isinstance(value, slice):
            out[key] = value
        else:
            parts = [_number(v) for v in value]
            out[key] = parts if len(parts) > 1 else parts[0]
    return out


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _is_number(text: str) -> bool:
    return not isinstance(_number(text), str)


def _fmt_labels(labels: list, limit: int = 12) -> str:
    text = [str(v) for v in labels]
    if len(text) > limit:
        return f"{', '.join(text[: limit // 2])}, ..., {', '.join(text[-3:])} ({len(text)} labels)"
    return ", ".join(text)


def _select(ds, items: list[str] | None, option: str, what: str = "the data") -> dict:
    """The selection ``items`` checked against ``ds``: every dim exists, every label exists, every
    time range selects a month. Raises :class:`~xemu.ConfigError` or :class:`~xemu.DataError`
    naming ``option``; returns a selection for ``ds.sel`` (one label: a scalar)."""
    from xemu.errors import DataError

    out: dict = {}
    for dim, value in _split_selection(items, option).items():
        if dim not in ds.dims:
            raise DataError(f"{option}: dim {dim!r} is not in {what}; dims are {', '.join(map(str, ds.dims))}")
        index = ds.indexes.get(dim)
        if _is_time_index(index):
            out[dim] = _select_time(index, dim, value, option)
        else:
            out[dim] = _select_labels(ds, index, dim, value, option, what)
    return out


def _is_time_index(index) -> bool:
    import pandas as pd
    import xarray as xr

    return isinstance(index, pd.DatetimeIndex | xr.CFTimeIndex)


def _select_labels(ds, index, dim: str, value, option: str, what: str = "the data"):
    from xemu.errors import ConfigError, DataError

    if isinstance(value, slice):
        raise ConfigError(
            f"{option}: {dim}={value.start or ''}:{value.stop or ''}: ranges start:end are for time only; "
            f"give the labels of {dim!r} separated by commas"
        )
    labels = list(range(ds.sizes[dim])) if index is None else index.tolist()
    numeric = index is None or index.dtype.kind in "iuf"
    chosen = []
    for text in value:
        if numeric:
            label = _number(text)
            found = not isinstance(label, str) and label in labels
        else:
            label = next((v for v in labels if str(v) == text), None)
            found = label is not None
        if not found:
            raise DataError(f"{option}: {dim}={text} is not in {what}; {dim} labels are {_fmt_labels(labels)}")
        chosen.append(label)
    return chosen if len(chosen) > 1 else chosen[0]


_DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int, calendar: str) -> int:
    if calendar == "360_day":
        return 30
    if month != 2:
        return _DAYS[month - 1]
    if calendar in ("noleap", "365_day"):
        return 28
    if calendar in ("all_leap", "366_day"):
        return 29
    leap = year % 4 == 0 if calendar == "julian" else (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0))
    return 29 if leap else 28


def _date(text: str, dim: str, calendar: str, option: str) -> str:
    """``"2090-2"`` to ``"2090-02"``; a ConfigError unless YYYY, YYYY-MM or YYYY-MM-DD of ``calendar``."""
    from xemu.errors import ConfigError

    m = _DATE.fullmatch(text)
    year, month, day = (int(g) if g else None for g in m.groups()) if m else (None, None, None)
    if (m is None or (month is not None and not 1 <= month <= 12)
            or (day is not None and not 1 <= day <= _days_in_month(year, month, calendar))):
        raise ConfigError(
            f"{option}: {dim}={text!r} is not a date; expected YYYY, YYYY-MM or YYYY-MM-DD "
            f"(calendar {calendar}), or a range such as 2090-02: or 2080:2089"
        )
    return "-".join([f"{year:04d}"] + [f"{v:02d}" for v in (month, day) if v is not None])


def _select_time(index, dim: str, value, option: str):
    from xemu.errors import ConfigError, DataError

    calendar = getattr(index, "calendar", "standard")
    if isinstance(value, list) and len(value) > 1:
        raise ConfigError(f"{option}: {dim}={','.join(value)}: give one date or one range start:end for {dim!r}")
    if isinstance(value, slice):
        start = None if value.start is None else _date(value.start, dim, calendar, option)
        stop = None if value.stop is None else _date(value.stop, dim, calendar, option)
    else:
        start = stop = _date(value[0], dim, calendar, option)
    if not index.is_monotonic_increasing:
        raise DataError(f"{option}: the data's {dim!r} is not sorted; cannot select dates from it")
    dates = [f"{t.year:04d}-{t.month:02d}-{t.day:02d}" for t in index]
    hit = any((start is None or d[: len(start)] >= start) and (stop is None or d[: len(stop)] <= stop)
              for d in dates)
    shown = f"{value.start or ''}:{value.stop or ''}" if isinstance(value, slice) else value[0]
    if not hit:
        span = f"runs from {dates[0]} to {dates[-1]}" if dates else "is empty"
        raise DataError(f"{option}: {dim}={shown} selects no month; the data's {dim} {span}")
    return slice(start, stop) if isinstance(value, slice) else start


# -- units --------------------------------------------------------------------------------
def _parse_declare(items: list[str] | None) -> dict[str, str]:
    """``["CO2=Gt", "SO2=kg m-2 s-1"]`` to a dict; each entry name=units with parsable units."""
    from xemu.data.units import parse_units
    from xemu.errors import ConfigError

    out: dict[str, str] = {}
    for item in items or []:
        name, sep, units = item.partition("=")
        name, units = name.strip(), units.strip()
        if not sep or not name or not units:
            raise ConfigError(f"--declare {item!r}: expected name=units, e.g. CO2=Gt or 'SO2=kg m-2 s-1'")
        if name in out:
            raise ConfigError(f"--declare {item!r}: {name!r} is declared twice")
        parse_units(units, name=f"--declare {item!r}")
        out[name] = units
    return out


def _declare(ds, items: list[str] | None):
    """Declare units: the user's entries (checked against ``ds``), then :data:`DEFAULT_DECLARE` for
    variables that exist and carry no units."""
    from xemu.data.units import declare_units, parse_units, units_of
    from xemu.errors import DataError, UnitsError

    given = _parse_declare(items)
    declare = {}
    for name, units in given.items():
        entry = f"--declare {name + '=' + units!r}"
        if name not in ds.data_vars:
            raise DataError(f"{entry}: no variable {name!r} in the data; it has {', '.join(map(str, ds.data_vars))}")
        old = units_of(ds[name])
        if old is None:
            declare[name] = units
        elif old != units and parse_units(old, name=f"{entry}: units of {name!r} in the data") != parse_units(units):
            raise UnitsError(f"{entry}: {name!r} already has units {old!r}; declaring is not converting "
                             f"(drop the entry, or give {name + '=' + old!r})")
    for name, units in DEFAULT_DECLARE.items():
        if name not in given and name in ds.data_vars and units_of(ds[name]) is None:
            declare[name] = units
    return declare_units(ds, declare) if declare else ds


# -- paths --------------------------------------------------------------------------------
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _is_netcdf(path: Path) -> bool:
    """Whether ``path`` starts like a netCDF file (classic, 64-bit, CDF5 or netCDF-4/HDF5)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
            return True
        offset = 0
        while offset + 8 <= size and offset <= 1 << 20:  # the HDF5 superblock: 0, 512, 1024, ...
            f.seek(offset)
            if f.read(8) == _HDF5_MAGIC:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _check_netcdf(path: Path, option: str) -> None:
    from xemu.errors import DataError

    if not _is_netcdf(path):
        raise DataError(f"{option}: {str(path)!r} is not a netCDF file")


def _check_exists(path, option: str) -> Path:
    from xemu.errors import PathError

    path = Path(path)
    if not path.exists():
        raise PathError(f"{option}: {str(path)!r} does not exist")
    return path


def _open(path, *, option: str = "--data"):
    """Open a CSE 151B folder or a netCDF file, checked first (a missing path, a file that is not
    netCDF); the caller closes it (``with _open(...) as ds``) and declares units (:func:`_declare`)."""
    import xarray as xr

    import xemu

    if path is not None and not Path(path).is_dir():
        file = _check_exists(path, option)
        _check_netcdf(file, option)
        return xr.open_dataset(file)
    return xemu.open_cse151b(_store(path, option))


def _store(path, option: str = "--data") -> Path:
    """The CSE 151B folder (``path`` or the default), checked: it exists and holds netCDF files."""
    from xemu.data.readers import CSE151B_ENV, find_cse151b
    from xemu.errors import DataError, PathError

    if path is not None:
        _check_exists(path, option)
    found = find_cse151b(path)
    if found is None:
        raise PathError(f"{option}: not given and no CSE 151B store found (${CSE151B_ENV} is unset or missing, "
                        f"no ../shared/data/cse151b); give --data")
    if found.is_file():
        raise DataError(f"{option}: {str(found)!r} is a file; expected the CSE 151B store, a folder")
    zarr = found.suffix == ".zarr" or (found / ".zmetadata").exists() or (found / "zarr.json").exists()
    if not zarr:
        files = sorted(found.glob("*.nc"))
        if not files:
            raise DataError(f"{option}: {str(found)!r} holds no .nc files; expected the CSE 151B store "
                            f"(a folder of netCDF files) or a netCDF file")
        for file in files:
            _check_netcdf(file, option)
    return found


def _load_emulator(path):
    """``xemu.load`` after the checks that name the ``emulator`` argument (a save that stopped
    between its two renames is still finished by ``xemu.load``)."""
    import xemu
    from xemu.errors import PathError

    path = Path(path)
    if path.is_file():
        _check_netcdf(path, "emulator")
    elif not path.exists() and not any(path.parent.glob(f".{glob.escape(path.name)}.tmp-*")):
        raise PathError(f"emulator: {str(path)!r} does not exist")
    elif path.is_dir() and not (path / "emulator.json").is_file():
        raise PathError(f"emulator: {str(path)!r} is not a saved xemu emulator (no emulator.json); "
                        f"expected a folder written by xemu fit or a baseline's netCDF file")
    return xemu.load(path)


def _check_out(path, overwrite: bool, kind: str = "file") -> Path:
    """Refuse an ``--out`` that the write would refuse, before any work is done.

    ``kind``: ``"file"`` (netCDF written by xemu.io.write_netcdf: an existing file only with
    ``overwrite``), ``"baseline"`` (a baseline's file: an existing one only if it is an xemu
    baseline, with ``overwrite``) or ``"emulator"`` (a folder: absent or empty, or an xemu
    emulator holding only xemu's files, with ``overwrite``). Never a folder for a file or the
    other way round.
    """
    from xemu.io import check_baseline_target, check_emulator_target, check_writable

    if kind == "file":
        return check_writable(path, overwrite=overwrite, argument="--out")
    if kind == "baseline":
        return check_baseline_target(path, overwrite=overwrite, argument="--out")
    check_emulator_target(path, overwrite=overwrite, argument="--out")
    return Path(path)


def _written_by_demo(path: Path) -> bool:
    """Whether ``path`` is a netCDF file that an earlier ``xemu demo`` wrote (a rerun may replace it)."""
    import xarray as xr

    if not path.is_file() or not _is_netcdf(path):
        return False
    with xr.open_dataset(path) as f:
        return f.attrs.get("xemu_written_by") == _DEMO_MARK


def _demo_outputs(out, overwrite: bool) -> Path:
    """Check the demo's output folder before training. ``predictions.nc`` and ``scores.nc`` are
    replaced when an earlier demo wrote them (their ``xemu_written_by`` attribute), otherwise only
    with ``--overwrite``; ``demo.xemu`` is replaced when it is an xemu emulator folder holding only
    xemu's files (anything else there is refused, even with ``--overwrite``, as by Emulator.save)."""
    from xemu.errors import PathError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PathError(f"--out: {str(out)!r} is a file; the demo writes into a folder")
    for name in _DEMO_OUTPUTS[:2]:
        path = out / name
        if path.is_file() and not overwrite and not _written_by_demo(path):
            raise PathError(f"--out: {str(path)!r} exists and was not written by xemu demo; "
                            f"xemu replaces nothing unless asked (--overwrite)")
        _check_out(path, overwrite=True, kind="file")  # a folder there is refused
    _check_out(out / _DEMO_OUTPUTS[2], overwrite=True, kind="emulator")
    return out


# -- commands -----------------------------------------------------------------------------
def cmd_demo(args) -> int:
    import xarray as xr

    import xemu
    from xemu.evaluate import format_table
    from xemu.io import write_netcdf

    t0 = time.perf_counter()
    out = _demo_outputs(args.out, args.overwrite)
    ds = xemu.synthetic_climate(n_years=args.years, n_lat=24, n_lon=36, seed=args.seed)
    holdout = {"scenario": "mid", "member": 0, "time": slice(f"{2015 + args.years - 3}-01", None)}
    inputs, targets = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
    print(f"xemu {xemu.__version__} demo: synthetic climate, {ds.sizes['scenario']} scenarios x "
          f"{ds.sizes['member']} members x {ds.sizes['time']} months on a 24 x 36 grid; holdout {holdout}")
    # the held-out months are also the scored ones: monitor them, choose nothing by them
    em = ds.emu.fit(inputs, targets, holdout=holdout, epochs=args.epochs, seed=args.seed,
                    windows_per_epoch=600, progress=not args.quiet, restore_best=False, patience=None)
    print(f"trained {em.n_parameters:,} parameters in {em.meta['train_seconds']:.1f} s "
          f"(the model after its last epoch, {em.history.sizes['epoch']}: no early stopping and no best-epoch "
          f"weights, since the held-out months are the ones scored)")
    lin = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], targets, model="linear", holdout=holdout)
    clim = ds.emu.fit(inputs, targets, model="climatology", holdout=holdout)
    test = {"scenario": "mid", "member": 0, "time": holdout["time"]}
    truth = ds[targets].sel(test)
    forcing = ds.drop_vars(targets + ["tas_forced", "pr_forced"]).sel(scenario=["mid"])
    pred = em.predict(forcing)
    rows = {"xemu CNN-GRU": pred, "linear pattern scaling": lin.predict(forcing),
            "climatology": clim.predict(forcing),
            "the true forced response": ds[["tas_forced", "pr_forced"]].rename(
                tas_forced="tas", pr_forced="pr").sel(scenario=["mid"])}
    scores = [xemu.score(p.sel(scenario="mid", time=truth.time), truth).reset_coords(drop=True)
              for p in rows.values()]
    labels = list(rows)
    nf = xemu.noise_floor(ds[targets].sel(scenario="mid", time=holdout["time"]), member=0, member_dim="member")
    for label in nf.prediction.values.tolist():
        scores.append(nf.sel(prediction=label, drop=True).reset_coords(drop=True))
        labels.append(f"noise floor: {label}")
    table = xr.concat(scores, dim=xr.DataArray(labels, dims="model", name="model"))
    print("\nscores on the holdout (scenario 'mid', member 0, last 36 months; units K and mm/day):")
    print(format_table(table))
    # a rerun replaces what an earlier demo wrote (checked above), anything else only with --overwrite
    pred = pred.assign_attrs(xemu_written_by=_DEMO_MARK)
    table = table.assign_attrs(xemu_written_by=_DEMO_MARK)
    write_netcdf(pred, out / "predictions.nc", overwrite=True, argument="--out")
    write_netcdf(table, out / "scores.nc", overwrite=True, argument="--out")
    em.save(out / "demo.xemu", overwrite=True)
    print(f"\nwrote {out / 'predictions.nc'}, {out / 'scores.nc'} and the emulator {out / 'demo.xemu'} "
          f"in {time.perf_counter() - t0:.0f} s")
    return EXIT_OK


def cmd_fit(args) -> int:
    from xemu.baselines import BASELINES

    with _open(args.data) as opened:  # closed when done: no file handle outlives the command
        ds = _declare(opened, args.declare)
        if args.train_select:
            ds = ds.sel(_select(ds, args.train_select, "--train-select"))
        what = "the training data (after --train-select)" if args.train_select else "the data"
        holdout = _select(ds, args.holdout, "--holdout", what) or None
        _check_out(args.out, args.overwrite, kind="baseline" if args.model in BASELINES else "emulator")
        if args.model == "cnn-gru":
            _check_device(args.device)
        opts = {"epochs": args.epochs, "seed": args.seed, "progress": not args.quiet, "device": args.device,
                "distributed": True if args.distributed else None}
        variability = {"none": False}.get(args.variability, args.variability)
        em = ds.emu.fit(args.inputs, args.targets, model=args.model, holdout=holdout, variability=variability,
                        **({} if args.model != "cnn-gru" else {**opts, "checkpoint": args.checkpoint}))
    from xemu.nn.distributed import is_main_process

    if not is_main_process():  # under torchrun every rank holds the same emulator: rank 0 saves it
        return EXIT_OK
    path = em.save(args.out, overwrite=args.overwrite)
    print(f"{em!r}\nsaved to {path}")
    return EXIT_OK


def cmd_predict(args) -> int:
    from xemu.emulator import Emulator
    from xemu.io import write_netcdf

    em = _load_emulator(args.emulator)
    network = isinstance(em, Emulator)  # the baselines run on numpy: no device
    if network:
        _check_device(args.device)
    with _open(args.data) as opened:
        ds = _declare(opened, args.declare)
        if args.select:
            ds = ds.sel(_select(ds, args.select, "--select"))
        _check_out(args.out, args.overwrite)
        forcing = ds.drop_vars([t for t in em.targets if t in ds])
        options = {"variability": args.variability, "samples": args.samples, "seed": args.seed,
                   "anchor": args.anchor}
        if network:
            options["device"] = args.device
        # a dask-backed store gives a lazy prediction, written chunk by chunk while the store is open
        pred = em.predict(forcing, **options)
        write_netcdf(pred, args.out, overwrite=args.overwrite, argument="--out")
    print(f"wrote {args.out}: {', '.join(f'{k} {tuple(v.dims)}' for k, v in pred.data_vars.items())}")
    return EXIT_OK


_SPLIT = re.compile(r"reference|scenario:(?P<ssp>\S+)|member:(?P<member>\d+)")


def _parse_split(split: str) -> re.Match:
    from xemu.errors import ConfigError

    m = _SPLIT.fullmatch(split)
    if m is None:
        raise ConfigError(f"--split: expected reference, scenario:<ssp> or member:<m>; got {split!r}")
    return m


def _check_split(ds, split: str) -> None:
    from xemu.errors import DataError

    m = _parse_split(split)
    if m["ssp"] is not None and m["ssp"] not in ds.ssp.values.tolist():
        raise DataError(f"--split: scenario {m['ssp']!r} is not in the data; ssp labels are "
                        f"{_fmt_labels(ds.ssp.values.tolist())}")
    if m["member"] is not None and int(m["member"]) not in ds.member_id.values.tolist():
        raise DataError(f"--split: member {m['member']} is not in the data; member_id labels are "
                        f"{_fmt_labels(ds.member_id.values.tolist())}")


def cmd_evaluate(args) -> int:
    import xemu
    from xemu.evaluate import evaluate, format_table
    from xemu.io import write_netcdf

    if args.out:
        _check_out(args.out, args.overwrite)
    _parse_split(args.split)
    with xemu.open_cse151b(_store(args.data)) as ds:
        _check_split(ds, args.split)
        fit_options = {"epochs": args.epochs} if args.epochs else {}
        if args.device:
            fit_options["device"] = args.device
        table = evaluate(ds, split=args.split, seeds=tuple(args.seeds), fit_options=fit_options,
                         models=tuple(args.models)).load()
    print()
    print(format_table(table))
    for key, value in table.attrs.items():
        if key != "split_description":
            print(f"{key}: {value}")
    if args.out:
        write_netcdf(table, args.out, overwrite=args.overwrite, argument="--out")
        print(f"wrote {args.out}")
    return EXIT_OK


# -- the parser -----------------------------------------------------------------------------
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where there is none to show (None, flags)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class _MainHelpFormatter(argparse.RawDescriptionHelpFormatter, _HelpFormatter):
    """Keeps the epilog's table of exit codes as written."""


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, ``xemu: error: ...``, exit code 2."""

    def error(self, message: str):
        command = self.prog.removeprefix("xemu").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"xemu: error: {where}{message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)  # argparse reports a ValueError as "invalid _positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text}")
    return value


_positive_int.__name__ = "positive integer"


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _device(text: str) -> str:
    """The ``--device`` value, checked for its form (whether it is present: :func:`_check_device`)."""
    if not _DEVICE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:<n>; got {text!r}")
    return text.strip()


_device.__name__ = "device"


def _check_device(device: str) -> None:
    """Raise :class:`~xemu.ConfigError` naming ``--device`` when the device is not on this machine."""
    from xemu.errors import ConfigError
    from xemu.nn.training import choose_device

    try:
        choose_device(device)
    except ConfigError as err:
        raise ConfigError(f"--device: {str(err).removeprefix('device: ')}") from None


def _configure_logging(quiet: bool) -> logging.Handler:
    """Log xemu's records on stderr, one line each: INFO and above (WARNING and above when ``quiet``).

    The handler goes on the ``xemu`` logger (the caller's root logger is left alone) and is
    removed by :func:`main` when the command ends.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    log = logging.getLogger("xemu")
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    return handler


#: How the command writes a log record: time, level, logger, message.
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _add_debug(parser: argparse.ArgumentParser, default) -> None:
    # the subcommands' copy defaults to SUPPRESS so that it does not undo ``xemu --debug fit ...``
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the full traceback of an error instead of one line")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xemu", description="xarray-native climate emulation", epilog=EXIT_CODES_HELP,
                     formatter_class=_MainHelpFormatter)
    _add_debug(parser, False)
    parser.add_argument("--version", action="version", version=f"xemu {_version()}",
                        help="print the version of xemu and exit")
    common = argparse.ArgumentParser(add_help=False)
    _add_debug(common, argparse.SUPPRESS)
    common.add_argument("--quiet", action="store_true",
                        help="no progress bar, and log warnings only (by default each training epoch is "
                             "logged on stderr)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,fit,predict,evaluate}")

    fmt = {"formatter_class": _MainHelpFormatter, "parents": [common], "epilog": EXIT_CODES_HELP}
    store_help = "the CSE 151B folder (or one of its netCDF files); default: $XEMU_CSE151B or ../shared/data/cse151b"
    declare_help = ("units of variables whose files carry none, as name=units; entries must name variables of the "
                    "data and may not contradict units they carry. Defaults, for variables that exist and have "
                    "no units (and no entry): " + " ".join(f"'{k}={v}'" for k, v in DEFAULT_DECLARE.items())
                    + " (the store's forcings)")
    overwrite_help = "replace an existing --out (by default xemu replaces nothing)"
    device_help = ("where to {what} (cnn-gru): auto (CUDA when available, else CPU), cpu, cuda or cuda:<n>")
    sel_help = ("as name=value: labels separated by commas (ssp=ssp126,ssp370), a date or a date range "
                "start:end for time (time=2090-02:)")

    demo = sub.add_parser("demo", help="train on a synthetic climate, print scores, write predictions", **fmt)
    demo.add_argument("--out", default="xemu-demo-output",
                      help="output folder; a rerun replaces the outputs an earlier demo wrote there")
    demo.add_argument("--overwrite", action="store_true",
                      help="also replace predictions.nc, scores.nc or demo.xemu in --out that xemu demo did not write")
    demo.add_argument("--epochs", type=_positive_int, default=6, help="training epochs")
    demo.add_argument("--years", type=_positive_int, default=30,
                      help="years of synthetic climate per scenario and member")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic climate and of training")
    demo.set_defaults(func=cmd_demo)

    f = sub.add_parser("fit", help="train an emulator on a store and save it", **fmt)
    f.add_argument("--data", default=None, help=store_help)
    f.add_argument("--inputs", nargs="+", default=["CO2", "CH4", "SO2", "BC", "rsdt"], help="input variables")
    f.add_argument("--targets", nargs="+", default=["tas", "pr"], help="target variables (maps)")
    f.add_argument("--model", default="cnn-gru", choices=["cnn-gru", "linear", "climatology"], help="what to fit")
    f.add_argument("--train-select", nargs="*", help=f"selection of the training data, {sel_help}")
    f.add_argument("--holdout", nargs="*", help=f"validation months within the training data, {sel_help}; "
                   "e.g. ssp=ssp370 member_id=0 time=2090-02:")
    f.add_argument("--declare", nargs="*", default=None, help=declare_help)
    f.add_argument("--epochs", type=_positive_int, default=6, help="training epochs (cnn-gru)")
    f.add_argument("--seed", type=int, default=0, help="training seed (cnn-gru)")
    f.add_argument("--checkpoint", default=None, help="checkpoint file; a rerun resumes from it")
    f.add_argument("--variability", choices=["bootstrap", "parametric", "none"], default="bootstrap",
                   help="residual model of the internal variability learned for predict --samples and "
                   "--variability calibrated: bootstrap (whole training years resampled; the default), parametric "
                   "(EOFs with AR(1) persistence; smaller) or none")
    f.add_argument("--device", type=_device, default="auto", help=device_help.format(what="train"))
    f.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the processes torchrun started, e.g. torchrun "
                   "--nproc-per-node 8 -m xemu fit ... (cnn-gru); an error when torchrun did not start this "
                   "command. Without it, data-parallel whenever torchrun started it; rank 0 saves --out")
    f.add_argument("--out", required=True, help="where to save the emulator (a folder; a netCDF file for the "
                   "baselines); load it with xemu.load")
    f.add_argument("--overwrite", action="store_true", help=overwrite_help)
    f.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="predict with a saved emulator and write netCDF", **fmt)
    p.add_argument("emulator", help="folder written by xemu fit or Emulator.save (or a baseline's netCDF file)")
    p.add_argument("--data", default=None, help=store_help)
    p.add_argument("--select", nargs="*", help=f"selection to predict, {sel_help}; e.g. ssp=ssp245")
    p.add_argument("--declare", nargs="*", default=None, help=declare_help)
    p.add_argument("--out", required=True, help="netCDF file for the predictions (compressed, lossless)")
    p.add_argument("--device", type=_device, default="auto", help=device_help.format(what="run the network"))
    p.add_argument("--variability", choices=["forced", "calibrated"], default="forced",
                   help="forced: the forced response (default); calibrated: with the month-to-month variability "
                   "learned from the training residuals")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="N stochastic realizations on a 'realization' dim (forced response plus internal variability)")
    p.add_argument("--seed", type=int, default=None, help="seed of --samples (the same seed, the same samples)")
    p.add_argument("--anchor", choices=["decade"], default=None,
                   help="with --samples: each draw keeps the forced response's mean over each calendar decade "
                   "(weather around the emulated decade; the draws' decadal means no longer spread)")
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)
    p.set_defaults(func=cmd_predict)

    e = sub.add_parser("evaluate", help="the study's protocol (or another split) on the CSE 151B store", **fmt)
    e.add_argument("--data", default=None, help=store_help)
    e.add_argument("--split", default="reference", help="reference, scenario:<ssp> or member:<m>")
    e.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of the CNN-GRU, one row each")
    e.add_argument("--models", nargs="+", default=["linear", "linear-ols", "climatology", "cnn-gru"],
                   choices=["linear", "linear-ols", "climatology", "cnn-gru"],
                   help="rows to fit (linear: ridge pattern scaling, xemu's default; linear-ols: least squares)")
    e.add_argument("--epochs", type=_positive_int, default=None, help="CNN-GRU epochs (default: xemu.fit's)")
    e.add_argument("--device", default=None, help="cpu, cuda or auto (default: auto)")
    e.add_argument("--out", default=None, help="write the table to this netCDF file")
    e.add_argument("--overwrite", action="store_true", help=overwrite_help)
    e.set_defaults(func=cmd_evaluate)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str) -> None:
    print(f"xemu: error: {_one_line(message)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the ``xemu`` command; returns its exit code (see the module documentation)."""
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


def _version() -> str:
    import xemu

    return xemu.__version__


def _run(args) -> int:
    """Run the command of ``args``; an error becomes one line on stderr and its exit code."""
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
