"""The training loop: device, mixed precision, progress, early stopping, checkpoints.

:func:`train` knows tensors and loaders only (no xarray). Defaults: AdamW with a linear
warm-up then cosine decay of the learning rate; CUDA when available, else CPU; bf16
autocast where the device computes bf16 natively; validation after every epoch with early stopping on the validation
loss; a checkpoint written atomically after every epoch, from which an interrupted run
resumes and ends with the same weights as an uninterrupted one (on CPU, bit for bit).

Progress is reported twice, for two readers:

* one :mod:`logging` record per epoch, at INFO, through the logger ``"xemu.nn.training"``
  (:data:`logger`): ``epoch 2/6: train loss 0.4127, validation loss 0.3981, 41.2 s
  (data 3.1 s), lr 0.000854``; records also say when training resumes from a checkpoint
  and when it stops early. The ``xemu`` command shows them on stderr, so a batch job's log
  keeps every epoch; in Python, show them with e.g. ``logging.basicConfig(level="INFO")``.
* a tqdm bar with the running loss, only when someone watches: stderr is a terminal, or
  a Jupyter kernel runs (``progress=True``; ``progress=False`` never shows one). Each
  epoch's finished bar stays on screen.

Started by ``torchrun`` (or with a :mod:`torch.distributed` process group initialised),
training is data-parallel over the processes (:mod:`xemu.nn.distributed`): each rank trains
on its slice of every global batch of ``batch_size`` windows, gradients are averaged, and
the result equals one process's training up to float rounding. Only rank 0 logs, draws
the bar and writes the checkpoint.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..io.files import atomic_path
from ..io.weights import check_state_dict, read_checkpoint
from . import distributed as _dist
from .device import check_device, choose_device, native_bf16

__all__ = ["TrainConfig", "train", "atomic_torch_save", "TrainResult", "logger",
           "interactive"]

#: The logger of the training loop: one INFO record per epoch (losses, seconds, learning rate).
logger = logging.getLogger(__name__)  # "xemu.nn.training"


def _check_int(obj, name: str, low: int, *, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{name}: expected an integer >= {low}" + (" or None" if optional else "")
                          + f"; got {value!r}")


def _check_float(obj, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
                 high_open: bool = False, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.number) and math.isfinite(value)
    ok = ok and (low is None or (value > low if low_open else value >= low))
    ok = ok and (high is None or (value < high if high_open else value <= high))
    if not ok:
        lo = "" if low is None else f"{low:g} {'<' if low_open else '<='} "
        hi = "" if high is None else f" {'<' if high_open else '<='} {high:g}"
        raise ConfigError(f"{name}: expected a finite number {lo}{name}{hi}" + (" or None" if optional else "")
                          + f"; got {value!r}")


@dataclass
class TrainConfig:
    """Options of the training loop.

    Attributes
    ----------
    epochs : int
        Upper bound on epochs (early stopping may end sooner).
    batch_size : int
        Windows per step.
    windows_per_epoch : int, optional
        Train on a fresh seeded random subset of this many windows each epoch (all by default).
    shuffle : bool
        Shuffle the windows each epoch (seeded); ``False`` takes them in the order of the
        index every epoch (the first ``windows_per_epoch`` of them).
    lr, weight_decay : float
        AdamW's learning rate and weight decay.
    warmup : float
        Fraction of the steps with a linear warm-up before the cosine decay.
    schedule : {"cosine", "constant"}
    patience : int, optional
        With validation months, stop after this many epochs without a better validation
        loss (``None``: never).
    restore_best : bool
        End with the weights of the epoch with the best validation loss (else the last
        epoch's). ``xemu evaluate`` turns it off when the validation months are also the
        test months, so that no choice is made by looking at the test.
    ema : float, optional
        Keep an exponential moving average of the weights (and batch-norm statistics)
        with this decay per step (default 0.99; ``None``: off); validation and the final
        model use it. It smooths the step-to-step noise of the last epochs. Chosen on
        training data only (``benchmarks/variability.py --cnn-gru --ema``: an inner split
        holding out ssp585 member 1's last decade), where it scored slightly better than
        without (see ``benchmarks/RESULTS.md``).
    grad_clip : float, optional
        Clip the gradient norm.
    seed : int
        Seeds initialisation, shuffling and dropout.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    amp : bool, optional
        bf16 autocast; by default on where the device computes bf16 natively (CUDA, and
        CPUs with AVX512-BF16 or AMX: :func:`xemu.nn.device.native_bf16`), where it trains
        about twice as fast at the same score (``benchmarks/RESULTS.md``, "Training
        speed"); off elsewhere. The weights and the optimizer stay in float32.
    threads : int, optional
        ``torch.set_num_threads`` for CPU runs.
    distributed : bool, optional
        Data-parallel training over the processes started by ``torchrun``
        (:mod:`xemu.nn.distributed`). ``None`` (default): when ``torchrun`` started this
        process or a process group is initialised; ``True``: required (a
        :class:`~xemu.ConfigError` names what is missing); ``False``: never. ``batch_size``
        is the global batch, cut into one equal slice per process.
    progress : bool
        Show a progress bar when someone watches (stderr is a terminal, or a Jupyter
        kernel); never with ``False``. Each epoch is logged either way (:data:`logger`).
    """

    epochs: int = 6
    batch_size: int = 32
    windows_per_epoch: int | None = 2500
    shuffle: bool = True
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.1
    schedule: str = "cosine"
    patience: int | None = 4
    restore_best: bool = True
    ema: float | None = 0.99
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    threads: int | None = None
    distributed: bool | None = None
    progress: bool = True

    def __post_init__(self):
        _check_int(self, "epochs", 1)
        _check_int(self, "batch_size", 1)
        _check_int(self, "windows_per_epoch", 1, optional=True)
        _check_int(self, "patience", 0, optional=True)
        _check_int(self, "seed", 0)
        _check_int(self, "threads", 1, optional=True)
        _check_float(self, "lr", low=0.0)
        _check_float(self, "weight_decay", low=0.0)
        _check_float(self, "warmup", low=0.0, high=1.0, high_open=True)
        _check_float(self, "ema", low=0.0, low_open=True, high=1.0, high_open=True, optional=True)
        _check_float(self, "grad_clip", low=0.0, low_open=True, optional=True)
        for name in ("restore_best", "progress", "shuffle"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}: expected True or False; got {getattr(self, name)!r}")
        if self.amp is not None and not isinstance(self.amp, bool):
            raise ConfigError(f"amp: expected True, False or None; got {self.amp!r}")
        if self.distributed is not None and not isinstance(self.distributed, bool):
            raise ConfigError(f"distributed: expected True, False or None (automatic); got {self.distributed!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule: expected 'cosine' or 'constant'; got {self.schedule!r}")
        check_device(self.device)

    @classmethod
    def from_options(cls, options: dict, *, argument: str = "train options") -> TrainConfig:
        """A config from a dict, with a :class:`~xemu.ConfigError` naming unknown options."""
        known = [f.name for f in fields(cls)]
        unknown = [k for k in options if k not in known]
        if unknown:
            raise ConfigError(f"{argument}: unknown options {unknown}; known: {known}")
        return cls(**options)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What :func:`train` returns: the per-epoch history and timings."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val: float = math.inf
    seconds: float = 0.0
    data_seconds: float = 0.0
    stopped_early: bool = False
    world_size: int = 1


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _lr_lambda(total_steps: int, warmup: float, schedule: str) -> Callable[[int], float]:
    warm = max(1, int(total_steps * warmup))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return f


def train(
    model: torch.nn.Module,
    loss_fn: Callable,
    train_loader,
    val_loader=None,
    *,
    config: TrainConfig,
    checkpoint: str | os.PathLike | None = None,
    callback: Callable[[int, dict], None] | None = None,
    fingerprint: str = "",
) -> TrainResult:
    """Train ``model`` in place and leave it with the weights of the best validation epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch ``x`` to predictions in the units of the targets given by the loader.
    loss_fn : callable
        ``loss_fn(pred, batch) -> (loss, parts)``; ``batch`` is what the loader yields.
    train_loader, val_loader : WindowLoader
        Yield tuples whose first item is the model input.
    config : TrainConfig
    checkpoint : path, optional
        Written atomically after every epoch; when it exists at the start and was made by
        the same run (``fingerprint``), training resumes from it.
    callback : callable, optional
        Called as ``callback(epoch, record)`` after each epoch (after the checkpoint).
    fingerprint : str
        Identifies the data and configuration; a checkpoint from another run raises
        :class:`~xemu.ConfigError` instead of being resumed.
    """
    run = _Run(model, loss_fn, train_loader, val_loader, config, checkpoint, fingerprint)
    if checkpoint is not None and run.checkpoint_exists():
        run.resume(checkpoint)
    net = model if run.ctx is None else run.ctx.wrap(model)  # DistributedDataParallel averages the gradients
    t_start = time.perf_counter()
    with _dist.global_batch_norm(model, run.ctx):
        for epoch in range(run.start_epoch, config.epochs):
            if config.patience is not None and run.bad_epochs >= config.patience:
                run.stop_early(epoch)
                break
            record = run.train_epoch(net, epoch)
            if val_loader is not None:
                run.validate(record, epoch)
            run.result.history.append(record)
            if run.main:
                _log_epoch(record, config.epochs)
            if checkpoint is not None:
                run.save_checkpoint(epoch)
            if callback is not None:
                callback(epoch, record)
    run.finish()
    run.result.seconds = time.perf_counter() - t_start
    run.result.data_seconds = sum(r["data_seconds"] for r in run.result.history[run.start_epoch:])
    return run.result


class _Run:
    """The state of one :func:`train` call, and its steps: set-up, resume, an epoch, validation,
    the checkpoint, the end."""

    def __init__(self, model, loss_fn, train_loader, val_loader, config: TrainConfig, checkpoint, fingerprint: str):
        self.model, self.loss_fn, self.config = model, loss_fn, config
        self.train_loader, self.val_loader = train_loader, val_loader
        self.checkpoint, self.fingerprint = checkpoint, fingerprint
        self.ctx = ctx = _dist.setup(config.distributed, config.device)  # None unless data-parallel
        self.device = choose_device(config.device) if ctx is None else ctx.device
        self.main = ctx is None or ctx.rank == 0  # only rank 0 logs, draws the bar, writes the checkpoint
        self.world = world = 1 if ctx is None else ctx.world_size
        self.amp = config.amp if config.amp is not None else native_bf16(self.device)
        if config.threads and self.device.type == "cpu":
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed if ctx is None else ctx.rank_seed(config.seed))
        model.to(self.device)
        self.opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        n_windows = len(train_loader.index)
        self.per_epoch = min(n_windows, config.windows_per_epoch or n_windows)
        steps_per_epoch = math.ceil(self.per_epoch / config.batch_size)
        if ctx is not None:
            n_val = len(val_loader.index) if val_loader is not None else 0
            ctx.check_same(_dist.run_fingerprint(fingerprint, config, n_windows, n_val))
            if config.batch_size % world:
                raise ConfigError(f"batch_size: expected a multiple of the number of processes ({world}, WORLD_SIZE), "
                                  f"each taking an equal slice of every batch; got {config.batch_size} (e.g. "
                                  f"{max(1, round(config.batch_size / world)) * world})")
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, _lr_lambda(config.epochs * steps_per_epoch, config.warmup, config.schedule)
        )
        self.result = TrainResult(world_size=world)
        self.start_epoch = 0
        self.best_state = None
        self.ema = _Ema(model, config.ema) if config.ema else None
        self.bad_epochs = 0

    def checkpoint_exists(self) -> bool:
        """Whether the checkpoint file is there (every rank agreeing when data-parallel)."""
        path = self.checkpoint
        return Path(path).exists() if self.ctx is None else self.ctx.check_exists(path)

    def resume(self, checkpoint) -> None:
        """Continue from ``checkpoint`` when it was written by this run (same fingerprint, world size)."""
        state = read_checkpoint(checkpoint)
        if state["fingerprint"] != self.fingerprint:
            raise ConfigError(
                f"checkpoint: {str(checkpoint)!r} was written by another run (data or configuration "
                f"differ); remove it or choose another path"
            )
        if int(state.get("world_size", 1)) != self.world:
            raise ConfigError(
                f"checkpoint: {str(checkpoint)!r} was written by a run of {int(state['world_size'])} processes "
                f"and this run has {self.world}; resume it with as many (torchrun --nproc-per-node), or remove it"
            )
        try:
            self._load(state, checkpoint)
        except DataError:
            raise
        except Exception as err:
            raise DataError(f"checkpoint: {str(checkpoint)!r} cannot be resumed from ({type(err).__name__}: "
                            f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}); remove it "
                            f"(training then starts afresh) or choose another path") from None
        if state.get("done"):
            self.start_epoch = self.config.epochs
        if self.result.history and self.config.patience is not None:
            self.bad_epochs = len(self.result.history) - 1 - self.result.best_epoch

    def _load(self, state: dict, checkpoint) -> None:
        """Weights, optimiser, schedule, random state, EMA and history from a checked checkpoint."""
        ctx, result = self.ctx, self.result
        check_state_dict(state["model"], self.model.state_dict(), f"checkpoint: {str(checkpoint)!r}",
                         what="the model being trained", finite=False)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"] if ctx is None else state.get("rng_ranks", [state["rng"]])[ctx.rank])
        self.best_state = state.get("best_model")
        if self.ema is not None:
            self.ema.load(state["ema"])
        result.history = list(state["history"])
        result.best_epoch, result.best_val = int(state["best_epoch"]), float(state["best_val"])
        self.start_epoch = int(state["epoch"]) + 1
        if self.main:
            logger.info("resumed from the checkpoint %s after epoch %d/%d", checkpoint, self.start_epoch,
                        self.config.epochs)

    def stop_early(self, epoch: int) -> None:
        """Mark the result as stopped early (patience spent) and say so in the log."""
        self.result.stopped_early = True
        if self.main:
            logger.info("stopped early after epoch %d/%d: no better validation loss for %d epochs (best: "
                        "epoch %d, %.4g)", epoch, self.config.epochs, self.bad_epochs, self.result.best_epoch + 1,
                        self.result.best_val)

    def _batches(self, epoch: int) -> list:
        """This epoch's batches of window ids, each with its loss weight (this rank's slices when data-parallel)."""
        config, ctx = self.config, self.ctx
        order = self.train_loader.order(epoch)[: self.per_epoch]
        starts = range(0, order.size, config.batch_size)
        if ctx is None:
            batches = [(order[b : b + config.batch_size], 1.0) for b in starts]
        else:  # this rank's slice of each global batch, and its loss weight
            batches = [s for b in starts if (s := ctx.shard(order[b : b + config.batch_size])) is not None]
        if hasattr(self.train_loader, "plan"):  # a streaming loader prefetches what this rank will ask for
            self.train_loader.plan([ids for ids, _ in batches])
        return batches

    def train_epoch(self, net, epoch: int) -> dict:
        """One pass over the epoch's batches; the epoch's record (loss, seconds, learning rate)."""
        from tqdm.auto import tqdm

        config, device, model = self.config, self.device, self.model
        model.train()
        bar = tqdm(self._batches(epoch), disable=not (config.progress and interactive() and self.main),
                   desc=f"epoch {epoch + 1}/{config.epochs}", leave=True)
        total, n, data_s, t0 = 0.0, 0, 0.0, time.perf_counter()
        for ids, weight in bar:
            td = time.perf_counter()
            batch = [t.to(device, non_blocking=True) if t is not None else None
                     for t in self.train_loader.batch(ids)]
            data_s += time.perf_counter() - td
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.amp):
                pred = net(batch[0])
            loss, _ = self.loss_fn(pred.float(), batch)
            if weight != 1.0:  # an uneven last batch: the mean over its windows, across ranks
                loss = loss * weight
            self._step(loss)
            total += float(loss.detach())
            n += 1
            bar.set_postfix(loss=f"{total / n:.4f}")
        ctx = self.ctx
        train_loss = total / max(n, 1) if ctx is None else ctx.sum([total])[0] / self.world / max(n, 1)
        return {"epoch": epoch, "train_loss": train_loss, "seconds": time.perf_counter() - t0,
                "data_seconds": data_s, "lr": float(self.sched.get_last_lr()[0])}

    def _step(self, loss) -> None:
        """Back-propagate ``loss``, clip, step the optimiser, the schedule and the EMA."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.opt.step()
        self.sched.step()
        if self.ema is not None:
            self.ema.update(self.model)

    def validate(self, record: dict, epoch: int) -> None:
        """The validation loss into ``record`` (EMA weights when kept); the best epoch and its weights."""
        config, ctx, model, result = self.config, self.ctx, self.model, self.result
        with _weights(model, self.ema):
            if ctx is None:
                record["val_loss"] = evaluate_loss(model, self.loss_fn, self.val_loader, self.device, self.amp,
                                                   config.batch_size)
            else:  # each rank its share of the windows; every rank gets the same sums
                share = ctx.share(len(self.val_loader.index))
                v_total, v_n = ctx.sum(list(_loss_sum(model, self.loss_fn, self.val_loader, self.device, self.amp,
                                                      config.batch_size, share)))
                record["val_loss"] = v_total / max(v_n, 1)
            improved = record["val_loss"] < result.best_val
            if improved:
                result.best_val, result.best_epoch = record["val_loss"], epoch
                self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self.bad_epochs = 0 if improved else self.bad_epochs + 1

    def save_checkpoint(self, epoch: int) -> None:
        """Everything a resume needs, written atomically by rank 0 (every rank's random state kept)."""
        ctx, result = self.ctx, self.result
        rngs = ctx.all_gather(torch.get_rng_state()) if ctx is not None else None
        if self.main:
            atomic_torch_save(
                {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict(), "rng": torch.get_rng_state(), "history": result.history,
                 "epoch": epoch, "best_epoch": result.best_epoch, "best_val": result.best_val,
                 "best_model": self.best_state, "fingerprint": self.fingerprint,
                 "done": epoch == self.config.epochs - 1, "ema": self.ema.state if self.ema is not None else None,
                 "world_size": self.world, **({"rng_ranks": rngs} if rngs is not None else {})},
                self.checkpoint,
            )
        if ctx is not None:
            ctx.barrier()  # the checkpoint is complete before any rank goes on

    def finish(self) -> None:
        """The weights training ends with: the best epoch's (``restore_best``), else the EMA's."""
        if self.config.restore_best and self.val_loader is not None and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        elif self.ema is not None:
            self.model.load_state_dict(self.ema.state)
        if self.ctx is not None:
            self.ctx.broadcast_state(self.model)  # every rank ends with rank 0's weights (they are equal already)


def interactive() -> bool:
    """Whether someone watches: stderr is a terminal, or the code runs in a Jupyter kernel."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # replaced or closed stderr
        pass
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _log_epoch(record: dict, epochs: int) -> None:
    """One INFO record for a finished epoch."""
    val = f", validation loss {record['val_loss']:.4g}" if "val_loss" in record else ""
    logger.info("epoch %d/%d: train loss %.4g%s, %.1f s (data %.1f s), lr %.3g", record["epoch"] + 1, epochs,
                record["train_loss"], val, record["seconds"], record["data_seconds"], record["lr"])


class _Ema:
    """Exponential moving average of a model's floating-point state (weights and BN statistics)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.state[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.state[k].copy_(v)

    def load(self, state: dict) -> None:
        for k, v in state.items():
            self.state[k].copy_(v)


class _weights:
    """Context manager: the model holds the EMA weights inside, its own weights after."""

    def __init__(self, model: torch.nn.Module, ema: _Ema | None):
        self.model, self.ema, self.saved = model, ema, None

    def __enter__(self):
        if self.ema is not None:
            self.saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(self.ema.state)

    def __exit__(self, *exc):
        if self.saved is not None:
            self.model.load_state_dict(self.saved)
        return False


@torch.no_grad()
def evaluate_loss(model, loss_fn, loader, device, amp, batch_size) -> float:
    """Mean loss over all windows of ``loader`` (model in eval mode)."""
    total, n = _loss_sum(model, loss_fn, loader, device, amp, batch_size, np.arange(len(loader.index)))
    return total / max(n, 1)


@torch.no_grad()
def _loss_sum(model, loss_fn, loader, device, amp, batch_size, order) -> tuple[float, int]:
    """Sum of the per-window losses over the windows ``order`` of ``loader``, and their number."""
    model.eval()
    total, n = 0.0, 0
    if hasattr(loader, "plan"):
        loader.plan([order[b : b + batch_size] for b in range(0, order.size, batch_size)])
    for b in range(0, order.size, batch_size):
        batch = [t.to(device) if t is not None else None for t in loader.batch(order[b : b + batch_size])]
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(batch[0])
        loss, _ = loss_fn(pred.float(), batch)
        total += float(loss) * batch[0].shape[0]
        n += batch[0].shape[0]
    model.train()
    return total, n
