"""`evaluate` and `ganforge eval`: generated samples against the training data."""

import json

import numpy as np
import pytest
from helpers import run

import ganforge as gf
from ganforge.api import evaluate
from ganforge.data import load_data
from ganforge.errors import GanforgeError
from ganforge.metrics import frechet_distance, kid, mode_stats, prdc

RING = {"steps": 40, "g_width": 16, "d_width": 16, "batch_size": 64, "eval_every": 0}


@pytest.fixture(scope="module")
def ring_gan():
    return gf.GAN("ring", **RING).fit()


def test_metrics_equal_an_independent_computation(ring_gan):
    got = evaluate(ring_gan, n=400, seed=3)
    real = load_data("ring").reference(400, seed=3)
    fake = ring_gan.sample(400, seed=3)
    assert got["n"] == 400 and got["features"] == "raw"
    assert got["fd"] == pytest.approx(frechet_distance(real, fake), rel=1e-12)
    assert (got["kid"], got["kid_std"]) == pytest.approx(kid(real, fake, subset_size=400, seed=3))
    expected = {**prdc(real, fake, k=5), **mode_stats(fake, load_data("ring").mixture)}
    np.testing.assert_equal({k: got[k] for k in expected}, expected)  # NaN rKL equals NaN


def test_metric_choice_and_errors(ring_gan):
    assert set(evaluate(ring_gan, metrics=["fd"], n=100)) == {"n", "features", "fd"}
    with pytest.raises(GanforgeError, match="unknown metric"):
        evaluate(ring_gan, metrics=["fid"], n=100)
    with pytest.raises(GanforgeError, match="need --features classifier"):
        evaluate(ring_gan, metrics=["cs"], n=100)
    with pytest.raises(GanforgeError, match="unknown features"):
        evaluate(ring_gan, features="vgg", n=100)
    arrays = gf.GAN(**RING).fit(np.random.default_rng(0).normal(size=(200, 2)))
    with pytest.raises(GanforgeError, match="pass the real data with --data"):
        evaluate(arrays)


def test_cli_eval_pictures_with_a_trained_classifier(tmp_path):
    out, clf = tmp_path / "run", tmp_path / "c.safetensors"
    tiny = ["--steps", "20", "--g-width", "8", "--d-width", "8", "--batch-size", "32"]
    assert run("train", "digits", *tiny, "--quiet", "--out", out).returncode == 0
    result = run("train-classifier", "digits", "--epochs", "1", "-o", clf)
    assert result.returncode == 0, result.stderr
    args = ("eval", out, "-n", "300", "--features", f"classifier:{clf}")
    result = run(*args, "--json", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr
    got = json.loads((tmp_path / "e.json").read_text())
    assert set(got) >= {"fd", "kid", "precision", "coverage", "classes", "class_kl", "cs"}
    assert 1 <= got["classes"] <= 10 and 1.0 <= got["cs"] <= 10.0
    assert "classes" in result.stdout
    again = run(*args, "--json", tmp_path / "e.json")
    assert again.returncode == 2 and "already exists" in again.stderr
    result = run("eval", out, "--metrics", "modes")
    assert result.returncode == 2 and "modes needs a built-in mixture" in result.stderr


def test_cli_eval_on_a_folder_that_is_not_a_run(tmp_path):
    result = run("eval", tmp_path)
    assert result.returncode == 2 and "is not a ganforge run" in result.stderr
    assert result.stderr.count("\n") == 1
