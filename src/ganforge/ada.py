"""Adaptive discriminator augmentation (ADA, Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data").

Each operation is applied to each image with probability ``p``, and ``p`` follows the
discriminator's overfitting: the share of real images it calls real, through the heuristic
``r_t = E[sign(D(x_real))]``. Every ``interval`` discriminator updates, ``p`` moves by
``sign(r_t - target) * images / ramp_images``, where ``images`` are the real images judged
since the last adjustment, so that ``p`` could go from 0 to 1 in ``ramp_images`` images
(the paper: target 0.6, every 4 minibatches, 500k images). A skipped operation leaves an
image as it was, which keeps the augmentation from leaking into the generated images while
``p < 1``. ``p`` and the sign sum stay on the device: nothing is read back per step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.augment import _color, _cutout, _translation
from ganforge.errors import GanforgeError

# the float32 just below 1: every operation keeps a chance of being skipped
P_MAX = float(torch.nextafter(torch.tensor(1.0), torch.tensor(0.0)))


def _xflip(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Mirrors each image left-right."""
    return x.flip(3)


def _rotate90(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Rotates each square image by 90, 180 or 270 degrees, one draw per sample."""
    turns = torch.randint(1, 4, (x.shape[0], 1, 1, 1), generator=generator, device=x.device)
    out = x.rot90(1, (2, 3))
    for k in (2, 3):
        out = torch.where(turns == k, x.rot90(k, (2, 3)), out)
    return out


# in the paper's pipeline order: pixel blitting, then colour, then cutout
OPERATIONS = {
    "xflip": _xflip,
    "rotate90": _rotate90,
    "translation": _translation,
    "color": _color,
    "cutout": _cutout,
}


class AdaptiveAugment:
    """DiffAugment's operations, plus flips and quarter turns, each applied to a random
    subset of the images with an adaptive probability ``p``.

    Called as ``augment(x, generator)`` on ``(N, C, H, W)`` float images, like
    :class:`~ganforge.augment.DiffAugment`: for each operation, one Bernoulli(``p``) draw per
    image picks the images it transforms (quarter turns only on square images). The trainer
    calls :meth:`observe` with the real batch's logits after each discriminator update.

    Args:
        target: the value of ``r_t = E[sign(D(real))]`` that ``p`` steers towards.
        interval: discriminator updates between two adjustments of ``p``.
        ramp_images: images over which ``p`` could go from 0 to 1 (the adjustment speed).
        p: the starting probability.
        device: where ``p`` lives (it follows the images on the first call otherwise).
    """

    def __init__(
        self,
        target: float = 0.6,
        interval: int = 4,
        ramp_images: int = 500_000,
        p: float = 0.0,
        device: torch.device | str | None = None,
    ) -> None:
        if interval < 1 or ramp_images < 1 or not 0 <= p <= P_MAX:
            raise GanforgeError(
                f"ADA needs interval >= 1, ramp_images >= 1 and 0 <= p < 1; got interval="
                f"{interval}, ramp_images={ramp_images}, p={p}"
            )
        self.target = target
        self.interval = interval
        self.ramp_images = ramp_images
        self.p = torch.tensor(float(p), device=device)
        self._sign_sum = torch.zeros((), device=device)  # Σ sign(D(real)) since the last step
        self._num_logits = 0  # host counts: known without reading the device
        self._num_images = 0
        self._num_updates = 0

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augments ``(N, C, H, W)`` images; all random draws come from ``generator``."""
        if x.dim() != 4 or not x.is_floating_point():
            raise GanforgeError(
                f"ADA expects float images (N, C, H, W), got {x.dtype} of shape "
                f"{tuple(x.shape)}: use it with image data only"
            )
        if self.p.device != x.device:
            self._to(x.device)
        channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        n = x.shape[0]
        for name, operation in OPERATIONS.items():
            if name == "rotate90" and x.shape[2] != x.shape[3]:
                continue
            chosen = torch.rand(n, 1, 1, 1, generator=generator, device=x.device) < self.p
            # each operation's output in the input's layout, as DiffAugment returns it
            done = operation(x, generator).contiguous(memory_format=layout)
            x = torch.where(chosen, done, x)  # (N, C, H, W)
        return x

    def observe(self, real_logits: Tensor, images: int | None = None) -> None:
        """Records one discriminator update's real logits; every ``interval``-th call
        adjusts ``p``. ``images``: the real images behind the logits (default: one each)."""
        logits = real_logits.detach().float()
        if self._sign_sum.device != logits.device:
            self._to(logits.device)
        self._sign_sum += logits.sign().sum()
        self._num_logits += logits.numel()
        self._num_images += logits.numel() if images is None else images
        self._num_updates += 1
        if self._num_updates % self.interval:
            return
        r_t = self._sign_sum / self._num_logits  # E[sign(D(real))], the overfitting heuristic
        step = self._num_images / self.ramp_images  # batch · interval / ramp
        self.p = (self.p + torch.sign(r_t - self.target) * step).clamp(0.0, P_MAX)
        self._sign_sum.zero_()
        self._num_logits = self._num_images = 0

    def _to(self, device: torch.device) -> None:
        self.p, self._sign_sum = self.p.to(device), self._sign_sum.to(device)

    def state_dict(self) -> dict:
        """``p`` and the statistics gathered since its last adjustment."""
        return {
            "p": self.p.clone(),
            "sign_sum": self._sign_sum.clone(),
            "num_logits": self._num_logits,
            "num_images": self._num_images,
            "num_updates": self._num_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores what :meth:`state_dict` returned, on the device ``p`` is on now."""
        self.p = state["p"].to(self.p.device, torch.float32).clone()
        self._sign_sum = state["sign_sum"].to(self.p.device, torch.float32).clone()
        self._num_logits = int(state["num_logits"])
        self._num_images = int(state["num_images"])
        self._num_updates = int(state["num_updates"])

    def __repr__(self) -> str:
        """``AdaptiveAugment(target=0.6, interval=4, ramp_images=500000)``."""
        return (
            f"AdaptiveAugment(target={self.target}, interval={self.interval}, "
            f"ramp_images={self.ramp_images})"
        )


__all__ = ["OPERATIONS", "P_MAX", "AdaptiveAugment"]
