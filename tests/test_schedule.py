import math

import pytest
import torch

from ganforge.schedule import linear_decay, lr_factor, set_lr


def test_constant():
    assert [lr_factor(s, 10) for s in (1, 5, 10)] == [1.0, 1.0, 1.0]


def test_linear_from_half_way():
    # decay over steps 50..100: at step 75 half way, at 100 zero
    assert lr_factor(50, 100, "linear", 0.5) == 1.0
    assert lr_factor(75, 100, "linear", 0.5) == pytest.approx(0.5)
    assert lr_factor(100, 100, "linear", 0.5) == 0.0


def test_cosine_whole_run():
    assert lr_factor(0, 100, "cosine") == 1.0
    assert lr_factor(25, 100, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(50, 100, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, "cosine") == pytest.approx(0.0)


def test_unknown_schedule():
    with pytest.raises(ValueError, match="choose one of: constant, linear, cosine"):
        lr_factor(5, 10, "step")


def test_set_lr():
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    set_lr(opt, 0.25)
    assert opt.param_groups[0]["lr"] == 0.25


def test_linear_decay_reaches_zero_at_the_given_fraction():
    assert linear_decay(1, 100, 0.5) == 1.0
    assert linear_decay(26, 100, 0.5) == pytest.approx(0.5)
    assert linear_decay(51, 100, 0.5) == 0.0
    assert linear_decay(100, 100, 0.5) == 0.0
    assert linear_decay(101, 100, 1.0) == 0.0
