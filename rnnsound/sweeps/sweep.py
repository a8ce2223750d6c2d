"""`run_sweep`: every run of a sweep (or those matching a glob), serially in this process or on
a Dask cluster, then its tables. The tables list every run of the sweep, those not run yet as such."""
import os
import time

from ..config import CLIP_SECONDS, TrainConfig
from ..epoch_clips import SECONDS, EpochClips
from ..errors import UserError
from ..files import read_json, write_json
from ..song import as_song
from .executor import sweep_on_dask
from .report import report
from .run import run_or_record
from .spec import make_out_dir, run_name, run_overrides, select, validate_runs


def run_sweep(
    sweep,
    out_dir,
    song=None,
    epochs=TrainConfig.epochs,
    extra=None,
    progress=True,
    clip_seconds=CLIP_SECONDS,
    only=None,
    executor=None,
    command=None,
    sample_every=0,
):
    """Every run of `sweep` (or those matching the glob `only`; skipping finished ones), then the
    tables and plots. `song`: a path, an EmbeddedSong, or None for the default song. `executor`
    (rnnsound.sweeps.cluster.ExecutorOptions) runs them on a Dask cluster; None: serially here.
    `command` (the command line that ran it) joins the earlier ones in sweep.json, for the tables
    to name. `sample_every` N writes a short clip into each run folder after every N epochs."""
    EpochClips.check(sample_every, SECONDS)
    song, extra = as_song(song), dict(extra or {})
    runs = select(sweep, only)
    validate_runs(sweep, extra, epochs, runs, out_dir, song)
    make_out_dir(out_dir)
    meta_path = os.path.join(out_dir, "sweep.json")
    commands = read_json(meta_path).get("commands", []) if os.path.exists(meta_path) else []
    if not isinstance(commands, list):
        raise UserError(f"{meta_path} is damaged (commands is {commands!r}, not a list); restore it, or delete it to "
                        "start the sweep's tables anew")
    write_json(meta_path, {"commands": commands + [command] if command and command not in commands else commands,
        "name": sweep.name, "title": sweep.title, "runs": [run_name(v) for v in sweep.variants],
        "song": song.label, "base": {**sweep.base, **extra, "epochs": epochs},
        "marked": list(sweep.marked), "mark": sweep.mark})
    started = time.time()
    runs = [(name, run_overrides(sweep, extra, epochs, variant)) for name, variant in runs]
    if executor is not None and executor.distributed:
        sweep_on_dask(runs, song, out_dir, clip_seconds, executor, progress, sweep.temperatures, sample_every)
    else:
        for name, overrides in runs:
            run_or_record(name, overrides, song, out_dir, progress, clip_seconds, sweep.temperatures, sample_every)
    report(out_dir)
    if progress:
        print(f"{sweep.name}: {len(runs)} runs in {time.time() - started:.0f} s; tables in "
              f"{os.path.join(out_dir, 'results.md')}")
