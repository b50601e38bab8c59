"""InceptionV3 pool features (2,048-d) with the standard FID weights, read from a local file.

The network is the TensorFlow FID Inception as ported by pytorch-fid: torchvision's
InceptionV3 with pytorch-fid's patched blocks (pooling as TensorFlow does it). Its weights are
never downloaded here: :func:`find_weights` looks for the file the user names, then
``$GANFORGE_INCEPTION``, then torch hub's cache (where pytorch-fid itself saves it), and
otherwise says which file to fetch from where.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import GanforgeError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
)
ENV_VAR = "GANFORGE_INCEPTION"  # a weights file or a folder holding WEIGHTS_FILE
FEATURES = 2048  # size of the pool3 features
SIZE = 299  # pictures are resized to SIZE × SIZE, as pytorch-fid does

# The modules that lead from the picture to the pool3 features, in the order of
# torchvision's Inception3 forward (its auxiliary head, dropout and classifier are skipped).
_POOL3_PATH = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
    "avgpool",
)


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


_stand_in_ops: torch.library.Library | None = None  # kept alive: dropping it undefines the ops


def _fid_blocks() -> ModuleType:
    """pytorch-fid's ``inception`` module, imported on first use (torchvision takes seconds).

    torchvision's wheel from PyPI is built for CUDA; next to a CPU-only torch its compiled ops
    cannot load, and ``import torchvision`` then fails on two operators it registers without
    checking that they exist (torchvision issue 9085). Declaring those two (no kernel) lets the
    import finish; the models used here need none of torchvision's compiled ops, and its
    detection ops still report that they are unavailable.
    """
    global _stand_in_ops
    try:
        from pytorch_fid import inception
    except RuntimeError as err:
        if "torchvision::nms" not in str(err) or _stand_in_ops is not None:
            raise
        _stand_in_ops = torch.library.Library("torchvision", "FRAGMENT")
        for op in ("nms", "qnms"):
            _stand_in_ops.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        from pytorch_fid import inception
    return inception


def fid_inception() -> nn.Module:
    """The FID InceptionV3 architecture, weights unset: torchvision's InceptionV3 (1,008
    classes, no auxiliary head) with pytorch-fid's blocks that pool as TensorFlow did.

    Its ``state_dict()`` keys and shapes are those of ``WEIGHTS_FILE``.
    """
    fid = _fid_blocks()
    from torchvision.models import inception as tv  # importable once pytorch-fid is

    # inception_blocks: convolution, A, B, C, D, E (Mixed_7b), auxiliary head (unused)
    blocks = [tv.BasicConv2d, fid.FIDInceptionA, tv.InceptionB, fid.FIDInceptionC]
    blocks += [tv.InceptionD, fid.FIDInceptionE_1, tv.InceptionAux]
    net = tv.Inception3(
        num_classes=1008, aux_logits=False, inception_blocks=blocks, init_weights=False
    )
    net.Mixed_7c = fid.FIDInceptionE_2(2048)  # the last block max-pools, unlike Mixed_7b
    return net


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


def load_network(path: str | Path | None = None) -> nn.Module:
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
    net = fid_inception()
    _check_state(state, net.state_dict(), path)
    net.load_state_dict(state, strict=False)  # strictness checked above, counters aside
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
        for name in _POOL3_PATH:
            x = getattr(self.network, name)(x)
        return x.flatten(1)  # (B, 2048, 1, 1) → (B, 2048)

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
