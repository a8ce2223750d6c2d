"""Peak memory of `rnnsound generate` against the estimate it refuses by (generate.memory_needed).

Trains a one-epoch run per head on the embedded étude (the weights' values do not change the
memory), then runs `rnnsound generate` once per head, mode, temperature and length, each in its own
process, and reads that process's peak resident memory (os.wait4). The margin is estimate / peak:
above 1 the check refuses before the machine runs out; its size says how much it over-refuses.

  python benchmarks/generate_memory.py | tee docs/results/generate_memory/xeon_avx512.txt
  python benchmarks/generate_memory.py --frame-size 40 --seq-len 300 --seconds 10,40 --heads mse,gmm
"""
import argparse
import os
import subprocess
import sys
import tempfile

from rnnsound.config import TrainConfig
from rnnsound.generate import memory_needed
from rnnsound.generator import GENERATION_MODES
from rnnsound.runtime import code_version, machine

RATE = 16000


def cli(*args):
    """argv of the rnnsound command in this interpreter."""
    return [sys.executable, "-m", "rnnsound", *map(str, args)]


def peak_bytes(argv):
    """Peak resident memory (bytes) of a command, which must succeed."""
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {child.stderr.read().decode().strip()}")
    return usage.ru_maxrss * 1024  # Linux reports KiB


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frame-size", type=int, default=40)
    ap.add_argument("--seq-len", type=int, default=300)
    ap.add_argument("--seconds", default="10,40", help="clip lengths, comma-separated")
    ap.add_argument("--heads", default="mse,gmm", help="output heads, comma-separated")
    a = ap.parse_args()
    F, L = a.frame_size, a.seq_len
    lines = [f"# {__doc__.splitlines()[0]}",
             f"# command: python benchmarks/generate_memory.py --frame-size {F} --seq-len {L} --seconds {a.seconds} "
             f"--heads {a.heads}",
             f"# machine: {machine()}; commit {code_version()}; F={F}, L={L}, H=256, "
             "one clip (--count 1)",
             f"{'head':5s} {'mode':9s} {'T':>3s} {'seconds':>7s} {'peak GB':>8s} {'estimate GB':>11s} {'margin':>6s}"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "d.hdf5")
        subprocess.run(cli("prepare", "-F", F, "-L", L, "-o", data, "-q"), check=True, stdout=subprocess.DEVNULL)
        for head in a.heads.split(","):
            run = os.path.join(tmp, head)
            subprocess.run(cli("train", data, "-o", run, "--epochs", 1, "--set", f"output={head}", "-q"), check=True,
                           stdout=subprocess.DEVNULL)
            cfg = TrainConfig(output=head)
            for mode in GENERATION_MODES:
                for temperature in (0, 1):
                    for seconds in map(float, a.seconds.split(",")):
                        peak = peak_bytes(cli("generate", run, "-o", os.path.join(tmp, "x.wav"), "--mode", mode,
                                              "--seconds", seconds, "--temperature", temperature, "-q"))
                        n = int(round(seconds * RATE))
                        est = memory_needed(n, 1, F, L, cfg, mode, temperature)
                        line = (f"{head:5s} {mode:9s} {temperature:3d} {seconds:7.0f} {peak / 1e9:8.2f} "
                                f"{est / 1e9:11.2f} {est / peak:6.2f}")
                        lines.append(line)
                        print(line, flush=True)


if __name__ == "__main__":
    main()
