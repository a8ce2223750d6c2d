"""Running a sweep's runs on Dask: a local cluster, an existing scheduler, or Slurm/PBS/SGE.

The serial path (`rnnsound.sweeps.run_sweep` without options) trains in the calling process. Here:

- one **prepare task** per dataset file (keyed `prepare-<file>`), so a dataset that several runs
  share is written once, by one writer, before any of them starts;
- one **run task** per run, keyed by its name, depending on its prepare task. Dask retries it
  whenever its worker dies or its run is stopped; the run gives up (failed.json) after `retries`
  + 1 attempts in a row that ended without progress (`_no_progress`, RUN/attempts.json), so a
  run longer than a batch job's walltime continues over as many jobs as it needs.
  The task starts the run in a fresh child process (`python -m rnnsound.sweeps.executor`): the
  threads are bounded before JAX loads (JAX must not fork after it started), its whole output goes
  to `RUN/run.log`, and it gets SIGTERM when its worker dies (PR_SET_PDEATHSIG): it saves last.h5
  at the step in progress and exits, so a run outlives the task that owns it by one step at most.
  The run folder's lock (rnnsound.interrupts) backs this up.
- **Faults**: a worker killed mid-run -> Dask reschedules the task on another worker, which
  resumes from the run's last.h5 (the data order is a function of (seed, epoch), so the result
  is bit-identical). On Slurm, a worker job that ended (scancel, walltime, a failed node) is
  replaced by a new one (`SlurmJobs`), and a job Slurm refuses (`sbatch --test-only`: no such
  partition, more memory than any node has) ends the sweep with sbatch's reason in one line.
  A run stopped by SIGTERM or SIGINT saves last.h5 and exits 143/130 -> the task fails and is
  retried, and resumes. A run that fails for a reason a retry cannot fix (a
  `UserError`: infeasible pair, diverged loss, bad setting) writes `failed.json` with its reason
  and is not retried; the tables show it. A run whose retries are used up gets a failed.json
  saying why. Rerunning the sweep tries failed runs again.
- A worker trains one run at a time: one task slot (a `run=1` resource on clusters it starts),
  and `threads_per_worker` threads for the run (BLAS and XLA: CPU affinity and the usual
  variables). Each worker gets its own PyTensor compile directory.
- The run folders must be on a filesystem every worker sees (the `--out` folder).
"""
import ctypes
import dataclasses
import getpass
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from tqdm import tqdm

from .. import checkpoint
from .. import song as songs
from ..config import configs
from ..errors import Interrupted, UserError
from ..files import read_json, write_json
from ..interrupts import SIGNALS, stop_now
from ..rundir import sweep_run
from ..runtime import quiet_known_warnings
from .run import dataset_path, failed_summary, prepare_once, record_failure, run_one
from .spec import infeasible_summary

CLUSTERS = ("slurm", "pbs", "sge")
ENDLESS = 10_000  # Dask's retries of a run task; the run's own limit is its attempts without progress
CHILD_OK, CHILD_USER_ERROR = 0, 2


@dataclasses.dataclass(frozen=True)
class ExecutorOptions:
    """Where a sweep's runs go. All empty: serially in this process."""
    workers: int = 0                 # a local Dask cluster of this many worker processes
    scheduler: str = None            # the address of an existing Dask scheduler, e.g. tcp://head:8786
    cluster: str = None              # slurm | pbs | sge: a cluster of batch jobs through dask-jobqueue
    jobs: int = 1                    # batch jobs to start (each runs `cores // threads_per_worker` workers)
    threads_per_worker: int = 0      # threads of each run; 0: the cores divided among the workers
    retries: int = 2                 # retries of a run whose worker died or that was stopped without progress
    queue: str = None                # batch-job options; None: from Dask's config (jobqueue.<cluster>.*)
    account: str = None
    cores: int = None                # per job
    memory: str = None               # per job, e.g. "16GB"
    walltime: str = None             # per job, e.g. "04:00:00"
    gpus: int = 0                    # per job (Slurm: --gres=gpu:N)
    job_extra: tuple = ()            # more scheduler directives, e.g. ("--constraint=avx2",)
    job_logs: str = None             # folder of the batch jobs' output files; None: dask-jobqueue's (the cwd)
    lost_after: float = 60.0         # seconds without a live batch job or worker before the sweep gives up

    @property
    def distributed(self):
        return bool(self.workers or self.scheduler or self.cluster)

    def validate(self):
        if sum(bool(x) for x in (self.workers, self.scheduler, self.cluster)) > 1:
            raise UserError("give one of --workers, --scheduler and --cluster")
        if self.workers < 0 or self.jobs < 1 or self.threads_per_worker < 0 or self.retries < 0:
            raise UserError("--workers, --threads-per-worker and --retries must be >= 0 and --jobs >= 1")
        if self.cluster and self.cluster not in CLUSTERS:
            raise UserError(f"--cluster must be one of {', '.join(CLUSTERS)}; got {self.cluster!r}")
        return self


