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

  python benchmarks/profile_step.py --frames 40,1000,4000 --cell gru
"""
import argparse
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

B, L, H = 128, 100, 256


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def profile(F, cell, repeats):
    from rnnsound import model
    from rnnsound.config import TrainConfig
    from rnnsound.network import Network, compile_mode
    cfg = TrainConfig(hidden=H, cell=cell)
    net = Network(F, L, cfg, model.init_params(F, cfg, np.random.default_rng(0)))
    p, mode = net.shared, compile_mode("jax")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((B, L, F)) * 0.3).astype(np.float32)
    y = np.roll(x, -1, axis=1)
    h_in = rng.standard_normal((L, B, H)).astype(np.float32) * 0.1
    h_top = rng.standard_normal((B, L, H)).astype(np.float32) * 0.1
    xv, yv = pt.tensor3(dtype="float32", shape=x.shape), pt.tensor3(dtype="float32", shape=y.shape)
    hv, tv = pt.tensor3(dtype="float32", shape=h_in.shape), pt.tensor3(dtype="float32", shape=h_top.shape)
    zeros = model.zero_states(cfg.cell, cfg.layers, B, H)
    loss = model.mse(model.predict_batch(p, xv, cfg)[0], yv)
    grads = pt.grad(loss, list(p.values()))
    fns = {
        "input map": (pytensor.function([xv], model.input_map(p, xv), mode=mode), (x,)),
        "recurrence": (pytensor.function([hv], model.recurrent_stack(p, hv, zeros, cell, cfg.layers, H)[0], mode=mode),
                       (h_in,)),
        "output map": (pytensor.function([tv, yv], model.mse(model.output_map(p, tv), yv), mode=mode), (h_top, y)),
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", default="40,1000,4000")
    p.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    for F in (int(f) for f in args.frames.split(",")):
        profile(F, args.cell, args.repeats)


if __name__ == "__main__":
    main()
