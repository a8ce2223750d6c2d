"""What `train --sample-every` costs: the same run with and without a clip after every epoch.

The demo's setting (the embedded étude, F=100, L=100, hop 20, the blog's 2x256 GRU) trained
--epochs epochs, A (no clips) and B (--sample-every 1, the default 3 s clips) alternated --repeats
times in this process. Per epoch: the median wall time of epochs 2.. (a clip every epoch: the
worst case), and the whole run's time, which adds the generator's one compile.

  python benchmarks/epoch_clips.py | tee docs/results/speed_avx512/epoch_clips.txt
"""
import argparse
import os
import tempfile

import numpy as np

from rnnsound.config import DataConfig, TrainConfig
from rnnsound.files import read_csv
from rnnsound.prepare import prepare
from rnnsound.runtime import code_version, machine
from rnnsound.train import train


def epoch_seconds(run):
    """Wall seconds of each epoch (from log.csv's cumulative seconds), and the whole run's."""
    ends = [float(r["seconds"]) for r in read_csv(os.path.join(run, "log.csv")) if r["kind"] == "epoch"]
    return np.diff([0.0] + ends), ends[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    lines = [f"# {__doc__.splitlines()[0]}",
             f"# command: python benchmarks/epoch_clips.py --epochs {a.epochs} --repeats {a.repeats}",
             f"# machine: {machine()}; commit {code_version()}; demo setting, "
             "3 s stateful clips"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "d.hdf5")
        prepare(None, data, DataConfig(frame_size=100, seq_len=100, hop=20), progress=False)
        cfg = TrainConfig(epochs=a.epochs)
        per_epoch, total = {"A": [], "B": []}, {"A": [], "B": []}
        for i in range(a.repeats):
            for arm, every in (("A", 0), ("B", 1)):
                run = os.path.join(tmp, f"{arm}{i}")
                train(data, cfg, run, progress=False, sample_every=every)
                epochs, whole = epoch_seconds(run)
                per_epoch[arm] += list(epochs[1:])
                total[arm].append(whole)
                print(f"# {arm}{i}: epochs {' '.join(f'{e:.2f}' for e in epochs)} s; run {whole:.1f} s", flush=True)
    a_ep, b_ep = np.median(per_epoch["A"]), np.median(per_epoch["B"])
    a_run, b_run = np.median(total["A"]), np.median(total["B"])
    print(f"median epoch (2..{a.epochs}): A {a_ep:.2f} s, B {b_ep:.2f} s, B/A {b_ep / a_ep:.3f}")
    print(f"median run of {a.epochs} epochs: A {a_run:.1f} s, B {b_run:.1f} s, B/A {b_run / a_run:.3f}")


if __name__ == "__main__":
    main()
