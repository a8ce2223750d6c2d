"""Time one training step (forward + backward + update) of rnnsound against PyTorch, side by side.

Model: Linear(F->256), 2-layer GRU(256) (or LSTM with --cell lstm), Linear(256->F), MSE, batch 128,
L=100; float32.
rnnsound: the blog's RMSProp + step clipping, on each PyTensor backend asked for (one process each).
PyTorch: nn.Linear + nn.GRU + nn.Linear, RMSprop(lr 0.002, alpha 0.95) + gradient-norm clipping,
torch.set_num_threads(os.cpu_count()) (the same cores JAX/XLA uses). nn.GRU applies the reset
gate after the recurrent product (Blocks applies it before): the same cost, a different cell.
nn.LSTM has no peepholes (Blocks' LSTM has three H-vectors of them): the same matrix products.

Each line also gives the step's arithmetic rate (GFLOP/s: 3x the forward pass's matrix-product
flops, the usual forward + backward count, of the network as rnnsound computes it) and its share of
this machine's float32 GEMM rate, measured in the same process: a 2048 x 2048 product through
numpy and through XLA, the better one.

Calls are interleaved (ours, torch, ours, torch, ...) in one process so both see the same machine
load, and the ratio of medians is reported: ratio > 1 means rnnsound is faster. The first call of each
compiled function is reported separately as compile time.

  python benchmarks/train_step.py                      # F = 40, 1000, 4000; jax and c
  python benchmarks/train_step.py --backends jax,c,numba --frames 40
  python benchmarks/train_step.py --cell lstm          # against nn.LSTM
  python benchmarks/train_step.py --memory             # peak memory at F=40, L=10000 (subprocess)
  python benchmarks/train_step.py --memory --memory-at 1000,100 --cell lstm   # ... of a fused step
  python benchmarks/train_step.py --output mse,gmm,mulaw --frames 40 --backends jax
                                                       # output heads, interleaved with mse: "x mse" ratios
  python benchmarks/train_step.py --gemm               # the step's matrix products alone: which kernel
                                                       # XLA picks, its rate against numpy and PyTorch
  python benchmarks/train_step.py --allocator both     # glibc's default allocator, then rnnsound's
                                                       # (rnnsound.allocator), each against PyTorch
  python benchmarks/train_step.py --gemm --settle 0    # without the pause before each timed call (see SETTLE)

--gemm times each matrix-product shape of a training step (batch 128, L=100, H=256) in a loop of
100 dependent products, as the recurrence runs them: through XLA (naming the kernel its compiled
HLO calls: YNNPACK, XNNPACK, oneDNN or XLA's own dot), numpy (its BLAS) and PyTorch (oneDNN/MKL),
in one process, interleaved.

The allocator setting of rnnsound (rnnsound.allocator, set when rnnsound is imported, hence the
import below before numpy) applies to the whole process: PyTorch, interleaved in it, gets it too.
--allocator system runs with glibc's defaults instead (RNNSOUND_SYSTEM_MALLOC=1), for both.
"""
import rnnsound  # noqa: F401  first, before numpy starts threads: its allocator setting (see above)

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

from rnnsound.runtime import use_float32

from ab import B, H, L  # the shapes every benchmark shares


def step_flops(F, cell, seq_len=L):
    """Matrix-product flops of one training step: 3 x forward (input map, per layer its input and
    recurrent maps, output map), the forward as rnnsound computes it: where the input map is folded
    into layer 0's (graph.folds_input_map), one F x kH map instead of F x H and H x kH."""
    from rnnsound import graph
    k = 3 if cell == "gru" else 4
    first = F * k * H if graph.folds_input_map(F, cell, H) else F * H + H * k * H
    forward = 2 * B * seq_len * (first + H * k * H + 2 * H * k * H + H * F)
    return 3 * forward


