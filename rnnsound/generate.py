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

Output: exactly `seconds` of audio (whole frames, the last one cut), never including the seed,
de-normalised to the song's scale and written as 16-bit PCM WAV at the dataset's rate, with
`<name>.metrics.json` (rnnsound.metrics) and `<name>.png` (waveform and spectrogram) beside it.
"""
import dataclasses
import math
import os

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import get_mode

from . import audio, checkpoint, metrics, model, plots
from .atomic import check_writable
from .config import TrainConfig, from_dict
from .dataset import denormalise
from .errors import UserError
from .network import MODES
from .streams import SongDataset, norm_of, read_attrs
from .train import read_json, write_json

GENERATION_MODES = ("blog", "window", "stateful")
MAX_SECONDS = 3600


def load_run(run_dir, which="best"):
    """(TrainConfig, params, dataset path, dataset attrs) of a finished or interrupted run."""
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.exists(config_path):
        raise UserError(f"{run_dir} is not a run folder (no config.json); give a folder written by `rnnsound train`")
    saved = read_json(config_path, ("train", "dataset"))
    cfg = from_dict(TrainConfig, saved["train"])
    ckpt = os.path.join(run_dir, f"{which}.h5")
    if not os.path.exists(ckpt):
        raise UserError(f"{run_dir} has no {which}.h5 checkpoint yet; train at least one epoch first"
                        + (" or use --checkpoint last" if which == "best" else ""))
    data_path = saved["dataset"]
    if not os.path.exists(data_path):
        raise UserError(f"the run's dataset {data_path} is missing; recreate it with `rnnsound prepare` at that path")
    attrs = read_attrs(data_path)
    recorded = saved.get("dataset_attrs", {})
    changed = [f"{k}: {recorded[k]!r} -> {attrs.get(k)!r}" for k in sorted(recorded) if attrs.get(k) != recorded[k]]
    if changed:
        raise UserError(f"the run's dataset {data_path} changed since the run was trained ({'; '.join(changed)}); "
                        "prepare it again as it was, or train a new run on the new dataset")
    expected = {k: v.shape for k, v in model.init_params(attrs["frame_size"], cfg, np.random.default_rng(0)).items()}
    params, _, _ = checkpoint.load(ckpt, expected)
    return cfg, params, data_path, attrs


def compile_generator(params, cfg, F, L, n_frames, mode):
    """A compiled function seed (L, F) -> (n_frames, F) generated frames, for one mode."""
    p = {k: pytensor.shared(np.asarray(v, np.float32), name=k, shape=np.shape(v)) for k, v in params.items()}
    seed = pt.matrix("seed", dtype="float32", shape=(L, F))
    if mode == "stateful":
        cfg = dataclasses.replace(cfg, recur_axis="time")
    pred, states = model.predict_batch(p, seed[None], cfg)
    first = pred[0, -1]                                                    # (F,)
    if n_frames == 1:
        rest = pt.zeros((0, F), dtype="float32")
    elif mode == "stateful":
        names = model.state_names(cfg.cell, cfg.layers)

        def one(frame, *carried):
            out, new = model.step(p, frame[None], dict(zip(names, carried)), cfg)
            return [out[0]] + [new[n] for n in names]
        outs = pytensor.scan(one, outputs_info=[first] + [states[n] for n in names], n_steps=n_frames - 1,
                             return_updates=False)
        rest = outs[0]
    else:
        def again(window):
            window = pt.specify_shape(window, (L, F))  # JAX needs the static shape inside the loop
            nxt = model.predict_batch(p, window[None], cfg)[0][0]          # (L, F)
            new = nxt if mode == "blog" else pt.concatenate([window[1:], nxt[-1:]], axis=0)
            return new, nxt[-1]
        start = pred[0] if mode == "blog" else pt.concatenate([seed[1:], first[None]], axis=0)
        _, rest = pytensor.scan(again, outputs_info=[start, None], n_steps=n_frames - 1, return_updates=False)
    frames = pt.concatenate([first[None], rest], axis=0)
    return pytensor.function([seed], frames, mode=get_mode(MODES[cfg.backend]))


def generate_frames(params, cfg, seed, n_frames, mode):
    """seed (L, F) normalised -> (n_frames, F) generated frames, normalised."""
    L, F = seed.shape
    fn = compile_generator(params, cfg, F, L, n_frames, mode)
    return np.asarray(fn(np.asarray(seed, np.float32)))


def generate(run_dir, output, mode="blog", seconds=30.0, seed_index=0, seed_split="dev", which="best", progress=True,
             sample_rate=None):
    """Write `output` (WAV) and its metrics and picture; returns the metrics dict. `sample_rate`
    is needed only for a dataset that records none (a plain Fuel file)."""
    if mode not in GENERATION_MODES:
        raise UserError(f"unknown mode {mode!r}; use one of {', '.join(GENERATION_MODES)}")
    if not (0 < seconds <= MAX_SECONDS):
        raise UserError(f"--seconds must be between 0 and {MAX_SECONDS}, got {seconds}")
    if not output.lower().endswith(".wav"):
        raise UserError(f"output {output} must end in .wav")
    check_writable(output)
    cfg, params, data_path, attrs = load_run(run_dir, which)
    split = SongDataset(data_path, seed_split, load_in_memory=False)
    if not 0 <= seed_index < split.num_examples:
        raise UserError(f"--seed-index {seed_index} is out of range: the {seed_split} split has examples "
                        f"0..{split.num_examples - 1}")
    F, rate, norm = attrs["frame_size"], attrs["sample_rate"] or sample_rate, norm_of(attrs)
    if not rate:
        raise UserError(f"the dataset {data_path} records no sample rate (a plain Fuel file); give --sample-rate HZ")
    if attrs["sample_rate"] and sample_rate and sample_rate != attrs["sample_rate"]:
        raise UserError(f"--sample-rate {sample_rate} contradicts the dataset's {attrs['sample_rate']} Hz; leave it out")
    n_samples = int(round(seconds * rate))
    seed = split.get([seed_index])[0][0]                                     # (L, F) normalised
    frames = generate_frames(params, cfg, seed, math.ceil(n_samples / F), mode)
    out = denormalise(frames.reshape(-1)[:n_samples], norm)
    seed_audio = denormalise(seed.reshape(-1), norm)
    train = SongDataset(data_path, "train", load_in_memory=False)
    idx = np.linspace(0, train.num_examples - 1, min(train.num_examples, 2000)).astype(int)
    train_frames = denormalise(train.get(np.unique(idx))[0].reshape(-1, F), norm)
    m = metrics.measure(out, seed_audio, metrics.log_spectrum(train_frames.reshape(-1), rate), train_frames, F, rate)
    m.update({"mode": mode, "seed_index": seed_index, "seed_split": seed_split, "checkpoint": which,
              "run_dir": os.path.abspath(run_dir)})
    stem = output[:-4]
    audio.write_wav(output, out, rate)
    write_json(stem + ".metrics.json", m)
    title = f"{mode} generation from {os.path.basename(os.path.normpath(run_dir))}"
    plots.audio_picture(seed_audio, out, rate, stem + ".png", title)
    return m
