"""LSTM vs GRU: the same configurations with each cell.

Configurations: (F, L) = (1000, 100) and (4000, 50), the two pairs of hers with published
curves, plus (40, 100), a small frame where the recurrence does most of the work. The LSTM is
Blocks' (with peepholes) and keeps the blog's forget-gate bias 0; pass `--set forget_bias=1`
for the classmates' choice. Everything else is the blog's recipe.

  python experiments/lstm_vs_gru.py
"""
import sys

from rnnsound.sweeps import Sweep, main

PAIRS = ((40, 100), (1000, 100), (4000, 50))
SWEEP = Sweep(
    name="lstm_vs_gru", title="LSTM vs GRU", base={},
    variants=tuple({"frame_size": F, "seq_len": L, "cell": cell} for F, L in PAIRS for cell in ("gru", "lstm")),
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
