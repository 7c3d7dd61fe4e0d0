"""The commands: ``xemu demo``, ``fit``, ``predict``, ``evaluate`` and ``plot``; each takes the parsed
arguments and returns the exit code (:func:`~xemu.cli.app.main` turns errors into codes)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .declare import with_declared_units
from .exit_codes import EXIT_OK
from .paths import (
    DEMO_MARK,
    check_exists,
    check_netcdf,
    check_out,
    demo_outputs,
    load_emulator,
    open_data,
)
from .selection import format_labels, select

__all__ = ["cmd_demo", "cmd_fit", "cmd_predict", "cmd_evaluate", "cmd_plot", "check_device", "parse_split",
           "check_split", "figure_paths", "write_figures"]


def check_device(device: str) -> None:
    """Raise :class:`~xemu.ConfigError` naming ``--device`` when the device is not on this machine."""
    from xemu.errors import ConfigError
    from xemu.nn.device import choose_device

    try:
        choose_device(device)
    except ConfigError as err:
        raise ConfigError(f"--device: {str(err).removeprefix('device: ')}") from None


# -- demo -----------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    """``xemu demo``: train on a synthetic climate, print the scores, write the outputs."""
    import xemu
    from xemu.evaluation import format_table

    t0 = time.perf_counter()
    out = demo_outputs(args.out, args.overwrite)
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
    pred, table = _demo_scores(ds, em, inputs, targets, holdout)
    print("\nscores on the holdout (scenario 'mid', member 0, last 36 months; units K and mm/day):")
    print(format_table(table))
    # a rerun replaces what an earlier demo wrote (checked above), anything else only with --overwrite
    _write_demo(out, pred, table, em)
    print(f"\nwrote {out / 'predictions.nc'}, {out / 'scores.nc'} and the emulator {out / 'demo.xemu'} "
          f"in {time.perf_counter() - t0:.0f} s")
    return EXIT_OK


def _demo_scores(ds, em, inputs: list[str], targets: list[str], holdout: dict):
    """The demo's CNN-GRU prediction of scenario 'mid' and its table of scores on the holdout:
    the CNN-GRU, the baselines, the true forced response and the noise floor."""
    import xarray as xr

    import xemu

    lin = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], targets, model="linear", holdout=holdout)
    eb = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], targets, model="energy-balance", holdout=holdout)
    clim = ds.emu.fit(inputs, targets, model="climatology", holdout=holdout)
    test = {"scenario": "mid", "member": 0, "time": holdout["time"]}
    truth = ds[targets].sel(test)
    forcing = ds.drop_vars(targets + ["tas_forced", "pr_forced"]).sel(scenario=["mid"])
    pred = em.predict(forcing)
    rows = {"xemu CNN-GRU": pred, "energy-balance pattern scaling": eb.predict(forcing),
            "linear pattern scaling": lin.predict(forcing),
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
    return pred, xr.concat(scores, dim=xr.DataArray(labels, dims="model", name="model"))


def _write_demo(out, pred, table, em) -> None:
    """Write the demo's outputs into ``out``, the netCDF files marked as the demo's."""
    from xemu.io import write_netcdf

    pred = pred.assign_attrs(xemu_written_by=DEMO_MARK)
    table = table.assign_attrs(xemu_written_by=DEMO_MARK)
    write_netcdf(pred, out / "predictions.nc", overwrite=True, argument="--out")
    write_netcdf(table, out / "scores.nc", overwrite=True, argument="--out")
    em.save(out / "demo.xemu", overwrite=True)


# -- fit and predict ------------------------------------------------------------------------
def cmd_fit(args) -> int:
    """``xemu fit``: train an emulator (or a baseline) on a store and save it."""
    from xemu.baselines import BASELINES

    with open_data(args.data) as opened:  # closed when done: no file handle outlives the command
        ds = with_declared_units(opened, args.declare)
        if args.train_select:
            ds = ds.sel(select(ds, args.train_select, "--train-select"))
        what = "the training data (after --train-select)" if args.train_select else "the data"
        holdout = select(ds, args.holdout, "--holdout", what) or None
        check_out(args.out, args.overwrite, kind="baseline" if args.model in BASELINES else "emulator")
        if args.model == "cnn-gru":
            check_device(args.device)
        opts = {"epochs": args.epochs, "seed": args.seed, "progress": not args.quiet, "device": args.device,
                "distributed": True if args.distributed else None}
        variability = {"none": False}.get(args.variability, args.variability)
        inputs = args.inputs or (["CO2", "CH4", "SO2", "BC"] if args.model == "energy-balance"
                                 else ["CO2", "CH4", "SO2", "BC", "rsdt"])
        if args.model == "cnn-gru":
            opts.update(checkpoint=args.checkpoint, baseline=None if args.baseline == "none" else args.baseline)
        em = ds.emu.fit(inputs, args.targets, model=args.model, holdout=holdout, variability=variability,
                        **(opts if args.model == "cnn-gru" else {}))
    from xemu.nn.distributed import is_main_process

    if not is_main_process():  # under torchrun every rank holds the same emulator: rank 0 saves it
        return EXIT_OK
    path = em.save(args.out, overwrite=args.overwrite)
    print(f"{em!r}\nsaved to {path}")
    return EXIT_OK


def cmd_predict(args) -> int:
    """``xemu predict``: predict with a saved emulator and write netCDF."""
    from xemu.emulator import Emulator
    from xemu.io import write_netcdf

    em = load_emulator(args.emulator)
    network = isinstance(em, Emulator)  # the baselines run on numpy: no device
    if network:
        check_device(args.device)
    with open_data(args.data) as opened:
        ds = with_declared_units(opened, args.declare)
        if args.select:
            ds = ds.sel(select(ds, args.select, "--select"))
        check_out(args.out, args.overwrite)
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


# -- evaluate -------------------------------------------------------------------------------
_SPLIT = re.compile(r"reference|loso|scenario:(?P<ssp>\S+)|member:(?P<member>\S+)")


def parse_split(split: str) -> re.Match:
    """``--split`` checked for its form: ``reference``, ``loso``, ``scenario:<name>`` or ``member:<m>``."""
    from xemu.errors import ConfigError

    m = _SPLIT.fullmatch(split)
    if m is None:
        raise ConfigError(f"--split: expected reference, loso, scenario:<name> or member:<m>; got {split!r}")
    return m


def check_split(ds, split: str, scenario_dim: str | None = None, member_dim: str | None = None,
                targets=("tas", "pr")) -> None:
    """``--split``, ``--scenario-dim`` and ``--member-dim`` checked against the store: the dims exist (or
    are found), and the split's scenario or member is there."""
    from xemu.data.coords import find_ensemble_dim
    from xemu.errors import DataError

    m = parse_split(split)
    missing = [t for t in targets if t not in ds.data_vars]
    if missing:
        raise DataError(f"--targets: {missing} not in --data; its variables are {list(map(str, ds.data_vars))}")
    found = ds[list(targets)]
    scen = find_ensemble_dim(found, "scenario", given=scenario_dim, argument="--scenario-dim", name="the targets")
    mem = find_ensemble_dim(found, "member", given=member_dim, argument="--member-dim", name="the targets",
                            required=False)
    if m["ssp"] is not None and m["ssp"] not in [str(v) for v in ds[scen].values.tolist()]:
        raise DataError(f"--split: scenario {m['ssp']!r} is not in the data; {scen} labels are "
                        f"{format_labels(ds[scen].values.tolist())}")
    labels = ds[mem].values.tolist() if mem is not None else [0]
    if m["member"] is not None and m["member"] not in [str(v) for v in labels]:
        raise DataError(f"--split: member {m['member']} is not in the data; {mem or 'member'} labels are "
                        f"{format_labels(labels)}")


