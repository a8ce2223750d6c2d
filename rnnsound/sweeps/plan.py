"""A sweep's plan before it runs: counts from the split arithmetic, time from measured steps.

`plan_sweep(sweep, song, ...)` trains nothing and writes no dataset. For every run it gives:
- train/dev examples from `prepare.split_layout` on the song's length (read from the audio
  file's header, or the embedded song's known length: nothing is decoded), and the updates of
  `epochs` epochs of batches of `batch_size` with the last partial batch kept;
- est_seconds: training steps plus the dev evaluation after each epoch plus compiling, from
  step times *measured on this machine*: one compiled training step per distinct (F, batch,
  model) at a short sequence (MEASURE_LEN frames), timed after its first (compiling) call and
  scaled linearly to the run's L and batch (the step's work, its input/output maps, scan and
  weight-gradient products, is proportional to both). Exact chunked backprop, used where a step's
  activations exceed memory_gb, adds one forward pass (x 4/3). A dev batch is a forward pass
  (1/3 of a step). Measurements are cached per machine in `$XDG_CACHE_HOME/rnnsound/step_times.json`.
  Not counted: the baselines' ridge fit and the two generated clips (under a minute per run here);
- est_peak_gb: the larger of preparing (20 bytes per song sample, measured on a 3-hour song) and
  training (the dataset if it is held in memory, else two batches; the stored activations of one
  backprop chunk; parameters, gradients and optimiser state), plus 0.5 GB for the runtime;
- dataset_gb: what a self-contained copy of the run's dataset would take (`prepare --copy`); a
  sweep's datasets are views onto the song stored once, whose size the plan prints.
"""
import json
import math
import os
import time

import numpy as np

from .. import graph
from ..compiled import Network, bytes_per_step, chunk_length
from ..config import TrainConfig, configs, with_overrides
from ..errors import UserError
from ..files import write_csv, write_json
from ..prepare import split_layout, too_short_message
from ..runtime import machine
from ..song import as_song
from ..train import IN_MEMORY_MAX_BYTES
from .spec import make_out_dir, run_overrides, select, validate_runs

FIELDS = ["run", "frame_size", "seq_len", "hop", "cell", "train_examples", "dev_examples", "updates", "est_seconds",
          "est_peak_gb", "dataset_gb", "status", "reason"]
MEASURE_LEN = 25          # frames per example in the timed steps
PREPARE_BYTES_PER_SAMPLE = 20
RUNTIME_GB = 0.5


def _cache_path():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "rnnsound", "step_times.json")


def _key(F, batch, tcfg):
    return json.dumps({"machine": machine(), "F": F, "batch": batch, "L": MEASURE_LEN, "cell": tcfg.cell,
                       "hidden": tcfg.hidden, "layers": tcfg.layers, "recur_axis": tcfg.recur_axis,
                       "optimizer": tcfg.optimizer, "backend": tcfg.backend, "output": tcfg.output,
                       "mixtures": tcfg.mixtures},
                      sort_keys=True)


