"""The few-channel convolutions against PyTorch's own modules."""

import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganforge import fewchannel
from ganforge.fewchannel import FewChannelConv2d, FewChannelConvTranspose2d
from ganforge.nets import DCGANDiscriminator, DCGANGenerator

CL = torch.channels_last


def _pair(cls, ref_cls, *args, **kwargs):
    """A few-channel module and the PyTorch module with the same (random) weights."""
    torch.manual_seed(0)
    ref = ref_cls(*args, **kwargs).double()
    with torch.no_grad():
        if ref.bias is not None:
            ref.bias.normal_()
    ours = cls(*args, **kwargs).double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _route(out: torch.Tensor) -> str:
    return type(out.grad_fn).__name__


def _grads(module, x, out_grad):
    x = x.detach().clone().requires_grad_()
    out = module(x)
    out.backward(out_grad)
    return out, [x.grad, *(p.grad for p in module.parameters())]


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("size", [(8, 8), (9, 12)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", [torch.contiguous_format, CL])
def test_convolution_matches_pytorch_in_values_and_gradients(channels, size, bias, layout):
    ours, ref = _pair(FewChannelConv2d, nn.Conv2d, channels, 5, 4, stride=2, padding=1, bias=bias)
    x = torch.randn(3, channels, *size, dtype=torch.double).contiguous(memory_format=layout)
    out_grad = torch.randn_like(ref(x))
    out, grads = _grads(ours, x, out_grad)
    ref_out, ref_grads = _grads(ref, x, out_grad)
    assert _route(out) == "_ConvBackward"
    assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, ref_grads, strict=True):
        assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert grads[0].is_contiguous(memory_format=layout)  # the input's layout, kept


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", [torch.contiguous_format, CL])
@pytest.mark.parametrize("output_size", [None, (9, 10)])
def test_transposed_convolution_matches_pytorch(channels, bias, layout, output_size):
    ours, ref = _pair(
        FewChannelConvTranspose2d, nn.ConvTranspose2d, 6, channels, 4, 2, 1, bias=bias
    )
    x = torch.randn(3, 6, 4, 5, dtype=torch.double).contiguous(memory_format=layout)
    ref_out = ref(x, output_size)
    out_grad = torch.randn_like(ref_out)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = ours(x1, output_size)
    out.backward(out_grad)
    ref(x2, output_size).backward(out_grad)
    assert _route(out) == "_ConvTransposeBackward"
    assert out.shape == ref_out.shape == (3, channels, *(output_size or (8, 10)))
    assert out.is_contiguous(memory_format=layout)
    assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    assert_close(x1.grad, x2.grad, rtol=1e-12, atol=1e-12)
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
def test_first_and_second_derivatives_pass_gradcheck(transposed):
    # R1 and the gradient penalty backpropagate through the input gradient
    if transposed:
        module, x = FewChannelConvTranspose2d(3, 2, 4, 2, 1), torch.randn(2, 3, 3, 4)
    else:
        module, x = FewChannelConv2d(2, 3, 4, 2, 1), torch.randn(2, 2, 6, 5)
    module = module.double()
    x = x.double().requires_grad_()
    w, b = module.weight, module.bias

    def f(x, w, b):
        return torch.func.functional_call(module, {"weight": w, "bias": b}, (x,))

    assert _route(f(x, w, b)).startswith("_Conv")
    assert torch.autograd.gradcheck(f, (x, w, b))
    assert torch.autograd.gradgradcheck(f, (x, w, b))


def test_other_cases_are_pytorch_own_modules():
    conv3 = FewChannelConv2d(3, 4, 4, 2, 1)  # three channels: oneDNN is as fast
    assert _route(conv3(torch.randn(2, 3, 8, 8))) == "ConvolutionBackward0"
    conv = FewChannelConv2d(1, 4, 4, 2, 1)
    convt = FewChannelConvTranspose2d(4, 1, 4, 2, 1)
    with torch.autocast("cpu", torch.bfloat16):
        assert _route(conv(torch.randn(2, 1, 8, 8))) == "ConvolutionBackward0"
        assert _route(convt(torch.randn(2, 4, 4, 4))) == "ConvolutionBackward0"
    assert _route(conv.bfloat16()(torch.randn(2, 1, 8, 8).bfloat16())) == "ConvolutionBackward0"
    dilated = FewChannelConv2d(1, 4, 3, dilation=2)
    assert _route(dilated(torch.randn(2, 1, 8, 8))) == "ConvolutionBackward0"


def test_state_dicts_are_those_of_pytorch_modules():
    for ours, ref in (
        (FewChannelConv2d(1, 4, 4, 2, 1), nn.Conv2d(1, 4, 4, 2, 1)),
        (FewChannelConvTranspose2d(4, 1, 4, 2, 1), nn.ConvTranspose2d(4, 1, 4, 2, 1)),
    ):
        ref.load_state_dict(ours.state_dict())
        ours.load_state_dict(ref.state_dict())


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_dcgan_pair_trains_as_with_pytorch_modules(spectral_norm, monkeypatch):
    torch.manual_seed(0)
    g = DCGANGenerator(16, (1, 16, 16), width=8, norm="batch")
    d = DCGANDiscriminator((1, 16, 16), width=8, spectral_norm=spectral_norm)
    assert isinstance(g.body[-2], FewChannelConvTranspose2d)
    assert isinstance(d.body[0], FewChannelConv2d)
    z, real = torch.randn(4, 16), torch.randn(4, 1, 16, 16)
    grads = []
    for few in (fewchannel.FEW, 0):  # ours, then PyTorch's route
        monkeypatch.setattr(fewchannel, "FEW", few)
        gen, disc = copy.deepcopy(g), copy.deepcopy(d)
        x = real.clone().requires_grad_()
        (r1,) = torch.autograd.grad(disc(x).sum(), x, create_graph=True)
        fake = gen(z)
        last = type(fake.grad_fn.next_functions[0][0]).__name__  # behind the tanh
        assert last == ("_ConvTransposeBackward" if few else "ConvolutionBackward0")
        (disc(fake).sum() + r1.square().sum()).backward()
        grads.append({n: p.grad for net in (gen, disc) for n, p in net.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6, msg=name)
