"""Which torch device to run on: :func:`~xemu.nn.device.check_device` checks a name, :func:`~xemu.nn.device.choose_device`
picks CUDA for ``"auto"`` when it is there (:func:`~xemu.nn.device.auto_device`) and refuses a device that is not.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

__all__ = ["check_device", "choose_device", "auto_device", "native_bf16"]


def check_device(device) -> None:
    """Raise :class:`~xemu.ConfigError` unless ``device`` names a torch device type xemu can use.

    Accepted: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:<n>"``, ``"mps"``. Whether the
    device is present is checked when it is used (:func:`choose_device`).
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ConfigError(f"device: expected 'auto', 'cpu', 'cuda', 'cuda:<n>' or 'mps'; got {device!r}")
    if device == "auto":
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device: expected 'auto', 'cpu', 'cuda', 'cuda:<n>' or 'mps'; got {device!r}")


def auto_device() -> torch.device:
    """What ``"auto"`` means here: CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def choose_device(device: str = "auto") -> torch.device:
    """CUDA when available for ``"auto"``, else CPU; an unavailable device raises :class:`~xemu.ConfigError`."""
    check_device(device)
    if device == "auto":
        return auto_device()
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device: {device!r} asked for, but this machine has {torch.cuda.device_count()} "
                          f"CUDA devices (0 .. {torch.cuda.device_count() - 1})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device: {device!r} asked for, but MPS is not available here; use 'cpu' or 'auto'")
    return dev


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively: CUDA, or a CPU with AVX512-BF16 or AMX
    (where bf16 autocast trains the compact CNN-GRU about twice as fast as float32:
    ``benchmarks/fit_phases.py``). Elsewhere bf16 would be emulated, slower than float32.
    """
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)
