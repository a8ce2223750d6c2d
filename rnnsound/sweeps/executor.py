"""Running a sweep's runs on Dask: a local cluster, an existing scheduler, or Slurm/PBS/SGE.

The serial path (`rnnsound.sweeps.run_sweep` without options) trains in the calling process. Here:

- one **prepare task** per dataset file (keyed `prepare-<file>`), so a dataset that several runs
  share is written once, by one writer, before any of them starts;
- one **run task** per run, keyed by its name, depending on its prepare task. Dask retries it
  whenever its worker dies or its run is stopped; the run gives up (failed.json) after `retries`
  + 1 attempts in a row that ended without progress (rnnsound.sweeps.task, RUN/attempts.json), so a
  run longer than a batch job's walltime continues over as many jobs as it needs.
  The task starts the run in a fresh child process (`python -m rnnsound.sweeps.task`): the
  threads are bounded before JAX loads (JAX must not fork after it started), its whole output goes
  to `RUN/run.log`, and it gets SIGTERM when its worker dies (PR_SET_PDEATHSIG): it saves last.h5
  at the step in progress and exits, so a run outlives the task that owns it by one step at most.
  The run folder's lock (rnnsound.interrupts) backs this up.
- **Faults**: a worker killed mid-run -> Dask reschedules the task on another worker, which
  resumes from the run's last.h5 (the data order is a function of (seed, epoch), so the result
  is bit-identical). On Slurm, a worker job that ended (scancel, walltime, a failed node) is
  replaced by a new one (`cluster.SlurmJobs`), and a job Slurm refuses (`sbatch --test-only`: no such
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
import os

from tqdm import tqdm

from ..config import configs
from ..files import write_json
from ..rundir import sweep_run
from .cluster import ENDLESS, SlurmJobs, start
from .run import dataset_path, failed_summary
from .task import prepare_task, run_task


def sweep_on_dask(runs, song, out_dir, clip_seconds, opts, progress=True, temperatures=(None,), sample_every=0):
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
            attempts = sweep_run(out_dir, name).attempts
            if os.path.exists(attempts):
                os.remove(attempts)
        prepares, futures = {}, []
        for name, overrides in runs:
            data = dataset_path(out_dir, song, configs(overrides)[0])
            if data not in prepares:
                prepares[data] = client.submit(prepare_task, song_json, data, overrides,
                                               key=f"prepare-{os.path.basename(data)}", retries=opts.retries)
            spec = {"name": name, "overrides": overrides, "song": song_json, "out_dir": os.path.abspath(out_dir),
                    "clip_seconds": clip_seconds, "temperatures": list(temperatures), "sample_every": sample_every,
                    "threads": threads,
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
        _record_used_up(out_dir, summaries.values())
        return [summaries[f.key] for f in futures]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _record_used_up(out_dir, summaries):
    """failed.json, saying why, of each run whose retries were used up (a run that failed for its
    own reason wrote its own)."""
    for s in summaries:
        run = sweep_run(out_dir, s["name"])
        if s["status"] == "failed" and not os.path.exists(run.failed):
            write_json(run.failed, s)
