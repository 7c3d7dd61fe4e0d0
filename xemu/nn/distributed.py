"""Data-parallel training over several processes with :mod:`torch.distributed`.

:func:`xemu.nn.training.train` uses this module when the process was started by ``torchrun``
(or when a process group is already initialised) and ``TrainConfig.distributed`` allows it
(``None``, the default, or ``True``). Each process (a *rank*) holds a copy of the network:

* every rank draws the same seeded window order; each global batch of ``batch_size``
  windows is cut into ``world_size`` consecutive slices of equal size and rank ``r`` reads
  and trains on slice ``r`` only (:meth:`Context.shard`). The gradients are averaged by
  :class:`~torch.nn.parallel.DistributedDataParallel`, and batch-norm statistics are those
  of the whole global batch (:func:`global_batch_norm`), so a step equals the step of one
  process on the whole batch up to the order of float summation.
* ``batch_size`` must be a multiple of the world size. The last batch of an epoch may be
  shorter: it is cut into slices whose sizes differ by at most one and each rank's loss is
  weighted by its share (the losses are means over windows), so the step is again the
  one-process step. When it has fewer windows than there are ranks it is left out of that
  epoch on every rank.
* validation windows are shared out between the ranks and the loss sums all-reduced: every
  rank sees the same validation loss, so early stopping and the best epoch agree.
* only rank 0 writes the checkpoint (atomically), every rank reads it when resuming; the
  random state of every rank is kept in it.
* the ranks compare a fingerprint of their data and configuration before training; any
  difference raises :class:`~xemu.DataError` on every rank.

CPU processes talk through ``gloo``, CUDA processes through ``nccl`` with one GPU per
process (``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .device import auto_device, check_device

__all__ = ["LAUNCH_VARIABLES", "Context", "is_distributed", "is_main_process", "setup", "global_batch_norm"]

#: The environment variables ``torchrun`` sets in each process it starts, which xemu reads.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

_LAUNCH = "torchrun --nproc-per-node N your_script.py (or torchrun --nproc-per-node N -m xemu fit ...)"


def _initialised() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def is_distributed(option: bool | None = None) -> bool:
    """Whether training with ``TrainConfig(distributed=option)`` is data-parallel here.

    ``False``: never. ``None``: when a process group is initialised, or ``torchrun``
    started this process (``RANK`` and ``WORLD_SIZE`` are set). ``True``: always; without a
    process group and without the launcher's environment it raises
    :class:`~xemu.ConfigError` naming the missing variables.

    Examples
    --------
    >>> is_distributed(False)
    False
    """
    if option is False:
        return False
    if _initialised():
        return True
    missing = [v for v in LAUNCH_VARIABLES if v not in os.environ]
    if option is None and ("RANK" in missing or "WORLD_SIZE" in missing):
        return False
    if missing:
        if option is True:
            why = ("distributed: True asks for data-parallel training, but this process was not started by "
                   "torchrun and no torch.distributed process group is initialised")
        else:
            why = ("distributed: None (automatic) found RANK and WORLD_SIZE in the environment, as torchrun "
                   "sets them, but not the rest of the launcher's variables")
        raise ConfigError(f"{why}: the environment variables {', '.join(missing)} are missing (expected "
                          f"{', '.join(LAUNCH_VARIABLES)}); launch with {_LAUNCH}, or set distributed=False "
                          f"to train in this process alone")
    return True


def is_main_process() -> bool:
    """True unless this process is a rank other than 0 of an initialised process group.

    Use it to write files once, e.g. ``if is_main_process(): em.save(path)``.

    Examples
    --------
    >>> is_main_process()   # no process group: the one process is the main one
    True
    """
    return not _initialised() or torch.distributed.get_rank() == 0


def _env_int(name: str, low: int, high: int | None = None) -> int:
    value = os.environ[name]
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number >= high):
        bound = f"an integer >= {low}" + (f" and < {high}" if high is not None else "")
        raise ConfigError(f"environment variable {name}: expected {bound}; got {value!r}; launch with {_LAUNCH}")
    return number


@dataclass
class Context:
    """This process's place in data-parallel training: its rank, the world size, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def rank_seed(self, seed: int) -> int:
        """The torch seed of this rank: ``seed`` on rank 0, a seed derived from ``(seed, rank)`` elsewhere."""
        if self.rank == 0:
            return seed
        return int(np.random.SeedSequence([seed, self.rank]).generate_state(1, np.uint64)[0])

    def shard(self, ids: np.ndarray) -> tuple[np.ndarray, float] | None:
        """This rank's slice of the global batch ``ids`` and the weight of its loss.

        Equal consecutive slices (weight 1) when ``len(ids)`` is a multiple of the world
        size; else slices whose sizes differ by at most one, weighted by their share
        (``len(slice) * world_size / len(ids)``); ``None`` when ``ids`` has fewer windows
        than there are ranks (the batch is left out on every rank).

        Examples
        --------
        >>> ctx = Context(rank=1, world_size=2, local_rank=1, device=torch.device("cpu"), backend="gloo")
        >>> ctx.shard(np.arange(8))
        (array([4, 5, 6, 7]), 1.0)
        >>> ctx.shard(np.arange(3))
        (array([2]), 0.6666666666666666)
        """
        n = len(ids)
        if n < self.world_size:
            return None
        if n % self.world_size == 0:
            k = n // self.world_size
            return ids[self.rank * k : (self.rank + 1) * k], 1.0
        part = np.array_split(ids, self.world_size)[self.rank]
        return part, len(part) * self.world_size / n

    def share(self, n: int) -> np.ndarray:
        """This rank's consecutive share of ``n`` items (validation windows); may be empty."""
        return np.array_split(np.arange(n), self.world_size)[self.rank]

    def all_gather(self, obj) -> list:
        """``obj`` of every rank, in rank order."""
        out = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def sum(self, values: list[float]) -> list[float]:
        """The sums over ranks of ``values`` (float64), rank 0's result on every rank."""
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        torch.distributed.all_reduce(t)
        torch.distributed.broadcast(t, 0)  # the same bits everywhere: decisions agree
        return t.tolist()

    def barrier(self) -> None:
        torch.distributed.barrier()

    def check_same(self, fingerprint: str) -> None:
        """Raise :class:`~xemu.DataError` on every rank unless every rank has ``fingerprint``."""
        prints = self.all_gather(fingerprint)
        if len(set(prints)) == 1:
            return
        groups: dict[str, list[int]] = {}
        for r, p in enumerate(prints):
            groups.setdefault(p, []).append(r)
        differ = [r for r, p in enumerate(prints) if p != prints[0]]
        listing = "; ".join(f"ranks {ranks} have {p[:12]}" for p, ranks in groups.items())
        raise DataError(f"fit: the {self.world_size} processes must train on the same data with the same "
                        f"options, but ranks {differ} differ from rank 0 (fingerprints of the data and the "
                        f"training configuration: {listing}); give every process the same Dataset and options")

    def check_exists(self, path) -> bool:
        """Whether ``path`` exists, the same answer on every rank, else :class:`~xemu.ConfigError`."""
        exists = self.all_gather(os.path.exists(path))
        if len(set(exists)) > 1:
            have = [r for r, e in enumerate(exists) if e]
            lack = [r for r, e in enumerate(exists) if not e]
            raise ConfigError(f"checkpoint: {str(path)!r} exists for ranks {have} but not for ranks {lack}; "
                              f"every process must see the same file (a folder all of them share)")
        return exists[0]

    def broadcast_state(self, model: torch.nn.Module) -> None:
        """Give every rank rank 0's weights and buffers (in place)."""
        for t in model.state_dict().values():
            torch.distributed.broadcast(t, 0)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (rank 0's weights go to every rank)."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def setup(option: bool | None, device: str) -> Context | None:
    """The :class:`Context` of this process (initialising the process group), or ``None``.

    ``None`` when training is not data-parallel (:func:`is_distributed`). The process group
    is initialised from the launcher's environment when none is (``gloo`` on CPU, ``nccl``
    on CUDA) and stays initialised afterwards. On CUDA each rank uses ``cuda:LOCAL_RANK``.
    """
    if not is_distributed(option):
        return None
    dist = torch.distributed
    initialised = _initialised()
    if initialised:
        rank, world, backend = dist.get_rank(), dist.get_world_size(), str(dist.get_backend())
    else:
        world = _env_int("WORLD_SIZE", 1)
        rank = _env_int("RANK", 0, world)
        backend = None
    dev = _device(device, world, backend)
    if dev.type == "cuda":
        local = _env_int("LOCAL_RANK", 0) if "LOCAL_RANK" in os.environ else torch.cuda.current_device()
        if dev.index is None:
            if local >= torch.cuda.device_count():
                raise ConfigError(f"environment variable LOCAL_RANK: {local}, but this machine has "
                                  f"{torch.cuda.device_count()} CUDA devices (one per process); launch at most "
                                  f"{torch.cuda.device_count()} processes per node (torchrun --nproc-per-node)")
            dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        local = _env_int("LOCAL_RANK", 0) if "LOCAL_RANK" in os.environ else rank
    if not initialised:
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend)
    return Context(rank=rank, world_size=world, local_rank=local, device=dev, backend=backend)


