"""Her numbers beside ours: a table from finished sweep folders of her two plotted pairs.

Her figures (BLOG_RECIPE.md; her song, her committed-bug model): F=1000, L=100: train MSE 0.056 ->
~0.033 in 390 updates, i.e. 0.59 of the data's variance; F=4000, L=50: dev 0.0561 -> 0.0504 in
210 updates, 0.90. For each run of each folder given (e.g. committed_code_ablation.py's runs with
`--only '*hop=0*'`, one folder per song) the table gives, relative to the variance of the split
it is measured on: best dev MSE, the last epoch's train MSE (the mean over its batches, as
Blocks' training monitor reported it), the linear baseline on dev; and the median norm of the
optimiser's step before her clip at 1.0, and the run's wall time.

  python tools/her_scale_table.py results/her_scale_wesnoth results/her_scale_ambient
"""
import argparse
import os
import sys

import numpy as np

from rnnsound.files import read_csv, read_json
from rnnsound.rundir import sweep_run
from rnnsound.streams import SequentialScheme, SongDataset
from rnnsound.sweeps.report import her_figure


def train_variance(dataset):
    """Mean square of the train split's targets (the zero predictor's train MSE)."""
    train = SongDataset(dataset, "train", load_in_memory=False)
    total = sum(float(np.sum(train.get(idx)[1].astype(np.float64) ** 2))
                for idx in SequentialScheme(train.num_examples, 64).batches())
    train.close()
    return total / (train.num_examples * np.prod(train.attrs["shape"][1:]))


def last_train_ratio(run, epochs):
    """The last epoch's train MSE over the train split's variance; n/a where the run's dataset is not
    here (a published record keeps no config.json or dataset)."""
    dataset = read_json(run.config, {"dataset": str})["dataset"] if os.path.exists(run.config) else None
    if not dataset or not os.path.exists(dataset):
        return "n/a"
    return f"{float(epochs[-1]['train_mse']) / train_variance(dataset):.3f}"


def rows(folder):
    meta = read_json(os.path.join(folder, "sweep.json"))
    for name in meta["runs"]:
        run = sweep_run(folder, name)
        if not os.path.exists(run.summary):
            continue
        s = read_json(run.summary)
        if s["status"] != "done":
            continue
        epochs = [r for r in read_csv(run.log) if r["kind"] == "epoch"]
        zero = s["baselines"]["zero"]
        wall = s["train_seconds"] + sum(s[m]["wall_seconds"] for m in ("stateful", "blog"))
        yield [
            meta["song"],
            f"{s['frame_size']}/{s['seq_len']}",
            "committed bug" if s["recur_axis"] == "batch" else "intended",
            her_figure(s),
            f"{s['examples']['train']}/{s['examples']['dev']}",
            str(s["steps"]),
            f"{zero:.4f}",
            f"{s['best_dev'] / zero:.3f}",
            last_train_ratio(run, epochs),
            f"{s['baselines']['linear'] / zero:.3f}",
            f"{s.get('step_norm_median') or float('nan'):.3g}",
            f"{s['stateful']['end_level_db']:.1f}",
            f"{wall / 60:.1f} min",
        ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", help="sweep --out folders")
    args = p.parse_args(argv)
    header = ["song", "F/L", "model", "hers", "train/dev ex", "updates", "dev variance", "best dev / var",
              "last train / var", "linear / var", "step norm", "stateful end dB", "wall"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for folder in args.folders:
        if not os.path.exists(os.path.join(folder, "sweep.json")):
            print(f"her_scale_table.py: error: {folder} holds no sweep (no sweep.json)", file=sys.stderr)
            return 2
        for row in rows(folder):
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
