"""Sweeps as data: a base set of overrides plus one dict of overrides per run; tables and plots.

`run_sweep(sweep, out_dir, ...)` prepares each run's dataset (shared between runs that use the
same F, L and hop), trains it in `out_dir/runs/<name from its overrides>`, generates a 30 s
`stateful` clip and a `blog` clip, and writes `summary.json` in the run folder as its DONE
marker. Rerunning skips finished runs and resumes an interrupted one from its last.h5. A pair
(F, L) the song cannot hold is recorded as infeasible with the reason. `report(out_dir)` (also
`rnnsound report DIR`) rebuilds results.csv, results.md and the PNGs from the run folders.

The `blog` clip costs L network steps per output frame (each prediction re-reads a whole
window), so it is capped at BLOG_STEP_BUDGET steps: at F=40, L=100 that is 15 s, not 30 s;
the table says how many seconds each blog clip has.
"""
import csv
import dataclasses
import json
import os
import time

from . import plots
from .config import DataConfig, TrainConfig, with_overrides
from .errors import UserError
from .train import read_json, read_log, write_json

BLOG_STEP_BUDGET = 600_000  # network steps (frames x L) per blog clip, ~40 s at 2x256 on 2 cores
DATA_KEYS = {f.name for f in dataclasses.fields(DataConfig)}
TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str          # results folder default: results/<name>
    title: str
    swept: str         # the setting whose value the summary plot puts on its x axis
    base: dict         # overrides every run gets
    variants: tuple    # one dict of overrides per run


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


