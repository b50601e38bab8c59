"""Class-conditional pictures: the networks' arithmetic, labels drawn and carried through the
trainer, the invariants of the seed with classes, and the run end to end."""

import numpy as np
import pytest
import torch

import ganforge as gf
from ganforge.cli import main
from ganforge.data.images import ImageSet, ImageSource, load_images
from ganforge.distributed import Shard
from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import train_classifier
from ganforge.nets import DCGANDiscriminator, DCGANGenerator
from ganforge.noise import Noise
from ganforge.trainer import Trainer

SHAPE = (1, 8, 8)
TINY = {"steps": 6, "batch_size": 16, "g_width": 8, "d_width": 8, "latent_dim": 16}


def _classes(n, k=10, seed=0):
    return torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(seed))


def test_the_generator_reads_the_class_as_a_one_hot_beside_the_noise():
    torch.manual_seed(0)
    g = DCGANGenerator(6, SHAPE, width=8, num_classes=4).eval()
    z, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 3, 1])
    assert g.project.in_features == 6 + 4
    out = g(z, y)
    assert out.shape == (5, *SHAPE)
    # the same as the unconditional body fed the concatenated input
    x = torch.cat([z, torch.nn.functional.one_hot(y, 4).float()], 1)
    expected = g.body(g.project(x).view(5, *g.base))
    torch.testing.assert_close(out, expected)
    # the class changes the picture
    assert not torch.equal(g(z, y), g(z, (y + 1) % 4))


