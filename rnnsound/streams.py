"""Reading a prepared dataset and streaming minibatches, with Fuel's semantics.

`SongDataset(path, split)` is our H5PYDataset: one split of a Fuel-layout file, held in memory
(`load_in_memory=True`, Fuel's default for the blog) or read lazily from disk per batch.
`SequentialScheme` and `ShuffledScheme` give, per epoch, lists of example indices in batches
of `batch_size` (128 by default), the last partial batch kept. The shuffled order of epoch e is
a pure function of (seed, e), so a resumed run sees exactly the batches it would have seen.
Batches come out as float32 arrays (batch, L, F).
"""
import os

import h5py
import numpy as np

from .dataset import SOURCES, read_split_array
from .errors import UserError

REQUIRED_ATTRS = ("split", "sample_rate", "frame_size", "seq_len", "normalisation", "norm_mean",
                  "norm_min", "norm_max", "norm_std")


def read_attrs(path):
    """The dataset's attributes as plain Python values; a clear error if it is not one of ours."""
    if not os.path.isfile(path):
        raise UserError(f"dataset {path} does not exist; create it with `rnnsound prepare`")
    try:
        with h5py.File(path, "r") as f:
            missing = [a for a in REQUIRED_ATTRS if a not in f.attrs] + [s for s in SOURCES if s not in f]
            if missing:
                raise UserError(f"{path} is not a prepared rnnsound dataset (missing {', '.join(missing)}); "
                                "create it with `rnnsound prepare`")
            attrs = {k: (v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v) for k, v in f.attrs.items()}
            attrs["splits"] = read_split_array(f.attrs["split"])
            attrs["shape"] = f["inputs"].shape
    except OSError as e:
        raise UserError(f"{path} is not an HDF5 file ({e}); give a file made by `rnnsound prepare`")
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    attrs.pop("split")
    return attrs


def norm_of(attrs):
    """The normalisation constants (for dataset.normalise/denormalise) from a file's attributes."""
    return {"kind": attrs["normalisation"], "mean": attrs["norm_mean"], "min": attrs["norm_min"],
            "max": attrs["norm_max"], "std": attrs["norm_std"]}


class SongDataset:
    """One split ("train" or "dev") of a prepared file: `get(indices)` -> (inputs, targets)."""

    def __init__(self, path, split="train", load_in_memory=True):
        self.path, self.split = path, split
        self.attrs = read_attrs(path)
        if split not in self.attrs["splits"]:
            raise UserError(f"{path} has no split {split!r}; it has {', '.join(self.attrs['splits'])}")
        self.start, self.stop = self.attrs["splits"][split]
        self.num_examples = self.stop - self.start
        self._file = None
        self._data = None
        if load_in_memory:
            with h5py.File(path, "r") as f:
                self._data = {s: f[s][self.start:self.stop].astype(np.float32) for s in SOURCES}

    def get(self, indices):
        """Examples at `indices` (positions within this split): two (batch, L, F) float32 arrays."""
        indices = np.asarray(indices, dtype=np.int64)
        if self._data is not None:
            return self._data["inputs"][indices], self._data["targets"][indices]
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        order = np.argsort(indices)  # h5py reads need increasing indices
        rows = indices[order] + self.start
        back = np.argsort(order)
        return tuple(self._file[s][rows].astype(np.float32)[back] for s in SOURCES)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class SequentialScheme:
    """Batches of consecutive examples, the same every epoch."""

    def __init__(self, num_examples, batch_size=128):
        self.num_examples, self.batch_size = num_examples, batch_size

    def order(self, epoch):
        return np.arange(self.num_examples)

    def batches(self, epoch=0):
        idx = self.order(epoch)
        return [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]


class ShuffledScheme(SequentialScheme):
    """Batches of shuffled examples, reshuffled each epoch from (seed, epoch)."""

    def __init__(self, num_examples, batch_size=128, seed=0):
        super().__init__(num_examples, batch_size)
        self.seed = seed

    def order(self, epoch):
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)


def stream(dataset, scheme, epoch=0, skip=0):
    """Yield (inputs, targets) batches of one epoch, after skipping the first `skip` batches."""
    for indices in scheme.batches(epoch)[skip:]:
        yield dataset.get(indices)
