"""Recurrent layers as PyTensor ops with a hand-written backward pass (BPTT).

PyTensor's automatic gradient of a `scan` accumulates each weight gradient inside the backward
loop: four small matrix products per step, several times the forward pass's time
(benchmarks/profile_step.py). These layers
compute the same exact gradient with the weight gradients hoisted out of the loop as one large
product over all (steps x batch) rows, leaving in the loop only the products that carry the
gradient to the previous state (as many as the forward step has). The forward scan also emits
the gate activations so the backward pass needs no recomputation.

Each layer is an inlined `OpFromGraph` whose `pullback` is the hand-written backward, so the
rest of the network (linear maps, loss) keeps PyTensor's automatic gradient. A new op is built
per use: one shared between functions compiled in different modes is rewritten in place by each. Tests compare the
result with PyTensor's own scan gradient and with finite differences.

Shapes: xw (steps, batch, kH) = the layer's input map for all steps, h0/c0 (batch, H),
Ug (H, 2H), U (H, H) for the GRU; U (H, 4H) and peepholes (H,) for the LSTM.
"""
import functools

import pytensor
import pytensor.tensor as pt
from pytensor.compile.builders import OpFromGraph
from pytensor.gradient import DisconnectedType


def _scan(fn, sequences, outputs_info, non_sequences, reverse=False):
    if reverse:
        sequences = [s[::-1] for s in sequences]
    return pytensor.scan(fn, sequences=sequences, outputs_info=outputs_info,
                         non_sequences=non_sequences, strict=True, return_updates=False)


def _dense(cotangent, like):
    """A disconnected output's cotangent is zero."""
    return pt.zeros_like(like) if isinstance(cotangent.type, DisconnectedType) else cotangent


def _previous(first, seq):
    """(steps, batch, H) states before each step: first, seq[0], ..., seq[-2]."""
    return pt.concatenate([first[None], seq[:-1]], axis=0)


def _flat(x, width):
    """(steps, batch, width) -> (steps * batch, width); width a Python int (static for JAX)."""
    return x.reshape((-1, width))


# --- GRU ------------------------------------------------------------------------------------

def _gru_step(H, xw, h, Ug, U):
    g = pt.sigmoid(pt.dot(h, Ug) + xw[:, :2 * H])         # (batch, 2H): update z | reset r
    c = pt.tanh(pt.dot(g[:, H:] * h, U) + xw[:, 2 * H:])  # (batch, H): candidate
    z = g[:, :H]
    return z * c + (1 - z) * h, g, c


def _gru_back_step(dh_out, dc_factor, dz_factor, dr_factor, keep, r, dh_next, UgzT, UgrT, UT):
    """One step back; the *_factor sequences are the step's gate derivatives, computed beforehand."""
    dh = dh_out + dh_next
    dpre_c = dh * dc_factor
    drh = pt.dot(dpre_c, UT)
    dpre_z, dpre_r = dh * dz_factor, drh * dr_factor
    dh_prev = dh * keep + drh * r + pt.dot(dpre_z, UgzT) + pt.dot(dpre_r, UgrT)
    return dpre_z, dpre_r, dpre_c, dh_prev


def _gru_pullback(H, inputs, outputs, cotangents):
    xw, h0, Ug, U = inputs
    hs, gs, cs = outputs
    dhs = _dense(cotangents[0], hs)
    h_prev = _previous(h0, hs)
    z, r = gs[:, :, :H], gs[:, :, H:]
    # Everything in the step that does not depend on the incoming gradient, for all steps at once.
    factors = [z * (1 - cs * cs), (cs - h_prev) * z * (1 - z), h_prev * r * (1 - r), 1 - z, r]
    dpre_z, dpre_r, dpre_c, dh_prev = _scan(_gru_back_step, [dhs, *factors], [None, None, None, pt.zeros_like(h0)],
                                            [Ug[:, :H].T, Ug[:, H:].T, U.T], reverse=True)
    dpre_g = pt.concatenate([dpre_z[::-1], dpre_r[::-1]], axis=2)
    dpre_c = dpre_c[::-1]
    rh = r * h_prev
    return [pt.concatenate([dpre_g, dpre_c], axis=2), dh_prev[-1],
            pt.dot(_flat(h_prev, H).T, _flat(dpre_g, 2 * H)), pt.dot(_flat(rh, H).T, _flat(dpre_c, H))]


