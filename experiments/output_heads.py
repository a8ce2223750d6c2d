"""Output heads: does a likelihood head keep the generated audio playing where the blog's MSE fades?

The blog's `mse` head against a Gaussian mixture over the whole frame (`gmm`, 4 components), a
256-way mu-law softmax per sample (`mulaw`) and SampleRNN's sample-level MLP (`tier`, whose softmax
also reads the samples before it); the last two only where their output layer fits (F=40). Each is
trained with and without Gaussian noise on the inputs (std 0.02 in normalised units, GUESS: about
15% of the songs' standard deviation), at (F, L) = (40, 100) and (1000, 100); everything else is
the blog's recipe. Every run generates 30 s `stateful` and `blog` clips at temperatures 1, 0.5
and 0 (0 = the head's mean; for mse the blog's own generation); `clips.md` lists them all with
loudness (BS.1770), spectral flatness, spectral distance and copying.

  python experiments/output_heads.py                                    # embedded song
  python experiments/output_heads.py --song wesnoth_128min_16k.opus \\
      --only 'frame_size=1000*' --out results/output_heads_wesnoth      # one pair on the long song
"""
import sys

from rnnsound.heads import MULAW_MAX_F, TIER_MAX_F
from rnnsound.sweeps import Sweep, main

PAIRS = ((40, 100), (1000, 100))
NOISE = 0.02
SWEEP = Sweep(
    name="output_heads", title="Output heads: mse vs gmm vs mulaw vs tier, with and without input noise",
    base={},
    variants=tuple({"frame_size": F, "seq_len": L, "output": head, **({"input_noise": NOISE} if noise else {})}
                   for F, L in PAIRS for head in ("mse", "gmm", "mulaw", "tier") for noise in (False, True)
                   if F <= {"mulaw": MULAW_MAX_F, "tier": TIER_MAX_F}.get(head, F)),
    temperatures=(1.0, 0.5, 0.0),
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
