"""Reference predictors of the next frame, scored on the dev split: what a model must beat.

- zero: predict 0 (the data's mean square: the blog's starting MSE);
- last frame: predict that the next frame repeats the current one;
- linear: ridge regression on the train split from the current frame (an F x F map plus bias)
  when F <= LINEAR_FULL_MAX, else from the last LINEAR_TAIL samples of the current frame
  (a LINEAR_TAIL x F map), so the fit stays small at F = 40000. The ridge strength is chosen
  on the last 10% of the train examples (overlapping windows of a short song hold few distinct
  frames, and an unregularised F x F map overfits them), then the map is refitted on all of train.
All use the same frames the network sees, so the numbers are directly comparable.

- lpc_bits: a one-sample-ahead baseline for the heads that predict a sample from the true samples
  before it (`tier`; its dev MSE and bits are one sample ahead, not a frame): linear prediction of
  each target sample from the LPC_ORDER samples before it (least squares on up to LPC_FIT_EXAMPLES
  train examples), read as a Gaussian with the train residual's standard deviation, scored like the
  heads' `dev bits` (NLL of the 8-bit mu-law level of each dev target, in bits per sample).
"""
import numpy as np
import scipy.special

from .heads import level_edges, mulaw_encode

LPC_ORDER = 16            # samples of context; the tier head's default tier_context
LPC_FIT_EXAMPLES = 256    # train examples the predictor is fitted on, evenly spaced (17 coefficients)

LINEAR_FULL_MAX = 4000
LINEAR_TAIL = 1000


def _frames(dataset, indices=None, batch=256):
    """Yield (inputs, targets) of the examples at `indices` as (frames, F) float64 rows."""
    indices = np.arange(dataset.num_examples) if indices is None else indices
    for a in range(0, len(indices), batch):
        x, y = dataset.get(indices[a:a + batch])
        yield x.reshape(-1, x.shape[-1]).astype(np.float64), y.reshape(-1, y.shape[-1]).astype(np.float64)


def linear_inputs(x):
    """The features the linear baseline uses: whole frame, or its last LINEAR_TAIL samples; plus 1."""
    feats = x if x.shape[1] <= LINEAR_FULL_MAX else x[:, -LINEAR_TAIL:]
    return np.hstack([feats, np.ones((len(x), 1))])


def _normal_equations(dataset, indices):
    gram = cross = 0.0
    for x, y in _frames(dataset, indices):
        a = linear_inputs(x)
        gram, cross = gram + a.T @ a, cross + a.T @ y
    return gram, cross


def fit_linear(train):
    """Ridge map (features+1, F); the ridge strength picked on a held-out tail of train."""
    n = train.num_examples
    cut = int(n * 0.9)
    # Overlapping windows share frames: leave out the examples that overlap the held-out ones.
    # a plain Fuel file does not say how its windows overlap: assume every frame starts one (hop 1)
    gap = -(-(train.attrs["seq_len"] + 1) // train.attrs.get("hop", 1))
    held_out = cut - gap >= 1 and cut < n
    gram, cross = _normal_equations(train, np.arange(cut - gap if held_out else n))
    scale = np.trace(gram) / len(gram)
    if held_out:
        s, V = np.linalg.eigh(gram)
        rotated = V.T @ cross
        errors = {}
        for ridge in 10.0 ** np.arange(-6, 7):  # relative to the mean diagonal of the Gram matrix
            A = V @ (rotated / (s + ridge * scale)[:, None])
            errors[ridge] = sum(
                float(np.sum((y - linear_inputs(x) @ A) ** 2)) for x, y in _frames(train, np.arange(cut, n))
            )
        best = min(errors, key=errors.get)
        g2, c2 = _normal_equations(train, np.arange(cut - gap, n))
        gram, cross = gram + g2, cross + c2
    else:
        best = 1e-3
    return np.linalg.solve(gram + best * scale * np.eye(len(gram)), cross)


def evaluate(train, dev):
    """{'zero': mse, 'last_frame': mse, 'linear': mse, 'linear_inputs': str} on the dev split."""
    A = fit_linear(train)
    sums = {"zero": 0.0, "last_frame": 0.0, "linear": 0.0}
    count = 0
    for x, y in _frames(dev):
        sums["zero"] += float(np.sum(y ** 2))
        sums["last_frame"] += float(np.sum((y - x) ** 2))
        sums["linear"] += float(np.sum((y - linear_inputs(x) @ A) ** 2))
        count += y.size
    out = {k: v / count for k, v in sums.items()}
    out["lpc_bits"] = lpc_bits(train, dev)
    F = train.attrs["frame_size"]
    out["linear_inputs"] = f"whole frame ({F} samples)" if F <= LINEAR_FULL_MAX else f"last {LINEAR_TAIL} samples"
    return out


def _lpc_rows(dataset, indices, order, batch):
    """Yield (context (n, order), target (n,)) for every target sample of the examples at `indices`:
    an example's inputs and targets are one window shifted by a frame, so the samples before
    target j are the window's (zeros before its start)."""
    for a in range(0, len(indices), batch):
        x, y = dataset.get(indices[a:a + batch])
        F = x.shape[-1]
        song = np.concatenate([np.zeros((len(x), order)), x[:, 0, :], y.reshape(len(y), -1)], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(song, order + 1, axis=1)[:, F:]   # (b, L F, order + 1)
        rows = windows.reshape(-1, order + 1).astype(np.float64)
        yield rows[:, :order], rows[:, order]


def lpc_bits(train, dev, order=LPC_ORDER, batch=8):
    """Dev bits per sample of the one-sample-ahead linear predictor (module doc)."""
    fit = np.unique(np.linspace(0, train.num_examples - 1, min(train.num_examples, LPC_FIT_EXAMPLES)).astype(int))
    gram = cross = 0.0
    for c, t in _lpc_rows(train, fit, order, batch):
        a = np.hstack([c, np.ones((len(c), 1))])
        gram, cross = gram + a.T @ a, cross + a.T @ t
    coef = np.linalg.solve(gram + 1e-9 * np.trace(gram) / len(gram) * np.eye(len(gram)), cross)
    sq, n = 0.0, 0
    for c, t in _lpc_rows(train, fit, order, batch):
        sq, n = sq + float(np.sum((t - c @ coef[:-1] - coef[-1]) ** 2)), n + len(t)
    sigma = max(np.sqrt(sq / n), 1e-6)
    edges, bits, count = level_edges(), 0.0, 0
    for c, t in _lpc_rows(dev, np.arange(dev.num_examples), order, batch):
        mean, q = c @ coef[:-1] + coef[-1], mulaw_encode(t)
        p = scipy.special.ndtr((edges[q + 1] - mean) / sigma) - scipy.special.ndtr((edges[q] - mean) / sigma)
        bits, count = bits - float(np.sum(np.log2(np.maximum(p, 1e-30)))), count + len(t)
    return bits / count
