"""A rewrite exact in mathematics, timed: the GRU backward step's two products through Ug,
dz @ Ugz^T + dr @ Ugr^T, as one [dz | dr] @ Ug^T product, against the cells as they are
(rnnsound.cells), in one process, interleaved.

The joined product is (batch, 2H) @ (2H, H) instead of two (batch, H) @ (H, H): one call instead of
two per step, at the price of a (batch, 2H) concatenation inside the loop. Both networks start from
the same parameters; the step is the fused training step of benchmarks/train_step.py (batch 128,
L=100, 2 x 256 GRU).

  python benchmarks/gru_backward_product.py --frames 40,1000
"""
import rnnsound  # noqa: F401  first, before numpy starts threads: its allocator setting

import argparse

import pytensor.tensor as pt

from rnnsound import cells
from rnnsound.runtime import use_float32

from ab import built_with, interleaved_medians, largest_difference, positive_ints


def joined_back_step(dh_out, dc_factor, dz_factor, dr_factor, keep, r, dh_next, UgT, UT):
    dh = dh_out + dh_next
    dpre_c = dh * dc_factor
    drh = pt.dot(dpre_c, UT)
    dpre_g = pt.concatenate([dh * dz_factor, drh * dr_factor], axis=1)   # (batch, 2H): z | r
    return dpre_g, dpre_c, dh * keep + drh * r + pt.dot(dpre_g, UgT)


def joined_pullback(H, inputs, outputs, cotangents):
    """cells._gru_pullback with the joined back step."""
    xw, h0, Ug, U = inputs
    hs, gs, cs = outputs
    dhs = cells._dense(cotangents[0], hs)
    h_prev = cells._previous(h0, hs)
    z, r = gs[:, :, :H], gs[:, :, H:]
    factors = [z * (1 - cs * cs), (cs - h_prev) * z * (1 - z), h_prev * r * (1 - r), 1 - z, r]
    dpre_g, dpre_c, dh_prev = cells._scan(joined_back_step, [dhs, *factors], [None, None, pt.zeros_like(h0)],
                                          [Ug.T, U.T], reverse=True)
    dpre_g, dpre_c = dpre_g[::-1], dpre_c[::-1]
    rh = r * h_prev
    return [
        pt.concatenate([dpre_g, dpre_c], axis=2),
        dh_prev[-1],
        pt.dot(cells._flat(h_prev, H).T, cells._flat(dpre_g, 2 * H)),
        pt.dot(cells._flat(rh, H).T, cells._flat(dpre_c, H)),
    ]


def compare(F, repeats):
    net_j, joined = built_with("gru", F, cells, "_gru_pullback", joined_pullback)[:2]
    net_a, as_is = built_with("gru", F, cells, "_gru_pullback", cells._gru_pullback)[:2]
    med = interleaved_medians({"joined": joined, "as is": as_is}, repeats)
    drift = largest_difference(net_j.params(), net_a.params())
    print(f"gru F={F}: joined {med['joined']:.3f} s, as is {med['as is']:.3f} s, "
          f"speed-up {med['as is'] / med['joined']:.3f}x; largest parameter difference after {repeats + 1} steps "
          f"{drift:.1e} of the parameter's largest value", flush=True)


def main():
    use_float32()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=positive_ints, default="40,1000", help="frame sizes F (default %(default)s)")
    p.add_argument("--repeats", type=int, default=7, help="timed steps of each (default %(default)s)")
    args = p.parse_args()
    for F in args.frames:
        compare(F, args.repeats)


if __name__ == "__main__":
    main()
