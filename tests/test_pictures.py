"""Pictures through the facade and the command line: digits, arrays, folders."""

import json
import shutil

import numpy as np
import pytest
import torch
from helpers import run
from PIL import Image
from torch.testing import assert_close

import ganforge as gf
from ganforge.errors import GanforgeError

TINY = {
    "steps": 30,
    "batch_size": 16,
    "g_width": 8,
    "d_width": 8,
    "latent_dim": 16,
    "log_every": 10,
    "sample_every": 15,
    "ckpt_every": 15,
}


def _equal_states(a, b):
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_digits_fit_sample_save_load(tmp_path):
    gan = gf.GAN("digits", **TINY).fit(out=tmp_path / "run")
    x = gan.sample(10)
    assert x.shape == (10, 8, 8, 1) and x.dtype == np.uint8
    assert np.array_equal(x, gan.sample(10))  # the run's seed: the same pictures
    assert not np.array_equal(x, gan.sample(10, seed=3))
    loaded = gf.GAN.load(tmp_path / "run")
    assert np.array_equal(loaded.sample(10), x)
    strip = gan.interpolate(rows=2, steps=5)
    assert strip.shape == (10, 8, 8, 1)
    names = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert names == ["final.png", "interpolation.png", "step_000015.png", "step_000030.png"]
    info = json.loads((tmp_path / "run" / "config.json").read_text())
    assert info["data"]["kind"] == "pictures" and info["data"]["shape"] == [1, 8, 8]
    assert info["data"]["classes"] == [str(k) for k in range(10)]
    assert info["config"]["net"] == "auto" and info["config"]["batch_size"] == 16


def test_interpolation_ends_are_the_two_random_inputs():
    gan = gf.GAN("digits", **{**TINY, "steps": 2}).fit()
    walk = gan.interpolate(rows=3, steps=4, seed=7)
    generator = gan.trainer_.sampling_generator.eval()
    noise = gf.Noise(16, seed=7, device=next(generator.parameters()).device)
    a, b = noise(3), noise(3)
    with torch.no_grad():
        ends = gf.data.images.to_uint8(generator(torch.cat([a, b])).cpu())
    walk = walk.reshape(3, 4, 8, 8, 1)
    assert np.abs(walk[:, 0].astype(int) - ends[:3]).max() <= 1
    assert np.abs(walk[:, -1].astype(int) - ends[3:]).max() <= 1


def test_picture_presets_apply_to_pictures_only():
    assert gf.GAN("digits").get_config().batch_size == 64
    assert gf.GAN("ring").get_config().batch_size == 256
    x = np.zeros((20, 8, 8, 3), np.uint8)
    assert gf.GAN().get_config(x).latent_dim == 64
    assert gf.GAN().get_config(np.zeros((20, 2))).latent_dim == 8
    assert gf.GAN().get_config().data == "mnist"


@pytest.mark.parametrize(
    "options",
    [
        {"augment": "translation,cutout,color", "instance_noise": 0.1, "hflip": True},
        {"net": "mlp", "d_norm": "none"},
        {"d_norm": "batch", "spectral_norm": True, "precision": "bf16"},
    ],
)
def test_array_of_pictures_with_options_resumes_bitwise(tmp_path, options):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 16, 16, 3), dtype=np.uint8)
    opts = {**TINY, **options}
    full = gf.GAN(**opts).fit(x, out=tmp_path / "full")
    shutil.copytree(tmp_path / "full", tmp_path / "part")
    newest = max((tmp_path / "part" / "checkpoints").iterdir())
    newest.unlink()  # as if killed after the checkpoint of step 15
    resumed = gf.GAN(**opts).fit(x, out=tmp_path / "part", resume=True)
    _equal_states(full.trainer_.generator, resumed.trainer_.generator)
    _equal_states(full.trainer_.discriminator, resumed.trainer_.discriminator)
    assert full.sample(4).shape == (4, 16, 16, 3)


def test_instance_noise_anneals_to_zero():
    gan = gf.GAN("digits", **{**TINY, "instance_noise": 0.2, "instance_noise_anneal": 0.5})
    gan.fit()
    assert gan.trainer_.instance_noise == 0.0


def test_top_k_share_falls_linearly_to_its_floor(monkeypatch):
    seen = []
    original = gf.Trainer.step

    def spy(trainer, real, labels=None):
        seen.append(trainer.g_topk)
        return original(trainer, real, labels)

    monkeypatch.setattr(gf.Trainer, "step", spy)
    gf.GAN("digits", **{**TINY, "g_topk": 0.5, "g_topk_anneal": 0.5}).fit()
    # 30 steps, the share falls over the first 15: 1 at step 1, 0.5 from step 16 on
    assert seen[0] == 1.0 and seen[7] == pytest.approx(1 - 0.5 * 7 / 15)
    assert seen[15:] == [0.5] * 15
    with pytest.raises(GanforgeError, match="--g-topk must be in"):
        gf.GAN("digits", g_topk=1.5).get_config()


