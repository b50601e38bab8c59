import math

import pytest
import torch
from torch.testing import assert_close

from ganforge import losses
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES, d_loss, g_loss, get_loss, realness

LN2 = math.log(2)


@pytest.mark.parametrize(
    ("name", "d_expected", "g_expected"),
    [
        ("minimax", 2 * LN2, -LN2),
        ("nonsaturating", 2 * LN2, LN2),
        ("wasserstein", 0.0, 0.0),
        ("wgan-gp", 0.0, 0.0),
        ("hinge", 2.0, 0.0),
        ("least-squares", 0.5, 0.5),
        ("rpgan", LN2, LN2),
    ],
)
def test_losses_at_logit_zero(name, d_expected, g_expected):
    zero = torch.zeros(7)
    assert d_loss(name, real=zero, fake=zero).item() == pytest.approx(d_expected, abs=1e-7)
    assert g_loss(name, fake=zero, real=zero).item() == pytest.approx(g_expected, abs=1e-7)


def _reference(name, r, f):
    """The table of DESIGN.md §2 written with probabilities D = sigmoid(logit), in float64."""
    dr, df = torch.sigmoid(r), torch.sigmoid(f)
    if name in ("minimax", "nonsaturating"):
        d = (-torch.log(dr)).mean() + (-torch.log(1 - df)).mean()
        g = torch.log(1 - df).mean() if name == "minimax" else (-torch.log(df)).mean()
    elif name in ("wasserstein", "wgan-gp"):
        d, g = f.mean() - r.mean(), -f.mean()
    elif name == "hinge":
        d = torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean()
        g = -f.mean()
    elif name == "rpgan":  # D(x) = sigmoid of the paired difference of logits
        d = (-torch.log(torch.sigmoid(r - f))).mean()
        g = (-torch.log(torch.sigmoid(f - r))).mean()
    else:
        d = 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean()
        g = 0.5 * ((f - 1) ** 2).mean()
    return d, g


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_match_probability_formulas(name):
    g = torch.Generator().manual_seed(0)
    r = torch.randn(64, generator=g, dtype=torch.float64) * 2
    f = torch.randn(64, generator=g, dtype=torch.float64) * 2
    d_ref, g_ref = _reference(name, r, f)
    assert_close(d_loss(name, real=r, fake=f), d_ref)
    assert_close(g_loss(name, fake=f, real=r), g_ref)


def test_hinge_and_least_squares_at_chosen_logits():
    r = torch.tensor([2.0, 0.5])
    f = torch.tensor([-3.0, 0.0])
    # relu(1 - r) = [0, 0.5] -> 0.25 ; relu(1 + f) = [0, 1] -> 0.5
    assert d_loss("hinge", real=r, fake=f).item() == pytest.approx(0.75)
    # ½(r-1)² = [0.5, 0.125] -> 0.3125 ; ½f² = [4.5, 0] -> 2.25
    assert d_loss("least-squares", real=r, fake=f).item() == pytest.approx(2.5625)
    # ½(f-1)² = [8, 0.5] -> 4.25
    assert g_loss("least-squares", fake=f).item() == pytest.approx(4.25)


def test_nonsaturating_is_stable_at_extreme_logits():
    big = torch.tensor([80.0, -80.0])
    assert torch.isfinite(d_loss("nonsaturating", real=big, fake=big))
    # s(-80) ≈ 0 and s(80) = 80: mean 40 exactly in float32
    assert g_loss("nonsaturating", fake=big).item() == pytest.approx(40.0)


def test_minimax_saturates_where_nonsaturating_does_not():
    f = torch.tensor([-10.0], requires_grad=True)
    g_loss("minimax", fake=f).backward()
    grad_minimax = f.grad.abs().item()
    f.grad = None
    g_loss("nonsaturating", fake=f).backward()
    assert grad_minimax == pytest.approx(torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-5)
    assert f.grad.abs().item() == pytest.approx(torch.sigmoid(torch.tensor(10.0)).item(), rel=1e-5)


def test_registry_parameters():
    assert get_loss("wasserstein").clip_value == 0.01
    assert get_loss("wgan-gp").gp_weight == 10.0
    assert get_loss("nonsaturating").gp_weight == 0.0


def test_unknown_loss_lists_valid_names():
    with pytest.raises(GanforgeError, match="unknown loss 'hing'; choose one of: hinge"):
        get_loss("hing")


@pytest.mark.parametrize("shape", [(5,), (5, 1), (5, 1, 1, 1)])
def test_realness_accepts_logit_shapes(shape):
    assert realness(torch.arange(5.0).reshape(shape)).tolist() == [0, 1, 2, 3, 4]


def test_realness_rejects_several_outputs():
    with pytest.raises(GanforgeError, match=r"returned \(5, 2\)"):
        realness(torch.zeros(5, 2))


def test_module_exports():
    assert set(losses.__all__) >= {"LOSSES", "get_loss", "d_loss", "g_loss"}


@pytest.mark.parametrize("name", sorted(n for n in LOSSES if not LOSSES[n].relativistic))
def test_builtin_discriminator_losses_are_separable(name):
    """d_loss(r, f) = d_loss(r, 0) + d_loss(0, f) - d_loss(0, 0): the trainer relies on it
    to backpropagate the real and generated halves one after the other."""
    loss = LOSSES[name]
    assert loss.separable
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(64, generator=g) * 3, torch.randn(64, generator=g) * 3
    z = torch.zeros(64)
    whole = loss.d_loss(real=r, fake=f)
    parts = loss.d_loss(real=r, fake=z) + loss.d_loss(real=z, fake=f) - loss.d_loss(real=z, fake=z)
    torch.testing.assert_close(whole, parts)
