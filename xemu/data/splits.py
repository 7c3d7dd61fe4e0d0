"""Train / test splits of an ensemble of climate-model runs
(:func:`~xemu.data.splits.make_split`): the study's reference protocol on the CSE 151B store, a
scenario held out (``"scenario:<name>"``, and each in turn: :func:`~xemu.data.splits.loso_splits`)
or a member held out, as selections on the ensemble's scenario, member and time dims
(:class:`~xemu.data.ensemble.EnsembleLayout`). :func:`xemu.evaluate` trains and scores on them;
the module documentation of :mod:`xemu.evaluation` describes each split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..errors import ConfigError
from .ensemble import EnsembleLayout, ensemble_layout

__all__ = ["Split", "make_split", "loso_splits", "REFERENCE_SCENARIO", "REFERENCE_MONTHS"]

#: The test scenario of the ``"reference"`` and ``"member:<m>"`` splits (the study's).
REFERENCE_SCENARIO = "ssp370"
#: The months the ``"reference"`` and ``"member:<m>"`` splits score: the study's last 120.
REFERENCE_MONTHS = 120


@dataclass
class Split:
    """A train / holdout / test split of the store (selections on its scenario, member and time dims)."""

    name: str
    train: dict
    holdout: dict | None
    test: dict
    noise_member: object
    description: str = ""
    extra: dict = field(default_factory=dict)
    #: the store's scenario dim (the key of ``train`` and ``test``)
    scenario_dim: str = "ssp"
    #: the store's member dim
    member_dim: str = "member_id"
    #: the store's time dim
    time_dim: str = "time"


def make_split(split: str, ds: xr.Dataset, n_test_months: int = REFERENCE_MONTHS, *, years: int = 20,
               targets=("tas", "pr"), scenario_dim: str | None = None, member_dim: str | None = None,
               layout: EnsembleLayout | None = None) -> Split:
    """Build a :class:`Split` from its name (see the module documentation).

    ``n_test_months`` are the months of the ``"reference"`` and ``"member:<m>"`` splits,
    ``years`` the years a held-out scenario is scored over; the scenario and member dims are
    found from the ``targets`` of ``ds`` unless named (or given as ``layout``, from
    :func:`xemu.data.ensemble.ensemble_layout`). Raises :class:`~xemu.ConfigError` for an
    unknown split or scenario, :class:`~xemu.DataError` where the test window does not fit in
    the run.
    """
    if layout is None:
        ds, layout = ensemble_layout(ds, targets, scenario_dim=scenario_dim, member_dim=member_dim)
    kind, _, value = split.partition(":")
    if split == "reference" or (kind == "member" and value):
        return _reference_split(split, value, layout, n_test_months)
    if kind == "scenario" and value:
        return _scenario_split(split, value, layout, years)
    raise ConfigError(f"split: expected 'reference', 'loso', 'scenario:<name>' or 'member:<m>'; got {split!r}")


def _start(layout: EnsembleLayout, n_months: int) -> str:
    """The first month (``"YYYY-MM"``) of the last ``n_months`` of the time axis."""
    return layout.month_label(-n_months)


def _reference_split(split: str, value: str, layout: EnsembleLayout, n_test_months: int) -> Split:
    """``"reference"`` and ``"member:<m>"``: the study's test months of :data:`REFERENCE_SCENARIO`."""
    scen, mem, ssps = layout.scenario, layout.member, layout.scenarios
    if REFERENCE_SCENARIO not in ssps:
        raise ConfigError(f"split: {split!r} tests on the study's scenario {REFERENCE_SCENARIO!r}, which has no targets "
                          f"in the data ({scen}: {', '.join(map(str, ssps))}); use 'loso' or 'scenario:<name>'")
    what = f"the last {n_test_months} months of {REFERENCE_SCENARIO}"
    layout.check_window(REFERENCE_SCENARIO, n_test_months, argument="split", what=what,
                        fix="use 'loso' or 'scenario:<name>' with fewer years")
    t0 = _start(layout, n_test_months)
    names = "/".join(map(str, ssps))
    if split == "reference":
        m = layout.members[0]
        return Split(
            "reference",
            train={scen: ssps},
            holdout={scen: REFERENCE_SCENARIO, mem: m, layout.time: slice(t0, None)},
            test={scen: REFERENCE_SCENARIO, mem: m, layout.time: slice(t0, None)},
            noise_member=m,
            description=f"train {names} members {_span(layout.members)} except {REFERENCE_SCENARIO} member {m} "
            f"from {t0}; validate and test on {REFERENCE_SCENARIO} member {m} from {t0} ({n_test_months} months)",
            scenario_dim=scen, member_dim=mem, time_dim=layout.time,
        )
    m = next((v for v in layout.members if str(v) == value), None)
    if m is None:
        raise ConfigError(f"split: member {value!r} is not in the data; {mem} labels are "
                          f"{', '.join(map(str, layout.members))}")
    others = [v for v in layout.members if v != m]
    return Split(
        split,
        train={scen: ssps, mem: others},
        holdout=None,
        test={scen: REFERENCE_SCENARIO, mem: m, layout.time: slice(t0, None)},
        noise_member=m,
        description=f"train members {others} of {names}; test on {REFERENCE_SCENARIO} member {m} from {t0}",
        scenario_dim=scen, member_dim=mem, time_dim=layout.time,
    )


