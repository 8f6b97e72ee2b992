"""glibc's allocator in the dataflow processes.

Each stream partition's reader thread receives its messages (about 2 MB for 100 raw payloads),
and glibc gives every thread that allocates its own arena, up to 8 per core. Freed message
buffers stay in those arenas: a transform shard reading 16 partitions (while a lag probe, since
made optional, read more big messages in another thread) peaked at 750 MB over 30,000 issues,
and at 420 MB with two arenas, no slower (bench/README.md). The limit is set with `mallopt` at
start, before the reader threads exist.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's malloc.h
DEFAULT_ARENAS = 2


def limit_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas for the threads started from now on; False where the C library
    is not glibc (the limit then does not apply, and nothing else changes)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(M_ARENA_MAX, arenas) != 1:
        log.warning("mallopt(M_ARENA_MAX, %s) was refused; memory may grow per thread", arenas)
        return False
    return True
