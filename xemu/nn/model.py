"""The study's CNN-GRU as small modules, with a config dataclass and two presets.

Data flow for a batch of windows ``x`` of shape ``(B, T, C, H, W)``:

1. :class:`MonthEncoder`: each month's maps go through conv 3x3 + batch-norm + ReLU
   blocks (stride-2 stages shrink the grid) and a squeeze-and-excitation block; the result
   is flattened per month. The encoder sees the ``B * T`` months as one batch, so each
   month's features are computed once per step.
2. A GRU over the ``T`` months of the window, then LayerNorm.
3. :class:`MapHead` per target: an MLP from the GRU state to a full ``H x W`` map.

``output="all"`` (xemu's default) maps every month of the window to its target month,
so a window of 12 months gives 12 supervised maps; at prediction each month is read
from the window that ends on it, with 11 months of context (the first ``T - 1`` months of
a series come from the first window). ``output="last"`` (the study's) predicts only the
window's last month.

``branches="per_target"`` builds the whole network (encoder, GRU, head) once per
target, as the study did; ``"shared"`` shares encoder and GRU and has one head per target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["ModelConfig", "SqueezeExcitation", "MonthEncoder", "MapHead", "Branch", "CNNGRU", "PRESETS",
           "preset", "model_config", "count_parameters", "for_inference"]


@dataclass
class ModelConfig:
    """Sizes and options of the CNN-GRU.

    Attributes
    ----------
    in_channels, n_targets, height, width : int
        Input channels, target variables and the grid (filled in by ``fit``).
    conv_widths : tuple of int
        Output channels of each conv 3x3 + batch-norm + ReLU block.
    conv_strides : tuple of int
        Stride of each block (1 or 2).
    se_reduction : int
        Squeeze-and-excitation channel reduction.
    hidden : int
        GRU hidden size; ``gru_layers``, ``gru_dropout``, ``bidirectional`` as in torch.
    head_hidden : int
        Width of the head's hidden layer; ``head_dropout`` its dropout.
    output : {"all", "last"}
        Predict every month of the window, or only the last.
    branches : {"shared", "per_target"}
        Share encoder and GRU between targets, or build one full branch per target.
    zero_init_head : bool
        Start the heads' last layer at zero (the model starts by predicting the
        baseline it corrects, see ``Emulator``).
    """

    in_channels: int = 6
    n_targets: int = 2
    height: int = 48
    width: int = 72
    conv_widths: tuple[int, ...] = (16, 32, 32, 8)
    conv_strides: tuple[int, ...] = (1, 2, 2, 1)
    se_reduction: int = 4
    hidden: int = 128
    gru_layers: int = 1
    gru_dropout: float = 0.0
    bidirectional: bool = False
    head_hidden: int = 256
    head_dropout: float = 0.0
    output: str = "all"
    branches: str = "shared"
    zero_init_head: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("in_channels", "n_targets", "height", "width", "se_reduction", "hidden", "gru_layers",
                     "head_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: expected an integer >= 1; got {value!r}")
        for name in ("gru_dropout", "head_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ConfigError(f"{name}: expected a number in [0, 1); got {value!r}")
        for name in ("bidirectional", "zero_init_head"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}: expected True or False; got {getattr(self, name)!r}")
        for name in ("conv_widths", "conv_strides"):
            value = getattr(self, name)
            if isinstance(value, str) or not hasattr(value, "__iter__") or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
            ):
                raise ConfigError(f"{name}: expected a sequence of integers >= 1; got {value!r}")
        if not isinstance(self.extra, dict):
            raise ConfigError(f"extra: expected a dict; got {self.extra!r}")
        self.conv_widths = tuple(int(v) for v in self.conv_widths)
        self.conv_strides = tuple(int(v) for v in self.conv_strides)
        if len(self.conv_widths) != len(self.conv_strides) or not self.conv_widths:
            raise ConfigError(
                f"conv_widths / conv_strides: expected equal, non-zero lengths; got "
                f"{self.conv_widths} and {self.conv_strides}"
            )
        if any(s not in (1, 2) for s in self.conv_strides):
            raise ConfigError(f"conv_strides: expected 1 or 2 each; got {self.conv_strides}")
        if self.output not in ("all", "last"):
            raise ConfigError(f"output: expected 'all' or 'last'; got {self.output!r}")
        if self.branches not in ("shared", "per_target"):
            raise ConfigError(f"branches: expected 'shared' or 'per_target'; got {self.branches!r}")
        if self.bidirectional and self.output == "all":
            raise ConfigError("bidirectional: a bidirectional GRU would see later months; use output='last'")

    @property
    def feature_grid(self) -> tuple[int, int]:
        """Grid size after the encoder's stride-2 stages."""
        h, w = self.height, self.width
        for s in self.conv_strides:
            if s == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
        return h, w

    def to_dict(self) -> dict:
        d = asdict(self)
        d["conv_widths"], d["conv_strides"] = list(self.conv_widths), list(self.conv_strides)
        return d


