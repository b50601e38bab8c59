"""ganforge: train generative adversarial networks, correctly and fast."""

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
