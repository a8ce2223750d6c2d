"""Her whole grid: every frame size x every sequence length of the post, plus her committed pairs.

F in {40, 50, 100, 800, 1000, 4000, 40000} samples x L in {50, 100, 1000, 4000, 10000} frames (35
pairs), plus the pairs her code committed that the grid lacks: (800, 8000), (40, 40000) and
(40000, 40). Her committed pairs, (1000, 100), (1000, 50), (4000, 100), (4000, 50) among them,
are marked in the tables. GRU, her recipe, 30 epochs, windows without overlap (her layout); pass
`--set cell=lstm` for the other cell. (Her 40_40000 run used 256 units, batch 4 and 120 epochs;
here every pair gets the same recipe, batch 128 and 30 epochs, so the grid is one comparison.)

Pairs a song cannot hold (the dev split, the last 8.2%, must hold one example of (L+1)xF samples)
are recorded as infeasible with the reason. At her song's length (3 h) the grid is tens of hours
of training: plan it first (counts, estimated time and memory per run, nothing trained):

  python experiments/blog_grid.py --plan                                          # the 3:26 étude
  python experiments/blog_grid.py --song wesnoth_128min_16k.opus --plan
  python experiments/blog_grid.py --style ambient --minutes blog --plan           # her length
  python experiments/blog_grid.py --song long.flac --only 'frame_size=1000_*'     # run some of it
"""
import sys

from rnnsound.sweeps import Sweep, main

FRAME_SIZES = (40, 50, 100, 800, 1000, 4000, 40000)
SEQ_LENS = (50, 100, 1000, 4000, 10000)
COMMITTED = ((1000, 100), (1000, 50), (4000, 100), (4000, 50), (800, 8000), (40, 40000), (40000, 40))
PAIRS = tuple((F, L) for F in FRAME_SIZES for L in SEQ_LENS) + \
    tuple(p for p in COMMITTED if p[1] not in SEQ_LENS or p[0] not in FRAME_SIZES)


def name(F, L):
    return f"frame_size={F}_seq_len={L}"


SWEEP = Sweep(
    name="blog_grid", title="Her whole grid (F x L, no overlap)", base={},
    variants=tuple({"frame_size": F, "seq_len": L} for F, L in PAIRS),
    marked=tuple(name(F, L) for F, L in COMMITTED), mark="her code",
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
