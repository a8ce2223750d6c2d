"""One run of a sweep: prepare its dataset (unless a run before it did), train, generate its
clips, and write summary.json in its run folder, the marker that it is done.

Rerunning skips a finished run and resumes an interrupted one from its last.h5. A pair (F, L)
the song cannot hold is recorded as infeasible with the reason. The `blog` clip re-reads a whole
L-frame window per output frame, so its length is capped by BLOG_BUDGET (never at L <= 100, except
for the tier head, whose every frame step also draws its F samples one after the other).
"""
import math
import os
import socket
import time

from .. import heads
from ..baselines import lpc_bits
from ..config import CLIP_SECONDS, configs
from ..errors import Interrupted, SongTooShort, UserError
from ..files import read_json, write_json
from ..generate import generate
from ..generator import uses_lanes
from ..prepare import prepare
from ..rundir import sweep_run
from ..streams import SongDataset, read_attrs
from ..runtime import code_version, machine
from ..train import train
from .spec import check_run_folder, dataset_name, describe_run, infeasible_summary, run_settings

# Network steps x rows per blog clip, by schedule (rnnsound.generator.uses_lanes): in lanes
# (frames + L - 1) x L, one window at a time frames x L, about 3x slower per step and row. Each
# keeps a blog clip under a minute of a 2x256 GRU on a 2-core CPU; 30 s at F=40, L=100 in lanes
# is 1,209,900.
BLOG_BUDGET = {"lanes": 1_250_000, "one": 600_000}
# The tier head's sample step (its MLP at one sample position of every row) against a network step
# of that GRU: ~0.6 at F=40 (benchmarks/generate_speed.py --output tier), so a frame step of tier
# costs 1 + 0.6 F network steps: a blog clip of tier at F=40, L=100 gets 1 s.
SAMPLE_STEP_COST = 0.6
CLIP_METRICS = ("seconds", "end_level_db", "seconds_in_song_range", "clipped_fraction", "tick_score",
                "spectral_distance_db", "copy_frames", "audible_frames", "copy_fraction", "audible_fraction",
                "nearest_train_rms_median", "spectral_flatness", "flatness_frames", "song_spectral_flatness",
                "temperature")


def clip_key(mode, temperature):
    """A clip's name in a summary and in samples/: the mode, plus its temperature unless default."""
    return mode if temperature is None else f"{mode}_t{temperature:g}"


