"""Training from a store larger than memory: ``fit(..., stream=True)``.

The in-memory path of :func:`xemu.fit` prepares every month of every sample at once. The
streaming path reads a dask-backed Dataset (e.g. ``xr.open_zarr(store)``) in *blocks*: one
target sample (e.g. a scenario and member) and a range of months aligned to the store's
time chunks. Each block is loaded eagerly and prepared with :func:`xemu.data.prepare.prepare`,
so checks, units, grid alignment and seasonal channels are those of the in-memory path,
value for value. Peak memory is set by the block size, not by the number of samples or
months.

The fit runs the steps of the in-memory fit (:func:`xemu.recipe.fit_model`) over a
:class:`StreamedSource` instead of whole arrays. Before training, passes over the blocks
compute what the in-memory path computes from whole arrays:

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
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from ..baselines.linear import check_alpha
from ..data.checks import check_dataset
from ..data.prepare import holdout_mask
from ..errors import ConfigError
from ..recipe import baseline_model_options, fit_model, training_rows
from .blocks import PASS_BLOCKS, BlockSource, skeleton
from .energy_balance import check_options as check_eb_options
from .loader import StreamLoader
from .passes import base_of, baseline_and_scale, input_pass
from .variability import network_predictor, streamed_variability

__all__ = ["StreamedSource", "StreamLoader", "STREAM_OPTIONS", "PASS_BLOCKS"]

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
    source = StreamedSource(check_dataset(ds, argument="ds"), inputs, targets, encoding=encoding,
                            grid_alignment=grid_alignment, stream=stream)
    return fit_model(source, model=model, holdout=holdout, preset_name=preset_name, config=config, loss=loss,
                     window=window, stride=stride, baseline=baseline, baseline_inputs=baseline_inputs,
                     baseline_options=baseline_options, checkpoint=checkpoint, callback=callback,
                     train_config=train_config, variability=variability, **train_options)


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


class StreamedSource:
    """The data of a streamed fit, for :func:`xemu.recipe.fit_model`: a dask-backed Dataset read in blocks
    (:class:`~xemu.scale.blocks.BlockSource`); what the in-memory fit computes from whole arrays comes from
    passes over the blocks. ``stream`` is ``True`` or a dict of :data:`STREAM_OPTIONS`."""

    def __init__(self, ds, inputs, targets, *, encoding: str, grid_alignment: str, stream):
        self.ds, self.inputs, self.targets = ds, inputs, targets
        self.encoding, self.grid_alignment = encoding, grid_alignment
        self.opts = _stream_options(stream)
        self.src: BlockSource | None = None
        self.train_loader = self.val_loader = None

    def fit_baseline(self, model: str, *, holdout, train_config, options: dict):
        """``model="linear" | "energy-balance" | "climatology"`` streamed: the baseline alone, fitted from the
        sums of one pass over the targets (two for the energy-balance baseline); it learns no variability."""
        options = baseline_model_options(model, train_config, options)
        value = options.pop("variability")
        if value:
            raise ConfigError(f"variability: expected False with model={model!r} and stream=True ({_REFUSED}); "
                              f"got {value!r}")
        self._check_baseline(model, self.inputs, options)
        p = skeleton(self.ds, self.inputs, self.targets, encoding="none", inputs_as="global_means",
                     grid_alignment=self.grid_alignment)
        src = BlockSource(self.ds, p, self.inputs, self.targets, "none", self.grid_alignment, self.opts)
        train = ~holdout_mask(p, holdout)
        means = None
        if model in ("linear", "energy-balance"):  # the global means they read
            means = input_pass(src, training_rows(p, train), list(self.inputs), maps=False)[3]
        return baseline_and_scale(src, model, p, means, train, holdout, options)[0]

    def check_options(self, baseline, baseline_inputs, baseline_options: dict) -> None:
        """The baseline under the network learns no variability of its own; its options are checked before
        any pass."""
        if baseline is not None and baseline_options.get("variability"):
            raise ConfigError(f"baseline_options['variability']: expected False or absent with stream=True "
                              f"({_REFUSED}); got {baseline_options['variability']!r}")
        self._check_baseline(baseline, baseline_inputs, baseline_options)

    def _check_baseline(self, kind, inputs, options: dict) -> None:
        """The options of the baseline ``kind`` that its streamed fit would meet only after passes."""
        if kind == "linear":
            check_alpha(options.get("alpha", "cv"))
        elif kind == "energy-balance":
            check_eb_options(self.ds, inputs, self.targets, options)

    def prepare(self):
        """The data's skeleton (:func:`~xemu.scale.blocks.skeleton`) and the blocks it is read in."""
        p = skeleton(self.ds, self.inputs, self.targets, encoding=self.encoding, grid_alignment=self.grid_alignment)
        self.src = BlockSource(self.ds, p, self.inputs, self.targets, self.encoding, self.grid_alignment, self.opts)
        return p

    def statistics(self, held: np.ndarray, holdout, baseline, baseline_inputs, baseline_options: dict,
                   keyed: bool) -> _Statistics:
        """The passes over the blocks before training: normalisation, ranges, the baseline and the target
        scale (and the data's digests when ``keyed``)."""
        src, p, train = self.src, self.src.p, ~held
        means_of = baseline_inputs if baseline in ("linear", "energy-balance") else None
        mean, std, ranges, means, in_digest = input_pass(src, training_rows(p, train), means_of, keyed=keyed)
        pb = p
        if baseline is not None:
            pb = skeleton(self.ds, baseline_inputs, self.targets, encoding="none", inputs_as="global_means",
                          grid_alignment=self.grid_alignment)
        tgt_digest = hashlib.blake2b(digest_size=32) if keyed else None
        bl, scale, target_mean = baseline_and_scale(src, baseline, pb, means, train, holdout, baseline_options,
                                                    digest=tgt_digest)
        base = base_of(bl, pb, means, target_mean)
        return _Statistics(mean, std, ranges, bl, np.where(scale > 0, scale, 1.0), target_mean, base,
                           (in_digest, tgt_digest))

    def loaders(self, st: _Statistics, train_idx, val_idx, tc):
        """The training and validation :class:`StreamLoader`; blocks as tensors: inputs normalised, targets
        and baseline divided by the target scale (as in memory)."""
        import torch

        src, lay, opts = self.src, self.src.lay, self.opts
        scale32 = st.scale.astype(np.float32)[None, :, None, None]
        mean4, std4 = st.mean[None, :, None, None], st.std[None, :, None, None]

        def load(s: int, a: int, e: int):
            x, y = src.train_block(s, a, e)
            b = st.base(int(lay.t2i[s]), a, e)
            return (torch.from_numpy(((x - mean4) / std4).astype(np.float32)), torch.from_numpy(y / scale32),
                    torch.from_numpy(np.ascontiguousarray(b / scale32)))

        kw = {"batch_size": tc.batch_size, "seed": tc.seed, "buffer_blocks": opts["buffer_blocks"],
              "prefetch_blocks": opts["prefetch_blocks"]}
        self.train_loader = StreamLoader(train_idx, lay.edges, load, shuffle=tc.shuffle, **kw)
        self.val_loader = StreamLoader(val_idx, lay.edges, load, **kw) if val_idx is not None else None
        return self.train_loader, self.val_loader

    def fingerprint_data(self, st: _Statistics) -> tuple:
        """What a checkpoint of a streamed run must match besides the recipe's: the stream options, the
        arrays' shapes, and the digests of the inputs' and the targets' bytes in the order of the whole arrays."""
        lay, p = self.src.lay, self.src.p
        shapes = [[int(np.prod(lay.i_shape, dtype=int)), lay.n_time, len(p.channels), p.lat.size, p.lon.size],
                  [lay.t2i.size, lay.n_time, len(p.target_names), p.lat.size, p.lon.size]]
        return ["stream", self.opts], [shapes], [d.digest() for d in st.digests]

    def close(self) -> None:
        """Stop the loaders' reading threads."""
        for loader in (self.train_loader, self.val_loader):
            if loader is not None:
                loader.close()

    def residual_model(self, net, st: _Statistics, held: np.ndarray, window: int, method: str):
        """The trained emulator's residual model, from one pass over the blocks (:mod:`xemu.scale.variability`);
        the parametric fit reads its residuals back in chunks of a few blocks' bytes (32 MiB at least)."""
        src, p = self.src, self.src.p
        budget = max(2**25, PASS_BLOCKS * self.opts["block_months"] * (len(p.channels) + len(p.target_names))
                     * p.lat.size * p.lon.size * 4)
        return streamed_variability(src, network_predictor(src, net, st, window), held, method, budget=budget,
                                    reference=st.base if st.baseline is not None else None)

    def notes(self) -> list[str]:
        opts = self.opts
        return [f"trained streamed from the Dataset in blocks of one sample and at least {opts['block_months']} "
                f"months ({self.train_loader.n_blocks} training blocks; {opts['buffer_blocks']} shuffled together, "
                f"{opts['prefetch_blocks']} read ahead)"]

    def novelty(self, held: np.ndarray) -> None:  # the streamed record keeps no training forcings
        return None
