"""Writes ``tests/data/inception_reference.npz``: pytorch-fid's FID features of fixed pictures.

ganforge's FID network is its own plain-PyTorch copy of pytorch-fid's; the reference file pins
it to what pytorch-fid (on torchvision's InceptionV3) computes, with the seeded stand-in
weights of ``inception_stand_in.py`` in place of the real file. Run it where pytorch-fid and
torchvision import (neither is a ganforge dependency)::

    pip install pytorch-fid torchvision
    python tests/make_inception_reference.py

Keys of the file: ``small`` and ``full`` (the pictures' features with the stand-in weights,
float32 ``(3, 2048)`` and ``(1, 2048)``), ``dense_small`` and ``dense_full`` (with the dense
weights, the first small picture and the full one).
"""

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from inception_stand_in import dense_state, reference_pictures, stand_in_state  # noqa: E402

OUT = HERE / "data" / "inception_reference.npz"


def _pytorch_fid():
    """pytorch-fid's ``inception`` module.

    PyPI's torchvision wheel is a CUDA build; beside a CPU-only torch its compiled ops cannot
    load and its import stops at two operators it registers without checking them. Declaring
    those two here (no kernel; InceptionV3 uses none) lets this script run on such a machine.
    """
    try:
        from pytorch_fid import inception
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
        ops = torch.library.Library("torchvision", "FRAGMENT")
        for op in ("nms", "qnms"):
            ops.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _pytorch_fid.ops = ops  # kept alive: dropping it undefines the ops
        from pytorch_fid import inception
    return inception


def features(state: dict[str, torch.Tensor], pictures: np.ndarray) -> np.ndarray:
    """pytorch-fid's pool3 features of uint8 pictures ``(N, H, W, C)`` with ``state``."""
    inception = _pytorch_fid()
    # pytorch-fid fetches the real file from its release page; hand it the stand-in instead.
    inception.load_state_dict_from_url = lambda *args, **kwargs: dict(state)
    block = inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]
    network = inception.InceptionV3([block], resize_input=True, normalize_input=True).eval()
    x = torch.from_numpy(pictures).permute(0, 3, 1, 2).float() / 255  # as its ToTensor does
    x = x.expand(-1, 3, -1, -1).contiguous()  # gray → RGB
    with torch.no_grad():
        (pool3,) = network(x)
    return pool3.flatten(1).numpy().astype(np.float32)


def main() -> None:
    inception = _pytorch_fid()
    # torchvision's InceptionV3 has the FID network's keys and shapes (pytorch-fid's blocks
    # subclass torchvision's and change only how they pool).
    plain = inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    shapes = {key: value.shape for key, value in plain.state_dict().items()}
    pictures = reference_pictures()
    sparse, dense = stand_in_state(shapes), dense_state(shapes)
    out = {
        "small": features(sparse, pictures["small"]),
        "full": features(sparse, pictures["full"]),
        "dense_small": features(dense, pictures["small"][:1]),
        "dense_full": features(dense, pictures["full"]),
    }
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **out)
    for key, value in out.items():
        print(f"{key}: {value.shape}, |x| up to {np.abs(value).max():.4g}")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
