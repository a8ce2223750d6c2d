"""A batch job's main process: `python -m rnnsound.sweeps.job -m distributed.cli.dask_worker ...`.

dask-jobqueue's job script runs this in place of the Dask worker command (`python=` of the
cluster). It starts the worker and then outlives it until every process the worker started has
ended: it is their subreaper (PR_SET_CHILD_SUBREAPER), so a run's child process orphaned by its
worker is reaped here. Why: Slurm ends a job when its script's main process exits and kills what
is left at once; on `scancel` or at walltime it sends SIGTERM to every process of the job and waits
KillWait (30 s by default) before SIGKILL. The worker exits within milliseconds of SIGTERM, while
its run's child needs up to one training step to save last.h5 at the step in progress
(rnnsound.train): waiting here gives it that time. SIGINT and SIGTERM sent to this process alone
are passed on to the worker.
"""
import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv):
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    worker = subprocess.Popen([sys.executable] + argv)

    def forward(signum, frame):
        if worker.poll() is None:
            worker.send_signal(signum)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, forward)
    status = worker.wait()
    while True:  # the orphans: a run's child saving its checkpoint after the worker has gone
        try:
            os.wait()
        except ChildProcessError:
            break
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
