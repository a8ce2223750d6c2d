"""Compiled training and evaluation functions for one model, with its parameters and optimiser state.

`Network` owns the parameters and optimiser state as PyTensor shared variables and compiles,
once per input shape (the JAX backend needs static shapes; a split's last partial batch is a
second shape), the functions it needs:

- `train_step(x, y, lr)`: forward, gradient and update in one compiled call, when a whole
  example's stored activations fit in `memory_gb`;
- otherwise the same exact gradient in chunks of `chunk` frames: a forward pass over the chunks
  keeps only the states at chunk boundaries, then each chunk, last first, is recomputed and
  back-propagated with the gradient flowing into its final states from the chunk after it
  (gradient checkpointing at chunk boundaries: ~1/3 more compute, memory of one chunk);
- `sse(x, y)`: the summed squared error of a batch, chunked the same way.

Batches are (batch, L, F) float32 arrays; the loss is the MSE over every sample of every frame.
"""
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import get_mode

from . import model, optim

MODES = {"jax": "JAX", "c": "CVM", "numba": "NUMBA"}
FLOATS_PER_STEP = {"gru": 13, "lstm": 18}  # stored activations per example, step and layer, in units of H


def bytes_per_step(F, cfg, width):
    """Estimated bytes the gradient stores per recurrence step (4 MB at F=40, H=256, batch 128)."""
    H = cfg.hidden
    return 4 * width * (cfg.layers * FLOATS_PER_STEP[cfg.cell] * H + 3 * H + 5 * F)


