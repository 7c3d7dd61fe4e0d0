"""Where a CNN-GRU fit's time goes, phase by phase, on the CSE 151B store.

Wraps the steps of :func:`xemu.fit` (nothing in the fit changes) and prints the seconds of
each: reading the store into memory, preparing arrays, windows, the baseline's fit, its
prediction and the statistics, the loaders, the network's training (per epoch), and the
model of internal variability.

    python benchmarks/fit_phases.py                       # the reference split, xemu's defaults
    python benchmarks/fit_phases.py --split loso-ssp126   # one leave-one-scenario-out fold
    python benchmarks/fit_phases.py --option epochs=4     # a fit option, as fit(..., epochs=4)
"""

from __future__ import annotations

import argparse
import ast
import time
from contextlib import contextmanager

import xemu
import xemu.emulator as emulator_module
import xemu.recipe as recipe_module
from xemu.evaluation import FORCING_UNITS, FORCINGS, LOSO_FIT_OPTIONS, loso_splits, make_split

WRAPPED = {  # (module, name the fit calls there) -> phase label
    (emulator_module, "prepare"): "prepare arrays",
    (recipe_module, "training_windows"): "windows",
    (emulator_module, "training_statistics"): "statistics (baseline prediction given)",
    (emulator_module, "window_loaders"): "loaders",
    (recipe_module, "train"): "network training",
    (emulator_module, "fit_residual_model"): "internal variability",
}


class Phases:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, label: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0

    def wrap(self, fn, label):
        def wrapped(*args, **kwargs):
            with self.timed(label):
                return fn(*args, **kwargs)

        return wrapped


def parse_options(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CSE 151B folder (default: $XEMU_CSE151B or ../shared/data/cse151b)")
    parser.add_argument("--split", default="reference", help="'reference' or 'loso-<scenario>'")
    parser.add_argument("--option", action="append", default=[], help="fit option KEY=VALUE (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    phases = Phases()
    for (module, name), label in WRAPPED.items():
        setattr(module, name, phases.wrap(getattr(module, name), label))
    baselines = emulator_module.BASELINES
    for kind, cls in list(baselines.items()):
        baselines[kind] = type(cls.__name__, (cls,), {
            "fit": phases.wrap(cls.fit, "baseline fit"),
            "predict_arrays": phases.wrap(cls.predict_arrays, "baseline prediction"),
        })
    epochs = []
    t0 = time.perf_counter()
    with phases.timed("open and read the store"):
        ds = xemu.open_cse151b(args.data).emu.declare_units(**FORCING_UNITS)
        if args.split == "reference":
            split, options = make_split("reference", ds), {"restore_best": False, "patience": None}
        else:
            held = args.split.removeprefix("loso-")
            split = next(s for s in loso_splits(ds) if held in s.name)
            options = {**LOSO_FIT_OPTIONS}
        train = ds.sel(split.train).load()
    options = {**options, **parse_options(args.option)}
    try:
        em = train.emu.fit(FORCINGS, ["tas", "pr"], holdout=split.holdout, seed=args.seed, progress=False,
                           callback=lambda epoch, record: epochs.append(record), **options)
    finally:
        for kind, cls in baselines.items():
            baselines[kind] = cls.__mro__[1]
    total = time.perf_counter() - t0
    fit_seconds = total - phases.seconds["open and read the store"]
    print(f"split: {split.name}; fit options: {options}")
    print(f"{'phase':<42}{'seconds':>9}{'share':>8}")
    for label, sec in phases.seconds.items():
        print(f"{label:<42}{sec:9.1f}{sec / total:8.1%}")
    for r in epochs:
        print(f"  epoch {r['epoch'] + 1}: {r['seconds']:.1f} s (waiting for data {r['data_seconds']:.1f} s), "
              f"train loss {r['train_loss']:.4f}")
    print(f"{'other (checks, record, ...)':<42}{total - sum(phases.seconds.values()):9.1f}")
    print(f"fit seconds (all but reading the store): {fit_seconds:.1f}; with it {total:.1f}; "
          f"{em.n_parameters:,} parameters, {em.meta['n_train_windows']} training windows")


if __name__ == "__main__":
    main()