def cmd_evaluate(args) -> int:
    """``xemu evaluate``: the study's protocol (or another split) on the CSE 151B store or any
    ensemble of climate-model runs; prints the table."""
    from xemu.evaluation import evaluate, format_table
    from xemu.io import write_netcdf

    if args.out:
        check_out(args.out, args.overwrite)
    parse_split(args.split)
    if args.plot:  # before the fits: a bad --plot must not wait for them
        figure_paths(args.plot, _chart_names(args.split == "loso"), args.overwrite, option="--plot")
    targets = tuple(args.targets or ("tas", "pr"))
    with open_data(args.data) as ds:
        check_split(ds, args.split, args.scenario_dim, args.member_dim, targets)
        fit_options = {"epochs": args.epochs} if args.epochs else {}
        if args.device:
            fit_options["device"] = args.device
        if args.baseline:
            fit_options["baseline"] = args.baseline
        table = evaluate(ds, split=args.split, seeds=tuple(args.seeds), fit_options=fit_options,
                         models=tuple(args.models) if args.models else None, inputs=args.inputs, targets=targets,
                         scenario_dim=args.scenario_dim, member_dim=args.member_dim, years=args.years).load()
    print()
    print(format_table(table, targets))
    for key, value in table.attrs.items():
        if key != "split_description":
            print(f"{key}: {value}")
    if args.out:
        write_netcdf(table, args.out, overwrite=args.overwrite, argument="--out")
        print(f"wrote {args.out}")
    if args.plot:
        write_figures(table, args.plot, args.overwrite, option="--plot")
    return EXIT_OK


