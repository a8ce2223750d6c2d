"""The committed code's bug against the intended model: which one gives numbers like hers?

Her committed training script fed Blocks batch-major arrays (the transpose was commented out),
so the GRU recurred over the examples of each shuffled minibatch and treated the L frames as
the batch (`recur_axis=batch`); the intended model recurs over the frames (`recur_axis=time`).
Same recipe otherwise. Pairs: (1000, 100) and (4000, 50), the two with published curves (she
went from 0.056 to ~0.033 at F=1000, L=100: to ~58% of the variance; and 0.0561 -> 0.0504 at
F=4000, L=50).

  python experiments/committed_code_ablation.py
"""
import sys

from rnnsound.sweep import Sweep, cli

PAIRS = ((1000, 100), (4000, 50))
SWEEP = Sweep(
    name="committed_code_ablation", title="Committed-code bug (recurrence over the batch) vs intended",
    swept="recur_axis", base={},
    variants=tuple({"frame_size": F, "seq_len": L, "recur_axis": axis} for F, L in PAIRS for axis in ("time", "batch")),
)

if __name__ == "__main__":
    sys.exit(cli(SWEEP))
