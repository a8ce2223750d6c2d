"""Sweeps as data: a base set of overrides plus one dict of overrides per run; tables and plots.

`run_sweep(sweep, out_dir, ...)` prepares each run's dataset (shared between runs that use the
same F, L and hop), trains it in `out_dir/runs/<name from its overrides>`, generates a 30 s
`stateful` clip and a `blog` clip, and writes `summary.json` in the run folder as its DONE
marker. Rerunning skips finished runs and resumes an interrupted one from its last.h5. A pair
(F, L) the song cannot hold is recorded as infeasible with the reason. `report(out_dir)` (also
`rnnsound report DIR`) rebuilds results.csv, results.md and the PNGs from the run folders.

The `blog` clip re-reads a whole L-frame window per output frame, so its length is capped by
BLOG_BUDGET: never at L <= 100 (30 s clips); at F=40, L=1000 it is 1.5 s. The table says how
many seconds each blog clip has.
"""
import csv
import dataclasses
import fnmatch
import json
import math
import os
import socket
import time

import numpy as np

from . import heads, plots
from .atomic import atomic_path
from .config import DataConfig, TrainConfig, with_overrides
from .errors import UserError
from .train import read_json, read_log, write_json

# Network steps x rows per blog clip, by schedule (rnnsound.generate.uses_lanes): in lanes
# (frames + L - 1) x L, one window at a time frames x L, about 3x slower per step and row; each
# budget is 30-40 s of 2x256 GRU on 2 cores. 30 s at F=40, L=100 in lanes is 1,209,900.
BLOG_BUDGET = {"lanes": 1_250_000, "one": 600_000}
DATA_KEYS = {f.name for f in dataclasses.fields(DataConfig)}
TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str          # results folder default: results/<name>
    title: str
    swept: str         # the setting whose value the summary plot puts on its x axis
    base: dict         # overrides every run gets
    variants: tuple    # one dict of overrides per run
    marked: tuple = ()  # names of runs the tables flag in a `mark` column (e.g. her committed pairs)
    mark: str = ""      # that column's header
    temperatures: tuple = (None,)  # clips per mode, one per temperature (None: the head's default)


def split_overrides(overrides):
    data = {k: v for k, v in overrides.items() if k.replace("-", "_") in DATA_KEYS}
    train = {k: v for k, v in overrides.items() if k.replace("-", "_") in TRAIN_KEYS}
    unknown = set(overrides) - set(data) - set(train)
    if unknown:
        raise UserError(f"unknown setting(s) {', '.join(sorted(unknown))}; valid: "
                        f"{', '.join(sorted(DATA_KEYS | TRAIN_KEYS))}")
    return data, train


def run_name(variant):
    return "_".join(f"{k}={v}" for k, v in variant.items()) or "base"


def dataset_name(song, dcfg):
    """The file a run's dataset is prepared into: one per song and data setting, shared by the
    runs that agree on all of them (settings at their defaults are left out of the name)."""
    from .dataset import song_stem
    extra = "".join(f"_{f.name}={getattr(dcfg, f.name)}" for f in dataclasses.fields(DataConfig)
                    if f.name not in ("frame_size", "seq_len", "hop") and getattr(dcfg, f.name) != f.default)
    return f"{song_stem(song)}_f{dcfg.frame_size}_l{dcfg.seq_len}_h{dcfg.hop_frames}{extra}.hdf5"


def describe_run(name, overrides):
    """The fields every summary starts with: the run's name, overrides and main settings."""
    data_over, train_over = split_overrides(overrides)
    dcfg, tcfg = with_overrides(DataConfig(), data_over), with_overrides(TrainConfig(), train_over)
    heads.check(dcfg.frame_size, tcfg)
    return {"name": name, "overrides": overrides, "frame_size": dcfg.frame_size, "seq_len": dcfg.seq_len,
            "hop": dcfg.hop_frames, "cell": tcfg.cell, "recur_axis": tcfg.recur_axis, "epochs": tcfg.epochs,
            "output": tcfg.output, "input_noise": tcfg.input_noise}


def infeasible_summary(name, overrides, reason):
    return {**describe_run(name, overrides), "status": "infeasible", "reason": reason}


def clip_key(mode, temperature):
    """A clip's name in a summary and in samples/: the mode, plus its temperature unless default."""
    return mode if temperature is None else f"{mode}_t{temperature:g}"


