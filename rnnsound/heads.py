"""Output heads: what the network's last linear layer predicts about the next frame, and how it is
trained and sampled. The recurrent stack (rnnsound.graph) ends in `out_W` (H, width), `out_b`
(width,); a head reads that (..., width) output `o` for a next frame of F samples.

- `mse` (the blog): o is the predicted frame; trained by mean squared error. Read as a Gaussian
  of one variance (the dev residual variance) for sampling and for the NLL in bits.
- `gmm`: K diagonal-Gaussian components over the whole frame: o = [K weight logits | K*F means |
  K*F raw scales]; scale = MIN_SCALE + softplus(raw). Trained by the frame's negative
  log-likelihood, log-sum-exp over components, reported per sample (nats).
- `mulaw`: each sample of the frame as a 256-way softmax over 8-bit mu-law levels (mu = 255) of
  the normalised signal clipped to [-1, 1] (SampleRNN's choice): o = F*256 logits; trained by
  cross-entropy per sample (nats). The output layer is H x 256F, so it is refused above MULAW_MAX_F.
- `tier`: SampleRNN's lowest tier (Mehri et al. 2017) on the frame network. o = F conditioning
  vectors of D = tier_dim units, one per sample position of the next frame (SampleRNN's learned
  upsampling). Sample j's 256-way mu-law softmax comes from an MLP over that vector and the
  k = tier_context samples before it (the end of the input frame, then the frame's own samples),
  each as its mu-law level's companded value in [-1, 1]:
      a1 = relu(prev_k @ tier_prev + o_j);  a2 = relu(a1 @ tier_W + tier_b)
      logits = a2 @ tier_out_W + tier_out_b                              (256,)
  So each sample depends on the ones before it, where `mulaw` draws a frame's samples
  independently given the frame network's state. Training feeds the true previous samples
  (teacher forcing, every sample position of a batch in parallel); generation draws sample by
  sample within each frame. Its loss and bits are the cross-entropy, as for `mulaw`; its "mean"
  is the softmax's mean level given the true previous samples (the dev MSE), and at T = 0 each
  sample is that mean given the samples generated before it.

Common units, logged on dev for every head (`dev_bits`): the NLL in bits per sample of the target
quantised to the same 8-bit mu-law levels. A level's probability is the head's probability mass
over that level's interval of the linear scale (the outer levels reach to +-infinity): for `mse`
and `gmm` the Gaussian CDF difference over the interval, for `mulaw` the softmax itself.
Probabilities are floored at PROB_FLOOR so that a single impossible sample costs ~100 bits, not inf.

Sampling (generation) takes pre-drawn noise so that a seed fixes the audio: per frame `noise_width`
numbers, uniforms in [0, 1) where a category is drawn (by inverse CDF) and standard normals where a
Gaussian is. Temperature T scales the draw: Gaussian scales times T, category logits divided by T;
T = 0 gives the head's mean (for `mse` the prediction itself, the blog's deterministic generation).

The functions take the input frames `x` (the frame before each target) and the parameters `p`
too: only `tier` reads them (its context and its MLP).
"""
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from pytensor.tensor.special import softmax

from .config import CHOICES
from .errors import UserError

HEADS = CHOICES["output"]
MU = 255
LEVELS = MU + 1
MULAW_MAX_F = 400      # H x 256F outputs: 26 M parameters at F=400, H=256
TIER_MAX_F = 400       # H x F tier_dim outputs: 13 M parameters at F=400, H=256, tier_dim=128
MIN_SCALE = 1e-4  # GUESS: floor on a component's scale (normalised units; the smallest mu-law level is 1.7e-4 wide)
PROB_FLOOR = 1e-30     # floor on a level's probability in the bits metric
EDGE = 1e4             # the outer level edges (+-infinity in principle; finite keeps the CDF arithmetic NaN-free)


# --- mu-law (numpy) -------------------------------------------------------------------------------

def mulaw_encode(x):
    """Normalised samples (clipped to [-1, 1]) -> integer levels 0..255."""
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return np.rint((y + 1) / 2 * MU).astype(np.int32)


def mulaw_decode(q):
    """Levels 0..255 -> normalised samples (each level's centre in the companded scale)."""
    y = 2 * np.asarray(q, np.float64) / MU - 1
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU


def level_edges():
    """(257,) edges of the levels in the linear scale: level q holds [edges[q], edges[q+1])."""
    inner = mulaw_decode(np.arange(LEVELS - 1) + 0.5)
    return np.concatenate([[-EDGE], inner, [EDGE]])


