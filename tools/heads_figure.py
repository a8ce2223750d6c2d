"""One picture of a sweep's clips side by side: the waveform and spectrogram of each run's clip
after its seed (rnnsound.plots.clips_side_by_side), e.g. every output head's stateful clip at T=1.

  python tools/heads_figure.py results/output_heads --mode stateful --temperature 1 -o heads.png
  python tools/heads_figure.py results/output_heads --only '*input_noise*' -o noisy.png
  python tools/heads_figure.py results/output_heads --bits bits.png -o heads.png
                              # and each run's dev bits against training time, with a table of
                              # every run's bits at the times the runs finished

Runs are drawn in the sweep's order, one row each, labelled by their head; a run folder without
that clip is left out and named on stderr.
"""
import argparse
import fnmatch
import os
import sys

import soundfile as sf

from rnnsound import plots
from rnnsound.errors import UserError
from rnnsound.files import read_csv, read_json
from rnnsound.prepare import denormalise
from rnnsound.rundir import RunFolder
from rnnsound.runtime import exit_status
from rnnsound.streams import SongDataset, norm_of, read_attrs


def seed_audio(saved, metrics):
    """The clip's seed (samples, the song's scale): example seed_index of its split."""
    attrs = read_attrs(saved["dataset"])
    split = SongDataset(saved["dataset"], metrics["seed_split"], load_in_memory=False, attrs=attrs)
    return denormalise(split.get([metrics["seed_index"]])[0][0].reshape(-1), norm_of(attrs))


def bits_at(rows, seconds):
    """(dev bits, seconds) of the last epoch that ended by `seconds` of training (None before the first)."""
    done = [r for r in rows if r["kind"] == "epoch" and r.get("dev_bits") and float(r["seconds"]) <= seconds]
    return (float(done[-1]["dev_bits"]), float(done[-1]["seconds"])) if done else (None, None)


def bits(logs, path):
    """Each run's dev bits over training time (a picture), and a table at equal training times:
    every run's bits at the moment each run finished."""
    plots.bits_over_time(logs, path, "dev bits per sample against training time")
    ends = sorted({label: max(float(r["seconds"]) for r in rows if r["kind"] == "epoch")
                   for label, rows in logs.items()}.items(), key=lambda kv: kv[1])
    print(f"{path}; dev bits per sample of each run (rows) at the time each run finished training (columns), "
          "from its last epoch by then:")
    print(f"  {'':24s}" + "".join(f"{f'{label} {end / 60:.1f} min':>22s}" for label, end in ends))
    for label, rows in logs.items():
        cells = [bits_at(rows, end)[0] for _, end in ends]
        print(f"  {label:24s}" + "".join(f"{'-' if c is None else f'{c:.3f}':>22s}" for c in cells))


def draw(out, mode, temperature, only, path, bits_path=None):
    if not os.path.exists(os.path.join(out, "sweep.json")):
        raise UserError(f"{out} is not a sweep's results folder (no sweep.json); give the --out of an experiment")
    sweep = read_json(os.path.join(out, "sweep.json"), {"runs": list})
    stem = f"{mode}_t{temperature:g}"
    rows, rate, logs = [], None, {}
    for run in sweep["runs"]:
        name = run["name"] if isinstance(run, dict) else run
        if not fnmatch.fnmatch(name, only):
            continue
        run_dir = os.path.join(out, "runs", name)
        if not os.path.isdir(run_dir):
            continue  # not run (--only)
        wav = os.path.join(run_dir, "samples", stem + ".wav")
        if not os.path.exists(wav):
            print(f"{name}: no {stem}.wav, left out", file=sys.stderr)
            continue
        clip, rate = sf.read(wav, dtype="float64")
        metrics = read_json(wav[:-4] + ".metrics.json", {"seed_index": int, "seed_split": str})
        run = RunFolder(run_dir)
        saved, cfg = run.read_config()
        label = cfg.output + (f", noise {cfg.input_noise:g}" if cfg.input_noise else "")
        rows.append((label, seed_audio(saved, metrics), clip))
        logs[label] = read_csv(run.log)
    if not rows:
        raise UserError(f"no run of {out} matching {only!r} has a {stem}.wav clip")
    plots.clips_side_by_side(rows, rate, path, f"{mode} clips at T={temperature:g}")
    print(f"{path}: {len(rows)} clips")
    if bits_path:
        bits(logs, bits_path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="a sweep's results folder (with sweep.json and runs/)")
    p.add_argument("--mode", default="stateful", help="generation mode of the clips (default %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0, help="their temperature (default %(default)s)")
    p.add_argument("--only", default="*", help="runs whose names match this pattern (default: all)")
    p.add_argument("-o", "--output", required=True, help="the PNG to write")
    p.add_argument("--bits", metavar="PNG", help="also draw each run's dev bits against training time")
    args = p.parse_args()
    return exit_status("heads_figure", draw, args.out, args.mode, args.temperature, args.only, args.output, args.bits)


if __name__ == "__main__":
    sys.exit(main())
