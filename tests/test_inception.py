"""The FID Inception feature extractor, on a small stand-in for the real weights file.

The stand-in has the real file's keys and shapes, but every tensor is a broadcast view of a
few numbers, so torch.save writes only those numbers (a few hundred KB instead of 92 MB).
"""

import pickle
import re

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.inception import (
    ENV_VAR,
    FEATURES,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    InceptionFeatures,
    fid_inception,
    find_weights,
    load_network,
)


def stand_in_state() -> dict[str, torch.Tensor]:
    """The FID network's keys and shapes with cheap values that keep activations finite:
    positive convolutions of gain ~1 per output channel, identity batch norms, and no
    batch-norm step counters (the loader must not need them)."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, like in fid_inception().state_dict().items():
        shape = like.shape
        if key.endswith("num_batches_tracked"):
            continue
        if key.endswith(("running_mean", "bias")):
            state[key] = torch.zeros(()).expand(shape)
        elif key.endswith("running_var") or (key.endswith("weight") and like.ndim == 1):
            state[key] = torch.ones(()).expand(shape)
        elif like.ndim == 4:  # convolution (out, in, kh, kw): one random gain per output
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = (2 * torch.rand(shape[0], 1, 1, 1, generator=g) / fan_in).expand(shape)
        else:  # the classifier, unused for features
            state[key] = (0.01 * torch.randn(shape[-1], generator=g)).expand(shape)
    return state


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """(folder holding the stand-in weights file, its state dict)."""
    folder = tmp_path_factory.mktemp("inception")
    state = stand_in_state()
    torch.save(state, folder / WEIGHTS_FILE)
    return folder, state


@pytest.fixture(scope="module")
def features(weights):
    return InceptionFeatures(weights[0], batch_size=2)


def pictures(n: int, channels: int = 3, size: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), np.uint8)


# Finding the file -----------------------------------------------------------------------


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    """No $GANFORGE_INCEPTION and an empty torch hub folder; returns the hub folder."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def test_missing_file_says_which_file_to_put_where(no_weights_anywhere):
    with pytest.raises(GanforgeError) as info:
        find_weights()
    message = str(info.value)
    assert "\n" not in message
    for part in (WEIGHTS_FILE, WEIGHTS_URL, str(no_weights_anywhere / "checkpoints"), ENV_VAR):
        assert part in message
    assert "--features inception:PATH" in message


def test_file_folder_env_and_hub_lookups(tmp_path, no_weights_anywhere, monkeypatch):
    folder = tmp_path / "w"
    folder.mkdir()
    file = folder / WEIGHTS_FILE
    file.touch()
    renamed = tmp_path / "inception.pth"
    renamed.touch()
    assert find_weights(file) == file
    assert find_weights(str(folder)) == file
    assert find_weights(renamed) == renamed  # a named file may have any name
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanforgeError, match=f"folder .*empty has no {WEIGHTS_FILE}"):
        find_weights(tmp_path / "empty")
    with pytest.raises(GanforgeError, match="does not exist"):
        find_weights(tmp_path / "nowhere.pth")

    monkeypatch.setenv(ENV_VAR, str(folder))
    assert find_weights() == file
    monkeypatch.setenv(ENV_VAR, str(renamed))
    assert find_weights() == renamed
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(GanforgeError, match=f"\\${ENV_VAR}: .* does not exist"):
        find_weights()

    monkeypatch.delenv(ENV_VAR)
    cached = no_weights_anywhere / "checkpoints" / WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.touch()
    assert find_weights() == cached


# Loading --------------------------------------------------------------------------------


