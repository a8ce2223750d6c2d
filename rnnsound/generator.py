"""The generation graph: a trained network's three ways of making new frames, each one compiled scan.

The seed is an example of L frames from the song. Every mode starts the same way: the network
reads the seed from zero states, and its prediction for the frame after the seed is the first
generated frame. Then:

- `blog`: as the post describes it: the network's whole predicted sequence (L frames) becomes the
  next input sequence, read again from zero states; the last frame of each prediction is
  output. (Her committed script also rebuilt an untrained network, swapped min and max when
  rescaling, and wrote every predicted frame: bugs 2-4, not reproduced here.)
- `window`: a sliding window: the last L frames (seed, then generated) are read from zero
  states; the predicted last frame is appended and the oldest dropped (what classmates did).
- `stateful`: the recurrent state is carried: after reading the seed, each predicted frame is
  the next input to the same running network (the fix that removed ticks at chunk boundaries).
  It always recurs over frames, also for a model trained with the committed-axis bug.

Blog and window mode read L windows side by side ("lanes") when the clip has at least L frames
(uses_lanes): one batch of L rows per step instead of one row, the same frames.

Frames are normalised (the dataset's scale); rnnsound.generate turns them into files.
"""
import dataclasses
import functools

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable

from . import graph, heads
from .compiled import compile_mode
from .runtime import use_float32

GENERATION_MODES = ("blog", "window", "stateful")


def default_temperature(cfg):
    """0 (the mean: the blog's deterministic generation) for mse; 1 (the head's distribution) otherwise."""
    return heads.of(cfg).default_temperature


class Draws:
    """How every mode turns head outputs into frames and loops over steps: the parameters `p`, the
    head (`cfg`, `temperature`, `sigma`) and the shapes of one compiled call (N clips, L, F)."""

    def __init__(self, p, cfg, F, L, N, temperature, sigma, linker_mode):
        self.p, self.cfg, self.F, self.L, self.N = p, cfg, F, L, N
        self.temperature, self.sigma, self.linker_mode = temperature, sigma, linker_mode
        self.sampled, self.nw = temperature > 0, heads.noise_width(F, cfg)

    def frames(self, out, z, x):
        """(n, O) head outputs, (n, NW) noise (None at temperature 0) and (n, F) the frames the
        outputs were read from -> (n, F) frames."""
        return heads.sample(out, z, self.F, self.cfg, self.temperature, self.sigma, x, self.p, self.linker_mode)

    def windows(self, out, z, x):
        """(N, L, O) head outputs, (N, L, NW) noise and (N, L, F) input windows -> (N, L, F): every
        frame of every window."""
        N, L, F = self.N, self.L, self.F
        frames = self.frames(out.reshape((N * L, -1)), None if z is None else z.reshape((N * L, self.nw)),
                             x.reshape((N * L, F)))
        return frames.reshape((N, L, F))

    def loop(self, step, sequences, outputs_info, n_steps, z=None):
        """scan over `sequences` and, when sampling, the noise `z` (one slice per step); `step`
        takes that slice first (None at temperature 0)."""
        if not self.sampled:
            step = functools.partial(step, None)
        return pytensor.scan(step, sequences=([z] if self.sampled else []) + sequences, outputs_info=outputs_info,
                             n_steps=n_steps, return_updates=False, mode=self.linker_mode)


