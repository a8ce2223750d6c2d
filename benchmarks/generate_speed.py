"""Real-time factor of generation: seconds of audio made per second of wall time, per mode.

Model: 2-layer GRU, H=256, L=100 (untrained weights: speed does not depend on their values),
seed = L random frames, 30 s of audio at 16 kHz. The compile time (first call) is reported
apart from the generation time (median of the next calls).

  python benchmarks/generate_speed.py                  # F = 40 and 1000, all three modes
  python benchmarks/generate_speed.py --frames 1000 --modes stateful --seconds 60
  python benchmarks/generate_speed.py --modes stateful --count 1,8,32   # clips side by side in one call

With `--count N`, N clips (different seeds) are made in one compiled call and the throughput is
N x seconds of audio per second of wall time.
"""
import argparse
import math
import time

import numpy as np

from rnnsound import model
from rnnsound.config import TrainConfig
from rnnsound.generate import compile_generator

RATE, L = 16000, 100


def measure(F, mode, seconds, repeats, count=1):
    cfg = TrainConfig(hidden=256)
    params = model.init_params(F, cfg, np.random.default_rng(0))
    seed = np.random.default_rng(1).uniform(-0.5, 0.5, (count, L, F)).astype(np.float32)
    n = math.ceil(seconds * RATE / F)
    t = time.perf_counter()
    fn = compile_generator(params, cfg, F, L, n, mode, count=count)
    fn(seed)
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.asarray(fn(seed))
        times.append(time.perf_counter() - t)
    run = float(np.median(times))
    print(f"F={F:5d} {mode:8s} {count:3d} x {n:6d} frames: {run:7.3f} s for {count} x {seconds:.0f} s of audio -> "
          f"{count * seconds / run:8.1f}x real time (compile + first call {first:.1f} s)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", default="40,1000")
    p.add_argument("--modes", default="stateful,window,blog")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--count", default="1", help="clips per call, e.g. 1,8,32 (default %(default)s)")
    args = p.parse_args()
    for F in (int(f) for f in args.frames.split(",")):
        for mode in args.modes.split(","):
            for count in (int(c) for c in args.count.split(",")):
                measure(F, mode, args.seconds, args.repeats, count)


if __name__ == "__main__":
    main()
