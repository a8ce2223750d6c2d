"""A sweep's tables and plots, rebuilt from its run folders (also `rnnsound report OUT`):
results.csv and results.md (a row per run: settings, losses against the baselines, clip metrics;
runs not done show why), clips.csv and clips.md (a row per clip), curves.png and summary.png.
"""
import json
import os

from .. import listen, plots
from ..errors import UserError
from ..files import NUMBER, read_csv, read_json, write_csv, write_text
from ..rundir import sweep_run


def _get(clip, key, fmt):
    """A clip metric, or blank in summaries written before it existed."""
    return "" if clip.get(key) is None else format(clip[key], fmt)


def _beats_all(s):
    """Below all three frame baselines? Not asked of `tier`, whose dev MSE predicts each sample from
    the true samples before it (one sample ahead, not a frame): its baseline is lpc bits."""
    if s.get("output") == "tier":
        return "n/a"
    return "yes" if s["best_dev"] < min(s["baselines"][k] for k in ("zero", "last_frame", "linear")) else "no"


def _pct(clip, key):
    return "" if clip.get(key) is None else f"{100 * clip[key]:.0f}"


def _copies(clip):
    """Copied frames out of the audible ones ("3/12"): a share means little without its count."""
    return "" if clip.get("copy_frames") is None else f"{clip['copy_frames']}/{clip['audible_frames']}"


def _clip(s, mode):
    """The run's first clip of `mode` (the table's clip; clips.md lists them all)."""
    return s[next((c["key"] for c in s.get("clips", []) if c["mode"] == mode), mode)]


COLUMNS = [  # (header, how to get it from a summary)
    ("run", lambda s: s["name"]),
    ("cell", lambda s: s["cell"]),
    ("axis", lambda s: s["recur_axis"]),
    ("head", lambda s: s.get("output", "mse")),
    ("F", lambda s: s["frame_size"]),
    ("L", lambda s: s["seq_len"]),
    ("hop", lambda s: s["hop"]),
    ("params", lambda s: s["params"]),
    ("train ex", lambda s: s["examples"]["train"]),
    ("dev ex", lambda s: s["examples"]["dev"]),
    ("updates", lambda s: s["steps"]),
    ("best dev", lambda s: f"{s['best_dev']:.4g}"),
    ("final dev", lambda s: f"{s['final_dev']:.4g}"),
    ("dev/zero", lambda s: f"{s['best_dev'] / s['baselines']['zero']:.3f}"),
    ("zero", lambda s: f"{s['baselines']['zero']:.4g}"),
    ("last frame", lambda s: f"{s['baselines']['last_frame']:.4g}"),
    ("linear", lambda s: f"{s['baselines']['linear']:.4g}"),
    ("dev bits", lambda s: "" if s.get("best_bits") is None else f"{s['best_bits']:.3f}"),
    ("lpc bits", lambda s: _get(s["baselines"], "lpc_bits", ".3f")),
    ("beats all", lambda s: _beats_all(s)),
    ("train s", lambda s: f"{s['train_seconds']:.0f}"),
    ("samples/s", lambda s: f"{s['samples_per_second']:.3g}"),
    ("step norm", lambda s: "" if s.get("step_norm_median") is None else f"{s['step_norm_median']:.3g}"),
    ("stateful end dB", lambda s: _get(_clip(s, "stateful"), "end_level_db", ".1f")),
    ("stateful in range %", lambda s: _pct(_clip(s, "stateful"), "seconds_in_song_range")),
    ("stateful ticks", lambda s: f"{_clip(s, 'stateful')['tick_score']:.2f}"),
    ("stateful spec dB", lambda s: f"{_clip(s, 'stateful')['spectral_distance_db']:.1f}"),
    ("stateful copy", lambda s: _copies(_clip(s, "stateful"))),
    ("stateful flatness", lambda s: _get(_clip(s, "stateful"), "spectral_flatness", ".3g")),
    ("song flatness", lambda s: _get(_clip(s, "stateful"), "song_spectral_flatness", ".3g")),
    ("blog s", lambda s: f"{_clip(s, 'blog')['seconds']:.1f}"),
    ("blog end dB", lambda s: _get(_clip(s, "blog"), "end_level_db", ".1f")),
    ("blog in range %", lambda s: _pct(_clip(s, "blog"), "seconds_in_song_range")),
    ("blog ticks", lambda s: f"{_clip(s, 'blog')['tick_score']:.2f}"),
    ("blog spec dB", lambda s: f"{_clip(s, 'blog')['spectral_distance_db']:.1f}"),
    ("blog copy", lambda s: _copies(_clip(s, "blog"))),
    ("blog flatness", lambda s: _get(_clip(s, "blog"), "spectral_flatness", ".3g")),
    ("host", lambda s: s.get("host", "")),
    ("worker", lambda s: s.get("worker", "")),
    ("device", lambda s: s.get("device", "")),
    ("machine", lambda s: s.get("machine", "")),
    ("commit", lambda s: s.get("commit", "")),
]


