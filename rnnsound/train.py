"""`rnnsound train`: the blog's recipe on a prepared dataset, into a self-describing run folder.

The run folder's files are listed in rnnsound.rundir; `log.csv` has one row per batch and per
epoch: kind, step, epoch, batch, train_mse and dev_mse (of the output head's mean: the blog's
metric for every head), train_loss and dev_loss (the head's own loss per sample: the MSE for
`mse`, nats for `gmm`, `mulaw` and `tier`), dev_bits (NLL of the 8-bit mu-law-quantised dev targets in
bits per sample, rnnsound.heads), lr, step_norm (the optimiser step's norm before clipping;
batch rows), seconds (wall time since the run began, summed over resumes). The learning curve is
redrawn after an epoch (at most every PLOT_SECONDS) and when training stops.

Ctrl-C (SIGINT) and SIGTERM stop the run after the step in progress and save last.h5 at that
step; `--resume DIR` continues from it with the same data order, so the result equals an
uninterrupted run. One process at a time trains in a folder (`.lock`). A NaN or infinite loss
stops the run and keeps the last good checkpoint.
"""
import csv
import dataclasses
import os
import platform
import sys
import time

import h5py
import numpy as np
import pytensor
import scipy
from tqdm import tqdm

from . import baselines, checkpoint, epoch_clips, graph, heads, plots
from .atomic import atomic_path, check_space
from .compiled import Network
from .config import TrainConfig
from .errors import Interrupted, UserError
from .files import NUMBER, read_csv, read_json, write_json
from .interrupts import Deferred, FolderLock
from .rundir import RunFolder
from .streams import Prefetch, SequentialScheme, ShuffledScheme, SongDataset, changed_data, digests, read_attrs

LOG_FIELDS = ["kind", "step", "epoch", "batch", "train_mse", "dev_mse", "train_loss", "dev_loss", "dev_bits", "lr",
              "step_norm", "seconds"]
IN_MEMORY_MAX_BYTES = 4 << 30  # larger datasets are read from disk batch by batch
PLOT_SECONDS = 30  # the learning curve is redrawn after an epoch at most this often


def versions(cfg):
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "numpy": np.__version__,
           "scipy": scipy.__version__, "h5py": h5py.__version__, "pytensor": pytensor.__version__,
           "pytensor_backend": cfg.backend, "pytensor_floatX": pytensor.config.floatX,
           "PYTENSOR_FLAGS": os.environ.get("PYTENSOR_FLAGS", ""), "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}
    if cfg.backend == "jax":
        import jax
        device = jax.devices()[0]
        out["jax"] = jax.__version__
        out["device"] = f"{device.platform}:{device.device_kind}"
    else:
        out["device"] = "cpu"
    return out


class Log:
    """Append-only CSV, opened at a checkpoint's step: rows written after it (by a run that was
    killed before its next checkpoint) are dropped, so every step is logged once."""

    def __init__(self, path, keep_until_step):
        self.path = path
        rows = [row for row in read_csv(path) if row["step"].isdigit() and int(row["step"]) <= keep_until_step]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)
        self.file = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.file, LOG_FIELDS)

    def write(self, **row):
        self.writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})
        self.file.flush()

    def close(self):
        self.file.close()


def load_splits(path, in_memory=None):
    """(attrs, train split, dev split); in memory when both fit IN_MEMORY_MAX_BYTES, unless forced."""
    attrs = read_attrs(path)
    if in_memory is None:
        in_memory = 2 * 4 * np.prod(attrs["shape"]) <= IN_MEMORY_MAX_BYTES
    return attrs, SongDataset(path, "train", in_memory, attrs), SongDataset(path, "dev", in_memory, attrs)