def compile_generator(params, cfg, F, L, n_frames, mode, temperature=0.0, sigma=0.0, count=None, lanes=None):
    """A compiled function for one mode: seed (L, F) -> (n_frames, F) generated frames; with
    `count` N, N clips side by side in one call: seeds (N, L, F) -> (N, n_frames, F).

    `params`: arrays, or shared variables (a training network's: each call reads their values then).
    At temperature 0 each frame is the head's mean (rnnsound.heads). Above it, frames are drawn
    from the head and the function takes a second argument, the draws' noise: (n_frames, NW) for
    stateful and window, (n_frames, L, NW) for blog, whose every step samples a whole window
    (NW = heads.noise_width); with `count`, (n_frames, N, ...). `sigma` is the mse head's scale.
    The clips of a batch are independent, except under the committed-code bug (recur_axis=batch),
    whose recurrence runs across the examples of a batch: `generate` makes those one at a time.

    `lanes` (default: uses_lanes) reads blog and window mode's L-frame windows side by side
    (_blog_lanes, _window_lanes): the same frames up to float rounding, faster at L=100
    (benchmarks/generate_speed.py measures how much); False reads one window after the other."""
    use_float32()
    N = count or 1
    p = {k: v if isinstance(v, SharedVariable) else pytensor.shared(np.asarray(v, np.float32), name=k,
                                                                     shape=np.shape(v))
         for k, v in params.items()}
    seeds = pt.tensor3("seeds", dtype="float32", shape=(N, L, F))
    d = Draws(p, cfg, F, L, N, temperature, sigma, compile_mode(cfg.backend))
    noise = pt.tensor("noise", dtype="float32", shape=(n_frames, N, L, d.nw) if mode == "blog" else (n_frames, N, d.nw))
    z = noise if d.sampled else None
    lanes = uses_lanes(cfg, L, n_frames) if lanes is None else lanes and cfg.recur_axis == "time"
    if mode == "blog" and lanes:
        frames = _blog_lanes(d, seeds, z, n_frames)
    elif mode == "window" and lanes:
        frames = _window_lanes(d, seeds, z, n_frames)
    elif mode == "stateful":
        frames = _stateful(d, seeds, z, n_frames)
    else:
        frames = _one_window_at_a_time(d, seeds, z, n_frames, mode)
    frames = frames.dimshuffle(1, 0, 2)                                       # (N, n_frames, F)
    fn = pytensor.function([seeds, noise] if d.sampled else [seeds], frames, mode=d.linker_mode)
    if count is not None:
        return fn
    if d.sampled:
        return lambda seed, z: fn(np.asarray(seed)[None], np.asarray(z)[:, None])[0]
    return lambda seed: fn(np.asarray(seed)[None])[0]


def uses_lanes(cfg, L, n_frames):
    """Whether blog and window mode read their windows in lanes: when the recurrence runs over
    frames (the committed-axis bug's windows have no recurrence over frames to overlap) and the
    clip has at least L frames. The lanes make n_frames + L - 1 steps of L rows where one window
    at a time makes n_frames x L steps of one row: at most twice the arithmetic, in batches."""
    return cfg.recur_axis == "time" and n_frames >= L


def _stateful(d, seeds, noise, n_frames):
    """(n_frames, N, F): the seed read once, then each frame fed back to the running network."""
    cfg = dataclasses.replace(d.cfg, recur_axis="time")
    names = graph.state_names(cfg.cell, cfg.layers)
    out, states = graph.predict_batch(d.p, seeds, cfg)                        # (N, L, O)
    first = d.frames(out[:, -1], None if noise is None else noise[0], seeds[:, -1])  # (N, F)
    if n_frames == 1:
        return first[None]

    def one(z, frame, *carried):
        o, new = graph.step(d.p, frame, dict(zip(names, carried)), cfg)
        return [d.frames(o, z, frame)] + [new[n] for n in names]
    rest = d.loop(one, [], [first] + [states[n] for n in names], n_frames - 1,
                  None if noise is None else noise[1:])[0]
    return pt.concatenate([first[None], rest], axis=0)


