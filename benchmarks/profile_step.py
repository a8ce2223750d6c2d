"""Where a training step's time goes: its compiled pieces timed separately, in one process.

Model and batch as benchmarks/train_step.py (2 layers, H=256, batch 128, L=100, float32, JAX).
Pieces, each compiled on its own and timed as the median of `--repeats` calls:
  input map      x (B, L, F) @ in_W: the one product on F-wide frames going in
  recurrence     both layers' hoisted input maps and their scans (forward only)
  output map     h (B, L, H) @ out_W and the MSE
  forward        the whole loss (what `evaluate` runs)
  forward+grad   the loss and every parameter's gradient (the hand-written BPTT), no update
  update         RMSProp + step clipping on given gradients (Network._apply)
  step           the fused training step (forward, gradient and update in one call)
  batch fetch    host side: 128 shuffled examples gathered from an in-memory split
The backward pass is forward+grad minus forward. Shares are of the fused step.

Then the floor of one layer's forward recurrence in plain JAX (lax.scan over L steps of the
cell, batch 128, no PyTensor): the recurrent matrix products alone, the cell's elementwise work
alone (gates, state update, the stored activations), and the whole cell; and PyTorch's own layer
(nn.GRU / nn.LSTM forward over the same (L, 128, H) input, its input map included) when torch is
installed. It shows how much of the recurrence XLA spends outside the matrix products.

  python benchmarks/profile_step.py --frames 40,1000,4000 --cell gru
  python benchmarks/profile_step.py --frames 40 --cell lstm --thunks 25

--thunks N instead traces the fused training step with JAX's profiler and prints the N compiled
operations (XLA "thunks": matrix-product fusions, elementwise loop fusions, copies) that take the
most time per step, summed over the steps of the scans, with the step's page faults and system
time. Thunks run on XLA's 2 threads, sometimes two at once, so their times add up to more than
the step; a matrix product handed to Eigen runs asynchronously and shows only its start.
"""
import rnnsound  # noqa: F401  first, before numpy starts threads: its allocator setting

import argparse
import collections
import glob
import os
import resource
import sys
import tempfile
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from rnnsound.runtime import use_float32

from ab import B, H, L  # the shapes every benchmark shares


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def profile(F, cell, repeats):
    from rnnsound import graph
    from rnnsound.config import TrainConfig
    from rnnsound.compiled import Network, compile_mode
    cfg = TrainConfig(hidden=H, cell=cell)
    net = Network(F, L, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    p, mode = net.shared, compile_mode("jax")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((B, L, F)) * 0.3).astype(np.float32)
    y = np.roll(x, -1, axis=1)
    h_in = rng.standard_normal((L, B, H)).astype(np.float32) * 0.1
    h_top = rng.standard_normal((B, L, H)).astype(np.float32) * 0.1
    xv, yv = pt.tensor3(dtype="float32", shape=x.shape), pt.tensor3(dtype="float32", shape=y.shape)
    hv, tv = pt.tensor3(dtype="float32", shape=h_in.shape), pt.tensor3(dtype="float32", shape=h_top.shape)
    zeros = graph.zero_states(cfg.cell, cfg.layers, B, H)
    loss = graph.mse(graph.predict_batch(p, xv, cfg)[0], yv)
    grads = pt.grad(loss, list(p.values()))
    fns = {
        "input map": (pytensor.function([xv], graph.input_map(p, xv), mode=mode), (x,)),
        "recurrence": (
            pytensor.function(
                [hv], graph.recurrent_stack(p, graph.layer_input(p, 0, hv), zeros, cell, cfg.layers, H)[0], mode=mode
            ),
            (h_in,),
        ),
        "output map": (pytensor.function([tv, yv], graph.mse(graph.output_map(p, tv), yv), mode=mode), (h_top, y)),
        "forward": (pytensor.function([xv, yv], loss, mode=mode), (x, y)),
        "forward+grad": (pytensor.function([xv, yv], grads, mode=mode), (x, y)),
    }
    def call(f, a):
        out = f(*a)
        return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]  # wait for every result
    times = {k: median_time(lambda f=f, a=a: call(f, a), repeats) for k, (f, a) in fns.items()}
    g = [np.asarray(v) for v in fns["forward+grad"][0](x, y)]
    apply = net._apply()
    lr = np.float32(1e-9)
    times["update"] = median_time(lambda: apply(*g, lr), repeats)
    times["step"] = median_time(lambda: net.train_step(x, y, 1e-9), repeats)
    data = rng.standard_normal((1600, L, F)).astype(np.float32) if F <= 1000 else \
        rng.standard_normal((400, L, F)).astype(np.float32)
    idx = np.sort(rng.choice(len(data), B, replace=False))
    times["batch fetch"] = median_time(lambda: (data[idx], data[idx]), repeats)
    times["backward (forward+grad - forward)"] = times["forward+grad"] - times["forward"]
    step = times["step"]
    print(f"{cell} F={F}: step {step:.3f} s", flush=True)
    for k in ("input map", "recurrence", "output map", "forward", "backward (forward+grad - forward)", "forward+grad",
              "update", "step", "batch fetch"):
        print(f"  {k:34s} {times[k]:8.4f} s  {100 * times[k] / step:5.1f}%", flush=True)


