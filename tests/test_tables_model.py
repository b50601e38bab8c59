"""The table generator's outputs, the condition sampler, and the trainer's invariants."""

import numpy as np
import pandas as pd
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.nets import MLPDiscriminator
from ganforge.tables.columns import infer_columns
from ganforge.tables.model import Packed, TableGenerator, TableNoise, TableSource, generator_input
from ganforge.tables.sampler import ConditionSampler, RowIndex
from ganforge.tables.transformer import TableTransformer
from ganforge.trainer import Trainer


def _setup(n=200, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.8, 0.15, 0.05]),
            "d": rng.choice(["u", "v"], n),
            "y": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(size=n)),
        }
    )
    tr = TableTransformer(seed=0).fit(df, infer_columns(df))
    data = tr.transform(df)
    sampler = ConditionSampler.from_data(tr.output_spans, data)
    torch.manual_seed(0)
    gen = TableGenerator(tr.output_spans, 8, sampler.spans, width=32, depth=1)
    return df, tr, data, sampler, gen


def _input(gen, sampler, n, seed, mode="original"):
    g = torch.Generator().manual_seed(seed)
    cond = sampler.one_hot(*sampler.draw(n, g, mode))
    return generator_input(n, gen.latent_dim, gen.gumbel_dim, cond, g)


def test_sampling_gives_valid_one_hots():
    _, tr, _, sampler, gen = _setup()
    gen.eval()
    with torch.no_grad():
        out = gen(_input(gen, sampler, 500, 1))[:, : gen.data_dim]
    for s in tr.output_spans:
        part = out[:, s.start : s.end]
        if s.activation == "softmax":
            assert torch.isin(part, torch.tensor([0.0, 1.0])).all()
            torch.testing.assert_close(part.sum(1), torch.ones(500))
        else:
            assert (part.abs() < 1).all()


def test_training_outputs_are_soft_one_hots_with_gradients():
    _, tr, _, sampler, gen = _setup()
    gen.train()
    out = gen(_input(gen, sampler, 64, 1))[:, : gen.data_dim]
    for s in tr.output_spans:
        if s.activation == "softmax":
            torch.testing.assert_close(out[:, s.start : s.end].sum(1), torch.ones(64))
    out.sum().backward()
    assert all(p.grad is not None for p in gen.parameters())


def test_gumbel_max_draws_follow_the_softmax():
    _, tr, _, sampler, gen = _setup()
    gen.eval()
    span = next(s for s in tr.output_spans if s.activation == "softmax")
    x = _input(gen, sampler, 20000, 2)
    raw = gen.net(x[:, : gen.latent_dim + gen.cond_dim].mean(0, keepdim=True).expand(20000, -1))
    u = x[:, gen.latent_dim + gen.cond_dim :]
    with torch.no_grad():
        drawn = gen.activate(raw, u)[:, span.start : span.end].mean(0)
        expected = torch.softmax(raw[0, span.start : span.end], 0)
    torch.testing.assert_close(drawn, expected, atol=0.015, rtol=0)


def test_condition_is_written_into_the_row():
    _, tr, _, sampler, gen = _setup()
    gen.train()
    j, k = sampler.locate(tr.specs_, "c", "b")
    column, category = torch.full((300,), j), torch.full((300,), k)
    g = torch.Generator().manual_seed(3)
    cond = sampler.one_hot(column, category)
    out = gen(generator_input(300, gen.latent_dim, gen.gumbel_dim, cond, g))
    span = sampler.spans[j]
    expected = torch.zeros(300, span.size)
    expected[:, k] = 1
    torch.testing.assert_close(out[:, span.start : span.end], expected)
    torch.testing.assert_close(out[:, gen.data_dim :], cond)  # the condition rides along


def test_training_by_sampling_uses_log_frequencies():
    _, _, data, sampler, _ = _setup(2000)
    g = torch.Generator().manual_seed(0)
    column, category = sampler.draw(200000, g, "train")
    assert abs((column == 0).float().mean().item() - 0.5) < 0.01  # columns uniformly
    counts = sampler.counts[0]
    expected = np.log1p(counts) / np.log1p(counts).sum()
    seen = np.bincount(category[column == 0].numpy(), minlength=3) / (column == 0).sum().item()
    np.testing.assert_allclose(seen, expected, atol=0.01)
    column, category = sampler.draw(200000, g, "original")
    seen = np.bincount(category[column == 0].numpy(), minlength=3) / (column == 0).sum().item()
    np.testing.assert_allclose(seen, counts / counts.sum(), atol=0.01)


def test_real_rows_hold_their_condition():
    _, _, data, sampler, _ = _setup()
    index = RowIndex(sampler, data)
    g = torch.Generator().manual_seed(0)
    column, category = sampler.draw(5000, g, "train")
    rows = index.rows(column, category, g).numpy()
    for j, span in enumerate(sampler.spans):
        mine = (column == j).numpy()
        held = data[rows[mine], span.start : span.end].argmax(1)
        np.testing.assert_array_equal(held, category[mine].numpy())


def test_locate_conditions():
    df, tr, _, sampler, _ = _setup()
    assert sampler.locate(tr.specs_, "d", "v") == (1, 1)
    with pytest.raises(GanforgeError, match="no category 'w'.*'u', 'v'"):
        sampler.locate(tr.specs_, "d", "w")
    with pytest.raises(GanforgeError, match="'x'.*continuous.*c, d"):
        sampler.locate(tr.specs_, "x", 1.0)


def _trainer(seed=0):
    _, tr, data, sampler, gen = _setup()
    pack = 4
    packed = Packed(gen, pack)
    disc = MLPDiscriminator(pack * (gen.data_dim + sampler.cond_dim), 32, 2)
    noise = TableNoise(sampler, gen.latent_dim, gen.gumbel_dim, pack, seed=seed)
    trainer = Trainer(packed, disc, noise=noise, loss="wgan-gp", joint_forward=True, seed=seed)
    source = TableSource(data, tr.output_spans, sampler, pack, seed=seed)
    return trainer, source


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_each_phase_changes_only_its_own_network():
    trainer, source = _trainer()
    for _ in range(3):
        trainer.step(source.batch(8))
    g_before, d_before = _state(trainer.generator), _state(trainer.discriminator)
    trainer.generator_step(8)
    assert _equal(d_before, _state(trainer.discriminator))  # BatchNorm-free D, weights
    assert not _equal(g_before, _state(trainer.generator))
    g_before, d_before = _state(trainer.generator), _state(trainer.discriminator)
    trainer.discriminator_step(source.batch(8))
    assert _equal(g_before, _state(trainer.generator))  # BatchNorm statistics included
    assert not _equal(d_before, _state(trainer.discriminator))


def test_same_seed_same_training():
    runs = []
    for _ in range(2):
        trainer, source = _trainer(seed=5)
        for _ in range(4):
            trainer.step(source.batch(8))
        runs.append(_state(trainer.generator))
    assert _equal(*runs)
