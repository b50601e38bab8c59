"""Stand-ins for the FID Inception weights file and fixed pictures, shared by
``test_inception.py`` and ``make_inception_reference.py``.

The real weights file (92 MB) cannot be fetched here, so the tests build weights from a
seed. Both builders take only the keys and shapes of a state dict and draw their numbers in
sorted key order, so any network with the file's keys gets the same weights.
"""

from collections.abc import Mapping

import numpy as np
import torch


def stand_in_state(shapes: Mapping[str, torch.Size]) -> dict[str, torch.Tensor]:
    """The network's keys and shapes with cheap values that keep activations finite:
    positive convolutions of gain ~1 per output channel, identity batch norms, and no
    batch-norm step counters (the loader must not need them).

    Every tensor is a broadcast view of a few numbers, so torch.save writes only those
    numbers (a few hundred KB instead of 92 MB).
    """
    g = torch.Generator().manual_seed(0)
    state = {}
    for key in sorted(shapes):
        shape = torch.Size(shapes[key])
        if key.endswith("num_batches_tracked"):
            continue
        if key.endswith(("running_mean", "bias")):
            state[key] = torch.zeros(()).expand(shape)
        elif key.endswith("running_var") or (key.endswith("weight") and len(shape) == 1):
            state[key] = torch.ones(()).expand(shape)
        elif len(shape) == 4:  # convolution (out, in, kh, kw): one random gain per output
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = (2 * torch.rand(shape[0], 1, 1, 1, generator=g) / fan_in).expand(shape)
        else:  # the classifier, unused for features
            state[key] = (0.01 * torch.randn(shape[-1], generator=g)).expand(shape)
    return state


def dense_state(shapes: Mapping[str, torch.Size]) -> dict[str, torch.Tensor]:
    """The network's keys and shapes with a random number in every element.

    Unlike :func:`stand_in_state`, whose convolutions weigh all inputs alike, these tell
    input channels, kernel taps and batch-norm statistics apart, so a branch concatenated in
    the wrong order, a transposed 1×7 kernel or a wrong epsilon changes the features.
    Convolutions are uniform in [-1, 3) / fan_in (gain ~1, some negative weights).
    """
    g = torch.Generator().manual_seed(1)

    def uniform(shape: torch.Size, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    state = {}
    for key in sorted(shapes):
        shape = torch.Size(shapes[key])
        if key.endswith("num_batches_tracked"):
            continue
        if key.endswith(("running_mean", "bias")):
            state[key] = uniform(shape, -0.1, 0.1)
        elif key.endswith("running_var") or (key.endswith("weight") and len(shape) == 1):
            state[key] = uniform(shape, 0.5, 1.5)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = uniform(shape, -1.0, 3.0) / fan_in
        else:  # the classifier, unused for features
            state[key] = uniform(shape, -0.01, 0.01)
    return state


def reference_pictures() -> dict[str, np.ndarray]:
    """Fixed uint8 pictures ``(N, H, W, C)`` from integer arithmetic only (no random number
    generator whose stream could change between numpy releases): ``small`` holds three RGB
    64×64 pictures, ``full`` one gray 299×299 picture (no resize needed)."""

    def picture(n: int, size: int, channels: int, salt: int) -> np.ndarray:
        u = np.uint64  # wrapping 64-bit arithmetic, the same on every numpy release
        i, y, x, c = np.indices((n, size, size, channels), dtype=u)
        h = (i + u(salt)) * u(0x9E3779B1) + y * u(0x85EBCA77) + x * u(0xC2B2AE3D)
        h = h + c * u(0x27D4EB2F)
        h = ((h ^ (h >> u(15))) * u(0x2C1B3C6D)) & u(0xFFFFFFFF)
        noise = (h >> u(13)) % u(96)  # 0..95
        ramp = (y * u(3) + x * (i + u(1)) + c * u(50)) % u(160)  # smooth, 0..159
        return (noise + ramp).astype(np.uint8)  # 0..254

    return {"small": picture(3, 64, 3, salt=0), "full": picture(1, 299, 1, salt=7)}
