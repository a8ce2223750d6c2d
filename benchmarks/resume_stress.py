"""Resume equality under fire: interrupt a training run many times, at random moments, with SIGINT,
SIGTERM or kill -9, resume it each time, and compare every array of its last.h5 (parameters and
optimiser state) and its log with an uninterrupted run of the same settings.

  python benchmarks/resume_stress.py                          # the default song, F=100, L=20, hop 4, H=32
  python benchmarks/resume_stress.py --song sectoid_feelings_16k.flac --epochs 3

A fifth of the signals land during startup (a random 0.3-4 s), the rest after a random number
(1 to --max-steps) of further training steps. Prints each interrupt and at the end the number of
interrupts, the maximum absolute difference over all arrays, and whether the logs agree (each
step once, the same losses).
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np


def train_cmd(data, run, epochs, resume):
    where = ["--resume", run] if resume else ["-o", run]
    return [sys.executable, "-m", "rnnsound", "train", data, *where, "--hidden", "32", "--epochs", str(epochs), "-q"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--song", help="audio file (default: the embedded song)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=60, help="most training steps before an interrupt")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from rnnsound import checkpoint
    from rnnsound.files import read_csv
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="resume_stress_")
    data = os.path.join(work, "data.hdf5")
    subprocess.run([sys.executable, "-m", "rnnsound", "prepare", *([args.song] if args.song else []), "-F", "100",
                    "-L", "20", "--hop", "4", "-o", data, "-q"], check=True)
    whole, split = os.path.join(work, "whole"), os.path.join(work, "split")
    subprocess.run(train_cmd(data, whole, args.epochs, False), check=True)
    interrupts = []
    log = os.path.join(split, "log.csv")
    while True:
        rows_before = len(read_csv(log))
        # --resume once the run's settings are saved; before that, the command that created it
        resume = os.path.exists(os.path.join(split, "config.json"))
        proc = subprocess.Popen(train_cmd(data, split, args.epochs, resume), stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        if rng.random() < 0.2:  # during startup (imports, compiling, baselines)
            when, target = f"{rng.uniform(0.3, 4.0):.1f} s", None
            deadline = t0 + float(when[:-2])
        else:  # during training: after a random number of further steps
            target, deadline = rows_before + rng.randint(1, args.max_steps), t0 + 600
            when = f"{target - rows_before} steps"
        while proc.poll() is None and time.time() < deadline and (target is None or len(read_csv(log)) < target):
            time.sleep(0.01)
        if proc.poll() is not None:
            err = proc.stderr.read()
            if proc.returncode != 0:
                raise SystemExit(f"the run failed (exit {proc.returncode}): {err}")
            break
        sig = rng.choice((signal.SIGINT, signal.SIGTERM, signal.SIGKILL))
        proc.send_signal(sig)
        err = proc.communicate()[1]
        interrupts.append((sig.name, when, proc.returncode))
        print(f"{sig.name:8} after {when:>9} -> exit {proc.returncode}: {err.strip()[-80:] or '(killed)'}", flush=True)
    a_params, a_opt, a_meta = checkpoint.load(os.path.join(whole, "last.h5"))
    b_params, b_opt, b_meta = checkpoint.load(os.path.join(split, "last.h5"))
    diff = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for a, b in ((a_params, b_params), (a_opt, b_opt))
               for k in a)
    rows = [[(r["kind"], r["step"], r["train_mse"], r["dev_mse"]) for r in read_csv(os.path.join(d, "log.csv"))]
            for d in (whole, split)]
    kinds = ", ".join(f"{n} {sum(i[0] == n for i in interrupts)}" for n in ("SIGINT", "SIGTERM", "SIGKILL"))
    print(
        f"{len(interrupts)} interrupts ({kinds}); "
        f"steps {a_meta['step']} and {b_meta['step']}; max |difference| over every array of last.h5: {diff:.3g}; "
        f"logs {'identical' if rows[0] == rows[1] else 'DIFFER'}; unexpected exits (not 130, 143 or -9): "
        f"{[i for i in interrupts if i[2] not in (130, 143, -9)] or 'none'}"
    )


if __name__ == "__main__":
    main()