def test_the_projection_discriminator_adds_the_class_embedding_times_the_features():
    torch.manual_seed(1)
    d = DCGANDiscriminator(SHAPE, width=8, num_classes=3)
    x, y = torch.randn(4, *SHAPE), torch.tensor([0, 2, 1, 2])
    h = d.body(x).flatten(1)
    # the embedding starts at zero: the class changes nothing until D learns it
    torch.testing.assert_close(d(x, y), d.head(h).squeeze(-1))
    with torch.no_grad():
        d.embed.weight.normal_()
    expected = d.head(h).squeeze(-1) + (d.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(d(x, y), expected)


def test_networks_refuse_missing_or_unwanted_classes():
    g = DCGANGenerator(6, SHAPE, width=8, num_classes=4)
    d = DCGANDiscriminator(SHAPE, width=8, num_classes=4)
    with pytest.raises(GanforgeError, match="one class per sample"):
        g(torch.randn(2, 6))
    with pytest.raises(GanforgeError, match="one class per sample"):
        d(torch.randn(2, *SHAPE), torch.tensor([1]))
    with pytest.raises(GanforgeError, match="not class-conditional"):
        DCGANGenerator(6, SHAPE, width=8)(torch.randn(2, 6), torch.tensor([0, 1]))
    with pytest.raises(GanforgeError, match="pack 1"):
        DCGANDiscriminator(SHAPE, width=8, pack=2, num_classes=4)


def test_noise_draws_classes_with_the_given_shares_and_resumes_the_stream():
    noise = Noise(3, seed=4, class_shares=[1, 2, 0, 1])
    assert noise.num_classes == 4
    y = noise.labels(40_000)
    counts = torch.bincount(y, minlength=4).double()
    expected = torch.tensor([0.25, 0.5, 0.0, 0.25], dtype=torch.float64) * 40_000
    # within 4 standard deviations of the binomial counts; a zero share is never drawn
    sd = (expected * (1 - expected / 40_000)).sqrt()
    assert ((counts - expected).abs() <= 4 * sd + 1e-9).all()
    state = noise.state_dict()
    a = (noise(5), noise.labels(5))
    noise.load_state_dict(state)
    b = (noise(5), noise.labels(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(GanforgeError, match="class shares"):
        Noise(3, class_shares=[0, 0])
    with pytest.raises(GanforgeError, match="no classes"):
        Noise(3).labels(2)


def _trainer(**kw):
    torch.manual_seed(0)
    g = DCGANGenerator(8, SHAPE, width=8, num_classes=3)
    d = DCGANDiscriminator(SHAPE, width=8, norm="batch", num_classes=3)
    noise = Noise(8, seed=2, class_shares=[1, 1, 1])
    opt = {
        "g_optimizer": torch.optim.Adam(g.parameters(), 1e-2),
        "d_optimizer": torch.optim.Adam(d.parameters(), 1e-2),
    }
    return Trainer(g, d, noise=noise, **opt, **kw)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(before, module):
    return all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_with_classes_each_phase_still_changes_only_its_own_network():
    tr = _trainer(r1_gamma=1.0)
    real, y = torch.randn(16, *SHAPE), _classes(16, 3)
    tr.discriminator_step(real, real_labels=y)
    d_state, d_grads = (
        _state(tr.discriminator),
        [p.grad.clone() for p in tr.discriminator.parameters()],
    )
    g_state = _state(tr.generator)
    tr.generator_step(16)
    assert _same(d_state, tr.discriminator)
    assert all(
        torch.equal(p.grad, g) for p, g in zip(tr.discriminator.parameters(), d_grads, strict=True)
    )
    assert not _same(g_state, tr.generator)
    g_state, g_grads = _state(tr.generator), [p.grad.clone() for p in tr.generator.parameters()]
    tr.discriminator_step(real, real_labels=y)
    assert _same(g_state, tr.generator)
    assert all(
        torch.equal(p.grad, g) for p, g in zip(tr.generator.parameters(), g_grads, strict=True)
    )
    # the class embedding of D learns from the discriminator step
    assert tr.discriminator.embed.weight.abs().sum() > 0


@pytest.mark.parametrize("reuse_fake", [False, True])
def test_the_discriminator_sees_the_real_classes_and_the_classes_the_generator_drew(reuse_fake):
    tr = _trainer(reuse_fake=reuse_fake)
    seen_g, seen_d = [], []
    g_forward, d_forward = tr.generator.forward, tr.discriminator.forward
    tr.generator.forward = lambda z, y: seen_g.append(y.clone()) or g_forward(z, y)
    tr.discriminator.forward = lambda x, y: seen_d.append(y.clone()) or d_forward(x, y)
    real, y = torch.randn(16, *SHAPE), _classes(16, 3, seed=5)
    tr.step(real, y)
    assert torch.equal(seen_d[0], y)  # the real batch first
    drawn = {tuple(t.tolist()) for t in seen_g}
    judged_fake = {tuple(t.tolist()) for t in seen_d[1:]}
    assert judged_fake <= drawn  # every generated batch is judged with its own classes
    assert len(drawn) == (1 if reuse_fake else 2)


def test_a_conditional_trainer_needs_the_real_classes_and_a_plain_one_refuses_them():
    tr = _trainer()
    with pytest.raises(GanforgeError, match="give the real batches' classes"):
        tr.step(torch.randn(4, *SHAPE))
    torch.manual_seed(0)
    plain = Trainer(
        DCGANGenerator(8, SHAPE, width=8), DCGANDiscriminator(SHAPE, width=8), noise=Noise(8)
    )
    with pytest.raises(GanforgeError, match="not class-conditional"):
        plain.step(torch.randn(4, *SHAPE), _classes(4))


def _labelled_set(n=40):
    labels = np.arange(n) % 5
    images = np.repeat(labels[:, None, None, None] * 40, 64, axis=1).reshape(n, 8, 8, 1)
    return ImageSet(images=images.astype(np.uint8), labels=labels, classes=list("abcde"))


def test_labelled_batches_keep_each_picture_with_its_class():
    source = ImageSource(_labelled_set(), seed=3, hflip=True)
    for _ in range(5):  # across epochs
        x, y = source.labelled_batch(16)
        value = ((x[:, 0, 0, 0] + 1) * 127.5).round().long()
        assert torch.equal(value, y * 40)


def test_a_process_of_a_torchrun_job_gets_its_slice_of_pictures_and_classes():
    class Job:
        rank, world = 1, 2

    shard = Shard(ImageSource(_labelled_set(), seed=3), Job())
    whole = ImageSource(_labelled_set(), seed=3).labelled_batch(16)
    x, y = shard.labelled_batch(8)
    assert torch.equal(x, whole[0][8:]) and torch.equal(y, whole[1][8:])


def test_conditional_needs_labelled_pictures(tmp_path, capsys):
    with pytest.raises(GanforgeError, match="no labels; drop --conditional"):
        gf.GAN(np.zeros((20, 8, 8, 1), np.uint8), conditional=True, **TINY).fit()
    run = tmp_path / "ring"
    assert main(["train", "ring", "--conditional", "--steps", "2", "--out", str(run)]) == 2
    assert "drop --conditional" in capsys.readouterr().err
    assert not run.exists()


def test_cli_run_samples_a_class_resumes_and_draws_a_grid_with_a_column_per_class(tmp_path):
    run = tmp_path / "digits"
    flags = ["--batch-size", "16", "--g-width", "8", "--d-width", "8", "--latent-dim", "16"]
    train = ["train", "digits", "--conditional", "--out", str(run), "--quiet", *flags]
    assert main([*train, "--steps", "4"]) == 0
    assert main([*train, "--steps", "6", "--resume"]) == 0
    straight = gf.GAN("digits", conditional=True, **TINY).fit()
    resumed = gf.GAN.load(run)
    for a, b in zip(
        straight.trainer_.generator.state_dict().values(),
        resumed.trainer_.generator.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    out = tmp_path / "threes.npy"
    assert main(["sample", str(run), "-n", "12", "-o", str(out), "--label", "3"]) == 0
    np.testing.assert_array_equal(np.load(out), resumed.sample(12, labels=3))
    bad = tmp_path / "bad.npy"
    assert main(["sample", str(run), "-n", "12", "-o", str(bad), "--label", "10"]) == 2
    assert not bad.exists()
    # the final grid: 6 rows of the 10 classes, 8-pixel cells enlarged to 64 with 2 of padding
    from PIL import Image

    grid = Image.open(run / "samples" / "final.png")
    assert grid.size == (10 * 64 + 11 * 2, 6 * 64 + 7 * 2)
    assert resumed.interpolate(rows=3, steps=4).shape == (12, 8, 8, 1)


def test_dot_moves_latents_with_their_classes_held():
    gan = gf.GAN("digits", conditional=True, **TINY).fit()
    plain = gan.sample(30, labels=np.arange(30) % 10, dot_steps=0)
    moved = gan.sample(30, labels=np.arange(30) % 10, dot_steps=5)
    assert moved.shape == plain.shape and not np.array_equal(moved, plain)
    with pytest.raises(GanforgeError, match="do not take classes"):
        gan.sample(10, jbt=0.1)
    with pytest.raises(GanforgeError, match="classes 0 to 9"):
        gan.sample(3, labels=[0, 1, 12])
    with pytest.raises(GanforgeError, match="class-conditional runs"):
        gf.GAN("digits", **TINY).fit().sample(3, labels=1)


def test_a_trained_conditional_generator_draws_the_class_asked_for():
    # digits, small nets, 800 steps: the classifier of the metrics reads most samples as the
    # class they were drawn for (chance is 1 in 10)
    torch.set_num_threads(1)
    real = load_images("digits")
    clf = train_classifier(real.images, real.labels, real.classes, seed=0)
    gan = gf.GAN(
        "digits", conditional=True, steps=800, g_width=16, d_width=16, g_depth=1, d_depth=1
    ).fit()
    hits = []
    for k in range(10):
        _, probs = clf.predict(gan.sample(50, labels=k))
        hits.append(float((probs.argmax(1) == k).mean()))
    assert np.mean(hits) > 0.5, hits


def test_the_mnist_preset_is_conditional_unless_packing_or_rejection_asks_otherwise():
    assert gf.GAN("mnist").get_config().conditional
    assert gf.GAN().get_config().conditional  # the main job
    assert not gf.GAN("digits").get_config().conditional
    assert not gf.GAN("mnist", pack=2).get_config().conditional
    assert not gf.GAN("mnist", drs=True).get_config().conditional
    assert not gf.GAN("mnist", conditional=False).get_config().conditional


def test_a_run_saved_before_a_setting_existed_loads_with_its_default_not_the_preset():
    from ganforge.config import make_config
    from ganforge.modalities.tensor import saved_config

    old = gf.GAN("mnist", conditional=False).get_config().to_dict()
    del old["conditional"], old["jbt"]
    cfg = make_config(**saved_config(old))
    assert not cfg.conditional and cfg.jbt == 0.0