def dev_metrics(net, dev, batch_size):
    """{dev_mse, dev_loss, dev_bits} per sample over the dev split. The mse head's bits read it as
    a Gaussian with the dev residual variance, known after a first pass: it takes two."""
    n = dev.num_examples * np.prod(dev.attrs["shape"][1:])

    def sums(sigma):
        total = np.zeros(3)
        for idx in SequentialScheme(dev.num_examples, batch_size).batches():
            total += net.evaluate(*dev.get(idx), sigma)
        return total / n
    loss, mse, bits = sums(1.0)
    if heads.of(net.cfg).scaled_by_dev:
        bits = sums(np.sqrt(mse))[2]
    return {"dev_mse": mse, "dev_loss": loss, "dev_bits": bits}


def best_epoch(rows):
    """The log's epoch row of best.h5: the lowest dev loss."""
    epochs = [row for row in rows if row["kind"] == "epoch"]
    return min(epochs, key=lambda row: float(row["dev_loss"]), default=None)


def _resume_from(dataset_path, sums, cfg, run, F):
    """The checkpoint `--resume` continues, loaded: (path, params, optimiser state, Position), or None
    for a run stopped before its first checkpoint. Refuses a run of other data or settings."""
    if not os.path.exists(run.config):
        if os.path.isdir(run.path) and not os.path.exists(run.last):
            raise UserError(f"cannot resume: {run} was stopped before its settings were saved (no config.json); "
                            f"start it again with the command that created it (rnnsound train {dataset_path} -o "
                            f"{run} ...)")
        raise UserError(f"cannot resume: {run} has no config.json; give the folder of an earlier run")
    saved, old = run.read_config()
    changed = changed_data(saved, sums)
    if changed:
        raise UserError(f"cannot resume: {run} was trained on another dataset ({saved['dataset']}; not the same: "
                        f"{' and '.join(changed)}); give that dataset or start a new run folder")
    changed = [f.name for f in dataclasses.fields(TrainConfig)
               if f.name not in ("epochs", "backend") and getattr(old, f.name) != getattr(cfg, f.name)]
    if changed:
        raise UserError(f"cannot resume: the settings {', '.join(changed)} differ from the run in {run}; "
                        "resume with the same settings (only --epochs and the backend may change)")
    if not os.path.exists(run.last):
        if os.path.exists(run.checkpoint("best")):  # an epoch finished, so last.h5 was saved and then lost
            raise UserError(f"cannot resume: {run} holds a trained run (best.h5) but its last.h5 is missing; restore "
                            "last.h5 to continue it, or train into a new folder (nothing was changed)")
        print(f"{run} has no last.h5 (stopped before its first checkpoint): training it from the start",
              file=sys.stderr)
        return None
    params, opt, meta = checkpoint.load(run.last, dict(graph.param_shapes(F, cfg)))
    pos = Position.from_meta(meta, run.last)
    done = pos.epoch
    if done > cfg.epochs:
        raise UserError(f"cannot resume with --epochs {cfg.epochs}: {run} has trained {done} epochs already; "
                        f"give --epochs {done} or more")
    return run.last, params, opt, pos


def train(dataset_path, cfg, run_dir, resume=False, progress=True, in_memory=None, sample_every=0,
          sample_seconds=epoch_clips.SECONDS):
    """Train per `cfg` on `dataset_path` into `run_dir`; returns a summary dict. `in_memory`
    forces the dataset into memory (True) or to be read batch by batch from disk (False).
    `sample_every` N > 0 writes a `sample_seconds` clip after every N epochs (rnnsound.epoch_clips).

    Holds the run folder's lock throughout (a second writer is refused). SIGINT or SIGTERM stops
    it after the step in progress: last.h5 is saved at that step and `Interrupted` raised."""
    cfg.validate()
    attrs, train_set, dev_set = load_splits(dataset_path, in_memory)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError(f"run folder {run_dir} is a file; give a folder with -o")
    if resume and not os.path.isdir(run_dir):
        raise UserError(f"cannot resume: {run_dir} does not exist; give the folder of an earlier run")
    run = RunFolder(run_dir)
    if not resume and os.path.exists(run.last):
        raise UserError(f"{run_dir} already holds a run; add --resume to continue it or choose another -o")
    heads.check(attrs["frame_size"], cfg)  # before the folder exists: a refused run leaves none
    epoch_clips.EpochClips.check(sample_every, sample_seconds, attrs)
    os.makedirs(run_dir, exist_ok=True)
    if not os.access(run_dir, os.W_OK):
        raise UserError(f"cannot write to run folder {run_dir}; choose another -o")
    # best.h5 and last.h5 (parameters and up to two optimiser states, float32) plus one being rewritten
    check_space(run_dir, 3 * 3 * 4 * graph.param_count(attrs["frame_size"], cfg), "the run's checkpoints")
    with FolderLock(run_dir):
        return _train(dataset_path, cfg, run, resume, progress, attrs, train_set, dev_set, (sample_every,
                                                                                            sample_seconds))


