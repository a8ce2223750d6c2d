"""Where a sweep's runs go on Dask: the options, and starting the cluster (a local one, an existing
scheduler, or batch jobs on Slurm/PBS/SGE through dask-jobqueue) and keeping Slurm's worker jobs
alive (`SlurmJobs`). rnnsound.sweeps.executor runs the sweep on what `start` returns."""
import dataclasses
import getpass
import logging
import os
import signal
import subprocess
import sys
import time

from ..errors import UserError

CLUSTERS = ("slurm", "pbs", "sge")
ENDLESS = 10_000  # Dask's retries of a run task; the run's own limit is its attempts without progress


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
