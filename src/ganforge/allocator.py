"""Let a training process keep the memory it frees, so that each step reuses warm pages.

PyTorch allocates CPU tensors through the C library's ``malloc``. glibc gives large freed
blocks back to the system: blocks above its mmap threshold are unmapped, and the top of the
heap is trimmed once more than its trim threshold lies free there. Both thresholds adapt
to the largest block freed so far (a 4 MiB activation makes them 4 and 8 MiB), so a
training step whose tensors add up to more than that hands the memory back at the end of
the step and takes it again in the next one, where the kernel must map and zero every page
afresh (a minor page fault each). :func:`keep_freed_memory` raises both thresholds, as the
CUDA caching allocator keeps freed GPU memory: the process's peak is unchanged, and it no
longer shrinks between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 2**30
OPT_OUT = "GANFORGE_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Raise glibc's mmap threshold to 32 MiB and its trim threshold to 1 GiB for this
    process; returns whether both took effect.

    Blocks up to 32 MiB then come from the heap, and up to 1 GiB of freed heap stays with the
    process for the next step. Nothing happens (``False``) off Linux, with another C library,
    when the user set ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` (their choice
    stands), or with ``GANFORGE_KEEP_FREED_MEMORY=0``.
    """
    if not sys.platform.startswith("linux") or os.environ.get(OPT_OUT, "1") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no C library found, or one without mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mmap_ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and mmap_ok
