"""Shared helpers of the tests."""

import os
import subprocess
import sys


def run(*args, cwd=None):
    """``python -m ganforge ARGS`` in a real subprocess; the completed process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ganforge", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