CLIP_METRICS = ("seconds", "fade_ratio", "clipped_fraction", "tick_score", "spectral_distance_db", "copy_fraction",
                "audible_fraction", "nearest_train_rms_median", "loudness_max_deviation_db", "spectral_flatness",
                "song_spectral_flatness", "temperature")


def run_one(name, overrides, song, out_dir, progress=True, clip_seconds=30.0, temperatures=(None,)):
    """Train and measure one run of a sweep; returns its summary (also written as summary.json).
    Clips: stateful and blog, at each of `temperatures` (None: the output head's default)."""
    from .dataset import prepare
    from .generate import generate
    from .train import train
    run_dir = os.path.join(out_dir, "runs", name)
    done = os.path.join(run_dir, "summary.json")
    check_run_folder(run_dir, overrides, song)
    if os.path.exists(done):
        if progress:
            print(f"[{name}] finished earlier: skipped")
        return read_json(done)
    data_over, train_over = split_overrides(overrides)
    dcfg = with_overrides(DataConfig(), data_over)
    tcfg = with_overrides(TrainConfig(), train_over)
    data = os.path.join(out_dir, "data", dataset_name(song, dcfg))
    summary = describe_run(name, overrides)
    os.makedirs(run_dir, exist_ok=True)
    write_json(os.path.join(run_dir, "settings.json"), run_settings(overrides, song))
    try:
        if not os.path.exists(data):
            prepare(song, data, dcfg, progress=False)
    except UserError as e:
        if "too short" not in str(e):
            raise
        summary = infeasible_summary(name, overrides, str(e))
        write_json(done, summary)
        if progress:
            print(f"[{name}] infeasible: {e}")
        return summary
    if progress:
        print(f"[{name}] training ({tcfg.epochs} epochs)")
    resume = os.path.exists(os.path.join(run_dir, "last.h5"))
    s = train(data, tcfg, run_dir, resume=resume, progress=progress)
    summary.update(status="done", params=s["params"], steps=s["steps"], best_dev=s["best_dev"], best_bits=s["best_bits"],
                   train_seconds=s["seconds"], samples_per_second=s["samples_per_second"], baselines=s["baselines"],
                   examples=s["examples"])
    rows = read_log(os.path.join(run_dir, "log.csv"))
    epochs = [r for r in rows if r["kind"] == "epoch"]
    summary["final_dev"] = float(epochs[-1]["dev_mse"]) if epochs else None
    norms = [float(r["step_norm"]) for r in rows if r["kind"] == "batch" and r.get("step_norm")]
    summary["step_norm_median"] = float(np.median(norms)) if norms else None
    summary.update(host=socket.gethostname(), worker=os.environ.get("RNNSOUND_WORKER", "serial"),
                   device=read_json(os.path.join(run_dir, "versions.json")).get("device", ""))
    frames = blog_frames(tcfg, dcfg.seq_len, math.ceil(clip_seconds * dcfg.sample_rate / dcfg.frame_size))
    blog_seconds = min(clip_seconds, frames * dcfg.frame_size / dcfg.sample_rate)
    summary["clips"] = []
    for temperature in temperatures:
        for mode, seconds in (("stateful", clip_seconds), ("blog", blog_seconds)):
            t, key = time.time(), clip_key(mode, temperature)
            summary["clips"].append({"key": key, "mode": mode})
            m = generate(run_dir, os.path.join(run_dir, "samples", f"{key}.wav"), mode, seconds, progress=False,
                         temperature=temperature)
            summary[key] = {k: m[k] for k in CLIP_METRICS}
            summary[key]["wall_seconds"] = time.time() - t
    write_json(done, summary)
    return summary