# Her figures for her committed pairs (docs/recipe.md), relative to her data's variance, by (F, L)
HER_FIGURES = {(1000, 100): "0.59 (train 0.056 -> 0.033, 390 updates)",
               (4000, 50): "0.90 (dev 0.0561 -> 0.0504, 210 updates)"}
PAGE_COLUMNS = ("run", "cell", "axis", "head", "F", "L", "updates", "dev/zero", "dev bits", "lpc bits",
                "stateful end dB", "stateful copy", "stateful flatness", "song flatness", "blog end dB")


def her_figure(s):
    return HER_FIGURES.get((s.get("frame_size"), s.get("seq_len")), "")


SUMMARY = {"name": str, "status": str}  # what every summary.json and failed.json holds
# and what a finished run's summary holds besides, each checked before a table reads it
DONE = {"best_dev": NUMBER, "final_dev": NUMBER, "steps": int, "baselines": dict, "examples": dict,
        "train_seconds": NUMBER, "samples_per_second": NUMBER}


def read_summary(path):
    """A run's summary.json or failed.json, checked like input: a damaged value is one line."""
    s = read_json(path, SUMMARY)
    if s["status"] == "done":
        s = read_json(path, {**SUMMARY, **DONE})
        bad = [f"baselines.{k}" for k in ("zero", "last_frame", "linear")
               if not isinstance(s["baselines"].get(k), NUMBER) or isinstance(s["baselines"].get(k), bool)]
        if bad or not s["baselines"].get("zero"):
            raise UserError(f"{path} is damaged (wrong type or zero: {', '.join(bad) or 'baselines.zero'}); rerun that "
                            "run, or restore the file")
    return s


METRICS_LEGEND = (
    "end dB = BS.1770 loudness of the clip's last 5 s (median of its seconds, DC removed) relative to the song's "
    "median second (0 = as loud as the song; -20 = a tenth of its amplitude; silence reads near -70 LUFS less the "
    "song's level); in range % = the clip's seconds within the 10th-90th percentile of the song's; ticks = jumps at "
    "frame boundaries over jumps within frames; spec dB = spectral distance to the song; audible = frames above 10% "
    "of the song's RMS; copy = audible frames within 5% of a training frame, out of the audible frames; flatness = "
    "per-frame spectral flatness averaged over the audible frames (librosa's measure; 1 = white noise, blank = no "
    "audible frame) beside the song's. The song's figures come from contiguous stretches of its training part, the "
    "same for every F and L (rnnsound.metrics)."
)


def read_meta(out_dir):
    """A sweep's sweep.json, checked."""
    meta_path = os.path.join(out_dir, "sweep.json")
    if not os.path.exists(meta_path):
        raise UserError(f"{out_dir} holds no sweep (no sweep.json); give the --out folder of an experiment")
    meta = read_json(meta_path, {"runs": list, "title": str, "song": str, "base": dict})
    if not all(isinstance(name, str) for name in meta["runs"]):
        raise UserError(f"{meta_path} is damaged (its runs are not all names); restore it, or rerun the sweep")
    return meta


def sweep_runs(out_dir):
    """The names of a sweep's runs, in its order."""
    return read_meta(out_dir)["runs"]