#: Named presets. ``compact`` trains on a 2-core CPU; ``seed`` is the study's network.
PRESETS: dict[str, dict] = {
    "compact": {},
    "seed": {
        "conv_widths": (32, 64, 64, 128),
        "conv_strides": (1, 1, 2, 1),
        "se_reduction": 16,
        "hidden": 512,
        "gru_layers": 2,
        "gru_dropout": 0.2,
        "head_hidden": 1024,
        "head_dropout": 0.2,
        "output": "last",
        "branches": "per_target",
        "zero_init_head": False,
    },
}


def preset(name: str, **overrides) -> ModelConfig:
    """A :class:`ModelConfig` from a named preset, with overrides.

    Examples
    --------
    >>> from xemu.nn.model import preset, CNNGRU, count_parameters
    >>> count_parameters(CNNGRU(preset("seed", in_channels=6, n_targets=2, height=48, width=72)))
    352878672
    """
    if name not in PRESETS:
        raise ConfigError(f"preset: expected one of {sorted(PRESETS)}; got {name!r}")
    return model_config({**PRESETS[name], **overrides}, argument="config")


def model_config(options: dict, *, argument: str = "config") -> ModelConfig:
    """A :class:`ModelConfig` from a dict; unknown fields raise :class:`~xemu.ConfigError` listing the known ones."""
    known = [f.name for f in fields(ModelConfig)]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise ConfigError(f"{argument}: unknown fields {unknown}; known: {known}")
    return ModelConfig(**options)