@dataclasses.dataclass
class Position:
    """Where training stands; saved in every checkpoint's attributes (rnnsound.checkpoint)."""
    step: int = 0              # updates done
    epoch: int = 0             # epochs done
    batch: int = 0             # batches done in the current epoch
    epoch_sse: float = 0.0     # the current epoch's batches' MSE of the head's mean, summed
    epoch_loss: float = 0.0    # ... and their head loss (equal for the mse head)
    epoch_batches: int = 0
    best_dev: float = float("inf")  # the best dev loss so far: picks best.h5 (the dev MSE for mse)
    seconds: float = 0.0       # wall time, summed over resumes
    samples: int = 0           # samples trained on, for the throughput

    @classmethod
    def from_meta(cls, meta, path):
        """The position saved in checkpoint `path`, each value checked: a whole count >= 0, or a
        finite number >= 0 (best_dev may be infinite: no epoch yet)."""
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in meta:
                continue
            v = meta[f.name]
            ok = (isinstance(v, int) if f.type is int else isinstance(v, (int, float))) and not isinstance(v, bool) \
                and v >= 0 and (np.isfinite(v) or f.name == "best_dev")
            if not ok:
                raise UserError(f"checkpoint {path} is damaged: {f.name} is {v!r}, not of type {f.type.__name__} "
                                "and >= 0; use another checkpoint or start afresh")
            values[f.name] = f.type(v)
        pos = cls(**values)
        if pos.epoch_batches > pos.step or pos.batch > pos.step:
            raise UserError(f"checkpoint {path} is damaged: {pos.batch} batches into epoch {pos.epoch + 1} but "
                            f"{pos.step} steps in all; use another checkpoint or start afresh")
        return pos