def measure_step(F, batch, tcfg, repeats=2):
    """(seconds per training step, seconds of the first call) at (batch, MEASURE_LEN, F) on random data."""
    cfg = with_overrides(tcfg, {"bptt_chunk": 0, "memory_gb": 1e3})  # the fused step: what scales with L
    net = Network(F, MEASURE_LEN, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    x = np.random.default_rng(1).standard_normal((batch, MEASURE_LEN, F)).astype(np.float32) * 0.3
    t = time.perf_counter()
    net.train_step(x, x, 1e-9)
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        net.train_step(x, x, 1e-9)
        times.append(time.perf_counter() - t)
    return min(times), first


class StepTimes:
    """Measured step times, cached on disk per machine and model; `remeasure` ignores the cache."""

    def __init__(self, remeasure=False, progress=True):
        self.path, self.progress = _cache_path(), progress
        self.cache = {}
        if not remeasure and os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    self.cache = json.load(f)
            except (OSError, ValueError):
                self.cache = {}  # unreadable: measure again and rewrite it

    def get(self, F, tcfg):
        """(seconds per step per example-frame, compile seconds), measured at batch 128 once per F."""
        key = _key(F, tcfg.batch_size, tcfg)
        if key not in self.cache:
            if self.progress:
                print(f"plan: timing a training step at F={F} ({tcfg.cell}, {tcfg.layers}x{tcfg.hidden}, "
                      f"batch {tcfg.batch_size}, L={MEASURE_LEN})...", flush=True)
            step, first = measure_step(F, tcfg.batch_size, tcfg)
            self.cache[key] = {"step_seconds": step, "first_call_seconds": first, "measured": time.strftime("%Y-%m-%d")}
            self._save()
        m = self.cache[key]
        return m["step_seconds"] / (tcfg.batch_size * MEASURE_LEN), max(
            0.0, m["first_call_seconds"] - m["step_seconds"]
        )

    def _save(self):
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            write_json(self.path, self.cache, indent=1)
        except (OSError, UserError):
            pass  # a read-only home: the plan still works, it only measures again next time


def peak_gb(n_samples, N, F, L, tcfg):
    batch = min(tcfg.batch_size, N)
    data = 2 * 4 * N * L * F
    held = data if data <= IN_MEMORY_MAX_BYTES else 2 * 2 * 4 * batch * L * F
    width = batch if tcfg.recur_axis == "time" else L
    activations = chunk_length(F, L, tcfg) * bytes_per_step(F, tcfg, width)
    train = held + activations + 4 * 4 * graph.param_count(F, tcfg)  # parameters, gradients, optimiser state
    return max(PREPARE_BYTES_PER_SAMPLE * n_samples, train) / 1e9 + RUNTIME_GB


def plan_run(name, overrides, n_samples, times):
    """One row of the plan (a dict of FIELDS) for a run of a sweep."""
    dcfg, tcfg = configs(overrides)
    F, L, hop = dcfg.frame_size, dcfg.seq_len, dcfg.hop_frames
    n_train, n_dev, _ = split_layout(n_samples, F, L, hop, dcfg.train_fraction)
    row = {"run": name, "frame_size": F, "seq_len": L, "hop": hop, "cell": tcfg.cell, "train_examples": n_train,
           "dev_examples": n_dev, "updates": tcfg.epochs * math.ceil(n_train / tcfg.batch_size),
           "dataset_gb": round(2 * 4 * (n_train + n_dev) * L * F / 1e9, 3)}
    if n_train == 0 or n_dev == 0:
        row.update(
            updates=0,
            est_seconds="",
            est_peak_gb="",
            status="infeasible",
            reason=too_short_message(n_samples, F, L, hop, dcfg.train_fraction, dcfg.sample_rate, n_train, n_dev),
        )
        return row
    per_frame, compile_s = times.get(F, tcfg)
    chunked = 4 / 3 if chunk_length(F, L, tcfg) < L else 1.0
    train_s = tcfg.epochs * n_train * L * per_frame * chunked
    dev_s = tcfg.epochs * n_dev * L * per_frame / 3
    shapes = (1 + (n_train % tcfg.batch_size != 0 and n_train > tcfg.batch_size)) + \
        (1 + (n_dev % tcfg.batch_size != 0 and n_dev > tcfg.batch_size))
    row.update(est_seconds=round(train_s + dev_s + shapes * compile_s, 1),
               est_peak_gb=round(peak_gb(n_samples, n_train, F, L, tcfg), 2), status="feasible", reason="")
    return row


def schedule(seconds, workers):
    """Wall time of independent jobs on `workers` equal workers, longest first to the least loaded."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += s
    return max(loads)


def _hours(seconds):
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def plan_sweep(
    sweep, out_dir, song=None, epochs=TrainConfig.epochs, extra=None, only=None, remeasure=False, progress=True
):
    """Write OUT/plan.csv and print the plan of a sweep's runs; returns the rows. `song`: a path,
    an EmbeddedSong, or None for the default song."""
    song, extra = as_song(song), dict(extra or {})
    validate_runs(sweep, extra, epochs, select(sweep, only))  # a typo or bad value fails before any measurement
    make_out_dir(out_dir)
    dcfg = configs({**sweep.base, **extra})[0]
    n = song.num_samples(dcfg.sample_rate)
    store_gb = n * np.dtype(dcfg.dtype).itemsize / 1e9
    times = StepTimes(remeasure, progress)
    rows = [plan_run(name, run_overrides(sweep, extra, epochs, variant), n, times)
            for name, variant in select(sweep, only)]
    write_csv(os.path.join(out_dir, "plan.csv"), FIELDS, ([r.get(k, "") for k in FIELDS] for r in rows))
    if progress:
        marked = set(sweep.marked)
        print(f"{sweep.title}: {len(rows)} runs on {song.label}, {epochs} epochs")
        print(f"{'run':44} {'F':>6} {'L':>6} {'train':>7} {'dev':>5} {'updates':>7} {'est':>9} {'peak GB':>7}  status")
        for r in rows:
            mark = f" ({sweep.mark})" if r["run"] in marked else ""
            if r["status"] == "feasible":
                print(f"{r['run'][:44]:44} {r['frame_size']:>6} {r['seq_len']:>6} {r['train_examples']:>7} "
                      f"{r['dev_examples']:>5} {r['updates']:>7} {_hours(r['est_seconds']):>9} {r['est_peak_gb']:>7}  "
                      f"feasible{mark}")
            else:
                why = (f"the dev split holds no example of (L+1)xF = {(r['seq_len'] + 1) * r['frame_size']} samples"
                       if r["dev_examples"] == 0 else "no train example fits")
                print(f"{r['run'][:44]:44} {r['frame_size']:>6} {r['seq_len']:>6} {r['train_examples']:>7} "
                      f"{r['dev_examples']:>5} {'':>7} {'':>9} {'':>7}  infeasible{mark}: {why}")
        est = [r["est_seconds"] for r in rows if r["status"] == "feasible"]
        print(f"feasible: {len(est)} of {len(rows)}; estimated {_hours(sum(est))} serially on this machine; on "
              + ", ".join(f"{w} workers {_hours(schedule(est, w))}" for w in (2, 4, 8))
              + f" (each as fast as this one); disk: the song stored once, {store_gb:.2f} GB, and a view of a "
              f"few KB per dataset (self-contained copies would take "
              f"{sum(r['dataset_gb'] for r in rows if r['status'] == 'feasible'):.1f} GB)")
        print(f"plan: {os.path.join(out_dir, 'plan.csv')} (the estimates leave out each run's baselines and "
              "clips: under a minute per run)")
    return rows

