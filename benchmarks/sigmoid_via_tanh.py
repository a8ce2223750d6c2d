"""A rewrite exact in mathematics, timed: sigmoid(a) = 0.5 tanh(a / 2) + 0.5 inside the recurrent
cells (rnnsound.cells), against the cells as they are, in one process, interleaved.

XLA:CPU evaluates its logistic as 1 / (1 + exp(-a)); tanh has its own rational approximation. The
LSTM has three sigmoids per step and the GRU one (2H wide), so this is where the rewrite could
pay. Both networks start from the same parameters; the step is the fused training step of
benchmarks/train_step.py (batch 128, L=100, 2 x 256).

  python benchmarks/sigmoid_via_tanh.py --cell lstm --frames 40
"""
import argparse
import time
import types

import numpy as np
import pytensor.tensor as pt

from rnnsound import cells, graph
from rnnsound.compiled import Network
from rnnsound.config import TrainConfig
from rnnsound.runtime import use_float32

B, L = 128, 100


def step(cell, F, x, y):
    cfg = TrainConfig(hidden=256, cell=cell)
    net = Network(F, L, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))

    def run():
        net.train_step(x, y, 1e-9)
    run()  # compile
    return run


def main():
    use_float32()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", choices=("gru", "lstm"), default="lstm")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--repeats", type=int, default=9)
    args = p.parse_args()
    x = (np.random.default_rng(1).standard_normal((B, L, args.frames)) * 0.3).astype(np.float32)
    y = np.roll(x, -1, 1)
    as_is = step(args.cell, args.frames, x, y)
    rewritten = types.SimpleNamespace(**{k: getattr(pt, k) for k in dir(pt) if not k.startswith("__")})
    rewritten.sigmoid = lambda a: np.float32(0.5) * pt.tanh(np.float32(0.5) * a) + np.float32(0.5)
    cells.pt = rewritten  # the cells' graphs are built when a Network compiles: this one uses the rewrite
    via_tanh = step(args.cell, args.frames, x, y)
    cells.pt = pt
    times = {"as is": [], "via tanh": []}
    for _ in range(args.repeats):
        for name, fn in (("as is", as_is), ("via tanh", via_tanh)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    a, b = np.median(times["as is"]), np.median(times["via tanh"])
    print(f"{args.cell} F={args.frames}: step {a:.3f} s as is, {b:.3f} s with sigmoid via tanh: {a / b:.3f}x")


if __name__ == "__main__":
    main()
