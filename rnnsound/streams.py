"""Reading a prepared dataset and streaming minibatches, with Fuel's semantics.

`SongDataset(path, split)` is our H5PYDataset: one split of a Fuel-layout file, held in memory
(`load_in_memory=True`, Fuel's default for the blog) or read lazily from disk per batch.
`SequentialScheme` and `ShuffledScheme` give, per epoch, lists of example indices in batches
of `batch_size` (128 by default), the last partial batch kept. The shuffled order of epoch e is
a pure function of (seed, e), so a resumed run sees exactly the batches it would have seen.
Batches come out as float32 arrays (batch, L, F).

Any Fuel H5PYDataset with `inputs` and `targets` sources of shape (examples, L, F) is read as
Fuel 0.2 reads it: a split's examples for a source are the list its `indices` reference points
to, or else `start:stop`; a (split, source) row with `available` false does not provide that
source; both sources must give the same examples. `valid` stands in for `dev` when a file has no
`dev` split (Fuel's usual name). A file without rnnsound's attributes gets F and L from its
shape, no sample rate (generation then asks for one) and normalisation "none" (its values are
used as they are). What cannot be used is refused with one line; a split is never empty.

Every value read from a file is checked with the rules its writer follows (rnnsound.config's
ranges for rate, F, L, hop and fraction; a known normalisation with finite constants; split rows
inside the data), and a dataset whose arrays are views onto a song store (rnnsound.prepare) is
refused when that store is missing or shorter than the views need: HDF5 would read zeros. A
dataset reached through a symbolic link is opened at its target, so HDF5 reads, and rnnsound
checks, the store beside the real file, never one of the same name beside the link.
"""
import math
import os

from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

from .config import DataConfig, from_dict
from .errors import HDF5_ERRORS, UserError
from .files import sha256_of
from .prepare import SOURCES

NORMALISATIONS = ("minmax", "stdev", "none")


def _plain(value):
    """An attribute as a JSON-friendly scalar, or None for what is not one (arrays, references)."""
    if isinstance(value, bytes):
        return value.decode("utf8", "replace")
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) else None


def fuel_splits(f, path):
    """{split name: example indices} as Fuel's H5PYDataset.get_subsets reads them."""
    n = len(f["inputs"])
    rows = f.attrs["split"]
    names = list(dict.fromkeys(r["split"].decode() for r in rows))
    splits, problems = {}, {}
    for name in names:
        per_source = {}
        for row in rows:
            source = row["source"].decode()
            if row["split"].decode() != name or source not in SOURCES or not row["available"]:
                continue
            ref = row["indices"] if "indices" in rows.dtype.names else None
            if not ref and not 0 <= int(row["start"]) <= int(row["stop"]) <= n:
                raise UserError(f"{path}: the {name!r} split of {source} points past the data (rows "
                                f"{int(row['start'])}:{int(row['stop'])}; the file holds {n}); repair its split "
                                "attribute or prepare the song again")
            idx = np.asarray(f[ref], np.int64).reshape(-1) if ref else np.arange(row["start"], row["stop"])
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise UserError(f"{path}: the {name!r} split of {source} points past the data (example "
                                f"{int(idx.max() if idx.max() >= n else idx.min())}; the file holds {n}); repair its "
                                "split attribute or prepare the song again")
            per_source[source] = idx
        if set(per_source) != set(SOURCES):
            problems[name] = f"provides no {' or '.join(sorted(set(SOURCES) - set(per_source)))}"
        elif not np.array_equal(per_source["inputs"], per_source["targets"]):
            problems[name] = "gives inputs and targets different examples"
        else:
            splits[name] = per_source["inputs"]
    if "dev" not in splits and "valid" in splits:
        splits["dev"] = splits["valid"]
    return splits, problems


