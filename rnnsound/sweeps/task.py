"""A sweep's tasks on a Dask worker: a dataset's prepare task, and a run's task, which trains,
generates and summarises the run in a child process (`python -m rnnsound.sweeps.task SPEC`) and
keeps count of its attempts (RUN/attempts.json). rnnsound.sweeps.executor submits them."""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from .. import checkpoint
from .. import song as songs
from ..config import configs
from ..errors import Interrupted, UserError
from ..files import read_json, write_json
from ..interrupts import SIGNALS, stop_now, wait_while_locked
from ..rundir import sweep_run
from ..runtime import quiet_known_warnings
from .run import prepare_once, record_failure, run_one
from .spec import infeasible_summary

CHILD_OK, CHILD_USER_ERROR = 0, 2


def prepare_task(song_json, data_path, overrides):
    """Prepare one dataset unless it exists: {'status': 'ok'} or {'status': 'infeasible', 'reason'}."""
    reason = prepare_once(songs.from_json(song_json), data_path, configs(overrides)[0])
    return {"status": "infeasible", "reason": reason} if reason else {"status": "ok"}


class RunStopped(Exception):
    """The run's process was stopped (signal) or died: retried, and resumed from its last.h5."""


def _stop_with_parent():
    """SIGTERM when the worker dies (PR_SET_PDEATHSIG): the run saves at the step in progress and exits."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _worker_slot():
    """(worker address, its index among the local workers or None)."""
    try:
        from dask.distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return "serial", None
    name = str(worker.name)
    digits = name.rsplit("-", 1)[-1]
    return worker.address, int(digits) if digits.isdigit() else None


def child_env(threads, slot):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # several workers can share one GPU
    compile_dir = os.path.join(tempfile.gettempdir(), f"rnnsound-pytensor-{socket.gethostname()}-{slot or 0}")
    env["PYTENSOR_FLAGS"] = ",".join(f for f in (env.get("PYTENSOR_FLAGS", ""), f"base_compiledir={compile_dir}") if f)
    env["RNNSOUND_THREADS"] = str(threads)
    env["RNNSOUND_CPU_SLOT"] = "" if slot is None else str(slot)
    return env


def _ends_mid_line(path):
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def _no_progress(run, retries):
    """Record the step this attempt starts from (RUN/attempts.json); the reason to give up when the
    last retries + 1 attempts all started from it (each died or was stopped before saving a later
    step: a crash, not a walltime, which saves at the step in progress), else None."""
    try:
        step = checkpoint.read_meta(run.last)["step"] if os.path.exists(run.last) else 0
    except UserError as e:
        return str(e)
    path = run.attempts
    steps = (read_json(path, {"steps": list})["steps"] if os.path.exists(path) else []) + [step]
    write_json(path, {"steps": steps})
    if len(steps) > retries + 1 and len(set(steps[-(retries + 2):])) == 1:
        return (f"{retries + 1} attempts ended without progress past step {step} (their worker died or they were "
                f"stopped); see {run.run_log}")
    return None


def run_task(spec, prepared):
    """Train, generate and summarise one run in a child process; returns its summary."""
    run = sweep_run(spec["out_dir"], spec["name"])
    # Dask can hand a run to a second worker while the first still trains it (a paused or cut-off
    # worker it gave up on): wait for that run to end instead of failing on its lock
    wait_while_locked(run.path)
    if os.path.exists(run.summary):
        return read_json(run.summary)
    os.makedirs(run.path, exist_ok=True)
    if prepared["status"] == "infeasible":
        summary = infeasible_summary(spec["name"], spec["overrides"], prepared["reason"])
        write_json(run.summary, summary)
        return summary
    stuck = _no_progress(run, spec["retries"])
    if stuck:
        return record_failure(spec["out_dir"], spec["name"], spec["overrides"], stuck)
    worker, slot = _worker_slot()
    env = child_env(spec["threads"], slot)
    env["RNNSOUND_WORKER"] = worker
    with open(run.run_log, "a") as log:
        # a killed attempt can leave a progress bar's line unfinished: the header starts a line
        log.write(("\n" if _ends_mid_line(run.run_log) else "") + f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} on "
                  f"{socket.gethostname()} ({worker}), {spec['threads']} threads\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "rnnsound.sweeps.task", json.dumps(spec)], stdout=log,
                                stderr=subprocess.STDOUT, env=env, preexec_fn=_stop_with_parent)
        code = proc.wait()
    if code == CHILD_OK:
        return read_json(run.summary)
    if code == CHILD_USER_ERROR:
        return read_json(run.failed)
    raise RunStopped(f"run {spec['name']} stopped with exit status {code}; see {run.run_log}")


def _child(spec):
    """In the child process: bound the threads, then run the sweep's ordinary run_one."""
    threads, slot = int(os.environ.get("RNNSOUND_THREADS", "0")), os.environ.get("RNNSOUND_CPU_SLOT", "")
    allowed = sorted(os.sched_getaffinity(0))
    if threads and slot and len(allowed) >= threads:
        start = (int(slot) * threads) % len(allowed)
        os.sched_setaffinity(0, [allowed[(start + i) % len(allowed)] for i in range(threads)])
    quiet_known_warnings()
    try:
        run_one(spec["name"], spec["overrides"], songs.from_json(spec["song"]), spec["out_dir"], progress=True,
                clip_seconds=spec["clip_seconds"], temperatures=tuple(spec.get("temperatures", [None])),
                sample_every=spec.get("sample_every", 0))
    except Interrupted as e:
        print(f"stopped: {e}", flush=True)
        return e.exit_code
    except UserError as e:
        print(f"failed: {e}", flush=True)
        record_failure(spec["out_dir"], spec["name"], spec["overrides"], str(e))
        return CHILD_USER_ERROR
    return CHILD_OK


if __name__ == "__main__":
    for s in SIGNALS:  # as the rnnsound command: one line; training saves at the step in progress
        signal.signal(s, stop_now)
    sys.exit(_child(json.loads(sys.argv[1])))
