import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganforge.losses import realness
from ganforge.penalties import (
    clip_weights,
    gradient_penalty,
    input_grad_sq_norm,
    r1_penalty,
    r2_penalty,
)


def _linear_d(dim=3, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(dim, 1).double()


def test_r1_on_linear_discriminator_is_half_gamma_w_squared():
    d = _linear_d()
    real = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    logits = realness(d(real))
    w2 = d.weight.detach().square().sum()
    assert_close(r1_penalty(logits, real, gamma=4.0), 0.5 * 4.0 * w2)


def test_r2_on_linear_discriminator_is_half_gamma_w_squared_and_trains_d():
    d = _linear_d()
    fake = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    w = d.weight.detach()
    penalty = r2_penalty(realness(d(fake)), fake, gamma=0.3)
    assert_close(penalty, 0.5 * 0.3 * w.square().sum())
    penalty.backward()  # d/dw of ½γ‖w‖² = γ w; the bias has no say in ∇ₓD
    assert_close(d.weight.grad, 0.3 * w)
    assert d.bias.grad is None


def test_gradient_penalty_on_linear_discriminator():
    d = _linear_d()
    real = torch.randn(16, 3, dtype=torch.float64)
    fake = torch.randn(16, 3, dtype=torch.float64)
    norm = d.weight.detach().norm()
    assert_close(gradient_penalty(d, real, fake, weight=10.0), 10.0 * (norm - 1) ** 2)


class _Quadratic(nn.Module):
    """D(x) = ½‖x‖², so ∇D(x) = x: the penalty depends on where each sample is mixed."""

    def forward(self, x):
        return 0.5 * x.square().sum(1)


def test_gradient_penalty_mixes_per_sample():
    real = torch.randn(32, 2, dtype=torch.float64)
    fake = torch.randn(32, 2, dtype=torch.float64)
    got = gradient_penalty(
        _Quadratic(), real, fake, weight=1.0, generator=torch.Generator().manual_seed(5)
    )
    eps = torch.rand((32, 1), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mixed = eps * real + (1 - eps) * fake
    expected = ((mixed.norm(dim=1) - 1) ** 2).mean()
    assert_close(got, expected)
    # one weight for the whole batch would give another value
    shared = 0.3 * real + 0.7 * fake
    assert abs(((shared.norm(dim=1) - 1) ** 2).mean() - got) > 1e-3


def test_penalty_backpropagates_into_discriminator_weights():
    d = _linear_d()
    real = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    r1_penalty(realness(d(real)), real, gamma=2.0).backward()
    # d/dw of ½γ‖w‖² = γ w
    assert_close(d.weight.grad, 2.0 * d.weight.detach())


def test_input_grad_sq_norm_per_sample():
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0]], requires_grad=True)
    logits = 0.5 * x.square().sum(1)
    assert_close(input_grad_sq_norm(logits, x), torch.tensor([5.0, 9.0]))


def test_clip_weights():
    d = _linear_d()
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[0.5, -0.005, -2.0]], dtype=torch.float64))
    clip_weights(d, 0.01)
    assert d.weight.tolist() == [[0.01, -0.005, -0.01]]
    assert d.bias.abs().item() <= 0.01 + 1e-12 or pytest.fail("bias not clipped")


def test_penalties_on_pictures_with_a_linear_discriminator():
    """On (N, C, H, W) pictures a linear D (flatten, then one weight per pixel) has the
    gradient w everywhere: R1 = γ/2‖w‖², GP = λ(‖w‖ - 1)², as for vectors."""
    torch.manual_seed(0)
    d = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 6, 1)).double()
    w = d[1].weight.detach()
    real = torch.rand(10, 3, 8, 6, dtype=torch.float64) * 2 - 1
    fake = torch.rand(10, 3, 8, 6, dtype=torch.float64) * 2 - 1
    real.requires_grad_(True)
    assert_close(r1_penalty(realness(d(real)), real, gamma=2.0), w.square().sum())
    assert_close(gradient_penalty(d, real, fake, weight=10.0), 10.0 * (w.norm() - 1) ** 2)
