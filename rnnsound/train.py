"""`rnnsound train`: the blog's recipe on a prepared dataset, into a self-describing run folder.

Run folder (`-o DIR`):
  config.json     the TrainConfig, the dataset's path, sha256 and attributes
  versions.json   Python and library versions, PyTensor backend and flags
  baselines.json  dev MSE of the zero / last-frame / linear predictors (rnnsound.baselines)
  log.csv         one row per batch and per epoch: kind, step, epoch, batch, train_mse and
                  dev_mse (of the output head's mean: the blog's metric for every head),
                  train_loss and dev_loss (the head's own loss per sample: the MSE for `mse`,
                  nats for `gmm` and `mulaw`), dev_bits (NLL of the 8-bit mu-law-quantised dev
                  targets in bits per sample, rnnsound.heads), lr, step_norm (the optimiser
                  step's norm before clipping; batch rows), seconds (wall time since the run
                  began, summed over resumes)
  best.h5, last.h5  checkpoints (rnnsound.checkpoint): best dev loss, and the latest position
  learning_curve.png  redrawn after an epoch (at most every PLOT_SECONDS) and when training stops
Ctrl-C (SIGINT) and SIGTERM stop the run after the step in progress and save last.h5 at that
step; `--resume DIR` continues from it with the same data order, so the result equals an
uninterrupted run. One process at a time trains in a folder (`.lock`). A NaN or infinite loss
stops the run and keeps the last good checkpoint.
"""
import csv
import dataclasses
import json
import os
import platform
import sys
import time

import numpy as np
from tqdm import tqdm

from . import baselines, checkpoint, heads, model, plots
from .atomic import atomic_path, check_space
from .config import TrainConfig, from_dict
from .dataset import sha256_of
from .errors import Interrupted, UserError
from .interrupts import Deferred, FolderLock
from .streams import Prefetch, ShuffledScheme, SequentialScheme, SongDataset, read_attrs

LOG_FIELDS = ["kind", "step", "epoch", "batch", "train_mse", "dev_mse", "train_loss", "dev_loss", "dev_bits", "lr",
              "step_norm", "seconds"]
IN_MEMORY_MAX_BYTES = 4 << 30  # larger datasets are read from disk batch by batch
PLOT_SECONDS = 30  # the learning curve is redrawn after an epoch at most this often


def write_json(path, data):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)


def read_json(path, required=()):
    """A JSON object from `path`; a damaged file, or one missing a `required` key, is one line."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is damaged (not valid JSON: {e}); restore it, or delete its folder to start that "
                        "work anew")
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if not isinstance(data, dict) or missing:
        raise UserError(f"{path} is damaged (missing {', '.join(missing) or 'its contents'}); restore it, or delete "
                        "its folder to start that work anew")
    return data


def versions(cfg):
    import h5py
    import pytensor
    import scipy
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


def read_log(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class Log:
    """Append-only CSV, opened at a checkpoint's step: rows written after it (by a run that was
    killed before its next checkpoint) are dropped, so every step is logged once. The rewrite
    also gives a log from an older version the current columns."""

    def __init__(self, path, keep_until_step):
        self.path = path
        rows = [r for r in read_log(path) if int(r["step"]) <= keep_until_step]
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
    return attrs, SongDataset(path, "train", in_memory), SongDataset(path, "dev", in_memory)


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
    if net.cfg.output == "mse":
        bits = sums(np.sqrt(mse))[2]
    return {"dev_mse": mse, "dev_loss": loss, "dev_bits": bits}


def best_epoch(rows):
    """The log's epoch row of best.h5: the lowest dev loss (dev MSE in logs from before the heads)."""
    epochs = [r for r in rows if r["kind"] == "epoch"]
    return min(epochs, key=lambda r: float(r["dev_loss"] or r["dev_mse"]), default=None)