class Training:
    """A run's training under way: the network, its position, the log and the checkpoints, in `folder`."""

    def __init__(self, run, cfg, net, pos, F, L, base):
        self.folder, self.cfg, self.net, self.pos, self.F, self.base = run, cfg, net, pos, F, base
        self.title = f"{cfg.cell.upper()} {cfg.layers}x{cfg.hidden}, F={F}, L={L}"
        # Without a checkpoint the run starts at step 0: rows of an earlier start are dropped, not repeated.
        self.log = Log(run.log, keep_until_step=pos.step)
        self.drawn, self.stale = 0.0, False

    def save(self, path):
        meta = dict(dataclasses.asdict(self.pos), rng_seed=self.cfg.seed, cell=self.cfg.cell, hidden=self.cfg.hidden,
                    layers=self.cfg.layers, frame_size=self.F)
        checkpoint.save(path, self.net.params(), self.net.opt_state(), meta)

    def draw_curve(self, stopping=False):
        """learning_curve.png after an epoch at most every PLOT_SECONDS (a picture takes ~0.5 s,
        longer than a tiny run's epoch), and, if epochs came since, when training stops."""
        if stopping and not self.stale:
            return
        if not stopping and time.time() - self.drawn < PLOT_SECONDS:
            self.stale = True
            return
        plots.learning_curve(read_csv(self.log.path), self.folder.curve, self.title, self.base)
        self.drawn, self.stale = time.time(), False

    def step(self, x, y, lr, last_good, started):
        """One update on batch (x, y), counted and logged; a NaN or infinite update stops the run."""
        pos, cfg = self.pos, self.cfg
        if cfg.input_noise:  # on the inputs only; a pure function of (seed, step), so resumable
            noise = np.random.default_rng([cfg.seed, pos.step]).standard_normal(x.shape, dtype=np.float32)
            x = x + np.float32(cfg.input_noise) * noise
        result = self.net.train_step(x, y, lr)
        if not (np.isfinite(result.loss) and np.isfinite(result.step_norm)):  # a NaN update is never saved
            what = (f"the loss became {result.loss}" if not np.isfinite(result.loss)
                    else f"the update's norm became {result.step_norm}")
            where = f"step {pos.step + 1} (epoch {pos.epoch + 1}, batch {pos.batch + 1})"
            kept = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
            self.draw_curve(stopping=True)
            raise UserError(f"training diverged: {what} at {where}; {kept}; try a smaller --set learning_rate=...")
        pos.step += 1
        pos.batch += 1
        pos.epoch_sse += result.mse
        pos.epoch_loss += result.loss
        pos.epoch_batches += 1
        pos.samples += x.size
        pos.seconds = time.time() - started
        self.log.write(kind="batch", step=pos.step, epoch=pos.epoch + 1, batch=pos.batch, train_mse=f"{result.mse:.6g}",
                       train_loss=f"{result.loss:.6g}", lr=f"{lr:.6g}", step_norm=f"{result.step_norm:.4g}",
                       seconds=f"{pos.seconds:.2f}")
        return result

    def end_epoch(self, d, lr):
        """Log the finished epoch's train and dev figures, save best.h5 (if better) and last.h5."""
        pos, cfg = self.pos, self.cfg
        train_mse = pos.epoch_sse / max(1, pos.epoch_batches)
        train_loss = train_mse if heads.of(cfg).loss_is_mse else pos.epoch_loss / max(1, pos.epoch_batches)
        pos.epoch, pos.batch, pos.epoch_sse, pos.epoch_loss, pos.epoch_batches = pos.epoch + 1, 0, 0.0, 0.0, 0
        self.log.write(kind="epoch", step=pos.step, epoch=pos.epoch, train_mse=f"{train_mse:.6g}",
                       dev_mse=f"{d['dev_mse']:.6g}", train_loss=f"{train_loss:.6g}", dev_loss=f"{d['dev_loss']:.6g}",
                       dev_bits=f"{d['dev_bits']:.6g}", lr=f"{lr:.6g}", seconds=f"{pos.seconds:.2f}")
        if d["dev_loss"] < pos.best_dev:
            pos.best_dev = d["dev_loss"]
            self.save(self.folder.best)
        self.save(self.folder.last)
        self.draw_curve()
        return train_mse


def _describe(run, dataset_path, cfg, sums, attrs, train_set, dev_set):
    """config.json, versions.json and (once) baselines.json of the run: (versions, baselines)."""
    public = {k: v for k, v in attrs.items() if k not in ("splits", "split_problems", "shape", "stores")}
    write_json(run.config, {"train": dataclasses.asdict(cfg), "dataset": os.path.abspath(dataset_path),
                            **sums, "dataset_attrs": public,
                            "examples": {"train": train_set.num_examples, "dev": dev_set.num_examples}})
    libraries = versions(cfg)
    write_json(run.versions, libraries)
    if not os.path.exists(run.baselines):
        write_json(run.baselines, baselines.evaluate(train_set, dev_set))
    return libraries, read_json(run.baselines, {"zero": NUMBER, "last_frame": NUMBER, "linear": NUMBER})


