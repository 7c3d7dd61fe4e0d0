"""Training from a store larger than memory: ``fit(..., stream=True)``.

The in-memory path of :func:`xemu.fit` prepares every month of every sample at once. The
streaming path reads a dask-backed Dataset (e.g. ``xr.open_zarr(store)``) in *blocks*: one
target sample (e.g. a scenario and member) and a range of months aligned to the store's
time chunks. Each block is loaded eagerly and prepared with :func:`xemu.data.prepare.prepare`,
so checks, units, grid alignment and seasonal channels are those of the in-memory path,
value for value. Peak memory is set by the block size, not by the number of samples or
months.

Before training, passes over the blocks compute what the in-memory path computes from
whole arrays:

1. inputs, per input sample: the channels' mean and standard deviation and the inputs'
   ranges over the training months, the area-weighted global means the baseline reads (the
   linear baseline's inputs, or the energy-balance baseline's forcings: a few numbers per
   month), and the inputs' content hash;
2. with the energy-balance baseline (``baseline="auto"`` when CO2 is among the inputs and tas
   among the targets, as in memory; or ``model="energy-balance"``), the temperature target
   alone, per target sample: its area-weighted global mean per month, to which the global
   model is fitted by the in-memory fit's own function, strength chosen the same way
   (:mod:`xemu.scale.energy_balance`). A ``roles={"gmt": ...}`` input needs no such pass;
3. targets, per target sample: the sums the baseline is fitted from
   (:class:`xemu.baselines.regression.RidgeSums`: per calendar month, the sums of the
   targets, of the design times the targets and of their squares; the design is the
   standardised global means for the linear baseline, the energy-balance model's global
   mean for the energy-balance baseline) and the targets' content hash. The linear baseline's
   ridge strength is cross-validated from sums per fold too
   (:func:`xemu.baselines.regression.choose_alpha_sums`); when every fold's sums would take
   more memory than a block, one more pass reads the targets ordered by fold, holding one or
   two folds' sums at a time. The coefficients follow from the monthly sums
   (:func:`xemu.baselines.regression.ridge_fit_sums`: for the energy-balance baseline the
   patterns, one least-squares slope and intercept per cell and calendar month), and so
   does the residual scale, the standard deviation of the targets minus the baseline over
   the training months (:func:`xemu.baselines.regression.residual_sums`).

On data that fits in memory the baseline is the in-memory fit's: the energy-balance
baseline's global model bit for bit (measured), its patterns to about 1e-15 of their largest
value, its predictions the same float32 values (``tests/test_stream.py``).

Peak memory holds, besides the blocks, a few numbers per sample and month (the global
means, the design of the baseline, the window index): thousands of times less than the
data.

Training then reads the windows through :class:`StreamLoader`: every window is served from
the block holding its first month, read with the ``window - 1`` months after it; an epoch
shuffles the blocks and the windows within a buffer of a few blocks, and a background
thread reads the next blocks while the network trains.

Internal variability (``variability=True``, ``"bootstrap"`` or ``"parametric"``) is learned
after training from one more pass over the blocks (:mod:`xemu.scale.variability`): the trained
network predicts every training month, and the residual model is learned from the blocks'
residuals (:class:`xemu.variability.streamed.StreamedVariability`): on data that fits in memory
it is the in-memory fit's, to float rounding (``tests/test_stream.py``). A baseline alone
(``model="linear"``, ``"energy-balance"`` or ``"climatology"``) learns no variability when
streamed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from ..baselines.linear import check_alpha
from ..data.checks import check_dataset
from ..data.prepare import holdout_mask
from ..errors import ConfigError
from ..recipe import (
    Trained,
    baseline_input_names,
    baseline_model_options,
    cnn_gru_options,
    emulator_record,
    loss_function,
    network_and_losses,
    options_dict,
    train_options_key,
    training_rows,
    training_windows,
)
from ..variability.core import variability_meta, variability_method
from .blocks import PASS_BLOCKS, BlockSource, skeleton
from .energy_balance import check_options as check_eb_options
from .loader import StreamLoader
from .passes import base_of, baseline_and_scale, input_pass
from .variability import network_predictor, streamed_variability

__all__ = ["StreamLoader", "STREAM_OPTIONS", "PASS_BLOCKS"]

#: Options of ``stream=`` (``stream=True`` takes these defaults; a dict overrides them).
#: ``block_months``: months per block at least (rounded up to the store's time chunks);
#: ``buffer_blocks``: blocks whose windows an epoch shuffles together; ``prefetch_blocks``:
#: blocks read ahead of the one being trained on.
STREAM_OPTIONS: dict[str, int] = {"block_months": 120, "buffer_blocks": 4, "prefetch_blocks": 4}

_REFUSED = ("a baseline streamed alone or under the network learns no internal variability of its own (the "
            "streamed CNN-GRU learns the emulator's: fit(..., stream=True, variability=True)); stream=False fits "
            "the baseline's in memory")


def _stream_options(stream) -> dict:
    """The options of ``stream=`` (``True`` or a dict), checked, with the defaults filled in."""
    if stream is True:
        return dict(STREAM_OPTIONS)
    if not isinstance(stream, Mapping):
        raise ConfigError(f"stream: expected True, False or a dict of options {sorted(STREAM_OPTIONS)}; "
                          f"got {stream!r}")
    unknown = [k for k in stream if k not in STREAM_OPTIONS]
    if unknown:
        raise ConfigError(f"stream: unknown options {unknown}; known: {sorted(STREAM_OPTIONS)}")
    out = {**STREAM_OPTIONS, **stream}
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < (0 if k == "prefetch_blocks" else 1):
            low = 0 if k == "prefetch_blocks" else 1
            raise ConfigError(f"stream[{k!r}]: expected an integer >= {low}; got {v!r}")
    return {k: int(v) for k, v in out.items()}


# -- fit -----------------------------------------------------------------------------------------
def fit(ds, inputs, targets, *, model="cnn-gru", holdout=None, preset_name="compact", config=None, loss=None,
        window=12, stride=1, encoding="sincos", grid_alignment="position", baseline="auto", baseline_inputs=None,
        baseline_options=None, checkpoint=None, callback=None, train_config=None, variability=True, stream=True,
        **train_options):
    """The streaming path of :func:`xemu.fit` (``fit(..., stream=True)``); the arguments are those of ``fit``.

    ``stream`` is ``True`` or a dict of :data:`STREAM_OPTIONS`. ``variability`` is learned from
    a pass over the blocks after training (:mod:`xemu.scale.variability`); a baseline alone
    (``model="linear"``, ``"energy-balance"`` or ``"climatology"``) refuses it. ``baseline="auto"``
    means what it means in memory (:func:`xemu.baselines.registry.resolve_baseline`).

    Returns
    -------
    xemu.recipe.Trained or a baseline
        The trained parts of the emulator (``xemu.Emulator(*trained)``); with
        ``model="linear"``, ``"energy-balance"`` or ``"climatology"``, the fitted baseline itself.
    """
    import torch

    from ..baselines import BASELINES
    from ..baselines.registry import resolve_baseline
    from ..nn.distributed import is_distributed
    from ..nn.model import CNNGRU
    from ..nn.training import train

    ds = check_dataset(ds, argument="ds")
    baseline = resolve_baseline(baseline, inputs, targets, baseline_inputs=baseline_inputs)
    opts = _stream_options(stream)
    baseline_options = options_dict(baseline_options, "baseline_options")
    if model in BASELINES:
        return _fit_baseline(ds, inputs, targets, model, holdout=holdout, grid_alignment=grid_alignment,
                             train_config=train_config, variability=variability,
                             options={**baseline_options, **train_options}, opts=opts)
    tc, baseline_options = _cnn_gru_options(model, train_config, train_options, baseline, baseline_options)
    if baseline == "energy-balance":  # its options checked before any pass
        check_eb_options(ds, baseline_input_names(baseline, baseline_inputs, inputs, baseline_options), targets,
                         baseline_options)
    var_method = variability_method(variability)  # checked before training, used after it
    config = options_dict(config, "config")

    p = skeleton(ds, inputs, targets, encoding=encoding, grid_alignment=grid_alignment)
    src = BlockSource(ds, p, inputs, targets, encoding, grid_alignment, opts)
    held, train_idx, val_idx = training_windows(p, holdout, window, stride)

    keyed = checkpoint is not None or is_distributed(tc.distributed)  # the checkpoint's key; what DDP's processes compare
    st = _statistics(src, ds, inputs, targets, ~held, holdout, baseline, baseline_inputs, baseline_options, keyed)
    cfg, specs = network_and_losses(p, preset_name, config, loss)
    train_loader, val_loader = _loaders(src, st, train_idx, val_idx, tc, opts)

    loss_fn = loss_function(cfg, specs, p)
    torch.manual_seed(tc.seed)
    net = CNNGRU(cfg)
    fingerprint = ""
    if keyed:
        fingerprint = _fingerprint(src, cfg, tc, specs, st, holdout, window, stride, baseline, baseline_options, opts)
    try:
        result = train(net, loss_fn, train_loader, val_loader, config=tc, checkpoint=checkpoint, callback=callback,
                       fingerprint=fingerprint)
    finally:
        for loader in (train_loader, val_loader):
            if loader is not None:
                loader.close()
    net.to("cpu").eval()
    var_model = _variability(src, net, st, window, held, var_method, opts) if var_method is not None else None

    note = (f"trained streamed from the Dataset in blocks of one sample and at least {opts['block_months']} months "
            f"({train_loader.n_blocks} training blocks; {opts['buffer_blocks']} shuffled together, "
            f"{opts['prefetch_blocks']} read ahead)")
    meta = emulator_record(p, st, inputs=inputs, encoding=encoding, window=window, stride=stride,
                           grid_alignment=grid_alignment, baseline=baseline, baseline_inputs=baseline_inputs,
                           baseline_options=baseline_options, cfg=cfg, preset_name=preset_name, tc=tc, specs=specs,
                           holdout=holdout, n_train=len(train_idx), n_val=len(val_idx) if val_idx is not None else 0,
                           result=result, notes=[note], variability=variability_meta(var_model))
    return Trained(meta, net, st.baseline, var_model)


def _variability(src: BlockSource, net, st, window: int, held: np.ndarray, method: str, opts: dict):
    """The trained emulator's residual model, from one pass over the blocks (:mod:`xemu.scale.variability`);
    the parametric fit reads its residuals back in chunks of a few blocks' bytes (32 MiB at least)."""
    p = src.p
    budget = max(2**25, PASS_BLOCKS * opts["block_months"] * (len(p.channels) + len(p.target_names)) * p.lat.size
                 * p.lon.size * 4)
    return streamed_variability(src, network_predictor(src, net, st, window), held, method, budget=budget)


