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
- `evaluate(x, y, sigma)`: a batch's summed loss, squared error of the head's mean and NLL in
  bits (rnnsound.heads), chunked the same way.

Batches are (batch, L, F) float32 arrays; the loss is the output head's (rnnsound.heads) per
sample: the MSE over every sample of every frame for the blog's head.
"""
import math
from typing import NamedTuple

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import get_mode
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.tensor.elemwise import CAReduce

from . import graph, heads, optim
from .allocator import keep_freed_memory
from .runtime import use_float32

MODES = {"jax": "JAX", "c": "CVM", "numba": "NUMBA"}


@node_rewriter([CAReduce])
def float32_accumulation(fgraph, node):
    """PyTensor sums float32 in a float64 accumulator; JAX (without x64) truncates that astype to
    float32 with a warning per reduction, so the float64 is dropped before it reaches JAX. The
    numbers are unchanged (tested bit-identical): XLA accumulated in float32 either way."""
    op = node.op
    if getattr(op, "acc_dtype", None) == "float64" and node.inputs[0].dtype == "float32" == node.outputs[0].dtype:
        return [op.clone(acc_dtype="float32")(*node.inputs)]
    return None


def compile_mode(backend):
    """The PyTensor mode of a backend name (`TrainConfig.backend`)."""
    mode = get_mode(MODES[backend])
    return mode.register((in2out(float32_accumulation), 48.0)) if backend == "jax" else mode


FLOATS_PER_STEP = {"gru": 13, "lstm": 18}  # stored activations per example, step and layer, in units of H


def bytes_per_step(F, cfg, width):
    """Estimated bytes the gradient stores per recurrence step (4 MB at F=40, H=256, batch 128)."""
    H, O = cfg.hidden, heads.width(F, cfg)
    # frames and targets (3F), the head's outputs and their gradient (2 O), and the likelihood
    # heads' per-component or per-level intermediates (about as many again as their outputs)
    return (
        4 * width * (cfg.layers * FLOATS_PER_STEP[cfg.cell] * H + 3 * H + 3 * F + 2 * O + heads.intermediates(F, cfg))
    )


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


class StepResult(NamedTuple):
    """What one update reports, per sample of the batch, all measured before the update."""
    loss: float       # the output head's loss (the MSE for the blog's head)
    mse: float        # the MSE of the head's mean (the blog's metric, for every head)
    step_norm: float  # the optimiser step's norm before clipping


class Network:
    def __init__(self, F, L, cfg, params):
        use_float32()
        self.F, self.L, self.cfg = F, L, cfg
        self.head = heads.of(cfg)
        self.chunk = chunk_length(F, L, cfg)
        # a fused step reuses its freed scratch memory; chunked ones return it (rnnsound.allocator)
        keep_freed_memory(self.chunk >= L)
        self.mode = compile_mode(cfg.backend)
        self.shared = {
            k: pytensor.shared(np.asarray(v, np.float32), name=k, shape=np.shape(v)) for k, v in params.items()
        }
        self.opt = optim.make_state(self.shared, cfg)
        self.names = graph.state_names(cfg.cell, cfg.layers)
        self._fns = {}

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

    def _compile(self, inputs, outputs, updates=None, unused="raise"):
        return pytensor.function(inputs, outputs, updates=updates, mode=self.mode, trust_input=True,
                                 on_unused_input=unused)

    def _fused(self, shape):
        """(x, y, lr) -> [loss, (mse of the head's mean,) step norm], updating in place."""
        def build():
            x, y = self._batch_vars(shape)
            lr = pt.scalar("lr", dtype="float32")
            out = graph.predict_batch(self.shared, x, self.cfg)[0]
            loss = heads.loss(out, y, self.F, self.cfg, x, self.shared)
            grads = dict(zip(self.shared, pt.grad(loss, list(self.shared.values()))))
            ups, norm = optim.updates(self.shared, grads, self.opt, lr, self.cfg)
            extra = [] if self.head.loss_is_mse else [graph.mse(self._mean(out, x, y), y)]
            return self._compile([x, y, lr], [loss, *extra, norm], ups)
        return self._function(("fused", shape), build)

    def _mean(self, out, x, y):
        return heads.mean(out, self.F, self.cfg, x, y, self.shared)

    def _sums(self, out, x, y):
        """[loss sum, squared-error sum of the head's mean]: one term where they are equal (mse)."""
        loss = heads.loss_sum(out, y, self.F, self.cfg, x, self.shared)
        return [loss] if self.head.loss_is_mse else [loss, pt.sum(pt.sqr(self._mean(out, x, y) - y))]

    def _advance(self, shape):
        """(x, y, *states) -> [loss sum, (sse,) *final states]: a chunk's forward pass."""
        def build():
            x, y = self._batch_vars(shape)
            states = self._state_vars(shape)
            out, final = graph.predict_batch(self.shared, x, self.cfg, states)
            return self._compile([x, y, *states.values()], self._sums(out, x, y) + [final[n] for n in self.names])
        return self._function(("advance", shape), build)

    def _evaluate(self, shape):
        """(x, y, sigma, *states) -> [loss sum, sse, bits sum, *final states]: dev metrics of a chunk."""
        def build():
            x, y = self._batch_vars(shape)
            sigma = pt.scalar("sigma", dtype="float32")
            states = self._state_vars(shape)
            out, final = graph.predict_batch(self.shared, x, self.cfg, states)
            sums = self._sums(out, x, y)
            return self._compile([x, y, sigma, *states.values()],
                                 [sums[0], sums[-1], heads.bits_sum(out, y, self.F, self.cfg, sigma, x, self.shared)]
                                 + [final[n] for n in self.names], unused="ignore")  # sigma: mse only
        return self._function(("evaluate", shape), build)

    def _backprop(self, shape, count):
        """(x, y, *states, *d_final) -> [*d_params, *d_states] of loss sum/count + <final, d_final>."""
        def build():
            x, y = self._batch_vars(shape)
            states = self._state_vars(shape)
            d_final = {n: pt.matrix("d_" + n, dtype="float32", shape=(self._width(shape), self.cfg.hidden))
                       for n in self.names}
            out, final = graph.predict_batch(self.shared, x, self.cfg, states)
            cost = heads.loss_sum(out, y, self.F, self.cfg, x, self.shared) / np.float32(count) + \
                sum(pt.sum(final[n] * d_final[n]) for n in self.names)
            wrt = list(self.shared.values()) + list(states.values())
            return self._compile([x, y, *states.values(), *d_final.values()], pt.grad(cost, wrt))
        return self._function(("backprop", shape, count), build)

    def _apply(self):
        """(*grads, lr) -> update parameters and optimiser state."""
        def build():
            grads = {
                k: pt.tensor(k + "_grad", dtype="float32", shape=v.get_value().shape) for k, v in self.shared.items()
            }
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
        """One update on a batch (batch, L, F); returns its StepResult."""
        lr = np.asarray(lr, np.float32)
        if self.chunk >= x.shape[1]:
            out = [float(np.asarray(v)) for v in self._fused(x.shape)(x, y, lr)]
            return StepResult(out[0], out[1] if len(out) == 3 else out[0], out[-1])
        chunks = list(self._chunks(x, y))  # sliced once, used by both passes
        states, boundary, sums = self._zeros(x.shape), [], np.zeros(2)
        n_sums = 1 if self.head.loss_is_mse else 2
        for xc, yc in chunks:
            boundary.append(states)
            out = self._advance(xc.shape)(xc, yc, *states)
            sums += [float(np.asarray(out[0])), float(np.asarray(out[n_sums - 1]))]
            states = [np.asarray(s) for s in out[n_sums:]]
        count = x.size
        grads, d_states = None, self._zeros(x.shape)
        for (xc, yc), start in reversed(list(zip(chunks, boundary))):
            out = [np.asarray(g) for g in self._backprop(xc.shape, count)(xc, yc, *start, *d_states)]
            n = len(self.shared)
            grads = out[:n] if grads is None else [a + b for a, b in zip(grads, out[:n])]
            d_states = out[n:]
        return StepResult(sums[0] / count, sums[1] / count, float(np.asarray(self._apply()(*grads, lr))))

    def evaluate(self, x, y, sigma=1.0):
        """(loss sum, squared-error sum of the mean, NLL sum in bits) of a batch (batch, L, F), from
        zero states. `sigma` is the mse head's Gaussian scale for the bits (rnnsound.heads)."""
        states, totals = self._zeros(x.shape), np.zeros(3)
        sigma = np.asarray(sigma, np.float32)
        for xc, yc in self._chunks(x, y):
            out = self._evaluate(xc.shape)(xc, yc, sigma, *states)
            totals += [float(np.asarray(v)) for v in out[:3]]
            states = [np.asarray(s) for s in out[3:]]
        return tuple(totals)