def read_attrs(path):
    """The dataset's attributes as plain Python values, each checked; a clear error if it cannot be used.
    Adds `stores` (the song stores its views read, or []), `splits`, `split_problems` and `shape`."""
    if not os.path.isfile(path):
        raise UserError(f"dataset {path} is a folder, not a file; give the .hdf5 file `rnnsound prepare` wrote"
                        if os.path.isdir(path) else f"dataset {path} does not exist; create it with `rnnsound prepare`")
    try:
        with h5py.File(os.path.realpath(path), "r") as f:
            missing = [a for a in ("split",) if a not in f.attrs] + [s for s in SOURCES if s not in f]
            if missing:
                raise UserError(f"{path} is not a Fuel dataset with inputs and targets (missing {', '.join(missing)}); "
                                "create one with `rnnsound prepare`")
            shape = f["inputs"].shape
            if len(shape) != 3 or f["targets"].shape != shape:
                raise UserError(f"{path}: inputs {shape} and targets {f['targets'].shape} must both be arrays of "
                                "(examples, frames, samples per frame)")
            splits, problems = fuel_splits(f, path)
            attrs = {k: _plain(v) for k, v in f.attrs.items() if k != "split"}
            stores, found = _stores(f, path)
    except HDF5_ERRORS as e:
        raise UserError(f"{path} is damaged or not an HDF5 file ({str(e).strip() or type(e).__name__}); give a file "
                        "made by `rnnsound prepare`, or prepare the song again")
    attrs = {k: v for k, v in attrs.items() if v is not None}
    for key, size in (("seq_len", shape[1]), ("frame_size", shape[2])):
        if attrs.setdefault(key, size) != size:
            raise UserError(f"{path}: its {key} attribute ({attrs[key]}) disagrees with its data ({size}); "
                            "prepare the song again")
    attrs.setdefault("sample_rate", None)
    attrs.setdefault("normalisation", "none")
    _check_attrs(attrs, path)
    _check_store_identity(attrs, found, path)
    attrs.update(splits=splits, split_problems=problems, shape=shape, stores=stores)
    return attrs


def _check_attrs(attrs, path):
    """The attributes rnnsound's writer sets, checked with its rules (rnnsound.config)."""
    source = f"dataset {path}"
    if attrs["normalisation"] not in NORMALISATIONS:
        raise UserError(f"{source} is damaged: normalisation is {attrs['normalisation']!r}, not one of "
                        f"{', '.join(NORMALISATIONS)}; prepare the song again")
    fields = {k: attrs[k] for k in ("sample_rate", "frame_size", "seq_len", "hop", "train_fraction")
              if attrs.get(k) is not None}
    from_dict(DataConfig, fields, source)
    if "hop" in attrs and attrs["hop"] < 1:
        raise UserError(f"{source} is damaged: hop is {attrs['hop']}, not a whole number of frames >= 1; prepare the "
                        "song again")
    if attrs["normalisation"] != "none":
        names = ("norm_mean", "norm_min", "norm_max", "norm_std")
        bad = [n for n in names if not isinstance(attrs.get(n), (int, float)) or isinstance(attrs.get(n), bool)
               or not np.isfinite(attrs[n])]
        if bad or attrs["norm_max"] <= attrs["norm_min"] or attrs["norm_std"] <= 0:
            raise UserError(f"{source} is damaged: its normalisation constants "
                            f"({', '.join(f'{n}={attrs.get(n)!r}' for n in names)}) are not finite with max > min and "
                            "std > 0; prepare the song again")


def _stores(f, path):
    """(the song stores (absolute paths) that `inputs` and `targets` are views onto, {store: its
    source_sha256, sample_rate and num_samples}); each must hold the samples the views select (HDF5
    would give zeros for a missing store, without an error)."""
    needs, found = {}, {}
    for source in SOURCES:
        if f[source].is_virtual:
            for v in f[source].virtual_sources():
                name = v.file_name if os.path.isabs(v.file_name) else \
                    os.path.join(os.path.dirname(os.path.realpath(path)), v.file_name)  # beside the file HDF5 opens
                end = v.src_space.get_select_bounds()[1][0] + 1
                needs[name, v.dset_name] = max(end, needs.get((name, v.dset_name), 0))
    for (name, dset), end in needs.items():
        if not os.path.isfile(name):
            raise UserError(f"{path} reads its samples from the song store {name}, which is missing; keep the songs/ "
                            "folder beside the dataset, or prepare the song again")
        try:
            with h5py.File(name, "r") as s:
                size = len(s[dset]) if dset in s else -1
                store_attrs = {k: _plain(v) for k, v in s.attrs.items()}
        except PermissionError as e:
            raise UserError(f"cannot read the song store {name} of {path} ({e.strerror}); give this user read "
                            "access to it")
        except HDF5_ERRORS as e:
            raise UserError(f"the song store {name} of {path} is damaged ({str(e).strip() or type(e).__name__}); "
                            "delete it and prepare the song again")
        if size < end:
            raise UserError(f"the song store {name} of {path} holds {max(size, 0)} samples but the dataset reads "
                            f"{end}; delete it and prepare the song again")
        found[name] = {"source_sha256": store_attrs.get("source_sha256"), "sample_rate": store_attrs.get("sample_rate"),
                       "num_samples": size}
    return sorted({name for name, _ in needs}), found