# -- plot -----------------------------------------------------------------------------------
def _chart_names(loso: bool) -> list[str]:
    """The charts :func:`xemu.plot.table_figures` may draw of a table (of the ``loso`` split, or
    another), for checking their files before any work."""
    return ["scenarios"] if loso else ["score", "metrics"]


def figure_paths(path, names: list[str], overwrite: bool, *, option: str = "--out") -> dict[str, Path]:
    """Where the charts ``names`` of a table go: the first at ``path``, each other one beside it as
    ``<stem>-<name><suffix>``; checked before any work (matplotlib installed, a format matplotlib
    writes, no file replaced without ``--overwrite``)."""
    from xemu.errors import ConfigError

    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(f'{option}: drawing needs matplotlib, which is not installed: pip install "xemu[plot]"') \
            from None
    path = Path(path)
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise ConfigError(f"{option}: expected a file name ending in one of "
                          f"{', '.join('.' + f for f in sorted(formats))}; got {str(path)!r}")
    paths = {name: path if i == 0 else path.with_name(f"{path.stem}-{name}{path.suffix}")
             for i, name in enumerate(names)}
    for p in paths.values():
        check_out(p, overwrite)
    return paths


def write_figures(table, path, overwrite: bool, *, option: str = "--out") -> list[Path]:
    """Draw the charts of an evaluation table (:func:`xemu.plot.table_figures`) and write them,
    the first at ``path`` and the others beside it (:func:`figure_paths`)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no window
    import matplotlib.pyplot as plt

    from xemu.plot import table_figures

    figures = table_figures(table)
    written = []
    for name, target in figure_paths(path, list(figures), overwrite, option=option).items():
        figures[name].savefig(target, dpi=150)
        plt.close(figures[name])
        print(f"wrote {target} ({name} chart)")
        written.append(target)
    return written


def cmd_plot(args) -> int:
    """``xemu plot``: the charts of a saved evaluation table (``xemu evaluate --out``)."""
    import xarray as xr

    from xemu.errors import DataError

    table_path = check_exists(args.table, "table")
    check_netcdf(table_path, "table")
    with xr.open_dataset(table_path) as opened:
        table = opened.load()
    if "model" not in table.dims or "competition_score" not in table:
        raise DataError(f"table: expected an evaluation table (xemu evaluate --out: dim 'model', variable "
                        f"'competition_score'); got dims ({', '.join(map(str, table.dims))}) and variables "
                        f"{sorted(map(str, table.data_vars))} in {str(table_path)!r}")
    figure_paths(args.out, _chart_names("fold" in table.dims), args.overwrite)
    write_figures(table, args.out, args.overwrite)
    return EXIT_OK
