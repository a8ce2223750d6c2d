"""A rewrite exact in mathematics, timed: sigmoid(a) = 0.5 tanh(a / 2) + 0.5 inside the recurrent
cells (rnnsound.cells), against the cells as they are, in one process, interleaved.

XLA:CPU evaluates its logistic as 1 / (1 + exp(-a)); tanh has its own rational approximation. The
LSTM has three sigmoids per step and the GRU one (2H wide), so this is where the rewrite could
pay. Both networks start from the same parameters; the step is the fused training step of
benchmarks/train_step.py (batch 128, L=100, 2 x 256).

  python benchmarks/sigmoid_via_tanh.py --cell lstm --frames 40
"""
import rnnsound  # noqa: F401  first, before numpy starts threads: its allocator setting

import argparse
import types

import numpy as np
import pytensor.tensor as pt

from rnnsound import cells
from rnnsound.runtime import use_float32

from ab import built_with, interleaved_medians


def main():
    use_float32()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", choices=("gru", "lstm"), default="lstm")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--repeats", type=int, default=9)
    args = p.parse_args()
    rewritten = types.SimpleNamespace(**{k: getattr(pt, k) for k in dir(pt) if not k.startswith("__")})
    rewritten.sigmoid = lambda a: np.float32(0.5) * pt.tanh(np.float32(0.5) * a) + np.float32(0.5)
    # the cells' graphs are built when a Network compiles: the second one uses the rewrite
    med = interleaved_medians({"as is": built_with(args.cell, args.frames, cells, "pt", pt)[1],
                               "via tanh": built_with(args.cell, args.frames, cells, "pt", rewritten)[1]},
                              args.repeats)
    a, b = med["as is"], med["via tanh"]
    print(f"{args.cell} F={args.frames}: step {a:.3f} s as is, {b:.3f} s with sigmoid via tanh: {a / b:.3f}x")


if __name__ == "__main__":
    main()
