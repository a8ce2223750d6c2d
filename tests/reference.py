"""A slow, obvious numpy implementation of the network, for tests and for checking the graph.

Same equations as `rnnsound.graph` / `rnnsound.cells`, one step at a time in float64, with no
hoisting, no fused gates and no PyTensor: if both agree, the compiled graph computes the model
the docstrings describe.
"""
import numpy as np
from scipy.special import ndtr

from rnnsound.heads import LEVELS, MIN_SCALE, PROB_FLOOR, level_edges, mulaw_decode, mulaw_encode


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def gru_step(x_in, h, W, b, Ug, U):
    """One Blocks GatedRecurrent step; x_in (batch, H_below), h (batch, H)."""
    H = h.shape[1]
    xw = x_in @ W + b
    z = sigmoid(h @ Ug[:, :H] + xw[:, :H])
    r = sigmoid(h @ Ug[:, H:] + xw[:, H:2 * H])
    cand = np.tanh((r * h) @ U + xw[:, 2 * H:])
    return z * cand + (1 - z) * h


def lstm_step(x_in, h, c, W, b, U, pi, pf, po):
    """One Blocks LSTM step (peepholes); returns (h, c)."""
    H = h.shape[1]
    a = x_in @ W + b + h @ U
    i = sigmoid(a[:, :H] + c * pi)
    f = sigmoid(a[:, H:2 * H] + c * pf)
    c = f * c + i * np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:] + c * po)
    return o * np.tanh(c), c


def predict(params, x, cell, layers, recur_axis="time", states=None):
    """x (batch, L, F) -> predictions (batch, L, F) and final states {name: (width, H)}."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    seq = np.asarray(x, np.float64)
    if recur_axis == "time":
        seq = seq.transpose(1, 0, 2)   # (L, batch, F): step over frames
    H = p["in_b"].shape[0]
    states = {k: np.asarray(v, np.float64) for k, v in (states or {}).items()}
    outputs = []
    for t in range(seq.shape[0]):
        h_below = seq[t] @ p["in_W"] + p["in_b"]
        for i in range(layers):
            h = states.get(f"l{i}_h", np.zeros((seq.shape[1], H)))
            if cell == "gru":
                h = gru_step(h_below, h, p[f"l{i}_W"], p[f"l{i}_b"], p[f"l{i}_Ug"], p[f"l{i}_U"])
            else:
                c = states.get(f"l{i}_c", np.zeros((seq.shape[1], H)))
                h, c = lstm_step(h_below, h, c, p[f"l{i}_W"], p[f"l{i}_b"], p[f"l{i}_U"],
                                 p[f"l{i}_pi"], p[f"l{i}_pf"], p[f"l{i}_po"])
                states[f"l{i}_c"] = c
            states[f"l{i}_h"] = h
            h_below = h
        outputs.append(h_below @ p["out_W"] + p["out_b"])
    out = np.stack(outputs)
    return (out.transpose(1, 0, 2) if recur_axis == "time" else out), states


def mse(params, x, y, cell, layers, recur_axis="time"):
    return float(np.mean((predict(params, x, cell, layers, recur_axis)[0] - y) ** 2))


# --- output heads (rnnsound.heads), float64, one formula per line -------------------------------

def _gmm(o, F, K):
    """o (n, K(1+2F)) -> weight logits (n, K), means (n, K, F), scales (n, K, F)."""
    raw = o[:, K + K * F:].reshape(-1, K, F)
    return o[:, :K], o[:, K:K + K * F].reshape(-1, K, F), MIN_SCALE + np.logaddexp(0.0, raw)


def _log_softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    return a - np.log(np.exp(a).sum(axis=-1, keepdims=True))


def _interval(lo, hi, mu, scale):
    """P(lo <= X < hi), X ~ N(mu, scale^2), from the nearer tail (1 - cdf would cancel to 0)."""
    a, b = (lo - mu) / scale, (hi - mu) / scale
    return np.where(a + b > 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))


def head_loss(o, y, F, output, K=1):
    """Summed loss over every sample: squared error (mse) or nats (gmm over frames, mulaw per sample)."""
    o, y = np.asarray(o, np.float64).reshape(len(y.reshape(-1, F)), -1), np.asarray(y, np.float64).reshape(-1, F)
    if output == "mse":
        return float(np.sum((o - y) ** 2))
    if output == "gmm":
        logits, mu, scale = _gmm(o, F, K)
        log_comp = np.sum(-0.5 * ((y[:, None] - mu) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi), axis=2)
        a = _log_softmax(logits) + log_comp
        return float(-np.sum(a.max(1) + np.log(np.exp(a - a.max(1, keepdims=True)).sum(1))))
    logp = _log_softmax(o.reshape(-1, F, LEVELS))
    q = mulaw_encode(y)
    return float(-np.sum(np.take_along_axis(logp, q[..., None], axis=2)))


def head_mean(o, F, output, K=1):
    o = np.asarray(o, np.float64)
    if output == "mse":
        return o
    if output == "gmm":
        logits, mu, _ = _gmm(o, F, K)
        return np.sum(np.exp(_log_softmax(logits))[:, :, None] * mu, axis=1)
    return np.exp(_log_softmax(o.reshape(-1, F, LEVELS))) @ mulaw_decode(np.arange(LEVELS))


def head_bits(o, y, F, output, K=1, sigma=1.0):
    """Summed NLL in bits of the mu-law levels of y under the head's distribution."""
    o, y = np.asarray(o, np.float64), np.asarray(y, np.float64).reshape(-1, F)
    q = mulaw_encode(y)
    lo, hi = level_edges()[q], level_edges()[q + 1]
    if output == "mse":
        p = _interval(lo, hi, o, sigma)
        return float(-np.sum(np.log(np.maximum(p, PROB_FLOOR))) / np.log(2))
    if output == "gmm":
        logits, mu, scale = _gmm(o, F, K)
        p = _interval(lo[:, None], hi[:, None], mu, scale)
        a = _log_softmax(logits) + np.sum(np.log(np.maximum(p, PROB_FLOOR)), axis=2)
        return float(-np.sum(a.max(1) + np.log(np.exp(a - a.max(1, keepdims=True)).sum(1))) / np.log(2))
    return head_loss(o, y, F, output) / np.log(2)


