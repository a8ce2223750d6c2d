"""The network as a PyTensor graph: Linear(F->H), `layers` GRU/LSTM layers, Linear(H->F).

Parameters are a plain ordered dict name -> float32 array (see `init_params`); nothing global.
Cells are Blocks' bricks (docs/recipe.md):
- GRU (GatedRecurrent, Cho et al. 2014): the layer's input map (Blocks' Fork) gives
  [x_z | x_r | x_c] = h_below @ W + b;  z, r = sigmoid(h @ Ug + [x_z | x_r]);
  h_new = z * tanh((r * h) @ U + x_c) + (1 - z) * h.  No biases inside the recurrent step.
- LSTM (Blocks' LSTM, peepholes): [a_i | a_f | a_g | a_o] = h @ U + h_below @ W + b;
  i = sigmoid(a_i + c * p_i); f = sigmoid(a_f + c * p_f); c_new = f * c + i * tanh(a_g);
  o = sigmoid(a_o + c_new * p_o); h_new = o * tanh(c_new). Forget bias: config.forget_bias.
Everything that does not depend on the previous state (each layer's input map for all steps)
is one matrix product outside `scan`; the scan step holds only the recurrent products
(`rnnsound.cells`, which also holds the hand-written backward pass).

Axes: a batch arrives as (batch, L, F). With recur_axis="time" it is transposed to (L, batch, F)
and the recurrence runs over the L frames (intended). With recur_axis="batch" it is not, so the
recurrence runs over the examples of the batch and the L frames act as the batch: the bug in the
blog's committed code (Blocks wants time-major input and her transpose was commented out).
"""
import collections

import numpy as np
import pytensor.tensor as pt

from . import cells, heads


def gate_count(cell):
    return 3 if cell == "gru" else 4


def state_names(cell, layers):
    """Names of the recurrent states carried between calls: h per layer (and c for LSTM)."""
    per = ("h",) if cell == "gru" else ("h", "c")
    return [f"l{i}_{s}" for i in range(layers) for s in per]


def param_shapes(F, cfg):
    """[(name, shape)] of the parameters, in the order they are drawn."""
    H = cfg.hidden
    shapes = [("in_W", (F, H)), ("in_b", (H,))]
    for i in range(cfg.layers):
        k = gate_count(cfg.cell)
        shapes += [(f"l{i}_W", (H, k * H)), (f"l{i}_b", (k * H,))]
        if cfg.cell == "gru":
            shapes += [(f"l{i}_Ug", (H, 2 * H)), (f"l{i}_U", (H, H))]
        else:
            shapes += [(f"l{i}_U", (H, 4 * H)), (f"l{i}_pi", (H,)), (f"l{i}_pf", (H,)), (f"l{i}_po", (H,))]
    width = heads.width(F, cfg)  # F for the blog's mse head
    return shapes + [("out_W", (H, width)), ("out_b", (width,))] + heads.extra_shapes(F, cfg)


def init_params(F, cfg, rng):
    """Uniform(-w/2, w/2) weights (blog: w = 0.08), zero biases, drawn in a fixed order."""
    H, w = cfg.hidden, cfg.init_width
    params = collections.OrderedDict()
    for name, shape in param_shapes(F, cfg):
        if name.endswith("_b"):
            params[name] = np.zeros(shape, np.float32)
        else:
            params[name] = rng.uniform(-w / 2, w / 2, size=shape).astype(np.float32)
    if cfg.cell == "lstm":
        for i in range(cfg.layers):
            params[f"l{i}_b"][H:2 * H] = cfg.forget_bias
    return params


def param_count(F, cfg):
    """The number of parameters, without drawing them."""
    return int(sum(np.prod(shape) for _, shape in param_shapes(F, cfg)))


def input_map(p, x):
    """(..., F) frames -> (..., H)."""
    return pt.dot(x, p["in_W"]) + p["in_b"]


def layer_input(p, i, h):
    """(..., H) input of recurrent layer i -> (..., kH), its gates' input map."""
    return pt.dot(h, p[f"l{i}_W"]) + p[f"l{i}_b"]


def output_map(p, h):
    """(..., H) top-layer states -> (..., O) head outputs, O = heads.width (the frame for mse)."""
    return pt.dot(h, p["out_W"]) + p["out_b"]


