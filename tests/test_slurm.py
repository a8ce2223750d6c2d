"""Sweeps on a real Slurm (slow: run with `pytest -m slow tests/test_slurm.py` where `sbatch` works,
e.g. after `bash tools/one_node_slurm.sh`): a cancelled worker job is replaced and its run resumes
to the serial numbers; a job Slurm refuses ends the sweep in one line."""
import os
import shutil
import subprocess
import time

import pytest

from rnnsound.files import read_csv
from rnnsound.sweeps import main as sweep_main
from rnnsound.sweeps.cluster import ExecutorOptions, _import_jobqueue

from test_executor import TINY3, numbers, serial, sweep_in_thread  # noqa: F401 (serial: the fixture)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("sbatch") is None, reason="needs Slurm (tools/one_node_slurm.sh)")]


def _my_jobs():
    return subprocess.run(["squeue", "-h", "-o", "%i %T", "-u", os.environ.get("USER", "root")], capture_output=True,
                          text=True).stdout.split("\n")


@pytest.mark.parametrize("flags, reason", [(["--queue", "nosuch", "--memory", "2GB"], "partition"),
                                           (["--memory", "640GB"], "")])
def test_a_job_slurm_refuses_ends_the_sweep_in_one_line(tmp_path, capsys, flags, reason):
    started = time.time()
    code = sweep_main(TINY3, ["--cluster", "slurm", "--out", str(tmp_path / "s"), "--epochs", "1", "-q"] + flags)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Slurm refuses the worker job" in err, err
    assert reason in err and time.time() - started < 120
    assert not [j for j in _my_jobs() if j.strip()]  # nothing was submitted


def test_a_cancelled_worker_job_is_replaced_and_the_sweep_ends_with_the_serial_numbers(serial, tmp_path):  # noqa: F811
    song, serial_out, _ = serial
    out = str(tmp_path / "slurm")
    _import_jobqueue()  # in the main thread: its import sets a signal handler
    thread, errors = sweep_in_thread(out, song, ExecutorOptions(
        cluster="slurm", jobs=1, cores=1, threads_per_worker=1, memory="4GB", walltime="00:30:00",
        job_logs=os.path.join(out, "job-logs")))
    deadline = time.time() + 600
    first = "frame_size=8_seq_len=10"
    log = os.path.join(out, "runs", first, "log.csv")
    while time.time() < deadline and thread.is_alive() and not any(r["kind"] == "epoch" for r in read_csv(log)):
        time.sleep(0.2)
    jobs = [j.split()[0] for j in _my_jobs() if j.strip()]
    assert len(jobs) == 1, jobs
    subprocess.run(["scancel", jobs[0]], check=True)  # mid-run: Slurm sends SIGTERM to the whole job
    thread.join(timeout=max(1, deadline - time.time()))
    assert not thread.is_alive() and not errors, errors
    assert numbers(out) == numbers(serial_out)
    run_log = open(os.path.join(out, "runs", first, "run.log")).read()
    assert "stopped: SIGTERM at step" in run_log  # saved at the step in progress, then resumed by a retry
    steps = [int(r["step"]) for r in read_csv(log) if r["kind"] == "batch"]
    assert steps == list(range(1, len(steps) + 1))  # each step logged once across the cancel
    assert len(os.listdir(os.path.join(out, "job-logs"))) >= 2  # the cancelled job's and its replacement's