def report(out_dir):
    """results.csv, results.md, clips.csv, clips.md, curves.png, summary.png and the listening page
    index.html (rnnsound.listen) from the run folders of a sweep."""
    meta = read_meta(out_dir)
    planned = read_plan(os.path.join(out_dir, "plan.csv"))
    summaries = []
    for name in meta["runs"]:
        run = sweep_run(out_dir, name)
        found = [p for p in (run.summary, run.failed) if os.path.exists(p)]
        summaries.append(read_summary(found[0]) if found else
                         planned.get(name, {"name": name, "status": "not run yet"}))
    done = [s for s in summaries if s["status"] == "done"]
    columns = list(COLUMNS)
    if meta.get("mark"):
        marked = set(meta["marked"])
        columns.insert(1, (meta["mark"], lambda s: "yes" if s["name"] in marked else ""))
    header = [h for h, _ in columns]
    write_csv(os.path.join(out_dir, "results.csv"), header + ["status", "reason"],
              ([get(s) for _, get in columns] + [s["status"], ""] if s["status"] == "done"
               else [s["name"]] + [""] * (len(header) - 1) + [s["status"], s.get("reason", "")] for s in summaries))
    commits = sorted({s["commit"] for s in done if s.get("commit")})
    machines = sorted({s["machine"] for s in done if s.get("machine")})
    made = ("Made with " + "; ".join(f"`{c}`" for c in meta.get("commands", [])) if meta.get("commands") else "") + \
        (f" at commit {', '.join(commits)}" if commits else "") + (f" on {', '.join(machines)}" if machines else "")
    remeasured = sorted({s["clips_commit"] for s in done if s.get("clips_commit")})
    if remeasured:
        made += (
            f"; clips generated and measured again (`rnnsound report --remeasure`) at commit {', '.join(remeasured)}"
        )
    lines = [f"# {meta['title']}", ""] + ([made.strip() + ".", ""] if made.strip() else []) + [
             f"Song: {meta['song']}. Settings for every run: "
             f"`{json.dumps(meta['base'])}`. MSE in normalised units, dev split; `dev/zero` is the best dev MSE "
             "relative to predicting zero (the data's variance); `beats all` = below all three frame "
             "baselines (n/a for tier, whose MSE is one sample ahead); dev bits = NLL of the mu-law-quantised dev "
             "targets per sample at the best epoch; lpc bits = the same for a one-sample-ahead linear predictor "
             "(rnnsound.baselines). Clips: 30 s `stateful`, `blog s` seconds of `blog`; " + METRICS_LEGEND, "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in done:
        lines.append("| " + " | ".join(str(get(s)) for _, get in columns) + " |")
    for s in summaries:
        if s["status"] != "done":
            lines.append(f"| {s['name']} | {s['status']}: {s.get('reason', '')} |" + " |" * (len(header) - 2))
    write_text(os.path.join(out_dir, "results.md"), "\n".join(lines) + "\n")
    write_clips_table(out_dir, meta["title"], done)
    if done:
        plots.sweep_curves({s["name"]: read_csv(sweep_run(out_dir, s["name"]).log) for s in done},
                           os.path.join(out_dir, "curves.png"), meta["title"] + ": dev MSE per epoch")
        plots.sweep_summary([s["name"] for s in done], [s["best_dev"] for s in done], [s["baselines"] for s in done],
                            os.path.join(out_dir, "summary.png"), meta["title"] + ": best dev MSE and baselines")
    listen.sweep_page(out_dir, meta["title"], summaries, [c for c in columns if c[0] in PAGE_COLUMNS], her_figure)
    return summaries


CLIP_COLUMNS = [  # (header, how to get it from a summary and one of its clips)
    ("run", lambda s, c: s["name"]), ("head", lambda s, c: s.get("output", "mse")),
    ("input noise", lambda s, c: f"{s.get('input_noise', 0):g}"), ("F", lambda s, c: s["frame_size"]),
    ("L", lambda s, c: s["seq_len"]), ("dev/zero", lambda s, c: f"{s['best_dev'] / s['baselines']['zero']:.3f}"),
    ("dev bits", lambda s, c: "" if s.get("best_bits") is None else f"{s['best_bits']:.3f}"),
    ("mode", lambda s, c: c["mode"]), ("T", lambda s, c: _get(c, "temperature", "g")),
    ("s", lambda s, c: f"{c['seconds']:.1f}"), ("end dB", lambda s, c: _get(c, "end_level_db", ".1f")),
    ("in range %", lambda s, c: _pct(c, "seconds_in_song_range")),
    ("flatness", lambda s, c: _get(c, "spectral_flatness", ".3g")),
    ("song flatness", lambda s, c: _get(c, "song_spectral_flatness", ".3g")),
    ("spec dB", lambda s, c: f"{c['spectral_distance_db']:.1f}"), ("ticks", lambda s, c: f"{c['tick_score']:.2f}"),
    ("clipped %", lambda s, c: f"{100 * c['clipped_fraction']:.1f}"),
    ("audible %", lambda s, c: f"{100 * c['audible_fraction']:.1f}"), ("copy", lambda s, c: _copies(c)),
]


def write_clips_table(out_dir, title, done):
    """clips.csv and clips.md: one row per generated clip of every finished run."""
    rows = [[get(s, {**s[c["key"]], "mode": c["mode"]}) for _, get in CLIP_COLUMNS]
            for s in done for c in s.get("clips", [{"key": m, "mode": m} for m in ("stateful", "blog")])]
    header = [h for h, _ in CLIP_COLUMNS]
    write_csv(os.path.join(out_dir, "clips.csv"), header, rows)
    lines = [f"# {title}: every clip", "", "One row per generated clip (rnnsound.metrics): T = temperature (0 = the "
             "head's mean); " + METRICS_LEGEND, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    write_text(os.path.join(out_dir, "clips.md"), "\n".join(lines) + "\n")


def read_plan(path):
    """{run: summary-like dict} of the runs a plan.csv (rnnsound.sweeps.plan) describes: `planned` with the
    estimated time, or `infeasible` with the reason, so the tables can list runs not run yet."""
    return {r["run"]: {"name": r["run"], "status": "planned" if r["status"] == "feasible" else "infeasible",
                       "reason": (f"est. {float(r['est_seconds']) / 3600:.2g} h on this machine (plan.csv)"
                                  if r["status"] == "feasible" else r["reason"])} for r in read_csv(path)}
