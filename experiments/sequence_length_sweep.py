"""Sequence length sweep: L in {50, 100, 1000, 4000, 10000}, the blog's values.

Fixed partner: F = 40 samples (2.5 ms), her smallest frame and the one of her longest committed
sequence pair (F=40, L=40000): it keeps the longest sequences feasible on a short song
(L = 10000 frames = 400,000 samples = 25 s per example). On the 3-minute default song the dev
split (8.2%, ~17 s) cannot hold an L = 10000 example: recorded as infeasible (a song of >= 5
minutes holds it; no hop helps, since one dev example must fit). Long sequences backpropagate
through time in exact chunks (see rnnsound.compiled), so memory stays within --set memory_gb.

  python experiments/sequence_length_sweep.py
"""
import sys

from rnnsound.sweeps import Sweep, main

SWEEP = Sweep(
    name="sequence_length", title="Sequence length sweep (F = 40)",
    base={"frame_size": 40},
    variants=tuple({"seq_len": L} for L in (50, 100, 1000, 4000, 10000)),
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
