"""A sweep as data: its runs' names and overrides, and the checks made before any work.

A run's overrides are one dict of DataConfig and TrainConfig settings (rnnsound.config.configs).
Runs that agree on every data setting share one dataset file (`dataset_name`). A run folder
remembers the overrides and song it was made with (settings.json) and is never reused with others.
"""
import dataclasses
import fnmatch
import json
import os

from .. import heads
from ..config import DataConfig, configs, split_overrides
from ..errors import UserError
from ..files import read_json
from ..rundir import RunFolder, sweep_run


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str          # results folder default: results/<name>
    title: str
    base: dict         # overrides every run gets
    variants: tuple    # one dict of overrides per run
    marked: tuple = ()  # names of runs the tables flag in a `mark` column (e.g. her committed pairs)
    mark: str = ""      # that column's header
    temperatures: tuple = (None,)  # clips per mode, one per temperature (None: the head's default)


def run_name(variant):
    return "_".join(f"{k}={v}" for k, v in variant.items()) or "base"


def select(sweep, only=None):
    """[(name, variant)] of the sweep's runs, those matching the glob `only` if given."""
    runs = [(run_name(v), v) for v in sweep.variants]
    if only:
        runs = [(n, v) for n, v in runs if fnmatch.fnmatchcase(n, only)]
        if not runs:
            raise UserError(f"--only {only!r} matches none of this sweep's runs: "
                            f"{', '.join(run_name(v) for v in sweep.variants)}")
    return runs


def dataset_name(song, dcfg):
    """The file a run's dataset is prepared into: one per song (by content) and data setting, shared
    by the runs that agree on all of them (settings at their defaults are left out of the name)."""
    extra = "".join(f"_{f.name}={getattr(dcfg, f.name)}" for f in dataclasses.fields(DataConfig)
                    if f.name not in ("frame_size", "seq_len", "hop") and getattr(dcfg, f.name) != f.default)
    return f"{song.stem}_{song.content_id[:12]}_f{dcfg.frame_size}_l{dcfg.seq_len}_h{dcfg.hop_frames}{extra}.hdf5"


def describe_run(name, overrides):
    """The fields every summary starts with: the run's name, overrides and main settings."""
    dcfg, tcfg = configs(overrides)
    heads.check(dcfg.frame_size, tcfg)
    return {"name": name, "overrides": overrides, "frame_size": dcfg.frame_size, "seq_len": dcfg.seq_len,
            "hop": dcfg.hop_frames, "cell": tcfg.cell, "recur_axis": tcfg.recur_axis, "epochs": tcfg.epochs,
            "output": tcfg.output, "input_noise": tcfg.input_noise}


def infeasible_summary(name, overrides, reason):
    return {**describe_run(name, overrides), "status": "infeasible", "reason": reason}


def run_settings(overrides, song):
    """What a run folder's results depend on besides the code: its overrides and its song."""
    return json.loads(json.dumps({"overrides": overrides, "song": song.identity}))


def check_run_folder(run_dir, overrides, song):
    """Refuse to reuse a run folder made with other settings: its results would be labelled wrongly."""
    path = RunFolder(run_dir).settings
    if not os.path.exists(path):
        return
    old, new = read_json(path, {"overrides": dict, "song": str}), run_settings(overrides, song)
    if old != new:
        keys = sorted(set(old["overrides"]) | set(new["overrides"]))
        diff = [f"{k} {old['overrides'].get(k, 'default')} -> {new['overrides'].get(k, 'default')}"
                for k in keys if old["overrides"].get(k) != new["overrides"].get(k)]
        if old["song"] != new["song"]:
            diff.append(f"song {old['song']} -> {new['song']}")
        raise UserError(f"{run_dir} holds a run made with other settings ({', '.join(diff)}); give another --out, "
                        "or delete that run folder to run it anew")


def run_overrides(sweep, extra, epochs, variant):
    """A run's overrides: the sweep's base, the command line's --set, its epochs, then its own."""
    return {**sweep.base, **extra, "epochs": epochs, **variant}


def validate_runs(sweep, extra, epochs, runs, out_dir=None, song=None):
    """Every run's settings, checked on their ranges before any work (a typo or a bad value is one
    line), and, given `out_dir`, against the settings its run folder was made with."""
    split_overrides({**sweep.base, **extra})
    for name, variant in runs:
        overrides = run_overrides(sweep, extra, epochs, variant)
        describe_run(name, overrides)
        if out_dir is not None:
            check_run_folder(sweep_run(out_dir, name).path, overrides, song)


def make_out_dir(out_dir):
    """Create a sweep's --out folder, or say in one line why it cannot be."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f"--out {out_dir} is a file; give a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --out folder {out_dir} ({e.strerror}); choose another")
