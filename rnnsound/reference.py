"""A slow, obvious numpy implementation of the network, for tests and for checking the graph.

Same equations as `rnnsound.model` / `rnnsound.cells`, one step at a time in float64, with no
hoisting, no fused gates and no PyTensor: if both agree, the compiled graph computes the model
the docstrings describe.
"""
import numpy as np


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
