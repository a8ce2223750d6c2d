"""Shared fixtures: small synthetic songs and prepared datasets in temporary folders."""
import atexit
import os
import shutil
import tempfile

# One XLA compilation cache for the whole test run, set before JAX is imported: the xdist
# workers and every process the tests start (runs, sweeps, Dask workers) inherit it, so a graph
# compiled once (same HLO, same flags, same JAX) is loaded, not compiled again. The loaded
# executable is the compiled one: the numbers are the same. Removed by the process that made it.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="rnnsound-tests-xla-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)

import numpy as np  # noqa: E402  (after the cache setting above)
import pytensor
import pytest
import soundfile as sf

from rnnsound.config import DataConfig
from rnnsound.prepare import prepare
from rnnsound.compiled import compile_mode
from rnnsound.runtime import use_float32

# Functions the tests compile themselves use the package's backend and mode (JAX, with the
# float32-accumulation rewrite of compiled.compile_mode; inputs need static shapes). Mixing modes
# in one process is avoided: compiling a graph in one mode rewrites shared scan internals that a
# later compile in another mode then cannot convert. PyTensor's own default, Numba, would also
# take about a minute per scan to compile.
pytensor.config.mode = compile_mode("jax")
use_float32()  # graphs the tests build themselves are float32, as the package's are


def chord(seconds, rate=16000, amp=0.5):
    """A periodic test signal: three sines (220, 330, 440 Hz)."""
    t = np.arange(int(seconds * rate)) / rate
    return (amp / 3 * sum(np.sin(2 * np.pi * f * t) for f in (220, 330, 440))).astype(np.float32)


def train_on_chord(folder, cfg):
    """A run of `cfg` trained on a 4 s chord (F=40, L=10) in `folder`/run: (its path, its summary)."""
    import soundfile as sf
    from rnnsound.config import DataConfig
    from rnnsound.prepare import prepare
    from rnnsound.train import train
    sf.write(folder / "chord.wav", chord(4.0), 16000)
    prepare(
        str(folder / "chord.wav"),
        str(folder / "d.hdf5"),
        DataConfig(frame_size=40, seq_len=10, train_fraction=0.8),
        progress=False,
    )
    return str(folder / "run"), train(str(folder / "d.hdf5"), cfg, str(folder / "run"), progress=False)


@pytest.fixture
def song_wav(tmp_path):
    path = tmp_path / "chord.wav"
    sf.write(path, chord(3.0), 16000, subtype="PCM_16")
    return str(path)


@pytest.fixture
def tiny_dataset(tmp_path, song_wav):
    """F=8, L=10 on 3 s of chord: plenty of examples, tiny shapes."""
    out = str(tmp_path / "tiny.hdf5")
    prepare(song_wav, out, DataConfig(frame_size=8, seq_len=10, train_fraction=0.8), progress=False)
    return out
