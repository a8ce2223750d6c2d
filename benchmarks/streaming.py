"""Training steps with the dataset in memory against the dataset read from disk batch by batch,
with and without prefetching the next batch (rnnsound.streams.Prefetch), and from a dataset of
views onto the song stored once (the default of `prepare`) against a self-contained copy
(`prepare --copy`), interleaved in one process.

At her scale: a 3-hour song (the embedded étude at her 174,229,537 samples), F=1000, L=100, batch
128: 1600 training examples, 51 MB of inputs and targets per batch. Each round times `--steps`
consecutive training steps of each variant, reading shuffled batches exactly as `train` does; the
median per-step time over rounds is reported with its ratio to the in-memory one (1.05 = 5% slower).
`--drop-caches` (root only) empties the page cache before every lazy round, so reads come from the
disk rather than from memory the kernel kept.

  python benchmarks/streaming.py                         # prepares data/etude_blog_f1000_l100{,_copy}.hdf5 once
  python benchmarks/streaming.py --drop-caches --rounds 5
"""
import argparse
import os
import time

import numpy as np

from rnnsound.runtime import use_float32


def prepare_data(path, copy):
    from rnnsound.config import DataConfig
    from rnnsound.prepare import prepare
    from rnnsound.default_song import BLOG_SAMPLES, EmbeddedSong
    if not os.path.exists(path):
        print(f"preparing {path} (her length, F=1000, L=100; about 1.5 min)...", flush=True)
        prepare(EmbeddedSong(samples=BLOG_SAMPLES), path, DataConfig(frame_size=1000, seq_len=100), progress=True,
                copy=copy)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def main():
    use_float32()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data",
        default=os.path.join("data", "etude_blog_f1000_l100.hdf5"),
        help="a prepared dataset of views (default %(default)s, made if missing); its copy is DATA_copy.hdf5",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of each variant (default %(default)s)")
    p.add_argument("--steps", type=int, default=4, help="training steps per round (default %(default)s)")
    p.add_argument("--drop-caches", action="store_true", help="drop the page cache before each lazy round (root)")
    args = p.parse_args()
    from rnnsound import graph
    from rnnsound.config import TrainConfig
    from rnnsound.compiled import Network
    from rnnsound.streams import Prefetch, ShuffledScheme, SongDataset
    copy_path = args.data[:-5] + "_copy.hdf5"
    prepare_data(args.data, copy=False)
    prepare_data(copy_path, copy=True)
    cfg = TrainConfig()
    memory, lazy = (SongDataset(copy_path, "train", load_in_memory=m) for m in (True, False))
    view_memory, view_lazy = (SongDataset(args.data, "train", load_in_memory=m) for m in (True, False))
    F, L = memory.attrs["frame_size"], memory.attrs["seq_len"]
    net = Network(F, L, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    batches = ShuffledScheme(memory.num_examples, cfg.batch_size, cfg.seed).batches(0)
    full = [b for b in batches if len(b) == cfg.batch_size]
    net.train_step(*memory.get(full[0]), 1e-9)  # compile
    print(
        f"{copy_path} and its views {args.data}: {memory.num_examples} train examples, "
        f"{2 * 4 * cfg.batch_size * L * F / 1e6:.0f} MB per batch",
        flush=True,
    )

    def run(dataset, prefetch, first):
        chosen = [full[(first + i) % len(full)] for i in range(args.steps)]
        t = time.perf_counter()
        if prefetch:
            with Prefetch(dataset, chosen) as reader:
                for x, y in reader:
                    net.train_step(x, y, 1e-9)
        else:
            for idx in chosen:
                net.train_step(*dataset.get(idx), 1e-9)
        return (time.perf_counter() - t) / args.steps

    variants = {"in memory": (memory, False), "from disk, no prefetch": (lazy, False),
                "from disk, prefetch": (lazy, True), "views in memory": (view_memory, False),
                "views from disk, prefetch": (view_lazy, True)}
    times = {k: [] for k in variants}
    for r in range(args.rounds):
        for k, (dataset, prefetch) in variants.items():
            if args.drop_caches and dataset in (lazy, view_lazy):
                drop_caches()
            times[k].append(run(dataset, prefetch, r * args.steps))
    base = np.median(times["in memory"])
    for k, v in times.items():
        print(f"{k:26s} {np.median(v):.3f} s/step  ratio to in memory {np.median(v) / base:.3f}", flush=True)
    pairs = (("views in memory", "in memory"), ("views from disk, prefetch", "from disk, prefetch"))
    for a, b in pairs:
        print(f"{a} / {b} (copy): {np.median(times[a]) / np.median(times[b]):.3f}", flush=True)


if __name__ == "__main__":
    main()