def _check_store_identity(attrs, found, path):
    """Each store must be the song the dataset was cut from (its recorded hash, rate and length):
    another song's store under the same name reads without an error."""
    for name, store in found.items():
        differ = [k for k, v in store.items() if attrs.get(k) is not None and attrs[k] != v]
        if differ:
            raise UserError(f"the song store {name} of {path} holds another song than the dataset was made from (its "
                            f"{', '.join(differ)} differs); prepare the song again")


def digests(path, attrs):
    """{dataset_sha256, store_sha256} of a dataset: its file, and its song stores' files (None for a
    self-contained file). A run records both (config.json) and checks them before using the data."""
    stores = None
    if attrs["stores"]:
        stores = sha256_of(attrs["stores"][0]) if len(attrs["stores"]) == 1 else \
            ",".join(sha256_of(s) for s in attrs["stores"])
    return {"dataset_sha256": sha256_of(path), "store_sha256": stores}


def changed_data(recorded, sums):
    """What differs between the data a run recorded (its config.json) and `sums` (digests); a run
    recorded before song stores existed has no store_sha256 and is checked on its file alone."""
    changed = [] if recorded["dataset_sha256"] == sums["dataset_sha256"] else ["the dataset file"]
    if recorded.get("store_sha256", sums["store_sha256"]) != sums["store_sha256"]:
        changed.append("its song store")
    return changed


def norm_of(attrs):
    """The normalisation constants (for dataset.normalise/denormalise) from a file's attributes."""
    if attrs["normalisation"] == "none":
        return {"kind": "none"}
    return {"kind": attrs["normalisation"], "mean": attrs["norm_mean"], "min": attrs["norm_min"],
            "max": attrs["norm_max"], "std": attrs["norm_std"]}


# The song's reference audio for generation metrics (rnnsound.metrics.Reference): at most this many
# contiguous stretches of this many seconds, evenly spaced over the song's training part.
REFERENCE_STRETCHES, STRETCH_SECONDS = 16, 15.0


def song_stretches(path, attrs, rate):
    """(stretches, source): contiguous stretches of the training part of the song, normalised, each a
    1-D float32 array, and a line saying where they came from. A dataset of views onto one song store
    reads them from the store: REFERENCE_STRETCHES of STRETCH_SECONDS evenly spaced over its first
    round(train_fraction * n) samples (that whole part when it is shorter), the same audio for every
    F, L and hop of the song. A self-contained file has no store: its train examples are the
    stretches (each L*F contiguous samples; evenly spaced, as many as make the same length)."""
    if len(attrs["stores"]) == 1 and "train_fraction" in attrs:
        try:
            with h5py.File(attrs["stores"][0], "r") as f:
                samples = f["samples"]
                p = int(round(attrs["train_fraction"] * len(samples)))
                size = int(STRETCH_SECONDS * rate)
                if p <= REFERENCE_STRETCHES * size:
                    return [samples[:p].astype(np.float32)], f"the song's first {p / rate:.1f} s (its training part)"
                starts = np.linspace(0, p - size, REFERENCE_STRETCHES).astype(np.int64)
                return (
                    [samples[a : a + size].astype(np.float32) for a in starts],
                    f"{REFERENCE_STRETCHES} stretches of {STRETCH_SECONDS:g} s spread over the song's training part",
                )
        except HDF5_ERRORS as e:
            raise UserError(
                f"the song store {attrs['stores'][0]} of {path} is damaged ({str(e).strip() or type(e).__name__}); "
                "delete it and prepare the song again"
            )
    train = SongDataset(path, "train", load_in_memory=False, attrs=attrs)
    L, F = attrs["shape"][1:]
    want = max(1, math.ceil(REFERENCE_STRETCHES * STRETCH_SECONDS * rate / (L * F)))
    idx = np.unique(np.linspace(0, train.num_examples - 1, min(train.num_examples, want)).astype(int))
    inputs = train.get(idx)[0]
    train.close()
    return list(inputs.reshape(len(idx), L * F)), f"{len(idx)} train examples of {L * F / rate:.2f} s (no song store)"


