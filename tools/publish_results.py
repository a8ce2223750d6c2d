"""Copy a finished sweep's record into docs/results/NAME: its tables, and for every run that is
done its per-epoch log, summary and settings, and its clips as Opus (about 90 KB per 30 s).
floor.csv gives, per run, the share of parameters whose RMSProp root mean square sits under Blocks'
floor (1 / max_scaling) at the last step (from last.h5): there her optimiser's step is lr * g * max_scaling.

Checkpoints, datasets and WAV files stay behind (rerun the sweep's command to get them). Rerunning
replaces what an earlier copy wrote for the same runs.

  python tools/publish_results.py /path/to/results/frame_size_ambient frame_size_ambient
"""
import argparse
import json
import os
import shutil
import sys

import h5py
import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP_FILES = ("sweep.json", "results.csv", "results.md", "clips.csv", "clips.md", "curves.png")
RUN_FILES = ("log.csv", "summary.json", "settings.json", "baselines.json")


def floor_share(last, max_scaling):
    """(parameters, share of them with sqrt(ms) < 1 / max_scaling) of an RMSProp checkpoint; None for Adam."""
    with h5py.File(last, "r") as f:
        ms = [np.asarray(f["opt"][k]["ms"]).ravel() for k in f["opt"] if "ms" in f["opt"][k]]
    if not ms:
        return None
    ms = np.concatenate(ms)
    return len(ms), float(np.mean(np.sqrt(ms) < 1.0 / max_scaling))


def publish(src, dest):
    os.makedirs(dest, exist_ok=True)
    for name in SWEEP_FILES:
        if os.path.exists(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
    runs, floors = 0, []
    for run in sorted(os.listdir(os.path.join(src, "runs"))):
        here = os.path.join(src, "runs", run)
        if not os.path.exists(os.path.join(here, "summary.json")):
            continue
        there = os.path.join(dest, "runs", run)
        os.makedirs(there, exist_ok=True)
        for name in RUN_FILES:
            if os.path.exists(os.path.join(here, name)):
                shutil.copyfile(os.path.join(here, name), os.path.join(there, name))
        samples = os.path.join(here, "samples")
        for clip in sorted(os.listdir(samples)) if os.path.isdir(samples) else []:
            wav, opus = os.path.join(samples, clip), os.path.join(there, clip[:-4] + ".opus")
            # Ogg streams carry a random serial number: re-encoding an unchanged clip changes its bytes
            if clip.endswith(".wav") and not (os.path.exists(opus) and os.path.getmtime(opus) > os.path.getmtime(wav)):
                audio, rate = sf.read(wav)
                sf.write(opus, audio, rate, format="OGG", subtype="OPUS")
        last = os.path.join(here, "last.h5")
        config = os.path.join(here, "config.json")
        if os.path.exists(last) and os.path.exists(config):
            with open(config) as f:
                train = json.load(f)["train"]
            share = floor_share(last, train["max_scaling"]) if train["optimizer"] == "rmsprop" else None
            if share:
                floors.append(f"{run},{share[0]},{share[1]:.6f}")
        runs += 1
    if floors:
        with open(os.path.join(dest, "floor.csv"), "w") as f:
            f.write("run,parameters,share_under_floor\n" + "\n".join(floors) + "\n")
    return runs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a sweep's --out folder")
    p.add_argument("name", help="the folder under docs/results/ to write")
    args = p.parse_args()
    if not os.path.exists(os.path.join(args.source, "sweep.json")):
        p.error(f"{args.source} holds no sweep (no sweep.json)")
    n = publish(args.source, os.path.join(HERE, "docs", "results", args.name))
    print(f"docs/results/{args.name}: tables and {n} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
