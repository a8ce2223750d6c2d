"""Keep freed memory in the process, so that a compiled step reuses its scratch memory.

Each call of a compiled XLA:CPU function allocates its scratch buffers afresh and frees them at
the end (433 MB for an LSTM training step at F=40, batch 128, L=100). glibc serves an allocation
that large with a fresh `mmap` and returns it with `munmap`, so every step touches hundreds of MB
of new pages, and the kernel zero-fills each one on its first write: about 0.4 s of system time
per 1.4 s step on a 2-core EPYC (benchmarks/train_step.py --allocator). With one arena, no `mmap`
and no trimming, freed blocks stay in the heap and the next step reuses the same pages.

Applied when rnnsound is imported, before JAX starts its threads: a thread keeps the arena it
first used. It is process-wide: other libraries in the process (PyTorch in the benchmarks) get it
too. Peak memory is unchanged; freed memory is kept for reuse instead of being returned to the
system. Set RNNSOUND_SYSTEM_MALLOC=1 to leave glibc's defaults. Not glibc (macOS, musl): nothing
changes.
"""
import ctypes
import ctypes.util
import os

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
NEVER_TRIM = 2 ** 31 - 1   # bytes: mallopt takes an int; the largest one


def keep_freed_memory():
    """Set glibc's allocator to keep and reuse freed memory; True when it was set."""
    if os.environ.get("RNNSOUND_SYSTEM_MALLOC", "") not in ("", "0"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in
               ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, NEVER_TRIM)))
