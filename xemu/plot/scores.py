"""Charts of an evaluation table (:func:`xemu.evaluate`, ``xemu evaluate --out``) that compare like
with like.

* **One row per model.** Its variants are marks on that row: the forced response (a disc),
  the calibrated prediction (a diamond), the mean score of stochastic draws (a triangle) and
  of draws held to the forced response's decadal means (a square). Several training seeds
  are one mark at their mean, their range as an error bar; the spread of draws (the
  standard deviation over draws) is an error bar, never a bar of its own.
* **The floor is a band**: the range of the noise-floor rows (another member of the climate
  model as the prediction), the score below which a model is indistinguishable from internal
  variability.
* **Published numbers only where the protocol is the published one.** A table records what it
  was measured on in its attrs (``protocol``; :data:`xemu.evaluation.PUBLISHED_PROTOCOL`
  beside the published rows as ``published_protocol``). Published rows are drawn only when
  the two are equal; otherwise they are named under the chart as not comparable, with both
  protocols (:func:`comparable_with_published`).

Every chart is sized for the documentation's width (8 inches): model names wrap, the legend
goes under the axes, and no text leaves the figure.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import xarray as xr

from ..errors import DataError
from .labels import pyplot

__all__ = ["comparable_with_published", "table_rows", "score_chart", "metric_charts", "loso_chart",
           "table_figures", "WIDTH_INCHES"]

#: The width of every chart, in inches: the documentation's content width at 100 dpi.
WIDTH_INCHES = 8.0
#: Variant -> (marker, legend label), in the order of the legend.
_VARIANTS = {
    "forced": ("o", "forced response"),
    "calibrated": ("D", "calibrated (variability-aware)"),
    "draws": ("^", "draws: mean, error bar the std over draws"),
    "anchored": ("s", "draws held to decadal means: mean, error bar the std"),
}
_COLOURS = {"measured": "tab:blue", "oracle": "tab:purple", "published": "0.3", "noise floor": "tab:green"}
_LABEL = re.compile(r"(?P<base>.*?)(?:, (?P<cal>calibrated)|, \d+ draws(?P<anchor>, decadal means kept)?"
                    r": (?P<stat>mean|std))?")
_METRIC_NAMES = {"monthly_rmse": "monthly RMSE", "time_mean_rmse": "time-mean RMSE",
                 "time_stddev_mae": "time-std MAE"}
_UNITS = {"tas": "K", "pr": "mm/day"}


def comparable_with_published(table: xr.Dataset) -> str | None:
    """``None`` when the table's published rows may be drawn beside its measured rows, else why not.

    They may when the table's ``protocol`` attribute equals its ``published_protocol`` (the
    reference split on the store's full 48 x 72 grid, the same test months): a number
    measured on another grid, window or split is never put beside xemu's.

    Parameters
    ----------
    table : xarray.Dataset
        An evaluation table (:func:`xemu.evaluate`).

    Returns
    -------
    str or None

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot.scores import comparable_with_published
    >>> published = "reference split, 48 x 72 grid, test 2090-02 .. 2100-01 (120 months)"
    >>> table = xr.Dataset(attrs={"published_protocol": published,
    ...                           "protocol": "reference split, 12 x 18 grid, test 2090-02 .. 2100-01 (120 months)"})
    >>> print(comparable_with_published(table))
    published on reference split, 48 x 72 grid, test 2090-02 .. 2100-01 (120 months); this table: reference split, 12 x 18 grid, test 2090-02 .. 2100-01 (120 months)
    >>> table.attrs["protocol"] = published
    >>> comparable_with_published(table) is None
    True
    """
    want, have = table.attrs.get("published_protocol"), table.attrs.get("protocol")
    if want is None or have is None:
        return ("the table does not record the protocols to compare (attrs 'protocol' and "
                "'published_protocol'; tables of xemu evaluate record them)")
    if want != have:
        return f"published on {want}; this table: {have}"
    return None


def table_rows(table: xr.Dataset) -> list[dict]:
    """Each row of an evaluation table read from its label and kind: the model it belongs to and
    which variant of it the row is.

    Parameters
    ----------
    table : xarray.Dataset
        An evaluation table, rows on ``model``, with the ``model_kind`` coordinate.

    Returns
    -------
    list of dict
        Per row: ``label`` (the table's), ``model`` (the label without its seed and variant),
        ``kind`` (``model_kind``), ``variant`` (``"forced"``, ``"calibrated"``, ``"draws"``,
        ``"anchored"``), ``seed`` (an int, or ``None``) and ``stat`` (``"mean"`` or ``"std"``
        over draws, else ``None``).

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot.scores import table_rows
    >>> labels = ["xemu CNN-GRU, seed 1, on energy-balance pattern scaling, 10 draws: std"]
    >>> table = xr.Dataset(coords={"model": labels, "model_kind": ("model", ["measured"])})
    >>> row = table_rows(table)[0]
    >>> row["model"], row["variant"], row["seed"], row["stat"]
    ('xemu CNN-GRU on energy-balance pattern scaling', 'draws', 1, 'std')
    """
    if "model" not in table.dims:
        raise DataError(f"table: expected an evaluation table with dim 'model' (xemu.evaluate); "
                        f"got dims ({', '.join(map(str, table.dims))})")
    kinds = (table["model_kind"].values.tolist() if "model_kind" in table.coords
             else ["measured"] * table.sizes["model"])
    out = []
    for label, kind in zip(table.model.values.tolist(), kinds, strict=True):
        m = _LABEL.fullmatch(str(label))
        base, stat = m["base"], m["stat"]
        if stat is None and (ensemble := re.fullmatch(r"(.*): (mean|std)", str(label))):  # other ensembles
            base, stat = ensemble[1], ensemble[2]
        seed = re.search(r", seed (\d+)", base)
        variant = "calibrated" if m["cal"] else "anchored" if m["anchor"] else "draws" if stat else "forced"
        out.append({"label": str(label), "model": re.sub(r", seed \d+,?", "", base), "kind": str(kind),
                    "variant": variant, "seed": int(seed[1]) if seed else None, "stat": stat})
    return out


def _points(rows: list[dict], values: dict[str, float]):
    """Per model (in the table's order) and variant: the value, and its error bar (below, above);
    the floor band (lowest, highest of the noise-floor rows) or ``None``."""
    floor = [values[r["label"]] for r in rows if r["kind"] == "noise floor" and r["stat"] != "std"]
    floor = [v for v in floor if np.isfinite(v)]
    points: dict[str, dict] = {}
    for r in rows:
        if r["kind"] == "noise floor" or r["stat"] == "std" or not np.isfinite(values[r["label"]]):
            continue
        points.setdefault(r["model"], {"kind": r["kind"]}).setdefault(r["variant"], []).append(r)
    out = {}
    for model, variants in points.items():
        kind = variants.pop("kind")
        out[model] = {"kind": kind}
        for variant, group in variants.items():
            v = np.array([values[r["label"]] for r in group])
            spread = [values.get(r["label"].removesuffix(": mean") + ": std", np.nan) for r in group]
            x = float(v.mean())
            if r_std := [s for s in spread if np.isfinite(s)]:  # draws: the std over draws
                err = (float(np.mean(r_std)),) * 2
            elif len(v) > 1:  # seeds: their range
                err = (x - float(v.min()), float(v.max()) - x)
            else:
                err = None
            out[model][variant] = (x, err, len(v))
    return out, ((min(floor), max(floor)) if floor else None)


def _dot_panel(ax, rows: list[dict], values: dict[str, float], *, labels: bool = True, order=None) -> list[str]:
    """One panel: a row per model, a mark per variant, error bars, the floor band. Returns the
    models in the panel's order."""
    points, floor = _points(rows, values)
    models = list(order) if order is not None else list(points)
    if floor is not None:
        lo, hi = floor
        if hi > lo:
            ax.axvspan(lo, hi, color=_COLOURS["noise floor"], alpha=0.2, lw=0, zorder=0)
        ax.axvline(lo, color=_COLOURS["noise floor"], lw=1, zorder=1)
    present = [v for v in _VARIANTS if any(v in p for p in points.values())]
    dodge = dict(zip(present, np.linspace(-0.17, 0.17, len(present)) if len(present) > 1 else [0.0], strict=True))
    for y, model in enumerate(models):
        for variant, (marker, _) in _VARIANTS.items():
            if model not in points or variant not in points[model]:
                continue
            x, err, _n = points[model][variant]
            y_mark = y + dodge[variant]
            colour = _COLOURS.get(points[model]["kind"], "tab:blue")
            face = colour if variant in ("forced", "draws") else "white"
            ax.errorbar(x, y_mark, xerr=None if err is None else [[err[0]], [err[1]]], fmt=marker, ms=7,
                        color=colour, mfc=face, mec=colour, ecolor=colour, elinewidth=1.2, capsize=3, zorder=3)
    ax.set_yticks(range(len(models)), [textwrap.fill(m, 34) for m in models])
    ax.tick_params(axis="y", labelleft=labels)  # shared y axes: hide, not clear, the labels
    ax.set_ylim(len(models) - 0.5, -0.5)
    ax.margins(x=0.06)  # no mark cut by the frame
    ax.grid(axis="x", lw=0.4, alpha=0.5)
    ax.tick_params(axis="y", labelsize="small")
    return models


def _legend(fig, rows: list[dict], *, floor_label: str, ncols: int = 2) -> None:
    """The marks' meaning under the axes."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    present = {r["variant"] for r in rows if r["kind"] != "noise floor"}
    handles = [Line2D([], [], ls="none", marker=m, color="0.2", mfc="0.2" if v in ("forced", "draws") else "white",
                      label=text) for v, (m, text) in _VARIANTS.items() if v in present]
    if any(r["seed"] is not None for r in rows) and len({r["seed"] for r in rows} - {None}) > 1:
        handles.append(Line2D([], [], color="0.2", marker="|", label="several seeds: their mean, bar the range"))
    kinds = {r["kind"] for r in rows}
    handles += [Patch(color=_COLOURS[k], label=text) for k, text in
                (("measured", "measured here"), ("oracle", "oracle (a bound, not an emulator)"),
                 ("published", "published (same protocol)")) if k in kinds]
    if "noise floor" in kinds:
        handles.append(Patch(color=_COLOURS["noise floor"], alpha=0.35, label=floor_label))
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize="small", frameon=False)


def _drawn_rows(table: xr.Dataset) -> tuple[list[dict], str | None]:
    """The rows to draw, and the note naming the published rows left out (or ``None``)."""
    rows = table_rows(table)
    published = [r for r in rows if r["kind"] == "published"]
    why = comparable_with_published(table) if published else None
    if why is None:
        return rows, None
    values = table["competition_score"] if "competition_score" in table else None
    named = ", ".join(r["label"].removesuffix(" (published)")
                      + (f" {float(values.sel(model=r['label'])):.3f}" if values is not None else "")
                      for r in published)
    note = f"Not comparable, not drawn: the study's published scores ({named}): {why}."
    return [r for r in rows if r["kind"] != "published"], textwrap.fill(note, 75)


def _check_table(table: xr.Dataset, func: str) -> None:
    if not isinstance(table, xr.Dataset):
        raise TypeError(f"{func}: table: expected an xarray.Dataset (xemu.evaluate); got {type(table).__name__}")
    if "fold" in table.dims:
        raise DataError(f"{func}: table: a leave-one-scenario-out table (dim 'fold'): draw it with "
                        f"xemu.plot.loso_chart, or choose a fold, e.g. table.sel(fold='mean'); "
                        f"got folds {table.fold.values.tolist()}")


def _title(table: xr.Dataset, what: str) -> str:
    where = table.attrs.get("protocol") or table.attrs.get("split") or "protocol not recorded"
    return textwrap.fill(f"{what}: {where}", 80)


def score_chart(table: xr.Dataset, *, variable: str = "competition_score", metric: str | None = None):
    """The competition score (or one metric) of each model of an evaluation table, like with like.

    Parameters
    ----------
    table : xarray.Dataset
        An evaluation table (:func:`xemu.evaluate`, or ``xemu evaluate --out``, opened with
        :func:`xarray.open_dataset`), without a ``fold`` dim (see :func:`loso_chart`).
    variable : str
        The table's variable to draw: ``"competition_score"``, or a target (``"tas"``) with
        ``metric``, or ``"tas_crps"``.
    metric : str, optional
        The metric of a target variable (``"time_mean_rmse"``, ...).

    Returns
    -------
    matplotlib.figure.Figure
        One row per model (see the module documentation). Published rows of another protocol
        are named in the x-axis label as not comparable instead of being drawn.

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot import score_chart
    >>> table = xr.Dataset(
    ...     {"competition_score": ("model", [0.756, 0.80, 0.76, 0.62])},
    ...     coords={"model": ["study CNN-GRU (published)", "linear pattern scaling, ridge (xemu)",
    ...                       "linear pattern scaling, ridge (xemu), calibrated",
    ...                       "noise floor: member 1 as the prediction"],
    ...             "model_kind": ("model", ["published", "measured", "measured", "noise floor"])},
    ...     attrs={"protocol": "reference split, 12 x 18 grid, test 2090-02 .. 2100-01 (120 months)",
    ...            "published_protocol": "reference split, 48 x 72 grid, test 2090-02 .. 2100-01 (120 months)"})
    >>> fig = score_chart(table)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['linear pattern scaling, ridge\\n(xemu)']
    >>> "Not comparable, not drawn" in fig.axes[0].get_xlabel()
    True
    """
    plt = pyplot()
    _check_table(table, "score_chart")
    if variable not in table:
        raise DataError(f"score_chart: variable: expected one of the table's variables "
                        f"{sorted(map(str, table.data_vars))}; got {variable!r}")
    da = table[variable]
    if metric is not None or "metric" in da.dims:
        if metric is None or metric not in table.metric.values.tolist():
            raise DataError(f"score_chart: metric: expected one of {table.metric.values.tolist()} for "
                            f"{variable!r}; got {metric!r}")
        da = da.sel(metric=metric)
    rows, note = _drawn_rows(table)
    values = dict(zip(table.model.values.tolist(), np.asarray(da.values, dtype=float).tolist(), strict=True))
    n = len({r["model"] for r in rows if r["kind"] != "noise floor"})
    fig, ax = plt.subplots(figsize=(WIDTH_INCHES, 1.9 + 0.42 * n + (0.5 if note else 0)), layout="constrained")
    _dot_panel(ax, rows, values)
    what = ("competition score" if variable == "competition_score"
            else f"{variable} {_METRIC_NAMES.get(metric, metric or '')}".strip())
    units = "" if variable == "competition_score" else f" [{_UNITS.get(variable.split('_')[0], '')}]"
    ax.set_xlabel(f"{what}{units} (lower is better)" + (f"\n\n{note}" if note else ""), fontsize="small")
    ax.set_title(_title(table, what.capitalize()), fontsize="medium")
    _legend(fig, rows, floor_label="noise floor: another member as the prediction (range)")
    return fig


def metric_charts(table: xr.Dataset, targets: tuple[str, ...] = ("tas", "pr")):
    """The three metrics of each target, one panel each (targets in rows), like :func:`score_chart`.

    Parameters
    ----------
    table : xarray.Dataset
        An evaluation table without a ``fold`` dim.
    targets : tuple of str
        The table's target variables, one row of panels each.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot import metric_charts
    >>> metric = ["monthly_rmse", "time_mean_rmse", "time_stddev_mae"]
    >>> table = xr.Dataset({v: (("model", "metric"), [[1.1, 0.3, 0.2], [1.5, 0.2, 0.1]]) for v in ("tas", "pr")},
    ...                    coords={"model": ["energy-balance pattern scaling (xemu)", "member floor: another member"],
    ...                            "model_kind": ("model", ["measured", "noise floor"]), "metric": metric})
    >>> len(metric_charts(table).axes)
    6
    """
    plt = pyplot()
    _check_table(table, "metric_charts")
    missing = [v for v in targets if v not in table or "metric" not in table[v].dims]
    if missing:
        raise DataError(f"metric_charts: targets: expected variables on (model, metric) in the table; "
                        f"got {missing} missing or without a metric dim")
    rows, note = _drawn_rows(table)
    metrics = table.metric.values.tolist()
    n = len({r["model"] for r in rows if r["kind"] != "noise floor"})
    fig, axes = plt.subplots(len(targets), len(metrics), figsize=(WIDTH_INCHES, 1.2 + (0.9 + 0.3 * n) * len(targets)),
                             layout="constrained", sharey=True, squeeze=False)
    for i, var in enumerate(targets):
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            values = dict(zip(table.model.values.tolist(), table[var].sel(metric=metric).values.tolist(), strict=True))
            _dot_panel(ax, rows, values, labels=j == 0)
            ax.set_title(f"{var} {_METRIC_NAMES.get(metric, metric)} [{_UNITS.get(var, '')}]", fontsize="small")
            ax.tick_params(axis="x", labelsize="small")
    fig.suptitle(_title(table, "The six metrics (lower is better)") + (f"\n{note}" if note else ""),
                 fontsize="small")
    _legend(fig, rows, floor_label="noise floor (range)")
    return fig


def loso_chart(table: xr.Dataset, *, variable: str = "tas", metric: str = "time_mean_rmse"):
    """Scenarios never run: per held-out scenario, each model's error on it (by default the tas
    time-mean RMSE in K), the member floor as a band.

    Parameters
    ----------
    table : xarray.Dataset
        A leave-one-scenario-out table (``xemu.evaluate(ds, split="loso")``, dim ``fold``:
        the held-out scenarios and ``"mean"``).
    variable, metric : str
        What to draw: a target and one of its metrics.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per fold, one row per model (the forced response a disc, the calibrated
        prediction a diamond), the same x axis in every panel.

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot import loso_chart
    >>> models = ["energy-balance pattern scaling (xemu)", "member floor: another member as the prediction"]
    >>> table = xr.Dataset({"tas": (("fold", "model", "metric"), [[[0.38], [0.23]], [[0.43], [0.23]]])},
    ...                    coords={"fold": ["ssp126", "mean"], "model": models, "metric": ["time_mean_rmse"],
    ...                            "model_kind": ("model", ["measured", "noise floor"])})
    >>> fig = loso_chart(table)
    >>> [ax.get_title() for ax in fig.axes]
    ['ssp126 held out', 'mean over the folds']
    """
    plt = pyplot()
    if not isinstance(table, xr.Dataset) or "fold" not in table.dims:
        got = f"dims ({', '.join(map(str, table.dims))})" if isinstance(table, xr.Dataset) else type(table).__name__
        raise DataError(f"loso_chart: table: expected a leave-one-scenario-out table with dim 'fold' "
                        f"(xemu.evaluate(ds, split='loso')); got {got}")
    if variable not in table or metric not in table.metric.values.tolist():
        raise DataError(f"loso_chart: variable, metric: expected a target of the table and one of "
                        f"{table.metric.values.tolist()}; got {variable!r}, {metric!r}")
    rows = [r for r in table_rows(table) if r["kind"] != "published"]
    folds = table.fold.values.tolist()
    da = table[variable].sel(metric=metric)
    ncols = 2 if len(folds) > 2 else len(folds)
    nrows = -(-len(folds) // ncols)
    order = list(dict.fromkeys(r["model"] for r in rows if r["kind"] != "noise floor"))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH_INCHES, 1.3 + nrows * (0.8 + 0.42 * len(order))),
                             layout="constrained", sharex=True, sharey=True, squeeze=False)
    for k, fold in enumerate(folds):
        ax = axes.flat[k]
        values = dict(zip(table.model.values.tolist(), da.sel(fold=fold).values.tolist(), strict=True))
        _dot_panel(ax, rows, values, labels=k % ncols == 0, order=order)
        ax.set_title(f"{fold} held out" if fold != "mean" else "mean over the folds", fontsize="small")
        ax.tick_params(axis="x", labelsize="small")
        if k // ncols == nrows - 1 or k + ncols >= len(folds):
            ax.set_xlabel(f"{variable} {_METRIC_NAMES.get(metric, metric)} [{_UNITS.get(variable, '')}]",
                          fontsize="small")
    for ax in axes.flat[len(folds):]:
        ax.set_visible(False)
    grid = table.attrs.get("grid")
    fig.suptitle("Scenarios never run" + (f" ({grid} grid)" if grid else "")
                 + ": each held out in turn, trained on the others", fontsize="medium")
    _legend(fig, rows, floor_label="member floor: another member as the prediction")
    return fig


def table_figures(table: xr.Dataset) -> dict:
    """The charts of an evaluation table, as ``xemu evaluate --plot`` and ``xemu plot`` draw them.

    Parameters
    ----------
    table : xarray.Dataset
        An evaluation table.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``{"scenarios": loso_chart(table)}`` for a table on ``fold``, else
        ``{"score": score_chart(table), "metrics": metric_charts(table)}`` (the metrics
        chart only where the table has ``tas`` and ``pr``).

    Examples
    --------
    >>> import xarray as xr
    >>> from xemu.plot import table_figures
    >>> table = xr.Dataset({"competition_score": ("model", [0.8])},
    ...                    coords={"model": ["climatology (xemu)"], "model_kind": ("model", ["measured"])})
    >>> list(table_figures(table))
    ['score']
    """
    if isinstance(table, xr.Dataset) and "fold" in table.dims:
        return {"scenarios": loso_chart(table)}
    figures = {"score": score_chart(table)}
    if all(v in table and "metric" in table[v].dims for v in ("tas", "pr")):
        figures["metrics"] = metric_charts(table)
    return figures
