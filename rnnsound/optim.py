"""Update rules as PyTensor expressions: Blocks' RMSProp + StepClipping (the blog), and Adam.

Blocks' CompositeRule([RMSProp(lr, decay), StepClipping(1.0)]):
  ms   <- decay * ms + (1 - decay) * g**2
  step  = lr * g / max(sqrt(ms), 1 / max_scaling)
  step *= min(1, clip / ||all steps||)      (the clip acts on the RMSProp step, not on g)
  param <- param - step
Adam (Kingma & Ba, default betas) with the same optional step clipping.
Optimiser state lives in shared variables named after their parameter, so it can be saved.
`updates` also returns the norm of the whole step before clipping, a diagnostic: with her clip
at 1.0, a step norm of 9 means every update moved the parameters 9x less than RMSProp asked.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt


def make_state(params, cfg):
    """Shared optimiser state: {name: shared}, zero-initialised, float32."""
    names = ["ms"] if cfg.optimizer == "rmsprop" else ["m", "v"]
    state = {f"{k}/{n}": pytensor.shared(np.zeros_like(v.get_value()), name=f"{k}/{n}")
             for k, v in params.items() for n in names}
    if cfg.optimizer == "adam":
        state["t"] = pytensor.shared(np.float32(0), name="t")
    return state


def updates(params, grads, state, lr, cfg):
    """([(shared, new value)] for one step, the step's norm before clipping).

    `params`, `grads`: dicts of the same keys."""
    out, steps = [], {}
    if cfg.optimizer == "rmsprop":
        d = np.float32(cfg.decay_rate)
        for k, g in grads.items():
            ms = state[f"{k}/ms"]
            ms_new = d * ms + (1 - d) * pt.sqr(g)
            out.append((ms, ms_new))
            steps[k] = lr * g / pt.maximum(pt.sqrt(ms_new), np.float32(1.0 / cfg.max_scaling))
    else:
        b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
        t = state["t"] + 1
        out.append((state["t"], t))
        corr = pt.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for k, g in grads.items():
            m, v = state[f"{k}/m"], state[f"{k}/v"]
            m_new, v_new = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * pt.sqr(g)
            out += [(m, m_new), (v, v_new)]
            steps[k] = lr * corr * m_new / (pt.sqrt(v_new) + eps)
    norm = pt.sqrt(sum(pt.sum(pt.sqr(s)) for s in steps.values()))
    if cfg.step_clip > 0:
        scale = pt.switch(norm < cfg.step_clip, np.float32(1), np.float32(cfg.step_clip) / norm)
        steps = {k: s * scale for k, s in steps.items()}
    out += [(params[k], (params[k] - steps[k]).astype("float32")) for k in grads]
    return out, norm
