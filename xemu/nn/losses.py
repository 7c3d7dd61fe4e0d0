"""Losses on maps ``(..., H, W)``, optionally latitude weighted, and per-target loss specs.

Every loss takes ``(pred, target, weights=None)`` where ``weights`` is ``None`` or a
``(H,)`` tensor of latitude weights with mean 1, and returns a scalar.

* ``mse``, ``l1``: mean squared / absolute error.
* ``dice``: ``1 - 2 sum(p t) / (sum p^2 + sum t^2 + eps)`` per map, averaged; for
  non-negative fields such as precipitation (the study's choice for pr).
* ``gabor``: mean squared difference of the prediction and the target filtered by a bank
  of oriented Gabor filters (edge and texture structure; the study's choice for tas).
* ``std``: area-weighted mean absolute error of the temporal standard deviation over the
  months of each window (needs ``(B, T, H, W)``); ``tmean``: squared error of the window
  means. They push a deterministic emulator to keep the variability of the truth.

A spec combines them: ``"l1 + 0.5*gabor"``, ``"0.5*dice + 0.5*mse"``, or the typed
equivalent ``{"l1": 1.0, "gabor": 0.5}``. :func:`parse_spec` validates both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = ["mse", "l1", "dice", "gabor", "std", "tmean", "gabor_bank", "LOSSES", "parse_spec", "CombinedLoss"]


def _weighted_mean(err: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return err.mean()
    return (err * weights.to(err.dtype)[:, None]).mean()


def mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error.

    Examples
    --------
    >>> import torch
    >>> float(mse(torch.ones(2, 3), torch.zeros(2, 3)))
    1.0
    """
    return _weighted_mean((pred - target) ** 2, weights)


