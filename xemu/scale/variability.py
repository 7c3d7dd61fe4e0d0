"""Internal variability of the streamed fit (``fit(..., stream=True, variability=...)``,
:mod:`xemu.scale.stream`): after training, one pass over the blocks predicts every training
month with the trained network, as :func:`xemu.recipe.fit_residual_model` does for whole
series, and gives each target sample's truth and prediction to
:class:`xemu.variability.streamed.StreamedVariability`, which learns the residual model from
them.

A block's prediction reads the ``window - 1`` months before it too, so that each month is
predicted from the window that ends on it, as in memory (the first months of a series from
the first window). It is made once per input sample and block, for all the target samples
(members) that share it; a background thread reads the next blocks meanwhile. Memory: the
blocks in flight and the network's activations over one block, as in training.
"""

from __future__ import annotations

import numpy as np

from ..variability.streamed import StreamedVariability
from .blocks import BlockSource, read_ahead

__all__ = ["streamed_variability", "network_predictor"]


def streamed_variability(src: BlockSource, predictor, held: np.ndarray, method: str, *, budget: int,
                         reference=None):
    """The :class:`~xemu.variability.Variability` learned from one pass over the blocks of ``src``, or
    ``None`` (with a warning, as in memory) when the training months cannot give one.

    ``predictor`` is ``(read, predict)``: ``read(i, a, e)`` reads (in the background thread) what
    ``predict(i, a, e, read_result)`` needs to return the emulator's prediction ``(e - a, V, H, W)``
    of input sample ``i``, months ``[a, e)`` (:func:`network_predictor`); ``held`` ``(S_t, T)``
    the held-out months; ``budget`` the bytes of a chunk of the parametric fit; ``reference``,
    optional, ``reference(i, a, e)`` the baseline's part of that prediction (a CNN-GRU on a
    baseline: the calibration takes its variance from it, as in memory).
    """
    acc = StreamedVariability.start(src.p, held, method, budget=budget, reference=reference is not None)
    if acc is None:
        return None
    lay, train = src.lay, ~held
    members = [np.flatnonzero(lay.t2i == i) for i in range(int(np.prod(lay.i_shape, dtype=int)))]
    keys = [(i, a, e) for i, ss in enumerate(members) for a, e in lay.spans if train[ss, a:e].any()]
    read, predict = predictor

    def load(key):
        i, a, e = key
        return read(i, a, e), [(int(s), src.read_targets(int(s), a, e)) for s in members[i] if train[s, a:e].any()]

    try:
        for (i, a, e), (inputs, targets) in read_ahead(load, keys):
            pred = predict(i, a, e, inputs)
            ref = reference(i, a, e) if reference is not None else None
            for s, sub in targets:
                acc.add(s, a, src.prepare_targets(sub), pred, ref)
        return acc.finish()
    finally:
        acc.close()


def network_predictor(src: BlockSource, net, st, window: int):
    """``(read, predict)`` of :func:`streamed_variability` for the trained CNN-GRU ``net``: inputs
    normalised with the fit's statistics ``st``, the network's correction times the target
    scale plus the baseline (``st.base``), months read with the ``window - 1`` before them."""
    import torch

    n_time = src.lay.n_time
    mean4, std4 = st.mean[None, :, None, None], st.std[None, :, None, None]
    scale32 = st.scale.astype(np.float32)[None, :, None, None]

    def span(a: int, e: int) -> tuple[int, int]:
        start = max(0, a - (window - 1))
        return start, min(n_time, max(e, start + window))

    def read(i: int, a: int, e: int):
        return src.read_inputs(i, *span(a, e), src.inputs)

    def predict(i: int, a: int, e: int, sub) -> np.ndarray:
        start, _ = span(a, e)
        x = src.prepare_inputs(sub, None)[0]
        x = torch.from_numpy(((x - mean4) / std4).astype(np.float32))[None]
        with torch.no_grad():
            out = net.predict_series(x, window)[0, a - start : e - start].numpy()
        return st.base(i, a, e) + out * scale32

    return read, predict