def test_dcgan_net_on_points_is_refused():
    with pytest.raises(GanforgeError, match="--net dcgan needs pictures"):
        gf.GAN("ring", net="dcgan", steps=2).fit()


CLI_TINY = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()] + ["--quiet"]


def test_cli_digits_smoke_run_and_sample_formats(tmp_path):
    out = tmp_path / "d"
    result = run("train", "digits", *CLI_TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "samples/interpolation.png" in result.stdout
    grid = Image.open(out / "samples" / "final.png")
    assert grid.mode == "L" and grid.size[0] > 8 * 8
    for suffix in (".npy", ".npz", ".png"):
        target = tmp_path / f"s{suffix}"
        result = run("sample", out, "-n", "12", "-o", target)
        assert result.returncode == 0, result.stderr
        if suffix == ".npy":
            x = np.load(target)
            assert x.shape == (12, 8, 8, 1) and x.dtype == np.uint8
        elif suffix == ".npz":
            assert np.load(target)["x"].shape == (12, 8, 8, 1)
    result = run("sample", out, "-n", "4", "-o", tmp_path / "s.csv")
    assert result.returncode == 2 and "choose a .npy, .npz, .png file" in result.stderr


def _folder(tmp_path, bad=None):
    root = tmp_path / "pics"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(10):
            shade = 40 if label == "a" else 200
            img = Image.new("RGB", (12 + i, 10), (shade, i * 10, 255 - shade))
            img.save(root / label / f"{i}.png")
    if bad:
        (root / "a" / bad).write_bytes(b"" if bad.endswith(".jpg") else b"not an image")
    return root


def test_cli_folder_with_bad_file_fails_naming_it_then_skips(tmp_path):
    root = _folder(tmp_path, bad="broken.png")
    args = ("train", root, *CLI_TINY, "--resolution", "8", "--out", tmp_path / "run")
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert "broken.png" in result.stderr and "--skip-bad-files" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "run").exists()
    result = run(*args, "--skip-bad-files")
    assert result.returncode == 0, result.stderr
    assert "skipped 1 unreadable image file" in result.stdout
    info = json.loads((tmp_path / "run" / "config.json").read_text())
    assert info["data"]["shape"] == [3, 8, 8] and info["data"]["classes"] == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "message"), [("empty", "is empty"), ("text", "no image files")]
)
def test_cli_folder_without_images(tmp_path, content, message):
    root = tmp_path / "nothing"
    root.mkdir()
    if content == "text":
        (root / "notes.txt").write_text("no pictures here")
    result = run("train", root, "--steps", "2", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr and ".png" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_cli_single_picture_points_to_its_folder(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "one.png")
    result = run("train", tmp_path / "one.png", "--steps", "2", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "give the folder that holds the pictures" in result.stderr


def test_cli_train_classifier_on_class_folders(tmp_path):
    from ganforge.metrics.classifier import TrainedClassifier

    root = _folder(tmp_path)
    out = tmp_path / "c.safetensors"
    args = ("train-classifier", root, "--resolution", "8", "--epochs", "3", "-o", out)
    result = run(*args, "--holdout", "0.25")
    assert result.returncode == 0, result.stderr
    assert "held-out accuracy" in result.stdout and "on 2 classes" in result.stdout
    trained = TrainedClassifier.load(out)
    assert trained.classes == ["a", "b"] and trained.shape == (3, 8, 8)
    again = run(*args)
    assert again.returncode == 2 and "already exists" in again.stderr
    np.save(tmp_path / "x.npy", np.zeros((10, 8, 8, 1), np.uint8))
    result = run("train-classifier", tmp_path / "x.npy", "-o", tmp_path / "d.safetensors")
    assert result.returncode == 2 and "has no labels" in result.stderr


@pytest.mark.parametrize("r1_gamma", [1.0, 0.0])
def test_compiled_networks_train_like_eager_ones(r1_gamma):
    # under R1 the discriminator stays eager (its double backward cannot be compiled)
    opts = {**TINY, "steps": 3, "r1_gamma": r1_gamma, "r1_every": 1, "ema_decay": 0.0}
    eager = gf.GAN("digits", **opts).fit().trainer_
    compiled = gf.GAN("digits", **opts, compile=True).fit().trainer_
    assert compiled.generator._compiled_call_impl is not None
    assert (compiled.discriminator._compiled_call_impl is not None) == (r1_gamma == 0)
    for net in ("generator", "discriminator"):
        mine = dict(getattr(eager, net).named_parameters())
        for name, p in getattr(compiled, net).named_parameters():
            assert_close(p, mine[name], rtol=1e-4, atol=1e-5, msg=f"{net}.{name}")
