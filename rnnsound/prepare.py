"""Song -> dataset: normalise, frame, split, and write Fuel's H5PYDataset layout.

The song is stored once, normalised (`store_song`: `songs/NAME_CONTENT_RATEhz_NORM_DTYPE.hdf5`
beside the dataset, keyed by the song's content and the settings that change its samples), and
each (F, L, hop) dataset is a small file whose `inputs` and `targets` are HDF5 virtual datasets:
views onto that store, read like ordinary arrays by h5py and so by Fuel (`write_views`). The
store is named relative to the dataset, so a folder of datasets and its `songs/` can move
together. `prepare(..., copy=True)` writes a self-contained file with the examples in it.

Layout (readable by Fuel 0.2's `H5PYDataset`, and by `rnnsound.streams`):
- datasets `inputs` and `targets`, shape (N, L, F), axes labelled batch, sequence, frame;
  example i's targets are its inputs shifted by one frame (F samples) later in the song;
- `attrs['split']`: the structured array of Fuel's `create_split_array`, one row per
  (split, source), train rows [0, n_train), dev rows [n_train, N);
- attributes describing everything needed to reuse the file (rate, F, L, hop, normalisation
  and its constants, source file and sha256, train fraction).

Split (as the class did it, without its one-frame leak): with p = round(train_fraction * n)
samples, train examples have their inputs inside [0, p) (their targets reach p + F); dev
examples start at p + F, so no dev sample is ever seen in training. On the class song this
gives her counts: 1600/142 examples at F=1000, L=100 and 800/71 at F=4000, L=50.
"""
import math
import os

import h5py
import numpy as np
from tqdm import tqdm

from .atomic import atomic_path, check_space, check_writable
from .errors import HDF5_ERRORS, Interrupted, SongTooShort, UserError
from .interrupts import Deferred
from .song import as_song

FUEL_INTERFACE_VERSION = "0.3"  # H5PYDataset.interface_version in Fuel 0.2
SOURCES = ("inputs", "targets")


# --- normalisation -------------------------------------------------------------------------

def norm_constants(samples, kind):
    """Constants of the blog's normalisations, computed in float64 over the whole song."""
    x = np.asarray(samples, np.float64)
    mean, lo, hi, std = float(x.mean()), float(x.min()), float(x.max()), float(x.std())
    if kind == "minmax" and hi == lo or kind == "stdev" and std == 0.0:
        raise UserError("the song is silent (every sample has the same value); give a song with sound in it")
    return {"kind": kind, "mean": mean, "min": lo, "max": hi, "std": std}


def normalise(x, c):
    """Blog's minmax: 2 * (x - mean - min) / (max - min) - 1 (raw min and max); or (x - mean) / std;
    "none" (a plain Fuel file's values, used as they are)."""
    x = np.asarray(x, np.float64)
    if c["kind"] == "none":
        return x
    if c["kind"] == "minmax":
        return 2.0 * (x - c["mean"] - c["min"]) / (c["max"] - c["min"]) - 1.0
    return (x - c["mean"]) / c["std"]


def denormalise(y, c):
    """Inverse of `normalise`: model outputs back to the song's original scale."""
    y = np.asarray(y, np.float64)
    if c["kind"] == "none":
        return y
    if c["kind"] == "minmax":
        return (y + 1.0) * (c["max"] - c["min"]) / 2.0 + c["mean"] + c["min"]
    return y * c["std"] + c["mean"]


# --- framing and split ----------------------------------------------------------------------

def count_examples(n_samples, F, L, hop):
    """Examples whose inputs (L*F samples) and targets (F more) fit in n_samples, every hop frames."""
    span = (L + 1) * F
    return 0 if n_samples < span else (n_samples - span) // (hop * F) + 1


def split_layout(n, F, L, hop, train_fraction):
    """(n_train, n_dev, dev_start): counts and the dev segment's first sample; see module doc."""
    p = int(round(train_fraction * n))
    n_train = 0 if p < L * F else (p - L * F) // (hop * F) + 1
    dev_start = p + F
    n_dev = count_examples(n - dev_start, F, L, hop) if n > dev_start else 0
    return n_train, n_dev, dev_start