def blog_frames(cfg, L, n_frames):
    """The most frames, up to n_frames, a blog clip makes within BLOG_BUDGET (at least one)."""
    from .generate import uses_lanes
    lanes = min(n_frames, BLOG_BUDGET["lanes"] // L - L + 1)
    if uses_lanes(cfg, L, lanes):
        return lanes
    one = min(n_frames, BLOG_BUDGET["one"] // L)
    return max(1, L - 1 if uses_lanes(cfg, L, one) else one)  # fewer than L frames: one at a time


def make_out_dir(out_dir):
    """Create a sweep's --out folder, or say in one line why it cannot be."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f"--out {out_dir} is a file; give a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --out folder {out_dir} ({e.strerror}); choose another")


def song_label(song):
    from .default_song import EmbeddedSong
    return song if isinstance(song, str) else (song or EmbeddedSong()).describe()


def validate_runs(sweep, extra, epochs, runs, out_dir=None, song=None):
    """Every run's settings, checked on their ranges before any work (a typo or a bad value is one
    line), and, given `out_dir`, against the settings its run folder was made with."""
    split_overrides({**sweep.base, **extra})
    for name, variant in runs:
        overrides = {**sweep.base, **extra, "epochs": epochs, **variant}
        describe_run(name, overrides)
        if out_dir is not None:
            check_run_folder(os.path.join(out_dir, "runs", name), overrides, song)


def run_settings(overrides, song):
    """What a run folder's results depend on besides the code: its overrides and its song."""
    song = os.path.abspath(song) if isinstance(song, str) else song_label(song)
    return json.loads(json.dumps({"overrides": overrides, "song": song}))


def check_run_folder(run_dir, overrides, song):
    """Refuse to reuse a run folder made with other settings: its results would be labelled wrongly."""
    path, done = os.path.join(run_dir, "settings.json"), os.path.join(run_dir, "summary.json")
    new = run_settings(overrides, song)
    if os.path.exists(path):
        old = read_json(path)
    elif os.path.exists(done):  # a folder from before settings.json: its summary has the overrides
        old = {"overrides": read_json(done).get("overrides", {}), "song": new["song"]}
    else:
        return
    if old != new:
        keys = sorted(set(old["overrides"]) | set(new["overrides"]))
        diff = [f"{k} {old['overrides'].get(k, 'default')} -> {new['overrides'].get(k, 'default')}"
                for k in keys if old["overrides"].get(k) != new["overrides"].get(k)]
        if old["song"] != new["song"]:
            diff.append(f"song {old['song']} -> {new['song']}")
        raise UserError(f"{run_dir} holds a run made with other settings ({', '.join(diff)}); give another --out, "
                        "or delete that run folder to run it anew")


def select(sweep, only=None):
    """[(name, variant)] of the sweep's runs, those matching the glob `only` if given."""
    runs = [(run_name(v), v) for v in sweep.variants]
    if only:
        runs = [(n, v) for n, v in runs if fnmatch.fnmatchcase(n, only)]
        if not runs:
            raise UserError(f"--only {only!r} matches none of this sweep's runs: "
                            f"{', '.join(run_name(v) for v in sweep.variants)}")
    return runs


def run_sweep(sweep, out_dir, song=None, epochs=30, extra=None, progress=True, clip_seconds=30.0, only=None,
              executor=None):
    """Every run of `sweep` (or those matching the glob `only`; skipping finished ones), then the
    tables and plots. The tables list every run of the sweep, those not run yet as such.
    `executor` (rnnsound.executor.ExecutorOptions) runs them on a Dask cluster; None: serially here."""
    extra = dict(extra or {})
    runs = select(sweep, only)
    validate_runs(sweep, extra, epochs, runs, out_dir, song)
    make_out_dir(out_dir)
    write_json(os.path.join(out_dir, "sweep.json"), {
        "name": sweep.name, "title": sweep.title, "swept": sweep.swept, "runs": [run_name(v) for v in sweep.variants],
        "song": song_label(song), "base": {**sweep.base, **extra, "epochs": epochs},
        "marked": list(sweep.marked), "mark": sweep.mark})
    started = time.time()
    runs = [(name, {**sweep.base, **extra, "epochs": epochs, **variant}) for name, variant in runs]
    if executor is not None and executor.distributed:
        from .executor import run_distributed
        for s in run_distributed(runs, song, out_dir, clip_seconds, executor, progress, sweep.temperatures):
            path = os.path.join(out_dir, "runs", s["name"], "failed.json")
            if s["status"] == "failed" and not os.path.exists(path):  # retries used up: record why
                write_json(path, s)
    else:
        for name, overrides in runs:
            run_one(name, overrides, song, out_dir, progress, clip_seconds, sweep.temperatures)
    report(out_dir)
    if progress:
        print(f"{sweep.name}: {len(runs)} runs in {time.time() - started:.0f} s; tables in "
              f"{os.path.join(out_dir, 'results.md')}")


def _get(clip, key, fmt):
    """A clip metric, or blank in summaries written before it existed."""
    return "" if clip.get(key) is None else format(clip[key], fmt)


def _clip(s, mode):
    """The run's first clip of `mode` (the table's clip; clips.md lists them all)."""
    return s[next((c["key"] for c in s.get("clips", []) if c["mode"] == mode), mode)]


COLUMNS = [  # (header, how to get it from a summary)
    ("run", lambda s: s["name"]), ("cell", lambda s: s["cell"]), ("axis", lambda s: s["recur_axis"]),
    ("head", lambda s: s.get("output", "mse")),
    ("F", lambda s: s["frame_size"]), ("L", lambda s: s["seq_len"]), ("hop", lambda s: s["hop"]),
    ("params", lambda s: s["params"]), ("train ex", lambda s: s["examples"]["train"]),
    ("dev ex", lambda s: s["examples"]["dev"]), ("updates", lambda s: s["steps"]),
    ("best dev", lambda s: f"{s['best_dev']:.4g}"), ("final dev", lambda s: f"{s['final_dev']:.4g}"),
    ("dev/zero", lambda s: f"{s['best_dev'] / s['baselines']['zero']:.3f}"),
    ("zero", lambda s: f"{s['baselines']['zero']:.4g}"), ("last frame", lambda s: f"{s['baselines']['last_frame']:.4g}"),
    ("linear", lambda s: f"{s['baselines']['linear']:.4g}"),
    ("dev bits", lambda s: "" if s.get("best_bits") is None else f"{s['best_bits']:.3f}"),
    ("beats all", lambda s: "yes" if s["best_dev"] < min(s["baselines"][k] for k in ("zero", "last_frame", "linear")) else "no"),
    ("train s", lambda s: f"{s['train_seconds']:.0f}"), ("samples/s", lambda s: f"{s['samples_per_second']:.3g}"),
    ("step norm", lambda s: "" if s.get("step_norm_median") is None else f"{s['step_norm_median']:.3g}"),
    ("stateful fade", lambda s: f"{_clip(s, 'stateful')['fade_ratio']:.3g}"),
    ("stateful ticks", lambda s: f"{_clip(s, 'stateful')['tick_score']:.2f}"),
    ("stateful spec dB", lambda s: f"{_clip(s, 'stateful')['spectral_distance_db']:.1f}"),
    ("stateful audible %", lambda s: f"{100 * _clip(s, 'stateful').get('audible_fraction', float('nan')):.1f}"),
    ("stateful copy %", lambda s: f"{100 * _clip(s, 'stateful')['copy_fraction']:.1f}"),
    ("stateful loud dev dB", lambda s: _get(_clip(s, 'stateful'), "loudness_max_deviation_db", ".1f")),
    ("stateful flatness", lambda s: _get(_clip(s, 'stateful'), "spectral_flatness", ".3g")),
    ("blog s", lambda s: f"{_clip(s, 'blog')['seconds']:.1f}"), ("blog fade", lambda s: f"{_clip(s, 'blog')['fade_ratio']:.3g}"),
    ("blog ticks", lambda s: f"{_clip(s, 'blog')['tick_score']:.2f}"),
    ("blog spec dB", lambda s: f"{_clip(s, 'blog')['spectral_distance_db']:.1f}"),
    ("blog loud dev dB", lambda s: _get(_clip(s, 'blog'), "loudness_max_deviation_db", ".1f")),
    ("blog flatness", lambda s: _get(_clip(s, 'blog'), "spectral_flatness", ".3g")),
    ("host", lambda s: s.get("host", "")), ("worker", lambda s: s.get("worker", "")),
    ("device", lambda s: s.get("device", "")),
]


def report(out_dir):
    """results.csv, results.md, curves.png and summary.png from the run folders of a sweep."""
    meta_path = os.path.join(out_dir, "sweep.json")
    if not os.path.exists(meta_path):
        raise UserError(f"{out_dir} holds no sweep (no sweep.json); give the --out folder of an experiment")
    meta = read_json(meta_path, ("runs", "title", "song", "base"))
    planned = read_plan(os.path.join(out_dir, "plan.csv"))
    summaries = []
    for name in meta["runs"]:
        path, failed = (os.path.join(out_dir, "runs", name, f) for f in ("summary.json", "failed.json"))
        summaries.append(read_json(path) if os.path.exists(path) else read_json(failed) if os.path.exists(failed)
                         else planned.get(name, {"name": name, "status": "not run yet"}))
    done = [s for s in summaries if s["status"] == "done"]
    columns = list(COLUMNS)
    if meta.get("mark"):
        marked = set(meta["marked"])
        columns.insert(1, (meta["mark"], lambda s: "yes" if s["name"] in marked else ""))
    header = [h for h, _ in columns]
    with atomic_path(os.path.join(out_dir, "results.csv")) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header + ["status", "reason"])
        for s in summaries:
            w.writerow([get(s) for _, get in columns] + [s["status"], ""] if s["status"] == "done"
                       else [s["name"]] + [""] * (len(header) - 1) + [s["status"], s.get("reason", "")])
    lines = [f"# {meta['title']}", "", f"Song: {meta['song']}. Settings for every run: "
             f"`{json.dumps(meta['base'])}`. MSE in normalised units, dev split; `dev/zero` is the best dev MSE "
             "relative to predicting zero (the data's variance); `beats all` = below all three baselines. "
             "Clips: 30 s `stateful`, `blog s` seconds of `blog`; fade = RMS of the last 5 s over the seed's; "
             "ticks = jumps at frame boundaries over jumps within frames; spec dB = spectral distance to the "
             "song; audible % = frames above 10% of the song's RMS; copy % = audible frames within 5% of a "
             "training frame; loud dev dB = the largest distance of a second's BS.1770 loudness from the seed's; "
             "flatness = spectral flatness (1 = white noise); dev bits = NLL of the mu-law-quantised dev targets "
             "per sample at the best epoch (rnnsound.metrics, rnnsound.heads).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in done:
        lines.append("| " + " | ".join(str(get(s)) for _, get in columns) + " |")
    for s in summaries:
        if s["status"] != "done":
            lines.append(f"| {s['name']} | {s['status']}: {s.get('reason', '')} |" + " |" * (len(header) - 2))
    with atomic_path(os.path.join(out_dir, "results.md")) as tmp, open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    write_clips_table(out_dir, meta["title"], done)
    if done:
        plots.sweep_curves({s["name"]: read_log(os.path.join(out_dir, "runs", s["name"], "log.csv")) for s in done},
                           os.path.join(out_dir, "curves.png"), meta["title"] + ": dev MSE per epoch")
        plots.sweep_summary([s["name"] for s in done], [s["best_dev"] for s in done], [s["baselines"] for s in done],
                            os.path.join(out_dir, "summary.png"), meta["title"] + ": best dev MSE and baselines")
    return summaries


CLIP_COLUMNS = [  # (header, how to get it from a summary and one of its clips)
    ("run", lambda s, c: s["name"]), ("head", lambda s, c: s.get("output", "mse")),
    ("input noise", lambda s, c: f"{s.get('input_noise', 0):g}"), ("F", lambda s, c: s["frame_size"]),
    ("L", lambda s, c: s["seq_len"]), ("dev/zero", lambda s, c: f"{s['best_dev'] / s['baselines']['zero']:.3f}"),
    ("dev bits", lambda s, c: "" if s.get("best_bits") is None else f"{s['best_bits']:.3f}"),
    ("mode", lambda s, c: c["mode"]), ("T", lambda s, c: _get(c, "temperature", "g")),
    ("s", lambda s, c: f"{c['seconds']:.1f}"), ("fade", lambda s, c: f"{c['fade_ratio']:.3g}"),
    ("loud dev dB", lambda s, c: _get(c, "loudness_max_deviation_db", ".1f")),
    ("flatness", lambda s, c: _get(c, "spectral_flatness", ".3g")),
    ("song flatness", lambda s, c: _get(c, "song_spectral_flatness", ".3g")),
    ("spec dB", lambda s, c: f"{c['spectral_distance_db']:.1f}"), ("ticks", lambda s, c: f"{c['tick_score']:.2f}"),
    ("clipped %", lambda s, c: f"{100 * c['clipped_fraction']:.1f}"),
    ("audible %", lambda s, c: f"{100 * c['audible_fraction']:.1f}"), ("copy %", lambda s, c: f"{100 * c['copy_fraction']:.1f}"),
]


def write_clips_table(out_dir, title, done):
    """clips.csv and clips.md: one row per generated clip of every finished run."""
    rows = [[get(s, {**s[c["key"]], "mode": c["mode"]}) for _, get in CLIP_COLUMNS]
            for s in done for c in s.get("clips", [{"key": m, "mode": m} for m in ("stateful", "blog")])]
    header = [h for h, _ in CLIP_COLUMNS]
    with atomic_path(os.path.join(out_dir, "clips.csv")) as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([header] + rows)
    lines = [f"# {title}: every clip", "", "One row per generated clip (rnnsound.metrics): T = temperature (0 = the "
             "head's mean); fade = RMS of the last 5 s over the seed's; loud dev dB = the largest distance of a "
             "second's BS.1770 loudness from the seed's; flatness = spectral flatness of the clip (1 = white noise) "
             "beside the song's; spec dB = spectral distance to the song; copy % = audible frames within 5% of a "
             "training frame.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    with atomic_path(os.path.join(out_dir, "clips.md")) as tmp, open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")


def read_plan(path):
    """{run: summary-like dict} of the runs a plan.csv (rnnsound.plan) describes: `planned` with the
    estimated time, or `infeasible` with the reason, so the tables can list runs not run yet."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["run"]: {"name": r["run"], "status": "planned" if r["status"] == "feasible" else "infeasible",
                       "reason": (f"est. {float(r['est_seconds']) / 3600:.2g} h on this machine (plan.csv)"
                                  if r["status"] == "feasible" else r["reason"])} for r in rows}


def add_executor_options(parser):
    g = parser.add_argument_group("running on a Dask cluster (default: serially, in this process)",
                                  "The --out folder must be on a filesystem every worker sees. Batch-job settings not "
                                  "given here come from Dask's configuration (jobqueue.slurm.* in ~/.config/dask/).")
    g.add_argument("--workers", type=int, default=0, metavar="N", help="a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://head:8786 (start "
                   "its workers with --nthreads 1 --resources run=1)")
    g.add_argument("--cluster", choices=("slurm", "pbs", "sge"), help="batch jobs through dask-jobqueue")
    g.add_argument("--jobs", type=int, default=1, help="batch jobs to start (default %(default)s)")
    g.add_argument("--threads-per-worker", type=int, default=0, metavar="T",
                   help="threads of each run (BLAS and XLA); default: the cores divided among the workers")
    g.add_argument("--retries", type=int, default=2, help="retries of a run whose worker died or that was stopped "
                   "(default %(default)s); a run that fails for its own reason is not retried")
    g.add_argument("--queue", help="batch queue / partition")
    g.add_argument("--account", help="batch account / project")
    g.add_argument("--cores", type=int, help="cores per batch job (default: --threads-per-worker)")
    g.add_argument("--memory", help="memory per batch job, e.g. 16GB")
    g.add_argument("--walltime", help="walltime per batch job, e.g. 04:00:00")
    g.add_argument("--gpus", type=int, default=0, help="GPUs per batch job (Slurm: --gres=gpu:N)")
    g.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                   help="another batch directive, e.g. --job-extra=--constraint=avx2 (repeatable)")


def executor_options(args):
    from .executor import ExecutorOptions
    return ExecutorOptions(workers=args.workers, scheduler=args.scheduler, cluster=args.cluster, jobs=args.jobs,
                           threads_per_worker=args.threads_per_worker, retries=args.retries, queue=args.queue,
                           account=args.account, cores=args.cores, memory=args.memory, walltime=args.walltime,
                           gpus=args.gpus, job_extra=tuple(args.job_extra)).validate()


def cli(sweep, argv=None):
    """The command line every experiments/ script shares."""
    import argparse
    import sys
    from .cli import add_song_options, quiet_known_warnings, song_from_args
    from .config import parse_assignments
    quiet_known_warnings()
    p = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--song", help="audio file (default: an embedded song, see --style and --minutes)")
    add_song_options(p)
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default %(default)s, the blog's)")
    p.add_argument("--out", default=os.path.join("results", sweep.name), help="results folder (default %(default)s)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run, e.g. --set hop=20")
    p.add_argument("--only", metavar="GLOB", help="run only the runs whose names match, e.g. --only 'frame_size=1000*' "
                   "(the tables still list the others)")
    p.add_argument("--plan", action="store_true", help="train nothing: print each run's examples, updates, estimated "
                   "time and memory (from steps timed on this machine, cached) and write OUT/plan.csv")
    p.add_argument("--remeasure", action="store_true", help="with --plan: time the steps again instead of using the cache")
    p.add_argument("-q", "--quiet", action="store_true")
    add_executor_options(p)
    args = p.parse_args(argv)
    try:
        song = song_from_args(args.song, args.style, args.minutes)
        executor = executor_options(args)
        if args.plan:
            from .plan import plan_sweep
            plan_sweep(sweep, args.out, song, args.epochs, parse_assignments(args.set), args.only, args.remeasure)
            return 0
        run_sweep(sweep, args.out, song, args.epochs, parse_assignments(args.set), progress=not args.quiet,
                  only=args.only, executor=executor)
    except UserError as e:
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0