class SqueezeExcitation(nn.Module):
    """Channel attention: global average pool, 1x1 conv down, ReLU, 1x1 conv up, sigmoid."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        inner = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, inner, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class MonthEncoder(nn.Module):
    """Per-month convolutional encoder: ``(N, C, H, W)`` to ``(N, features)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        layers = []
        c = cfg.in_channels
        for width, stride in zip(cfg.conv_widths, cfg.conv_strides, strict=True):
            layers += [nn.Conv2d(c, width, 3, stride, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c = width
        self.convs = nn.Sequential(*layers)
        self.se = SqueezeExcitation(c, cfg.se_reduction)
        fh, fw = cfg.feature_grid
        self.features = c * fh * fw
        # channels-last convolutions run about 1.8x faster on CPU (oneDNN) and suit tensor cores
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        return self.se(self.convs(x)).flatten(1)


class MapHead(nn.Module):
    """GRU state to a full map: Linear, LayerNorm, ReLU, Dropout, Linear to ``H * W``."""

    def __init__(self, inputs: int, cfg: ModelConfig):
        super().__init__()
        self.height, self.width = cfg.height, cfg.width
        self.net = nn.Sequential(
            nn.Linear(inputs, cfg.head_hidden),
            nn.LayerNorm(cfg.head_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.head_dropout),
            nn.Linear(cfg.head_hidden, cfg.height * cfg.width),
        )
        if cfg.zero_init_head:
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h).unflatten(-1, (self.height, self.width))


class Branch(nn.Module):
    """Encoder, GRU and LayerNorm: windows ``(B, T, C, H, W)`` to states ``(B, T, hidden)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.encoder = MonthEncoder(cfg)
        self.gru = nn.GRU(
            self.encoder.features,
            cfg.hidden,
            num_layers=cfg.gru_layers,
            dropout=cfg.gru_dropout if cfg.gru_layers > 1 else 0.0,
            bidirectional=cfg.bidirectional,
            batch_first=True,
        )
        self.out_features = cfg.hidden * (2 if cfg.bidirectional else 1)
        self.norm = nn.LayerNorm(self.out_features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Per-month features ``(B, T, F)``; every month once."""
        b, t = x.shape[:2]
        return self.encoder(x.flatten(0, 1)).unflatten(0, (b, t))

    def recur(self, feats: torch.Tensor) -> torch.Tensor:
        return self.norm(self.gru(feats)[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recur(self.encode(x))


class CNNGRU(nn.Module):
    """The CNN-GRU emulator network.

    ``forward(x)`` takes ``(B, T, C, H, W)`` and returns ``(B, T, V, H, W)`` when
    ``output="all"``, ``(B, V, H, W)`` when ``output="last"``.

    Examples
    --------
    >>> import torch
    >>> from xemu.nn.model import CNNGRU, ModelConfig
    >>> net = CNNGRU(ModelConfig(in_channels=3, n_targets=2, height=8, width=12))
    >>> tuple(net(torch.zeros(4, 12, 3, 8, 12)).shape)
    (4, 12, 2, 8, 12)
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        n_branches = cfg.n_targets if cfg.branches == "per_target" else 1
        self.branches = nn.ModuleList([Branch(cfg) for _ in range(n_branches)])
        size = self.branches[0].out_features
        self.heads = nn.ModuleList([MapHead(size, cfg) for _ in range(cfg.n_targets)])

    def _states(self, x: torch.Tensor) -> list[torch.Tensor]:
        states = [b(x) for b in self.branches]
        return states if len(states) > 1 else states * self.cfg.n_targets

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = self._states(x)
        if self.cfg.output == "last":
            states = [s[:, -1] for s in states]
        maps = [head(s) for head, s in zip(self.heads, states, strict=True)]
        return torch.stack(maps, dim=-3)

    @torch.no_grad()
    def predict_series(self, x: torch.Tensor, length: int, chunk: int = 256) -> torch.Tensor:
        """Predict every month of whole series ``(S, N, C, H, W)`` -> ``(S, N, V, H, W)``.

        Month ``n >= length - 1`` is read from the window that ends on it; the first
        ``length - 1`` months from the first window (``output="all"``) or the first
        window's last step (``output="last"``, then months before it repeat it: the
        study's network cannot predict a month without a full window before it).
        Encoder features are computed once per month.
        """
        s, n = x.shape[:2]
        if n < length:
            raise ValueError(f"x: series of {n} months is shorter than one window ({length})")
        out = []
        for sample in range(s):
            per_target = []
            for branch in self.branches:
                feats = torch.cat([branch.encode(x[sample : sample + 1, a : a + chunk])
                                   for a in range(0, n, chunk)], dim=1)[0]
                wins = feats.unfold(0, length, 1).permute(0, 2, 1)  # (n - length + 1, length, F)
                last = torch.cat([branch.recur(wins[a : a + chunk])[:, -1] for a in range(0, wins.shape[0], chunk)])
                if self.cfg.output == "all":
                    first = branch.recur(wins[:1])[0, : length - 1]
                else:
                    first = last[:1].expand(length - 1, -1)
                per_target.append(torch.cat([first, last]))
            if len(per_target) == 1:
                per_target = per_target * self.cfg.n_targets
            out.append(torch.stack([h(st) for h, st in zip(self.heads, per_target, strict=True)], dim=1))
        return torch.stack(out)


def for_inference(net: CNNGRU) -> CNNGRU:
    """An eval-mode copy of ``net`` with each convolution's batch norm folded into its weights.

    The copy computes the same function (to float32 rounding: the folded weights are
    rounded once), faster on CPU, where batch norm on channels-last tensors is a large part
    of the encoder's time (``benchmarks/predict_speed.py``). ``net`` itself is left as it is.

    Examples
    --------
    >>> import torch
    >>> net = CNNGRU(ModelConfig(in_channels=3, n_targets=2, height=8, width=12)).eval()
    >>> x = torch.randn(1, 14, 3, 8, 12)
    >>> bool(torch.allclose(for_inference(net).predict_series(x, 12), net.predict_series(x, 12), atol=1e-5))
    True
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(net).eval()
    for branch in fused.branches:
        layers, out = list(branch.encoder.convs), []
        while layers:
            layer = layers.pop(0)
            if isinstance(layer, nn.Conv2d) and layers and isinstance(layers[0], nn.BatchNorm2d):
                layer = fuse_conv_bn_eval(layer, layers.pop(0)).to(memory_format=torch.channels_last)
            out.append(layer)
        branch.encoder.convs = nn.Sequential(*out)
    return fused


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
