"""Same seed, same numbers: the current tree against a git revision, bit for bit.

Runs the same small jobs through the `rnnsound` command line (which every version keeps) in a
checkout of REV and in this tree, then compares what they wrote: every array of best.h5 and
last.h5, log.csv (less its wall-clock column), the generated WAV files and their metrics (less
timings). Jobs: GRU, LSTM, chunked backprop (bptt_chunk=5 of L=20), the committed-code bug
(recur_axis=batch), and the gmm, mulaw and tier output heads; each generates 1 s in every mode (the
likelihood heads at temperature 1, with a sampling seed). About 6 minutes on 2 cores (56 short
processes, each compiling).

  python tools/same_numbers.py main          # this tree against main's last commit
  python tools/same_numbers.py 0b4d4c3

Exit status 0 when everything is identical, 1 with the differences listed otherwise.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = ["--epochs", "1", "--hidden", "16", "--batch-size", "16", "-q"]
JOBS = {  # run name -> train options
    "gru": [],
    "lstm": ["--cell", "lstm"],
    "chunked": ["--set", "bptt_chunk=5"],
    "batch_axis": ["--set", "recur_axis=batch"],
    "gmm": ["--set", "output=gmm"],
    "mulaw": ["--set", "output=mulaw"],
    "tier": ["--set", "output=tier", "--set", "tier_dim=8", "--set", "tier_context=4"],
}
VOLATILE_METRICS = {"run_dir"}       # the run folder's absolute path
VOLATILE_ATTRS = {"@seconds", "@sha256"}  # a checkpoint's wall time, and its digest (which covers it)


def run_jobs(tree, work):
    """Prepare one dataset and train and generate every job with the `rnnsound` of `tree`."""
    env = dict(os.environ, PYTHONPATH=tree, PYTHONHASHSEED="0")

    def rnnsound(*args):
        subprocess.run([sys.executable, "-m", "rnnsound", *args], check=True, env=env, cwd=work,
                       stdout=subprocess.DEVNULL)
    rnnsound("prepare", "--minutes", "0.5", "-F", "40", "-L", "20", "-o", "data.hdf5", "-q")
    for name, options in JOBS.items():
        rnnsound("train", "data.hdf5", "-o", name, *COMMON, *options)
        for mode in ("stateful", "window", "blog"):
            extra = (
                []
                if name in ("gru", "lstm", "chunked", "batch_axis")
                else ["--temperature", "1", "--sampling-seed", "7"]
            )
            rnnsound("generate", name, "--mode", mode, "--seconds", "1", "-o", f"{name}/{mode}.wav", "-q", *extra)


def arrays(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        out.update({f"@{k}": v for k, v in f.attrs.items()})
    return out


def log_rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def metrics(path):
    with open(path) as f:
        return {k: v for k, v in json.load(f).items() if k not in VOLATILE_METRICS}


def compare(a, b):
    """Differences between two job folders, as lines."""
    diffs = []
    for name in JOBS:
        for ck in ("best.h5", "last.h5"):
            x, y = arrays(os.path.join(a, name, ck)), arrays(os.path.join(b, name, ck))
            for k in sorted((set(x) | set(y)) - VOLATILE_ATTRS):
                if k not in x or k not in y or not np.array_equal(np.asarray(x[k]), np.asarray(y[k])):
                    diffs.append(f"{name}/{ck}: {k} differs")
        if log_rows(os.path.join(a, name, "log.csv")) != log_rows(os.path.join(b, name, "log.csv")):
            diffs.append(f"{name}/log.csv differs")
        for mode in ("stateful", "window", "blog"):
            wa, wb = (open(os.path.join(d, name, f"{mode}.wav"), "rb").read() for d in (a, b))
            if wa != wb:
                diffs.append(f"{name}/{mode}.wav differs")
            ma, mb = (metrics(os.path.join(d, name, f"{mode}.metrics.json")) for d in (a, b))
            if ma != mb:
                diffs.append(f"{name}/{mode}.metrics.json differs in {sorted(k for k in ma if ma.get(k) != mb.get(k))}")
    return diffs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rev", help="git revision to compare this tree with")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = os.path.join(tmp, "old")
        subprocess.run(["git", "-C", HERE, "worktree", "add", "--detach", "-q", old_tree, args.rev], check=True)
        try:
            for tree, work in ((old_tree, os.path.join(tmp, "a")), (HERE, os.path.join(tmp, "b"))):
                os.makedirs(work)
                print(f"running the jobs with {args.rev if tree == old_tree else 'this tree'}...", flush=True)
                run_jobs(tree, work)
            diffs = compare(os.path.join(tmp, "a"), os.path.join(tmp, "b"))
        finally:
            subprocess.run(["git", "-C", HERE, "worktree", "remove", "--force", old_tree], check=True)
    checked = len(JOBS) * (2 + 1 + 3 * 2)
    if diffs:
        print("\n".join(diffs))
        print(f"{len(diffs)} of {checked} files differ")
        return 1
    print(
        f"identical: {checked} files ({len(JOBS)} runs: checkpoints, logs, clips and their metrics) against {args.rev}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
