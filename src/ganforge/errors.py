"""The one error type for bad input: the command line turns it into exit code 2."""


class GanforgeError(ValueError):
    """Bad input or usage; its message names the problem and the fix in one line."""