def _setup_run(dataset_path, cfg, run_dir, resume, F):
    """The checkpoint to resume from, loaded: (path, params, optimiser state, meta); or None."""
    config_path = os.path.join(run_dir, "config.json")
    if resume:
        if not os.path.exists(config_path):
            if os.path.isdir(run_dir) and not os.path.exists(os.path.join(run_dir, "last.h5")):
                raise UserError(f"cannot resume: {run_dir} was stopped before its settings were saved (no config.json); "
                                f"start it again with the command that created it (rnnsound train {dataset_path} -o "
                                f"{run_dir} ...)")
            raise UserError(f"cannot resume: {run_dir} has no config.json; give the folder of an earlier run")
        saved = read_json(config_path, ("train", "dataset", "dataset_sha256"))
        if saved["dataset_sha256"] != sha256_of(dataset_path):
            raise UserError(f"cannot resume: {run_dir} was trained on another dataset ({saved['dataset']}); "
                            "give that dataset or start a new run folder")
        old = from_dict(TrainConfig, saved["train"])
        changed = [f.name for f in dataclasses.fields(TrainConfig)
                   if f.name not in ("epochs", "backend") and getattr(old, f.name) != getattr(cfg, f.name)]
        if changed:
            raise UserError(f"cannot resume: the settings {', '.join(changed)} differ from the run in {run_dir}; "
                            "resume with the same settings (only --epochs and the backend may change)")
        last = os.path.join(run_dir, "last.h5")
        if not os.path.exists(last):
            return None
        params, opt, meta = checkpoint.load(last, dict(model.param_shapes(F, cfg)))
        done = meta.get("epoch", 0)
        if done > cfg.epochs:
            raise UserError(f"cannot resume with --epochs {cfg.epochs}: {run_dir} has trained {done} epochs already; "
                            f"give --epochs {done} or more")
        return last, params, opt, meta
    if os.path.exists(os.path.join(run_dir, "last.h5")):
        raise UserError(f"{run_dir} already holds a run; add --resume to continue it or choose another -o")
    return None


def train(dataset_path, cfg, run_dir, resume=False, progress=True, in_memory=None):
    """Train per `cfg` on `dataset_path` into `run_dir`; returns a summary dict. `in_memory`
    forces the dataset into memory (True) or to be read batch by batch from disk (False).

    Holds the run folder's lock throughout (a second writer is refused). SIGINT or SIGTERM stops
    it after the step in progress: last.h5 is saved at that step and `Interrupted` raised."""
    cfg.validate()
    attrs, train_set, dev_set = load_splits(dataset_path, in_memory)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError(f"run folder {run_dir} is a file; give a folder with -o")
    if resume and not os.path.isdir(run_dir):
        raise UserError(f"cannot resume: {run_dir} does not exist; give the folder of an earlier run")
    os.makedirs(run_dir, exist_ok=True)
    if not os.access(run_dir, os.W_OK):
        raise UserError(f"cannot write to run folder {run_dir}; choose another -o")
    # best.h5 and last.h5 (parameters and up to two optimiser states, float32) plus one being rewritten
    heads.check(attrs["frame_size"], cfg)
    check_space(run_dir, 3 * 3 * 4 * model.param_count(attrs["frame_size"], cfg), "the run's checkpoints")
    with FolderLock(run_dir):
        return _train(dataset_path, cfg, run_dir, resume, progress, attrs, train_set, dev_set)


