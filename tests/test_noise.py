import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.noise import Noise, restore_rng


def test_shape_int_and_tuple():
    assert Noise(7)(5).shape == (5, 7)
    assert Noise((4, 1, 1))(3).shape == (3, 4, 1, 1)


def test_normal_moments():
    z = Noise(4, seed=1)(200_000).double()
    # standard error of the mean: 1/sqrt(200k) ≈ 0.0022
    assert z.mean().item() == pytest.approx(0.0, abs=0.01)
    assert z.var().item() == pytest.approx(1.0, abs=0.01)


def test_uniform_range_and_moments():
    z = Noise(4, distribution="uniform", seed=1)(200_000).double()
    assert z.min().item() >= -1.0 and z.max().item() < 1.0
    assert z.mean().item() == pytest.approx(0.0, abs=0.01)
    assert z.var().item() == pytest.approx(1 / 3, abs=0.01)  # (b - a)² / 12 with b - a = 2


def test_same_seed_same_draws_other_seed_other_draws():
    assert torch.equal(Noise(3, seed=7)(10), Noise(3, seed=7)(10))
    assert not torch.equal(Noise(3, seed=7)(10), Noise(3, seed=8)(10))


def test_state_round_trip():
    a = Noise(3, seed=2)
    a(5)
    state = a.state_dict()
    expected = a(5)
    b = Noise(3, seed=99)
    b.load_state_dict(state)
    assert torch.equal(b(5), expected)


def test_draws_do_not_touch_global_rng():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    Noise(3)(10)
    assert torch.equal(torch.get_rng_state(), before)


def test_bad_arguments():
    with pytest.raises(GanforgeError, match="choose one of: normal, uniform"):
        Noise(3, distribution="cauchy")
    with pytest.raises(GanforgeError, match="positive"):
        Noise(0)


def test_restore_rng_continues_a_stream_of_the_same_device_type():
    a = torch.Generator().manual_seed(3)
    torch.rand(5, generator=a)
    b = torch.Generator().manual_seed(99)
    assert restore_rng(b, a.get_state()) is True
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))


def test_restore_rng_reseeds_deterministically_from_another_device_types_state():
    foreign = torch.arange(16, dtype=torch.uint8)  # a CUDA generator's state is 16 bytes
    first, second = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    assert restore_rng(first, foreign) is False and restore_rng(second, foreign) is False
    assert torch.equal(torch.rand(4, generator=first), torch.rand(4, generator=second))
    other = torch.Generator()
    restore_rng(other, foreign + 1)
    assert not torch.equal(torch.rand(4, generator=other), torch.rand(4, generator=first))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_state_saved_on_the_cpu_loads_on_cuda_and_back():
    cpu, cuda = Noise(4, seed=0), Noise(4, seed=0, device="cuda")
    assert cuda.load_state_dict(cpu.state_dict()) is False
    assert cpu.load_state_dict(cuda.state_dict()) is False
    assert cuda(3).device.type == "cuda"
