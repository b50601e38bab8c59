"""The one error type for bad input: the command line turns it into exit code 2."""


class GanforgeError(ValueError):
    """Bad input or usage; its message names the problem and the fix in one line."""


class NonFiniteError(RuntimeError):
    """A loss or gradient became NaN or Inf; the update was not applied."""

    def __init__(self, network: str, step: int, losses: dict[str, float]) -> None:
        self.network, self.step, self.losses = network, step, losses
        shown = ", ".join(f"{k} = {v:.4g}" for k, v in losses.items())
        super().__init__(
            f"non-finite {network} loss or gradient at step {step} ({shown}); try a lower "
            "learning rate (--lr-g, --lr-d), a penalty on the discriminator (--r1-gamma), "
            "no mixed precision, or --on-nonfinite skip"
        )