def _device(device: str, world: int, backend: str | None) -> torch.device:
    """The device type of a data-parallel run (index chosen by the caller), with clear errors."""
    check_device(device)
    dev = auto_device() if device == "auto" else torch.device(device)
    if dev.type == "mps":
        raise ConfigError(f"device: {device!r} cannot train with several processes (torch.distributed has no "
                          f"MPS backend); use 'cpu' or 'cuda', or distributed=False")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} asked for, but CUDA is not available here (data-parallel "
                          f"training on CUDA uses NCCL); use 'cpu' (gloo) or 'auto'")
    if dev.type == "cuda" and dev.index is not None and world > 1:
        raise ConfigError(f"device: {device!r} names one GPU, but each of the {world} processes uses the GPU "
                          f"of its LOCAL_RANK; use 'cuda' or 'auto'")
    if backend == "nccl" and dev.type != "cuda":
        raise ConfigError(f"device: {device!r} resolves to {dev.type!r}, but the initialised process group uses "
                          f"NCCL, which needs CUDA; use device='cuda', or a 'gloo' process group for CPU training")
    return dev


def run_fingerprint(fingerprint: str, config, n_train: int, n_val: int) -> str:
    """What the ranks must agree on: the caller's data fingerprint, the options, the window counts."""
    options = {k: v for k, v in config.to_dict().items() if k not in ("progress", "device", "threads",
                                                                       "distributed")}
    blob = json.dumps([fingerprint, options, n_train, n_val], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class _AllReduce(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the gradients (autograd through ranks)."""

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        torch.distributed.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad):
        return _AllReduce.apply(grad)


class _GlobalBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch (every rank's slice).

    Two passes (mean, then the mean squared deviation), each summed over ranks; the
    gradient flows through the sums. Evaluation uses the running statistics as usual.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        x = x.float()
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64, device=x.device)
        sums = _AllReduce.apply(torch.cat([x.sum(dims).double(), count]))  # float64: counts stay exact
        n = sums[-1]
        mean = (sums[:-1] / n).float()
        n = n.float()
        centred = x - mean.view(shape)
        var = _AllReduce.apply((centred * centred).sum(dims)) / n
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                n = float(n)
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(var.detach() * (n / max(n - 1, 1)), alpha=factor)
        return out


@contextlib.contextmanager
def global_batch_norm(model: torch.nn.Module, ctx: Context | None) -> Iterator[None]:
    """Inside, the batch-norm layers of ``model`` use global-batch statistics (several ranks).

    Without a context or with one rank, nothing changes. The layers keep their parameters,
    buffers and state-dict keys, and get their own class back on leaving.
    """
    swapped = []
    if ctx is not None and ctx.world_size > 1:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(m, torch.nn.SyncBatchNorm):
                swapped.append((m, m.__class__))
                m.__class__ = _GlobalBatchNorm
    try:
        yield
    finally:
        for m, cls in swapped:
            m.__class__ = cls
