"""How an ensemble of climate-model runs is laid out: its scenario and member dims, which
scenarios have targets, and whether a scored window fits in each run
(:func:`~xemu.data.ensemble.ensemble_layout`).

A store may name its dims as CMIP6 tools do (``experiment_id``, ``variant_label``), as the
CSE 151B store does (``ssp``, ``member_id``) or otherwise; any calendar and grid. The dims are
found by :func:`xemu.data.coords.find_ensemble_dim` or named by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import CoordinateError, DataError
from .coords import find_dim, find_ensemble_dim

__all__ = ["EnsembleLayout", "ensemble_layout", "SINGLE_MEMBER_DIM"]

#: The dim given to targets without a member dim (a single run): one member, labelled 0.
SINGLE_MEMBER_DIM = "member"


@dataclass(frozen=True)
class EnsembleLayout:
    """The layout of an ensemble's targets (see :func:`ensemble_layout`)."""

    #: the scenario dim
    scenario: str
    #: the member dim (:data:`SINGLE_MEMBER_DIM` where the data had none)
    member: str
    #: the time dim
    time: str
    #: the scenarios whose targets hold data, in the data's order
    scenarios: list
    #: the member labels
    members: list
    #: ``(scenario, time)``: True in the months where any target value of the scenario is finite
    months: xr.DataArray
    #: True where the data had no member dim and :func:`ensemble_layout` added one of length one
    added_member: bool = False

    def month_label(self, i: int) -> str:
        """The month at position ``i`` of the time axis as ``"YYYY-MM"``."""
        t = self.months.indexes[self.time][i]
        return f"{t.year:04d}-{t.month:02d}"

    def check_window(self, scenario, n_months: int, *, argument: str, what: str, fix: str) -> None:
        """Raise :class:`~xemu.DataError` naming ``argument`` unless ``scenario`` has targets in
        each of the last ``n_months`` months of the time axis; ``what`` says what the window is and
        ``fix`` what the caller can do, for the message."""
        have = self.months.sel({self.scenario: scenario}).values
        n_time = have.size
        inside = int(have[-n_months:].sum()) if n_months <= n_time else int(have.sum())
        if n_months <= n_time and inside == n_months:
            return
        rows = np.flatnonzero(have)
        runs = (f"in {rows.size} months ({self.month_label(rows[0])} .. {self.month_label(rows[-1])})"
                if rows.size else "in no month")
        window = (f"{self.month_label(-n_months)} .. {self.month_label(-1)}" if n_months <= n_time else
                  f"longer than the data's {self.time}, {n_time} months from {self.month_label(0)}")
        raise DataError(
            f"{argument}: the scored window is {what}, {n_months} months ({window}); {self.scenario} "
            f"{scenario!r} has targets {runs}, {inside} of them in the window; expected targets in every month "
            f"of the window: {fix}")


def ensemble_layout(ds: xr.Dataset, targets, *, scenario_dim: str | None = None,
                    member_dim: str | None = None) -> tuple[xr.Dataset, EnsembleLayout]:
    """The scenario, member and time dims of the targets of ``ds``, checked, and which months
    of which scenario have targets.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcings and targets of several scenarios.
    targets : sequence of str
        The target maps: each on the scenario, member (optional), time, latitude and
        longitude dims, in any order, and on no other dim.
    scenario_dim, member_dim : str, optional
        The dims holding the scenarios and the members; found from the data by default
        (:func:`xemu.data.coords.find_ensemble_dim`: the CF standard name ``realization``, the
        names CMIP6 tools use, ``ssp`` / ``member_id``, ``scenario`` / ``member``).

    Returns
    -------
    (xarray.Dataset, EnsembleLayout)
        ``ds`` (its targets with a member dim :data:`SINGLE_MEMBER_DIM` of length one added
        where they had none) and its layout.

    Raises
    ------
    DataError
        A target is missing, or has no data in any scenario.
    CoordinateError
        No scenario dim; a dim named that the data lack; a target with other dims.

    Examples
    --------
    >>> import xemu
    >>> from xemu.data.ensemble import ensemble_layout
    >>> ds = xemu.synthetic_climate(n_years=1, n_lat=4, n_lon=6, n_members=1)
    >>> ds = ds.rename(scenario="experiment_id").isel(member=0, drop=True)
    >>> ds, layout = ensemble_layout(ds, ["tas"])
    >>> layout.scenario, layout.member, layout.scenarios, layout.added_member
    ('experiment_id', 'member', ['low', 'mid', 'high'], True)
    """
    targets = list(targets)
    missing = [t for t in targets if t not in ds.data_vars]
    if missing:
        raise DataError(f"targets: {missing} not in the data; its variables are {list(map(str, ds.data_vars))}")
    scenario = find_ensemble_dim(ds[targets], "scenario", given=scenario_dim, name="the targets")
    member = find_ensemble_dim(ds[targets], "member", given=member_dim, name="the targets", required=False)
    if member == scenario:
        raise CoordinateError(f"member_dim: {member!r} is the scenario dim too; expected two different dims")
    added = member is None
    if added:
        member = SINGLE_MEMBER_DIM
        ds = ds.assign({t: ds[t].expand_dims({member: [0]}) for t in targets})
    time = _check_target_dims(ds, targets, scenario, member)
    first = ds[targets[0]]
    spatial = [d for d in first.dims if d not in (scenario, member, time)]
    months = first.notnull().any([member, *spatial]).compute()
    has = months.any(time).values
    if not has.any():
        raise DataError(f"targets: {targets[0]!r} holds no finite value in any {scenario}")
    labels = ds[scenario].values.tolist() if scenario in ds.coords else list(range(ds.sizes[scenario]))
    members = ds[member].values.tolist() if member in ds.coords else list(range(ds.sizes[member]))
    layout = EnsembleLayout(scenario, member, time, [s for s, h in zip(labels, has, strict=True) if h], members,
                            months.transpose(scenario, time), added)
    return ds, layout


def _check_target_dims(ds: xr.Dataset, targets: list[str], scenario: str, member: str) -> str:
    """The time dim of the targets, after checking that each is a map on the scenario, member and
    time dims and no other; :class:`~xemu.CoordinateError` naming the target otherwise."""
    time = None
    for t in targets:
        da = ds[t]
        name = f"targets[{t!r}]"
        time = find_dim(da, "time", name=name)
        lat, lon = find_dim(da, "latitude", name=name), find_dim(da, "longitude", name=name)
        expected = (scenario, member, time, lat, lon)
        other = [str(d) for d in da.dims if d not in expected]
        absent = [d for d in expected[:2] if d not in da.dims]
        if other or absent:
            raise CoordinateError(
                f"{name}: expected the dims ({', '.join(expected)}) in any order; got ({', '.join(map(str, da.dims))})"
                + (f": {', '.join(absent)} missing" if absent else "")
                + (f": {', '.join(other)} not expected (select or average them away, or name the scenario and "
                   f"member dims with scenario_dim= and member_dim=)" if other else ""))
    return time