def _fit_baseline(ds, inputs, targets, model: str, *, holdout, grid_alignment, train_config, variability,
                  options: dict, opts: dict):
    """``model="linear" | "energy-balance" | "climatology"`` streamed: the baseline alone, fitted from the
    sums of one pass over the targets (two for the energy-balance baseline)."""
    options = baseline_model_options(model, train_config, options)
    value = options.pop("variability", variability)
    if value:
        raise ConfigError(f"variability: expected False with model={model!r} and stream=True ({_REFUSED}); "
                          f"got {value!r}")
    if model == "linear":
        check_alpha(options.get("alpha", "cv"))
    elif model == "energy-balance":
        check_eb_options(ds, inputs, targets, options)
    p = skeleton(ds, inputs, targets, encoding="none", inputs_as="global_means", grid_alignment=grid_alignment)
    src = BlockSource(ds, p, inputs, targets, "none", grid_alignment, opts)
    train = ~holdout_mask(p, holdout)
    means = None
    if model in ("linear", "energy-balance"):  # the global means they read
        means = input_pass(src, training_rows(p, train), list(inputs), maps=False)[3]
    return baseline_and_scale(src, model, p, means, train, holdout, options)[0]


def _cnn_gru_options(model, train_config, train_options: dict, baseline, baseline_options: dict):
    """The checked :class:`TrainConfig` and baseline options of a streamed CNN-GRU fit (the baseline
    under the network learns no variability of its own)."""
    tc, baseline_options = cnn_gru_options(model, train_config, train_options, baseline, baseline_options)
    if baseline is not None:
        if baseline_options.get("variability"):
            raise ConfigError(f"baseline_options['variability']: expected False or absent with stream=True "
                              f"({_REFUSED}); got {baseline_options['variability']!r}")
        if baseline == "linear":
            check_alpha(baseline_options.get("alpha", "cv"))
    return tc, baseline_options


