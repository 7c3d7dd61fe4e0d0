"""The ``xemu`` command: ``demo``, ``fit``, ``predict``, ``evaluate``.

Examples
--------
xemu demo                                   # synthetic climate: train, score, write predictions
xemu evaluate --seeds 0 1 2                 # the study's protocol on the CSE 151B store
xemu fit --data ../shared/data/cse151b --train-select ssp=ssp126,ssp370,ssp585 \\
    --holdout ssp=ssp370 member_id=0 time=2090-02: --out cesm2.xemu
xemu predict cesm2.xemu --data ../shared/data/cse151b --select ssp=ssp245 --out ssp245.nc
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _parse_selection(items: list[str] | None) -> dict:
    """``["ssp=ssp126,ssp370", "member_id=0", "time=2090-02:"]`` to an xarray selection."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"xemu: selection {item!r}: expected name=value")
        if ":" in value and key == "time":
            a, _, b = value.partition(":")
            out[key] = slice(a or None, b or None)
            continue
        parts = [_number(v) for v in value.split(",")]
        out[key] = parts if len(parts) > 1 else parts[0]
    return out


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _write_netcdf(ds, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    ds.to_netcdf(tmp)
    os.replace(tmp, path)
    return path


def cmd_demo(args) -> int:
    import xarray as xr

    import xemu
    from xemu.evaluate import format_table

    t0 = time.perf_counter()
    ds = xemu.synthetic_climate(n_years=args.years, n_lat=24, n_lon=36, seed=args.seed)
    holdout = {"scenario": "mid", "member": 0, "time": slice(f"{2015 + args.years - 3}-01", None)}
    inputs, targets = ["CO2", "CH4", "SO2", "BC", "rsdt"], ["tas", "pr"]
    print(f"xemu {xemu.__version__} demo: synthetic climate, {ds.sizes['scenario']} scenarios x "
          f"{ds.sizes['member']} members x {ds.sizes['time']} months on a 24 x 36 grid; holdout {holdout}")
    em = ds.emu.fit(inputs, targets, holdout=holdout, epochs=args.epochs, seed=args.seed,
                    windows_per_epoch=600, progress=not args.quiet)
    print(f"trained {em.n_parameters:,} parameters in {em.meta['train_seconds']:.1f} s "
          f"(best epoch {em.meta['best_epoch'] + 1} of {len(em.history)})")
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
    out = Path(args.out)
    _write_netcdf(pred, out / "predictions.nc")
    _write_netcdf(table, out / "scores.nc")
    em.save(out / "demo.xemu")
    print(f"\nwrote {out / 'predictions.nc'}, {out / 'scores.nc'} and the emulator {out / 'demo.xemu'} "
          f"in {time.perf_counter() - t0:.0f} s")
    return 0


def _open(path, declare: list[str] | None):
    """Open a CSE 151B folder or a netCDF file; declare units where the variables have none."""
    import xarray as xr

    import xemu
    from xemu.units import units_of

    ds = xemu.open_cse151b(path) if path is None or Path(path).is_dir() else xr.open_dataset(path)
    units = dict(d.split("=", 1) for d in declare or [])
    units = {k: v for k, v in units.items() if k in ds and units_of(ds[k]) is None}
    return ds.emu.declare_units(**units) if units else ds


def cmd_fit(args) -> int:
    ds = _open(args.data, args.declare)
    ds = ds.sel(_parse_selection(args.train_select)) if args.train_select else ds
    opts = {"epochs": args.epochs, "seed": args.seed, "progress": not args.quiet}
    em = ds.emu.fit(args.inputs, args.targets, model=args.model, holdout=_parse_selection(args.holdout) or None,
                    **({} if args.model != "cnn-gru" else {**opts, "checkpoint": args.checkpoint}))
    path = em.save(args.out)
    print(f"{em!r}\nsaved to {path}")
    return 0


def cmd_predict(args) -> int:
    import xemu

    em = xemu.load(args.emulator)
    ds = _open(args.data, args.declare)
    if args.select:
        ds = ds.sel(_parse_selection(args.select))
    pred = em.predict(ds.drop_vars([t for t in em.targets if t in ds]))
    _write_netcdf(pred, args.out)
    print(f"wrote {args.out}: {', '.join(f'{k} {tuple(v.dims)}' for k, v in pred.data_vars.items())}")
    return 0


def cmd_evaluate(args) -> int:
    import xemu
    from xemu.evaluate import evaluate, format_table

    ds = xemu.open_cse151b(args.data)
    fit_options = {"epochs": args.epochs} if args.epochs else {}
    if args.device:
        fit_options["device"] = args.device
    table = evaluate(ds, split=args.split, seeds=tuple(args.seeds), fit_options=fit_options,
                     models=tuple(args.models))
    print()
    print(format_table(table))
    for key, value in table.attrs.items():
        if key != "split_description":
            print(f"{key}: {value}")
    if args.out:
        _write_netcdf(table, args.out)
        print(f"wrote {args.out}")
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where there is none to show (None, flags)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xemu", description="xarray-native climate emulation")
    sub = parser.add_subparsers(dest="command", required=True)

    fmt = {"formatter_class": _HelpFormatter}
    store_help = "the CSE 151B folder (or one of its netCDF files); default: $XEMU_CSE151B or ../shared/data/cse151b"
    declare_default = ["CO2=Gt", "CH4=Gt yr-1", "SO2=kg m-2 s-1", "BC=kg m-2 s-1"]
    declare_help = "units of variables whose files carry none, as name=units (the store's forcings)"

    demo = sub.add_parser("demo", help="train on a synthetic climate, print scores, write predictions", **fmt)
    demo.add_argument("--out", default="xemu-demo-output", help="output folder")
    demo.add_argument("--epochs", type=int, default=6, help="training epochs")
    demo.add_argument("--years", type=int, default=30, help="years of synthetic climate per scenario and member")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic climate and of training")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)

    f = sub.add_parser("fit", help="train an emulator on a store and save it", **fmt)
    f.add_argument("--data", default=None, help=store_help)
    f.add_argument("--inputs", nargs="+", default=["CO2", "CH4", "SO2", "BC", "rsdt"], help="input variables")
    f.add_argument("--targets", nargs="+", default=["tas", "pr"], help="target variables (maps)")
    f.add_argument("--model", default="cnn-gru", choices=["cnn-gru", "linear", "climatology"], help="what to fit")
    f.add_argument("--train-select", nargs="*", help="selection of the training data, e.g. ssp=ssp126,ssp370")
    f.add_argument("--holdout", nargs="*", help="validation months, e.g. ssp=ssp370 member_id=0 time=2090-02:")
    f.add_argument("--declare", nargs="*", default=declare_default, help=declare_help)
    f.add_argument("--epochs", type=int, default=6, help="training epochs (cnn-gru)")
    f.add_argument("--seed", type=int, default=0, help="training seed (cnn-gru)")
    f.add_argument("--checkpoint", default=None, help="checkpoint file; a rerun resumes from it")
    f.add_argument("--out", required=True, help="folder to save the emulator in (load it with xemu.load)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="predict with a saved emulator and write netCDF", **fmt)
    p.add_argument("emulator", help="folder written by xemu fit or Emulator.save")
    p.add_argument("--data", default=None, help=store_help)
    p.add_argument("--select", nargs="*", help="selection to predict, e.g. ssp=ssp245")
    p.add_argument("--declare", nargs="*", default=declare_default, help=declare_help)
    p.add_argument("--out", required=True, help="netCDF file for the predictions")
    p.set_defaults(func=cmd_predict)

    e = sub.add_parser("evaluate", help="the study's protocol (or another split) on the CSE 151B store", **fmt)
    e.add_argument("--data", default=None, help=store_help)
    e.add_argument("--split", default="reference", help="reference, scenario:<ssp> or member:<m>")
    e.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of the CNN-GRU, one row each")
    e.add_argument("--models", nargs="+", default=["linear", "climatology", "cnn-gru"], help="rows to fit")
    e.add_argument("--epochs", type=int, default=None, help="CNN-GRU epochs (default: xemu.fit's)")
    e.add_argument("--device", default=None, help="cpu, cuda or auto (default: auto)")
    e.add_argument("--out", default=None, help="write the table to this netCDF file")
    e.set_defaults(func=cmd_evaluate)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as err:
        from xemu.errors import XemuError

        if isinstance(err, XemuError):
            print(f"xemu: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
