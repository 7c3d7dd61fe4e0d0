"""The :class:`Emulator`: fit, predict, save, load. The one object of xemu with state.

An emulator holds its network configuration and weights, the normalisation statistics
(computed on training months only), the unit contracts of its inputs and targets, the
target grid, the baseline it corrects, and a record of how it was trained. Predictions
are Datasets on the input Dataset's samples and time, on the target grid, in the target
units, with the targets' attrs and a provenance note.

By default the CNN-GRU predicts a *correction* to energy-balance pattern scaling, or to
linear pattern scaling where that cannot be fitted (``baseline="auto"``): the network's
heads start at zero, so an untrained emulator is the baseline, and training only has to
learn what the baseline misses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .baselines import load_baseline
from .data.checks import check_dataset, check_grid, check_prediction_memory, check_series, warn_outside_range
from .data.labels import to_dataset
from .data.once import checking_once
from .data.prepare import Prepared, prepare
from .errors import ConfigError, DataError, NotFittedError
from .io import (
    EMULATOR_FORMAT,
    check_baseline_matches,
    check_emulator_meta,
    read_emulator_folder,
    read_variability_file,
    save_emulator_folder,
    write_netcdf,
)
from .nn.device import choose_device
from .nn.model import CNNGRU, ModelConfig, count_parameters, for_inference
from .nn.training import TrainConfig
from .recipe import DEFAULT_LOSS, Trained, fit_model, history_dataset
from .recipe.correction import apply_correction, correction_parts, correction_weights, labelled_weights
from .recipe.source import InMemorySource
from .scale.lazy import in_memory, is_lazy, predict_lazy
from .variability import Variability
from .variability import apply as apply_variability

__all__ = ["Emulator", "fit", "load", "DEFAULT_LOSS"]


class Emulator:
    """A trained CNN-GRU emulator. Make one with :func:`fit` (``ds.emu.fit``) or :func:`load`.

    Examples
    --------
    >>> import xemu
    >>> ds = xemu.synthetic_climate(n_years=3, n_lat=8, n_lon=12)
    >>> em = ds.emu.fit(["CO2", "CH4", "SO2", "BC"], ["tas", "pr"], epochs=1, progress=False,
    ...                 config={"conv_widths": (4, 4), "conv_strides": (2, 1), "hidden": 8, "head_hidden": 8})
    >>> pred = ds.emu.predict(em)
    >>> pred.tas.dims, pred.tas.attrs["units"]
    (('scenario', 'time', 'lat', 'lon'), 'K')
    """

    def __init__(self, meta: dict, net: CNNGRU | None = None, baseline=None, variability=None):
        self.meta = meta
        self.net = net
        self.baseline = baseline
        self.variability = variability

    def __getstate__(self) -> dict:
        # sent to dask workers without the folded copy of the network (:meth:`_inference_net`)
        return {k: v for k, v in self.__dict__.items() if k != "_inference"}

    # -- properties ---------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return list(self.meta["inputs"])

    @property
    def targets(self) -> list[str]:
        return list(self.meta["targets"])

    @property
    def config(self) -> ModelConfig:
        return ModelConfig(**self.meta["model"])

    @property
    def history(self) -> xr.Dataset:
        """The training record, one entry per epoch, as a Dataset on the dim ``epoch``.

        Variables ``train_loss``, ``val_loss`` (only when training had validation months),
        ``seconds``, ``data_seconds`` and ``lr``, each with ``long_name`` and ``units``; the
        coordinate ``epoch`` counts from 1. The raw records (a list of dicts, as saved in
        ``emulator.json``, with 0-based ``epoch``) are ``em.meta["history"]``.

        Examples
        --------
        >>> em.history.to_dataframe()  # doctest: +SKIP
        >>> em.history.val_loss.plot.line(marker="o")  # doctest: +SKIP
        """
        return history_dataset(self.meta.get("history", []))

    @property
    def n_parameters(self) -> int:
        self.check_fitted()
        return count_parameters(self.net)

    def check_fitted(self) -> None:  # a NotFittedError unless there is a network (from fit or load)
        if self.net is None:
            raise NotFittedError("Emulator: not fitted; make one with ds.emu.fit(...) or xemu.load(path)")

    def __repr__(self) -> str:
        if self.net is None:
            return "<xemu.Emulator (not fitted)>"
        m = self.meta
        return (f"<xemu.Emulator cnn-gru {count_parameters(self.net):,} parameters; {m['inputs']} -> "
                f"{m['targets']}; baseline {m['baseline']}; trained on {m['training_selection']}>")

    # -- prediction ---------------------------------------------------------------------
    def _grid(self) -> tuple[xr.DataArray, xr.DataArray]:
        g = self.meta["grid"]
        lat = xr.DataArray(np.asarray(g["lat"]), dims=g["lat_dim"], attrs=g["lat_attrs"])
        lon = xr.DataArray(np.asarray(g["lon"]), dims=g["lon_dim"], attrs=g["lon_attrs"])
        return lat.assign_coords({g["lat_dim"]: lat}), lon.assign_coords({g["lon_dim"]: lon})

    def _prepare_inputs(self, ds: xr.Dataset) -> Prepared:
        lat, lon = self._grid()
        check_grid(ds, lat, lon, who="the emulator")
        m = self.meta
        return prepare(ds, m["inputs"], None, encoding=m["encoding"], grid_alignment=m["grid_alignment"],
                       input_units=m["input_units"], grid=(lat, lon))

    @checking_once
    def correction_weight(self, ds: xr.Dataset, part: str = "slow") -> xr.DataArray:
        """The weight of the network's correction in each month of ``ds``: 1 where the month's
        global-mean inputs are a training month's, falling towards 0 (the baseline alone) with
        their distance from the nearest one (:mod:`xemu.data.novelty`); 1 everywhere for an
        emulator saved before the taper. On the inputs' sample dims and time.

        ``part``: ``"slow"`` (default), the weight of the correction's running mean over
        ``emulator.json``'s ``correction_split["slow_months"]`` months, or ``"fast"``, the weight
        of the rest (1 everywhere by default: :data:`xemu.recipe.correction.FAST_TAPER_LENGTH`); an emulator
        saved before the split gives the same weight for both."""
        self.check_fitted()
        if part not in ("slow", "fast"):
            raise ConfigError(f"part: expected 'slow' or 'fast'; got {part!r}")
        ds = in_memory(check_dataset(ds, argument="ds"), self.inputs)
        p = self._prepare_inputs(ds)
        return labelled_weights(correction_weights(self.meta, p, part), p)

    @checking_once
    def predict(self, ds: xr.Dataset, *, variability: str = "forced", samples: int | None = None,
                seed: int | None = None, anchor: str | int | None = None, device: str = "auto",
                batch_months: int = 256, lazy: bool | None = None, time_chunk: int | None = None) -> xr.Dataset:
        """Predict the targets from the inputs of ``ds``.

        Parameters
        ----------
        ds : xarray.Dataset
            Holds the emulator's inputs (same names, compatible units, the target grid or
            the grid it was aligned from), at least one window of consecutive months.
        variability : {"forced", "calibrated"}
            ``"forced"`` (default): the forced response, the expected value given the
            forcings. ``"calibrated"``: the variability-aware deterministic prediction, whose
            month-to-month variance per cell, in each block of ``variability.block`` months (a
            decade), is its own plus the internal variance learned on the training months
            (:meth:`xemu.variability.Variability.calibrate`).
        samples : int, optional
            Draw this many stochastic realizations (forced response plus internal
            variability learned from the training residuals: by default whole training
            years resampled by :class:`xemu.variability.bootstrap.BlockBootstrap`) on a new
            ``realization`` dim. Each draw varies like another member of the climate
            model, on every time scale the residuals have. Refused (:class:`~xemu.ConfigError`) before
            anything is allocated when it would need more than :data:`xemu.data.checks.MEMORY_FRACTION`.
        seed : int, optional
            Seeds the draws: the same seed gives the same samples (also after save and
            load); without one, a fresh seed is drawn and recorded in the ``realization``
            coordinate's attrs.
        anchor : {None, "decade"} or int, optional
            With ``samples``: ``"decade"`` shifts each draw so that its mean over each
            calendar decade (2090-2099, ...; a piece shorter than five years at either
            end joins its neighbour) is the forced response's, an integer does the same
            for blocks of that many years (:func:`xemu.variability.anchor_draws`). The
            draws keep their month-to-month and year-to-year variability and lose the
            spread of their decadal means: weather around the emulated climate of each
            decade, for users who need exactly that (e.g. to drive an impact model with
            the emulator's decade); leave it ``None`` (default) for questions about the
            range of decadal means.
        device : str
            Where to run the network: ``"auto"`` (default: CUDA when available, else CPU),
            ``"cpu"``, ``"cuda"``, ``"cuda:<n>"``.
        batch_months : int
            Months encoded at once (memory against speed).
        lazy : bool, optional
            Return a dask-backed prediction that computes nothing until asked
            (:mod:`xemu.scale.lazy`: one task per sample and block of months, each reading the
            ``window - 1`` months before its block as context; ``pred.to_zarr(...)`` then
            streams chunk by chunk). By default lazy when an input is dask-backed, except
            with ``samples`` (a draw runs along each whole series: the inputs are then read
            into memory first). ``False``: read the inputs into memory (one compute) and
            predict there.
        time_chunk : int, optional
            Months per block of a lazy prediction, at least the emulator's window; by
            default the inputs' time chunks merged until a block's network input is about
            :data:`xemu.scale.lazy.BLOCK_BYTES`.

        Returns
        -------
        xarray.Dataset
            The targets on ``(*sample dims of the inputs, time, lat, lon)``, in the target
            units. Only the targets' attributes that stay true of a prediction are kept
            (:data:`xemu.data.labels.KEPT_ATTRS`); the global attributes say what made it
            (``Conventions``, ``title``, ``source``, and a dated line appended to the input
            Dataset's ``history``; see :func:`xemu.data.labels.prediction_attrs`).
        """
        self.check_fitted()
        ds = check_dataset(ds, argument="ds")
        if isinstance(batch_months, bool) or not isinstance(batch_months, int) or batch_months < 1:
            raise ConfigError(f"batch_months: expected an integer >= 1; got {batch_months!r}")
        if lazy is not None and not isinstance(lazy, bool):
            raise ConfigError(f"lazy: expected True, False or None; got {lazy!r}")
        names = [n for n in self.variables_read() if n in ds]
        if lazy and samples is not None:
            raise ConfigError(f"lazy: samples={samples} draws along each whole series and is computed in memory; "
                              f"expected lazy=None or False with samples; got lazy=True")
        if lazy is None:
            lazy = samples is None and is_lazy(ds, names)
        if time_chunk is not None and not lazy:
            raise ConfigError(f"time_chunk: sets the blocks of a lazy prediction; got time_chunk={time_chunk!r} "
                              f"for an in-memory one (pass lazy=True, or a dask-backed Dataset)")
        reference = variability == "calibrated" and getattr(self.variability, "needs_reference", False)
        if lazy:
            choose_device(device)
            pred = predict_lazy(self, ds, time_chunk=time_chunk, device=device, batch_months=batch_months,
                                reference=reference)
        else:
            if variability != "forced" or samples is not None:  # more than the forced response's own check
                check_prediction_memory(ds, names, {d.dims[0]: d.size for d in self._grid()},
                                        n_targets=len(self.targets), n_channels=len(self.meta["input_mean"]),
                                        samples=samples, anchor=anchor is not None,
                                        calibrated=variability == "calibrated", who="Emulator.predict", lazy=True)
            pred = self.forced_response(ds, device=device, batch_months=batch_months, with_baseline=reference)
        pred, base = pred if reference else (pred, None)
        return apply_variability(pred, self.variability, output=variability, samples=samples, seed=seed,
                                 anchor=anchor, reference=base)

    @checking_once
    def forced_response(self, ds: xr.Dataset, *, device: str = "auto", batch_months: int = 256,
                        with_baseline: bool = False):
        """The forced response of ``ds``, computed in memory: ``predict(ds, lazy=False)``.

        ``with_baseline``: a pair instead, the forced response and the baseline's part of it (the
        prediction of the baseline the network corrects, in the same Dataset layout), e.g. to see
        what the network adds; a calibrated prediction takes each decade's variance from it
        (:attr:`xemu.variability.Variability.needs_reference`). An emulator without a baseline
        gives each target's training mean there. ``device`` and ``batch_months`` as in :meth:`predict`.
        """
        self.check_fitted()
        ds = check_dataset(ds, argument="ds")
        names = [n for n in self.variables_read() if n in ds]
        check_prediction_memory(ds, names, {d.dims[0]: d.size for d in self._grid()}, n_targets=len(self.targets),
                                n_channels=len(self.meta["input_mean"]), samples=None, anchor=False,
                                who="Emulator.predict", lazy=True)
        ds = in_memory(ds, names)
        dev = choose_device(device)
        p = self._prepare_inputs(ds)
        m = self.meta
        self._check_ranges(p)
        length = int(m["window"])
        check_series(p.time, length, argument="ds")
        base, parts = self._base(ds, p), correction_parts(m, p)  # before the inputs become the network's
        x, p.inputs = torch.from_numpy(self._normalise(p.inputs)), None  # x holds them; freed after the network
        net = self._inference_net(dev)
        with torch.inference_mode():
            out = torch.cat([net.predict_series(x[s : s + 1].to(dev), length, chunk=batch_months).cpu()
                             for s in range(x.shape[0])]).numpy()
        del x
        values = apply_correction(out, m, parts=parts, base=base)
        pred = to_dataset(values, p, self.targets, m["target_attrs"], self._provenance(), source=self._source(),
                          input_attrs=ds.attrs)
        if not with_baseline:
            return pred
        return pred, to_dataset(np.asarray(base), p, self.targets, m["target_attrs"], "the baseline's part")

    def variables_read(self) -> list[str]:
        """The variables a prediction reads: the network's inputs, then the baseline's others."""
        return list(dict.fromkeys([*self.inputs, *(self.meta.get("baseline_inputs") or [])]))

    def _inference_net(self, device: torch.device) -> CNNGRU:
        """:func:`xemu.nn.model.for_inference` of the network (batch norm folded in: faster on CPU).

        Kept between calls while no parameter or buffer of :attr:`net` has changed (torch
        counts every in-place change of a tensor: training or ``load_state_dict`` makes a
        new copy); a lazy prediction's blocks share it.
        """
        key = (id(self.net), str(device),
               tuple((id(t), t._version) for t in (*self.net.parameters(), *self.net.buffers())))
        cached = getattr(self, "_inference", None)
        if cached is None or cached[0] != key:
            cached = (key, for_inference(self.net).to(device))
            self._inference = cached
        return cached[1]

    def _check_ranges(self, p: Prepared) -> None:
        """Warn for each input whose values leave the range seen in training."""
        for c, name in enumerate(self.inputs):
            trained = self.meta.get("input_ranges", {}).get(name)
            if trained is not None and p.inputs[:, :, c].size:
                values = p.inputs[:, :, c]
                warn_outside_range(f"inputs[{name!r}]", float(values.min()), float(values.max()), trained,
                                   units=p.input_units.get(name))

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        """The network's input, in ``x`` itself (float32 prepared inputs, not read after): each input
        variable held to its training range (``clamp_inputs``: all emulators since it was added), then normalised."""
        mean = np.asarray(self.meta["input_mean"], np.float32)[None, None, :, None, None]
        std = np.asarray(self.meta["input_std"], np.float32)[None, None, :, None, None]
        if x.shape[2] != mean.shape[2]:
            raise DataError(f"ds: {x.shape[2]} input channels; the emulator expects {mean.shape[2]}")
        out = np.subtract(x, mean, out=x, dtype=np.float32)  # float32 throughout, no copy
        if self.meta.get("clamp_inputs"):
            for c, name in enumerate(self.inputs):
                lo, hi = self.meta["input_ranges"][name]
                np.clip(out[:, :, c], np.float32(lo) - mean[0, 0, c], np.float32(hi) - mean[0, 0, c],
                        out=out[:, :, c])
        out /= std
        return out

    def _base(self, ds: xr.Dataset, p: Prepared) -> np.ndarray:
        if self.baseline is None:
            mean = np.asarray(self.meta["target_mean"], np.float32)
            return np.broadcast_to(mean[None, None, :, None, None],
                                   (p.inputs.shape[0], p.time.size, len(mean), p.lat.size, p.lon.size))
        return self.baseline.predict_under_network(ds, like=p)

    def _source(self) -> str:
        """The global ``source`` of a prediction: xemu's version and what kind of emulator."""
        from .version import __version__

        baseline = self.meta.get("baseline")
        return f"xemu {__version__} cnn-gru emulator ({f'baseline {baseline}' if baseline else 'no baseline'})"

    def _provenance(self) -> str:
        """The ``history`` line of a prediction: what predicted it, trained on what."""
        m = self.meta
        return (f"predicted {', '.join(self.targets)} with {self._source()} trained on {m['training_selection']}"
                + (f" (trained with xemu {m['xemu_version']})" if m.get("xemu_version") else ""))

    # -- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the emulator to the folder ``path``, atomically; replace nothing xemu did not write.

        The folder holds ``emulator.json`` (configuration, statistics, unit contracts,
        grid, history), ``weights.pt`` (a torch state dict, tensors only) and, with a
        baseline, ``baseline.nc``. :func:`load` runs no code from them.

        Everything is written into a temporary sibling folder, ``emulator.json`` last (it
        marks a complete save), then renamed to ``path``. When ``path`` holds an emulator
        (and ``overwrite=True``) it is first renamed aside, and afterwards only the files
        xemu writes are removed from it, then the folder if it is empty. If the process
        stops between the two renames, :func:`load` finishes the save.

        Parameters
        ----------
        path : path
            The folder to write; absent, or an empty folder.
        overwrite : bool
            Replace an xemu emulator already at ``path``. A folder that also holds other
            files, a file, or a folder that is not an emulator is refused even then.

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        PathError
            ``path`` exists and may not be replaced (the message says what is there).
        DataError
            The emulator's metadata would not load back (see :data:`xemu.io.EMULATOR_SCHEMA`).
        """
        self.check_fitted()
        text = json.dumps({"format": EMULATOR_FORMAT, **self.meta}, indent=1)
        try:
            check_emulator_meta(json.loads(text), "emulator.json", config_class=ModelConfig)
        except DataError as err:
            raise DataError(f"Emulator.save: the emulator's metadata would not load back: {err}") from None
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}

        def write_files(folder: Path) -> None:
            torch.save(state, folder / "weights.pt")
            if self.baseline is not None:
                self.baseline.save(folder / "baseline.nc")
            if self.variability is not None:
                write_netcdf(self.variability.to_dataset(), folder / "variability.nc")

        return save_emulator_folder(path, write_files, text, overwrite=overwrite)


def load(path: str | os.PathLike):
    """Load an emulator folder or a baseline file saved with ``save``; check everything first.

    No code from the files runs: ``emulator.json`` is JSON, the weights are read with
    ``torch.load(..., weights_only=True)``, a baseline is netCDF. Before the network is
    built, ``emulator.json`` is checked against :data:`xemu.io.EMULATOR_SCHEMA` (missing,
    unknown and mistyped keys, lengths that follow from the network's sizes), the network
    is sized on torch's meta device and refused over :data:`xemu.io.MAX_PARAMETERS`
    (2,000,000,000) parameters, and every tensor of ``weights.pt`` is compared by name,
    shape and dtype with it. A baseline named in ``emulator.json`` must be in
    ``baseline.nc`` and match the emulator's targets and grid.

    Interrupted saves: when ``path`` is missing because :meth:`Emulator.save` stopped
    between its two renames, and exactly one complete new save (``.NAME.tmp-*``, which has
    its ``emulator.json``, written last) lies beside it, ``load`` renames it to ``path``,
    warns (naming the previous emulator's folder ``.NAME.old-*`` if one is left; nothing is
    removed) and loads it. Other leftovers raise a :class:`~xemu.DataError` that names
    them and says what to do.

    Parameters
    ----------
    path : path
        An emulator folder (written by :meth:`Emulator.save`) or a baseline's netCDF file.

    Returns
    -------
    Emulator, LinearPatternScaling or Climatology

    Raises
    ------
    PathError
        ``path`` is missing, or a folder without ``emulator.json``.
    DataError
        A file is unreadable, malformed or inconsistent; the message names the file.

    Examples
    --------
    >>> em = xemu.load("cesm2.xemu")  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_file():
        return load_baseline(path)
    meta, net, baseline_file = read_emulator_folder(path, config_class=ModelConfig, network=CNNGRU)
    baseline = None
    if baseline_file is not None:
        baseline = load_baseline(baseline_file)
        check_baseline_matches(meta, baseline, str(baseline_file))
    variability = read_variability_file(path / "variability.nc", meta.get("variability"), meta["targets"],
                                        from_dataset=Variability.from_dataset)
    return Emulator(meta, net, baseline, variability)


def fit(
    ds: xr.Dataset,
    inputs,
    targets,
    *,
    model: str = "cnn-gru",
    holdout: Mapping | None = None,
    preset_name: str = "compact",
    config: Mapping | None = None,
    loss: Mapping[str, str | Mapping[str, float]] | None = None,
    window: int = 12,
    stride: int = 1,
    encoding: str = "sincos",
    grid_alignment: str = "position",
    baseline: str | None = "auto",
    baseline_inputs=None,
    baseline_options: Mapping | None = None,
    checkpoint: str | os.PathLike | None = None,
    callback: Callable | None = None,
    train_config: TrainConfig | Mapping | None = None,
    variability: bool = True,
    stream: bool | Mapping = False,
    **train_options,
):
    """Train an emulator of ``targets`` from ``inputs`` on the Dataset ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Inputs and targets. Every month of every sample is used for training except
        ``holdout``; targets must have no NaN there (select the samples with data first).
    inputs, targets : list of str
        Variable names. Targets are maps with units; inputs are maps (on the target grid or
        one aligned to it, see ``grid_alignment``) or global series, with units.
    model : {"cnn-gru", "linear", "energy-balance", "climatology"}
        The CNN-GRU emulator, or a baseline (:mod:`xemu.baselines`) with the same interface.
    holdout : dict, optional
        Months kept out of training and used for validation and early stopping, e.g.
        ``{"ssp": "ssp370", "member_id": 0, "time": slice("2090-02", None)}``.
    preset_name : {"compact", "seed"}
        Network preset (:data:`xemu.nn.model.PRESETS`); ``config`` overrides its fields.
    loss : dict, optional
        Per-target loss spec, e.g. ``{"tas": "l1 + 0.5*gabor", "pr": "0.5*dice + 0.5*mse"}``;
        default :data:`DEFAULT_LOSS`.
    window, stride : int
        Months per window and between training windows.
    encoding : {"sincos", "study", "none"}
        Seasonal channels (:func:`xemu.encode_season`).
    grid_alignment : {"position", "interp", "exact"}
        How input maps on another grid are aligned (:func:`xemu.data.coords.align_grid`).
    baseline : {"auto", "energy-balance", "linear", "climatology", None}
        What the network corrects; ``None`` predicts the targets around their mean.
        ``"auto"`` (the default): ``"energy-balance"`` with CO2 among ``inputs`` and tas among
        ``targets``, else ``"linear"`` (:func:`~xemu.baselines.registry.resolve_baseline`).
    baseline_inputs : list of str, optional
        Inputs of the baseline (default: ``inputs``; for ``"energy-balance"``, those of
        ``inputs`` it has a role for: CO2, CH4, SO2, BC).
    baseline_options : dict, optional
        Passed to the baseline's ``fit``, e.g. ``{"alpha": 0}`` for ordinary least squares
        instead of the cross-validated ridge of :class:`~xemu.LinearPatternScaling`.
    variability : bool or {"bootstrap", "parametric"}
        Also learn internal variability from the training residuals (the emulator's own
        prediction of the training months against every training member): the internal
        variance of :meth:`xemu.variability.Variability.calibrate` and a residual model per target, for
        ``predict(..., variability="calibrated")`` and ``predict(..., samples=n)``. Needs
        at least 120 consecutive training months. ``True`` (the default) or
        ``"bootstrap"``: the samples resample whole training years of residuals
        (:class:`xemu.variability.bootstrap.BlockBootstrap`, up to 120 years kept in the emulator);
        ``"parametric"``: :class:`xemu.variability.ResidualModel` (EOFs with AR(1)
        principal components; smaller on disk); ``False``: none.
    checkpoint : path, optional
        Checkpoint file, written atomically each epoch; a rerun resumes from it.
    callback : callable, optional
        ``callback(epoch, record)`` after each epoch.
    train_config : TrainConfig or dict, optional
        Training options; keyword arguments (``epochs=``, ``seed=``, ``device=``,
        ``progress=``, ...) override them.
    stream : bool or dict
        Train from a dask-backed Dataset (e.g. ``xr.open_zarr(store)``) read block by block
        (:mod:`xemu.scale.stream`): ``True``, or a dict of :data:`xemu.scale.stream.STREAM_OPTIONS`.
        ``variability`` is learned from one more pass over the blocks (:mod:`xemu.scale.variability`);
        a baseline alone needs ``variability=False``; ``baseline="auto"`` means what it means in
        memory (the energy-balance baseline is fitted from passes over the blocks too).

    Returns
    -------
    Emulator, LinearPatternScaling or Climatology
    """
    ds = check_dataset(ds, argument="ds")
    if stream is not None and stream is not False:  # block by block from the store (xemu.scale.stream)
        from .scale.stream import StreamedSource

        source = StreamedSource(ds, inputs, targets, encoding=encoding, grid_alignment=grid_alignment, stream=stream)
    else:
        source = InMemorySource(ds, inputs, targets, encoding=encoding, grid_alignment=grid_alignment)
    fitted = fit_model(source, model=model, holdout=holdout, preset_name=preset_name, config=config, loss=loss,
                       window=window, stride=stride, baseline=baseline, baseline_inputs=baseline_inputs,
                       baseline_options=baseline_options, checkpoint=checkpoint, callback=callback,
                       train_config=train_config, variability=variability, **train_options)
    return Emulator(*fitted) if isinstance(fitted, Trained) else fitted  # else a baseline alone
