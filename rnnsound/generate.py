"""`rnnsound generate`: new audio from a trained run, written as files.

The clip is made by one of the three modes of rnnsound.generator (blog, window, stateful) from a
seed example of the song (dev split by default).

Output: exactly `seconds` of audio (whole frames, the last one cut), never including the seed,
de-normalised to the song's scale and written as 16-bit PCM WAV at the dataset's rate, with
`<name>.metrics.json` (rnnsound.metrics) and `<name>.png` (waveform and spectrogram) beside it.
"""
import errno
import math
import os
import tempfile

import numpy as np
import psutil

from . import audio, checkpoint, graph, heads, metrics, plots
from .atomic import check_writable, is_disk_full, ordinary_permissions
from .config import CLIP_SECONDS
from .errors import Interrupted, UserError
from .generator import GENERATION_MODES, default_temperature, generate_frames
from .interrupts import Deferred
from .files import read_csv, write_json
from .prepare import denormalise
from .rundir import OWN_FILES, RunFolder
from .streams import SongDataset, changed_data, digests, norm_of, read_attrs, song_stretches

MAX_SECONDS = 3600
# Below this a temperature scales float32 spreads and logits out of range (1e-15 drew nothing but
# the song's zero from gmm); 0 is the head's mean, computed without drawing.
MIN_TEMPERATURE = 0.01
# Peak memory of a generation (peak RSS of `rnnsound generate`): ~1 GB to start (0.96-0.99 GB for
# 40 s at F=40, L=300), then ~133 bytes per output sample (the clip in float64 and its metrics'
# spectrograms) and ~0.8 float32 per frame and hidden unit (the scan's states). Above temperature 0
# the draws' noise stands up to NOISE_COPIES times: numpy's array, the backend's copy, blog mode's
# gather handing each lane its window's slice, and the scaled noise the scan optimiser hoists out of
# the loop. benchmarks/generate_memory.py measures the peak against this estimate, per head, mode
# and temperature (docs/reliability.md gives the margins).
BASE_BYTES, BYTES_PER_SAMPLE, BYTES_PER_FRAME_UNIT = 1.0e9, 140, 4
NOISE_COPIES = 4


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


def memory_needed(n_samples, count, F, L, cfg, mode, temperature):
    """Bytes a generation of `count` clips of `n_samples` needs at its peak (see BASE_BYTES)."""
    n_frames = math.ceil(n_samples / F)
    per_clip = BYTES_PER_SAMPLE * n_samples + BYTES_PER_FRAME_UNIT * n_frames * cfg.layers * cfg.hidden
    if temperature > 0:  # the draws' noise: (n_frames, L, NW) float32 a clip in blog mode, (n_frames, NW) otherwise
        per_clip += NOISE_COPIES * 4 * n_frames * (L if mode == "blog" else 1) * heads.noise_width(F, cfg)
    return BASE_BYTES + count * per_clip


def check_memory(n_samples, count, F, L, cfg, mode, temperature):
    """Refuse, before any work, `count` clips of `n_samples` that would not fit in the memory available now."""
    need, available = memory_needed(n_samples, count, F, L, cfg, mode, temperature), psutil.virtual_memory().available
    if need > available:
        per_clip = (need - BASE_BYTES) / count
        fits = int((available - BASE_BYTES) // per_clip)
        advice = f"at most --count {fits} at this length" if fits >= 1 else "shorter clips"
        if mode == "blog" and temperature > 0:
            advice += f" (blog mode at temperature {temperature:g} draws L = {L} times the clip in noise)"
        raise UserError(f"{count} clip(s) of {n_samples} samples need about {need / 1e9:.1f} GB of memory and "
                        f"{available / 1e9:.1f} GB are available; generate {advice}")


def head_scale(run_dir, cfg, which):
    """The Gaussian scale of a head read with the dev residual's (mse) for sampling: the root dev MSE at
    the checkpoint's epoch; 0 for the others."""
    if not heads.of(cfg).scaled_by_dev:
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


def generate(run_dir, output, mode="blog", seconds=CLIP_SECONDS, seed_index=0, seed_split="dev", which="best",
             progress=True, sample_rate=None, temperature=None, sampling_seed=0):
    """Write `output` (WAV) and its metrics and picture; returns the metrics dict. `sample_rate`
    is needed only for a dataset that records none (a plain Fuel file). `temperature` None: the
    head's default (default_temperature)."""
    return generate_clips(run_dir, output, mode, seconds, seed_index, seed_split, which, progress, sample_rate,
                          temperature, sampling_seed)[0]


def clip_paths(output, count):
    """`output` for one clip; OUT_0.wav ... OUT_{count-1}.wav for several."""
    return [output] if count == 1 else [f"{output[:-4]}_{i}.wav" for i in range(count)]


def generate_clips(run_dir, output, mode="blog", seconds=CLIP_SECONDS, seed_index=0, seed_split="dev", which="best",
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
    check_memory(n_samples, count, F, attrs["seq_len"], cfg, mode, temperature)
    indices = [(seed_index + i) % split.num_examples for i in range(count)]
    seeds = split.get(indices)[0]                                            # (count, L, F) normalised
    frames = generate_frames(params, cfg, seeds, math.ceil(n_samples / F), mode, temperature, sampling_seed, sigma)
    train = SongDataset(data_path, "train", load_in_memory=False, attrs=attrs)
    idx = np.linspace(0, train.num_examples - 1, min(train.num_examples, 2000)).astype(int)
    train_frames = denormalise(train.get(np.unique(idx))[0].reshape(-1, F), norm)
    stretches, source = song_stretches(data_path, attrs, rate)
    ref = metrics.reference([denormalise(s, norm) for s in stretches], rate, source)
    about = {"mode": mode, "seed_split": seed_split, "checkpoint": which, "output_head": cfg.output,
             "temperature": temperature, "run_dir": os.path.abspath(run_dir)}

    def measured():
        """Each clip as (path, its audio, its seed's audio, its metrics), made when written."""
        for i, path in enumerate(clip_paths(output, count)):
            out = denormalise(frames[i].reshape(-1)[:n_samples], norm)
            m = metrics.measure(out, ref, train_frames, F, rate)
            m.update(about, seed_index=indices[i], sampling_seed=sampling_seed + i)
            yield path, out, denormalise(seeds[i].reshape(-1), norm), m
    title = f"{mode} generation from {os.path.basename(os.path.normpath(run_dir))}" + \
        (f" (temperature {temperature:g})" if temperature else "")
    return _write_clips(measured(), rate, title)


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
            if os.path.basename(target) in OWN_FILES and os.path.exists(RunFolder(folder).config):
                raise UserError(f"the clip {path} would overwrite its run folder's {os.path.basename(target)}; choose "
                                "another output name")


def _write_clips(clips, rate, title):
    """Each clip's WAV, metrics and picture, all staged first and then renamed into place together,
    with SIGINT and SIGTERM deferred: a signal while staging leaves every existing output as it was
    (none of the new files appear), one while renaming lets the renames finish. So a clip's three
    files always describe the same clip, and the message says which of the two happened."""
    results, staged, paths = [], [], []  # staged: (temporary, final path), removed unless renamed
    with Deferred() as stop:
        try:
            for path, out, seed_audio, m in clips:
                paths.append(path)
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
