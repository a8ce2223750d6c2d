"""`rnnsound generate`: new audio from a trained run, three ways, each one compiled scan.

The seed is an example of L frames from the song (dev split by default). Every mode starts the
same way: the network reads the seed from zero states, and its prediction for the frame after
the seed is the first generated frame. Then:

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

Output: exactly `seconds` of audio (whole frames, the last one cut), never including the seed,
de-normalised to the song's scale and written as 16-bit PCM WAV at the dataset's rate, with
`<name>.metrics.json` (rnnsound.metrics) and `<name>.png` (waveform and spectrogram) beside it.
"""
import dataclasses
import errno
import functools
import math
import os
import tempfile

import numpy as np
import psutil
import pytensor
import pytensor.tensor as pt

from . import audio, checkpoint, graph, heads, metrics, plots
from .atomic import check_writable, is_disk_full, ordinary_permissions
from .compiled import compile_mode
from .errors import Interrupted, UserError
from .interrupts import Deferred
from .files import read_csv, write_json
from .prepare import denormalise
from .rundir import OWN_FILES, RunFolder
from .runtime import use_float32
from .streams import SongDataset, changed_data, digests, norm_of, read_attrs, song_stretches

GENERATION_MODES = ("blog", "window", "stateful")
MAX_SECONDS = 3600
# Below this a temperature scales float32 spreads and logits out of range (1e-15 drew nothing but
# the song's zero from gmm); 0 is the head's mean, computed without drawing.
MIN_TEMPERATURE = 0.01
# Peak memory of a generation, measured (peak RSS of `rnnsound generate`, stateful, H=256, F=40 and
# 400, 30-300 s): ~0.5 GB to start, then ~133 bytes per output sample (the clip in float64 and
# its metrics' spectrograms) and ~0.8 float32 per frame and hidden unit (the scan's states).
BASE_BYTES, BYTES_PER_SAMPLE, BYTES_PER_FRAME_UNIT = 0.5e9, 140, 4


def load_run(run_dir, which="best"):
    """(TrainConfig, params, dataset path, dataset attrs) of a finished or interrupted run."""
    run = RunFolder(run_dir)
    saved, cfg = run.read_config()
    ckpt = run.checkpoint(which)
    if not os.path.exists(ckpt):
        raise UserError(f"{run_dir} has no {which}.h5 checkpoint yet; train at least one epoch first"
                        + (" or use --checkpoint last" if which == "best" else ""))
    data_path = saved["dataset"]
    if not os.path.exists(data_path):
        raise UserError(f"the run's dataset {data_path} is missing; recreate it with `rnnsound prepare` at that path")
    attrs = read_attrs(data_path)
    recorded = saved["dataset_attrs"]
    changed = [f"{k}: {recorded[k]!r} -> {attrs.get(k)!r}" for k in sorted(recorded) if attrs.get(k) != recorded[k]]
    changed += changed_data(saved, digests(data_path, attrs))
    if changed:
        raise UserError(f"the run's dataset {data_path} changed since the run was trained ({'; '.join(changed)}); "
                        "prepare it again as it was, or train a new run on the new dataset")
    expected = {k: v.shape for k, v in graph.init_params(attrs["frame_size"], cfg, np.random.default_rng(0)).items()}
    params, _, _ = checkpoint.load(ckpt, expected)
    return cfg, params, data_path, attrs


