"""Keep a long-running process's memory from ratcheting up: glibc's allocator, tuned to give
large freed blocks back to the operating system.

glibc serves an allocation of at least `M_MMAP_THRESHOLD` bytes (128 KiB to start with) with a
mapping of its own, unmapped when freed. But the threshold is dynamic: freeing such a block
raises it to the block's size (up to 32 MiB), so the next ones of that size come from the heap,
and worker threads (images decoded, CSV read, passwords hashed in `asyncio.to_thread`) each get
a heap arena of their own, up to eight per core. Memory freed inside an arena stays with the
process. Measured here (`tests/http/test_memory_bound.py`, `bench/soak.py`): four uploads of
the heaviest accepted avatar (16 megapixels of RGBA) left a server process 180 MB larger, for
good; with the threshold fixed and two arenas, under 2 MB.

`tune_allocator()` fixes the threshold at glibc's own starting value (so large buffers always
go back when freed, whatever came before) and caps the arenas at two. Elsewhere than glibc
(musl, macOS) it does nothing and says so.

    from core.memory import tune_allocator
    tune_allocator()  # once, early: `server.create_app` and the job worker do it
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024
"""Allocations of this size or more get a mapping of their own, returned when freed
(glibc's default starting value, kept fixed)."""
ARENA_MAX = 2
"""Heap arenas shared by every thread (glibc's default is eight per core)."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl has no such function)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def tune_allocator() -> bool:
    """Fix glibc's mmap threshold and cap its arenas (once per process); False when the C
    library is not glibc or refused a setting."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(libc.mallopt(M_ARENA_MAX, ARENA_MAX))
