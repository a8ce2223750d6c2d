"""Frame size sweep: F in {40, 50, 100, 800, 1000, 4000, 40000}, the blog's values.

Fixed partner: L = 100 frames, her most-plotted sequence length (her (1000, 100) run is the
one with published curves), so only the frame changes and each step predicts one frame ahead.
Consequence to keep in mind when reading the table: an example holds L*F samples, so on a
short song large F gives few examples (few updates per epoch) and F = 40000 (L*F = 4 M
samples, 250 s) does not fit a 3-minute song at all: it is recorded as infeasible. No hop
fixes that (the dev split itself is shorter than one example); a song of >= 44 minutes would.
Windows do not overlap, as in the blog; pass `--set hop=10` for 10x more (overlapping) examples.

  python experiments/frame_size_sweep.py                       # default song, 30 epochs
  python experiments/frame_size_sweep.py --song sectoid_feelings_16k.flac --out results/frame_size_sectoid
"""
import sys

from rnnsound.sweeps import Sweep, main

SWEEP = Sweep(
    name="frame_size", title="Frame size sweep (L = 100)",
    base={"seq_len": 100},
    variants=tuple({"frame_size": F} for F in (40, 50, 100, 800, 1000, 4000, 40000)),
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
