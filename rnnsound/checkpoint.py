"""Checkpoints as plain named arrays in HDF5: parameters, optimiser state, position, RNG.

Layout: group `params/` (one dataset per parameter), group `opt/` (optimiser state, names like
`in_W/ms`), attributes `step`, `epoch`, `batch` (next batch index within the epoch),
`epoch_sse`/`epoch_batches` (running train MSE sum of the current epoch), `best_dev`,
`rng_seed` (the data order of epoch e is a pure function of (rng_seed, e), so this is the whole
RNG state), plus `cell`, `hidden`, `layers`, `frame_size`, and `sha256`: a digest of every array
and every other attribute. Written atomically. A file that does not read back whole, whose
digest does not match (a flipped bit anywhere in its arrays or attributes) or that has non-finite
parameters is refused with one line naming it: nothing from it is used.
"""
import hashlib

import h5py
import numpy as np

from .atomic import atomic_path
from .errors import HDF5_ERRORS, UserError


def digest(arrays, meta):
    """sha256 of {name: array} (names, dtypes, shapes, bytes) and the attributes `meta` ({name: scalar})."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    for name in sorted(meta):
        h.update(f"{name}={meta[name]!r};".encode())
    return h.hexdigest()


def save(path, params, opt_state, meta):
    arrays = {f"params/{k}": np.asarray(v) for k, v in params.items()}
    arrays.update({f"opt/{k}": np.asarray(v) for k, v in opt_state.items()})
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
        for k, v in meta.items():
            f.attrs[k] = v
        # the digest of the values as they read back (an attribute may change type: bool -> numpy bool)
        stored = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        f.attrs["sha256"] = digest(arrays, stored)


def _damaged(path, why):
    return UserError(f"checkpoint {path} is damaged or not a checkpoint ({why}); nothing from it was used: "
                     "use another checkpoint (best.h5 or last.h5) or start afresh")


def _read(path):
    """(arrays {group/name: array}, meta), the digest checked."""
    try:
        with h5py.File(path, "r") as f:
            arrays = {}
            f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
            meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except HDF5_ERRORS as e:
        raise _damaged(path, str(e).strip() or type(e).__name__)
    recorded = meta.pop("sha256", None)
    if recorded is None:
        raise _damaged(path, "it has no sha256 digest")
    if recorded != digest(arrays, meta):
        raise _damaged(path, "its contents do not match their sha256 digest")
    return arrays, meta


def read_meta(path):
    """The position attributes (step, epoch, ...), after checking the whole file."""
    return _read(path)[1]


def load(path, expected_shapes=None):
    """(params, opt_state, meta) from `path`; checks parameter names and shapes if given."""
    arrays, meta = _read(path)
    params = {k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")}
    opt = {k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")}
    if expected_shapes is not None:
        got = {k: v.shape for k, v in params.items()}
        if got != {k: tuple(s) for k, s in expected_shapes.items()}:
            raise UserError(f"checkpoint {path} holds a different model (parameters {sorted(got)} with other shapes); "
                            "it does not match this config or dataset")
    for k, v in params.items():
        if not np.all(np.isfinite(v)):
            raise UserError(f"checkpoint {path} has non-finite values in {k}; use another checkpoint")
    return params, opt, meta
