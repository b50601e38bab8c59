"""InceptionV3 pool features (2,048-d) with the standard FID weights, read from a local file.

The network (:mod:`ganforge.metrics.inception_net`) is the TensorFlow FID Inception in plain
PyTorch, with the module names of the PyTorch weights file that pytorch-fid publishes; the
tests hold its features to pytorch-fid's within 1e-5 (``tests/data/inception_reference.npz``,
seeded stand-in weights). Its weights are never downloaded here: :func:`find_weights` looks
for the file the user names, then ``$GANFORGE_INCEPTION``, then torch hub's cache (where
pytorch-fid itself saves it), and otherwise says which file to fetch from where.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import GanforgeError
from ganforge.metrics.inception_net import FEATURES, FIDInceptionV3

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
)
ENV_VAR = "GANFORGE_INCEPTION"  # a weights file or a folder holding WEIGHTS_FILE
SIZE = 299  # pictures are resized to SIZE × SIZE, as pytorch-fid does


def _fix(where: str) -> str:
    """How to make the weights available, for the end of an error message."""
    return (
        f"download {WEIGHTS_FILE} from {WEIGHTS_URL} (on any machine with network) and put it "
        f"{where}, or name the file or its folder with --features inception:PATH "
        f"(InceptionFeatures(path=...)) or ${ENV_VAR}"
    )


def _hub_file() -> Path:
    """Where torch hub (and so pytorch-fid) caches the weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _resolve(path: Path, named_by: str) -> Path:
    """``path`` if it is a file, ``path / WEIGHTS_FILE`` if it is a folder holding it."""
    if path.is_file():
        return path
    if path.is_dir() and (path / WEIGHTS_FILE).is_file():
        return path / WEIGHTS_FILE
    found = f"folder {path} has no {WEIGHTS_FILE}" if path.is_dir() else f"{path} does not exist"
    raise GanforgeError(f"no Inception weights at {named_by}: {found}; {_fix('there')}")


def find_weights(path: str | Path | None = None) -> Path:
    """The FID Inception weights file to use; nothing is downloaded.

    Args:
        path: the weights file, or a folder holding ``WEIGHTS_FILE``. ``None`` looks at
            ``$GANFORGE_INCEPTION`` (a file or folder), then at
            ``torch.hub.get_dir()/checkpoints/WEIGHTS_FILE``.

    Returns:
        The path of an existing file.

    Raises:
        GanforgeError: no file was found; the message names the file, where to fetch it and
            how to point ganforge at it.
    """
    if path is not None:
        return _resolve(Path(path), "the path given")
    if os.environ.get(ENV_VAR):
        return _resolve(Path(os.environ[ENV_VAR]), f"${ENV_VAR}")
    hub = _hub_file()
    if hub.is_file():
        return hub
    raise GanforgeError(
        f"the Inception weights for FID/KID/PRDC ({WEIGHTS_FILE}) were not found and are never "
        f"downloaded at run time; {_fix(f'in {hub.parent}')}"
    )


def _check_state(state: object, expected: Mapping[str, Tensor], path: Path) -> None:
    """Raises a GanforgeError naming the first problems if ``state`` does not fit the network."""
    hint = f"it is not the FID Inception weights; fetch {WEIGHTS_FILE} from {WEIGHTS_URL}"
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise GanforgeError(f"{path} does not hold a dict of named tensors; {hint}")
    # Batch-norm step counters are not weights: the network keeps its own when absent.
    required = {k for k in expected if not k.endswith("num_batches_tracked")}
    reshaped = [
        f"{k} {tuple(v.shape)} instead of {tuple(expected[k].shape)}"
        for k, v in sorted(state.items())
        if k in expected and v.shape != expected[k].shape
    ]
    kinds = {
        "missing keys": sorted(required - state.keys()),
        "unexpected keys": sorted(state.keys() - expected.keys()),
        "wrong shapes": reshaped,
    }
    problems = [
        f"{kind} ({len(found)}): {', '.join(found[:2])}{', ...' if found[2:] else ''}"
        for kind, found in kinds.items()
        if found
    ]
    if problems:
        raise GanforgeError(
            f"{path} does not fit the FID Inception network ({'; '.join(problems)}); {hint}"
        )


def load_network(path: str | Path | None = None) -> FIDInceptionV3:
    """The FID InceptionV3 with the weights of :func:`find_weights`, in eval mode, frozen.

    The file is read with ``torch.load(weights_only=True)``: only tensors and plain containers
    are accepted, so a file carrying code is refused without running it.

    Raises:
        GanforgeError: no file was found, it is not a tensor state dict, or its keys or
            shapes differ from the network's.
    """
    path = find_weights(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types here; all mean "not a safe state dict"
        raise GanforgeError(
            f"cannot read {path} as a weights-only PyTorch state dict ({type(err).__name__}); "
            f"it is not the FID Inception weights; fetch {WEIGHTS_FILE} from {WEIGHTS_URL}"
        ) from err
    net = FIDInceptionV3()
    expected = net.state_dict()
    _check_state(state, expected, path)
    # Batch-norm step counters are not weights (files from before PyTorch 0.4.1 have none):
    # the network's own fill the gaps, so that every other key is loaded strictly.
    net.load_state_dict({**expected, **state}, strict=True)
    return net.eval().requires_grad_(False)


class InceptionFeatures:
    """InceptionV3 pool3 features of uint8 pictures, as pytorch-fid computes them.

    Args:
        path: the weights file or a folder holding ``WEIGHTS_FILE``; ``None`` searches
            ``$GANFORGE_INCEPTION`` and torch hub's cache (see :func:`find_weights`).
        device: where the network runs.
        batch_size: pictures resized and passed through the network at once.

    Attributes:
        path: the weights file in use.
        network: the loaded FID Inception network.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 50,
    ) -> None:
        if batch_size < 1:
            raise GanforgeError(f"batch_size must be a positive integer, got {batch_size}")
        self.path = find_weights(path)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.network = load_network(self.path).to(self.device)

    def _pool3(self, x: Tensor) -> Tensor:
        """Float pictures ``(B, 3, H, W)`` in [0, 1] → features ``(B, 2048)``."""
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1  # the FID network expects [-1, 1]
        return self.network(x)  # (B, 2048)

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 pictures ``(N, H, W, C)``, C = 1 or 3 → float32 features ``(N, 2048)``.

        Gray pictures are repeated to three channels. Pictures are resized in batches of
        ``batch_size``, so only one batch at 299 × 299 is in memory at a time.
        """
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[3] not in (1, 3):
            shape = getattr(images, "shape", type(images).__name__)
            raise GanforgeError(
                f"Inception features take pictures of shape (N, H, W, C) with C = 1 or 3, "
                f"got {shape}"
            )
        if images.dtype != np.uint8:
            raise GanforgeError(
                f"Inception features take uint8 pictures (0-255), got {images.dtype}; "
                "convert them with np.clip(x, 0, 255).astype(np.uint8)"
            )
        self.network.eval()
        out = np.empty((len(images), FEATURES), dtype=np.float32)
        for i in range(0, len(images), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[i : i + self.batch_size]))
            x = batch.to(self.device).permute(0, 3, 1, 2).float() / 255  # (B, C, H, W)
            # gray → RGB; contiguous so that gray and RGB pictures take the same kernels
            x = x.expand(-1, 3, -1, -1).contiguous()  # (B, 3, H, W)
            out[i : i + len(batch)] = self._pool3(x).float().cpu().numpy()
        return out
