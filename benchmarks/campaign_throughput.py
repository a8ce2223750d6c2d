"""A set of runs one after another (one process using every core) against the same runs side by
side on a local Dask cluster (`--workers 2`, each run with one thread): which finishes the set sooner?

The set: the committed-code ablation's runs with overlapping windows on the embedded étude (F=1000,
L=100, hop 2 and F=4000, L=50, hop 1; each axis: four runs), `--epochs` each, 30 s clips as in any
sweep. Both ways run in this one process's command line, serial first, each into a fresh folder;
the script prints each way's wall time (training, clips, compiles and all) and the ratio.

  python benchmarks/campaign_throughput.py --out /tmp/throughput --epochs 8
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONLY = "*_hop=[12]_*"


def wall(args, out, extra):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, os.path.join(HERE, "experiments", "committed_code_ablation.py"), "--out", out,
           "--epochs", str(args.epochs), "--only", ONLY, "-q", *extra]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="a scratch folder (emptied first)")
    p.add_argument("--epochs", type=int, default=8, help="epochs per run (default %(default)s)")
    args = p.parse_args()
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    serial = wall(args, os.path.join(args.out, "serial"), [])
    side = wall(args, os.path.join(args.out, "workers2"), ["--workers", "2"])
    print(f"4 runs of {args.epochs} epochs: one after another {serial:.0f} s, two side by side (--workers 2, one "
          f"thread each) {side:.0f} s: side by side takes {side / serial:.2f}x the serial time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
