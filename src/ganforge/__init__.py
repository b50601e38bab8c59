"""ganforge: train generative adversarial networks, correctly and fast.

``import ganforge`` changes one thing in the process: when torch is not loaded yet, it sets
``OMP_WAIT_POLICY=PASSIVE`` (unless the variable is already set), so that PyTorch's idle
OpenMP threads sleep rather than spin on a core another process needs: on a busy two-core
machine, a two-thread ``digits`` step took 226-696 ms with OpenMP's default waits and
37-127 ms with passive ones (README, "CPU threads"; :mod:`ganforge.threads`).
"""

import os
import sys

if "torch" not in sys.modules:  # OpenMP reads it once, when torch loads; the user's value wins
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ganforge import threads  # noqa: E402, I001  first of ours: it notes torch's own thread count
from ganforge import losses, metrics, penalties  # noqa: E402
from ganforge.allocator import keep_freed_memory  # noqa: E402
from ganforge.api import GAN, evaluate  # noqa: E402
from ganforge.config import TrainConfig  # noqa: E402
from ganforge.ema import EMA  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.nets import (  # noqa: E402
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
)
from ganforge.noise import Noise  # noqa: E402
from ganforge.resnet_nets import ResNetDiscriminator, ResNetGenerator  # noqa: E402
from ganforge.trainer import Trainer  # noqa: E402
from ganforge.version import __version__

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "EMA",
    "GAN",
    "GanforgeError",
    "MLPDiscriminator",
    "MLPGenerator",
    "Noise",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "TrainConfig",
    "Trainer",
    "__version__",
    "evaluate",
    "keep_freed_memory",
    "losses",
    "metrics",
    "penalties",
    "threads",
]
