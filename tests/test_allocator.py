"""The allocator setting: freed memory is reused without page faults when kept, returned to the
system (and faulted in afresh) when not, and left alone when the user says so."""
import ctypes
import ctypes.util
import os
import resource
import subprocess
import sys

import numpy as np

import rnnsound
from rnnsound import graph
from rnnsound.allocator import keep_freed_memory
from rnnsound.compiled import Network
from rnnsound.config import TrainConfig

MB = 2 ** 20


LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
LIBC.malloc.restype, LIBC.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
LIBC.free.argtypes = (ctypes.c_void_p,)


def filled_block(nbytes):
    """malloc and write nbytes (numpy is not used: it asks for huge pages, which fault 2 MB at a time)."""
    block = LIBC.malloc(nbytes)
    ctypes.memset(block, 1, nbytes)
    return block


def page_faults_of_a_second_allocation(nbytes):
    """Minor page faults of filling a fresh block after one of the same size was freed."""
    LIBC.free(filled_block(nbytes))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = filled_block(nbytes)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    LIBC.free(block)
    return faults


def test_kept_memory_is_reused_and_returned_memory_is_not():
    pages = 200 * MB // resource.getpagesize()
    try:
        assert keep_freed_memory(True)
        kept = page_faults_of_a_second_allocation(200 * MB)
        assert keep_freed_memory(False)
        returned = page_faults_of_a_second_allocation(200 * MB)
    finally:
        keep_freed_memory(True)   # the setting rnnsound makes on import
    assert kept < 0.05 * pages, kept
    assert returned > 0.9 * pages, returned


def test_set_on_import_unless_turned_off():
    assert rnnsound.ALLOCATOR_SET
    code = "import rnnsound; print(rnnsound.ALLOCATOR_SET)"
    for value, expected in (("1", "False"), ("", "True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(os.environ, RNNSOUND_SYSTEM_MALLOC=value)).stdout.strip()
        assert out == expected


def test_a_chunked_network_returns_memory_and_a_fused_one_keeps_it():
    pages = 200 * MB // resource.getpagesize()
    faults = {}
    try:
        for name, chunk in (("chunked", 3), ("fused", 0)):
            cfg = TrainConfig(hidden=4, bptt_chunk=chunk)
            net = Network(5, 7, cfg, graph.init_params(5, cfg, np.random.default_rng(0)))
            assert (net.chunk < 7) == (name == "chunked")
            faults[name] = page_faults_of_a_second_allocation(200 * MB)
    finally:
        keep_freed_memory(True)
    assert faults["chunked"] > 0.9 * pages and faults["fused"] < 0.05 * pages, faults