def gemm_rate(n=2048, repeats=5):
    """GFLOP/s of an n x n float32 matrix product, the better of numpy and XLA (this process's threads)."""
    import jax
    import jax.numpy as jnp
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    ja = jnp.asarray(a)
    product = jax.jit(lambda x: x @ x)
    product(ja).block_until_ready()
    best = {}
    for name, fn in (("numpy", lambda: a @ a), ("xla", lambda: product(ja).block_until_ready())):
        fn()
        best[name] = 2 * n ** 3 / min(timed(fn) for _ in range(repeats)) / 1e9
    return max(best.values()), best


def rnnsound_step(F, backend, seq_len=L, output="mse", mixtures=4, cell="gru"):
    from rnnsound import graph
    from rnnsound.config import TrainConfig
    from rnnsound.compiled import Network
    cfg = TrainConfig(hidden=H, backend=backend, output=output, mixtures=mixtures, cell=cell)
    net = Network(F, seq_len, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    x = np.random.default_rng(1).standard_normal((B, seq_len, F)).astype(np.float32) * 0.3
    y = np.roll(x, -1, axis=1)
    return lambda: net.train_step(x, y, 0.002), net


def torch_step(F, cell="gru"):
    import torch
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            rnn = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
            self.inp, self.gru, self.out = torch.nn.Linear(F, H), rnn(H, H, 2, batch_first=True), torch.nn.Linear(H, F)

        def forward(self, x):
            return self.out(self.gru(self.inp(x))[0])

    net = Net()
    opt = torch.optim.RMSprop(net.parameters(), lr=0.002, alpha=0.95, eps=1e-5)
    x = torch.randn(B, L, F) * 0.3
    y = torch.roll(x, -1, 1)

    def step():
        opt.zero_grad()
        loss = torch.mean((net(x) - y) ** 2)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return loss.item()
    return step


# Seconds of pause before each timed call. OpenBLAS's idle threads busy-wait for about 0.1 s after
# a call (and OpenMP's, PyTorch's, briefly): a call timed right after another library's shares the
# cores with them. PyTorch's in-loop products, timed right after numpy's, took 1.4-2.9x as long as
# after a pause (docs/results/speed_avx2/gemm_settle.txt). --settle 0 times without the pause.
SETTLE = 0.3


def timed(fn):
    """Seconds of one call of fn, after the SETTLE pause."""
    time.sleep(SETTLE)
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare_one(F, backend, repeats, outputs=("mse",), mixtures=4, cell="gru"):
    """Interleaved timing of one backend against PyTorch at frame size F, in this process; with
    other output heads than mse, each head is timed against the mse head instead."""
    steps, first = {}, {}
    for o in outputs:
        steps[o] = rnnsound_step(F, backend, output=o, mixtures=mixtures, cell=cell)[0]
        first[o] = timed(steps[o])  # compile + one step
    if outputs == ("mse",):
        try:
            steps["torch"] = torch_step(F, cell)
            steps["torch"]()
        except ImportError:
            print("PyTorch not installed (pip install torch==2.13.0): timing rnnsound only", file=sys.stderr)
    times = {k: [] for k in steps}
    for _ in range(repeats):
        for k, fn in steps.items():
            times[k].append(timed(fn))
    med = {k: float(np.median(v)) for k, v in times.items()}
    for o in outputs:
        head = "" if outputs == ("mse",) else f"{o + (f' K={mixtures}' if o == 'gmm' else ''):9s} "
        line = f"F={F:5d} {backend:6s} {head}step {med[o]:.3f} s ({B * L * F / med[o] / 1e6:6.2f} M samples/s), " \
               f"compile {first[o] - med[o]:.1f} s"
        if "torch" in med:
            line += f"; torch {med['torch']:.3f} s; ratio {med['torch'] / med[o]:.2f}"
        if "mse" in med and o != "mse":
            line += f"; {med[o] / med['mse']:.2f}x the mse step"
        if o == "mse":
            rate, _ = gemm_rate()
            achieved = step_flops(F, cell) / med[o] / 1e9
            line += f"; {achieved:.0f} GFLOP/s = {100 * achieved / rate:.0f}% of GEMM ({rate:.0f} GFLOP/s)"
        print(f"{cell} " + line, flush=True)


def compare(frames, backends, repeats, outputs=("mse",), mixtures=4, cell="gru", allocators=("kept",)):
    """One subprocess per (F, backend, allocator): PyTensor graphs compiled for two backends in one
    process interfere (rewrites of one leave ops the other cannot convert), each gets a cold start,
    and the allocator is chosen when a process starts."""
    for F in frames:
        for b in backends:
            for allocator in allocators:
                code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                        f"import train_step; train_step.SETTLE = {SETTLE}; "
                        f"train_step.compare_one({F}, {b!r}, {repeats}, {tuple(outputs)!r}, {mixtures}, {cell!r})")
                env = dict(os.environ, RNNSOUND_SYSTEM_MALLOC="1" if allocator == "system" else "")
                if len(allocators) > 1:
                    print(f"allocator: {allocator}", flush=True)
                subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True, env=env)


