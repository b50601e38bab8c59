"""The table GAN's parts: a residual-MLP generator with one output activation per span, its
random input (latent ⊕ condition ⊕ Gumbel uniforms), and the real rows it is judged against.

The discriminator judges packs of rows (PacGAN): the trainer sees one *pack* as one sample,
so its gradient penalty mixes and measures whole packs, as PacGAN with WGAN-GP requires.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.noise import Noise
from ganforge.tables.sampler import ConditionSampler, RowIndex
from ganforge.tables.transformer import Span

EPS = 1e-10  # keeps the Gumbel transform -log(-log u) finite


class ResidualMLP(nn.Module):
    """``in → width``, then ``depth`` residual blocks ``h + Linear(ReLU(BN(h)))``, then
    ``ReLU(BN(h)) → out``."""

    def __init__(self, in_dim: int, out_dim: int, width: int = 256, depth: int = 2) -> None:
        super().__init__()
        self.stem = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, width))
            for _ in range(depth)
        )
        self.head = nn.Sequential(nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_dim)`` → ``(N, out_dim)``."""
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


class TableGenerator(nn.Module):
    """Maps ``z ⊕ cond ⊕ u`` ``(N, latent + cond + gumbel)`` to ``row ⊕ cond`` ``(N, d + cond)``.

    Scalars go through tanh; each one-hot group through Gumbel-softmax with temperature
    ``tau`` in training mode (``hard``: straight-through, exact one-hots forward) and through
    the Gumbel-max trick in eval mode, which gives exact one-hots drawn from the same
    distribution. The Gumbel noise comes from the uniforms ``u`` in the input, so the network
    is a pure function of its input. The conditioned column is written as the condition asks:
    the generator learns the other columns given it.

    Args:
        spans: the transformer's output spans.
        latent_dim: size of ``z``.
        cond_spans: the categorical spans the conditional vector covers, in its order.
        width, depth: of the residual MLP.
        tau: Gumbel-softmax temperature.
        hard: straight-through one-hots in training.
    """

    def __init__(
        self,
        spans: list[Span],
        latent_dim: int,
        cond_spans: list[Span],
        width: int = 256,
        depth: int = 2,
        tau: float = 0.2,
        hard: bool = False,
    ) -> None:
        super().__init__()
        self.latent_dim, self.tau, self.hard = latent_dim, tau, hard
        self.data_dim = sum(s.size for s in spans)
        self.cond_dim = sum(s.size for s in cond_spans)
        groups = [s for s in spans if s.activation == "softmax"]
        self.gumbel_dim = sum(s.size for s in groups)
        self.in_dim = latent_dim + self.cond_dim + self.gumbel_dim
        self.net = ResidualMLP(latent_dim + self.cond_dim, self.data_dim, width, depth)
        k = max((s.size for s in groups), default=1)
        # The groups' entries laid out as (K, G), entry i of group g at [i, g], padding masked:
        # a softmax over the short first axis runs far faster than over a short last one.
        index = torch.zeros(k, len(groups), dtype=torch.long)
        mask = torch.zeros(k, len(groups), dtype=torch.bool)
        for g, s in enumerate(groups):
            index[: s.size, g] = torch.arange(s.start, s.end)
            mask[: s.size, g] = True
        scalars = torch.as_tensor([s.start for s in spans if s.activation == "tanh"]).long()
        # where each activated value goes: tanh scalars first, then the groups' entries
        placed = torch.cat([scalars, index[mask]])
        self.register_buffer("_scalars", scalars, persistent=False)
        self.register_buffer("_index", index, persistent=False)
        self.register_buffer("_mask", mask, persistent=False)
        self.register_buffer("_flat", mask.flatten().nonzero().squeeze(1), persistent=False)
        self.register_buffer("_order", torch.argsort(placed), persistent=False)
        # u is laid out like the groups' entries; its padding reads entry 0 (masked anyway)
        u_index = torch.zeros_like(index)
        u_index[mask] = torch.arange(int(mask.sum()))
        self.register_buffer("_u_index", u_index, persistent=False)
        cond_pos = [torch.arange(s.start, s.end) for s in cond_spans]
        block = [torch.full((s.size,), j) for j, s in enumerate(cond_spans)]
        self.register_buffer(
            "_cond_pos", torch.cat(cond_pos) if cond_pos else torch.zeros(0).long(), False
        )
        self.register_buffer(
            "_cond_block", torch.cat(block) if block else torch.zeros(0).long(), False
        )

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """``(N, in_dim)`` → ``(N, data_dim + cond_dim)``; ``bias`` ``(d,)`` is added to the
        outputs before their activations (the calibration's logit shifts)."""
        z, cond, u = x.split([self.latent_dim, self.cond_dim, self.gumbel_dim], dim=1)
        raw = self.logits(x)
        if bias is not None:
            raw = raw + bias
        out = self.activate(raw, u)
        if self.cond_dim:
            out = self._write_condition(out, cond)
        return torch.cat([out, cond], dim=1)

    def logits(self, x: Tensor) -> Tensor:
        """The network's ``(N, d)`` outputs before their activations."""
        return self.net(x[:, : self.latent_dim + self.cond_dim])

    def activate(self, raw: Tensor, u: Tensor) -> Tensor:
        """tanh on the scalars, Gumbel-softmax (or Gumbel-max) on the groups."""
        parts = [torch.tanh(raw[:, self._scalars])]
        if self.gumbel_dim:
            logits = raw[:, self._index].masked_fill(~self._mask, float("-inf"))  # (N, K, G)
            gumbel = -torch.log(-torch.log(u.clamp(EPS, 1 - EPS)[:, self._u_index]))
            perturbed = logits + gumbel
            if self.training:
                y = F.softmax(perturbed / self.tau, dim=1)
                if self.hard:  # exact one-hots forward, the soft gradient backward
                    hard = _one_hot(y.argmax(1), y.shape[1])
                    y = hard + y - y.detach()
            else:
                y = _one_hot(perturbed.argmax(1), perturbed.shape[1])
            parts.append(y.flatten(1)[:, self._flat])  # (N, total group entries)
        return torch.cat(parts, dim=1)[:, self._order]

    def _write_condition(self, out: Tensor, cond: Tensor) -> Tensor:
        """Replaces the conditioned column's one-hot by the condition's, row by row."""
        n_blocks = int(self._cond_block.max()) + 1
        on = torch.zeros(len(cond), n_blocks, device=cond.device, dtype=cond.dtype)
        on = on.index_add(1, self._cond_block, cond) > 0.5  # (N, columns): conditioned?
        chosen = on[:, self._cond_block]  # (N, cond_dim)
        out = out.clone()
        out[:, self._cond_pos] = torch.where(chosen, cond, out[:, self._cond_pos])
        return out


