"""The backward recurrences reading their sequences by a reversed step index, timed against the
cells as they are (rnnsound.cells: the backward loops scan reversed copies of their sequences), in
one process, interleaved; and whether the two networks' parameters stay bit-identical over the
timed steps (the same operations in the same order: they should).

Scanning `s[::-1]` makes XLA write a reversed copy of every sequence the backward loop reads:
the incoming gradients and the gate factors, (L, batch, H) each, 6 per GRU layer and 8 per LSTM
layer a step. Indexed, each step reads its slice of the sequences in place. Both networks start
from the same parameters and train on the same batch; the step is the fused training step of
benchmarks/train_step.py (batch 128, L=100, 2 x 256).

  python benchmarks/backward_scan.py --cell gru,lstm --frames 40,1000
"""
import rnnsound  # noqa: F401  first, before numpy starts threads: its allocator setting

import pytensor.tensor as pt

from rnnsound import cells

from ab import built_with, compare_main, interleaved_medians, largest_difference


as_is = cells._scan


def indexed(fn, sequences, outputs_info, non_sequences, reverse=False):
    """The alternative to cells._scan: a reversed scan that reads its sequences by a step index
    running from the last step to the first, its outputs in that order (as cells._scan's)."""
    if not reverse:
        return as_is(fn, sequences, outputs_info, non_sequences)
    n_states = sum(o is not None for o in outputs_info)

    def step(t, *args):
        states, consts, seqs = args[:n_states], args[n_states:-len(sequences)], args[-len(sequences):]
        return fn(*(s[t] for s in seqs), *states, *consts)
    last = sequences[0].shape[0] - 1
    return as_is(step, [pt.arange(last, -1, -1)], outputs_info, [*non_sequences, *sequences])


def compare(cell, F, repeats):
    net_i, by_index, loss_i = built_with(cell, F, cells, "_scan", indexed)
    net_c, copied, loss_c = built_with(cell, F, cells, "_scan", as_is)
    med = interleaved_medians({"indexed": by_index, "copied": copied}, repeats)
    drift = largest_difference(net_i.params(), net_c.params())
    print(f"{cell} F={F}: indexed {med['indexed']:.3f} s, reversed copies (as is) {med['copied']:.3f} s, "
          f"speed-up {med['copied'] / med['indexed']:.3f}x; first loss {loss_i:.7f} vs {loss_c:.7f}; "
          f"largest parameter difference after {repeats + 1} steps {drift:.1e} of the parameter's largest value",
          flush=True)


def main():
    compare_main(__doc__, compare, "40,1000")


if __name__ == "__main__":
    main()
