"""Stacked MNIST: the built-in data set and the modes / KL protocol."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

import ganforge as gf
from ganforge.data import data_kind, load_data
from ganforge.data.images import ImageSet, load_images
from ganforge.data.stacked import STACKED_SIZE, stack_digits, triple_label
from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import TrainedClassifier, train_classifier
from ganforge.metrics.stacked import channel_digits, stacked_modes, triple_stats
from ganforge.modalities.pictures import Pictures

LEVELS = np.arange(10) * 25 + 10  # gray level of each digit in the synthetic pictures


class _LevelReader(nn.Module):
    """A stand-in digit classifier: the digit whose gray level is nearest the mean pixel."""

    def forward(self, x):
        level = (x.mean(dim=(1, 2, 3)) + 1) * 127.5  # back to 0..255
        logits = -((level[:, None] - torch.as_tensor(LEVELS, dtype=x.dtype)) ** 2)
        return x.flatten(1), logits


def _level_reader(h=4, w=4):
    return TrainedClassifier(_LevelReader(), [str(d) for d in range(10)], 1.0, (1, h, w))


def _level_digits(per_digit=3, h=4, w=4):
    """One-channel pictures of constant gray: digit d is LEVELS[d] (plus the copy index)."""
    labels = np.repeat(np.arange(10), per_digit)
    images = np.empty((len(labels), h, w, 1), np.uint8)
    images[...] = (LEVELS[labels] + np.tile(np.arange(per_digit), 10))[:, None, None, None]
    return ImageSet(images=images, labels=labels, classes=[str(d) for d in range(10)])


# --- the counting: closed forms ---------------------------------------------------------------


def test_triple_label_reads_red_green_blue_as_hundreds_tens_ones():
    assert triple_label(np.array([[1, 2, 3], [0, 0, 7], [9, 9, 9]])).tolist() == [123, 7, 999]


def test_hand_made_triples_give_their_count_and_closed_form_kl():
    digits = np.array([[1, 2, 3]] * 3 + [[0, 0, 0]] + [[3, 2, 1]] * 4)  # shares 3/8, 1/8, 4/8
    expected = sum(p * math.log(p * 1000) for p in (3 / 8, 1 / 8, 4 / 8))
    result = triple_stats(digits)
    assert result["modes"] == 3
    assert result["kl"] == pytest.approx(expected, rel=1e-12)


def test_exactly_uniform_triples_cover_1000_modes_with_kl_zero():
    every = np.array(list(itertools.product(range(10), repeat=3)))
    for copies in (1, 26):
        result = triple_stats(np.tile(every, (copies, 1)))
        assert result["modes"] == 1000
        assert result["kl"] == pytest.approx(0.0, abs=1e-12)


def test_one_triple_only_is_the_largest_kl_log_1000():
    result = triple_stats(np.full((50, 3), 4))
    assert result == {"modes": 1, "kl": pytest.approx(math.log(1000), rel=1e-12)}


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.zeros((0, 3)), np.full((2, 3), 10)])
def test_bad_triples_are_refused(bad):
    with pytest.raises(GanforgeError):
        triple_stats(bad)


# --- building the set ---------------------------------------------------------------------------


def test_stacking_balances_the_triples_and_draws_channels_of_the_right_digit():
    digits = _level_digits(per_digit=3)
    stacked = stack_digits(digits, n=3000, seed=5)
    assert stacked.images.shape == (3000, 4, 4, 3) and stacked.images.dtype == np.uint8
    assert np.bincount(stacked.labels, minlength=1000).tolist() == [3] * 1000
    assert stacked.classes[:2] == ["000", "001"] and stacked.classes[-1] == "999"
    level = stacked.images[:, 0, 0, :].astype(int)  # (n, 3): LEVELS[digit] + copy index
    seen = (level - 10) // 25
    assert triple_label(seen).tolist() == stacked.labels.tolist()
    copies = (level - 10) % 25
    assert set(np.unique(copies)) == {0, 1, 2}  # every copy of a digit gets drawn
    again = stack_digits(digits, n=3000, seed=5)
    assert np.array_equal(again.images, stacked.images)
    other = stack_digits(digits, n=3000, seed=6)
    assert not np.array_equal(other.labels, stacked.labels)


def test_stacking_needs_labelled_gray_pictures_of_all_ten_digits():
    digits = _level_digits()
    with pytest.raises(GanforgeError, match="one-channel"):
        stack_digits(ImageSet(images=np.repeat(digits.images, 3, axis=3), labels=digits.labels))
    with pytest.raises(GanforgeError, match="0..9"):
        stack_digits(ImageSet(images=digits.images[3:], labels=digits.labels[3:]))


# --- classifying the channels -----------------------------------------------------------------


def test_each_channel_is_classified_on_its_own_in_rgb_order():
    stacked = stack_digits(_level_digits(), n=2000, seed=1)
    digits = channel_digits(stacked.images, _level_reader())
    assert triple_label(digits).tolist() == stacked.labels.tolist()
    assert stacked_modes(stacked.images, _level_reader()) == triple_stats(digits)


def test_the_protocol_refuses_wrong_pictures_and_classifiers():
    stacked = stack_digits(_level_digits(), n=10, seed=1)
    with pytest.raises(GanforgeError, match=r"\(N, H, W, 3\)"):
        stacked_modes(stacked.images[..., :1], _level_reader())
    with pytest.raises(GanforgeError, match=r"\(N, H, W, 3\)"):
        stacked_modes(stacked.images.astype(np.float32), _level_reader())
    with pytest.raises(GanforgeError, match="10-class digit classifier"):
        stacked_modes(stacked.images, _level_reader(h=8, w=8))
    three = TrainedClassifier(_LevelReader(), ["a", "b", "c"], 1.0, (1, 4, 4))
    with pytest.raises(GanforgeError, match="10-class digit classifier"):
        stacked_modes(stacked.images, three)


# --- the built-in -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin():
    return load_images("stacked-mnist")


def test_the_builtin_is_balanced_fixed_and_made_of_mnist_digits(builtin):
    assert builtin.images.shape == (STACKED_SIZE, 28, 28, 3) and builtin.images.dtype == np.uint8
    assert builtin.name == "stacked-mnist" and len(builtin.classes) == 1000
    assert np.bincount(builtin.labels, minlength=1000).tolist() == [50] * 1000
    # the same set everywhere: a change of the recipe or its seed shows here
    assert builtin.labels[:5].tolist() == [875, 32, 196, 588, 291]
    mnist = load_images("mnist")
    digit_of = {mnist.images[i].tobytes(): int(mnist.labels[i]) for i in range(len(mnist.images))}
    for i in range(0, STACKED_SIZE, 997):
        triple = [
            digit_of[np.ascontiguousarray(builtin.images[i, :, :, c]).tobytes()] for c in range(3)
        ]
        assert triple_label(np.array([triple]))[0] == builtin.labels[i]


def test_the_builtin_works_where_the_other_builtins_do():
    assert data_kind("stacked-mnist") == "pictures"
    assert "stacked-mnist" in gf.data.BUILTIN
    source = load_data("stacked-mnist")
    assert source.shape == (3, 28, 28) and len(source) == STACKED_SIZE
    assert source.batch(8).shape == (8, 3, 28, 28)
    cfg = Pictures().make_config("stacked-mnist", {})
    assert cfg.data == "stacked-mnist" and cfg.pack >= 1
    assert gf.GAN("stacked-mnist").get_config() == cfg
    gan = gf.GAN("stacked-mnist", steps=2, batch_size=8, threads=1).fit()
    assert gan.sample(4).shape == (4, 28, 28, 3)


def test_real_pictures_read_through_a_trained_classifier_match_their_labels(builtin):
    mnist = load_images("mnist")
    classifier = train_classifier(mnist.images, mnist.labels, mnist.classes, epochs=3)
    n = 6000  # enough to hold nearly every triple, few enough to classify quickly
    labels = builtin.labels[:n]
    truth = triple_stats(np.stack([labels // 100, labels // 10 % 10, labels % 10], axis=1))
    assert truth["modes"] >= 995
    result = stacked_modes(builtin.images[:n], classifier)
    # a digit classifier of ~95 % held-out accuracy misreads some channels; the misread
    # pictures land on other triples about evenly, so the counts barely move
    assert result["modes"] == pytest.approx(truth["modes"], abs=5)
    assert result["kl"] == pytest.approx(truth["kl"], abs=0.03)


def test_ganforge_eval_runs_the_protocol_with_a_saved_digit_classifier(tmp_path):
    from ganforge.api import evaluate

    mnist = load_images("mnist")
    path = tmp_path / "digits.safetensors"
    train_classifier(mnist.images[:1000], mnist.labels[:1000], mnist.classes, epochs=1).save(path)
    gan = gf.GAN("stacked-mnist", steps=2, batch_size=8, g_width=8, d_width=8, threads=1).fit()
    got = evaluate(gan, metrics=["stacked"], features=f"classifier:{path}", n=300)
    expected = stacked_modes(gan.sample(300, seed=0), TrainedClassifier.load(path))
    assert (got["stacked_modes"], got["stacked_kl"]) == (expected["modes"], expected["kl"])
    with pytest.raises(GanforgeError, match="stacked need --features classifier"):
        evaluate(gan, metrics=["stacked"], n=300)