class _Statistics(NamedTuple):
    """What the passes before training learn: see :func:`_statistics`."""

    mean: np.ndarray  # per input channel
    std: np.ndarray
    ranges: dict  # input name -> [min, max]
    baseline: object | None  # the baseline the network corrects
    scale: np.ndarray  # per target: the std of the training residuals from the base
    target_mean: np.ndarray | None  # per target, when there is no baseline
    base: object  # base(i, a, e): the baseline's prediction of a block (xemu.scale.passes.base_of)
    digests: tuple  # blake2b of the inputs' and the targets' bytes (None when not keyed)


def _statistics(src: BlockSource, ds, inputs, targets, train: np.ndarray, holdout, baseline, baseline_inputs,
                baseline_options: dict, keyed: bool) -> _Statistics:
    """The passes over the blocks before training: normalisation, ranges, the baseline and the target scale."""
    p = src.p
    names = baseline_input_names(baseline, baseline_inputs, inputs, baseline_options) if baseline else None
    means_of = names if baseline in ("linear", "energy-balance") else None
    mean, std, ranges, means, in_digest = input_pass(src, training_rows(p, train), means_of, keyed=keyed)
    pb = p
    if baseline is not None:
        pb = skeleton(ds, names, targets, encoding="none", inputs_as="global_means",
                      grid_alignment=src.grid_alignment)
    tgt_digest = hashlib.blake2b(digest_size=32) if keyed else None
    bl, scale, target_mean = baseline_and_scale(src, baseline, pb, means, train, holdout, baseline_options,
                                                digest=tgt_digest)
    base = base_of(bl, pb, means, target_mean)
    return _Statistics(mean, std, ranges, bl, np.where(scale > 0, scale, 1.0), target_mean, base,
                       (in_digest, tgt_digest))


