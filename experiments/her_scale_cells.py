"""LSTM vs GRU at her scale: her four committed pairs, seeds, and sequence length at F = 1000 and 4000.

Meant for a song of her length (`--style ambient --minutes blog`, or a long song file): her
recipe, 30 epochs, windows without overlap, the intended model. Runs:
- her committed pairs (F, L) = (1000, 100), (1000, 50), (4000, 100), (4000, 50), each cell;
- two more seeds of each cell at (1000, 100) (the default seed is the first), so a difference
  between the cells can be set against the seed-to-seed spread;
- the blog's sequence lengths L = 50, 100, 1000, 4000, 10000 at F = 1000 and 4000, each cell
  (pairs whose example does not fit the dev split are recorded as infeasible);
- her committed model (`recur_axis=batch`: the recurrence runs over the examples of a minibatch)
  at (1000, 100), each cell, three seeds: the condition under which she compared the cells; and
  at (4000, 50), each cell, one seed;
- the LSTM with forget-gate bias 1 (the usual remedy; Blocks' default, hers, is 0) at (1000, 100).

  python experiments/her_scale_cells.py --style ambient --minutes blog --plan
  python experiments/her_scale_cells.py --style ambient --minutes blog --only 'frame_size=1000_seq_len=100_*'
  python experiments/her_scale_cells.py --song long_song.flac --only '*seq_len=[15]0_*' --out results/cells_long
"""
import sys

from rnnsound.sweeps import Sweep, main

CELLS = ("gru", "lstm")
HER_PAIRS = ((1000, 100), (1000, 50), (4000, 100), (4000, 50))
SEEDS = (1, 2)  # besides the default seed (TrainConfig.seed)
SEQ_LENS = (50, 100, 1000, 4000, 10000)
PAIRS = HER_PAIRS + tuple((F, L) for F in (1000, 4000) for L in SEQ_LENS if (F, L) not in HER_PAIRS)

SWEEP = Sweep(
    name="her_scale_cells", title="LSTM vs GRU at her scale", base={},
    variants=tuple({"frame_size": F, "seq_len": L, "cell": c} for F, L in PAIRS for c in CELLS)
    + tuple({"frame_size": 1000, "seq_len": 100, "cell": c, "seed": s} for s in SEEDS for c in CELLS)
    + tuple({"frame_size": 1000, "seq_len": 100, "cell": c, "recur_axis": "batch", **({"seed": s} if s else {})}
            for s in (None,) + SEEDS for c in CELLS)
    + tuple({"frame_size": 4000, "seq_len": 50, "cell": c, "recur_axis": "batch"} for c in CELLS)
    + ({"frame_size": 1000, "seq_len": 100, "cell": "lstm", "forget_bias": 1.0},),
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
