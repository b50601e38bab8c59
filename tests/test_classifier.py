"""The small picture classifier behind the classifier-based metrics."""

import numpy as np
import pytest

from ganforge.checkpoint import save_checkpoint
from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import FEATURES, TrainedClassifier, train_classifier


def _halves(n=200, seed=0):
    """Class 0: the left half lit; class 1: the right half lit; with noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.integers(0, 60, size=(n, 8, 8, 1))
    for i, y in enumerate(labels):
        x[i, :, 4 * y : 4 * y + 4] += 180
    return x.astype(np.uint8), labels


@pytest.fixture(scope="module")
def trained():
    x, y = _halves()
    return train_classifier(x, y, ["left", "right"], epochs=3, holdout=0.25)


def test_learns_a_separable_task_and_reports_held_out_accuracy(trained):
    assert trained.accuracy == 1.0
    assert trained.classes == ["left", "right"] and trained.shape == (1, 8, 8)


def test_predict_gives_features_and_probabilities(trained):
    x, y = _halves(50, seed=1)
    feats, probs = trained.predict(x, batch_size=16)
    assert feats.shape == (50, FEATURES) and probs.shape == (50, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-12)
    assert (probs.argmax(1) == y).all()
    with pytest.raises(GanforgeError, match=r"shape \(1, 8, 8\)"):
        trained.predict(np.zeros((2, 16, 16, 1), np.uint8))


def test_save_load_round_trip(trained, tmp_path):
    trained.save(tmp_path / "c.safetensors")
    loaded = TrainedClassifier.load(tmp_path / "c.safetensors")
    x, _ = _halves(20, seed=2)
    for a, b in zip(trained.predict(x), loaded.predict(x), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.accuracy == trained.accuracy and loaded.classes == trained.classes


def test_load_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist.*train-classifier"):
        TrainedClassifier.load(tmp_path / "none.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(GanforgeError, match="not a ganforge classifier"):
        TrainedClassifier.load(tmp_path / "junk.safetensors")
    save_checkpoint(tmp_path / "run.safetensors", {"trainer": {"num_steps": 3}})
    with pytest.raises(GanforgeError, match="not a ganforge classifier"):
        TrainedClassifier.load(tmp_path / "run.safetensors")


def test_needs_one_label_per_picture():
    x, y = _halves(10)
    with pytest.raises(GanforgeError, match="one label per picture"):
        train_classifier(x, y[:5])