def memory(F, seq_len, backend, cell="gru"):
    """Peak resident memory of one training step at (F, seq_len), batch 128, in a fresh process."""
    code = (
        f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); import time; "
        f"from train_step import rnnsound_step; step, net = rnnsound_step({F}, {backend!r}, {seq_len}, cell={cell!r}); "
        f"t = time.perf_counter(); step(); t1 = time.perf_counter(); step(); "
        f"print(net.chunk, t1 - t, time.perf_counter() - t1)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2 ** 20
    print(f"{cell} F={F} L={seq_len} batch {B} {backend}: peak RSS {peak_gb:.2f} GB, backprop chunk {out[0]} frames, "
          f"first step {float(out[1]):.1f} s, next step {float(out[2]):.1f} s", flush=True)


GEMM_SHAPES = (  # (what, m, k, n, lhs stored transposed): an (m, k) @ (k, n) product of the step
    ("GRU fwd h @ Ug (in the loop)", B, H, 2 * H, False),
    ("GRU fwd (r*h) @ U (in the loop)", B, H, H, False),
    ("GRU h @ [Ug, U], one 768-wide product", B, H, 3 * H, False),
    ("GRU bwd d @ U^T (3 per step)", B, H, H, False),
    ("LSTM fwd h @ U (in the loop)", B, H, 4 * H, False),
    ("LSTM bwd dpre @ U^T (in the loop)", B, 4 * H, H, False),
    ("GRU input map, hoisted (L*B rows)", L * B, H, 3 * H, False),
    ("LSTM weight gradient h^T @ d, hoisted", H, L * B, 4 * H, True),  # h is stored (L*B, H)
    ("F=4000 input map", L * B, 4000, H, False),
    ("F=4000 output map", L * B, H, 4000, False),
)


def xla_kernel(compiled_text):
    """The library XLA:CPU's compiled HLO calls for its dots."""
    for marker, name in (("__ynn_fusion", "YNNPACK"), ("__xnn_fusion", "XNNPACK"), ("onednn", "oneDNN")):
        if marker in compiled_text:
            return name
    return "XLA dot (Eigen)" if " dot(" in compiled_text else "?"


