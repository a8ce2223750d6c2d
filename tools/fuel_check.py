"""Real Fuel 0.2 reads rnnsound's datasets: views onto a stored song (the default) and copies.

Fuel 0.2.0 installs on CPython 3.6 only. This script prepares small datasets with rnnsound, then
has Fuel's own `H5PYDataset` read every split of each (in memory and lazily, through a
`DataStream` with a `SequentialScheme`) in a Python 3.6 environment, and compares every array
with what rnnsound reads. A one-time setup of that environment (about 2 minutes; PyPI only):

  python3.6 -m venv /tmp/fuel36 && /tmp/fuel36/bin/pip install "pip<22"
  /tmp/fuel36/bin/pip install "numpy<1.20" "h5py<3.2" six picklable-itertools pyyaml "progressbar2<4" \\
      pyzmq "tables<3.7" "scipy<1.6" pillow requests
  /tmp/fuel36/bin/pip install --no-build-isolation fuel==0.2.0
  python tools/fuel_check.py --fuel-python /tmp/fuel36/bin/python
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

from rnnsound.config import DataConfig
from rnnsound.prepare import prepare
from rnnsound.streams import SongDataset

READER = r'''
import sys
import numpy as np
from fuel.datasets.hdf5 import H5PYDataset
from fuel.schemes import SequentialScheme
from fuel.streams import DataStream
path, out = sys.argv[1], sys.argv[2]
arrays = {}
for split in ("train", "dev"):
    for in_memory in (True, False):
        ds = H5PYDataset(path, which_sets=(split,), sources=("inputs", "targets"), load_in_memory=in_memory)
        stream = DataStream(ds, iteration_scheme=SequentialScheme(ds.num_examples, 128))
        batches = list(stream.get_epoch_iterator())
        for i, source in enumerate(ds.sources):
            arrays["%s_%s_%s" % (split, source, in_memory)] = np.concatenate([b[i] for b in batches])
np.savez(out, **arrays)
import fuel
print("fuel", fuel.__version__ if hasattr(fuel, "__version__") else "0.2", "read", path)
'''


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fuel-python", required=True, help="a Python 3.6 with fuel==0.2.0 installed")
    args = p.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg, copy in (("views", DataConfig(frame_size=40, seq_len=50), False),
                                ("views, overlapping", DataConfig(frame_size=40, seq_len=50, hop=20), False),
                                ("copy", DataConfig(frame_size=40, seq_len=50), True)):
            path = os.path.join(tmp, name.replace(", ", "_") + ".hdf5")
            prepare(None, path, cfg, progress=False, copy=copy)
            out = os.path.join(tmp, "fuel.npz")
            subprocess.run([args.fuel_python, "-c", READER, path, out], check=True)
            fuel = np.load(out)
            for split in ("train", "dev"):
                ours = SongDataset(path, split)
                x, y = ours.get(np.arange(ours.num_examples))
                for source, mine in (("inputs", x), ("targets", y)):
                    for in_memory in (True, False):
                        theirs = fuel[f"{split}_{source}_{in_memory}"]
                        same = theirs.shape == mine.shape and np.array_equal(theirs, mine)
                        failures += not same
                        print(f"{name:20s} {split:5s} {source:7s} {'in memory' if in_memory else 'lazily':9s} "
                              f"{theirs.shape} {'identical' if same else 'DIFFERENT'}")
    print("Fuel 0.2 reads every array identically" if not failures else f"{failures} arrays differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
