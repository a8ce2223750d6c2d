"""Helpers of the A/B benchmarks (fold_input_map.py, gru_backward_product.py): two compiled
training steps timed interleaved in one process, and how far their parameters drifted apart."""
import time

import numpy as np


def interleaved_medians(steps, repeats):
    """{name: median seconds} of the callables in `steps`, called in turn `repeats` times."""
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: float(np.median(v)) for name, v in times.items()}


def largest_difference(params, reference):
    """The largest parameter difference, as a fraction of that parameter's largest value."""
    return max(float(np.abs(params[k] - reference[k]).max() / np.abs(reference[k]).max())
               for k in reference if np.abs(reference[k]).max() > 0)
