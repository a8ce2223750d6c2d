"""Where the compile time of the fused training step goes, per cell (JAX backend).

Model and batch as benchmarks/train_step.py (2 layers, H=256, batch 128, L=100, float32). Each
(cell, F) runs in a fresh process, three times:
  first function   a tiny model's step compiled and run first: its compile and the one-off
                   imports of PyTensor's JAX dispatch and of XLA, paid once per process
  graph + rewrite  pytensor.function for the real step: building the gradient graph and
                   PyTensor's rewrites (what happens before JAX sees anything)
  trace + XLA      its first call less its second: JAX tracing and XLA compiling
and once more with JAX's persistent compilation cache warm (a temporary directory filled by a
previous process), to show what caching XLA's output on disk would save. rnnsound does not
enable that cache: JAX's CPU entries are rejected on some CPUs and can crash on another
(jax-ml/jax#38445), a risk on a cluster whose nodes share a home directory.

  python benchmarks/compile_time.py                    # gru and lstm, F = 40
  python benchmarks/compile_time.py --cells lstm --frames 40,4000
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time

from rnnsound.runtime import use_float32

from ab import B, H, L  # the shapes every benchmark shares


def measure(cell, F, cache_dir=None):
    """In this process: seconds of each compile phase of the fused step."""
    if cache_dir:
        import jax
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import numpy as np
    from rnnsound import graph
    from rnnsound.config import TrainConfig
    from rnnsound.compiled import Network
    times = {}
    t = time.perf_counter()
    tiny = TrainConfig(cell=cell, hidden=4, batch_size=2)
    x = np.zeros((2, 3, 4), np.float32)
    Network(4, 3, tiny, graph.init_params(4, tiny, np.random.default_rng(0))).train_step(x, x, 0.0)
    times["first function"] = time.perf_counter() - t
    cfg = TrainConfig(cell=cell, hidden=H, batch_size=B)
    net = Network(F, L, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    x = np.zeros((B, L, F), np.float32)
    t = time.perf_counter()
    step = net._fused(x.shape)
    times["graph + rewrite"] = time.perf_counter() - t
    calls = []
    for _ in range(2):
        t = time.perf_counter()
        [np.asarray(v) for v in step(x, x, np.float32(0.0))]
        calls.append(time.perf_counter() - t)
    times["trace + XLA"] = calls[0] - calls[1]  # the first call less one step's run
    return times


def main():
    use_float32()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="gru,lstm")
    p.add_argument("--frames", default="40")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        cell, F, cache = json.loads(args.child)
        print(json.dumps(measure(cell, F, cache)))
        return

    def fresh(cell, F, cache=None):
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps([cell, F, cache])],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    for cell in args.cells.split(","):
        for F in (int(f) for f in args.frames.split(",")):
            runs = [fresh(cell, F) for _ in range(args.repeats)]
            with tempfile.TemporaryDirectory() as cache:
                fresh(cell, F, cache)                   # fills the cache
                cached = fresh(cell, F, cache)
            med = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
            total = med["graph + rewrite"] + med["trace + XLA"]
            print(f"{cell} F={F}: " + ", ".join(f"{k} {v:.2f} s" for k, v in med.items())
                  + f"; the step's compile {total:.2f} s"
                  + f"; XLA from a warm persistent cache {cached['trace + XLA']:.2f} s", flush=True)


if __name__ == "__main__":
    main()
