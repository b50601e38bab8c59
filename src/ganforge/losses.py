"""The course's GAN losses, and the relativistic pairing loss of R3GAN, on realness
logits, in one registry.

Every function takes logits (higher means more real, no sigmoid applied) as keyword
arguments and returns a scalar mean over the batch. ``s`` below is softplus, so that
``log D(x) = -s(-x)`` and ``log(1 - D(x)) = -s(x)`` for ``D = sigmoid``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import GanforgeError


def _bce_d_loss(*, real: Tensor, fake: Tensor) -> Tensor:
    # -log D(x) - log(1 - D(G(z))) = s(-r) + s(f)
    return _bce_real(real) + _bce_fake(fake)


def _bce_real(real: Tensor) -> Tensor:
    return F.softplus(-real).mean()  # s(-r)


def _bce_fake(fake: Tensor) -> Tensor:
    return F.softplus(fake).mean()  # s(f)


def _minimax_g_loss(*, fake: Tensor) -> Tensor:
    # log(1 - D(G(z))) = -s(f); saturates when D rejects the fakes confidently
    return -F.softplus(fake).mean()


def _nonsaturating_g_loss(*, fake: Tensor) -> Tensor:
    # -log D(G(z)) = s(-f)
    return F.softplus(-fake).mean()


def _wasserstein_d_loss(*, real: Tensor, fake: Tensor) -> Tensor:
    # critic: mean(f) - mean(r)
    return fake.mean() - real.mean()


def _wasserstein_real(real: Tensor) -> Tensor:
    # -mean(r); -r + f is exactly f - r in floating point, so the halves add up bitwise
    return -real.mean()


def _critic_fake(fake: Tensor) -> Tensor:
    return fake.mean()  # mean(f)


def _critic_g_loss(*, fake: Tensor) -> Tensor:
    # -mean(f), shared by wasserstein, wgan-gp and hinge
    return -fake.mean()


def _hinge_d_loss(*, real: Tensor, fake: Tensor) -> Tensor:
    # relu(1 - r) + relu(1 + f)
    return _hinge_real(real) + _hinge_fake(fake)


def _hinge_real(real: Tensor) -> Tensor:
    return F.relu(1 - real).mean()  # relu(1 - r)


def _hinge_fake(fake: Tensor) -> Tensor:
    return F.relu(1 + fake).mean()  # relu(1 + f)


def _least_squares_d_loss(*, real: Tensor, fake: Tensor) -> Tensor:
    # ½(r - 1)² + ½f²
    return _least_squares_real(real) + _least_squares_fake(fake)


def _least_squares_real(real: Tensor, target: float = 1.0) -> Tensor:
    return 0.5 * (real - target).square().mean()  # ½(r - 1)²


def _least_squares_fake(fake: Tensor) -> Tensor:
    return 0.5 * fake.square().mean()  # ½f²


def _least_squares_g_loss(*, fake: Tensor) -> Tensor:
    # ½(f - 1)²
    return 0.5 * (fake - 1).square().mean()


def _rpgan_d_loss(*, real: Tensor, fake: Tensor) -> Tensor:
    # RpGAN (Huang et al. 2024): s(-(r_i - f_i)), the i-th real sample against the i-th fake
    _check_pairs(real, fake)
    return F.softplus(-(real - fake)).mean()


def _rpgan_g_loss(*, fake: Tensor, real: Tensor) -> Tensor:
    # the mirror image: s(-(f_i - r_i)), the i-th fake against the i-th real sample
    _check_pairs(real, fake)
    return F.softplus(-(fake - real)).mean()


def _check_pairs(real: Tensor, fake: Tensor) -> None:
    """Real and generated logits pair index by index (never by broadcasting)."""
    if real.shape != fake.shape:
        raise GanforgeError(
            f"rpgan pairs the i-th real logit with the i-th generated one, but got "
            f"{tuple(real.shape)} real and {tuple(fake.shape)} generated logits; give real and "
            "generated batches of the same size"
        )


@dataclass(frozen=True)
class Loss:
    """A named pair of discriminator and generator losses.

    Attributes:
        name: the registry name.
        d_loss: ``d_loss(real=, fake=)`` on logits.
        g_loss: ``g_loss(fake=)`` on logits; a relativistic loss's ``g_loss(fake=, real=)``.
        clip_value: weight clipping bound for the critic after each D update (WGAN), or None.
        gp_weight: weight of the gradient penalty added to the D loss (WGAN-GP), or 0.
        separable: ``d_loss`` is a term of the real logits plus a term of the fake logits,
            so the trainer may backpropagate the two halves one after the other (one
            discriminator graph in memory at a time).
        halves: the two terms of a separable ``d_loss``, ``(real_term(r), fake_term(f))``,
            whose sum is ``d_loss(real=r, fake=f)`` bitwise; without them the trainer
            computes each half as ``d_loss`` with zeros for the other logits.
        relativistic: the generator's loss compares its samples with real ones, so it also
            takes ``real`` logits (the trainer's frozen discriminator judges the real batch
            of its last update); such a loss is not separable.
    """

    name: str
    d_loss: Callable[..., Tensor]
    g_loss: Callable[..., Tensor]
    clip_value: float | None = None
    gp_weight: float = 0.0
    separable: bool = False
    halves: tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]] | None = None
    relativistic: bool = False


_BCE = (_bce_real, _bce_fake)
_CRITIC = (_wasserstein_real, _critic_fake)
_LS = (_least_squares_real, _least_squares_fake)

LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("minimax", _bce_d_loss, _minimax_g_loss, separable=True, halves=_BCE),
        Loss("nonsaturating", _bce_d_loss, _nonsaturating_g_loss, separable=True, halves=_BCE),
        Loss(
            "wasserstein", _wasserstein_d_loss, _critic_g_loss, 0.01, separable=True, halves=_CRITIC
        ),
        Loss(
            "wgan-gp",
            _wasserstein_d_loss,
            _critic_g_loss,
            gp_weight=10.0,
            separable=True,
            halves=_CRITIC,
        ),
        Loss(
            "hinge",
            _hinge_d_loss,
            _critic_g_loss,
            separable=True,
            halves=(_hinge_real, _hinge_fake),
        ),
        Loss(
            "least-squares",
            _least_squares_d_loss,
            _least_squares_g_loss,
            separable=True,
            halves=_LS,
        ),
        Loss("rpgan", _rpgan_d_loss, _rpgan_g_loss, relativistic=True),
    )
}


SMOOTHABLE = ("minimax", "nonsaturating", "least-squares")


def label_smoothing(loss: str | Loss, amount: float) -> Loss:
    """``loss`` with one-sided label smoothing: the discriminator's target for real data is
    ``1 - amount`` instead of 1 (generated data keep target 0), so it is never rewarded for
    certainty about real samples.

    Binary cross-entropy becomes ``(1 - a)·s(-r) + a·s(r) + s(f)``, least squares
    ``½(r - (1 - a))² + ½f²``; the generator's loss is unchanged. Only the target-based
    losses (:data:`SMOOTHABLE`) have labels to smooth.
    """
    loss = get_loss(loss)
    if not 0 <= amount < 0.5:
        raise GanforgeError(f"--label-smoothing must be in [0, 0.5), got {amount}")
    if amount == 0:
        return loss
    if loss.name not in SMOOTHABLE:
        raise GanforgeError(
            f"--label-smoothing needs a loss with targets ({', '.join(SMOOTHABLE)}), not "
            f"{loss.name}; drop it or change --loss"
        )
    target = 1.0 - amount
    if loss.name == "least-squares":

        def d_real(real: Tensor) -> Tensor:
            return _least_squares_real(real, target)  # ½(r - (1 - a))²

    else:

        def d_real(real: Tensor) -> Tensor:
            # (1 - a)·s(-r) + a·s(r)
            return (target * F.softplus(-real) + amount * F.softplus(real)).mean()

    d_fake = loss.halves[1]

    def d_loss(*, real: Tensor, fake: Tensor) -> Tensor:
        return d_real(real) + d_fake(fake)

    return replace(loss, d_loss=d_loss, halves=(d_real, d_fake))


def get_loss(name: str | Loss) -> Loss:
    """Looks a loss up by name; an unknown name lists the valid ones."""
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[name]
    except KeyError:
        raise GanforgeError(
            f"unknown loss {name!r}; choose one of: {', '.join(sorted(LOSSES))}"
        ) from None


def d_loss(name: str, *, real: Tensor, fake: Tensor) -> Tensor:
    """The discriminator loss ``name`` at real and fake logits."""
    return get_loss(name).d_loss(real=real, fake=fake)


def g_loss(name: str, *, fake: Tensor, real: Tensor | None = None) -> Tensor:
    """The generator loss ``name`` at fake logits (and, for a relativistic loss, at the
    real logits that they are paired with)."""
    loss = get_loss(name)
    if not loss.relativistic:
        return loss.g_loss(fake=fake)
    if real is None:
        raise GanforgeError(f"the {loss.name} generator loss needs real logits too: give real=")
    return loss.g_loss(fake=fake, real=real)


def realness(logits: Tensor) -> Tensor:
    """Flattens a discriminator output of shape ``(N,)``, ``(N, 1)`` or ``(N, 1, 1, 1)``."""
    if logits.dim() == 0 or math.prod(logits.shape[1:]) != 1:  # shape only: no tensor op
        raise GanforgeError(
            f"the discriminator must return one realness logit per sample, shape (N,), (N, 1) "
            f"or (N, 1, 1, 1); it returned {tuple(logits.shape)}: end it with a single output"
        )
    return logits.reshape(logits.shape[0])


__all__ = [
    "LOSSES",
    "SMOOTHABLE",
    "Loss",
    "d_loss",
    "g_loss",
    "get_loss",
    "label_smoothing",
    "realness",
]
