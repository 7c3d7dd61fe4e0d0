"""The CNN-GRU recipe shared by the in-memory fit (:func:`xemu.fit`) and the streamed fit
(:mod:`xemu.scale.stream`): :func:`~xemu.recipe.fit_model`, the one sequence of steps both run
over their source of data, and its parts: the checked options, the network's configuration and
each target's loss, the loss function, input statistics, the checkpoint's fingerprint and the
``emulator.json`` record and the trained parts an :class:`~xemu.Emulator` is built from. It
holds no state and knows nothing of how the data are read. How a prediction applies the
network's correction is :mod:`xemu.recipe.correction`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from ..baselines import BASELINES
from ..baselines.registry import resolve_baseline
from ..data.checks import month_index
from ..data.labels import describe_selection
from ..data.novelty import Novelty
from ..data.prepare import Prepared, holdout_mask
from ..data.windows import WindowLoader, define_windows
from ..errors import ConfigError, warn
from ..io.records import jsonable
from ..nn.device import choose_device
from ..nn.distributed import is_distributed
from ..nn.losses import CombinedLoss, parse_spec
from ..nn.model import CNNGRU, ModelConfig, preset
from ..nn.training import TrainConfig, TrainResult, train
from ..variability.core import fit_variability, variability_meta, variability_method
from ..version import __version__
from .correction import FAST_TAPER_LENGTH, SLOW_MONTHS, TAPER_LENGTH

__all__ = ["DEFAULT_LOSS", "fit_model", "options_dict", "check_baseline_options", "cnn_gru_options", "network_and_losses",
           "loss_function", "train_options_key", "check_loss", "channel_stats", "mean_and_std", "training_rows",
           "input_ranges", "fit_fingerprint", "emulator_record", "taper_record", "training_windows",
           "baseline_model_options", "Trained", "Statistics", "training_statistics", "window_loaders",
           "fit_residual_model", "training_novelty", "history_dataset", "HISTORY_VARIABLES"]


#: Loss per target when none is given; other targets get "mse". The "std" term keeps the
#: month-to-month variability of precipitation (see docs/results).
DEFAULT_LOSS: dict[str, str] = {"tas": "mse + 0.5*std", "pr": "mse + 0.5*std"}


class Trained(NamedTuple):
    """The parts of a trained CNN-GRU: ``xemu.Emulator(*trained)`` is the emulator."""

    meta: dict  # the emulator.json record (:func:`emulator_record`)
    net: CNNGRU
    baseline: object | None  # the baseline the network corrects
    variability: object | None  # the model of internal variability


def fit_model(source, *, model, holdout, preset_name, config, loss, window, stride, baseline, baseline_inputs,
              baseline_options, checkpoint, callback, train_config, variability, **train_options):
    """:func:`xemu.fit` over a ``source`` of data: the options checked, then a baseline alone, or the
    CNN-GRU's steps from the data to :class:`Trained`. The arguments are those of ``fit``.

    The source (the in-memory one of :mod:`xemu.emulator`, or a store read block by block,
    :mod:`xemu.scale.stream`) has ``inputs``, ``targets``, ``encoding`` and ``grid_alignment``,
    and does what depends on how the data are read: ``fit_baseline`` (``model`` a baseline),
    ``check_options`` (what its reading adds to the checks), ``prepare`` (the
    :class:`~xemu.data.prepare.Prepared` arrays, or their skeleton), ``statistics`` (what is
    learned before the network, the baseline included: ``mean``, ``std``, ``ranges``, ``scale``,
    ``target_mean``, ``baseline``), ``loaders``, ``fingerprint_data`` (:func:`fit_fingerprint`),
    ``close`` (after training), ``residual_model``, ``notes`` and ``novelty`` (the record's).
    """
    inputs, targets = source.inputs, source.targets
    baseline = resolve_baseline(baseline, inputs, targets, baseline_inputs=baseline_inputs)
    baseline_options = options_dict(baseline_options, "baseline_options")
    if model in BASELINES:
        return source.fit_baseline(model, holdout=holdout, train_config=train_config,
                                   options={"variability": variability, **baseline_options, **train_options})
    tc, baseline_options = cnn_gru_options(model, train_config, train_options, baseline, baseline_options)
    bl_inputs = baseline_input_names(baseline, baseline_inputs, inputs, baseline_options) if baseline else None
    source.check_options(baseline, bl_inputs, baseline_options)
    config = options_dict(config, "config")
    var_method = variability_method(variability)  # checked before training, used after it

    p = source.prepare()
    held, train_idx, val_idx = training_windows(p, holdout, window, stride)
    keyed = checkpoint is not None or is_distributed(tc.distributed)  # the checkpoint's key; what DDP's processes compare
    stats = source.statistics(held, holdout, baseline, bl_inputs, baseline_options, keyed)
    cfg, specs = network_and_losses(p, preset_name, config, loss)
    train_loader, val_loader = source.loaders(stats, train_idx, val_idx, tc)

    loss_fn = loss_function(cfg, specs, p)
    torch.manual_seed(tc.seed)
    net = CNNGRU(cfg)
    fingerprint = fit_fingerprint(source.fingerprint_data(stats), cfg, tc, specs, p, stats, holdout, window, stride,
                                  baseline, baseline_options) if keyed else ""
    try:
        result = train(net, loss_fn, train_loader, val_loader, config=tc, checkpoint=checkpoint, callback=callback,
                       fingerprint=fingerprint)
    finally:
        source.close()
    net.to("cpu").eval()
    var_model = source.residual_model(net, stats, held, window, var_method) if var_method is not None else None

    meta = emulator_record(p, stats, inputs=inputs, encoding=source.encoding, window=window, stride=stride,
                           grid_alignment=source.grid_alignment, baseline=baseline, baseline_inputs=baseline_inputs,
                           baseline_options=baseline_options, cfg=cfg, preset_name=preset_name, tc=tc, specs=specs,
                           holdout=holdout, n_train=len(train_idx), n_val=len(val_idx) if val_idx is not None else 0,
                           result=result, notes=source.notes(), variability=variability_meta(var_model),
                           novelty=source.novelty(held))
    return Trained(meta, net, stats.baseline, var_model)


def emulator_record(p: Prepared, stats, *, inputs, encoding, window, stride, grid_alignment, baseline,
                    baseline_inputs, baseline_options, cfg, preset_name, tc, specs, holdout, n_train: int, n_val: int,
                    result: TrainResult, notes=(), variability: dict | None = None,
                    novelty: Novelty | None = None) -> dict:
    """The ``emulator.json`` record of a trained CNN-GRU (in memory or streamed, :mod:`xemu.scale.stream`).

    ``stats`` holds what the fit learned before the network (``mean``, ``std``, ``ranges``,
    ``scale``, ``target_mean``: :class:`Statistics`, or the streamed fit's own); ``notes`` are
    added to those of the data; ``variability`` is what the record keeps of the model of
    internal variability (:func:`xemu.variability.core.variability_meta`); ``novelty`` the
    training forcings that taper the network's correction (:func:`~xemu.recipe.correction.apply_correction`).
    """
    lat, lon = p.lat, p.lon
    return {
        "kind": "cnn-gru",
        "xemu_version": __version__,
        "inputs": list(p.input_units),
        "targets": list(p.target_names),
        "channels": p.channels,
        "encoding": encoding,
        "window": window,
        "stride": stride,
        "grid_alignment": grid_alignment,
        "baseline": baseline,
        "baseline_inputs": (baseline_input_names(baseline, baseline_inputs, inputs, baseline_options)
                            if baseline else None),
        "baseline_options": baseline_options,
        "input_units": p.input_units,
        "target_units": p.target_units,
        "target_attrs": {k: jsonable(v) for k, v in p.target_attrs.items()},
        "grid": {"lat_dim": lat.dims[0], "lon_dim": lon.dims[0], "lat": lat.values.tolist(),
                 "lon": lon.values.tolist(), "lat_attrs": jsonable(lat.attrs), "lon_attrs": jsonable(lon.attrs)},
        "input_mean": stats.mean.tolist(),
        "input_std": stats.std.tolist(),
        "input_ranges": stats.ranges,
        # outside its training range the network's correction stays at the edge of what it
        # learned; the baseline carries the extrapolation (xemu.Emulator.predict)
        "clamp_inputs": True,
        "target_scale": stats.scale.tolist(),
        "target_mean": stats.target_mean.tolist() if stats.target_mean is not None else None,
        "model": cfg.to_dict(),
        "preset": preset_name,
        "train": tc.to_dict(),
        "loss": {t: parse_spec(s) for t, s in specs.items()},
        "training_selection": describe_selection(p, holdout),
        "n_train_windows": n_train,
        "n_val_windows": n_val,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "train_seconds": result.seconds,
        "data_seconds": result.data_seconds,
        "device": str(choose_device(tc.device)),
        "notes": [*p.notes, *notes],
        "variability": variability,
        **({"novelty": novelty.to_dict(), **taper_record()} if novelty is not None else {}),
    }


def taper_record() -> dict:
    """The default taper of the network's correction as ``emulator.json`` records it:
    ``taper_length`` (:data:`~xemu.recipe.correction.TAPER_LENGTH`) and ``correction_split``
    (:data:`~xemu.recipe.correction.SLOW_MONTHS`, :data:`~xemu.recipe.correction.FAST_TAPER_LENGTH`,
    ``null`` for ``inf``)."""
    fast = None if math.isinf(FAST_TAPER_LENGTH) else FAST_TAPER_LENGTH
    return {"taper_length": TAPER_LENGTH, "correction_split": {"slow_months": SLOW_MONTHS, "fast_taper_length": fast}}


def channel_stats(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per channel of ``x`` ``(S, T, C, H, W)`` over the rows ``(S, T)`` selected."""
    c = x.shape[2]
    total = np.zeros(c)
    sq = np.zeros(c)
    n = 0
    for s in range(x.shape[0]):
        sel = x[s][rows[s]].astype(np.float64)  # (n, C, H, W)
        total += sel.sum((0, 2, 3))
        n += sel.shape[0] * sel.shape[2] * sel.shape[3]
        sq += (sel**2).sum((0, 2, 3))
    return mean_and_std(total, sq, n)


def mean_and_std(total: np.ndarray, sq: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation from the sums of ``n`` values and of their squares; a standard
    deviation of (relatively) zero is 1 (a constant channel is not scaled).

    Examples
    --------
    >>> mean_and_std(np.array([6.0, 8.0]), np.array([14.0, 16.0]), 4)
    (array([1.5, 2. ]), array([1.11803399, 1.        ]))
    """
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean**2, 0))
    std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1e-30), std, 1.0)
    return mean, std


def training_rows(p: Prepared, train: np.ndarray) -> np.ndarray:
    """``(S_in, T)`` bool: the input rows of the training months ``train`` ``(S_t, T)``."""
    n_in = int(np.prod([p.sample_coords[d].size for d in p.input_sample_dims], dtype=int))
    rows = np.zeros((n_in, p.time.size), bool)
    s_idx, t_idx = np.nonzero(train)
    rows[p.target_to_input[s_idx], t_idx] = True
    return rows


def fit_fingerprint(data: tuple, cfg, tc, specs, p, stats, holdout, window, stride, baseline,
                    baseline_options) -> str:
    """What a checkpoint must match to be resumed: configuration, statistics and the data's content.

    ``data`` is what the source says of its data (``fingerprint_data`` of :func:`fit_model`'s
    source): what comes before the configuration (how the data are read), the shapes and the
    digests of the inputs' and the targets' bytes (same shape and statistics is not the same data).
    """
    head, shapes, digests = data
    blob = json.dumps([*head, cfg.to_dict(), train_options_key(tc), specs, p.channels, *shapes,
                       stats.mean.tolist(), stats.std.tolist(), stats.scale.tolist(),
                       repr(holdout), window, stride, baseline, baseline_options], sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode())
    for d in digests:
        digest.update(d)
    return digest.hexdigest()


def training_windows(p: Prepared, holdout, window: int, stride: int):
    """The holdout mask ``(S_t, T)``, the training windows and the validation windows (``None``
    without a holdout) of a fit."""
    held = holdout_mask(p, holdout)
    months = month_index(p.time)
    train_idx = define_windows(~held, months, length=window, stride=stride, argument="ds (training months)")
    val_idx = define_windows(held, months, length=window, stride=window, argument="holdout") if held.any() else None
    return held, train_idx, val_idx


def training_novelty(p: Prepared, held: np.ndarray) -> Novelty:
    """The training months' forcings (:class:`~xemu.data.novelty.Novelty`) of a fit whose
    held-out target rows are ``held`` ``(S_t, T)``."""
    return Novelty.fit(p, training_rows(p, ~held))


def baseline_model_options(model: str, train_config, options: dict) -> dict:
    """The checked options of ``fit(model="linear" | "climatology")``: a baseline alone has no
    ``train_config``."""
    if train_config is not None:
        raise ConfigError(f"train_config: does not apply to model={model!r} (a baseline has no training loop)")
    return check_baseline_options(model, options)


def options_dict(value, argument: str) -> dict:
    """A dict of options from ``None`` or a mapping; anything else raises :class:`~xemu.ConfigError`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{argument}: expected a dict of options or None; got {type(value).__name__}")
    return dict(value)


def check_baseline_options(kind: str, options: dict) -> dict:
    """``options`` if the baseline ``kind``'s ``fit`` takes them, else :class:`~xemu.ConfigError`."""
    import inspect

    params = inspect.signature(BASELINES[kind].fit).parameters
    known = [k for k, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY
             and k not in ("holdout", "grid_alignment")]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise ConfigError(f"fit: options {unknown} do not apply to the {kind!r} baseline; it takes {known}")
    return options


def cnn_gru_options(model, train_config, train_options: dict, baseline, baseline_options: dict):
    """The checked :class:`TrainConfig` and baseline options of a CNN-GRU fit (``model`` must be one)."""
    if model != "cnn-gru":
        raise ConfigError(f"model: expected 'cnn-gru' or one of {list(BASELINES)}; got {model!r}")
    if isinstance(train_config, TrainConfig):
        train_config = train_config.to_dict()
    tc = TrainConfig.from_options({**options_dict(train_config, "train_config"), **train_options}, argument="fit")
    if baseline is not None and baseline not in BASELINES:
        raise ConfigError(f"baseline: expected 'auto', one of {list(BASELINES)} or None; got {baseline!r}")
    if baseline is not None:
        baseline_options = check_baseline_options(baseline, baseline_options)
    return tc, baseline_options


def network_and_losses(p: Prepared, preset_name: str, config: dict, loss) -> tuple[ModelConfig, dict]:
    """The network's configuration for the prepared data, and each target's loss spec (checked)."""
    cfg = preset(preset_name, **{**config, "in_channels": len(p.channels),
                                 "n_targets": len(p.target_names), "height": p.lat.size, "width": p.lon.size})
    specs = {t: (loss or {}).get(t, DEFAULT_LOSS.get(t, "mse")) for t in p.target_names}
    if loss:
        unknown = [k for k in loss if k not in p.target_names]
        if unknown:
            raise ConfigError(f"loss: specs for unknown targets {unknown}; targets are {p.target_names}")
    check_loss(specs, cfg)
    return cfg, specs


def loss_function(cfg: ModelConfig, specs: dict, p: Prepared) -> Callable:
    """``loss_fn(pred, (x, y, base))`` of training: the combined loss of ``base + pred`` against ``y``,
    area-weighted by the cosine of latitude (on the last month only with ``output="last"``)."""
    lat_w = torch.tensor(np.cos(np.deg2rad(p.lat.values)), dtype=torch.float32)
    combined = CombinedLoss(specs, p.target_names, lat_w / lat_w.mean())

    def loss_fn(pred, batch):
        _, yb, bb = batch
        if cfg.output == "last":
            yb, bb = yb[:, -1], bb[:, -1]
        return combined(bb + pred, yb)

    return loss_fn


def train_options_key(tc) -> dict:
    """The training options a checkpoint's fingerprint holds: those that change the result."""
    ignored = ("progress", "device", "threads", "distributed")
    part = {k: v for k, v in tc.to_dict().items() if k not in ignored}
    if part.get("shuffle") is True:  # the default, as before the option existed: older checkpoints resume
        del part["shuffle"]
    return part


def check_loss(specs: dict, cfg: ModelConfig) -> None:
    """Every target's loss parses; a target with all weights 0 warns, all targets so raises."""
    silent = []
    for t, spec in specs.items():
        terms = parse_spec(spec, argument=f"loss[{t!r}]")
        if cfg.output == "last" and ({"std", "tmean"} & set(terms)):
            raise ConfigError(f"loss[{t!r}]: 'std' and 'tmean' need output='all'")
        if not any(w > 0 for w in terms.values()):
            silent.append(t)
    if silent and len(silent) == len(specs):
        raise ConfigError(f"loss: every term of every target has weight 0 ({specs}); nothing would be trained")
    if silent:
        warn(f"loss: every term of {silent} has weight 0; the network does not learn them "
             f"(their predictions stay the baseline's)")


def input_ranges(p: Prepared, rows: np.ndarray) -> dict[str, list[float]]:
    """Training minimum and maximum of each input variable's values (maps: every cell)."""
    out = {}
    for c, name in enumerate(p.input_units):
        lo, hi = np.inf, -np.inf
        for s in range(p.inputs.shape[0]):
            if rows[s].any():
                sel = p.inputs[s, rows[s], c]
                lo, hi = min(lo, float(sel.min())), max(hi, float(sel.max()))
        out[name] = [lo, hi]
    return out


class Statistics(NamedTuple):
    """What a fit learns from its training months before the network: see :func:`training_statistics`."""

    mean: np.ndarray  # per input channel
    std: np.ndarray
    ranges: dict  # input name -> [min, max]
    base: np.ndarray  # (S_in, T, V, H, W): the baseline's prediction, or each target's training mean
    target_mean: np.ndarray | None  # per target, when there is no baseline
    scale: np.ndarray  # per target: the std of the training residuals from ``base``
    baseline: object | None = None  # the baseline the network corrects


def training_statistics(p: Prepared, held: np.ndarray, base: np.ndarray | None, baseline=None) -> Statistics:
    """Normalisation of the inputs and scale of the targets, from training months only.

    ``base`` is the prediction ``(S_in, T, V, H, W)`` of ``baseline``, the baseline the network
    corrects; without a baseline the network predicts each target around its training mean.
    """
    train_rows = training_rows(p, ~held)
    s_idx, t_idx = np.nonzero(~held)
    mean, std = channel_stats(p.inputs, train_rows)
    ranges = input_ranges(p, train_rows)
    y_train = p.targets[s_idx, t_idx]  # (N, V, H, W)
    if base is None:
        target_mean = y_train.mean((0, 2, 3), dtype=np.float64)
        base = np.broadcast_to(target_mean.astype(np.float32)[None, None, :, None, None],
                               (*p.inputs.shape[:2], len(p.target_names), p.lat.size, p.lon.size))
    else:
        target_mean = None
    resid = y_train - base[p.target_to_input[s_idx], t_idx]
    scale = resid.std((0, 2, 3), dtype=np.float64)
    return Statistics(mean, std, ranges, base, target_mean, np.where(scale > 0, scale, 1.0), baseline)


def window_loaders(p: Prepared, stats: Statistics, train_idx, val_idx, tc: TrainConfig):
    """The network's inputs (normalised, ``(S_in * T, C, H, W)``) and the training and validation loaders
    (targets and baseline divided by the target scale)."""
    scale32 = stats.scale.astype(np.float32)[None, None, :, None, None]
    x = torch.from_numpy(((p.inputs - stats.mean[None, None, :, None, None]) / stats.std[None, None, :, None, None])
                         .astype(np.float32).reshape(-1, *p.inputs.shape[2:]))
    y = torch.from_numpy((p.targets / scale32).reshape(-1, *p.targets.shape[2:]))
    b = torch.from_numpy(np.ascontiguousarray(stats.base / scale32).reshape(-1, *p.targets.shape[2:]))
    n_time = p.time.size
    train_loader = WindowLoader(train_idx, x, n_time, y, p.target_to_input, batch_size=tc.batch_size,
                                shuffle=tc.shuffle, seed=tc.seed, extra=b)
    val_loader = (WindowLoader(val_idx, x, n_time, y, p.target_to_input, batch_size=tc.batch_size, extra=b)
                  if val_idx is not None else None)
    return x, train_loader, val_loader


def fit_residual_model(net: CNNGRU, x: torch.Tensor, p: Prepared, stats: Statistics, held: np.ndarray,
                        window: int, method: str):
    """The residual model of internal variability, from the trained emulator's own prediction of the
    training months against every training member (:func:`xemu.variability.core.fit_variability`;
    with a baseline, its prediction is the calibration's ``reference``)."""
    scale32 = stats.scale.astype(np.float32)[None, None, :, None, None]
    with torch.no_grad():
        xs = x.view(p.inputs.shape[0], p.time.size, *p.inputs.shape[2:])
        out = torch.cat([net.predict_series(xs[s : s + 1], window) for s in range(xs.shape[0])]).numpy()
    # on a baseline, the calibration takes each block's variance from the baseline's prediction
    return fit_variability(p, stats.base + out * scale32, held, method=method,
                           reference=stats.base if stats.baseline is not None else None)


def baseline_input_names(baseline: str, baseline_inputs, inputs, baseline_options=None) -> list[str]:
    """The inputs of the baseline under the CNN-GRU: ``baseline_inputs`` when given, else
    ``inputs`` (for ``"energy-balance"``: those of ``inputs`` it has a role for, by the
    ``roles`` of ``baseline_options``)."""
    if baseline_inputs:
        return list(baseline_inputs)
    if baseline == "energy-balance":
        from ..baselines.energy_balance import role_inputs

        return role_inputs(inputs, (baseline_options or {}).get("roles"))
    return list(inputs)


#: The variables of :attr:`xemu.Emulator.history`: record key -> (long_name, units).
HISTORY_VARIABLES: dict[str, tuple[str, str]] = {
    "train_loss": ("training loss, mean over the epoch's batches (targets in units of their residual scale)", "1"),
    "val_loss": ("validation loss, mean over the validation windows (same scale)", "1"),
    "seconds": ("wall-clock time of the epoch's training steps", "s"),
    "data_seconds": ("time spent assembling batches within the epoch", "s"),
    "lr": ("learning rate after the epoch's last step", "1"),
}


def history_dataset(records: list[dict]) -> xr.Dataset:
    """The per-epoch training records (dicts with a 0-based ``epoch``) as a Dataset on ``epoch``.

    ``val_loss`` is a variable only when some record has it; a value missing from a record
    is NaN. See :attr:`xemu.Emulator.history`.

    Examples
    --------
    >>> h = history_dataset([{"epoch": 0, "train_loss": 0.5, "seconds": 2.0, "data_seconds": 0.1, "lr": 1e-3},
    ...                      {"epoch": 1, "train_loss": 0.4, "seconds": 2.0, "data_seconds": 0.1, "lr": 5e-4}])
    >>> h.epoch.values.tolist(), h.train_loss.values.tolist(), "val_loss" in h
    ([1, 2], [0.5, 0.4], False)
    """
    records = list(records)
    epochs = [int(r.get("epoch", i)) + 1 for i, r in enumerate(records)]
    out = {}
    for key, (long_name, units) in HISTORY_VARIABLES.items():
        if key == "val_loss" and not any("val_loss" in r for r in records):
            continue
        values = np.array([float(r.get(key, np.nan)) for r in records], np.float64)
        out[key] = xr.DataArray(values, dims="epoch", attrs={"long_name": long_name, "units": units})
    epoch = xr.DataArray(np.array(epochs, np.int64), dims="epoch", attrs={"long_name": "training epoch (from 1)"})
    return xr.Dataset(out, coords={"epoch": epoch}, attrs={"title": "xemu training history"})