def _span(members: list) -> str:
    """Member labels as the reference split's description gives them: ``0-2`` for 0, 1, 2."""
    if len(members) > 1 and all(isinstance(v, int) for v in members) and members == list(
            range(members[0], members[-1] + 1)):
        return f"{members[0]}-{members[-1]}"
    return ", ".join(map(str, members))


def _scenario_split(split: str, value: str, layout: EnsembleLayout, years: int) -> Split:
    """``"scenario:<name>"``: train on the other scenarios, test every member of ``<name>`` over its last ``years``."""
    scen, ssps = layout.scenario, layout.scenarios
    held = next((s for s in ssps if str(s) == value), None)
    if held is None:
        raise ConfigError(f"split: expected a scenario with targets among {ssps} in the store; got {value!r}")
    if isinstance(years, bool) or not isinstance(years, int | np.integer) or years < 1:
        raise ConfigError(f"years: expected a positive whole number of years; got {years!r}")
    n = 12 * int(years)
    layout.check_window(held, n, argument="years", what=f"the last {years} years of each held-out scenario",
                        fix="score fewer years (years=, or xemu evaluate --years) or give a longer run")
    with_targets = [s for s in ssps if s != held]
    if not with_targets:
        raise ConfigError(f"split: {split!r} leaves no scenario to train on; the data's {scen} has targets for "
                          f"{held!r} only")
    t1 = _start(layout, n)
    return Split(
        split,
        train={scen: with_targets},
        holdout=None,
        test={scen: held, layout.time: slice(t1, None)},
        noise_member=layout.members[0],
        description=f"train {'/'.join(map(str, with_targets))} (all members, all months); test on every member "
        f"of {held} from {t1} ({n} months; each metric the mean over members)",
        scenario_dim=scen, member_dim=layout.member, time_dim=layout.time,
    )


def loso_splits(ds: xr.Dataset, *, years: int = 20, targets=("tas", "pr"), scenario_dim: str | None = None,
                member_dim: str | None = None, layout: EnsembleLayout | None = None) -> list[Split]:
    """The folds of ``split="loso"``: ``"scenario:<name>"`` for each scenario with targets (arguments as
    :func:`make_split`'s)."""
    if layout is None:
        ds, layout = ensemble_layout(ds, targets, scenario_dim=scenario_dim, member_dim=member_dim)
    return [make_split(f"scenario:{s}", ds, years=years, layout=layout) for s in layout.scenarios]