def _one_window_at_a_time(d, seeds, noise, n_frames, mode):
    """(n_frames, N, F): blog or window mode reading one L-frame window per scan step."""
    N, L, F, cfg = d.N, d.L, d.F, d.cfg
    out = graph.predict_batch(d.p, seeds, cfg)[0]                             # (N, L, O)
    z0 = None if noise is None else noise[0]
    if mode == "blog":
        start = d.windows(out, z0, seeds)                                     # (N, L, F): the whole predictions
        first = start[:, -1]
    else:
        first = d.frames(out[:, -1], z0, seeds[:, -1])                        # (N, F)
        start = pt.concatenate([seeds[:, 1:], first[:, None]], axis=1)
    if n_frames == 1:
        return first[None]

    def again(z, window):
        window = pt.specify_shape(window, (N, L, F))  # JAX needs the static shape inside the loop
        o = graph.predict_batch(d.p, window, cfg)[0]                          # (N, L, O)
        if mode == "blog":
            nxt = d.windows(o, z, window)                                     # (N, L, F)
            return nxt, nxt[:, -1]
        nxt = d.frames(o[:, -1], z, window[:, -1])                            # (N, F)
        return pt.concatenate([window[:, 1:], nxt[:, None]], axis=1), nxt
    rest = d.loop(again, [], [start, None], n_frames - 1, None if noise is None else noise[1:])[1]
    return pt.concatenate([first[None], rest], axis=0)


def _lane_states(cfg, N, L, states):
    """The states each lane starts its step from: lane j takes lane j-1's (N, L, H) states, lane 0
    zeros (a window's first frame is read from zero states); flattened to (N * L, H) rows."""
    H = cfg.hidden
    zero = pt.zeros((N, 1, H), dtype="float32")
    return {n: pt.concatenate([zero, pt.specify_shape(s, (N, L, H))[:, :-1]], axis=1).reshape((N * L, H))
            for n, s in states.items()}


def _blog_lanes(d, seeds, noise, n_frames):
    """(n_frames, N, F): blog mode with L window frames side by side.

    Window k (k = 1..n_frames; window 0 is the seed) is the network read over window k-1 from zero
    states, and its frame j depends on frames 0..j of window k-1 alone (the recurrence is causal).
    So frame (k, j) needs frame (k, j-1)'s states and frame (k-1, j) as input, and the frames on
    a diagonal t = k - 1 + j do not depend on each other. Lane j computes frame (t - j + 1, j) at
    diagonal t: n_frames + L - 1 steps of N x L rows instead of n_frames x L steps of N rows.
    Lanes whose k is outside 1..n_frames compute values nobody reads. Lane L-1 finishes window k
    at diagonal k + L - 2: its frame is the output."""
    N, L, F, cfg = d.N, d.L, d.F, d.cfg
    names = graph.state_names(cfg.cell, cfg.layers)
    diagonal, lane = np.arange(n_frames + L - 1)[:, None], np.arange(L)[None, :]
    reads_seed = pt.constant(diagonal <= lane)                                # (T, L): k <= 1, the seed is the input
    z = None
    if noise is not None:  # window k's noise (n_frames, N, L, NW), lane j at diagonal t draws noise[t - j, :, j]
        z = noise.dimshuffle(0, 2, 1, 3)[np.clip(diagonal - lane, 0, n_frames - 1), lane].dimshuffle(0, 2, 1, 3)

    def wave(z, seed_lanes, window, *states):
        x = pt.where(seed_lanes[None, :, None], seeds, pt.specify_shape(window, (N, L, F)))  # (N, L, F)
        o, new = graph.step(d.p, x.reshape((N * L, F)), _lane_states(cfg, N, L, dict(zip(names, states))), cfg)
        nxt = d.windows(o.reshape((N, L, -1)), z, x)                          # (N, L, F)
        return [nxt] + [new[n].reshape((N, L, cfg.hidden)) for n in names] + [nxt[:, -1]]
    start = [pt.zeros((N, L, F), dtype="float32")] + [pt.zeros((N, L, cfg.hidden), dtype="float32")] * len(names)
    return d.loop(wave, [reads_seed], start + [None], n_frames + L - 1, z)[-1][L - 1:]


