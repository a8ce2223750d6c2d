"""Sweeps on Dask: the same numbers as the serial path, surviving a killed worker and SIGTERM."""
import csv
import json
import os
import signal
import sys
import threading
import time

import psutil
import pytest

from rnnsound.sweeps.cluster import ExecutorOptions, _jobqueue_cluster
from rnnsound.sweeps import Sweep, run_sweep
from rnnsound.sweeps import main as sweep_main
from rnnsound.files import read_csv

# two runs to fault (one per worker) and one that neither fault touches
TINY3 = Sweep(name="tiny3", title="Tiny", base={"hidden": 32, "batch_size": 8},
              variants=tuple({"frame_size": F, "seq_len": L} for F, L in ((8, 10), (16, 5), (10, 8))))
EPOCHS = 10  # the fault test stops runs after their first epoch: the rest must still be to come
TIMING = {"train s", "samples/s", "host", "worker", "device"}  # may differ between executors


def numbers(out):
    with open(os.path.join(out, "results.csv"), newline="") as f:
        return {r["run"]: {k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    import numpy as np
    import soundfile as sf
    from conftest import chord
    root = tmp_path_factory.mktemp("executor")
    song = str(root / "chord.wav")
    sf.write(song, chord(3.0) + 0.01 * np.random.default_rng(0).standard_normal(48000).astype(np.float32), 16000)
    out = str(root / "serial")
    run_sweep(TINY3, out, song=song, epochs=EPOCHS, clip_seconds=0.2, progress=False)
    return song, out, root


def _child_of(run):
    for p in psutil.process_iter(["cmdline"]):
        if "rnnsound.sweeps.task" in " ".join(p.info["cmdline"] or []) and f'"name": "{run}"' in " ".join(
            p.info["cmdline"]
        ):
            return p
    return None


def _stop_when_trained(out, runs, deadline):
    """Each run's child process, stopped (SIGSTOP) as soon as its log holds an epoch (a last.h5 to
    resume from): a tiny run's epochs take ~0.1 s, so it is frozen before anything is done to it."""
    found = {}
    while time.time() < deadline and len(found) < len(runs):
        for run in runs:
            if run in found:
                continue
            child = _child_of(run)
            if child and any(r["kind"] == "epoch" for r in read_csv(os.path.join(out, "runs", run, "log.csv"))):
                child.suspend()
                found[run] = child
        time.sleep(0.02)
    missing = set(runs) - set(found)
    assert not missing, f"{missing} did not reach an epoch"
    return [found[r] for r in runs]


def sweep_in_thread(out, song, executor):
    """TINY3 on `executor`, in a thread while the test acts on its runs: (thread, errors raised)."""
    errors = []

    def sweep():
        try:
            run_sweep(TINY3, out, song=song, epochs=EPOCHS, clip_seconds=0.2, progress=False, executor=executor)
        except Exception as e:  # surfaced by the test's assertions
            errors.append(e)
    thread = threading.Thread(target=sweep)
    thread.start()
    return thread, errors


@pytest.mark.heavy
def test_two_local_workers_survive_a_killed_worker_and_a_sigterm_with_the_serial_numbers(serial):
    song, serial_out, root = serial
    out = str(root / "faults")
    thread, errors = sweep_in_thread(out, song, ExecutorOptions(workers=2, retries=2))
    deadline = time.time() + 300
    killed, stopped = _stop_when_trained(out, ["frame_size=8_seq_len=10", "frame_size=16_seq_len=5"], deadline)
    psutil.Process(killed.ppid()).send_signal(signal.SIGKILL)  # its worker, mid-run: the child gets SIGTERM
    killed.resume()
    stopped.send_signal(signal.SIGTERM)  # what Slurm sends at walltime
    stopped.resume()
    thread.join(timeout=max(1, deadline - time.time()))
    assert not thread.is_alive() and not errors, errors
    assert numbers(out) == numbers(serial_out)
    for run in ("frame_size=8_seq_len=10", "frame_size=16_seq_len=5"):
        log = open(os.path.join(out, "runs", run, "run.log")).read()
        assert log.count("\n--- ") + log.startswith("--- ") >= 2  # started, then resumed by a retry
        assert "stopped: SIGTERM at step" in log  # saved at the step in progress, also when its worker died
    steps = [int(r["step"]) for r in read_csv(os.path.join(out, "runs", "frame_size=8_seq_len=10", "log.csv"))
             if r["kind"] == "batch"]
    assert steps == list(range(1, len(steps) + 1))  # each step logged once across the kill
    with open(os.path.join(out, "results.csv"), newline="") as f:
        workers = {r["worker"] for r in csv.DictReader(f)}
    assert len(workers) >= 2 and all(w.startswith("tcp://") for w in workers)  # the runs were spread
    assert "epoch 1/" in open(os.path.join(out, "runs", "frame_size=10_seq_len=8", "run.log")).read()


def test_slurm_job_script_asks_for_the_resources_and_starts_a_worker_in_this_environment():
    cluster = _jobqueue_cluster(ExecutorOptions(cluster="slurm", queue="gpu", account="lab", cores=8, memory="32GB",
                                                walltime="04:00:00", gpus=1, job_extra=("--constraint=avx2",)),
                                threads=4)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=8", "#SBATCH -t 04:00:00",
                 "#SBATCH --gres=gpu:1", "#SBATCH --constraint=avx2"):
        assert line in script, line
    assert "#SBATCH --mem=30G" in script or "#SBATCH --mem=32G" in script
    # the job's main process waits for the worker's runs to save on Slurm's SIGTERM (rnnsound.sweeps.job)
    assert f"{sys.executable} -m rnnsound.sweeps.job -m distributed.cli.dask_worker" in script
    assert "--nworkers 2" in script and "--nthreads 4" in script and "--resources run=1" in script


def test_an_unreachable_scheduler_is_one_line_naming_it(tmp_path, capsys):
    assert sweep_main(TINY3, ["--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "s"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tcp://127.0.0.1:9" in err and "cannot reach" in err


def test_conflicting_executor_options_are_refused(tmp_path, capsys):
    assert sweep_main(TINY3, ["--workers", "2", "--cluster", "slurm", "--out", str(tmp_path / "s")]) == 2
    assert "one of --workers" in capsys.readouterr().err


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_a_run_that_fails_for_its_own_reason_is_recorded_not_retried(serial):
    song, _, root = serial
    bad = Sweep(name="bad", title="Bad", base={"hidden": 4, "frame_size": 8, "seq_len": 10, "step_clip": 0},
                variants=({"learning_rate": 1e30},))
    out = str(root / "bad")
    run_sweep(bad, out, song=song, epochs=3, clip_seconds=0.2, progress=False, executor=ExecutorOptions(workers=1))
    failed = json.load(open(os.path.join(out, "runs", "learning_rate=1e+30", "failed.json")))
    assert failed["status"] == "failed" and "diverged" in failed["reason"]
    log = open(os.path.join(out, "runs", "learning_rate=1e+30", "run.log")).read()
    assert log.count("--- ") == 1  # not retried
    assert "| learning_rate=1e+30 | failed: training diverged" in open(os.path.join(out, "results.md")).read()


@pytest.mark.heavy
def test_clips_while_training_reach_the_run_folders_on_dask(serial):
    """`--sample-every` travels with the run's spec to the worker's child process."""
    song, _, root = serial
    one = Sweep(name="one", title="One", base={"hidden": 4, "frame_size": 8, "seq_len": 10}, variants=({},))
    out = str(root / "clips")
    run_sweep(one, out, song=song, epochs=2, clip_seconds=0.2, progress=False, executor=ExecutorOptions(workers=1),
              sample_every=1)
    [run] = os.listdir(os.path.join(out, "runs"))
    assert sorted(os.listdir(os.path.join(out, "runs", run, "epoch_clips"))) == ["epoch_001.wav", "epoch_002.wav"]


def test_a_run_task_given_a_run_another_worker_still_trains_waits_for_it(tmp_path, monkeypatch):
    """Dask may hand a run to a second worker while the first still trains it (a paused worker it
    gave up on): the second task waits for the run folder's lock and returns the run's summary,
    where it used to fail on the lock and record the run as failed."""
    import functools
    from rnnsound.files import write_json
    from rnnsound.interrupts import FolderLock, wait_while_locked
    from rnnsound.rundir import sweep_run
    from rnnsound.sweeps import task
    run = sweep_run(str(tmp_path), "r")
    os.makedirs(run.path)
    monkeypatch.setattr(task, "wait_while_locked", functools.partial(wait_while_locked, poll_seconds=0.05))
    held = threading.Event()

    def the_first_worker():
        with FolderLock(run.path):
            held.set()
            time.sleep(0.5)
            write_json(run.summary, {"name": "r", "status": "done"})
    first = threading.Thread(target=the_first_worker)
    first.start()
    held.wait()
    t0 = time.time()
    got = task.run_task({"out_dir": str(tmp_path), "name": "r", "retries": 2}, {"status": "ok"})
    first.join()
    assert got == {"name": "r", "status": "done"} and time.time() - t0 > 0.3
    assert not os.path.exists(run.failed) and not os.path.exists(run.attempts)