def l1(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error."""
    return _weighted_mean((pred - target).abs(), weights)


def dice(
    pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None, eps: float = 1e-6
) -> torch.Tensor:
    """Dice loss ``1 - 2 sum(p t) / (sum p^2 + sum t^2 + eps)`` per map, averaged over maps.

    Examples
    --------
    >>> import torch
    >>> t = torch.rand(2, 4, 5)
    >>> round(float(dice(t, t)), 5)
    0.0
    """
    w = 1.0 if weights is None else weights.to(pred.dtype)[:, None]
    num = 2 * (w * pred * target).sum((-1, -2))
    den = (w * pred**2).sum((-1, -2)) + (w * target**2).sum((-1, -2)) + eps
    return (1 - num / den).mean()


def gabor_bank(
    orientations: int = 4, wavelengths: tuple[float, ...] = (4.0, 8.0), size: int = 7, sigma: float | None = None
) -> torch.Tensor:
    """Real, zero-mean Gabor filters ``(orientations * len(wavelengths), 1, size, size)``, unit L2 norm."""
    half = size // 2
    yy, xx = torch.meshgrid(torch.arange(-half, half + 1.0), torch.arange(-half, half + 1.0), indexing="ij")
    filters = []
    for lam in wavelengths:
        s = sigma if sigma is not None else 0.5 * lam
        for k in range(orientations):
            theta = math.pi * k / orientations
            xr_ = xx * math.cos(theta) + yy * math.sin(theta)
            yr_ = -xx * math.sin(theta) + yy * math.cos(theta)
            g = torch.exp(-(xr_**2 + (0.5 * yr_) ** 2) / (2 * s**2)) * torch.cos(2 * math.pi * xr_ / lam)
            g = g - g.mean()
            filters.append(g / g.norm())
    return torch.stack(filters)[:, None]


_BANK: dict = {}


def gabor(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared difference of Gabor-filtered prediction and target (oriented edges).

    Longitude is periodic (circular padding); latitude is padded by replication.

    Examples
    --------
    >>> import torch
    >>> t = torch.rand(3, 8, 10)
    >>> float(gabor(t, t)), float(gabor(t + 1.0, t)) < 1e-10  # blind to a constant offset
    (0.0, True)
    """
    key = (pred.device, pred.dtype)
    if key not in _BANK:
        _BANK[key] = gabor_bank().to(device=pred.device, dtype=pred.dtype)
    bank = _BANK[key]
    pad = bank.shape[-1] // 2
    diff = (pred - target).reshape(-1, 1, *pred.shape[-2:])
    diff = F.pad(diff, (pad, pad, 0, 0), mode="circular")
    diff = F.pad(diff, (0, 0, pad, pad), mode="replicate")
    filtered = F.conv2d(diff, bank)  # linear: filter(p) - filter(t) = filter(p - t)
    return _weighted_mean(filtered**2, weights)


def std(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted MAE of the temporal standard deviation over dim 1 of ``(B, T, H, W)`` (ddof 0)."""
    if pred.ndim < 4:
        raise ConfigError("loss 'std': needs (batch, time, lat, lon) predictions; use output='all'")
    return _weighted_mean((pred.std(1, unbiased=False) - target.std(1, unbiased=False)).abs(), weights)


def tmean(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted squared error of the means over dim 1 of ``(B, T, H, W)``."""
    if pred.ndim < 4:
        raise ConfigError("loss 'tmean': needs (batch, time, lat, lon) predictions; use output='all'")
    return _weighted_mean((pred.mean(1) - target.mean(1)) ** 2, weights)


#: The losses a spec may name.
LOSSES = {"mse": mse, "l1": l1, "dice": dice, "gabor": gabor, "std": std, "tmean": tmean}

_TERM = re.compile(r"^\s*(?:(?P<w>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?(?P<name>[a-z_0-9]+)\s*$")


def parse_spec(spec: str | Mapping[str, float], *, argument: str = "loss") -> dict[str, float]:
    """Parse ``"0.5*dice + 0.5*mse"`` or ``{"dice": 0.5, "mse": 0.5}`` into ``{name: weight}``.

    Examples
    --------
    >>> parse_spec("l1 + 0.5*gabor")
    {'l1': 1.0, 'gabor': 0.5}
    """
    if isinstance(spec, Mapping):
        terms = {str(k): float(v) for k, v in spec.items()}
    elif isinstance(spec, str):
        terms = {}
        for part in spec.split("+"):
            m = _TERM.match(part)
            if not m:
                raise ConfigError(
                    f"{argument}: cannot read term {part.strip()!r} of {spec!r}; expected terms "
                    f"like '0.5*dice' joined by '+'"
                )
            name = m.group("name")
            terms[name] = terms.get(name, 0.0) + float(m.group("w") or 1.0)
    else:
        raise ConfigError(f"{argument}: expected a string or a mapping; got {type(spec).__name__}")
    unknown = [k for k in terms if k not in LOSSES]
    if unknown or not terms:
        raise ConfigError(f"{argument}: unknown losses {unknown} in {spec!r}; known: {sorted(LOSSES)}")
    if any(w < 0 or not math.isfinite(w) for w in terms.values()):
        raise ConfigError(f"{argument}: weights must be finite and non-negative; got {terms}")
    return terms


class CombinedLoss:
    """Per-target weighted sums of losses.

    Parameters
    ----------
    specs : dict
        Target name to spec (see :func:`parse_spec`), e.g.
        ``{"tas": "l1 + 0.5*gabor", "pr": "0.5*dice + 0.5*mse"}``.
    targets : list of str
        Target order along the variable dim of the tensors.
    weights : torch.Tensor, optional
        ``(H,)`` latitude weights (mean 1).
    """

    def __init__(self, specs: Mapping[str, str | Mapping[str, float]], targets: list[str],
                 weights: torch.Tensor | None = None):
        missing = [t for t in targets if t not in specs]
        extra = [t for t in specs if t not in targets]
        if missing or extra:
            raise ConfigError(
                f"loss: expected one spec per target {targets}; missing {missing}, unknown {extra}"
            )
        self.targets = list(targets)
        self.terms = {t: parse_spec(specs[t], argument=f"loss[{t!r}]") for t in targets}
        self.weights = weights

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``pred`` and ``target`` ``(..., V, H, W)``; returns the total and each target's part."""
        total = pred.new_zeros(())
        parts = {}
        w = None if self.weights is None else self.weights.to(pred.device)
        for v, name in enumerate(self.targets):
            p, t = pred[..., v, :, :], target[..., v, :, :]
            value = sum(weight * LOSSES[k](p, t, w) for k, weight in self.terms[name].items())
            parts[name] = float(value.detach())
            total = total + value
        return total, parts