def _train(dataset_path, cfg, run_dir, resume, progress, attrs, train_set, dev_set):
    from .network import Network
    F, L = attrs["frame_size"], attrs["seq_len"]
    ckpt = _setup_run(dataset_path, cfg, run_dir, resume, F)
    if resume and ckpt is None:
        print(f"{run_dir} has no last.h5 (stopped before its first checkpoint): training it from the start",
              file=sys.stderr)
    public = {k: v for k, v in attrs.items() if k not in ("splits", "split_problems", "shape")}
    write_json(os.path.join(run_dir, "config.json"), {
        "train": dataclasses.asdict(cfg), "dataset": os.path.abspath(dataset_path),
        "dataset_sha256": sha256_of(dataset_path), "dataset_attrs": public,
        "examples": {"train": train_set.num_examples, "dev": dev_set.num_examples}})
    write_json(os.path.join(run_dir, "versions.json"), versions(cfg))
    base_path = os.path.join(run_dir, "baselines.json")
    if not os.path.exists(base_path):
        write_json(base_path, baselines.evaluate(train_set, dev_set))
    base = read_json(base_path, ("zero", "last_frame", "linear"))

    params = model.init_params(F, cfg, np.random.default_rng(cfg.seed))
    # epoch_sse sums the batches' MSE, epoch_loss their head loss (equal for mse); best_dev is the
    # best dev loss, which picks best.h5 (the dev MSE for mse)
    pos = {"step": 0, "epoch": 0, "batch": 0, "epoch_sse": 0.0, "epoch_loss": 0.0, "epoch_batches": 0,
           "best_dev": float("inf"), "seconds": 0.0, "samples": 0}
    net = Network(F, L, cfg, params)
    if ckpt:
        _, p, opt, meta = ckpt
        net.load(p, opt)
        pos.update({k: meta[k] for k in pos if k in meta})
    # Without a checkpoint the run starts at step 0: rows of an earlier start are dropped, not repeated.
    log = Log(os.path.join(run_dir, "log.csv"), keep_until_step=pos["step"])
    scheme = ShuffledScheme(train_set.num_examples, cfg.batch_size, cfg.seed)
    samples_per_example = L * F
    last_good = ckpt[0] if ckpt else None

    def save(name):
        meta = dict(pos, rng_seed=cfg.seed, cell=cfg.cell, hidden=cfg.hidden, layers=cfg.layers, frame_size=F)
        checkpoint.save(os.path.join(run_dir, name), net.params(), net.opt_state(), meta)

    curve = {"drawn": 0.0, "stale": False}

    def draw_curve(stopping=False):
        """learning_curve.png after an epoch at most every PLOT_SECONDS (a picture takes ~0.5 s,
        longer than a tiny run's epoch), and, if epochs came since, when training stops."""
        if stopping and not curve["stale"]:
            return
        if not stopping and time.time() - curve["drawn"] < PLOT_SECONDS:
            curve["stale"] = True
            return
        plots.learning_curve(read_log(log.path), os.path.join(run_dir, "learning_curve.png"),
                             f"{cfg.cell.upper()} {cfg.layers}x{cfg.hidden}, F={F}, L={L}", base)
        curve.update(drawn=time.time(), stale=False)

    started = time.time() - pos["seconds"]
    with Deferred() as stop:
        while pos["epoch"] < cfg.epochs and not stop.signum:
            epoch = pos["epoch"]
            lr = cfg.learning_rate * cfg.lr_decay ** epoch
            batches = scheme.batches(epoch)
            bar = tqdm(total=len(batches), initial=pos["batch"], desc=f"epoch {epoch + 1}/{cfg.epochs}",
                       unit="batch", disable=not progress, leave=False)
            with Prefetch(train_set, batches[pos["batch"]:]) as reader:
                while pos["batch"] < len(batches) and not stop.signum:
                    x, y = next(reader)
                    if cfg.input_noise:  # on the inputs only; a pure function of (seed, step), so resumable
                        noise = np.random.default_rng([cfg.seed, pos["step"]]).standard_normal(x.shape, dtype=np.float32)
                        x = x + np.float32(cfg.input_noise) * noise
                    t0 = time.time()
                    loss = net.train_step(x, y, lr)
                    if not (np.isfinite(loss) and np.isfinite(net.last_step_norm)):  # a NaN update is never saved
                        what = f"the loss became {loss}" if not np.isfinite(loss) else \
                            f"the update's norm became {net.last_step_norm}"
                        where = f"step {pos['step'] + 1} (epoch {epoch + 1}, batch {pos['batch'] + 1})"
                        kept = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
                        draw_curve(stopping=True)
                        raise UserError(f"training diverged: {what} at {where}; {kept}; "
                                        "try a smaller --set learning_rate=...")
                    pos["step"] += 1
                    pos["batch"] += 1
                    pos["epoch_sse"] += net.last_mse
                    pos["epoch_loss"] += loss
                    pos["epoch_batches"] += 1
                    pos["samples"] += x.size
                    pos["seconds"] = time.time() - started
                    log.write(kind="batch", step=pos["step"], epoch=epoch + 1, batch=pos["batch"],
                              train_mse=f"{net.last_mse:.6g}", train_loss=f"{loss:.6g}", lr=f"{lr:.6g}",
                              step_norm=f"{net.last_step_norm:.4g}", seconds=f"{pos['seconds']:.2f}")
                    bar.set_postfix(loss=f"{loss:.4g}", samples_s=f"{len(x) * samples_per_example / (time.time() - t0):.3g}")
                    bar.update(1)
            bar.close()
            if stop.signum:
                break
            d = dev_metrics(net, dev_set, cfg.batch_size)
            n_batches = max(1, pos["epoch_batches"])
            train_mse = pos["epoch_sse"] / n_batches
            train_loss = train_mse if cfg.output == "mse" else pos["epoch_loss"] / n_batches
            pos.update(epoch=epoch + 1, batch=0, epoch_sse=0.0, epoch_loss=0.0, epoch_batches=0,
                       seconds=time.time() - started)
            log.write(kind="epoch", step=pos["step"], epoch=epoch + 1, train_mse=f"{train_mse:.6g}",
                      dev_mse=f"{d['dev_mse']:.6g}", train_loss=f"{train_loss:.6g}", dev_loss=f"{d['dev_loss']:.6g}",
                      dev_bits=f"{d['dev_bits']:.6g}", lr=f"{lr:.6g}", seconds=f"{pos['seconds']:.2f}")
            if d["dev_loss"] < pos["best_dev"]:
                pos["best_dev"] = d["dev_loss"]
                save("best.h5")
            save("last.h5")
            last_good = os.path.join(run_dir, "last.h5")
            draw_curve()
            if progress:
                head = "" if cfg.output == "mse" else f"dev loss {d['dev_loss']:.5g} nats, "
                tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: train MSE {train_mse:.5g}, dev MSE {d['dev_mse']:.5g} "
                           f"(zero {base['zero']:.4g}, last frame {base['last_frame']:.4g}), {head}"
                           f"{d['dev_bits']:.3g} bits/sample, {pos['seconds']:.0f} s")
        if stop.signum:  # still deferring: a second signal cannot cut this save short
            pos["seconds"] = time.time() - started
            save("last.h5")
            draw_curve(stopping=True)
            log.close()
            raise Interrupted(f"{stop.signal_name} at step {pos['step']}; saved {os.path.join(run_dir, 'last.h5')}; "
                              f"continue with: rnnsound train {dataset_path} --resume {run_dir}", stop.exit_code)
    draw_curve(stopping=True)
    log.close()
    if cfg.epochs == 0 or not os.path.exists(os.path.join(run_dir, "last.h5")):
        save("last.h5")
    best = best_epoch(read_log(os.path.join(run_dir, "log.csv")))
    return {"run_dir": run_dir, "steps": pos["step"], "epochs": pos["epoch"],
            "best_dev": float(best["dev_mse"]) if best else float("inf"),
            "best_loss": pos["best_dev"], "best_bits": float(best["dev_bits"]) if best and best["dev_bits"] else None,
            "seconds": pos["seconds"], "baselines": base, "params": model.count_params(params),
            "examples": {"train": train_set.num_examples, "dev": dev_set.num_examples},
            "samples_per_second": pos["samples"] / max(pos["seconds"], 1e-9)}
