"""The input map folded into layer 0's input map (rnnsound.graph.folds_input_map), timed against
the two maps applied one after the other, in one process, interleaved; and how far the two
networks' parameters drift apart in float32 over the timed steps.

Folded, a batch's frames meet one F x kH matrix (in_W @ l0_W) instead of F x H and then H x kH:
the same function, fewer flops where F is small. Both networks start from the same parameters
and train on the same batch; the step is the fused training step of benchmarks/train_step.py
(batch 128, L=100, 2 x 256).

  python benchmarks/fold_input_map.py --cell lstm --frames 40,100
"""
import rnnsound  # noqa: F401  first, before numpy starts threads: its allocator setting

from rnnsound import graph

from ab import H, built_with, compare_main, interleaved_medians, largest_difference


def compare(cell, F, repeats):
    net_f, folded, loss_f = built_with(cell, F, graph, "folds_input_map", lambda *args: True)
    net_u, unfolded, loss_u = built_with(cell, F, graph, "folds_input_map", lambda *args: False)
    med = interleaved_medians({"folded": folded, "unfolded": unfolded}, repeats)
    drift = largest_difference(net_f.params(), net_u.params())
    print(f"{cell} F={F}: folded {med['folded']:.3f} s, unfolded {med['unfolded']:.3f} s, "
          f"speed-up {med['unfolded'] / med['folded']:.3f}x (chosen by default: {graph.folds_input_map(F, cell, H)}); "
          f"first loss {loss_f:.7f} vs {loss_u:.7f}; largest parameter difference after {repeats + 1} steps "
          f"{drift:.1e} of the parameter's largest value", flush=True)


def main():
    compare_main(__doc__, compare, "40,100")


if __name__ == "__main__":
    main()
