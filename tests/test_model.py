import pytest
import torch

from xemu.errors import ConfigError
from xemu.nn.model import CNNGRU, ModelConfig, count_parameters, preset

SMALL = dict(in_channels=3, n_targets=2, height=8, width=12, conv_widths=(4, 6), conv_strides=(2, 1),
             hidden=10, head_hidden=12)


@pytest.mark.parametrize("branches", ["shared", "per_target"])
def test_shapes_output_all_and_last(branches):
    x = torch.randn(5, 12, 3, 8, 12)
    assert CNNGRU(ModelConfig(**SMALL, branches=branches))(x).shape == (5, 12, 2, 8, 12)
    assert CNNGRU(ModelConfig(**SMALL, branches=branches, output="last"))(x).shape == (5, 2, 8, 12)


def test_odd_grid_shapes():
    cfg = ModelConfig(**{**SMALL, "height": 9, "width": 13})
    assert CNNGRU(cfg)(torch.randn(2, 4, 3, 9, 13)).shape == (2, 4, 2, 9, 13)


def test_seed_preset_has_the_studys_parameter_count():
    net = CNNGRU(preset("seed", in_channels=6, n_targets=2, height=48, width=72))
    assert count_parameters(net) == 352_878_672
    cfg = net.cfg
    assert cfg.conv_widths == (32, 64, 64, 128) and cfg.conv_strides == (1, 1, 2, 1)
    assert cfg.hidden == 512 and cfg.gru_layers == 2 and cfg.output == "last" and cfg.branches == "per_target"
    assert len(net.branches) == 2 and net.branches[0].encoder.features == 128 * 24 * 36


def test_compact_preset_is_under_one_percent_of_the_study():
    net = CNNGRU(preset("compact", in_channels=7, n_targets=2, height=48, width=72))
    assert count_parameters(net) <= 0.01 * 352_878_672


def test_each_month_is_encoded_once_per_step():
    net = CNNGRU(ModelConfig(**SMALL))
    seen = []
    net.branches[0].encoder.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    net(torch.randn(4, 12, 3, 8, 12))
    assert seen == [4 * 12]


def test_zero_init_head_predicts_zero_and_predict_series_matches_windows():
    net = CNNGRU(ModelConfig(**SMALL)).eval()
    x = torch.randn(1, 20, 3, 8, 12)
    assert torch.count_nonzero(net(x[:, :12])) == 0
    for head in net.heads:
        torch.nn.init.normal_(head.net[-1].weight)
    series = net.predict_series(x, 12)
    with torch.no_grad():
        first = net(x[:, :12])
        for t in (11, 15, 19):
            assert torch.allclose(series[0, t], net(x[:, t - 11 : t + 1])[0, -1], atol=1e-5)
    assert torch.allclose(series[0, :11], first[0, :11], atol=1e-5)


def test_bad_config_raises():
    with pytest.raises(ConfigError, match="conv_strides"):
        ModelConfig(conv_widths=(4, 4), conv_strides=(3, 1))
    with pytest.raises(ConfigError, match="output"):
        ModelConfig(output="middle")
    with pytest.raises(ConfigError, match="preset"):
        preset("huge")
