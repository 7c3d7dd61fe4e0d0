import pytest
import torch

from xemu.errors import ConfigError
from xemu.nn import losses
from xemu.nn.losses import CombinedLoss, parse_spec

torch.manual_seed(0)
P = torch.rand(3, 12, 8, 10) + 0.1
T = torch.rand(3, 12, 8, 10) + 0.1


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_zero_at_equality_and_gradient_flows(name):
    f = losses.LOSSES[name]
    assert float(f(T, T)) == pytest.approx(0.0, abs=1e-6)
    p = P.clone().requires_grad_(True)
    value = f(p, T)
    value.backward()
    assert value > 0 and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["mse", "l1", "dice", "gabor", "std", "tmean"])
def test_symmetric(name):
    f = losses.LOSSES[name]
    assert float(f(P, T)) == pytest.approx(float(f(T, P)), rel=1e-5)


def test_known_values():
    ones, zeros = torch.ones(2, 4, 5), torch.zeros(2, 4, 5)
    assert float(losses.mse(3 * ones, ones)) == pytest.approx(4.0)
    assert float(losses.l1(3 * ones, ones)) == pytest.approx(2.0)
    t = torch.rand(2, 4, 5) + 0.5
    # p = 2t: 1 - 2 * 2 sum t^2 / (4 sum t^2 + sum t^2) = 1 - 4/5
    assert float(losses.dice(2 * t, t)) == pytest.approx(0.2, abs=1e-5)
    assert float(losses.dice(zeros + 1, zeros, eps=0.0)) == pytest.approx(1.0)
    alternating = torch.tensor([1.0, -1.0] * 6).view(1, 12, 1, 1).expand(1, 12, 2, 2)
    assert float(losses.std(torch.zeros(1, 12, 2, 2), alternating)) == pytest.approx(1.0)
    assert float(losses.tmean(torch.zeros(1, 12, 2, 2) + 2, torch.zeros(1, 12, 2, 2))) == pytest.approx(4.0)


def test_gabor_sees_edges_not_offsets():
    base = torch.zeros(1, 16, 16)
    edge = base.clone()
    edge[:, :, 8:] = 1.0
    assert float(losses.gabor(base + 5.0, base)) < 1e-10
    assert float(losses.gabor(edge, base)) > 1e-3
    bank = losses.gabor_bank()
    assert bank.shape == (8, 1, 7, 7)
    assert torch.allclose(bank.sum((1, 2, 3)), torch.zeros(8), atol=1e-5)


def test_latitude_weights_change_the_weighting():
    p, t = torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)
    p[:, 0] = 1.0  # error only in the first latitude row
    w = torch.tensor([1.5, 0.5])
    assert float(losses.mse(p, t, w)) == pytest.approx(1.5 * 0.5)
    assert float(losses.mse(p, t)) == pytest.approx(0.5)


def test_parse_spec_string_and_typed():
    assert parse_spec("l1 + 0.5*gabor") == {"l1": 1.0, "gabor": 0.5}
    assert parse_spec("0.5*dice + 0.5*mse") == {"dice": 0.5, "mse": 0.5}
    assert parse_spec({"dice": 0.5, "mse": 0.5}) == {"dice": 0.5, "mse": 0.5}
    for bad in ("0.5*hinge", "dice +", "two*mse", {"mse": -1}):
        with pytest.raises(ConfigError, match="loss"):
            parse_spec(bad)


def test_combined_loss_sums_per_target_specs():
    pred = torch.stack([P, P], dim=2)
    target = torch.stack([T, T], dim=2)
    combined = CombinedLoss({"tas": "l1 + 0.5*gabor", "pr": "0.5*dice + 0.5*mse"}, ["tas", "pr"])
    total, parts = combined(pred, target)
    tas = losses.l1(P, T) + 0.5 * losses.gabor(P, T)
    pr = 0.5 * losses.dice(P, T) + 0.5 * losses.mse(P, T)
    assert float(total) == pytest.approx(float(tas + pr), rel=1e-5)
    assert parts["tas"] == pytest.approx(float(tas), rel=1e-5)
    with pytest.raises(ConfigError, match="missing"):
        CombinedLoss({"tas": "mse"}, ["tas", "pr"])