def _one_hot(index: Tensor, k: int) -> Tensor:
    """``(N, G)`` indices → ``(N, K, G)`` float one-hots along axis 1."""
    return F.one_hot(index, k).transpose(1, 2).float()


class Packed(nn.Module):
    """Runs a row generator on packs: ``(P, pack, in)`` → ``(P, pack · out)``."""

    def __init__(self, generator: nn.Module, pack: int) -> None:
        super().__init__()
        self.generator, self.pack = generator, pack

    def forward(self, x: Tensor) -> Tensor:
        """One pack of rows per sample, concatenated."""
        p = x.shape[0]
        return self.generator(x.reshape(p * self.pack, -1)).reshape(p, -1)


def generator_input(
    n: int,
    latent_dim: int,
    gumbel_dim: int,
    cond: Tensor,
    generator: torch.Generator,
) -> Tensor:
    """``z ⊕ cond ⊕ u`` for ``n`` rows: standard-normal ``z``, uniform ``u`` for the Gumbel
    draws, all from ``generator``."""
    device = generator.device
    z = torch.randn(n, latent_dim, generator=generator, device=device)
    u = torch.rand(n, gumbel_dim, generator=generator, device=device)
    return torch.cat([z, cond.to(device), u], dim=1)


class TableNoise(Noise):
    """The generator's random input in training: ``(P, pack, latent + cond + gumbel)``, each
    row conditioned by training-by-sampling."""

    def __init__(
        self,
        sampler: ConditionSampler,
        latent_dim: int,
        gumbel_dim: int,
        pack: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        in_dim = latent_dim + sampler.cond_dim + gumbel_dim
        super().__init__((pack, in_dim), seed=seed, device=device)
        self.sampler, self.latent_dim, self.gumbel_dim, self.pack = (
            sampler,
            latent_dim,
            gumbel_dim,
            pack,
        )

    def __call__(self, n: int) -> Tensor:
        """``n`` packs of generator input."""
        m = n * self.pack
        column, category = self.sampler.draw(m, self.generator, "train")
        cond = self.sampler.one_hot(column, category)
        x = generator_input(m, self.latent_dim, self.gumbel_dim, cond, self.generator)
        return x.reshape(n, self.pack, -1)

    def __repr__(self) -> str:
        return f"TableNoise(pack={self.pack}, shape={self.shape})"


class TableSource:
    """Packs of real rows ``(P, pack · (d + cond))``: conditions drawn by training-by-sampling,
    each paired with a random real row that holds its category.

    The scalars are clamped to ``[-1, 1]``, the generator's tanh range (an offset beyond it
    is a value more than four standard deviations from its mode: rare).
    """

    def __init__(
        self,
        data: np.ndarray,
        spans: list[Span],
        sampler: ConditionSampler,
        pack: int,
        seed: int = 0,
    ) -> None:
        rows = torch.as_tensor(data, dtype=torch.float32).clone()
        scalars = [s.start for s in spans if s.activation == "tanh"]
        rows[:, scalars] = rows[:, scalars].clamp(-1, 1)
        self.rows, self.sampler, self.pack = rows, sampler, pack
        self.index = RowIndex(sampler, data)
        self.generator = torch.Generator().manual_seed(seed)
        self.shape = (pack * (data.shape[1] + sampler.cond_dim),)

    def batch(self, n: int) -> Tensor:
        """``n`` packs of real rows with their conditions."""
        m = n * self.pack
        column, category = self.sampler.draw(m, self.generator, "train")
        cond = self.sampler.one_hot(column, category)
        picked = self.rows[self.index.rows(column, category, self.generator)]
        return torch.cat([picked, cond], dim=1).reshape(n, -1)

    def state_dict(self) -> dict[str, Any]:
        """The stream's random state, so that a resumed run sees the same batches."""
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.generator.set_state(state["rng"].cpu())
