"""The command line every experiments/ script shares: `python experiments/NAME.py [options]`."""
import argparse
import os
import shlex
import signal
import sys

from .. import song as songs
from ..config import TrainConfig, parse_assignments
from ..errors import UserError
from ..interrupts import SIGNALS, stop_now
from ..runtime import exit_status, quiet_known_warnings
from .cluster import CLUSTERS, ExecutorOptions
from .plan import plan_sweep
from .sweep import run_sweep


def add_executor_options(parser):
    g = parser.add_argument_group("running on a Dask cluster (default: serially, in this process)",
                                  "The --out folder must be on a filesystem every worker sees. Batch-job settings not "
                                  "given here come from Dask's configuration (jobqueue.slurm.* in ~/.config/dask/).")
    g.add_argument("--workers", type=int, default=0, metavar="N", help="a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://head:8786 (start "
                   "its workers with --nthreads 1 --resources run=1)")
    g.add_argument("--cluster", choices=CLUSTERS, help="batch jobs through dask-jobqueue")
    g.add_argument("--jobs", type=int, default=1, help="batch jobs to start (default %(default)s)")
    g.add_argument("--threads-per-worker", type=int, default=0, metavar="T",
                   help="threads of each run (BLAS and XLA); default: the cores divided among the workers")
    g.add_argument("--retries", type=int, default=2, help="retries of a run whose worker died or that was stopped "
                   "without saving a later step than the attempt before (default %(default)s; a run that progresses "
                   "continues over as many walltimes as it needs); a run that fails for its own reason is not retried")
    g.add_argument("--queue", help="batch queue / partition")
    g.add_argument("--account", help="batch account / project")
    g.add_argument("--cores", type=int, help="cores per batch job (default: --threads-per-worker)")
    g.add_argument("--memory", help="memory per batch job, e.g. 16GB")
    g.add_argument("--walltime", help="walltime per batch job, e.g. 04:00:00")
    g.add_argument("--gpus", type=int, default=0, help="GPUs per batch job (Slurm: --gres=gpu:N)")
    g.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                   help="another batch directive, e.g. --job-extra=--constraint=avx2 (repeatable)")
    g.add_argument("--job-logs", metavar="DIR", help="folder of the batch jobs' output files (default: OUT/job-logs)")


def executor_options(args):
    return ExecutorOptions(workers=args.workers, scheduler=args.scheduler, cluster=args.cluster, jobs=args.jobs,
                           threads_per_worker=args.threads_per_worker, retries=args.retries, queue=args.queue,
                           account=args.account, cores=args.cores, memory=args.memory, walltime=args.walltime,
                           gpus=args.gpus, job_extra=tuple(args.job_extra),
                           job_logs=args.job_logs or os.path.join(args.out, "job-logs")).validate()


def build_parser(sweep):
    p = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--song", help="audio file (default: an embedded song, see --style and --minutes)")
    songs.add_song_options(p)
    p.add_argument("--epochs", type=int, help=f"epochs per run (default {TrainConfig.epochs}, the blog's; or --set "
                   "epochs=N)")
    p.add_argument("--out", default=os.path.join("results", sweep.name), help="results folder (default %(default)s)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run, e.g. --set hop=20")
    p.add_argument("--only", metavar="GLOB", help="run only the runs whose names match, e.g. --only 'frame_size=1000*' "
                   "(the tables still list the others)")
    p.add_argument("--plan", action="store_true", help="train nothing: print each run's examples, updates, estimated "
                   "time and memory (from steps timed on this machine, cached) and write OUT/plan.csv")
    p.add_argument(
        "--remeasure", action="store_true", help="with --plan: time the steps again instead of using the cache"
    )
    p.add_argument("--sample-every", type=int, default=0, metavar="N", help="a 3 s clip in each run folder after every "
                   "N epochs (epoch_clips/), played in order on the listening page (default 0: none)")
    p.add_argument("-q", "--quiet", action="store_true")
    add_executor_options(p)
    return p


def command_line():
    """How this script was run, as a shell command (paths as given)."""
    return shlex.join(["python", os.path.relpath(sys.argv[0])] + sys.argv[1:])


def epochs_and_settings(args):
    """(epochs, the other --set settings): --epochs and --set epochs=N are one setting, given once."""
    extra = parse_assignments(args.set)
    if "epochs" not in extra:
        return (TrainConfig.epochs if args.epochs is None else args.epochs), extra
    if args.epochs is not None:
        raise UserError(f"--epochs {args.epochs} and --set epochs={extra['epochs']} both set the epochs; give one")
    value = extra.pop("epochs")
    try:
        return int(value), extra
    except ValueError:
        raise UserError(f"--set epochs={value}: the epochs must be a whole number")


def _run(sweep, args):
    song = songs.from_args(args.song, args.style, args.minutes)
    executor = executor_options(args)
    epochs, extra = epochs_and_settings(args)
    if args.plan:
        plan_sweep(sweep, args.out, song, epochs, extra, args.only, args.remeasure)
    else:
        run_sweep(sweep, args.out, song, epochs, extra, progress=not args.quiet, only=args.only, executor=executor,
                  command=command_line(), sample_every=args.sample_every)


def main(sweep, argv=None):
    """Parse the command line and run (or plan) `sweep`; returns the exit status. SIGINT and SIGTERM
    get the `rnnsound` command's handling: one line, training saving at the step in progress."""
    for s in SIGNALS:
        signal.signal(s, stop_now)
    quiet_known_warnings()
    args = build_parser(sweep).parse_args(argv)
    return exit_status(os.path.basename(sys.argv[0]), _run, sweep, args)