# --- the clusters ------------------------------------------------------------------------------

def _import_jobqueue():
    """dask_jobqueue, imported without the SIGINT handler its import installs (dask_jobqueue.runner
    sets one that calls sys.exit()), so Ctrl-C keeps the command's handling. The first import must
    happen in the main thread (Python refuses signal handlers elsewhere)."""
    if "dask_jobqueue" not in sys.modules:
        previous = signal.getsignal(signal.SIGINT)
        import dask_jobqueue  # noqa: F401
        signal.signal(signal.SIGINT, previous)
    return sys.modules["dask_jobqueue"]


def _jobqueue_cluster(opts, threads):
    import dask
    dask_jobqueue = _import_jobqueue()
    if opts.memory is None and dask.config.get(f"jobqueue.{opts.cluster}.memory", None) is None:
        raise UserError(f"--cluster {opts.cluster} needs the memory of each job: give --memory (e.g. --memory 8GB), "
                        f"or set jobqueue.{opts.cluster}.memory in Dask's configuration")
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster, "sge": dask_jobqueue.SGECluster}
    cores = opts.cores or threads or 1
    directives = list(opts.job_extra)
    if opts.gpus and opts.cluster == "slurm":
        directives.append(f"--gres=gpu:{opts.gpus}")
    # the job's main process waits for the worker's run children (rnnsound.sweeps.job)
    kwargs = dict(cores=cores, processes=max(1, cores // (threads or cores)), memory=opts.memory,
                  walltime=opts.walltime, queue=opts.queue, account=opts.account,
                  job_extra_directives=directives or None, python=f"{sys.executable} -m rnnsound.sweeps.job",
                  log_directory=opts.job_logs, worker_extra_args=["--resources", "run=1"],
                  scheduler_options={"dashboard_address": ":0"})
    return cls[opts.cluster](**{k: v for k, v in kwargs.items() if v is not None})


def _slurm_test_only(cluster):
    """sbatch's verdict on the worker job without submitting it: one line with its reason when it
    would be refused (a partition that does not exist, more memory or cores than any node has)."""
    with cluster._dummy_job.job_file() as script:
        try:
            done = subprocess.run(["sbatch", "--test-only", script], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise UserError("--cluster slurm needs Slurm's sbatch on this machine's PATH; run the sweep on a "
                            "Slurm login node")
        except subprocess.TimeoutExpired:
            raise UserError("sbatch --test-only did not answer within 60 s; is slurmctld up? (try `sinfo`)")
    if done.returncode != 0:
        reason = "; ".join(line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip())
        raise UserError(f"Slurm refuses the worker job: {reason or f'sbatch exit status {done.returncode}'}; "
                        "check --queue, --memory, --cores, --walltime and --job-extra against `sinfo`")


class SlurmJobs:
    """Keeps a Slurm cluster at its job count: a worker job that left the queue (cancelled, out of
    walltime, a failed node) is replaced by a new one, and its run resumes there from last.h5 (Dask
    reschedules the task). `check` raises a one-line UserError when for `lost_after` seconds no job
    was queued or running and no worker was connected: submissions keep failing."""

    def __init__(self, cluster, client, jobs, lost_after, log=None):
        self.cluster, self.client, self.jobs, self.lost_after, self.log = cluster, client, jobs, lost_after, log
        self.last_alive, self.last_check, self.replaced = time.time(), 0.0, 0

    def _queued(self):
        """Job ids of this user's jobs in Slurm's queue (pending, running, completing), or None if squeue fails."""
        try:
            done = subprocess.run(["squeue", "-h", "-o", "%i", "-u", getpass.getuser()], capture_output=True,
                                  text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return set(done.stdout.split()) if done.returncode == 0 else None

    def check(self, every=5.0):
        now = time.time()
        if now - self.last_check < every:
            return
        self.last_check = now
        queued = self._queued()
        if queued is None:
            return
        jobs = {name: getattr(job, "job_id", None) for name, job in list(self.cluster.workers.items())}
        lost = [name for name, job_id in jobs.items() if job_id and job_id not in queued]
        for name in lost:  # forgotten, not closed: scancel of an ended job has nothing to do
            self.cluster.worker_spec.pop(name, None)
            self.cluster.workers.pop(name, None)
        if lost:
            self.replaced += len(lost)
            if self.log:
                self.log(f"slurm: job(s) {', '.join(jobs[n] for n in lost)} left the queue; submitting "
                         f"{len(lost)} new one(s)")
            self.cluster.scale(jobs=self.jobs)
        workers = self.client.scheduler_info().get("workers", {})
        if workers or any(job_id in queued for job_id in jobs.values() if job_id):
            self.last_alive = now
        elif now - self.last_alive > self.lost_after:
            raise UserError(f"no Slurm worker job has been queued or running for {self.lost_after:.0f} s: their "
                            f"submissions fail; see the job logs in {self.cluster._dummy_job.log_directory or '.'}, "
                            "then rerun the sweep to resume its runs")


def start(opts):
    """(client, cluster or None, threads per run, whether tasks claim the `run` resource)."""
    import dask
    from dask.distributed import Client, LocalCluster
    cores = os.cpu_count() or 1
    # a task whose worker died is rescheduled (almost) without limit: run_task itself gives up on a run
    # that made no progress in opts.retries + 1 attempts, so a long run may outlive many walltimes
    dask.config.set({"distributed.scheduler.allowed-failures": ENDLESS})
    if opts.workers:
        threads = opts.threads_per_worker or max(1, cores // opts.workers)
        cluster = LocalCluster(n_workers=opts.workers, threads_per_worker=1, processes=True,
                               resources={"run": 1}, dashboard_address=":0")
        return Client(cluster), cluster, threads, True
    if opts.cluster:
        threads = opts.threads_per_worker or 1
        cluster = _jobqueue_cluster(opts, threads)
        if opts.cluster == "slurm":
            try:
                _slurm_test_only(cluster)
            except UserError:
                cluster.close()
                raise
        # a submission that fails later is reported in one line by SlurmJobs, not as tracebacks from the event loop
        for name in ("asyncio", "tornado.application", "distributed.deploy.spec"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        cluster.scale(jobs=opts.jobs)
        return Client(cluster), cluster, threads, True
    try:
        client = Client(opts.scheduler, timeout="5s")
    except (OSError, TimeoutError, ValueError) as e:
        raise UserError(f"cannot reach the Dask scheduler at {opts.scheduler} ({type(e).__name__}); check the "
                        "address and that `dask scheduler` is running there")
    workers = client.scheduler_info().get("workers", {}).values()
    uses_resource = any("run" in w.get("resources", {}) for w in workers)
    return client, None, opts.threads_per_worker or 1, uses_resource


# --- tasks (run on the workers) -----------------------------------------------------------------

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
    path = run.file("attempts.json")
    steps = (read_json(path, {"steps": list})["steps"] if os.path.exists(path) else []) + [step]
    write_json(path, {"steps": steps})
    if len(steps) > retries + 1 and len(set(steps[-(retries + 2):])) == 1:
        return (f"{retries + 1} attempts ended without progress past step {step} (their worker died or they were "
                f"stopped); see {run.run_log}")
    return None


def run_task(spec, prepared):
    """Train, generate and summarise one run in a child process; returns its summary."""
    run = sweep_run(spec["out_dir"], spec["name"])
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
        proc = subprocess.Popen([sys.executable, "-m", "rnnsound.sweeps.executor", json.dumps(spec)], stdout=log,
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
                clip_seconds=spec["clip_seconds"], temperatures=tuple(spec.get("temperatures", [None])))
    except Interrupted as e:
        print(f"stopped: {e}", flush=True)
        return e.exit_code
    except UserError as e:
        print(f"failed: {e}", flush=True)
        record_failure(spec["out_dir"], spec["name"], spec["overrides"], str(e))
        return CHILD_USER_ERROR
    return CHILD_OK


# --- the sweep ---------------------------------------------------------------------------------

def run_distributed(runs, song, out_dir, clip_seconds, opts, progress=True, temperatures=(None,)):
    """Every (name, overrides) of `runs` on the Dask cluster of `opts`; returns their summaries."""
    from dask.distributed import wait
    opts.validate()
    client, cluster, threads, use_resource = start(opts)
    try:
        if progress:
            where = opts.scheduler or (f"{opts.workers} local workers" if opts.workers else
                                       f"{opts.jobs} {opts.cluster} job(s)")
            print(f"dask: {where}, {threads} thread(s) per run; dashboard {client.dashboard_link}", flush=True)
        song_json = song.to_json()
        resources = {"run": 1} if use_resource else None
        for name, _ in runs:  # a rerun counts attempts without progress afresh
            attempts = sweep_run(out_dir, name).file("attempts.json")
            if os.path.exists(attempts):
                os.remove(attempts)
        prepares, futures = {}, []
        for name, overrides in runs:
            data = dataset_path(out_dir, song, configs(overrides)[0])
            if data not in prepares:
                prepares[data] = client.submit(prepare_task, song_json, data, overrides,
                                               key=f"prepare-{os.path.basename(data)}", retries=opts.retries)
            spec = {"name": name, "overrides": overrides, "song": song_json, "out_dir": os.path.abspath(out_dir),
                    "clip_seconds": clip_seconds, "temperatures": list(temperatures), "threads": threads,
                    "retries": opts.retries}
            futures.append(client.submit(run_task, spec, prepares[data], key=f"run-{name}", retries=ENDLESS,
                                         resources=resources, pure=False))
        names = {f.key: name for (name, _), f in zip(runs, futures)}
        overrides_of = {f.key: overrides for (_, overrides), f in zip(runs, futures)}
        summaries = {}  # run task key -> its summary, fetched once when it finishes
        jobs = SlurmJobs(cluster, client, opts.jobs, opts.lost_after, tqdm.write if progress else None) \
            if opts.cluster == "slurm" else None
        with tqdm(total=len(futures), unit="run", desc="sweep", disable=not progress) as bar:
            pending = set(futures)
            while pending:
                try:
                    wait(pending, timeout=2, return_when="FIRST_COMPLETED")
                except TimeoutError:  # nothing finished in 2 s: refresh the counts anyway
                    pass
                for f in [f for f in pending if f.done()]:
                    pending.discard(f)
                    summaries[f.key] = f.result() if f.status == "finished" else failed_summary(
                        names[f.key], overrides_of[f.key],
                        f"{type(f.exception()).__name__}: {f.exception()} (after {opts.retries} retries)")
                    bar.update(1)
                # tasks assigned to a worker include queued ones; each worker runs one at a time
                slots = len(client.scheduler_info().get("workers", {}))
                running = min(slots, sum(len(keys) for keys in client.processing().values()))
                bar.set_postfix(running=running, failed=sum(s["status"] == "failed" for s in summaries.values()))
                if jobs is not None and pending:
                    jobs.check()
        for s in summaries.values():
            run = sweep_run(out_dir, s["name"])
            if s["status"] == "failed" and not os.path.exists(run.failed):  # retries used up: record why
                write_json(run.failed, s)
        return [summaries[f.key] for f in futures]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    for s in SIGNALS:  # as the rnnsound command: one line; training saves at the step in progress
        signal.signal(s, stop_now)
    sys.exit(_child(json.loads(sys.argv[1])))
