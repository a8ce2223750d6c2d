"""Keep freed memory in the process, so that a compiled step reuses its scratch memory.

Each call of a compiled XLA:CPU function allocates its scratch buffers afresh and frees them at
the end (433 MB for an LSTM training step at F=40, batch 128, L=100). glibc serves an allocation
that large with a fresh `mmap` and returns it with `munmap`, so every step touches hundreds of MB
of new pages, and the kernel zero-fills each one on its first write: 0.36 s of system time per
1.0 s step on a 2-core EPYC (docs/speed.md). With one arena, no `mmap` and no trimming, freed blocks stay in
the heap and the next step reuses the same pages (benchmarks/train_step.py --allocator both).

Set when rnnsound is imported, before JAX starts its threads (a thread keeps the arena it first
used, and glibc fixes the number of arenas at its first use), and process-wide: other libraries
in the process (PyTorch in the benchmarks) get it too. A fused training step peaks at the same
memory either way. A step back-propagated in chunks (`compiled.Network`, long sequences) runs
functions of several sizes one after the other, and a heap that never returns memory grew to 2x
its peak there (15.5 GB against 7.5 GB at F=40, L=10000): such a network calls
`keep_freed_memory(False)`, which returns blocks above 32 MB to the system again.

RNNSOUND_SYSTEM_MALLOC=1 leaves glibc's settings alone. Not glibc (macOS, musl): nothing changes.
"""
import ctypes
import functools
import os

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -3, -4, -8
KEEP = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2 ** 31 - 1))  # no mmap; never trim (mallopt takes an int)
# glibc's own upper settings of its sliding thresholds on 64-bit systems: blocks from 32 MB up are
# mapped and unmapped, and the heap's top is returned above 64 MB free
RETURN = ((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, 32 * 2 ** 20), (M_TRIM_THRESHOLD, 64 * 2 ** 20))


@functools.cache
def _libc_mallopt():
    """glibc's mallopt from the symbols this process already has loaded; None elsewhere."""
    try:
        fn = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return fn


def keep_freed_memory(keep=True):
    """keep: one arena, freed memory kept for reuse. False: one arena, blocks from 32 MB up
    returned to the system. True when the setting was made (glibc, and not turned off)."""
    mallopt = _libc_mallopt()
    if mallopt is None or os.environ.get("RNNSOUND_SYSTEM_MALLOC", "") not in ("", "0"):
        return False
    return all(mallopt(param, value) == 1 for param, value in ((M_ARENA_MAX, 1),) + (KEEP if keep else RETURN))