def _inner(outer):
    """Inner inputs of an op with the outer inputs' types (static shapes included)."""
    return [pt.as_tensor_variable(v).type() for v in outer]


def _gru_op(H, outer):
    xw, h0, Ug, U = _inner(outer)
    hs, gs, cs = _scan(functools.partial(_gru_step, H), [xw], [h0, None, None], [Ug, U])
    return OpFromGraph([xw, h0, Ug, U], [hs, gs, cs], inline=True, name=f"gru{H}",
                       pullback=functools.partial(_gru_pullback, H))


def gru(xw, h0, Ug, U, H):
    """Blocks' GatedRecurrent over all steps: (steps, batch, H) states."""
    return _gru_op(H, [xw, h0, Ug, U])(xw, h0, Ug, U)[0]


# --- LSTM -----------------------------------------------------------------------------------

def _lstm_step(H, xw, h, c, U, pi, pf, po):
    a = pt.dot(h, U) + xw                                  # (batch, 4H): in | forget | cell | out
    i = pt.sigmoid(a[:, :H] + c * pi)
    f = pt.sigmoid(a[:, H:2 * H] + c * pf)
    g = pt.tanh(a[:, 2 * H:3 * H])
    c_new = f * c + i * g
    o = pt.sigmoid(a[:, 3 * H:] + c_new * po)
    return o * pt.tanh(c_new), c_new, pt.concatenate([i, f, g, o], axis=1)


def _lstm_back_step(dh_out, dc_out, o_factor, c_factor, i_factor, f_factor, g_factor, f, dh_next, dc_next,
                    UT, pi, pf, po):
    """One step back; the *_factor sequences are the step's gate derivatives, computed beforehand."""
    dh = dh_out + dh_next
    dpre_o = dh * o_factor
    dc = dc_out + dc_next + dh * c_factor + dpre_o * po
    dpre_i, dpre_f = dc * i_factor, dc * f_factor
    dpre = pt.concatenate([dpre_i, dpre_f, dc * g_factor, dpre_o], axis=1)
    return dpre, pt.dot(dpre, UT), dc * f + dpre_i * pi + dpre_f * pf


def _lstm_pullback(H, inputs, outputs, cotangents):
    xw, h0, c0, U, pi, pf, po = inputs
    hs, cs, gates = outputs
    dhs, dcs = _dense(cotangents[0], hs), _dense(cotangents[1], cs)
    h_prev, c_prev = _previous(h0, hs), _previous(c0, cs)
    i, f, g, o = (gates[:, :, k * H:(k + 1) * H] for k in range(4))
    tc = pt.tanh(cs)
    # Everything in the step that does not depend on the incoming gradient, for all steps at once.
    factors = [tc * o * (1 - o), o * (1 - tc * tc), g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), f]
    dpre, dh_prev, dc_prev = _scan(_lstm_back_step, [dhs, dcs, *factors],
                                   [None, pt.zeros_like(h0), pt.zeros_like(c0)], [U.T, pi, pf, po], reverse=True)
    dpre = dpre[::-1]
    return [dpre, dh_prev[-1], dc_prev[-1], pt.dot(_flat(h_prev, H).T, _flat(dpre, 4 * H)),
            pt.sum(dpre[:, :, :H] * c_prev, axis=(0, 1)), pt.sum(dpre[:, :, H:2 * H] * c_prev, axis=(0, 1)),
            pt.sum(dpre[:, :, 3 * H:] * cs, axis=(0, 1))]


def _lstm_op(H, outer):
    xw, h0, c0, U, pi, pf, po = _inner(outer)
    hs, cs, gates = _scan(functools.partial(_lstm_step, H), [xw], [h0, c0, None], [U, pi, pf, po])
    return OpFromGraph([xw, h0, c0, U, pi, pf, po], [hs, cs, gates], inline=True, name=f"lstm{H}",
                       pullback=functools.partial(_lstm_pullback, H))


def lstm(xw, h0, c0, U, pi, pf, po, H):
    """Blocks' LSTM (with peepholes) over all steps: (steps, batch, H) states and cells."""
    hs, cs, _ = _lstm_op(H, [xw, h0, c0, U, pi, pf, po])(xw, h0, c0, U, pi, pf, po)
    return hs, cs
