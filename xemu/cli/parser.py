"""The command's argparse parser (:func:`~xemu.cli.parser.build_parser`): its options, help texts and usage errors.

The documentation's page of the command is generated from this parser.
"""

from __future__ import annotations

import argparse
import re

from . import commands
from .declare import DEFAULT_DECLARE
from .exit_codes import EXIT_CODES_HELP, EXIT_USAGE

__all__ = ["build_parser"]


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
    """An option's value as a positive integer."""
    value = int(text)  # argparse reports a ValueError as "invalid _positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text}")
    return value


_positive_int.__name__ = "positive integer"


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _device(text: str) -> str:
    """The ``--device`` value, checked for its form (whether it is present:
    :func:`~xemu.cli.commands.check_device`)."""
    if not _DEVICE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:<n>; got {text!r}")
    return text.strip()


_device.__name__ = "device"


def _version() -> str:
    """The installed version of xemu."""
    import xemu

    return xemu.__version__


# -- help texts shared by the commands ------------------------------------------------------
_STORE_HELP = ("the data: a netCDF file, a folder of them (e.g. the CSE 151B store) or a Zarr store; default: the "
               "CSE 151B store ($XEMU_CSE151B or ../shared/data/cse151b)")
_DECLARE_HELP = ("units of variables whose files carry none, as name=units; entries must name variables of the "
                 "data and may not contradict units they carry. Defaults, for variables that exist and have "
                 "no units (and no entry): " + " ".join(f"'{k}={v}'" for k, v in DEFAULT_DECLARE.items())
                 + " (the store's forcings)")
_OVERWRITE_HELP = "replace an existing --out (by default xemu replaces nothing)"
_DEVICE_HELP = "where to {what} (cnn-gru): auto (CUDA when available, else CPU), cpu, cuda or cuda:<n>"
_SELECTION_HELP = ("as name=value: labels separated by commas (ssp=ssp126,ssp370), a date or a date range "
                   "start:end for time (time=2090-02:)")


def _add_debug(parser: argparse.ArgumentParser, default) -> None:
    """``--debug`` on ``parser``."""
    # the subcommands' copy defaults to SUPPRESS so that it does not undo ``xemu --debug fit ...``
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the full traceback of an error instead of one line")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``xemu`` command and its subcommands (each sets ``func``, its command)."""
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
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,fit,predict,evaluate,plot}")
    fmt = {"formatter_class": _MainHelpFormatter, "parents": [common], "epilog": EXIT_CODES_HELP}
    _add_demo(sub, fmt)
    _add_fit(sub, fmt)
    _add_predict(sub, fmt)
    _add_evaluate(sub, fmt)
    _add_plot(sub, fmt)
    return parser


def _add_demo(sub, fmt: dict) -> None:
    """``xemu demo`` and its options."""
    demo = sub.add_parser("demo", help="train on a synthetic climate, print scores, write predictions", **fmt)
    demo.add_argument("--out", default="xemu-demo-output",
                      help="output folder; a rerun replaces the outputs an earlier demo wrote there")
    demo.add_argument("--overwrite", action="store_true",
                      help="also replace predictions.nc, scores.nc or demo.xemu in --out that xemu demo did not write")
    demo.add_argument("--epochs", type=_positive_int, default=6, help="training epochs")
    demo.add_argument("--years", type=_positive_int, default=30,
                      help="years of synthetic climate per scenario and member")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic climate and of training")
    demo.set_defaults(func=commands.cmd_demo)


def _add_fit(sub, fmt: dict) -> None:
    """``xemu fit`` and its options."""
    f = sub.add_parser("fit", help="train an emulator on a store and save it", **fmt)
    f.add_argument("--data", default=None, help=_STORE_HELP)
    f.add_argument("--inputs", nargs="+", default=None,
                   help="input variables (default: CO2 CH4 SO2 BC rsdt; CO2 CH4 SO2 BC for energy-balance)")
    f.add_argument("--targets", nargs="+", default=["tas", "pr"], help="target variables (maps)")
    f.add_argument("--model", default="cnn-gru", choices=["cnn-gru", "linear", "energy-balance", "climatology"],
                   help="what to fit")
    f.add_argument("--baseline", default="auto", choices=["auto", "energy-balance", "linear", "climatology", "none"],
                   help="what the CNN-GRU corrects (auto: energy-balance when the inputs include CO2 and the "
                   "targets tas, else linear; see the user guide's Scenarios never run)")
    f.add_argument("--train-select", nargs="*", help=f"selection of the training data, {_SELECTION_HELP}")
    f.add_argument("--holdout", nargs="*", help=f"validation months within the training data, {_SELECTION_HELP}; "
                   "e.g. ssp=ssp370 member_id=0 time=2090-02:")
    f.add_argument("--declare", nargs="*", default=None, help=_DECLARE_HELP)
    f.add_argument("--epochs", type=_positive_int, default=6, help="training epochs (cnn-gru)")
    f.add_argument("--seed", type=int, default=0, help="training seed (cnn-gru)")
    f.add_argument("--checkpoint", default=None, help="checkpoint file; a rerun resumes from it")
    f.add_argument("--variability", choices=["bootstrap", "parametric", "none"], default="bootstrap",
                   help="residual model of the internal variability learned for predict --samples and "
                   "--variability calibrated: bootstrap (whole training years resampled; the default), parametric "
                   "(EOFs with AR(1) persistence; smaller) or none")
    f.add_argument("--device", type=_device, default="auto", help=_DEVICE_HELP.format(what="train"))
    f.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the processes torchrun started, e.g. torchrun "
                   "--nproc-per-node 8 -m xemu fit ... (cnn-gru); an error when torchrun did not start this "
                   "command. Without it, data-parallel whenever torchrun started it; rank 0 saves --out")
    f.add_argument("--out", required=True, help="where to save the emulator (a folder; a netCDF file for the "
                   "baselines); load it with xemu.load")
    f.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    f.set_defaults(func=commands.cmd_fit)


