"""Keep freed memory in the process, so that the large tensors of each training or decoding step reuse it.

glibc's malloc serves a large allocation (over 32 MiB at most, often less) with a fresh `mmap` and returns
it to the system when it is freed, so a tensor of that size costs one page fault per 4 KiB every time it is
made: the (tokens x vocabulary) logits, their log-softmax and gradients, and the copies in between, again on
every step. With `mmap` off and the heap never trimmed, freed blocks are reused instead, which removes
those page faults from every step (figures: CHANGELOG.md, 0.2.0). The price is that the process keeps its
peak memory until it ends, as a caching allocator (PyTorch's own on CUDA, jemalloc, tcmalloc) does. On
other C libraries (macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_done = False


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (no `mmap`, no trimming); True where it took effect."""
    global _done
    if _done:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the trim threshold is a size_t set from an int, so the largest int.
    _done = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    return _done
