"""The data of an in-memory fit (:class:`xemu.recipe.source.InMemorySource`): what :func:`xemu.recipe.fit_model` reads
when the whole Dataset is prepared at once (the streamed fit's is :class:`xemu.scale.stream.StreamedSource`)."""

from __future__ import annotations

from hashlib import blake2b

import numpy as np
import xarray as xr

from ..baselines import BASELINES
from ..data.prepare import Prepared, prepare
from ..nn.model import CNNGRU
from ..nn.training import TrainConfig
from . import (
    baseline_model_options,
    fit_residual_model,
    training_novelty,
    training_statistics,
    window_loaders,
)

__all__ = ["InMemorySource"]


class InMemorySource:
    """The data of an in-memory fit, for :func:`xemu.recipe.fit_model`: every month of every sample
    prepared at once (:func:`~xemu.data.prepare.prepare`), the baseline fitted on the Dataset."""

    def __init__(self, ds: xr.Dataset, inputs, targets, *, encoding: str, grid_alignment: str):
        self.ds, self.inputs, self.targets = ds, inputs, targets
        self.encoding, self.grid_alignment = encoding, grid_alignment
        self.p: Prepared | None = None
        self.x = None  # the network's inputs, normalised (window_loaders)

    def fit_baseline(self, model: str, *, holdout, train_config, options: dict):
        """``fit(model="linear" | "energy-balance" | "climatology")``: the baseline as the model, with
        its own options checked."""
        return BASELINES[model]().fit(self.ds, self.inputs, self.targets, holdout=holdout,
                                      grid_alignment=self.grid_alignment,
                                      **baseline_model_options(model, train_config, options))

    def check_options(self, baseline, baseline_inputs, baseline_options: dict) -> None:
        """Nothing to add: the baseline checks its options as it is fitted."""

    def prepare(self) -> Prepared:
        self.p = prepare(self.ds, self.inputs, self.targets, encoding=self.encoding,
                         grid_alignment=self.grid_alignment)
        return self.p

    def statistics(self, held, holdout, baseline, baseline_inputs, baseline_options: dict, keyed: bool):
        """The baseline the network corrects (fitted on the training months only) and
        :func:`~xemu.recipe.training_statistics`."""
        bl = None
        if baseline is not None:
            bl = BASELINES[baseline]().fit(self.ds, baseline_inputs, self.targets, holdout=holdout,
                                           grid_alignment=self.grid_alignment,
                                           **{"variability": False, **baseline_options})
        base = bl.predict_arrays(bl.prepare_predict(self.ds)) if bl is not None else None
        return training_statistics(self.p, held, base, bl)

    def loaders(self, stats, train_idx, val_idx, tc: TrainConfig):
        self.x, train_loader, val_loader = window_loaders(self.p, stats, train_idx, val_idx, tc)
        return train_loader, val_loader

    def fingerprint_data(self, stats) -> tuple:  # the shapes of the inputs and targets, the digests of their bytes
        arrays = (self.p.inputs, self.p.targets)
        return [], [list(a.shape) for a in arrays], [blake2b(np.ascontiguousarray(a).data, digest_size=32).digest()
                                                     for a in arrays]

    def close(self) -> None:
        """Nothing to release."""

    def residual_model(self, net: CNNGRU, stats, held, window: int, method: str):
        return fit_residual_model(net, self.x, self.p, stats, held, window, method)

    def notes(self) -> tuple:
        return ()

    def novelty(self, held):
        return training_novelty(self.p, held)