def recurrence_floor(cell, repeats):
    """Milliseconds per layer (L steps) of the forward recurrence in plain JAX, and in PyTorch."""
    import jax
    import jax.numpy as jnp
    k = 3 if cell == "gru" else 4
    rng = np.random.default_rng(2)
    U = jnp.asarray(rng.standard_normal((H, k * H)).astype(np.float32) * 0.05)   # GRU: [Ug | U]
    xw = jnp.asarray(rng.standard_normal((L, B, k * H)).astype(np.float32))
    peep = jnp.asarray(rng.standard_normal((3, H)).astype(np.float32) * 0.1)
    h0 = jnp.zeros((B, H), jnp.float32)

    def products(h, x):  # the step's matrix products and nothing else
        if cell == "gru":
            g = h @ U[:, :2 * H] + x[:, :2 * H]
            return (g[:, H:] * h) @ U[:, 2 * H:] + x[:, 2 * H:]
        return (h @ U + x)[:, :H]

    def gates(a, h, c):  # the step's elementwise work on pre-activations a (B, kH)
        if cell == "gru":
            zr = jax.nn.sigmoid(a[:, :2 * H])
            cand = jnp.tanh(zr[:, H:] * h + a[:, 2 * H:])
            return zr[:, :H] * cand + (1 - zr[:, :H]) * h, c, jnp.concatenate([zr, cand], 1)
        i, f = jax.nn.sigmoid(a[:, :H] + c * peep[0]), jax.nn.sigmoid(a[:, H:2 * H] + c * peep[1])
        c = f * c + i * jnp.tanh(a[:, 2 * H:3 * H])
        o = jax.nn.sigmoid(a[:, 3 * H:] + c * peep[2])
        return o * jnp.tanh(c), c, jnp.concatenate([i, f, o, c], 1)

    def matmul_only(carry, x):
        return (products(carry[0], x), carry[1]), None

    def elementwise_only(carry, x):
        h, c, stored = gates(x + jnp.tile(h0, (1, k)), *carry)  # the products' result replaced by a constant
        return (h, c), stored

    def whole(carry, x):
        h, c = carry
        if cell == "gru":
            zr = jax.nn.sigmoid(h @ U[:, :2 * H] + x[:, :2 * H])
            cand = jnp.tanh((zr[:, H:] * h) @ U[:, 2 * H:] + x[:, 2 * H:])
            return (zr[:, :H] * cand + (1 - zr[:, :H]) * h, c), jnp.concatenate([zr, cand], 1)
        h, c, stored = gates(h @ U + x, h, c)
        return (h, c), stored

    times = {}
    for name, step in (("matrix products only", matmul_only), ("elementwise only", elementwise_only),
                       ("whole cell", whole)):
        fn = jax.jit(lambda x, step=step: jax.lax.scan(step, (h0, h0), x))
        times[name] = median_time(lambda: jax.block_until_ready(fn(xw)), repeats)
    try:
        import torch
        torch.set_num_threads(os.cpu_count())
        layer = (torch.nn.GRU if cell == "gru" else torch.nn.LSTM)(H, H)
        x = torch.randn(L, B, H)
        with torch.no_grad():
            times[f"PyTorch nn.{cell.upper()} (its input map included)"] = median_time(lambda: layer(x), repeats)
    except ImportError:
        pass
    print(f"{cell} forward recurrence of one layer, plain JAX (L={L}, batch {B}, H={H}):", flush=True)
    for name, t in times.items():
        print(f"  {name:44s} {1e3 * t:7.1f} ms", flush=True)


def thunks(F, cell, top, steps=3):
    """The fused step's compiled operations by time per step (see --thunks), and its page faults."""
    import jax
    from jax._src.lib import _profile_data
    from ab import network_and_batch
    net, x, y = network_and_batch(cell, F)
    for _ in range(2):
        net.train_step(x, y, 1e-9)
    before, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        net.train_step(x, y, 1e-9)
    wall, after = (time.perf_counter() - t) / steps, resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            for _ in range(steps):
                net.train_step(x, y, 1e-9)
        data = _profile_data.ProfileData.from_file(glob.glob(f"{d}/**/*.xplane.pb", recursive=True)[0])
    total, count = collections.Counter(), collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_XLAEigen"):   # XLA's worker threads
                continue
            for event in line.events:
                if not event.name.startswith("ThunkExecutor") and "Await" not in event.name:
                    total[event.name] += event.duration_ns / steps / 1e6
                    count[event.name] += 1 / steps
    print(
        f"{cell} F={F}: step {wall:.3f} s (untraced); page faults "
        f"{4 * (after.ru_minflt - before.ru_minflt) / steps / 1024:.0f} MB/step; system time "
        f"{(after.ru_stime - before.ru_stime) / steps:.3f} s/step; thunks {sum(total.values()):.0f} "
        f"ms/step in all",
        flush=True,
    )
    for name, ms in total.most_common(top):
        print(f"  {ms:8.1f} ms {count[name]:5.0f}x  {name}", flush=True)


def main():
    if "--thunks" in sys.argv:   # before JAX starts: its CPU runtime names its thunks in traces only when asked
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true").strip()
    use_float32()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", default="40,1000,4000")
    p.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--thunks", type=int, metavar="N", help="trace the fused step instead: its N costliest thunks")
    args = p.parse_args()
    if args.thunks:
        for F in (int(f) for f in args.frames.split(",")):
            thunks(F, args.cell, args.thunks)
        return
    for F in (int(f) for f in args.frames.split(",")):
        profile(F, args.cell, args.repeats)
    recurrence_floor(args.cell, args.repeats)


if __name__ == "__main__":
    main()
