"""Helpers of the benchmarks that compare two ways of computing the training step
(fold_input_map.py) and of
profile_step.py --thunks: the benchmark model and batch, a step compiled with one piece of rnnsound
swapped for another, steps timed interleaved in one process, how far two networks' parameters
drifted apart, and the command line of a comparison over cells and frame sizes."""
import argparse
import time

import numpy as np

from rnnsound import graph
from rnnsound.compiled import Network
from rnnsound.config import TrainConfig
from rnnsound.runtime import use_float32

B, L, H = 128, 100, 256


def network_and_batch(cell, F):
    """benchmarks/train_step.py's model (2 x 256, seeded parameters) and one batch (128, L=100, F)
    with its next-frame targets: the same for every call."""
    cfg = TrainConfig(hidden=H, cell=cell)
    net = Network(F, L, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    x = np.random.default_rng(1).standard_normal((B, L, F)).astype(np.float32) * 0.3
    return net, x, np.roll(x, -1, axis=1)


def built_with(cell, F, module, name, value):
    """(network, its training step, the first step's loss) of network_and_batch, its graph built
    (on the first step) with module.name replaced by value."""
    net, x, y = network_and_batch(cell, F)
    as_is = getattr(module, name)
    setattr(module, name, value)
    try:
        first = net.train_step(x, y, 0.002).loss   # compiles with the replacement in force
    finally:
        setattr(module, name, as_is)
    return net, (lambda: net.train_step(x, y, 0.002)), first


def interleaved_medians(steps, repeats):
    """{name: median seconds} of the callables in `steps`, called in turn `repeats` times."""
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: float(np.median(v)) for name, v in times.items()}


def largest_difference(params, reference):
    """The largest parameter difference, as a fraction of that parameter's largest value."""
    return max(float(np.abs(params[k] - reference[k]).max() / np.abs(reference[k]).max())
               for k in reference if np.abs(reference[k]).max() > 0)


def positive_ints(text):
    """argparse type of a comma-separated list of positive integers, e.g. "40,100"."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive integers, e.g. 40,100")
    return values


def cell_names(text):
    """argparse type of a comma-separated list of cells, e.g. "gru,lstm"."""
    names = text.split(",")
    if not names or not set(names) <= {"gru", "lstm"}:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of cells (gru, lstm)")
    return names


def compare_main(doc, compare, frames):
    """The command line of a comparison: compare(cell, F, repeats) for each --cell and --frames
    (default `frames`, e.g. "40,1000"), with `doc` as its help."""
    use_float32()
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", type=cell_names, default="gru,lstm", help="cells (default %(default)s)")
    p.add_argument("--frames", type=positive_ints, default=frames, help="frame sizes F (default %(default)s)")
    p.add_argument("--repeats", type=int, default=7, help="timed steps of each (default %(default)s)")
    args = p.parse_args()
    for cell in args.cell:
        for F in args.frames:
            compare(cell, F, args.repeats)
