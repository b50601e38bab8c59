"""keep_freed_memory: the page faults of a step-like allocation pattern, in fresh processes."""

import mmap
import os
import subprocess
import sys

import pytest

from ganforge import allocator

ROUNDS = 20
PAGES = 4 * 4 * 2**20 // mmap.PAGESIZE  # one round's four 4 MiB tensors
# four 4 MiB tensors at a time, as a step's activations: together above the thresholds glibc
# adapts to, so that without the setting each round hands the memory back and faults it in
STEPS = f"""
import resource, sys, torch
from ganforge.allocator import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "keep" else None)
def step():
    tensors = [torch.ones(2**20) for _ in range(4)]
    del tensors
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range({ROUNDS}):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _counts_page_faults() -> bool:
    """Whether this kernel reports minor page faults (gVisor's getrusage, for one, does not)."""
    import resource  # POSIX only

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with mmap.mmap(-1, PAGES * mmap.PAGESIZE) as fresh:
        for offset in range(0, len(fresh), mmap.PAGESIZE):
            fresh[offset] = 1  # the first touch of each page faults it in
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before >= PAGES // 2


glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="needs Linux with glibc",
)
counted = pytest.mark.skipif(
    sys.platform.startswith("linux") and not _counts_page_faults(),
    reason="this kernel does not count page faults (getrusage's ru_minflt stays 0)",
)


def _faults(mode: str, **env: str) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", STEPS, mode],
        capture_output=True, text=True, check=True, env={**environ, **env},
    ).stdout.split()  # fmt: skip
    return out[0], int(out[1])


@glibc
@counted
def test_kept_memory_is_not_faulted_in_again_each_step():
    took, kept = _faults("keep")
    # Without the setting: glibc's initial mmap threshold, held fixed. Left to adapt, glibc
    # hands the memory back or not depending on where the heap's top lies, run to run.
    _, default = _faults("default", MALLOC_MMAP_THRESHOLD_="131072")
    assert took == "True"
    assert default >= ROUNDS * PAGES // 2  # most pages, every round
    assert kept < PAGES  # at most one round's worth, once


@glibc
@counted
@pytest.mark.parametrize(
    "env", [{"GANFORGE_KEEP_FREED_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}]
)
def test_the_users_choice_stands(env):
    took, faults = _faults("keep", **env)
    assert took == "False"
    if "MALLOC_TRIM_THRESHOLD_" in env:  # the user's setting: faults every round
        assert faults >= ROUNDS * PAGES // 2


def test_off_linux_nothing_happens(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def test_ganforge_train_keeps_freed_memory(monkeypatch, tmp_path):
    from ganforge.cli import main

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    flags = ["--steps", "2", "--batch-size", "16", "--log-every", "1", "--quiet"]
    assert main(["train", "ring", *flags, "--out", str(tmp_path / "run")]) == 0
    assert calls == [1]