def recurrent_stack(p, xw, states, cell, layers, H):
    """xw (steps, width, kH) layer 0's gate input map -> top-layer states (steps, width, H), final states.

    `p` maps names to symbolic parameters; `states` maps state_names(...) to (width, H) tensors.
    H is a Python int: slices inside the step must be static for the JAX backend.
    """
    final, h = {}, None  # h: the layer below's states, read from the second layer on
    for i in range(layers):
        if i:
            xw = layer_input(p, i, h)                     # (steps, width, kH): hoisted out of scan
        if cell == "gru":
            h = cells.gru(xw, states[f"l{i}_h"], p[f"l{i}_Ug"], p[f"l{i}_U"], H)
        else:
            h, c = cells.lstm(xw, states[f"l{i}_h"], states[f"l{i}_c"], p[f"l{i}_U"],
                              p[f"l{i}_pi"], p[f"l{i}_pf"], p[f"l{i}_po"], H)
            final[f"l{i}_c"] = c[-1]
        final[f"l{i}_h"] = h[-1]
    return h, final


def folds_input_map(F, cell, H):
    """Whether a batch's frames go through Linear(F->H) and layer 0's Linear(H->kH) as one F x kH
    matrix (in_W @ l0_W): the same function (an affine map of an affine map), in fewer flops when F
    is small. Per frame, forward and backward: folded 2 F kH (x @ M, and M's gradient x^T @ d),
    unfolded 2 F H + 3 H kH (the two maps, in_W's gradient, and layer 0's input gradient and
    weight gradient). Folded below F = 512 for the LSTM and 576 for the GRU at H = 256."""
    k = gate_count(cell)
    return 2 * F * k * H < 2 * F * H + 3 * H * k * H


def first_layer_input(p, x, cfg):
    """(batch, L, F) frames -> (steps, width, kH) layer 0's gate input map, in the recurrence's layout.

    Folded (see folds_input_map): the frames are transposed (F-wide, narrower than the kH-wide
    result) and multiplied by in_W @ l0_W, formed once per call. Otherwise the H-wide input map is
    transposed and mapped (transposing F-wide frames would cost more at large F).
    """
    F = x.type.shape[-1]
    if F is not None and folds_input_map(F, cfg.cell, cfg.hidden):
        M = pt.dot(p["in_W"], p["l0_W"])                       # (F, kH)
        b = pt.dot(p["in_b"], p["l0_W"]) + p["l0_b"]           # (kH,)
        return pt.dot(to_recurrence_axis(x, cfg.recur_axis), M) + b
    return layer_input(p, 0, to_recurrence_axis(input_map(p, x), cfg.recur_axis))


def to_recurrence_axis(batch, recur_axis):
    """(batch, L, ...) <-> the (steps, width, ...) layout the scan walks over (see module doc)."""
    return batch.dimshuffle(1, 0, 2) if recur_axis == "time" else batch


def zero_states(cell, layers, width, H):
    return {n: pt.zeros((width, H), dtype="float32") for n in state_names(cell, layers)}


def predict_batch(p, x, cfg, states=None):
    """Symbolic (batch, L, F) -> (batch, L, O) head outputs (predictions for mse), final states.

    `states` default to zeros. x should have a static shape (x.type.shape) for the JAX backend.
    """
    xw = first_layer_input(p, x, cfg)                          # (steps, width, kH)
    if states is None:
        width = xw.type.shape[1] if xw.type.shape[1] is not None else xw.shape[1]
        states = zero_states(cfg.cell, cfg.layers, width, cfg.hidden)
    top, final = recurrent_stack(p, xw, states, cfg.cell, cfg.layers, cfg.hidden)
    return output_map(p, to_recurrence_axis(top, cfg.recur_axis)), final


def mse(pred, target):
    """Mean squared error over every sample of every predicted frame."""
    return pt.mean(pt.sqr(pred - target))


def step(p, frame, states, cfg):
    """One step of the whole network: frame (n, F) -> head outputs (n, O), new states.

    Used by generation, where each predicted frame is the next input.
    """
    h, new = recurrent_step(p, layer_input(p, 0, input_map(p, frame)), states, cfg)
    return output_map(p, h), new


def recurrent_step(p, xw, states, cfg):
    """One step of the recurrent layers from layer 0's input map xw (n, kH): top state (n, H), new
    states. Generation's window lanes all read the same frame, so they share one xw."""
    new, h = {}, None  # h: the layer below's state, read from the second layer on
    for i in range(cfg.layers):
        if i:
            xw = layer_input(p, i, h)
        if cfg.cell == "gru":
            h = cells._gru_step(cfg.hidden, xw, states[f"l{i}_h"], p[f"l{i}_Ug"], p[f"l{i}_U"])[0]
        else:
            h, new[f"l{i}_c"], _ = cells._lstm_step(cfg.hidden, xw, states[f"l{i}_h"], states[f"l{i}_c"], p[f"l{i}_U"],
                                                    p[f"l{i}_pi"], p[f"l{i}_pf"], p[f"l{i}_po"])
        new[f"l{i}_h"] = h
    return h, new