def _train(dataset_path, cfg, run, resume, progress, attrs, train_set, dev_set, clip_settings):
    F, L = attrs["frame_size"], attrs["seq_len"]
    sums = digests(dataset_path, attrs)
    ckpt = _resume_from(dataset_path, sums, cfg, run, F) if resume else None
    libraries, base = _describe(run, dataset_path, cfg, sums, attrs, train_set, dev_set)
    net = Network(F, L, cfg, graph.init_params(F, cfg, np.random.default_rng(cfg.seed)))
    pos = Position()
    if ckpt:
        net.load(ckpt[1], ckpt[2])
        pos = ckpt[3]
    training = Training(run, cfg, net, pos, F, L, base)
    clips = epoch_clips.EpochClips(run.path, net, attrs, dev_set, *clip_settings)
    scheme = ShuffledScheme(train_set.num_examples, cfg.batch_size, cfg.seed)
    last_good = ckpt[0] if ckpt else None
    started = time.time() - pos.seconds
    with Deferred() as stop:
        while pos.epoch < cfg.epochs and not stop.signum:
            lr = cfg.learning_rate * cfg.lr_decay ** pos.epoch
            batches = scheme.batches(pos.epoch)
            bar = tqdm(total=len(batches), initial=pos.batch, desc=f"epoch {pos.epoch + 1}/{cfg.epochs}",
                       unit="batch", disable=not progress, leave=False)
            with Prefetch(train_set, batches[pos.batch:]) as reader:
                while pos.batch < len(batches) and not stop.signum:
                    x, y = next(reader)
                    t0 = time.time()
                    step = training.step(x, y, lr, last_good, started)
                    bar.set_postfix(loss=f"{step.loss:.4g}", samples_s=f"{x.size / (time.time() - t0):.3g}")
                    bar.update(1)
            bar.close()
            if stop.signum:
                break
            d = dev_metrics(net, dev_set, cfg.batch_size)
            clips.after_epoch(pos.epoch + 1)  # before the checkpoint: an epoch redone writes the same clip
            pos.seconds = time.time() - started
            train_mse = training.end_epoch(d, lr)
            last_good = run.last
            if progress:
                head = "" if heads.of(cfg).loss_is_mse else f"dev loss {d['dev_loss']:.5g} nats, "
                tqdm.write(f"epoch {pos.epoch}/{cfg.epochs}: train MSE {train_mse:.5g}, dev MSE {d['dev_mse']:.5g} "
                           f"(zero {base['zero']:.4g}, last frame {base['last_frame']:.4g}), {head}"
                           f"{d['dev_bits']:.3g} bits/sample, {pos.seconds:.0f} s")
        if stop.signum:  # still deferring: a second signal cannot cut this save short
            pos.seconds = time.time() - started
            training.save(run.last)
            training.draw_curve(stopping=True)
            training.log.close()
            raise Interrupted(f"{stop.signal_name} at step {pos.step}; saved {run.last}; "
                              f"continue with: rnnsound train {dataset_path} --resume {run}", stop.exit_code)
    training.draw_curve(stopping=True)
    training.log.close()
    if cfg.epochs == 0 or not os.path.exists(run.last):
        training.save(run.last)
    return _summary(run, cfg, pos, F, base, libraries["device"], train_set, dev_set)


def _summary(run, cfg, pos, F, base, device, train_set, dev_set):
    """The finished run in numbers, from its log (`train`'s return value)."""
    rows = read_csv(run.log)
    best, epochs = best_epoch(rows), [row for row in rows if row["kind"] == "epoch"]
    norms = [float(row["step_norm"]) for row in rows if row["kind"] == "batch" and row["step_norm"]]
    return {"run_dir": run.path, "steps": pos.step, "epochs": pos.epoch,
            "best_dev": float(best["dev_mse"]) if best else float("inf"),
            "best_loss": pos.best_dev, "best_bits": float(best["dev_bits"]) if best and best["dev_bits"] else None,
            "final_dev": float(epochs[-1]["dev_mse"]) if epochs else None,
            "step_norm_median": float(np.median(norms)) if norms else None,
            "seconds": pos.seconds, "baselines": base, "params": graph.param_count(F, cfg),
            "examples": {"train": train_set.num_examples, "dev": dev_set.num_examples},
            "samples_per_second": pos.samples / max(pos.seconds, 1e-9), "device": device}