def gemm_profile(repeats, loops=100):
    """Rates of the step's product shapes through XLA, numpy and PyTorch (see --gemm)."""
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(0)
    rate, _ = gemm_rate()
    print(f"float32 GEMM reference (2048^2, the better of numpy and XLA): {rate:.0f} GFLOP/s; {loops} dependent "
          "products per call, median of the calls", flush=True)
    try:
        import torch
        torch.set_num_threads(os.cpu_count())
    except ImportError:
        torch = None
    for what, m, k, n, transposed in GEMM_SHAPES:
        count = loops if m * k * n < 1e9 else 5       # the hoisted products are large: a few suffice
        a = rng.standard_normal((k, m) if transposed else (m, k)).astype(np.float32)
        b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)

        def lhs(x):
            return x.T if transposed else x

        def chained(a, b):  # each product's input depends on the loop counter, so none is hoisted
            return jax.lax.fori_loop(0, count, lambda i, acc: acc + lhs(a * i.astype(jnp.float32)) @ b,
                                     jnp.zeros((m, n), jnp.float32))
        fn = jax.jit(chained)
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        kernel = xla_kernel(fn.lower(ja, jb).compile().as_text())
        calls = {"xla": lambda: fn(ja, jb).block_until_ready(),
                 "numpy": lambda: [lhs(a) @ b for _ in range(count)]}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            calls["torch"] = lambda: [torch.mm(lhs(ta), tb) for _ in range(count)]
        times = {name: [] for name in calls}
        for fn_ in calls.values():
            fn_()
        for _ in range(repeats):
            for name, fn_ in calls.items():
                times[name].append(timed(fn_) / count)
        flops = 2 * m * k * n
        cells = "; ".join(f"{name} {1e6 * np.median(t):8.1f} us {flops / np.median(t) / 1e9:5.0f} GFLOP/s "
                          f"({100 * flops / np.median(t) / 1e9 / rate:3.0f}%)" for name, t in times.items())
        print(f"{what:36s} {m:5d}x{k:<5d} @ {k:5d}x{n:<5d} [{kernel}]: {cells}", flush=True)


def frames_and_length(text):
    """argparse type of --memory-at: "F,L", two positive integers."""
    try:
        F, seq_len = (int(v) for v in text.split(","))
    except ValueError:
        F = seq_len = 0
    if min(F, seq_len) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not F,L (two positive integers, e.g. 40,10000)")
    return F, seq_len


def main():
    global SETTLE
    use_float32()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", default="40,1000,4000", help="frame sizes F (default %(default)s)")
    p.add_argument("--backends", default="jax,c", help="PyTensor backends: jax, c, numba (default %(default)s)")
    p.add_argument("--repeats", type=int, default=7, help="timed calls of each (default %(default)s)")
    p.add_argument("--memory", action="store_true", help="only measure peak memory (at --memory-at)")
    p.add_argument(
        "--memory-at", type=frames_and_length, default="40,10000", help="F,L of --memory (default %(default)s)"
    )
    p.add_argument("--output", default="mse", help="output heads, e.g. mse,gmm,mulaw: each timed against mse "
                   "instead of PyTorch (default %(default)s)")
    p.add_argument("--mixtures", type=int, default=4, help="components of the gmm head (default %(default)s)")
    p.add_argument("--cell", choices=("gru", "lstm"), default="gru", help="recurrent cell (default %(default)s)")
    p.add_argument("--gemm", action="store_true", help="only time the step's matrix-product shapes (see above)")
    p.add_argument("--settle", type=float, default=SETTLE,
                   help="seconds of pause before each timed call, for other libraries' threads to go idle "
                        "(default %(default)s)")
    p.add_argument("--allocator", choices=("kept", "system", "both"), default="kept",
                   help="rnnsound's allocator setting, glibc's defaults, or both in turn (default %(default)s)")
    args = p.parse_args()
    if args.settle < 0:
        p.error(f"--settle {args.settle}: a pause cannot be negative")
    SETTLE = args.settle
    if args.gemm:
        gemm_profile(args.repeats)
        return
    if args.memory:
        memory(*args.memory_at, args.backends.split(",")[0], args.cell)
        return
    outputs = tuple(args.output.split(","))
    if outputs != ("mse",) and "mse" not in outputs:
        outputs = ("mse",) + outputs
    allocators = ("system", "kept") if args.allocator == "both" else (args.allocator,)
    compare([int(f) for f in args.frames.split(",")], args.backends.split(","), args.repeats, outputs, args.mixtures,
            args.cell, allocators)


if __name__ == "__main__":
    main()
