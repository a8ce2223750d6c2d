"""rnnsound: a faithful, fast reproduction of the 2016 "Sound generation summary" experiment.

Raw audio -> frames -> a 2-layer GRU (or LSTM) compiled with PyTensor, trained by MSE with the
blog's RMSProp recipe -> 30 s of generated audio. See README.md.
"""
__version__ = "0.1.0"

from .allocator import keep_freed_memory

ALLOCATOR_SET = keep_freed_memory()  # before JAX starts its threads: see rnnsound.allocator