def run_one(name, overrides, song, out_dir, progress=True, clip_seconds=30.0):
    """Train and measure one run of a sweep; returns its summary (also written as summary.json)."""
    from .dataset import prepare
    from .generate import generate
    from .train import train
    run_dir = os.path.join(out_dir, "runs", name)
    done = os.path.join(run_dir, "summary.json")
    if os.path.exists(done):
        if progress:
            print(f"[{name}] finished earlier: skipped")
        return read_json(done)
    data_over, train_over = split_overrides(overrides)
    dcfg = with_overrides(DataConfig(), data_over)
    tcfg = with_overrides(TrainConfig(), train_over)
    stem = "default" if song is None else os.path.splitext(os.path.basename(song))[0]
    data = os.path.join(out_dir, "data", f"{stem}_f{dcfg.frame_size}_l{dcfg.seq_len}_h{dcfg.hop_frames}.hdf5")
    summary = {"name": name, "overrides": overrides, "frame_size": dcfg.frame_size, "seq_len": dcfg.seq_len,
               "hop": dcfg.hop_frames, "cell": tcfg.cell, "recur_axis": tcfg.recur_axis, "epochs": tcfg.epochs}
    os.makedirs(run_dir, exist_ok=True)
    try:
        if not os.path.exists(data):
            prepare(song, data, dcfg, progress=False)
    except UserError as e:
        if "too short" not in str(e):
            raise
        summary.update(status="infeasible", reason=str(e))
        write_json(done, summary)
        if progress:
            print(f"[{name}] infeasible: {e}")
        return summary
    if progress:
        print(f"[{name}] training ({tcfg.epochs} epochs)")
    resume = os.path.exists(os.path.join(run_dir, "last.h5"))
    s = train(data, tcfg, run_dir, resume=resume, progress=progress)
    summary.update(status="done", params=s["params"], steps=s["steps"], best_dev=s["best_dev"],
                   train_seconds=s["seconds"], samples_per_second=s["samples_per_second"], baselines=s["baselines"],
                   examples=s["examples"])
    epochs = [r for r in read_log(os.path.join(run_dir, "log.csv")) if r["kind"] == "epoch"]
    summary["final_dev"] = float(epochs[-1]["dev_mse"]) if epochs else None
    blog_seconds = min(clip_seconds, BLOG_STEP_BUDGET // dcfg.seq_len * dcfg.frame_size / dcfg.sample_rate)
    for mode, seconds in (("stateful", clip_seconds), ("blog", blog_seconds)):
        t = time.time()
        m = generate(run_dir, os.path.join(run_dir, "samples", f"{mode}.wav"), mode, seconds, progress=False)
        summary[mode] = {k: m[k] for k in ("seconds", "fade_ratio", "clipped_fraction", "tick_score",
                                           "spectral_distance_db", "copy_fraction", "audible_fraction",
                                           "nearest_train_rms_median")}
        summary[mode]["wall_seconds"] = time.time() - t
    write_json(done, summary)
    return summary


def run_sweep(sweep, out_dir, song=None, epochs=30, extra=None, progress=True, clip_seconds=30.0):
    """Every run of `sweep` (skipping finished ones), then the tables and plots."""
    extra = dict(extra or {})
    split_overrides({**sweep.base, **extra})  # fail on a typo before any work
    os.makedirs(out_dir, exist_ok=True)
    names = [run_name(v) for v in sweep.variants]
    write_json(os.path.join(out_dir, "sweep.json"), {"name": sweep.name, "title": sweep.title, "swept": sweep.swept,
                                                  "runs": names, "song": song or "default song",
                                                  "base": {**sweep.base, **extra, "epochs": epochs}})
    started = time.time()
    for name, variant in zip(names, sweep.variants):
        run_one(name, {**sweep.base, **extra, "epochs": epochs, **variant}, song, out_dir, progress, clip_seconds)
    report(out_dir)
    if progress:
        print(f"{sweep.name}: {len(names)} runs in {time.time() - started:.0f} s; tables in "
              f"{os.path.join(out_dir, 'results.md')}")


COLUMNS = [  # (header, how to get it from a summary)
    ("run", lambda s: s["name"]), ("cell", lambda s: s["cell"]), ("axis", lambda s: s["recur_axis"]),
    ("F", lambda s: s["frame_size"]), ("L", lambda s: s["seq_len"]), ("hop", lambda s: s["hop"]),
    ("params", lambda s: s["params"]), ("train ex", lambda s: s["examples"]["train"]),
    ("dev ex", lambda s: s["examples"]["dev"]), ("updates", lambda s: s["steps"]),
    ("best dev", lambda s: f"{s['best_dev']:.4g}"), ("final dev", lambda s: f"{s['final_dev']:.4g}"),
    ("dev/zero", lambda s: f"{s['best_dev'] / s['baselines']['zero']:.3f}"),
    ("zero", lambda s: f"{s['baselines']['zero']:.4g}"), ("last frame", lambda s: f"{s['baselines']['last_frame']:.4g}"),
    ("linear", lambda s: f"{s['baselines']['linear']:.4g}"),
    ("beats all", lambda s: "yes" if s["best_dev"] < min(s["baselines"][k] for k in ("zero", "last_frame", "linear")) else "no"),
    ("train s", lambda s: f"{s['train_seconds']:.0f}"), ("samples/s", lambda s: f"{s['samples_per_second']:.3g}"),
    ("stateful fade", lambda s: f"{s['stateful']['fade_ratio']:.3g}"),
    ("stateful ticks", lambda s: f"{s['stateful']['tick_score']:.2f}"),
    ("stateful spec dB", lambda s: f"{s['stateful']['spectral_distance_db']:.1f}"),
    ("stateful audible %", lambda s: f"{100 * s['stateful'].get('audible_fraction', float('nan')):.1f}"),
    ("stateful copy %", lambda s: f"{100 * s['stateful']['copy_fraction']:.1f}"),
    ("blog s", lambda s: f"{s['blog']['seconds']:.1f}"), ("blog fade", lambda s: f"{s['blog']['fade_ratio']:.3g}"),
    ("blog ticks", lambda s: f"{s['blog']['tick_score']:.2f}"),
    ("blog spec dB", lambda s: f"{s['blog']['spectral_distance_db']:.1f}"),
]


def report(out_dir):
    """results.csv, results.md, curves.png and summary.png from the run folders of a sweep."""
    meta_path = os.path.join(out_dir, "sweep.json")
    if not os.path.exists(meta_path):
        raise UserError(f"{out_dir} holds no sweep (no sweep.json); give the --out folder of an experiment")
    meta = read_json(meta_path)
    summaries = []
    for name in meta["runs"]:
        path = os.path.join(out_dir, "runs", name, "summary.json")
        summaries.append(read_json(path) if os.path.exists(path) else {"name": name, "status": "not run yet"})
    done = [s for s in summaries if s["status"] == "done"]
    header = [h for h, _ in COLUMNS]
    from .atomic import atomic_path
    with atomic_path(os.path.join(out_dir, "results.csv")) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header + ["status", "reason"])
        for s in summaries:
            w.writerow([get(s) for _, get in COLUMNS] + [s["status"], ""] if s["status"] == "done"
                       else [s["name"]] + [""] * (len(header) - 1) + [s["status"], s.get("reason", "")])
    lines = [f"# {meta['title']}", "", f"Song: {meta['song']}. Settings for every run: "
             f"`{json.dumps(meta['base'])}`. MSE in normalised units, dev split; `dev/zero` is the best dev MSE "
             "relative to predicting zero (the data's variance); `beats all` = below all three baselines. "
             "Clips: 30 s `stateful`, `blog s` seconds of `blog`; fade = RMS of the last 5 s over the seed's; "
             "ticks = jumps at frame boundaries over jumps within frames; spec dB = spectral distance to the "
             "song; audible % = frames above 10% of the song's RMS; copy % = audible frames within 5% of a "
             "training frame (rnnsound.metrics).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in done:
        lines.append("| " + " | ".join(str(get(s)) for _, get in COLUMNS) + " |")
    for s in summaries:
        if s["status"] != "done":
            lines.append(f"| {s['name']} | {s['status']}: {s.get('reason', '')} |" + " |" * (len(header) - 2))
    with atomic_path(os.path.join(out_dir, "results.md")) as tmp, open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    if done:
        plots.sweep_curves({s["name"]: read_log(os.path.join(out_dir, "runs", s["name"], "log.csv")) for s in done},
                           os.path.join(out_dir, "curves.png"), meta["title"] + ": dev MSE per epoch")
        plots.sweep_summary([s["name"] for s in done], [s["best_dev"] for s in done], [s["baselines"] for s in done],
                            os.path.join(out_dir, "summary.png"), meta["title"] + ": best dev MSE and baselines")
    return summaries


def cli(sweep, argv=None):
    """The command line every experiments/ script shares."""
    import argparse
    import sys
    from .cli import quiet_known_warnings
    from .config import parse_assignments
    quiet_known_warnings()
    p = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--song", help="audio file (default: the embedded default song)")
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default %(default)s, the blog's)")
    p.add_argument("--out", default=os.path.join("results", sweep.name), help="results folder (default %(default)s)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run, e.g. --set hop=20")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        run_sweep(sweep, args.out, args.song, args.epochs, parse_assignments(args.set), progress=not args.quiet)
    except UserError as e:
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0