def _window_lanes(d, seeds, noise, n_frames):
    """(n_frames, N, F): window mode with L windows side by side.

    S is the seed followed by the output; window m (m = 1..n_frames) reads S[m-1 .. m+L-2] from
    zero states and its last prediction is S[L+m-1]. At step u every window holding S[u] reads it:
    lane j holds the window that has read j frames (lane 0 starts one, lane L-1 ends one and its
    prediction is S[u+1]), and all lanes share S[u]'s input map. n_frames + L - 1 steps of N x L
    rows instead of n_frames x L steps of N rows; only lane L-1 needs the output head."""
    N, L, F, cfg, p = d.N, d.L, d.F, d.cfg, d.p
    names = graph.state_names(cfg.cell, cfg.layers)
    u = np.arange(n_frames + L - 1)
    seed_frames = seeds.dimshuffle(1, 0, 2)[np.minimum(u, L - 1)]             # (T, N, F): S[u] while u < L
    from_seed = pt.constant(u < L)
    z = None if noise is None else noise[np.clip(u - (L - 1), 0, n_frames - 1)]  # (T, N, NW): S[u+1]'s draw

    def advance(z, seed_frame, is_seed, frame, *states):
        x = pt.where(is_seed, seed_frame, pt.specify_shape(frame, (N, F)))    # (N, F) = S[u]
        xw = graph.layer_input(p, 0, graph.input_map(p, x))                   # (N, kH), the same for every lane
        xw = pt.broadcast_to(xw[:, None], (N, L, xw.type.shape[-1])).reshape((N * L, -1))
        top, new = graph.recurrent_step(p, xw, _lane_states(cfg, N, L, dict(zip(names, states))), cfg)
        o = graph.output_map(p, top.reshape((N, L, cfg.hidden))[:, -1])      # (N, O): lane L-1's window ends
        return [d.frames(o, z, x)] + [new[n].reshape((N, L, cfg.hidden)) for n in names]
    start = [pt.zeros((N, F), dtype="float32")] + [pt.zeros((N, L, cfg.hidden), dtype="float32")] * len(names)
    return d.loop(advance, [seed_frames, from_seed], start, n_frames + L - 1, z)[0][L - 1:]


def generate_frames(params, cfg, seeds, n_frames, mode, temperature=0.0, sampling_seed=0, sigma=0.0):
    """seed (L, F) normalised -> (n_frames, F) generated frames, normalised; or seeds (N, L, F) ->
    (N, n_frames, F), N clips in one compiled call. Above temperature 0 clip i draws from numpy's
    Generator seeded with `sampling_seed + i`: same seed, same frames, whatever the batch."""
    seeds = np.asarray(seeds, np.float32)
    if seeds.ndim == 2:
        return generate_frames(params, cfg, seeds[None], n_frames, mode, temperature, sampling_seed, sigma)[0]
    N, L, F = seeds.shape
    if cfg.recur_axis == "batch" and mode != "stateful" and N > 1:  # its recurrence would mix the clips
        return np.stack([generate_frames(params, cfg, s, n_frames, mode, temperature, sampling_seed + i, sigma)
                         for i, s in enumerate(seeds)])
    fn = compile_generator(params, cfg, F, L, n_frames, mode, temperature, sigma, count=N)
    if temperature == 0:
        return np.asarray(fn(seeds))
    return np.asarray(fn(seeds, draw_noise(cfg, F, L, n_frames, mode, N, sampling_seed)))


def draw_noise(cfg, F, L, n_frames, mode, count, sampling_seed):
    """The draws' noise of `count` clips, (n_frames, count, [L,] NW) float32: clip i's from numpy's
    Generator seeded with `sampling_seed + i`, filled in place (one copy in memory)."""
    shape = (n_frames, L) if mode == "blog" else (n_frames,)
    noise = np.empty((n_frames, count, *shape[1:], heads.noise_width(F, cfg)), np.float32)
    for i in range(count):
        noise[:, i] = heads.draw_noise(np.random.default_rng(sampling_seed + i), shape, F, cfg)
    return noise
