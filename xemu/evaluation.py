"""Evaluation on real data: the study's reference protocol and stricter splits, on any store.

:func:`evaluate` trains the baselines and the CNN-GRU on a split of an ensemble of
climate-model runs (the CSE 151B store, or any store with a scenario and a member dim: see
:func:`xemu.data.ensemble.ensemble_layout`), scores them on its test months beside the
ensemble noise floor (and, for the reference protocol, the study's published numbers) and
returns one table as an :class:`xarray.Dataset` (rows ``model``; one variable per target on
``(model, metric)``, its CRPS and the competition score). :func:`format_table` prints it.
``xemu evaluate`` is the command.

Splits (``split=``); "the scenarios" are those whose targets hold data (in the CSE 151B store
ssp126, ssp370 and ssp585: ssp245 has forcings only):

``"reference"``
    The study's, on the CSE 151B store: train ssp126, ssp370, ssp585, members 0-2, all months
    except ssp370 member 0's last 120; validate (and test) on those 120 months (2090-02 ..
    2100-01). It needs a scenario ``ssp370``
    (:data:`~xemu.data.splits.REFERENCE_SCENARIO`); its member is the first member.
``"scenario:<name>"``
    Train on the other scenarios (all members, all months); test on every member of
    ``<name>`` over its last ``years`` years (by default 20: 2080-02 .. 2100-01 in the CSE
    151B store), each metric the mean over members. Nothing of the test scenario is seen.
``"loso"``
    Leave one scenario out: ``"scenario:<name>"`` for each scenario in turn; one table per
    fold on ``fold`` and their mean (``fold="mean"``).
``"member:<m>"``
    Train on every member but ``<m>`` of the scenarios; test on ssp370 member ``<m>`` over
    its last 120 months.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from .data.ensemble import EnsembleLayout, ensemble_layout
from .data.splits import Split, loso_splits, make_split
from .errors import ConfigError
from .metrics.deterministic import METRICS, noise_floor, score

__all__ = ["PUBLISHED", "Split", "make_split", "loso_splits", "evaluate", "format_table", "FORCINGS",
           "FORCING_UNITS", "BASELINE_ROWS", "LOSO_MODELS", "LOSO_FIT_OPTIONS", "TRAIN_SSPS", "ORACLE_LABEL",
           "PUBLISHED_PROTOCOL", "DEFAULT_MODELS"]

#: The study's published numbers on the reference validation window (data README).
PUBLISHED = {
    "study first model (published)": {"tas": (1.943, 1.085, 0.391), "pr": (2.089, 0.349, 0.836)},
    "study CNN-GRU, 352,878,672 params (published)": {"tas": (1.142, 0.249, 0.197), "pr": (1.997, 0.256, 0.662)},
}
#: The protocol of :data:`PUBLISHED`, in the form of a table's ``protocol`` attribute: a table whose
#: ``protocol`` differs (a coarsened store, another split) is not comparable with them
#: (:mod:`xemu.plot.scores` draws them only beside a table of this protocol).
PUBLISHED_PROTOCOL = "reference split, 48 x 72 grid, test 2090-02 .. 2100-01 (120 months)"
#: The store's forcings and the units its documentation gives them (the files carry none).
FORCING_UNITS = {"CO2": "Gt", "CH4": "Gt yr-1", "SO2": "kg m-2 s-1", "BC": "kg m-2 s-1"}
#: The CNN-GRU's inputs in every split: the store's four forcings and incoming solar radiation.
FORCINGS = ["CO2", "CH4", "SO2", "BC", "rsdt"]
#: Baseline rows of the table: name -> (label, model, fit options).
BASELINE_ROWS = {
    "linear": ("linear pattern scaling, ridge (xemu)", "linear", {}),
    "linear-ols": ("linear pattern scaling, least squares (xemu)", "linear", {"alpha": 0}),
    "linear-co2": ("linear pattern scaling on CO2 only, ridge (xemu)", "linear", {}),
    "energy-balance": ("energy-balance pattern scaling (xemu)", "energy-balance", {}),
    "climatology": ("climatology (xemu)", "climatology", {}),
}
#: The label of the ``"oracle"`` row (scenario splits only): not an emulator, a bound.
ORACLE_LABEL = "oracle: pattern scaling on the true global mean (not an emulator)"
#: Rows of ``split="loso"`` by default.
LOSO_MODELS = ("linear-co2", "linear", "energy-balance", "oracle", "cnn-gru")
#: CNN-GRU options of ``split="loso"`` unless ``fit_options`` sets them: every other window
#: start (the 12-month windows overlap by 10 months), which keeps each fold's training within
#: 10 minutes on a 2-core CPU; a time budget, not a choice made on any score.
LOSO_FIT_OPTIONS = {"stride": 2}
#: The CSE 151B store's scenarios with targets: trained on, and held out in turn by ``"loso"``
#: (in another store, the scenarios whose targets hold data).
TRAIN_SSPS = ["ssp126", "ssp370", "ssp585"]
#: Rows of the other splits by default.
DEFAULT_MODELS = ("linear", "linear-ols", "energy-balance", "climatology", "cnn-gru")


def evaluate(
    ds: xr.Dataset,
    *,
    split: str = "reference",
    models: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] = (0,),
    inputs: list[str] | None = None,
    targets: tuple[str, ...] = ("tas", "pr"),
    fit_options: dict | None = None,
    variants: bool = True,
    samples: int = 10,
    scenario_dim: str | None = None,
    member_dim: str | None = None,
    years: int = 20,
    log=print,
) -> xr.Dataset:
    """Train and score models on a split of an ensemble of climate-model runs; one table as a Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        The store: the CSE 151B store (:func:`xemu.open_cse151b`) or any other with forcings
        and target maps of several scenarios (any names, calendar and grid; see the user
        guide's "Your own climate model"). Forcings without units get the units of
        :data:`FORCING_UNITS` declared; targets are scored in their canonical units
        (:data:`xemu.data.units.CANONICAL_UNITS`: K, mm/day).
    split : str
        See the module documentation.
    models : tuple of str, optional
        Rows to fit (default ``("linear", "linear-ols", "energy-balance", "climatology", "cnn-gru")``, and
        :data:`LOSO_MODELS` for ``"loso"``): ``"linear"`` (pattern scaling on the global means of CO2, CH4, SO2, BC, with the
        cross-validated ridge of :class:`~xemu.LinearPatternScaling`: the baseline the
        CNN-GRU corrects), ``"linear-ols"`` (the same fitted by ordinary least squares: the
        data README's reference row), ``"linear-co2"`` (the ridge on CO2 alone),
        ``"energy-balance"`` (:class:`~xemu.EnergyBalancePatternScaling`), ``"climatology"``,
        ``"cnn-gru"`` (its baseline is ``fit_options["baseline"]``, by default ``"auto"``: the
        energy-balance one; the row's label names it); with a scenario held out (``"loso"``,
        ``"scenario:<ssp>"``) also ``"oracle"``: per cell and calendar month a line in the
        global-mean tas, fitted on the training scenarios' and predicted from the held-out
        scenario's *true* global mean (the mean over its members): what pattern scaling could
        do with a perfect global mean, a bound no emulator reaches by that road (its
        ``model_kind`` is ``"oracle"``).
    seeds : tuple of int
        Training seeds of the CNN-GRU; one row per seed.
    fit_options : dict, optional
        Passed to :func:`xemu.fit` for the CNN-GRU (``epochs=``, ``loss=``, ...).
    variants : bool
        Besides each trained model's forced response, score its variability-aware
        deterministic prediction (``variability="calibrated"``) and ``samples`` stochastic
        realizations (the mean and the standard deviation over draws of each metric, the
        ensemble's CRPS and spread-skill ratio, and its rank histogram in the attrs), the
        same realizations with each draw's mean over each calendar decade held to the
        forced response's (``anchor="decade"``), and the climate model's other members as a
        reference ensemble. All of it is learned from the training months only.
    samples : int
        Realizations drawn for the stochastic rows (seeded: draw ``i`` is the same in
        every run).
    scenario_dim, member_dim : str, optional
        The dims of the targets holding the scenarios and the members; by default found from
        the data (:func:`xemu.data.coords.find_ensemble_dim`: ``experiment_id``, ``scenario``,
        ``ssp``, ...; the CF standard name ``realization``, ``variant_label``, ``member_id``,
        ``member``, ``realization``, ...). Targets without a member dim are a single run: one
        member (then the table's floor row is empty, and its label says why).
    years : int
        A held-out scenario (``"scenario:<name>"``, ``"loso"``) is scored over its last
        ``years`` years; :class:`~xemu.DataError` where a held-out scenario's run is shorter.
        The ``"reference"`` and ``"member:<m>"`` splits score the study's last 120 months.

    Returns
    -------
    xarray.Dataset
        One variable per target (e.g. ``tas``) on ``(model, metric)``, the metrics being
        ``monthly_rmse``, ``time_mean_rmse`` and ``time_stddev_mae``; ``competition_score`` on
        ``model``; ``<variable>_crps`` on ``model`` (the area-weighted CRPS: the mean
        absolute error for a deterministic row, the fair ensemble CRPS for an ensemble);
        ``model_kind`` says whether a row is measured, published or the noise floor; attrs
        record the split, what it was measured on (``grid``, ``test_period``, and both with the
        split in ``protocol``; ``published_protocol`` beside the published rows: they compare
        only where it equals ``protocol``), train seconds, parameter counts, spread-skill
        ratios and rank histograms. For ``"loso"``, every variable also runs on ``fold`` (the held-out
        scenarios and ``"mean"``).

        Where every member of the test scenario is scored (``"scenario:<ssp>"``, ``"loso"``),
        the variants are the calibrated prediction only (no draws), and the noise floor is
        the member floor: each member as the prediction of each other member.

    Examples
    --------
    A store laid out the CMIP6 way (the user guide's "Your own climate model"):

    >>> import warnings, xemu
    >>> from xemu.testing import synthetic_cmip6
    >>> ds = synthetic_cmip6(n_years=3, n_lat=4, n_lon=6)   # experiment_id x variant_label x time x lat x lon
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")   # a held-out scenario's forcings leave the training range
    ...     table = xemu.evaluate(ds, split="loso", models=("linear",), years=1, variants=False,
    ...                           log=lambda *a: None)
    >>> table.fold.values.tolist()
    ['ssp119', 'ssp245', 'ssp460', 'mean']
    >>> table.model.values.tolist()
    ['linear pattern scaling, ridge (xemu)', 'member floor: another member as the prediction']
    """
    ds = _with_forcing_units(ds)
    ds, layout = ensemble_layout(ds, targets, scenario_dim=scenario_dim, member_dim=member_dim)
    ds = _canonical_targets(ds, targets)
    options = {"seeds": seeds, "inputs": list(inputs or FORCINGS), "targets": list(targets),
               "variants": variants, "samples": samples, "log": log}
    if split == "loso":
        return _evaluate_loso(ds, layout, models=models, years=years, fit_options=fit_options, **options)
    sp = make_split(split, ds, years=years, layout=layout)
    return _evaluate_split(ds, layout, sp, models=models or DEFAULT_MODELS, fit_options=fit_options, **options)


def _evaluate_split(ds: xr.Dataset, layout: EnsembleLayout, sp: Split, *, models, seeds, inputs, targets,
                    fit_options, variants, samples, log) -> xr.Dataset:
    """:func:`evaluate` on one split ``sp`` of ``ds`` (laid out as ``layout``)."""
    train_ds = ds.sel(sp.train)
    rows = _Rows(ds[targets].sel(sp.test), targets, layout, variants=variants, samples=samples, log=log)
    log(f"split {sp.name}: {sp.description}")
    for name in models:
        if name in BASELINE_ROWS:
            _score_baseline(rows, name, ds, train_ds, sp, inputs)
        elif name == "cnn-gru":
            _score_cnn_gru(rows, ds, train_ds, sp, inputs, seeds, fit_options)
        elif name == "oracle" and rows.every_member:
            _score_oracle(rows, ds, train_ds, sp)
        elif name == "oracle":
            raise ConfigError(f"models: 'oracle' needs a scenario held out (split 'loso' or 'scenario:<ssp>'); "
                              f"got split {sp.name!r}")
        else:
            raise ConfigError(f"models: unknown model {name!r}; expected one of "
                              f"{[*BASELINE_ROWS, 'oracle', 'cnn-gru']}")
    if len(layout.members) > 1:
        (_score_member_floor if rows.every_member else _score_noise_floor)(rows, ds, sp)
    else:
        _missing_floor(rows, layout)
    table = rows.dataset()
    if sp.name == "reference":
        table = _with_published(table, targets)
    table.attrs = {"split": sp.name, "split_description": sp.description, **_protocol(rows.truth, sp),
                   **{k: str(v) for k, v in rows.info.items()}}
    if "published" in table.model_kind.values.tolist():
        table.attrs["published_protocol"] = PUBLISHED_PROTOCOL
    return table.compute()


def _evaluate_loso(ds: xr.Dataset, layout: EnsembleLayout, *, models, years: int, fit_options, log,
                   **options) -> xr.Dataset:
    """``split="loso"``: :func:`evaluate` on each ``"scenario:<ssp>"`` fold; the tables on ``fold``
    with their mean (``fold="mean"``); each fold's attrs prefixed by its held-out scenario."""
    tables, names, attrs = [], [], {"split": "loso"}
    folds = loso_splits(ds, years=years, layout=layout)  # every fold's window checked before any fit
    for sp in folds:
        held = sp.test[layout.scenario]
        log(f"fold: {held} held out")
        table = _evaluate_split(ds, layout, sp, models=models or LOSO_MODELS, log=log,
                                fit_options={**LOSO_FIT_OPTIONS, **(fit_options or {})}, **options)
        attrs[f"{held} split_description"] = table.attrs.get("split_description", "")
        attrs["grid"] = table.attrs["grid"]
        attrs.update({f"{held} {k}": v for k, v in table.attrs.items() if k not in ("split", "split_description")})
        tables.append(table)
        names.append(held)
    table = xr.concat(tables, dim=xr.DataArray(names, dims="fold", name="fold"))
    mean = table.mean("fold", keep_attrs=False).expand_dims(fold=["mean"])
    table = xr.concat([table, mean], dim="fold")
    table.attrs = {**attrs, "split_description": "leave one scenario out: " + ", ".join(
        f"{n} held out (train on the others, score every member over the last {12 * years} months)" for n in names)}
    return table


def _protocol(truth: xr.Dataset, sp: Split) -> dict:
    """What a table's numbers were measured on, as attrs: ``grid`` (latitude x longitude cells of
    the targets), ``test_period`` and ``protocol`` (split, grid and test months in one string)."""
    from .data.coords import find_dim

    first = truth[next(iter(truth.data_vars))]
    grid = f"{first.sizes[find_dim(first, 'latitude')]} x {first.sizes[find_dim(first, 'longitude')]}"
    time = truth[sp.time_dim]  # any calendar: cftime or numpy dates
    year, month = time.dt.year.values, time.dt.month.values
    period = f"{year[0]:04d}-{month[0]:02d} .. {year[-1]:04d}-{month[-1]:02d} ({year.size} months)"
    return {"grid": grid, "test_period": period, "protocol": f"{sp.name} split, {grid} grid, test {period}"}


def _with_forcing_units(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the units of :data:`FORCING_UNITS` declared on the forcings that carry none."""
    from .data.units import declare_units, units_of

    declare = {k: v for k, v in FORCING_UNITS.items() if k in ds and units_of(ds[k]) is None}
    return declare_units(ds, **declare) if declare else ds


def _canonical_targets(ds: xr.Dataset, targets) -> xr.Dataset:
    """``ds`` with the targets that carry units in their canonical units (the competition score
    weighs K and mm/day); unchanged where they are already."""
    from .data.units import to_canonical, units_of

    converted = {t: to_canonical(ds[t], name=t) for t in targets if units_of(ds[t]) is not None}
    return ds.assign({t: v for t, v in converted.items() if v is not ds[t]})


def _test_members(sp: Split) -> dict:
    """The split's test selection without its time: the forcings a model predicts from."""
    return {k: v for k, v in sp.test.items() if k != sp.time_dim}


class _Rows:
    """The table's rows as they are scored against ``truth``: one Dataset, label and kind per
    row, and ``info`` (fit seconds, parameter counts, spread-skill ratios, rank histograms)."""

    def __init__(self, truth: xr.Dataset, targets, layout: EnsembleLayout, *, variants: bool, samples: int, log):
        self.truth, self.targets, self.layout = truth, list(targets), layout
        self.member, self.time = layout.member, layout.time
        self.variants, self.samples, self.log = variants, samples, log
        #: every member of the test scenario is scored (each metric the mean over members)
        self.every_member = self.member in truth.dims
        self.rows: list[xr.Dataset] = []
        self.labels: list[str] = []
        self.kinds: list[str] = []
        self.info: dict = {}

    def append(self, row: xr.Dataset, label: str, kind: str) -> None:
        """One scored row."""
        self.rows.append(row)
        self.labels.append(label)
        self.kinds.append(kind)

    def add(self, label: str, kind: str, pred: xr.Dataset) -> None:
        """Score a deterministic prediction: the metrics and its CRPS (the mean absolute error)."""
        row = _scored(pred[self.targets].sel({self.time: self.truth[self.time]}), self.truth, self.targets,
                      self.member)
        self.append(row, label, kind)
        self.log(f"  {label}: score {float(row['competition_score']):.3f}")

    def add_variants(self, label: str, kind: str, pred: xr.Dataset, variability, reference=None) -> None:
        """Score a forced response and, with ``variants`` and a variability model, its calibrated
        prediction and its draws (free, and held to the forced response's decadal means).
        ``reference``: the baseline's forced prediction under ``pred``, for a calibration that
        takes its variance from it (:attr:`xemu.variability.Variability.needs_reference`)."""
        self.add(label, kind, pred)
        if not self.variants or variability is None:
            return
        from .variability import apply

        samples = self.samples
        self.add(f"{label}, calibrated", kind, apply(pred, variability, output="calibrated", reference=reference))
        if self.every_member:  # the draws are scored against one member only
            return
        self.add_ensemble(f"{label}, {samples} draws", kind, apply(pred, variability, samples=samples, seed=0))
        # the same draws, each held to the forced response's mean over each calendar decade
        self.add_ensemble(f"{label}, {samples} draws, decadal means kept", kind,
                          apply(pred, variability, samples=samples, seed=0, anchor="decade"))

    def add_ensemble(self, label: str, kind: str, ens: xr.Dataset, member_dim: str = "realization") -> None:
        """Score an ensemble: two rows (the mean and the standard deviation over members of each
        metric; the ensemble's CRPS on the mean row), its spread-skill ratios and rank histograms in ``info``."""
        from .metrics.probabilistic import ensemble_scores

        targets, truth = self.targets, self.truth
        ens = ens[targets].sel({self.time: truth[self.time]})
        s = ensemble_scores(ens, truth, member_dim=member_dim, variables=targets).squeeze(drop=True)
        for stat in ("mean", "std"):
            row = xr.Dataset({name: s[f"{name}_member_{stat}"] for name in [*targets, "competition_score"]})
            row = row.reset_coords(drop=True)
            for v in targets:
                row[f"{v}_crps"] = s[f"{v}_crps"] if stat == "mean" else xr.DataArray(np.nan)
            self.append(row, f"{label}: {stat}", kind)
        self._ensemble_info(label, ens, s, member_dim)
        self.log(f"  {label}: score {float(self.rows[-2]['competition_score']):.3f} "
                 f"+- {float(self.rows[-1]['competition_score']):.3f}")

    def _ensemble_info(self, label: str, ens: xr.Dataset, s: xr.Dataset, member_dim: str) -> None:
        """An ensemble's spread-skill ratio, rank histogram and its flatness per target, into ``info``."""
        from .metrics.probabilistic import rank_flatness, rank_histogram

        n = ens.sizes[member_dim]
        for v in self.targets:
            ssr = float(s[f"{v}_spread_skill_ratio"])
            hist = rank_histogram(ens[v], self.truth[v], member_dim=member_dim).squeeze(drop=True)
            flat = float(rank_flatness(hist, kind="ratio"))
            self.info[f"{label} {v} spread-skill ratio"] = round(ssr, 3)
            self.info[f"{label} {v} rank histogram ({n + 1} ranks)"] = " ".join(str(int(c)) for c in hist.values)
            self.info[f"{label} {v} rank histogram max over min"] = round(flat, 2)

    def dataset(self) -> xr.Dataset:
        """The rows as one Dataset on ``model``, with the ``model_kind`` coordinate."""
        table = xr.concat(self.rows, dim=xr.DataArray(self.labels, dims="model", name="model"))
        return table.assign_coords(model_kind=("model", self.kinds))


def _score_baseline(rows: _Rows, name: str, ds: xr.Dataset, train_ds: xr.Dataset, sp: Split,
                    inputs: list[str]) -> None:
    """Fit the baseline ``name`` of :data:`BASELINE_ROWS` and score it (with its variants: the
    four-forcing ridge and the energy-balance pattern scaling only)."""
    from .baselines.energy_balance import role_inputs
    from .emulator import fit

    label, kind, options = BASELINE_ROWS[name]
    if name == "linear-co2":
        row_inputs = ["CO2"]
    elif kind == "linear":
        row_inputs = [v for v in inputs if v != "rsdt"]
    else:
        row_inputs = role_inputs(inputs) if kind == "energy-balance" else inputs
    t0 = time.perf_counter()
    bl = fit(train_ds, row_inputs, rows.targets, model=kind, holdout=sp.holdout, **options)
    pred = bl.predict(ds.sel(_test_members(sp)).drop_vars(rows.targets))
    rows.info[f"{name} fit seconds"] = round(time.perf_counter() - t0, 1)
    rows.add_variants(label, "measured", pred, bl.variability if name in ("linear", "energy-balance") else None)


def _score_oracle(rows: _Rows, ds: xr.Dataset, train_ds: xr.Dataset, sp: Split) -> None:
    """The ``"oracle"`` row: energy-balance pattern scaling on the true global-mean tas (each
    scenario's mean over its members) instead of its global model's."""
    from .data.coords import roles
    from .data.grid import area_weights
    from .emulator import fit

    tas, scen = ds["tas"], sp.scenario_dim
    r = roles(tas)
    gmt = tas.weighted(area_weights(tas[r.latitude])).mean([r.latitude, r.longitude]).mean(sp.member_dim)
    gmt.attrs = {"units": tas.attrs.get("units", "K"), "long_name": "global-mean tas, mean over members"}
    t0 = time.perf_counter()
    bl = fit(train_ds.assign(gmt_true=gmt.sel({scen: train_ds[scen]})), ["gmt_true"], rows.targets,
             model="energy-balance", holdout=sp.holdout, roles={"gmt": "gmt_true"})
    test = ds.sel(_test_members(sp))
    pred = bl.predict(test.assign(gmt_true=gmt.sel({scen: test[scen]})).drop_vars(rows.targets))
    rows.info["oracle fit seconds"] = round(time.perf_counter() - t0, 1)
    rows.add_variants(ORACLE_LABEL, "oracle", pred, bl.variability)


def _score_cnn_gru(rows: _Rows, ds: xr.Dataset, train_ds: xr.Dataset, sp: Split, inputs: list[str],
                   seeds: tuple[int, ...], fit_options: dict | None) -> None:
    """Fit the CNN-GRU once per seed and score each, with its variants."""
    from .emulator import fit

    for seed in seeds:
        # the reference protocol validates on its test months: monitor them, choose nothing
        # by them (no early stopping, no best-epoch weights): the last epoch is reported
        peek = sp.holdout == sp.test
        opts = {"progress": False, **({"restore_best": False, "patience": None} if peek else {}),
                **dict(fit_options or {}), "seed": seed}
        t0 = time.perf_counter()
        em = fit(train_ds, inputs, rows.targets, holdout=sp.holdout, **opts)
        seconds = time.perf_counter() - t0
        # the calibration of a CNN-GRU on a baseline takes each block's variance from the baseline's part of
        # the forced response, which the same prediction gives
        needs = em.variability is not None and em.variability.needs_reference and rows.variants
        pred = em.forced_response(ds.sel(_test_members(sp)).drop_vars(rows.targets),
                                  device=opts.get("device", "auto"), with_baseline=needs)
        pred, reference = pred if needs else (pred, None)
        rows.info[f"cnn-gru seed {seed} fit seconds"] = round(seconds, 1)
        rows.info["cnn-gru parameters"] = em.n_parameters
        kind = getattr(em.baseline, "kind", None)
        on = "no baseline" if kind is None else f"on {kind}" + (" pattern scaling" if kind != "climatology" else "")
        rows.add_variants(f"xemu CNN-GRU, seed {seed}, {on}", "measured", pred, em.variability, reference)


def _score_noise_floor(rows: _Rows, ds: xr.Dataset, sp: Split) -> None:
    """Score the climate model's other members as predictions of the test member (the noise
    floor) and, with ``variants``, as an ensemble."""
    targets, mem, held_member = rows.targets, sp.member_dim, sp.noise_member
    window = ds[targets].sel({k: v for k, v in sp.test.items() if k != mem})
    nf = noise_floor(window, member=held_member, member_dim=mem, variables=targets)
    others = [m for m in window[mem].values.tolist() if m != held_member]  # noise_floor's rows, in its order
    for i, label in enumerate(nf.prediction.values.tolist()):
        row = nf.sel(prediction=label, drop=True).reset_coords(drop=True)
        for v in targets:
            held = window[v].sel({mem: held_member}, drop=True)
            other = (window[v].sel({mem: others[i]}, drop=True) if i < len(others)
                     else window[v].drop_sel({mem: held_member}).mean(mem))
            row[f"{v}_crps"] = _point_crps(other, held)
        rows.append(row, f"noise floor: {label} as the prediction", "noise floor")
    if rows.variants:
        others = window.drop_sel({mem: held_member}).rename({mem: "realization"})
        rows.add_ensemble(f"noise floor: the other {others.sizes['realization']} members as an ensemble",
                          "noise floor", others)


def _scored(pred: xr.Dataset, truth: xr.Dataset, targets: list[str], member_dim: str) -> xr.Dataset:
    """One deterministic row: the metrics of ``pred`` against ``truth`` and each target's CRPS
    (its mean absolute error), averaged over the members (``member_dim``) of ``truth`` where it has them."""
    row = _member_mean(score(pred, truth, variables=targets).reset_coords(drop=True), member_dim)
    for v in targets:
        row[f"{v}_crps"] = _member_mean(_point_crps(pred[v], truth[v]), member_dim)
    return row


def _member_mean(x, member_dim: str):
    """``x`` averaged over the test scenario's members (where it has them), squeezed."""
    return (x.mean(member_dim) if member_dim in x.dims else x).squeeze(drop=True)


def _score_member_floor(rows: _Rows, ds: xr.Dataset, sp: Split) -> None:
    """The member floor of a split scoring every member: each member as the prediction of
    each other member, the metrics averaged over the ordered pairs."""
    truth, mem = rows.truth, sp.member_dim
    members = truth[mem].values.tolist()
    pairs = []
    for i in members:
        for j in members:
            if i != j:
                pairs.append(_scored(truth.sel({mem: j}, drop=True), truth.sel({mem: i}, drop=True),
                                     rows.targets, mem))
    row = xr.concat(pairs, dim="pair").mean("pair")
    rows.append(row, "member floor: another member as the prediction", "noise floor")
    rows.log(f"  member floor: score {float(row['competition_score']):.3f}")


def _missing_floor(rows: _Rows, layout: EnsembleLayout) -> None:
    """The floor row of data with one member: empty, its label saying why."""
    if layout.added_member:
        why = "the targets have no member dim (a single run)"
    else:
        why = f"the data hold one member ({layout.member} {layout.members[0]!r})"
    kind = "member floor" if rows.every_member else "noise floor"
    nan = xr.DataArray(np.full(len(METRICS), np.nan), dims="metric", coords={"metric": list(METRICS)})
    row = xr.Dataset({**{v: nan for v in rows.targets}, "competition_score": np.nan,
                      **{f"{v}_crps": np.nan for v in rows.targets}})
    rows.append(row, f"{kind}: missing, {why}; it needs two members or more", "noise floor")
    rows.info[kind] = f"missing: {why}"
    rows.log(f"  {kind}: missing, {why}")


def _point_crps(pred: xr.DataArray, truth: xr.DataArray) -> xr.DataArray:
    """The CRPS of a deterministic prediction: its area-weighted mean absolute error."""
    from .data.coords import find_dim
    from .metrics.deterministic import area_weights

    lat = find_dim(truth, "latitude", name="truth")
    dims = [find_dim(truth, "time", name="truth"), lat, find_dim(truth, "longitude", name="truth")]
    err = abs(pred.astype(np.float64) - truth.astype(np.float64)) * area_weights(truth[lat])
    return err.mean(dims).squeeze(drop=True).reset_coords(drop=True)


def _with_published(table: xr.Dataset, targets: list[str]) -> xr.Dataset:
    if set(targets) != {"tas", "pr"}:
        return table
    from .metrics.deterministic import competition_score

    pub = []
    for vals in PUBLISHED.values():
        row = xr.Dataset({v: xr.DataArray(list(vals[v]), dims="metric", coords={"metric": list(METRICS)})
                          for v in targets})
        row["competition_score"] = competition_score(row)
        pub.append(row)
    pub_ds = xr.concat(pub, dim=xr.DataArray(list(PUBLISHED), dims="model", name="model"))
    pub_ds = pub_ds.assign_coords(model_kind=("model", ["published"] * len(PUBLISHED)))
    return xr.concat([pub_ds, table], dim="model")


def format_table(table: xr.Dataset, targets: tuple[str, ...] = ("tas", "pr")) -> str:
    """The table as text: one row per model, the six metrics, the CRPS per variable (when
    scored) and the competition score. Empty cells (``nan``) print as blanks. A table on
    ``fold`` (``split="loso"``) prints one section per fold."""
    if "fold" in table.dims:
        return "\n\n".join(
            (f"held out: {f}" if f != "mean" else "mean over the folds") + "\n"
            + format_table(table.sel(fold=f, drop=True), targets) for f in table.fold.values.tolist())
    short = {"monthly_rmse": "monthly", "time_mean_rmse": "t-mean", "time_stddev_mae": "t-std"}
    crps = [v for v in targets if f"{v}_crps" in table]
    width = max([58, *(len(str(label)) + 1 for label in table.model.values)])  # whole labels, at least 58
    head = f"{'model':{width}s}" + "".join(f" {v + ' ' + short[m]:>12s}" for v in targets for m in METRICS)
    head += "".join(f" {v + ' CRPS':>9s}" for v in crps) + f" {'score':>7s}"
    lines = [head, "-" * len(head)]

    def cell(value, width):
        return f" {value:{width}.3f}" if np.isfinite(value) else " " * (width + 1)

    for label in table.model.values:
        row = table.sel(model=label)
        cells = "".join(cell(float(row[v].sel(metric=m)), 12) for v in targets for m in METRICS)
        cells += "".join(cell(float(row[f"{v}_crps"]), 9) for v in crps)
        sc = float(row["competition_score"]) if "competition_score" in row else np.nan
        lines.append(f"{str(label):{width}s}{cells}{cell(sc, 7)}")
    return "\n".join(lines)
