import pytest
import torch
from torch import nn

from ganforge.ema import EMA


def test_ema_arithmetic_with_ramp_up():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.9)
    expected = 0.0
    for n in range(30):
        with torch.no_grad():
            net.weight.fill_(float(n + 1))
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * (n + 1)
        ema.update(net)
        assert ema.module.weight.item() == pytest.approx(expected, rel=1e-6)


def test_ema_copies_buffers_and_is_frozen():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(net, decay=0.99)
    net(torch.randn(8, 2))  # updates running statistics
    ema.update(net)
    assert torch.equal(ema.module[1].running_mean, net[1].running_mean)
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert not ema.module.training


def test_ema_state_round_trip():
    net = nn.Linear(2, 2)
    ema = EMA(net, decay=0.5)
    ema.update(net)
    other = EMA(nn.Linear(2, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1
    assert torch.equal(other.module.weight, ema.module.weight)


def test_bad_decay():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        EMA(nn.Linear(1, 1), decay=1.0)