class SongDataset:
    """One split ("train" or "dev") of a prepared file: `get(indices)` -> (inputs, targets)."""

    def __init__(self, path, split="train", load_in_memory=True, attrs=None):
        """`attrs`: the file's read_attrs, when the caller has them already (they open and check the
        file and its song stores)."""
        self.path, self.split = path, split
        self.attrs = attrs or read_attrs(path)
        splits = self.attrs["splits"]
        if split not in splits:
            why = self.attrs["split_problems"].get(split)
            raise UserError(f"{path}'s {split!r} split {why}" if why else
                            f"{path} has no split {split!r}; it has {', '.join(splits) or 'none usable'}")
        self.index = splits[split]  # rows of the file, in the split's order
        self.num_examples = len(self.index)
        if self.num_examples == 0:
            raise UserError(f"{path}'s {split!r} split holds no examples; prepare it again or use another file")
        self._file = None
        self._data = None
        if load_in_memory:
            try:
                with h5py.File(os.path.realpath(path), "r") as f:
                    self._data = {s: self._read(f[s], self.index) for s in SOURCES}
            except HDF5_ERRORS as e:
                raise self._damaged(e)
            self.index = np.arange(self.num_examples)

    def _damaged(self, e):
        return UserError(f"{self.path} is damaged: its data does not read back ({str(e).strip() or type(e).__name__}); "
                         "prepare the song again")

    @staticmethod
    def _read(source, rows):
        """source[rows] as float32, for any rows, one slice per run of consecutive rows: h5py's own
        selection by a list of rows is far slower (benchmarks/streaming.py measures both)."""
        rows = np.asarray(rows, dtype=np.int64)
        unique, back = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique),) + tuple(source.shape[1:]), np.float32)
        starts = np.flatnonzero(np.diff(unique, prepend=-2) != 1)       # where each run begins, in `unique`
        for a, b in zip(starts, list(starts[1:]) + [len(unique)]):
            out[a:b] = source[int(unique[a]):int(unique[b - 1]) + 1]
        return out if np.array_equal(unique, rows) else out[back.reshape(-1)]

    def get(self, indices):
        """Examples at `indices` (positions within this split): two (batch, L, F) float32 arrays."""
        rows = self.index[np.asarray(indices, dtype=np.int64)]
        if self._data is not None:
            return self._data["inputs"][rows], self._data["targets"][rows]
        try:
            if self._file is None:
                self._file = h5py.File(os.path.realpath(self.path), "r")
            return tuple(self._read(self._file[s], rows) for s in SOURCES)
        except HDF5_ERRORS as e:
            raise self._damaged(e)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class Prefetch:
    """`dataset.get` of each index batch in turn, the next one read in a background thread while
    the caller computes (JAX releases the GIL during a step), so a dataset read lazily from disk
    costs little more than one in memory (benchmarks/streaming.py). Same batches, same order.
    Use as a context manager; leaving early waits for the one read in flight."""

    def __init__(self, dataset, index_batches):
        self.dataset, self.batches = dataset, list(index_batches)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch")
        self._next = self._pool.submit(dataset.get, self.batches[0]) if self.batches else None
        self._i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._i >= len(self.batches):
            raise StopIteration
        batch = self._next.result()
        self._i += 1
        if self._i < len(self.batches):
            self._next = self._pool.submit(self.dataset.get, self.batches[self._i])
        return batch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._pool.shutdown(wait=True)


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
