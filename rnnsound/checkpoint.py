"""Checkpoints as plain named arrays in HDF5: parameters, optimiser state, position, RNG.

Layout: group `params/` (one dataset per parameter), group `opt/` (optimiser state, names like
`in_W/ms`), attributes `step`, `epoch`, `batch` (next batch index within the epoch),
`epoch_sse`/`epoch_batches` (running train MSE sum of the current epoch), `best_dev`,
`rng_seed` (the data order of epoch e is a pure function of (rng_seed, e), so this is the whole
RNG state), plus `cell`, `hidden`, `layers`, `frame_size`. Written atomically; a file that does
not read back whole is reported as corrupted.
"""
import h5py
import numpy as np

from .atomic import atomic_path
from .errors import UserError


def save(path, params, opt_state, meta):
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for k, v in params.items():
            f.create_dataset(f"params/{k}", data=v)
        for k, v in opt_state.items():
            f.create_dataset(f"opt/{k}", data=v)
        for k, v in meta.items():
            f.attrs[k] = v


def read_meta(path):
    """The position attributes alone (step, epoch, ...), without reading the arrays."""
    try:
        with h5py.File(path, "r") as f:
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except OSError as e:
        raise UserError(f"checkpoint {path} is corrupted or not a checkpoint ({e}); use another one or start afresh")


def load(path, expected_shapes=None):
    """(params, opt_state, meta) from `path`; checks parameter names and shapes if given."""
    try:
        with h5py.File(path, "r") as f:
            params = {k: f[f"params/{k}"][()] for k in f["params"]}
            opt = {}
            if "opt" in f:
                f["opt"].visititems(lambda name, obj: opt.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
            meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except (OSError, KeyError) as e:
        raise UserError(f"checkpoint {path} is corrupted or not a checkpoint ({e}); use another one or start afresh")
    if expected_shapes is not None:
        got = {k: v.shape for k, v in params.items()}
        if got != {k: tuple(s) for k, s in expected_shapes.items()}:
            raise UserError(f"checkpoint {path} holds a different model (parameters {sorted(got)} with other shapes); "
                            "it does not match this config or dataset")
    for k, v in params.items():
        if not np.all(np.isfinite(v)):
            raise UserError(f"checkpoint {path} has non-finite values in {k}; use another checkpoint")
    return params, opt, meta