def _loaders(src: BlockSource, st: _Statistics, train_idx, val_idx, tc, opts: dict):
    """The training and validation :class:`StreamLoader`; blocks as tensors: inputs normalised, targets and
    baseline divided by the target scale (as in memory)."""
    import torch

    lay = src.lay
    scale32 = st.scale.astype(np.float32)[None, :, None, None]
    mean4, std4 = st.mean[None, :, None, None], st.std[None, :, None, None]

    def load(s: int, a: int, e: int):
        x, y = src.train_block(s, a, e)
        b = st.base(int(lay.t2i[s]), a, e)
        return (torch.from_numpy(((x - mean4) / std4).astype(np.float32)), torch.from_numpy(y / scale32),
                torch.from_numpy(np.ascontiguousarray(b / scale32)))

    kw = {"batch_size": tc.batch_size, "seed": tc.seed, "buffer_blocks": opts["buffer_blocks"],
          "prefetch_blocks": opts["prefetch_blocks"]}
    train_loader = StreamLoader(train_idx, lay.edges, load, shuffle=tc.shuffle, **kw)
    val_loader = StreamLoader(val_idx, lay.edges, load, **kw) if val_idx is not None else None
    return train_loader, val_loader


def _fingerprint(src: BlockSource, cfg, tc, specs, st: _Statistics, holdout, window, stride, baseline,
                 baseline_options, opts) -> str:
    """What a checkpoint of a streamed run must match: configuration, block layout, statistics, the data's hash."""
    lay, p = src.lay, src.p
    shapes = [[int(np.prod(lay.i_shape, dtype=int)), lay.n_time, len(p.channels), p.lat.size, p.lon.size],
              [lay.t2i.size, lay.n_time, len(p.target_names), p.lat.size, p.lon.size]]
    blob = json.dumps(["stream", opts, cfg.to_dict(), train_options_key(tc), specs, p.channels, shapes,
                       st.mean.tolist(), st.std.tolist(), st.scale.tolist(), repr(holdout), window, stride, baseline,
                       baseline_options], sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode())
    for d in st.digests:  # blake2b of the inputs' and the targets' bytes, in the order of the whole arrays
        digest.update(d.digest())
    return digest.hexdigest()