def largest_seq_len(n, F, train_fraction):
    """The largest L giving at least one train and one dev example (0 if none).

    The hop does not matter: it changes how many examples fit, not whether one does.
    """
    lo, hi = 0, max(1, n // F)
    while lo < hi:  # counts fall as L grows, so binary search
        mid = (lo + hi + 1) // 2
        n_train, n_dev, _ = split_layout(n, F, mid, 1, train_fraction)
        lo, hi = (mid, hi) if n_train and n_dev else (lo, mid - 1)
    return lo


def too_short_message(n, F, L, hop, train_fraction, sample_rate, n_train, n_dev):
    """Why a song of n samples cannot give a train and a dev example, and what would."""
    best = largest_seq_len(n, F, train_fraction)
    fix = (f"use --seq-len {best} or less, " if best else "") + \
        "a smaller --frame-size, a smaller --train-fraction (a longer dev split) or a longer song"
    return (f"song too short: {n} samples ({n / sample_rate:.1f} s) give {n_train} train and "
            f"{n_dev} dev examples at F={F}, L={L}, hop={hop}; {fix}")


def example_starts(n, F, L, hop, train_fraction):
    """First sample of each example's inputs: train ones, then dev ones."""
    n_train, n_dev, dev_start = split_layout(n, F, L, hop, train_fraction)
    step = hop * F
    return np.concatenate([np.arange(n_train) * step, dev_start + np.arange(n_dev) * step]).astype(np.int64), n_train


def frame(samples, starts, F, L):
    """(inputs, targets), each (len(starts), L, F): windows of the song and the same one frame later."""
    x = np.stack([samples[s:s + L * F] for s in starts]).reshape(len(starts), L, F)
    y = np.stack([samples[s + F:s + F + L * F] for s in starts]).reshape(len(starts), L, F)
    return x, y


# --- Fuel's split attribute -----------------------------------------------------------------

def create_split_array(split_dict):
    """Fuel's H5PYDataset.create_split_array: {split: {source: (start, stop)}} -> structured array."""
    sources = sorted({s for split in split_dict.values() for s in split})
    dtype = np.dtype([
        ("split", "S%d" % max(len(s) for s in split_dict)),
        ("source", "S%d" % max(len(s) for s in sources)),
        ("start", np.int64), ("stop", np.int64),
        ("indices", h5py.ref_dtype), ("available", np.bool_),
        ("comment", "S1")])
    rows = np.empty(len(split_dict) * len(sources), dtype=dtype)
    i = 0
    for split, by_source in split_dict.items():
        for source in sources:
            start, stop = by_source.get(source, (0, 0))
            rows[i]["split"] = split.encode("utf8")
            rows[i]["source"] = source.encode("utf8")
            rows[i]["start"], rows[i]["stop"] = start, stop
            rows[i]["indices"] = h5py.Reference()
            rows[i]["available"] = source in by_source
            rows[i]["comment"] = b"."  # Fuel's placeholder for an empty comment
            i += 1
    return rows


# --- writing --------------------------------------------------------------------------------

def write_dataset(path, samples, config, source_name, source_sha256, extra_attrs=None, progress=True):
    """Normalise, frame and split `samples` (mono, config.sample_rate) into a Fuel file at `path`."""
    F, L, hop = config.frame_size, config.seq_len, config.hop_frames
    n = len(samples)
    consts = norm_constants(samples, config.normalisation)
    starts, n_train = example_starts(n, F, L, hop, config.train_fraction)
    n_dev = len(starts) - n_train
    if n_train == 0 or n_dev == 0:
        raise SongTooShort(too_short_message(n, F, L, hop, config.train_fraction, config.sample_rate, n_train, n_dev))
    N = len(starts)
    check_space(path, 2 * N * L * F * np.dtype(config.dtype).itemsize + starts.nbytes, f"the dataset {path}")
    song = normalise(samples, consts).astype(config.dtype)
    chunk = max(1, (1 << 22) // (L * F))  # examples per write: ~16 MB of float32
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name in SOURCES:
            _label_axes(f.create_dataset(name, shape=(N, L, F), dtype=config.dtype, chunks=(1, L, F)))
        # h5py runs Python callbacks from C, where a KeyboardInterrupt is printed and lost: signals
        # wait for the end of a chunk instead, and the temporary file is removed
        with tqdm(total=N, unit="example", desc="write", disable=not progress) as bar, Deferred() as stop:
            for a in range(0, N, chunk):
                x, y = frame(song, starts[a:a + chunk], F, L)
                f["inputs"][a:a + len(x)] = x
                f["targets"][a:a + len(x)] = y
                bar.update(len(x))
                if stop.signum:
                    raise Interrupted(f"{stop.signal_name} while writing {path}; nothing was written",
                                      stop.exit_code)
        _write_fuel_attrs(f, config, starts, n_train, n, song_attrs(consts, source_name, source_sha256, extra_attrs))
    return {"train": n_train, "dev": n_dev, "samples": n, "path": path}


def song_attrs(consts, source_name, source_sha256, extra=None):
    """The attributes that describe a song and its normalisation, in a dataset and in a song store."""
    return {"normalisation": consts["kind"], "norm_mean": consts["mean"], "norm_min": consts["min"],
            "norm_max": consts["max"], "norm_std": consts["std"], "source_file": source_name,
            "source_sha256": source_sha256, **(extra or {})}


def _write_fuel_attrs(f, config, starts, n_train, n, song_attrs):
    """Fuel's split and interface version, each example's first sample, and rnnsound's attributes."""
    N = len(starts)
    f.attrs["split"] = create_split_array({
        "train": {s: (0, n_train) for s in SOURCES},
        "dev": {s: (n_train, N) for s in SOURCES}})
    f.attrs["h5py_interface_version"] = FUEL_INTERFACE_VERSION.encode()
    f.create_dataset("example_start", data=starts)  # first input sample of each example
    attrs = {"rnnsound_format": 1, "sample_rate": config.sample_rate, "frame_size": config.frame_size,
             "seq_len": config.seq_len, "hop": config.hop_frames, "train_fraction": config.train_fraction,
             "num_samples": n, **song_attrs}
    for k, v in attrs.items():
        f.attrs[k] = v


def _label_axes(d):
    for axis, label in enumerate(("batch", "sequence", "frame")):
        d.dims[axis].label = label


# --- one stored song, datasets as views onto it -------------------------------------------------

STEM_BYTES = 100


def store_name(song, config):
    """The store's file name: the song's name and content, and the settings that change its samples.
    No `%`: HDF5 reads a virtual dataset's source file name as a pattern (`%b`, `%%`), so a store
    named `50%.hdf5` would be read as another file, or as zeros. The name is cut to STEM_BYTES: a
    file name holds 255 bytes, and the content hash, not the name, tells songs apart."""
    stem = song.stem.replace("%", "_").encode()[:STEM_BYTES].decode(errors="ignore")
    return f"{stem}_{song.content_id[:16]}_{config.sample_rate}hz_{config.normalisation}_{config.dtype}.hdf5"


def is_own_dataset(path):
    """Is `path` a dataset `prepare` wrote (not a checkpoint, a song store or another HDF5 file)?"""
    try:
        with h5py.File(path, "r") as f:
            return "rnnsound_format" in f.attrs and "inputs" in f
    except HDF5_ERRORS:
        return False


def check_store(path, song, config, accept_damaged):
    """Refuse a store at `path` that is damaged or holds other samples than this song's under `config`."""
    try:
        with h5py.File(path, "r") as f:
            attrs, n, dtype = dict(f.attrs), len(f["samples"]), f["samples"].dtype
    except PermissionError as e:  # before HDF5_ERRORS, which holds OSError: unreadable is not damaged
        raise UserError(f"cannot read the song store {path} ({e.strerror or e}); give this user read access to it")
    except HDF5_ERRORS as e:
        why = "a folder" if os.path.isdir(path) else (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"the song store {path} is damaged or not a song store ({why}); delete it and prepare the "
                        "song again")
    if attrs.get("accepted_damaged") and not accept_damaged:
        raise UserError(f"{song.label} was stored with --accept-damaged ({path}); pass it again to use it")
    # stores written before song_content_id was recorded are checked on the rest
    expected = {"song_content_id": song.content_id, "sample_rate": config.sample_rate,
                "normalisation": config.normalisation}
    wrong = [k for k, v in expected.items() if k in attrs and attrs[k] != v] + \
        ([] if str(dtype) == config.dtype else ["dtype"]) + ([] if n > 0 else ["length"])
    if wrong:
        raise UserError(f"the song store {path} does not hold {song.label} as this prepare stores it (its "
                        f"{', '.join(wrong)} differs); delete it and prepare the song again")


def store_song(song, folder, config, progress=True, accept_damaged=False):
    """The song, normalised per `config`, in `folder` (written unless it is there, then checked to be
    this song's); returns its path. A 1-D dataset `samples` and, as attributes, the normalisation
    constants, the source and the song's content id."""
    path = os.path.join(folder, store_name(song, config))
    if os.path.exists(path):
        check_store(path, song, config, accept_damaged)
        return path
    samples, name, sha, extra = song.load(config.sample_rate, progress, accept_damaged)
    consts = norm_constants(samples, config.normalisation)
    os.makedirs(folder, exist_ok=True)
    check_space(path, len(samples) * np.dtype(config.dtype).itemsize, f"the song store {path}")
    block = 1 << 22  # samples normalised and written at a time
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        d = f.create_dataset("samples", shape=(len(samples),), dtype=config.dtype)  # contiguous: fast slices
        with Deferred() as stop:
            for a in range(0, len(samples), block):
                d[a:a + block] = normalise(samples[a:a + block], consts).astype(config.dtype)
                if stop.signum:
                    raise Interrupted(f"{stop.signal_name} while writing {path}; nothing was written", stop.exit_code)
        attrs = {"rnnsound_song_store": 1, "sample_rate": config.sample_rate, "song_content_id": song.content_id,
                 "accepted_damaged": bool(accept_damaged), **song_attrs(consts, name, sha, extra)}
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


def _virtual_examples(f, name, source, n, dtype, N, L, F, hop, segments):
    """A virtual (N, L, F) dataset `name` onto the 1-D `samples` of file `source`. In a segment
    (a, b, first), example a + i is samples[first + i hop F : ... + L F]. Each segment is mapped in
    L / g hyperslabs of g = gcd(L, hop) frames, one per block position (so one without overlap):
    block j of every example of the segment is a strided selection of the song."""
    g = math.gcd(L, hop)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    for a, b, first in segments:
        for j in range(L // g):
            virtual = h5py.h5s.create_simple((N, L, F))
            virtual.select_hyperslab((a, j * g, 0), (b - a, 1, 1), block=(1, g, F))
            song = h5py.h5s.create_simple((n,))
            song.select_hyperslab((first + j * g * F,), (b - a,), stride=(hop * F,), block=(g * F,))
            dcpl.set_virtual(virtual, source.encode(), b"samples", song)
    h5py.h5d.create(f.id, name.encode(), h5py.h5t.py_create(np.dtype(dtype)), h5py.h5s.create_simple((N, L, F)),
                    dcpl=dcpl)
    _label_axes(f[name])


def write_views(path, store, config):
    """A Fuel-layout dataset at `path` whose `inputs` and `targets` are views onto the song store."""
    with h5py.File(store, "r") as s:
        n, dtype, song_attrs = len(s["samples"]), s["samples"].dtype, dict(s.attrs)
    F, L, hop = config.frame_size, config.seq_len, config.hop_frames
    starts, n_train = example_starts(n, F, L, hop, config.train_fraction)
    N, n_dev = len(starts), len(starts) - n_train
    if n_train == 0 or n_dev == 0:
        raise SongTooShort(too_short_message(n, F, L, hop, config.train_fraction, config.sample_rate, n_train, n_dev))
    dev_start = int(starts[n_train])  # the dev segment's first example
    source = os.path.relpath(store, os.path.dirname(os.path.abspath(path)))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, shift in zip(SOURCES, (0, F)):  # targets: the inputs one frame later
            _virtual_examples(f, name, source, n, dtype, N, L, F, hop,
                              [(0, n_train, shift), (n_train, N, dev_start + shift)])
        extra = {k: v for k, v in song_attrs.items()
                 if k not in ("rnnsound_song_store", "sample_rate", "accepted_damaged", "song_content_id")}
        _write_fuel_attrs(f, config, starts, n_train, n, {**extra, "song_store": source})
    return {"train": n_train, "dev": n_dev, "samples": n, "path": path, "store": store}


def prepare(song, output, config, progress=True, accept_damaged=False, copy=False):
    """`rnnsound prepare`: a song (rnnsound.song; None: the default song) -> Fuel HDF5 file: views
    onto the song stored once in `songs/` beside it, or with `copy` the examples themselves.
    `accept_damaged`: use a truncated or absurdly loud file anyway (rnnsound.audio.check_damage)."""
    config.validate()
    check_writable(output)
    song = as_song(song)
    if song.path and os.path.exists(output) and os.path.exists(song.path) and os.path.samefile(song.path, output):
        raise UserError(f"the output {output} is the song itself; give another -o (the song is never overwritten)")
    if os.path.isfile(output) and not is_own_dataset(output):
        raise UserError(f"the output {output} exists and is not a dataset made by `rnnsound prepare`; give another -o "
                        "(prepare replaces only an earlier dataset of its own)")
    if copy:
        samples, name, sha, extra = song.load(config.sample_rate, progress, accept_damaged)
        return write_dataset(output, samples, config, name, sha, extra, progress)
    check_fits(song, config)  # before the store: a refused prepare writes nothing, and deletes nothing
    folder = os.path.join(os.path.dirname(os.path.abspath(output)), "songs")
    store = store_song(song, folder, config, progress, accept_damaged)
    return write_views(output, store, config)


def check_fits(song, config):
    """Refuse, before any writing, an (F, L) the song's length cannot give a train and a dev example;
    a song whose header gives no length is checked on its samples, once stored (write_views). A
    store is never deleted: another prepare may be making views onto it at the same moment."""
    try:
        n = song.num_samples(config.sample_rate)
    except UserError:
        return
    F, L, hop = config.frame_size, config.seq_len, config.hop_frames
    n_train, n_dev, _ = split_layout(n, F, L, hop, config.train_fraction)
    if n_train == 0 or n_dev == 0:
        raise SongTooShort(too_short_message(n, F, L, hop, config.train_fraction, config.sample_rate, n_train, n_dev))
