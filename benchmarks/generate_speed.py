"""Real-time factor of generation: seconds of audio made per second of wall time, per mode.

Model: 2-layer GRU, H=256, L=100 (untrained weights: speed does not depend on their values),
seed = L random frames, 30 s of audio at 16 kHz. The compile time (first call) is reported
apart from the generation time (median of the next calls).

  python benchmarks/generate_speed.py                  # F = 40 and 1000, all three modes
  python benchmarks/generate_speed.py --frames 1000 --modes stateful --seconds 60
  python benchmarks/generate_speed.py --modes stateful --count 1,8,32   # clips side by side in one call
  python benchmarks/generate_speed.py --modes stateful --floor          # and the products alone, in JAX
  python benchmarks/generate_speed.py --output tier --frames 40 --modes stateful --count 1,8
                                                       # another output head, sampled at T=1

With `--count N`, N clips (different seeds) are made in one compiled call and the throughput is
N x seconds of audio per second of wall time. Blog and window mode are measured twice, with the
windows read in lanes (L side by side, the default when a clip has at least L frames) and one
after the other (`lanes=False`), and the ratio is printed.
"""
import argparse
import math
import time

import numpy as np

from rnnsound import graph, heads
from rnnsound.config import TrainConfig
from rnnsound.generator import compile_generator, uses_lanes

from ab import L  # the shapes every benchmark shares


RATE = 16000


def median_seconds(fn, repeats):
    """Median wall time of `repeats` calls of fn (which must wait for its result)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(F, mode, seconds, repeats, count=1, lanes=None, output="mse"):
    """Real-time factor of one mode; the mse head at T=0 (the blog's generation), others drawn at T=1."""
    cfg = TrainConfig(hidden=256, output=output)
    params = graph.init_params(F, cfg, np.random.default_rng(0))
    seed = np.random.default_rng(1).uniform(-0.5, 0.5, (count, L, F)).astype(np.float32)
    n = math.ceil(seconds * RATE / F)
    temperature = 0.0 if output == "mse" else 1.0
    args = (seed,)
    if temperature:
        shape = (n, count, L) if mode == "blog" else (n, count)
        args += (heads.draw_noise(np.random.default_rng(2), shape, F, cfg),)
    t = time.perf_counter()
    fn = compile_generator(params, cfg, F, L, n, mode, temperature, count=count, lanes=lanes)
    np.asarray(fn(*args))  # JAX returns before it finishes: wait for the result
    first = time.perf_counter() - t
    run = median_seconds(lambda: np.asarray(fn(*args)), repeats)
    in_lanes = uses_lanes(cfg, L, n) if lanes is None else lanes
    label = mode if mode == "stateful" else f"{mode}/{'lanes' if in_lanes else 'one'}"
    print(f"F={F:5d} {label:12s} {count:3d} x {n:6d} frames: {run:7.3f} s for {count} x {seconds:.0f} s of audio -> "
          f"{count * seconds / run:8.1f}x real time (compile + first call {first:.1f} s)", flush=True)
    return run


def stateful_floor(F, seconds, repeats):
    """Real-time factor of the stateful step's matrix-vector products alone, in plain JAX: one
    clip's frames in one lax.scan, batch 1, 2 x 256 GRU, nothing else in the loop. Every step
    reads all the weights (3.3 MB at F=40, more than the 1 MB L2 cache of a core here), so this
    bounds stateful generation of one clip from above."""
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(3)
    shapes = [(F, 256), (256, 768), (256, 512), (256, 256), (256, 768), (256, 512), (256, 256), (256, F)]
    W = [jnp.asarray(rng.standard_normal(s).astype(np.float32) * 0.03) for s in shapes]
    n = math.ceil(seconds * RATE / F)

    def step(carry, _):
        x, h1, h2 = carry
        a = x @ W[0] @ W[1]
        h1 = jnp.tanh((h1 @ W[2])[:, :256] + (h1 @ W[3]) + a[:, :256])
        b = h1 @ W[4]
        h2 = jnp.tanh((h2 @ W[5])[:, :256] + (h2 @ W[6]) + b[:, :256])
        return (h2 @ W[7], h1, h2), None
    fn = jax.jit(lambda c: jax.lax.scan(step, c, None, length=n)[0])
    start = (jnp.zeros((1, F)), jnp.zeros((1, 256)), jnp.zeros((1, 256)))
    jax.block_until_ready(fn(start))
    run = median_seconds(lambda: jax.block_until_ready(fn(start)), repeats)
    print(f"F={F:5d} stateful floor: the products alone, plain JAX: {run:7.3f} s for {seconds:.0f} s -> "
          f"{seconds / run:8.1f}x real time", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", default="40,1000")
    p.add_argument("--modes", default="stateful,window,blog")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--count", default="1", help="clips per call, e.g. 1,8,32 (default %(default)s)")
    p.add_argument("--floor", action="store_true", help="also time the stateful step's products alone (plain JAX)")
    p.add_argument("--lanes-only", action="store_true", help="skip the one-window-at-a-time comparison")
    p.add_argument("--output", default="mse", choices=heads.HEADS, help="output head (default %(default)s)")
    args = p.parse_args()
    for F in (int(f) for f in args.frames.split(",")):
        if args.floor:
            stateful_floor(F, args.seconds, args.repeats)
        for mode in args.modes.split(","):
            for count in (int(c) for c in args.count.split(",")):
                run = measure(F, mode, args.seconds, args.repeats, count, output=args.output)
                if (
                    mode != "stateful"
                    and not args.lanes_only
                    and uses_lanes(TrainConfig(), L, math.ceil(args.seconds * RATE / F))
                ):
                    one = measure(F, mode, args.seconds, args.repeats, count, lanes=False, output=args.output)
                    print(f"    lanes are {one / run:.2f}x faster than one window at a time", flush=True)


if __name__ == "__main__":
    main()
