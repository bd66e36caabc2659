"""Keep big response buffers in the heap: glibc malloc settings for the server workers.

An unlimited ``GET /allocation_candidates`` at 10,000 hosts builds a 5.7 MB answer (57 MB
at 100,000). glibc serves allocations that large with a fresh ``mmap`` and gives them back
with ``munmap`` as soon as they are freed, so every such request page-faults its buffers
in again; and because each gunicorn thread has its own malloc arena, the threshold glibc
adapts per arena kept half the requests on that slow path (measured on 2026-11-21: the
same query alternated 14 ms / 21 ms over HTTP; with the settings below it answers in
12-14 ms every time). Setting the mmap threshold to glibc's maximum (32 MiB) and keeping
up to 128 MiB of freed memory before trimming lets the next request reuse the pages.

The settings are process memory state, so setting them in the master before gunicorn
forks covers every worker. On a C library without ``mallopt`` (musl, macOS) this does
nothing.
"""

from __future__ import annotations

import ctypes
import logging

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper bound on 64-bit
TRIM_THRESHOLD = 128 * 1024 * 1024


def keep_large_buffers() -> bool:
    """Apply the settings; True when the C library took them."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    logging.getLogger("berth").info("malloc: large buffers kept in the heap: %s", ok)
    return ok
