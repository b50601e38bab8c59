"""Networks for vectors: MLP generator and discriminator."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ganforge.errors import GanforgeError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name; an unknown name lists the valid ones."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise GanforgeError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        ) from None


def mlp(
    in_dim: int,
    out_dim: int,
    width: int,
    depth: int,
    act: str,
    spectral_norm: bool = False,
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with activation ``act``, then a linear out."""
    if min(in_dim, out_dim, width, depth) < 1:
        raise GanforgeError(
            f"network sizes must be positive: in {in_dim}, out {out_dim}, "
            f"width {width}, depth {depth}"
        )
    wrap = _spectral_norm if spectral_norm else (lambda m: m)
    dims = [in_dim] + [width] * depth
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [wrap(nn.Linear(a, b)), activation(act)]
    layers.append(wrap(nn.Linear(dims[-1], out_dim)))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Maps noise ``(N, latent_dim)`` to data ``(N, out_dim)``."""

    def __init__(
        self, latent_dim: int, out_dim: int, width: int = 256, depth: int = 3, act: str = "relu"
    ) -> None:
        super().__init__()
        self.net = mlp(latent_dim, out_dim, width, depth, act)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, latent_dim)`` → ``(N, out_dim)``."""
        return self.net(z.flatten(1))


class MLPDiscriminator(nn.Module):
    """Maps data ``(N, in_dim)`` to one realness logit per sample ``(N,)``.

    ``pack`` > 1 makes it a PacGAN discriminator: it judges ``pack`` samples at once,
    concatenated, and returns one logit per pack, ``(N / pack,)``.
    """

    def __init__(
        self,
        in_dim: int,
        width: int = 256,
        depth: int = 3,
        act: str = "leaky_relu",
        spectral_norm: bool = False,
        pack: int = 1,
    ) -> None:
        super().__init__()
        self.pack = pack
        self.net = mlp(in_dim * pack, 1, width, depth, act, spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_dim)`` → ``(N / pack,)`` logits."""
        x = x.flatten(1)
        if x.shape[0] % self.pack:
            raise GanforgeError(
                f"batch of {x.shape[0]} cannot be packed in groups of {self.pack}: "
                "choose a batch size divisible by pack"
            )
        x = x.reshape(x.shape[0] // self.pack, -1)  # (N/pack, pack*in_dim)
        return self.net(x).squeeze(-1)


__all__ = ["MLPDiscriminator", "MLPGenerator", "activation", "mlp"]