def chunk_length(F, L, cfg):
    """Frames per backprop chunk: all L when they fit in cfg.memory_gb, else the most that fit."""
    if cfg.recur_axis == "batch":
        return L  # the recurrence runs over the batch (at most batch_size steps): never chunked
    if cfg.bptt_chunk:
        return min(cfg.bptt_chunk, L)
    fit = int(cfg.memory_gb * 1e9 // bytes_per_step(F, cfg, cfg.batch_size))
    if fit >= L:
        return L
    n = math.ceil(L / max(1, fit))
    return math.ceil(L / n)  # equal chunks, the last no longer than the others


class Network:
    def __init__(self, F, L, cfg, params):
        self.F, self.L, self.cfg = F, L, cfg
        self.chunk = chunk_length(F, L, cfg)
        self.mode = get_mode(MODES[cfg.backend])
        self.shared = {k: pytensor.shared(np.asarray(v, np.float32), name=k, shape=np.shape(v)) for k, v in params.items()}
        self.opt = optim.make_state(self.shared, cfg)
        self.names = model.state_names(cfg.cell, cfg.layers)
        self._fns = {}
        self.last_step_norm = float("nan")  # the last update's norm before step clipping

    # --- parameters and state, as plain arrays -----------------------------------------------
    def params(self):
        return {k: np.asarray(v.get_value()) for k, v in self.shared.items()}

    def opt_state(self):
        return {k: np.asarray(v.get_value()) for k, v in self.opt.items()}

    def load(self, params, opt_state=None):
        for k, v in params.items():
            self.shared[k].set_value(np.asarray(v, np.float32))
        for k, v in (opt_state or {}).items():
            self.opt[k].set_value(np.asarray(v, np.float32))

    # --- compiled functions --------------------------------------------------------------------
    def _function(self, key, build):
        if key not in self._fns:
            self._fns[key] = build()
        return self._fns[key]

    def _batch_vars(self, shape):
        return (pt.tensor3("x", dtype="float32", shape=shape), pt.tensor3("y", dtype="float32", shape=shape))

    def _width(self, shape):
        """Examples the recurrence runs side by side: the batch, or L under the committed bug."""
        return shape[0] if self.cfg.recur_axis == "time" else shape[1]

    def _state_vars(self, shape):
        return {n: pt.matrix(n, dtype="float32", shape=(self._width(shape), self.cfg.hidden)) for n in self.names}

    def _compile(self, inputs, outputs, updates=None):
        return pytensor.function(inputs, outputs, updates=updates, mode=self.mode, trust_input=True)

    def _fused(self, shape):
        def build():
            x, y = self._batch_vars(shape)
            lr = pt.scalar("lr", dtype="float32")
            loss = model.mse(model.predict_batch(self.shared, x, self.cfg)[0], y)
            grads = dict(zip(self.shared, pt.grad(loss, list(self.shared.values()))))
            ups, norm = optim.updates(self.shared, grads, self.opt, lr, self.cfg)
            return self._compile([x, y, lr], [loss, norm], ups)
        return self._function(("fused", shape), build)

    def _advance(self, shape):
        """(x, y, *states) -> [sse, *final states]: a chunk's forward pass."""
        def build():
            x, y = self._batch_vars(shape)
            states = self._state_vars(shape)
            pred, final = model.predict_batch(self.shared, x, self.cfg, states)
            return self._compile([x, y, *states.values()], [pt.sum(pt.sqr(pred - y))] + [final[n] for n in self.names])
        return self._function(("advance", shape), build)

    def _backprop(self, shape, count):
        """(x, y, *states, *d_final) -> [*d_params, *d_states] of sse/count + <final, d_final>."""
        def build():
            x, y = self._batch_vars(shape)
            states = self._state_vars(shape)
            d_final = {n: pt.matrix("d_" + n, dtype="float32", shape=(self._width(shape), self.cfg.hidden))
                       for n in self.names}
            pred, final = model.predict_batch(self.shared, x, self.cfg, states)
            cost = pt.sum(pt.sqr(pred - y)) / np.float32(count) + sum(pt.sum(final[n] * d_final[n]) for n in self.names)
            wrt = list(self.shared.values()) + list(states.values())
            return self._compile([x, y, *states.values(), *d_final.values()], pt.grad(cost, wrt))
        return self._function(("backprop", shape, count), build)

    def _apply(self):
        """(*grads, lr) -> update parameters and optimiser state."""
        def build():
            grads = {k: pt.tensor(k + "_grad", dtype="float32", shape=v.get_value().shape) for k, v in self.shared.items()}
            lr = pt.scalar("lr", dtype="float32")
            ups, norm = optim.updates(self.shared, grads, self.opt, lr, self.cfg)
            return self._compile([*grads.values(), lr], norm, ups)
        return self._function(("apply",), build)

    # --- public calls ----------------------------------------------------------------------------
    def _chunks(self, x, y):
        for a in range(0, x.shape[1], self.chunk):
            yield np.ascontiguousarray(x[:, a:a + self.chunk]), np.ascontiguousarray(y[:, a:a + self.chunk])

    def _zeros(self, shape):
        return [np.zeros((self._width(shape), self.cfg.hidden), np.float32) for _ in self.names]

    def train_step(self, x, y, lr):
        """One update on a batch (batch, L, F); returns the batch's MSE before the update.

        Sets `last_step_norm`: the optimiser step's norm before clipping."""
        lr = np.asarray(lr, np.float32)
        if self.chunk >= x.shape[1]:
            loss, norm = self._fused(x.shape)(x, y, lr)
            self.last_step_norm = float(np.asarray(norm))
            return float(np.asarray(loss))
        chunks = list(self._chunks(x, y))  # sliced once, used by both passes
        states, boundary, sse = self._zeros(x.shape), [], 0.0
        for xc, yc in chunks:
            boundary.append(states)
            out = self._advance(xc.shape)(xc, yc, *states)
            sse += float(np.asarray(out[0]))
            states = [np.asarray(s) for s in out[1:]]
        count = x.size
        grads, d_states = None, self._zeros(x.shape)
        for (xc, yc), start in reversed(list(zip(chunks, boundary))):
            out = [np.asarray(g) for g in self._backprop(xc.shape, count)(xc, yc, *start, *d_states)]
            n = len(self.shared)
            grads = out[:n] if grads is None else [a + b for a, b in zip(grads, out[:n])]
            d_states = out[n:]
        self.last_step_norm = float(np.asarray(self._apply()(*grads, lr)))
        return sse / count

    def sse(self, x, y):
        """Summed squared error of a batch (batch, L, F), from zero states."""
        states, total = self._zeros(x.shape), 0.0
        for xc, yc in self._chunks(x, y):
            out = self._advance(xc.shape)(xc, yc, *states)
            total += float(np.asarray(out[0]))
            states = [np.asarray(s) for s in out[1:]]
        return total
