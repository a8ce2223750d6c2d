"""Her recipe against variants of it: which part of the optimiser limits how far 30 epochs get?

Blocks' RMSProp divides each gradient by max(sqrt(mean square), 1/max_scaling) with max_scaling
= 1e5, then her StepClipping rescales the whole step to norm <= 1.0. With MSE averaged over
every sample of a batch (12.8 M at F=1000, L=100, batch 128) most gradients are far below 1e-5,
so for those parameters the floor wins and the update is plain SGD at rate lr * 1e5 (= 200);
`log.csv`'s step_norm column shows how far the step stays from the clip. Variants at her
plotted pair (F=1000, L=100, no overlap, GRU 2x256, 30 epochs):

  optimizer=rmsprop                        her recipe (the default config)
  max_scaling=1e8                          RMSProp without the floor; the clip at 1.0 still acts
  max_scaling=1e8, step_clip=0             plain RMSProp, neither floor nor clip
  optimizer=adam                           Adam (lr 0.002) with her clip
  normalisation=stdev                      her recipe on her second normalisation: (x - mean) / std,
                                           variance 1 instead of ~0.01-0.06 (gradients ~10x larger)

  python experiments/recipe_ablation.py --song wesnoth_128min_16k.opus --plan
  python experiments/recipe_ablation.py --song wesnoth_128min_16k.opus
"""
import sys

from rnnsound.sweeps import Sweep, main

SWEEP = Sweep(
    name="recipe_ablation", title="Her optimiser recipe and its variants (F=1000, L=100)",
    base={"frame_size": 1000, "seq_len": 100},
    variants=({"optimizer": "rmsprop"}, {"max_scaling": 1e8}, {"max_scaling": 1e8, "step_clip": 0},
              {"optimizer": "adam"}, {"normalisation": "stdev"}),
)

if __name__ == "__main__":
    sys.exit(main(SWEEP))