def head_sample(o, noise, F, output, K=1, temperature=1.0, sigma=0.0):
    """Frames (n, F) drawn with the given noise (n, NW), as rnnsound.heads.sample: inverse CDFs."""
    o, noise = np.asarray(o, np.float64), np.asarray(noise, np.float64)
    if temperature == 0:
        return head_mean(o, F, output, K)
    if output == "mse":
        return o + temperature * sigma * noise
    if output == "gmm":
        logits, mu, scale = _gmm(o, F, K)
        cdf = np.cumsum(np.exp(_log_softmax(logits / temperature)), axis=1)
        k = np.minimum(np.sum(cdf < noise[:, :1], axis=1), K - 1)
        rows = np.arange(len(o))
        return mu[rows, k] + temperature * scale[rows, k] * noise[:, 1:]
    cdf = np.cumsum(np.exp(_log_softmax(o.reshape(-1, F, LEVELS) / temperature)), axis=2)
    return mulaw_decode(np.minimum(np.sum(cdf < noise[:, :, None], axis=2), LEVELS - 1))


# --- the tier head: SampleRNN's sample-level MLP, one sample at a time -----------------------------

def _companded(v):
    return mulaw_encode(v) * 2.0 / (LEVELS - 1) - 1.0


def _tier_logits(p, cond, prev):
    """cond (D,) and prev (k,) companded samples, oldest first -> (256,) logits."""
    a = np.maximum(prev @ p["tier_prev"] + cond, 0.0)
    a = np.maximum(a @ p["tier_W"] + p["tier_b"], 0.0)
    return a @ p["tier_out_W"] + p["tier_out_b"]


def tier_forced_logits(o, x, y, p, F, k):
    """(n, F, 256): every sample's logits given the true samples before it (x's end, then y's)."""
    o, x, y = (np.asarray(a, np.float64).reshape(-1, n) for a, n in ((o, o.shape[-1]), (x, F), (y, F)))
    p = {name: np.asarray(v, np.float64) for name, v in p.items()}
    D = o.shape[1] // F
    out = np.zeros((len(y), F, LEVELS))
    for r in range(len(y)):
        signal = _companded(np.concatenate([x[r], y[r]]))
        for j in range(F):
            out[r, j] = _tier_logits(p, o[r, j * D:(j + 1) * D], signal[F + j - k:F + j])
    return out


def tier_loss(o, x, y, p, F, k):
    """Summed nats of y's mu-law levels under the teacher-forced softmaxes."""
    logp = _log_softmax(tier_forced_logits(o, x, y, p, F, k))
    q = mulaw_encode(np.asarray(y, np.float64).reshape(-1, F))
    return float(-np.sum(np.take_along_axis(logp, q[..., None], axis=2)))


def tier_mean(o, x, y, p, F, k):
    return np.exp(_log_softmax(tier_forced_logits(o, x, y, p, F, k))) @ mulaw_decode(np.arange(LEVELS))


def tier_sample(o, noise, x, p, F, k, temperature):
    """Frames (n, F) drawn sample by sample: each sample's softmax reads the k samples before it."""
    o, x = np.asarray(o, np.float64), np.asarray(x, np.float64)
    p = {name: np.asarray(v, np.float64) for name, v in p.items()}
    D = o.shape[1] // F
    levels = mulaw_decode(np.arange(LEVELS))
    out = np.zeros((len(o), F))
    for r in range(len(o)):
        prev = list(_companded(x[r, F - k:]))
        for j in range(F):
            logits = _tier_logits(p, o[r, j * D:(j + 1) * D], np.array(prev[-k:]))
            if temperature == 0:
                value = np.exp(_log_softmax(logits)) @ levels
            else:
                cdf = np.cumsum(np.exp(_log_softmax(logits / temperature)))
                value = levels[min(int(np.sum(cdf < noise[r, j])), LEVELS - 1)]
            out[r, j] = value
            prev.append(_companded(value))
    return out
