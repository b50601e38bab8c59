"""The FID Inception feature extractor, on small stand-ins for the real weights file.

The stand-ins (``inception_stand_in.py``) have the real file's keys and shapes with seeded
values; ``data/inception_reference.npz`` holds pytorch-fid's features with them
(``make_inception_reference.py``), which ganforge's own network must reproduce.
"""

import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from inception_stand_in import dense_state, reference_pictures, stand_in_state

from ganforge.errors import GanforgeError
from ganforge.metrics.inception import (
    ENV_VAR,
    FEATURES,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    InceptionFeatures,
    find_weights,
    load_network,
)
from ganforge.metrics.inception_net import FIDInceptionV3

REFERENCE = Path(__file__).parent / "data" / "inception_reference.npz"
SHAPES = {key: value.shape for key, value in FIDInceptionV3().state_dict().items()}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """(folder holding the stand-in weights file, its state dict)."""
    folder = tmp_path_factory.mktemp("inception")
    state = stand_in_state(SHAPES)
    torch.save(state, folder / WEIGHTS_FILE)
    return folder, state


@pytest.fixture(scope="module")
def features(weights):
    return InceptionFeatures(weights[0], batch_size=2)


def pictures(n: int, channels: int = 3, size: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), np.uint8)


def test_importing_ganforge_needs_no_torchvision_and_no_pyplot():
    """The FID network is plain PyTorch, and plots are drawn without pyplot: importing
    ganforge and its FID network brings in neither torchvision nor a matplotlib backend."""
    code = (
        "import sys, ganforge, ganforge.cli, ganforge.metrics.inception; "
        "print(sorted({'torchvision', 'pytorch_fid', 'matplotlib.pyplot'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


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


@pytest.fixture(scope="module")
def dense_features(tmp_path_factory):
    """Features with the dense stand-in: every weight its own number."""
    path = tmp_path_factory.mktemp("dense") / "dense.pth"
    torch.save(dense_state(SHAPES), path)
    return InceptionFeatures(path, batch_size=2)


def test_features_match_pytorch_fid(features, dense_features):
    """pytorch-fid's features of fixed pictures, stored when ganforge still ran its network:
    ours agree to 1e-5 (they agreed bit for bit on the machine that stored them)."""
    reference = np.load(REFERENCE)
    pictures = reference_pictures()
    found = {
        "small": features(pictures["small"]),  # 64 × 64 RGB, resized to 299
        "full": features(pictures["full"]),  # 299 × 299 gray, repeated to RGB
        "dense_small": dense_features(pictures["small"][:1]),
        "dense_full": dense_features(pictures["full"]),
    }
    assert set(found) == set(reference.files)
    for key, ours in found.items():
        assert ours.std() > 0.01  # not a degenerate output that any network would give
        np.testing.assert_allclose(ours, reference[key], rtol=1e-5, atol=1e-5, err_msg=key)


def test_the_network_loads_strictly_with_or_without_step_counters(weights, tmp_path):
    """A state dict with every key loads into the network with strict=True; load_network
    also takes files without batch-norm step counters, even saved with the metadata of a
    recent state_dict() (which makes PyTorch's own strict load ask for them)."""
    _, state = weights
    full = FIDInceptionV3().state_dict()  # an OrderedDict with its version metadata
    full.update(state)
    FIDInceptionV3().load_state_dict(full, strict=True)
    counters = [key for key in full if key.endswith("num_batches_tracked")]
    assert len(counters) == 94 and len(full) == 472 + 94
    torch.save(full, tmp_path / "full.pth")
    for key in counters:
        del full[key]  # in place: the version metadata stays
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        FIDInceptionV3().load_state_dict(full, strict=True)
    torch.save(full, tmp_path / "without.pth")
    for name in ("full", "without"):
        loaded = load_network(tmp_path / f"{name}.pth").state_dict()
        for key, value in state.items():
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