def _add_predict(sub, fmt: dict) -> None:
    """``xemu predict`` and its options."""
    p = sub.add_parser("predict", help="predict with a saved emulator and write netCDF", **fmt)
    p.add_argument("emulator", help="folder written by xemu fit or Emulator.save (or a baseline's netCDF file)")
    p.add_argument("--data", default=None, help=_STORE_HELP)
    p.add_argument("--select", nargs="*", help=f"selection to predict, {_SELECTION_HELP}; e.g. ssp=ssp245")
    p.add_argument("--declare", nargs="*", default=None, help=_DECLARE_HELP)
    p.add_argument("--out", required=True, help="netCDF file for the predictions (compressed, lossless)")
    p.add_argument("--device", type=_device, default="auto", help=_DEVICE_HELP.format(what="run the network"))
    p.add_argument("--variability", choices=["forced", "calibrated"], default="forced",
                   help="forced: the forced response (default); calibrated: with the month-to-month variability "
                   "learned from the training residuals")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="N stochastic realizations on a 'realization' dim (forced response plus internal variability)")
    p.add_argument("--seed", type=int, default=None, help="seed of --samples (the same seed, the same samples)")
    p.add_argument("--anchor", choices=["decade"], default=None,
                   help="with --samples: each draw keeps the forced response's mean over each calendar decade "
                   "(weather around the emulated decade; the draws' decadal means no longer spread)")
    p.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    p.set_defaults(func=commands.cmd_predict)


def _add_evaluate(sub, fmt: dict) -> None:
    """``xemu evaluate`` and its options."""
    e = sub.add_parser("evaluate", help="the study's protocol (or another split) on the CSE 151B store or any "
                       "ensemble of climate-model runs", **fmt)
    e.add_argument("--data", default=None,
                   help="the store: a netCDF file, a folder of them or a Zarr store, with forcings and target maps "
                   "on a scenario and a member dim (found by name: experiment_id, scenario, ssp, ...; variant_label, "
                   "member_id, member, realization, ...); default: the CSE 151B store ($XEMU_CSE151B or "
                   "../shared/data/cse151b)")
    e.add_argument("--split", default="reference",
                   help="reference (the study's, on the CSE 151B store), loso (each scenario held out in turn), "
                   "scenario:<name> or member:<m>")
    e.add_argument("--scenario-dim", default=None, help="the dim holding the scenarios (default: found from the data)")
    e.add_argument("--member-dim", default=None, help="the dim holding the ensemble members (default: found from "
                   "the data; none: a single run)")
    e.add_argument("--years", type=_positive_int, default=20,
                   help="a held-out scenario (loso, scenario:<name>) is scored over its last YEARS years")
    e.add_argument("--inputs", nargs="+", default=None, help="the CNN-GRU's inputs (default: CO2 CH4 SO2 BC rsdt)")
    e.add_argument("--targets", nargs="+", default=None, help="target maps (default: tas pr)")
    e.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of the CNN-GRU, one row each")
    e.add_argument("--models", nargs="+", default=None,
                   choices=["linear", "linear-ols", "linear-co2", "energy-balance", "climatology", "oracle", "cnn-gru"],
                   help="rows to fit (linear: ridge pattern scaling; linear-ols: least squares; linear-co2: ridge "
                   "on CO2 alone; energy-balance: patterns on an energy-balance model's global mean; oracle, with a "
                   "scenario held out: patterns on its true global mean, a bound, not an emulator); default "
                   "linear linear-ols energy-balance climatology cnn-gru, and for loso linear-co2 linear "
                   "energy-balance oracle cnn-gru")
    e.add_argument("--baseline", default=None, choices=["auto", "energy-balance", "linear", "climatology"],
                   help="what the CNN-GRU corrects (default: xemu.fit's, auto: energy-balance on the store)")
    e.add_argument("--epochs", type=_positive_int, default=None, help="CNN-GRU epochs (default: xemu.fit's)")
    e.add_argument("--device", default=None, help="cpu, cuda or auto (default: auto)")
    e.add_argument("--out", default=None, help="write the table to this netCDF file")
    e.add_argument("--plot", default=None, metavar="FIGURE",
                   help="also draw the table's charts (as xemu plot does): the score chart at this path (.png, "
                   ".svg, .pdf, ...), the six metrics beside it as <stem>-metrics<suffix>; for loso, the "
                   "held-out scenarios' chart")
    e.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out and --plot's figures (by default xemu replaces nothing)")
    e.set_defaults(func=commands.cmd_evaluate)


def _add_plot(sub, fmt: dict) -> None:
    """``xemu plot`` and its options."""
    p = sub.add_parser("plot", help="draw the charts of a saved evaluation table (xemu evaluate --out)", **fmt)
    p.add_argument("table", help="a netCDF table written by xemu evaluate --out")
    p.add_argument("--out", required=True, metavar="FIGURE",
                   help="the figure to write (.png, .svg, .pdf, ...): the score chart, with the six metrics "
                   "beside it as <stem>-metrics<suffix>; for a loso table, the held-out scenarios' chart")
    p.add_argument("--overwrite", action="store_true", help="replace existing figures")
    p.set_defaults(func=commands.cmd_plot)
