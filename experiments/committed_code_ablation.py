"""The committed code's bug against the intended model: which one gives numbers like hers?

Her committed training script fed Blocks batch-major arrays (the transpose was commented out),
so the GRU recurred over the examples of each shuffled minibatch and treated the L frames as
the batch (`recur_axis=batch`); the intended model recurs over the frames (`recur_axis=time`).
Same recipe otherwise. Pairs: (1000, 100) and (4000, 50), the two with published curves (she
went from 0.056 to ~0.033 at F=1000, L=100: to ~58% of the variance, in 390 updates; and
0.0561 -> 0.0504 at F=4000, L=50, in 210 updates). Each pair runs twice: with her
non-overlapping windows, which on a 3-minute song give one update per epoch, and with
overlapping windows (a new example every 2 frames at F=1000, every frame at F=4000) giving
360 and 180 updates in 30 epochs, close to her counts.

  python experiments/committed_code_ablation.py
"""
import sys

from rnnsound.sweeps import Sweep, main

RUNS = ((1000, 100, 0), (1000, 100, 2), (4000, 50, 0), (4000, 50, 1))  # (F, L, hop); hop 0 = no overlap
SWEEP = Sweep(
    name="committed_code_ablation", title="Committed-code bug (recurrence over the batch) vs intended",
    base={},
    variants=tuple({"frame_size": F, "seq_len": L, "hop": hop, "recur_axis": axis}
                   for F, L, hop in RUNS for axis in ("time", "batch")),
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