# --- symbolic pieces ------------------------------------------------------------------------------

def _encode(y):
    """Symbolic mu-law levels (int64) of normalised samples, as `mulaw_encode`."""
    y = pt.clip(y, -1.0, 1.0)
    c = pt.sign(y) * pt.log1p(MU * abs(y)) / np.float32(math.log1p(MU))
    return pt.cast(pt.round((c + 1) / 2 * MU), "int32")


def _gmm_parts(o, F, K):
    """o (n, K(1+2F)) -> log weights (n, K) at temperature 1, means (n, K, F), scales (n, K, F)."""
    logits = o[:, :K]
    mu = o[:, K:K + K * F].reshape((-1, K, F))
    scale = np.float32(MIN_SCALE) + pt.softplus(o[:, K + K * F:].reshape((-1, K, F)))
    return logits, mu, scale


def _logsumexp(a, axis, keepdims=False):
    """log(sum(exp(a))) shifted by the maximum, with no gradient through the shift: the gradient
    is then exp(a - max) / sum(...), finite even where every exp(a) underflows (pt.logsumexp's
    gradient gave NaN on frames with all components below ~-100 nats)."""
    m = disconnected_grad(pt.max(a, axis=axis, keepdims=True))
    out = pt.log(pt.sum(pt.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis)


def _log_softmax(a, axis=-1):
    return a - _logsumexp(a, axis, keepdims=True)


def _gauss_interval(lo, hi, mu, scale):
    """P(lo <= X < hi) for X ~ N(mu, scale^2), from the tail that keeps float32 precision."""
    a, b = (lo - mu) / scale / np.float32(math.sqrt(2)), (hi - mu) / scale / np.float32(math.sqrt(2))
    p = pt.switch(a + b > 0, pt.erfc(a) - pt.erfc(b), pt.erfc(-b) - pt.erfc(-a)) / 2
    return pt.maximum(p, np.float32(PROB_FLOOR))


def _companded(v):
    """Samples (normalised) -> their mu-law level's companded value in [-1, 1], the tier MLP's input."""
    return pt.cast(_encode(v), "float32") * np.float32(2 / MU) - np.float32(1)


def _tier_context(x, y, F, k):
    """(..., F) input frames and targets -> (rows, k): for every target sample (rows = its count),
    the companded levels of the k samples before it, oldest first (the end of x, then y's own)."""
    both = _companded(pt.concatenate([x.reshape((-1, F)), y.reshape((-1, F))], axis=1))     # (n, 2F)
    return pt.stack([both[:, F - k + i:2 * F - k + i] for i in range(k)], axis=-1).reshape((-1, k))


def _tier_logits(p, cond, context):
    """cond (rows, D) conditioning vectors, context (rows, k) companded previous samples -> (rows, 256)."""
    a = pt.maximum(pt.dot(context, p["tier_prev"]) + cond, np.float32(0))
    a = pt.maximum(pt.dot(a, p["tier_W"]) + p["tier_b"], np.float32(0))
    return pt.dot(a, p["tier_out_W"]) + p["tier_out_b"]


def _tier_forced(o, y, F, cfg, x, p):
    """Teacher-forced logits (rows, 256) of every target sample, given the true samples before it."""
    return _tier_logits(p, o.reshape((-1, cfg.tier_dim)), _tier_context(x, y, F, cfg.tier_context))


def _level_values():
    """(256,) each mu-law level's sample value (normalised, linear scale)."""
    return pt.constant(mulaw_decode(np.arange(LEVELS)).astype(np.float32))


def _tier_sample(o, noise, F, cfg, temperature, x, p, mode):
    """Frames (n, F) drawn sample by sample: each sample's softmax reads the k samples before it,
    the end of the input frame x (n, F) and then the samples drawn so far. At T = 0 each sample is
    the softmax's mean level value. noise (n, F): one uniform per sample."""
    D, k = cfg.tier_dim, cfg.tier_context
    values = _level_values()
    companded = pt.constant((np.arange(LEVELS) * 2 / MU - 1).astype(np.float32))

    def one(cond, *rest):
        """cond (n, D) and, when sampling, u (n,) of one sample position; window (n, k) companded."""
        u, window = rest if temperature else (None, *rest)
        logits = _tier_logits(p, cond, window)                                        # (n, 256)
        if temperature == 0:
            value = pt.dot(softmax(logits, axis=-1), values)                          # (n,)
            level = _companded(value)
        else:
            pick = _inverse_cdf(softmax(logits / np.float32(temperature), axis=-1), u[:, None], LEVELS)
            value = pt.sum(pt.switch(pick, values, np.float32(0)), axis=-1)
            level = pt.sum(pt.switch(pick, companded, np.float32(0)), axis=-1)
        return value, pt.concatenate([window[:, 1:], level[:, None]], axis=1)

    n = o.type.shape[0]  # static when o's is: JAX needs static shapes in this loop and in a caller's loop
    conds = o.reshape((-1, F, D)).dimshuffle(1, 0, 2)                                   # (F, n, D)
    sequences = [conds] + ([noise.T] if temperature else [])
    window = pt.specify_shape(_companded(x[:, F - k:]), (n, k))
    drawn = pytensor.scan(one, sequences=sequences, outputs_info=[None, window], mode=mode,
                          return_updates=False)[0]                                    # (F, n)
    return pt.specify_shape(drawn.T, (n, F))


def _inverse_cdf(p, u, C):
    """One-hot (..., C) of the category k with cdf[k-1] < u <= cdf[k] (the last one when rounding
    leaves u above the final cdf): a draw from probabilities p (..., C) with uniforms u (..., 1).
    Comparisons, not an integer count: no int64 reaches JAX."""
    cdf = pt.cumsum(p, axis=-1)
    lead = (slice(None),) * (cdf.ndim - 1)
    below = pt.concatenate([pt.full_like(cdf[lead + (slice(0, 1),)], -1.0), cdf[lead + (slice(None, -1),)]], axis=-1)
    last = pt.eq(pt.arange(C, dtype="int32"), C - 1)
    return pt.and_(pt.lt(below, u), pt.or_(pt.le(u, cdf), last))


def _level_bounds(y):
    """(n, F) targets -> the linear-scale bounds (lo, hi) of each one's 8-bit mu-law level."""
    q = _encode(y)
    edges = pt.constant(level_edges().astype(np.float32))
    return edges[q], edges[q + 1]


def _onehot_nats(logp, levels):
    """-sum of log-probabilities (..., 256) at the targets' mu-law `levels` (...)."""
    onehot = pt.eq(levels[..., None], pt.arange(LEVELS, dtype="int32"))
    return -pt.sum(pt.switch(onehot, logp, np.float32(0)))


# --- the heads ------------------------------------------------------------------------------------

class Head:
    """What every head answers; a new head is a subclass and a line in REGISTRY. `o` is the output
    layer's (..., width) output, `y` the (..., F) targets, `x` the (..., F) input frames and `p` the
    parameters (only tier reads `x` and `p`)."""
    loss_is_mse = False        # its training loss is the MSE of its mean (no separate MSE to compute)
    scaled_by_dev = False      # read as a Gaussian of the dev residual's scale, known after a dev pass
    draws_each_sample = False  # generation runs a loop over each frame's samples (cost per frame ~ F)
    default_temperature = 1.0  # generation's default: its distribution

    def __init__(self, cfg):
        self.cfg = cfg

    def width(self, F):
        """Outputs per frame of the last linear layer."""
        return F

    def extra_shapes(self, F):
        """[(name, shape)] of the head's own parameters after the output layer."""
        return []

    def intermediates(self, F):
        """Floats per frame the head stores for its gradient beyond its outputs (compiled.bytes_per_step)."""
        return 0

    def noise_width(self, F):
        """Noise numbers `sample` takes per frame."""
        return F

    def check(self, F):
        """Refuse a frame size the head does not fit, in one line."""

    def loss_sum(self, o, y, F, x=None, p=None):
        """The training loss summed over every sample: squared error (mse) or nats."""
        raise NotImplementedError

    def loss(self, o, y, F, x=None, p=None):
        """The training loss per sample."""
        return self.loss_sum(o, y, F, x, p) / np.float32(np.prod(y.type.shape))

    def mean(self, o, F, x=None, y=None, p=None):
        """The predicted mean frame, (..., width) -> (..., F)."""
        lead = [o.shape[i] for i in range(o.ndim - 1)]
        return self._mean_rows(o.reshape((-1, self.width(F))), F).reshape((*lead, F))

    def bits_sum(self, o, y, F, sigma, x=None, p=None):
        """Summed NLL in bits of the mu-law-quantised target; `sigma` (scalar) is the mse head's scale."""
        o, y = o.reshape((-1, self.width(F))), y.reshape((-1, F))
        return self._level_nats(o, y, F, sigma) / np.float32(math.log(2))

    def sample(self, o, noise, F, temperature, sigma=0.0, x=None, p=None, mode=None):
        """Frames (n, F) drawn from outputs o (n, width) with noise (n, noise_width); at temperature
        0 the mean."""
        if temperature == 0:
            return self.mean(o, F)
        return self._draw(o, noise, F, np.float32(temperature), sigma)

    def draw_noise(self, rng, shape, F):
        """Noise for `sample`: (*shape, noise_width) float32, from a numpy Generator: uniforms in
        [0, 1), one per sample (a category drawn by inverse CDF)."""
        return rng.random((*shape, F), dtype=np.float32)


class MSE(Head):
    """The blog's: o is the predicted frame."""
    loss_is_mse = scaled_by_dev = True
    default_temperature = 0.0  # the blog's deterministic generation

    def loss_sum(self, o, y, F, x=None, p=None):
        return pt.sum(pt.sqr(o - y))

    def loss(self, o, y, F, x=None, p=None):
        return pt.mean(pt.sqr(o - y))  # exactly the blog's graph

    def mean(self, o, F, x=None, y=None, p=None):
        return o

    def _level_nats(self, o, y, F, sigma):
        lo, hi = _level_bounds(y)
        return -pt.sum(pt.log(_gauss_interval(lo, hi, o, sigma)))

    def _draw(self, o, noise, F, t, sigma):
        return o + t * np.float32(sigma) * noise

    def draw_noise(self, rng, shape, F):
        return rng.standard_normal((*shape, F), dtype=np.float32)


class GMM(Head):
    """K diagonal Gaussians over the whole frame: o = [K weight logits | K*F means | K*F raw scales]."""

    def width(self, F):
        return self.cfg.mixtures * (1 + 2 * F)

    def intermediates(self, F):
        return self.width(F)

    def noise_width(self, F):
        return F + 1  # a uniform picks the component, F normals draw from it

    def loss_sum(self, o, y, F, x=None, p=None):
        o, y = o.reshape((-1, self.width(F))), y.reshape((-1, F))
        logits, mu, scale = _gmm_parts(o, F, self.cfg.mixtures)
        z = (y[:, None, :] - mu) / scale
        log_comp = -0.5 * pt.sum(pt.sqr(z), axis=2) - pt.sum(pt.log(scale), axis=2) \
            - np.float32(0.5 * F * math.log(2 * math.pi))                          # (n, K)
        return -pt.sum(_logsumexp(_log_softmax(logits) + log_comp, axis=1))

    def _mean_rows(self, o, F):
        logits, mu, _ = _gmm_parts(o, F, self.cfg.mixtures)
        return pt.sum(softmax(logits, axis=1)[:, :, None] * mu, axis=1)

    def _level_nats(self, o, y, F, sigma):
        lo, hi = _level_bounds(y)
        logits, mu, scale = _gmm_parts(o, F, self.cfg.mixtures)
        log_p = pt.sum(pt.log(_gauss_interval(lo[:, None], hi[:, None], mu, scale)), axis=2)   # (n, K)
        return -pt.sum(_logsumexp(_log_softmax(logits) + log_p, axis=1))

    def _draw(self, o, noise, F, t, sigma):
        K = self.cfg.mixtures
        logits, mu, scale = _gmm_parts(o, F, K)
        pick = _inverse_cdf(softmax(logits / t, axis=1), noise[:, :1], K)[:, :, None]  # (n, K, 1) one-hot
        m = pt.sum(pt.switch(pick, mu, np.float32(0)), axis=1)
        s = pt.sum(pt.switch(pick, scale, np.float32(0)), axis=1)
        return m + t * s * noise[:, 1:]

    def draw_noise(self, rng, shape, F):
        return np.concatenate([rng.random((*shape, 1), dtype=np.float32),
                               rng.standard_normal((*shape, F), dtype=np.float32)], axis=-1)


class MuLaw(Head):
    """Each sample a 256-way softmax over 8-bit mu-law levels: o = F*256 logits."""

    def width(self, F):
        return LEVELS * F

    def intermediates(self, F):
        return self.width(F)

    def check(self, F):
        if F > MULAW_MAX_F:
            n = (self.cfg.hidden + 1) * LEVELS * F
            raise UserError(f"output=mulaw at frame size {F} needs an output layer of {self.cfg.hidden} x "
                            f"{LEVELS * F} = {n:,} parameters; use it with F <= {MULAW_MAX_F}, or use output=gmm")

    def loss_sum(self, o, y, F, x=None, p=None):
        o, y = o.reshape((-1, self.width(F))), y.reshape((-1, F))
        return _onehot_nats(_log_softmax(o.reshape((-1, F, LEVELS))), _encode(y))   # (n, F, 256)

    def _mean_rows(self, o, F):
        return pt.dot(softmax(o.reshape((-1, F, LEVELS)), axis=-1), mulaw_decode(np.arange(LEVELS)).astype(np.float32))

    def _level_nats(self, o, y, F, sigma):
        return self.loss_sum(o, y, F)

    def _draw(self, o, noise, F, t, sigma):
        p = softmax(o.reshape((-1, F, LEVELS)) / t, axis=-1)                          # (n, F, 256)
        return pt.sum(pt.switch(_inverse_cdf(p, noise[:, :, None], LEVELS), _level_values(), np.float32(0)), axis=-1)


class Tier(Head):
    """SampleRNN's lowest tier: o = F conditioning vectors of tier_dim units, one per sample position;
    each sample's softmax from an MLP over its vector and the tier_context samples before it."""
    draws_each_sample = True

    def width(self, F):
        return self.cfg.tier_dim * F

    def extra_shapes(self, F):
        D = self.cfg.tier_dim
        return [("tier_prev", (self.cfg.tier_context, D)), ("tier_W", (D, D)), ("tier_b", (D,)),
                ("tier_out_W", (D, LEVELS)), ("tier_out_b", (LEVELS,))]

    def intermediates(self, F):  # per sample: the context, two layers of D and their ReLU masks, logits and softmax
        return F * (self.cfg.tier_context + 4 * self.cfg.tier_dim + 3 * LEVELS)

    def check(self, F):
        cfg = self.cfg
        if F > TIER_MAX_F:
            n = (cfg.hidden + 1) * cfg.tier_dim * F
            raise UserError(f"output=tier at frame size {F} needs an output layer of {cfg.hidden} x "
                            f"{cfg.tier_dim * F} = {n:,} parameters; use it with F <= {TIER_MAX_F}, or use output=gmm")
        if cfg.tier_context > F:
            raise UserError(f"output=tier reads tier_context={cfg.tier_context} previous samples, more than the "
                            f"frame size {F}; use --set tier_context={F} or less")

    def loss_sum(self, o, y, F, x=None, p=None):
        levels = _encode(y).reshape((-1,))
        return _onehot_nats(_log_softmax(_tier_forced(o, y, F, self.cfg, x, p)), levels)   # (rows, 256)

    def mean(self, o, F, x=None, y=None, p=None):
        """Each sample's mean given the true samples before it (`x`, `y`)."""
        return pt.dot(softmax(_tier_forced(o, y, F, self.cfg, x, p), axis=-1), _level_values()).reshape(y.shape)

    def bits_sum(self, o, y, F, sigma, x=None, p=None):
        return self.loss_sum(o, y, F, x, p) / np.float32(math.log(2))

    def sample(self, o, noise, F, temperature, sigma=0.0, x=None, p=None, mode=None):
        return _tier_sample(o, noise, F, self.cfg, temperature, x, p, mode)


REGISTRY = {"mse": MSE, "gmm": GMM, "mulaw": MuLaw, "tier": Tier}
assert tuple(REGISTRY) == tuple(HEADS), "config.CHOICES['output'] and the registry name the same heads"


def of(cfg):
    """The head `cfg.output` names, for `cfg`."""
    return REGISTRY[cfg.output](cfg)


# --- the heads' functions by configuration (what the model's modules call) -----------------------

def width(F, cfg):
    return of(cfg).width(F)


def extra_shapes(F, cfg):
    return of(cfg).extra_shapes(F)


def intermediates(F, cfg):
    return of(cfg).intermediates(F)


def noise_width(F, cfg):
    return of(cfg).noise_width(F)


def check(F, cfg):
    of(cfg).check(F)


def loss_sum(o, y, F, cfg, x=None, p=None):
    return of(cfg).loss_sum(o, y, F, x, p)


def loss(o, y, F, cfg, x=None, p=None):
    return of(cfg).loss(o, y, F, x, p)


def mean(o, F, cfg, x=None, y=None, p=None):
    return of(cfg).mean(o, F, x, y, p)


def bits_sum(o, y, F, cfg, sigma, x=None, p=None):
    return of(cfg).bits_sum(o, y, F, sigma, x, p)


def sample(o, noise, F, cfg, temperature, sigma=0.0, x=None, p=None, mode=None):
    return of(cfg).sample(o, noise, F, temperature, sigma, x, p, mode)


def draw_noise(rng, shape, F, cfg):
    return of(cfg).draw_noise(rng, shape, F)