def test_stand_in_file_is_small_and_loads_exactly(weights):
    folder, state = weights
    assert (folder / WEIGHTS_FILE).stat().st_size < 5_000_000
    assert len(state) == 472  # every weight and batch-norm statistic of the FID network
    for path in (folder / WEIGHTS_FILE, folder):
        network = load_network(path)
        assert not network.training
        assert not any(p.requires_grad for p in network.parameters())
        loaded = network.state_dict()
        for key, value in state.items():
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_wrong_keys_or_shapes_are_refused(weights, tmp_path):
    _, state = weights
    renamed = {("Mixed_9z" + k[8:] if k.startswith("Mixed_7c") else k): v for k, v in state.items()}
    path = tmp_path / "renamed.pth"
    torch.save(renamed, path)
    with pytest.raises(GanforgeError, match=r"renamed\.pth does not fit the FID") as info:
        load_network(path)
    message = str(info.value)
    assert (
        "missing keys (45): Mixed_7c.branch1x1.bn.bias, Mixed_7c.branch1x1.bn.running_mean, ...;"
        in message
    )
    assert "unexpected keys (45): Mixed_9z.branch1x1.bn.bias," in message
    assert "wrong shapes" not in message

    reshaped = {**state, "fc.weight": torch.zeros(()).expand(1000, FEATURES)}
    torch.save(reshaped, path)
    with pytest.raises(
        GanforgeError,
        match=r"\(wrong shapes \(1\): fc\.weight \(1000, 2048\) instead of \(1008, 2048\)\)",
    ):
        load_network(path)

    torch.save([state["fc.bias"]], path)
    with pytest.raises(GanforgeError, match="does not hold a dict of named tensors"):
        load_network(path)

    path.write_bytes(b"not a torch file")
    with pytest.raises(GanforgeError, match=f"cannot read {re.escape(str(path))}.*{WEIGHTS_FILE}"):
        load_network(path)


class Payload:
    """Unpickling this creates the file ``marker``: stands for code hidden in a weights file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_pickle_payload_is_refused_without_running_it(tmp_path, writer):
    marker, path = tmp_path / "pwned", tmp_path / WEIGHTS_FILE
    if writer == "torch.save":
        torch.save({"fc.bias": Payload(marker)}, path)
    else:
        with open(path, "wb") as f:
            pickle.dump({"fc.bias": Payload(marker)}, f, protocol=2)
    with pytest.raises(GanforgeError, match="weights-only"):
        InceptionFeatures(tmp_path)
    assert not marker.exists()
    # The payload is live: a full unpickler runs it.
    if writer == "torch.save":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.exists()


# Features -------------------------------------------------------------------------------
# Each picture costs a full InceptionV3 pass at 299 × 299, so these tests share a few.


@pytest.fixture(scope="module")
def gray():
    return pictures(1, channels=1, seed=1)


@pytest.fixture(scope="module")
def rgb(gray):
    """Three pictures, the last one ``gray`` repeated to RGB."""
    return np.concatenate([pictures(2), np.repeat(gray, 3, axis=3)])


@pytest.fixture(scope="module")
def reference(features, rgb):
    """Features of ``rgb`` in batches of 2 and 1."""
    return features(rgb)


def test_features_shape_determinism_and_batch_independence(features, rgb, reference, monkeypatch):
    assert reference.shape == (3, FEATURES) and reference.dtype == np.float32
    assert np.isfinite(reference).all()
    assert reference.std(axis=0).max() > 0  # the pictures are told apart
    np.testing.assert_array_equal(features(rgb[2:]), reference[2:])  # same batch, same bits
    monkeypatch.setattr(features, "batch_size", 3)
    np.testing.assert_allclose(features(rgb), reference, rtol=1e-5, atol=1e-7)


def test_gray_equals_the_picture_repeated_to_rgb(features, gray, reference):
    np.testing.assert_array_equal(features(gray), reference[2:])


def test_bad_pictures_are_refused(features):
    assert features(pictures(0)).shape == (0, FEATURES)
    with pytest.raises(GanforgeError, match="C = 1 or 3, got \\(2, 8, 8, 4\\)"):
        features(pictures(2, channels=4, size=8))
    with pytest.raises(GanforgeError, match="uint8"):
        features(pictures(2, size=8).astype(np.float32))
    with pytest.raises(GanforgeError, match="positive"):
        InceptionFeatures(batch_size=0)


def test_features_match_pytorch_fid_itself(weights, rgb, reference, monkeypatch):
    """pytorch-fid's own network and preprocessing, its download replaced by the stand-in."""
    from pytorch_fid import inception  # importable once the fixtures have loaded a network

    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: dict(weights[1]))
    theirs = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURES]]).eval()
    x = torch.from_numpy(rgb[2:]).permute(0, 3, 1, 2).float() / 255  # as its ToTensor does
    with torch.no_grad():
        (pool3,) = theirs(x.contiguous())
    np.testing.assert_allclose(reference[2:], pool3.flatten(1).numpy(), rtol=1e-5, atol=1e-7)