def compile_generator(params, cfg, F, L, n_frames, mode, temperature=0.0, sigma=0.0, count=None, lanes=None):
    """A compiled function for one mode: seed (L, F) -> (n_frames, F) generated frames; with
    `count` N, N clips side by side in one call: seeds (N, L, F) -> (N, n_frames, F).

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
    p = {k: pytensor.shared(np.asarray(v, np.float32), name=k, shape=np.shape(v)) for k, v in params.items()}
    seeds = pt.tensor3("seeds", dtype="float32", shape=(N, L, F))
    nw = heads.noise_width(F, cfg)
    noise = pt.tensor("noise", dtype="float32", shape=(n_frames, N, L, nw) if mode == "blog" else (n_frames, N, nw))
    sampled = temperature > 0
    linker_mode = compile_mode(cfg.backend)
    lanes = uses_lanes(cfg, L, n_frames) if lanes is None else lanes and cfg.recur_axis == "time"

    def draw(out, z, x):
        """(n, O) head outputs, (n, NW) noise (None at temperature 0) and (n, F) the frames the
        outputs were read from -> (n, F) frames."""
        return heads.sample(out, z, F, cfg, temperature, sigma, x, p, linker_mode)

    def draw_windows(out, z, x):
        """(N, L, O) head outputs, (N, L, NW) noise and (N, L, F) input windows -> (N, L, F): every
        frame of every window."""
        frames = draw(out.reshape((N * L, -1)), None if z is None else z.reshape((N * L, nw)), x.reshape((N * L, F)))
        return frames.reshape((N, L, F))

    def loop(step, sequences, outputs_info, n_steps, z=None):
        """scan over `sequences` and, when sampling, the noise `z` (one slice per step)."""
        if not sampled:
            step = functools.partial(step, None)
        return pytensor.scan(step, sequences=([z] if sampled else []) + sequences, outputs_info=outputs_info,
                             n_steps=n_steps, return_updates=False, mode=linker_mode)

    if mode in ("blog", "window") and lanes:
        build = _blog_lanes if mode == "blog" else _window_lanes
        frames = build(p, cfg, seeds, noise if sampled else None, draw_windows if mode == "blog" else draw, n_frames,
                       loop)
    else:
        frames = _one_at_a_time(p, cfg, seeds, noise if sampled else None, draw, draw_windows, n_frames, mode, loop)
    frames = frames.dimshuffle(1, 0, 2)                                       # (N, n_frames, F)
    fn = pytensor.function([seeds, noise] if sampled else [seeds], frames, mode=linker_mode)
    if count is not None:
        return fn
    if sampled:
        return lambda seed, z: fn(np.asarray(seed)[None], np.asarray(z)[:, None])[0]
    return lambda seed: fn(np.asarray(seed)[None])[0]


def uses_lanes(cfg, L, n_frames):
    """Whether blog and window mode read their windows in lanes: when the recurrence runs over
    frames (the committed-code bug's windows have no recurrence over frames to overlap) and the
    clip has at least L frames. The lanes make n_frames + L - 1 steps of L rows where one window
    at a time makes n_frames x L steps of one row: at most twice the arithmetic, in batches."""
    return cfg.recur_axis == "time" and n_frames >= L


def _one_at_a_time(p, cfg, seeds, noise, draw, draw_windows, n_frames, mode, loop):
    """(n_frames, N, F): stateful mode, or a window mode reading one L-frame window per scan step."""
    N, L, F = seeds.type.shape
    if mode == "stateful":
        cfg = dataclasses.replace(cfg, recur_axis="time")
    out, states = graph.predict_batch(p, seeds, cfg)                          # (N, L, O)
    z0 = None if noise is None else noise[0]
    rest_noise = None if noise is None else noise[1:]
    if mode == "blog":
        start = draw_windows(out, z0, seeds)                                 # (N, L, F): the whole predictions
        first = start[:, -1]
    else:
        first = draw(out[:, -1], z0, seeds[:, -1])                           # (N, F)
    if n_frames == 1:
        rest = pt.zeros((0, N, F), dtype="float32")
    elif mode == "stateful":
        names = graph.state_names(cfg.cell, cfg.layers)

        def one(z, frame, *carried):
            o, new = graph.step(p, frame, dict(zip(names, carried)), cfg)
            return [draw(o, z, frame)] + [new[n] for n in names]
        rest = loop(one, [], [first] + [states[n] for n in names], n_frames - 1, rest_noise)[0]
    else:
        def again(z, window):
            window = pt.specify_shape(window, (N, L, F))  # JAX needs the static shape inside the loop
            o = graph.predict_batch(p, window, cfg)[0]                        # (N, L, O)
            if mode == "blog":
                nxt = draw_windows(o, z, window)                              # (N, L, F)
                return nxt, nxt[:, -1]
            nxt = draw(o[:, -1], z, window[:, -1])                            # (N, F)
            return pt.concatenate([window[:, 1:], nxt[:, None]], axis=1), nxt
        start = start if mode == "blog" else pt.concatenate([seeds[:, 1:], first[:, None]], axis=1)
        rest = loop(again, [], [start, None], n_frames - 1, rest_noise)[1]
    return pt.concatenate([first[None], rest], axis=0)


def _lane_states(cfg, N, L, states):
    """The states each lane starts its step from: lane j takes lane j-1's (N, L, H) states, lane 0
    zeros (a window's first frame is read from zero states); flattened to (N * L, H) rows."""
    H = cfg.hidden
    zero = pt.zeros((N, 1, H), dtype="float32")
    return {n: pt.concatenate([zero, pt.specify_shape(s, (N, L, H))[:, :-1]], axis=1).reshape((N * L, H))
            for n, s in states.items()}


def _blog_lanes(p, cfg, seeds, noise, draw_windows, n_frames, loop):
    """(n_frames, N, F): blog mode with L window frames side by side.

    Window k (k = 1..n_frames; window 0 is the seed) is the network read over window k-1 from zero
    states, and its frame j depends on frames 0..j of window k-1 alone (the recurrence is causal).
    So frame (k, j) needs frame (k, j-1)'s states and frame (k-1, j) as input, and the frames on
    a diagonal t = k - 1 + j do not depend on each other. Lane j computes frame (t - j + 1, j) at
    diagonal t: n_frames + L - 1 steps of N x L rows instead of n_frames x L steps of N rows.
    Lanes whose k is outside 1..n_frames compute values nobody reads. Lane L-1 finishes window k
    at diagonal k + L - 2: its frame is the output."""
    N, L, F = seeds.type.shape
    names = graph.state_names(cfg.cell, cfg.layers)
    diagonal, lane = np.arange(n_frames + L - 1)[:, None], np.arange(L)[None, :]
    reads_seed = pt.constant(diagonal <= lane)                                # (T, L): k <= 1, the seed is the input
    z = None
    if noise is not None:  # window k's noise (n_frames, N, L, NW), lane j at diagonal t draws noise[t - j, :, j]
        z = noise.dimshuffle(0, 2, 1, 3)[np.clip(diagonal - lane, 0, n_frames - 1), lane].dimshuffle(0, 2, 1, 3)

    def wave(z, seed_lanes, window, *states):
        x = pt.where(seed_lanes[None, :, None], seeds, pt.specify_shape(window, (N, L, F)))  # (N, L, F)
        o, new = graph.step(p, x.reshape((N * L, F)), _lane_states(cfg, N, L, dict(zip(names, states))), cfg)
        nxt = draw_windows(o.reshape((N, L, -1)), z, x)                       # (N, L, F)
        return [nxt] + [new[n].reshape((N, L, cfg.hidden)) for n in names] + [nxt[:, -1]]
    start = [pt.zeros((N, L, F), dtype="float32")] + [pt.zeros((N, L, cfg.hidden), dtype="float32")] * len(names)
    return loop(wave, [reads_seed], start + [None], n_frames + L - 1, z)[-1][L - 1:]


def _window_lanes(p, cfg, seeds, noise, draw, n_frames, loop):
    """(n_frames, N, F): window mode with L windows side by side.

    S is the seed followed by the output; window m (m = 1..n_frames) reads S[m-1 .. m+L-2] from
    zero states and its last prediction is S[L+m-1]. At step u every window holding S[u] reads it:
    lane j holds the window that has read j frames (lane 0 starts one, lane L-1 ends one and its
    prediction is S[u+1]), and all lanes share S[u]'s input map. n_frames + L - 1 steps of N x L
    rows instead of n_frames x L steps of N rows; only lane L-1 needs the output head."""
    N, L, F = seeds.type.shape
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
        return [draw(o, z, x)] + [new[n].reshape((N, L, cfg.hidden)) for n in names]
    start = [pt.zeros((N, F), dtype="float32")] + [pt.zeros((N, L, cfg.hidden), dtype="float32")] * len(names)
    return loop(advance, [seed_frames, from_seed], start, n_frames + L - 1, z)[0][L - 1:]


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
    shape = (n_frames, L) if mode == "blog" else (n_frames,)
    noise = np.stack([heads.draw_noise(np.random.default_rng(sampling_seed + i), shape, F, cfg) for i in range(N)],
                     axis=1)                                                   # (n_frames, N, ...)
    return np.asarray(fn(seeds, noise))


def check_memory(n_samples, count, F, cfg):
    """Refuse, before any work, `count` clips of `n_samples` that would not fit in the memory available now."""
    per_clip = BYTES_PER_SAMPLE * n_samples + BYTES_PER_FRAME_UNIT * math.ceil(n_samples / F) * cfg.layers * cfg.hidden
    need, available = BASE_BYTES + count * per_clip, psutil.virtual_memory().available
    if need > available:
        fits = int((available - BASE_BYTES) // per_clip)
        advice = f"at most --count {fits} at this length" if fits >= 1 else "shorter clips"
        raise UserError(f"{count} clip(s) of {n_samples} samples need about {need / 1e9:.1f} GB of memory and "
                        f"{available / 1e9:.1f} GB are available; generate {advice}")


def head_scale(run_dir, cfg, which):
    """The mse head's Gaussian scale for sampling: the root dev MSE at the checkpoint's epoch."""
    if cfg.output != "mse":
        return 0.0
    run = RunFolder(run_dir)
    meta = checkpoint.read_meta(run.checkpoint(which))  # the arrays were read by load_run
    rows = [r for r in read_csv(run.log) if r["kind"] == "epoch"]
    at = [r for r in rows if int(r["epoch"]) == meta.get("epoch")] or rows[-1:]
    if not at:
        raise UserError(f"{run_dir}/log.csv has no epoch row for the mse head's dev variance; "
                        "generate with --temperature 0")
    try:
        mse = float(at[0]["dev_mse"])
    except ValueError:
        mse = float("nan")
    if not (np.isfinite(mse) and mse > 0):  # read back like input: a damaged log must not scale the noise
        raise UserError(f"{run.log} is damaged: its dev_mse at epoch {at[0].get('epoch')} is {at[0]['dev_mse']!r}, not "
                        "a positive number; restore it, or generate with --temperature 0")
    return float(np.sqrt(mse))


def default_temperature(cfg):
    """0 (the mean: the blog's deterministic generation) for mse; 1 (the head's distribution) otherwise."""
    return 0.0 if cfg.output == "mse" else 1.0


def generate(run_dir, output, mode="blog", seconds=30.0, seed_index=0, seed_split="dev", which="best", progress=True,
             sample_rate=None, temperature=None, sampling_seed=0):
    """Write `output` (WAV) and its metrics and picture; returns the metrics dict. `sample_rate`
    is needed only for a dataset that records none (a plain Fuel file). `temperature` None: the
    head's default (default_temperature)."""
    return generate_clips(run_dir, output, mode, seconds, seed_index, seed_split, which, progress, sample_rate,
                          temperature, sampling_seed)[0]


def clip_paths(output, count):
    """`output` for one clip; OUT_0.wav ... OUT_{count-1}.wav for several."""
    return [output] if count == 1 else [f"{output[:-4]}_{i}.wav" for i in range(count)]


def generate_clips(run_dir, output, mode="blog", seconds=30.0, seed_index=0, seed_split="dev", which="best",
                   progress=True, sample_rate=None, temperature=None, sampling_seed=0, count=1):
    """`count` clips in one compiled call (clip_paths names them): clip i is seeded by example
    seed_index + i of the split (wrapping around) and drawn with sampling seed sampling_seed + i,
    so each equals the clip a single generation with those two seeds makes. Returns their metrics."""
    if mode not in GENERATION_MODES:
        raise UserError(f"unknown mode {mode!r}; use one of {', '.join(GENERATION_MODES)}")
    if not (0 < seconds <= MAX_SECONDS):
        raise UserError(f"--seconds must be between 0 and {MAX_SECONDS}, got {seconds}")
    if not output.lower().endswith(".wav"):
        raise UserError(f"output {output} must end in .wav")
    if temperature is not None and not (temperature == 0 or MIN_TEMPERATURE <= temperature <= 100):
        raise UserError(f"--temperature must be 0 (the head's mean) or between {MIN_TEMPERATURE:g} and 100, got "
                        f"{temperature:g}")
    if not 0 <= sampling_seed < 2 ** 63:
        raise UserError(f"--sampling-seed must be a non-negative integer, got {sampling_seed}")
    if not 1 <= count <= 1024:
        raise UserError(f"--count must be between 1 and 1024, got {count}")
    check_writable(output)
    check_clip_targets(clip_paths(output, count))
    cfg, params, data_path, attrs = load_run(run_dir, which)
    temperature = default_temperature(cfg) if temperature is None else temperature
    sigma = head_scale(run_dir, cfg, which) if temperature > 0 else 0.0
    split = SongDataset(data_path, seed_split, load_in_memory=False, attrs=attrs)
    if not 0 <= seed_index < split.num_examples:
        raise UserError(f"--seed-index {seed_index} is out of range: the {seed_split} split has examples "
                        f"0..{split.num_examples - 1}")
    F, rate, norm = attrs["frame_size"], attrs["sample_rate"] or sample_rate, norm_of(attrs)
    if not rate:
        raise UserError(f"the dataset {data_path} records no sample rate (a plain Fuel file); give --sample-rate HZ")
    if attrs["sample_rate"] and sample_rate and sample_rate != attrs["sample_rate"]:
        raise UserError(
            f"--sample-rate {sample_rate} contradicts the dataset's {attrs['sample_rate']} Hz; leave it out"
        )
    n_samples = int(round(seconds * rate))
    if n_samples == 0:
        raise UserError(f"--seconds {seconds} is less than one sample at {rate} Hz; give at least {1 / rate:.3g}")
    check_memory(n_samples, count, F, cfg)
    indices = [(seed_index + i) % split.num_examples for i in range(count)]
    seeds = split.get(indices)[0]                                            # (count, L, F) normalised
    frames = generate_frames(params, cfg, seeds, math.ceil(n_samples / F), mode, temperature, sampling_seed, sigma)
    train = SongDataset(data_path, "train", load_in_memory=False, attrs=attrs)
    idx = np.linspace(0, train.num_examples - 1, min(train.num_examples, 2000)).astype(int)
    train_frames = denormalise(train.get(np.unique(idx))[0].reshape(-1, F), norm)
    stretches, source = song_stretches(data_path, attrs, rate)
    ref = metrics.reference([denormalise(s, norm) for s in stretches], rate, source)
    clips = (denormalise(frames[i].reshape(-1)[:n_samples], norm) for i in range(count))
    return _write_clips(clip_paths(output, count), clips, seeds, norm, ref, train_frames, F, rate,
                        {"mode": mode, "seed_split": seed_split, "checkpoint": which, "output_head": cfg.output,
                         "temperature": temperature, "run_dir": os.path.abspath(run_dir)},
                        indices, sampling_seed, f"{mode} generation from {os.path.basename(os.path.normpath(run_dir))}"
                        + (f" (temperature {temperature:g})" if temperature else ""))


def _staged(path):
    """Where `path` is written before every clip's files are complete: hidden, same folder and
    extension, and a name of its own, so generates writing the same clips at once never share one."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".staged.{name}.", suffix=os.path.splitext(name)[1], dir=folder)
    os.close(fd)
    return tmp


def clip_files(path):
    """The three files of the clip `path`: the WAV, its metrics and its picture."""
    stem = path[:-4]
    return path, stem + ".metrics.json", stem + ".png"


def check_clip_targets(paths):
    """Refuse, before any work, a clip set one of whose files is named by a folder: renaming the
    others first would leave a mixed set."""
    for path in paths:
        for target in clip_files(path):
            if os.path.isdir(target):
                raise UserError(f"{target} is a folder, so the clip {path} cannot be written beside it; remove it or "
                                "choose another output path")
            folder = os.path.dirname(os.path.abspath(target))
            if os.path.basename(target) in OWN_FILES and os.path.exists(os.path.join(folder, "config.json")):
                raise UserError(f"the clip {path} would overwrite its run folder's {os.path.basename(target)}; choose "
                                "another output name")


def _write_clips(paths, clips, seeds, norm, ref, train_frames, F, rate, about, indices, sampling_seed, title):
    """Each clip's WAV, metrics and picture, all staged first and then renamed into place together,
    with SIGINT and SIGTERM deferred: a signal while staging leaves every existing output as it was
    (none of the new files appear), one while renaming lets the renames finish. So a clip's three
    files always describe the same clip, and the message says which of the two happened."""
    results, staged = [], []  # staged: (temporary, final path), removed unless renamed
    with Deferred() as stop:
        try:
            for i, (path, out) in enumerate(zip(paths, clips)):
                seed_audio = denormalise(seeds[i].reshape(-1), norm)
                m = metrics.measure(out, ref, train_frames, F, rate)
                m.update(about, seed_index=indices[i], sampling_seed=sampling_seed + i)
                targets = clip_files(path)
                wav, js, png = (_staged(p) for p in targets)
                staged += list(zip((wav, js, png), targets))
                try:
                    audio.write_wav(wav, out, rate)
                    write_json(js, m)
                    plots.audio_picture(seed_audio, out, rate, png, title)
                except OSError as e:  # named by the clip, not by its hidden staged file
                    if is_disk_full(e):
                        raise OSError(errno.ENOSPC, "No space left on device", path) from e
                    raise
                results.append(m)
                if stop.signum:
                    raise Interrupted(f"{stop.signal_name} while writing the clips; none was written, and every "
                                      "existing output is untouched", stop.exit_code)
            check_clip_targets(paths)  # again: a folder may have appeared while the clips were made
            for tmp, final in staged:
                ordinary_permissions(tmp)
                os.replace(tmp, final)
            staged = []
        finally:
            for tmp, _ in staged:
                if os.path.exists(tmp):
                    os.remove(tmp)
        if stop.signum:
            raise Interrupted(f"{stop.signal_name} as the clips were put in place; all {len(paths)} were written "
                              "whole", stop.exit_code)
    return results