def blog_frames(cfg, F, L, n_frames):
    """The most frames, up to n_frames, a blog clip makes within BLOG_BUDGET (at least one)."""
    cost = 1 + SAMPLE_STEP_COST * F if heads.of(cfg).draws_each_sample else 1            # network steps per frame step
    budget = {k: int(v / cost) for k, v in BLOG_BUDGET.items()}
    lanes = min(n_frames, budget["lanes"] // L - L + 1)
    if uses_lanes(cfg, L, lanes):
        return lanes
    one = min(n_frames, budget["one"] // L)
    return max(1, L - 1 if uses_lanes(cfg, L, one) else one)  # fewer than L frames: one at a time


def dataset_path(out_dir, song, dcfg):
    return os.path.join(out_dir, "data", dataset_name(song, dcfg))


def prepare_once(song, path, dcfg):
    """Prepare the dataset at `path` unless it exists; None, or why the song cannot hold it."""
    if os.path.exists(path):
        return None
    try:
        prepare(song, path, dcfg, progress=False)
    except SongTooShort as e:
        return str(e)
    return None


def run_one(name, overrides, song, out_dir, progress=True, clip_seconds=CLIP_SECONDS, temperatures=(None,),
            sample_every=0):
    """Train and measure one run of a sweep; returns its summary (also written as summary.json).
    Clips: stateful and blog, at each of `temperatures` (None: the output head's default); with
    `sample_every` N, a short clip after every N epochs too (rnnsound.epoch_clips)."""
    run = sweep_run(out_dir, name)
    check_run_folder(run.path, overrides, song)
    if os.path.exists(run.summary):
        if progress:
            print(f"[{name}] finished earlier: skipped")
        return read_json(run.summary)
    dcfg, tcfg = configs(overrides)
    data = dataset_path(out_dir, song, dcfg)
    os.makedirs(run.path, exist_ok=True)
    write_json(run.settings, run_settings(overrides, song))
    reason = prepare_once(song, data, dcfg)
    if reason:
        summary = infeasible_summary(name, overrides, reason)
        write_json(run.summary, summary)
        if progress:
            print(f"[{name}] infeasible: {reason}")
        return summary
    if progress:
        print(f"[{name}] training ({tcfg.epochs} epochs)")
    s = train(data, tcfg, run.path, resume=os.path.exists(run.last), progress=progress, sample_every=sample_every)
    summary = describe_run(name, overrides)
    summary.update({k: s[k] for k in ("params", "steps", "best_dev", "best_bits", "samples_per_second", "baselines",
                                      "examples", "final_dev", "step_norm_median", "device")},
                   status="done", train_seconds=s["seconds"], host=socket.gethostname(),
                   worker=os.environ.get("RNNSOUND_WORKER", "serial"), machine=machine(), commit=code_version())
    summary["clips"] = make_clips(run, summary, tcfg, dcfg, clip_seconds, temperatures)
    write_json(run.summary, summary)
    return summary


def failed_summary(name, overrides, reason):
    """What failed.json holds: a run that failed for its own reason (or ran out of retries), and why."""
    return {"name": name, "overrides": overrides, "status": "failed", "reason": reason}


def record_failure(out_dir, name, overrides, reason):
    summary = failed_summary(name, overrides, reason)
    write_json(sweep_run(out_dir, name).failed, summary)
    return summary


def run_or_record(name, overrides, song, out_dir, progress=True, clip_seconds=CLIP_SECONDS, temperatures=(None,),
                  sample_every=0):
    """`run_one`, except that a run failing for its own reason (a diverged loss, a setting its data
    cannot serve: a UserError) is recorded in its failed.json and returned as failed, so the sweep
    goes on, serially as on Dask; Ctrl-C and SIGTERM still stop it."""
    try:
        return run_one(name, overrides, song, out_dir, progress, clip_seconds, temperatures, sample_every)
    except Interrupted:
        raise
    except UserError as e:
        if progress:
            print(f"[{name}] failed: {e}")
        return record_failure(out_dir, name, overrides, str(e))


def make_clips(run, summary, tcfg, dcfg, clip_seconds, temperatures):
    """A stateful and a blog clip at each temperature; their metrics go into `summary` by clip key."""
    frames = blog_frames(tcfg, dcfg.frame_size, dcfg.seq_len,
                         math.ceil(clip_seconds * dcfg.sample_rate / dcfg.frame_size))
    blog_seconds = min(clip_seconds, frames * dcfg.frame_size / dcfg.sample_rate)
    clips = []
    for temperature in temperatures:
        for mode, seconds in (("stateful", clip_seconds), ("blog", blog_seconds)):
            t, key = time.time(), clip_key(mode, temperature)
            clips.append({"key": key, "mode": mode})
            m = generate(run.path, run.sample(key), mode, seconds, progress=False, temperature=temperature)
            summary[key] = {k: m[k] for k in CLIP_METRICS}
            summary[key]["wall_seconds"] = time.time() - t
    return clips


def remeasure(out_dir, name):
    """Generate a finished run's clips again with this code (same checkpoint, seeds and lengths, so
    the same audio) and put their metrics in its summary.json: a sweep measured once by the current
    rnnsound.metrics; a baseline added since the run trained is computed. Returns False for a run
    that is not done."""
    run = sweep_run(out_dir, name)
    if not os.path.exists(run.summary):
        return False
    summary = read_json(run.summary, {"status": str})
    if summary["status"] != "done":
        return False
    if not os.path.exists(run.file("best.h5")):
        raise UserError(f"{run.path} has no best.h5 to generate from; its clips cannot be measured again")
    dcfg, tcfg = configs(read_json(run.settings, {"overrides": dict})["overrides"])
    if "lpc_bits" not in summary["baselines"]:  # a run trained before the baseline existed
        data = read_json(run.config, {"dataset": str})["dataset"]
        attrs = read_attrs(data)
        summary["baselines"]["lpc_bits"] = lpc_bits(SongDataset(data, "train", False, attrs),
                                                    SongDataset(data, "dev", False, attrs))
        write_json(run.baselines, {**read_json(run.baselines), "lpc_bits": summary["baselines"]["lpc_bits"]})
    temperatures = list(dict.fromkeys(None if c["key"] == c["mode"] else summary[c["key"]]["temperature"]
                                      for c in summary["clips"]))
    seconds = max(summary[c["key"]]["seconds"] for c in summary["clips"] if c["mode"] == "stateful")
    for c in summary["clips"]:
        del summary[c["key"]]
    summary["clips"] = make_clips(run, summary, tcfg, dcfg, seconds, temperatures)
    summary["clips_commit"] = code_version()
    write_json(run.summary, summary)
    return True
