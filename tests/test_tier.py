"""The tier head (SampleRNN's sample-level MLP on the frame network): its loss, gradients, bits and
teacher-forced mean against a float64 numpy rewrite that runs one sample at a time; its sampler
and all three generation modes against the same rewrite; that each drawn sample depends on the
ones before it; training and a generated clip; its limits."""
import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from rnnsound import graph, heads
from rnnsound.compiled import Network, compile_mode
from rnnsound.config import TrainConfig
from rnnsound.errors import UserError
from rnnsound.generator import compile_generator

import reference
from test_heads import numpy_sampled_generation, static

F, D, CONTEXT = 4, 5, 3


def cfg_for(**kw):
    return TrainConfig(output="tier", tier_dim=D, tier_context=CONTEXT, **kw)


def tier_params(rng, spread=0.5):
    """The tier MLP's parameters, large enough that the softmaxes are far from uniform."""
    return {name: rng.normal(0, spread, shape).astype(np.float32) for name, shape in heads.extra_shapes(F, cfg_for())}


def case(n, seed):
    rng = np.random.default_rng(seed)
    o = rng.normal(0, 1, (n, F * D)).astype(np.float32)
    x, y = (rng.uniform(-0.9, 0.9, (n, F)).astype(np.float32) for _ in range(2))
    return o, x, y, tier_params(rng)


def test_loss_gradients_bits_and_mean_match_float64_numpy():
    o, x, y, p = case(3, 0)
    cfg = cfg_for()
    ov, xv, yv = static(o), static(x), static(y)
    pv = {k: static(v) for k, v in p.items()}
    loss = heads.loss_sum(ov, yv, F, cfg, xv, pv)
    wrt = [ov] + list(pv.values())
    fn = pytensor.function([ov, xv, yv, *pv.values()],
                           [loss, heads.bits_sum(ov, yv, F, cfg, pt.scalar(dtype="float32"), xv, pv),
                            heads.mean(ov, F, cfg, xv, yv, pv), heads.loss(ov, yv, F, cfg, xv, pv)]
                           + pt.grad(loss, wrt), on_unused_input="ignore", mode=compile_mode("jax"))
    got_loss, got_bits, got_mean, got_per_sample, *got_grads = fn(o, x, y, *p.values())
    want = reference.tier_loss(o, x, y, p, F, CONTEXT)
    np.testing.assert_allclose(got_loss, want, rtol=1e-5)
    np.testing.assert_allclose(got_per_sample, want / y.size, rtol=1e-5)
    np.testing.assert_allclose(got_bits, want / np.log(2), rtol=1e-5)
    np.testing.assert_allclose(got_mean, reference.tier_mean(o, x, y, p, F, CONTEXT), rtol=1e-5, atol=1e-6)
    # every gradient against central differences of the float64 rewrite (a sample of each big array)
    rng = np.random.default_rng(1)
    arrays = {"o": o.astype(np.float64), **{k: v.astype(np.float64) for k, v in p.items()}}
    for (name, value), got in zip(arrays.items(), got_grads):
        picks = list(np.ndindex(value.shape))
        for idx in (picks if len(picks) <= 40 else [picks[i] for i in rng.choice(len(picks), 40, replace=False)]):
            def at(delta):
                moved = {**arrays, name: value.copy()}
                moved[name][idx] += delta
                rest = {k: v for k, v in moved.items() if k != "o"}
                return reference.tier_loss(moved["o"], x, y, rest, F, CONTEXT)
            numeric = (at(1e-6) - at(-1e-6)) / 2e-6
            np.testing.assert_allclose(got[idx], numeric, rtol=2e-3, atol=2e-4, err_msg=f"{name}{idx}")


def sample_fn(cfg, temperature, n):
    ov, zv, xv = (pt.tensor(dtype="float32", shape=s) for s in ((n, F * D), (n, F), (n, F)))
    pv = {k: pt.tensor(dtype="float32", shape=s) for k, s in heads.extra_shapes(F, cfg)}
    mode = compile_mode("jax")
    return pytensor.function([ov, zv, xv, *pv.values()], heads.sample(ov, zv, F, cfg, temperature, 0.0, xv, pv, mode),
                             on_unused_input="ignore", mode=mode)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.0])
def test_sampler_draws_what_numpy_draws_sample_by_sample(temperature):
    o, x, _, p = case(20, 2)
    z = heads.draw_noise(np.random.default_rng(3), (20,), F, cfg_for())
    got = sample_fn(cfg_for(), temperature, 20)(o, z, x, *p.values())
    np.testing.assert_allclose(got, reference.tier_sample(o, z, x, p, F, CONTEXT, temperature), rtol=1e-4, atol=1e-5)


def test_each_drawn_sample_depends_on_the_ones_before_it():
    """Only the first sample's uniform changes: with tier the later samples of the frame follow it
    (their context changed); with mulaw, which draws the samples of a frame independently, they do not."""
    o, x, _, p = case(200, 4)
    z = heads.draw_noise(np.random.default_rng(5), (200,), F, cfg_for())
    z2 = z.copy()
    z2[:, 0] = (z[:, 0] + 0.5) % 1.0
    fn = sample_fn(cfg_for(), 1.0, 200)
    a, b = fn(o, z, x, *p.values()), fn(o, z2, x, *p.values())
    assert np.mean(a[:, 0] != b[:, 0]) > 0.5
    assert np.mean(a[:, 1:] != b[:, 1:]) > 0.1
    mulaw = TrainConfig(output="mulaw")
    om = np.random.default_rng(6).normal(0, 1, (200, heads.width(F, mulaw))).astype(np.float32)
    ov, zv = static(om), static(z)
    draw = pytensor.function([ov, zv], heads.sample(ov, zv, F, mulaw, 1.0))
    np.testing.assert_array_equal(draw(om, z)[:, 1:], draw(om, z2)[:, 1:])


@pytest.mark.parametrize("mode", ["blog", "window", "stateful"])
def test_every_generation_mode_draws_sample_by_sample(mode):
    L, n, t = 4, 5, 0.8
    cfg = cfg_for(hidden=5)
    rng = np.random.default_rng(6)
    params = {k: (v + rng.uniform(-0.3, 0.3, v.shape)).astype(np.float32)
              for k, v in graph.init_params(F, cfg, rng).items()}
    seed = rng.uniform(-0.5, 0.5, (L, F)).astype(np.float32)
    fn = compile_generator(params, cfg, F, L, n, mode, t)
    noise = [heads.draw_noise(np.random.default_rng(s), (n, L) if mode == "blog" else (n,), F, cfg) for s in (7, 8)]
    ours = np.asarray(fn(seed, noise[0]))

    def draw(o, z, x):
        return reference.tier_sample(o, z, x, params, F, CONTEXT, t)
    np.testing.assert_allclose(ours, numpy_sampled_generation(params, cfg, seed, n, mode, noise[0], t, 0.0, draw),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ours, fn(seed, noise[0]))
    assert not np.allclose(ours, fn(seed, noise[1]))


def test_training_learns_the_dependence_between_samples():
    """Targets whose samples repeat in pairs (s, s, t, t): the second of each pair is certain given
    the first. A frame-level softmax (mulaw) cannot know it; tier's context can, so its loss falls
    well below mulaw's on the same data."""
    def train(output):
        cfg = TrainConfig(output=output, hidden=8, layers=1, tier_dim=16, tier_context=2, optimizer="adam",
                          learning_rate=0.01, step_clip=0.0, batch_size=64)
        net = Network(F, 2, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
        rng = np.random.default_rng(1)
        for _ in range(300):
            pairs = rng.choice(heads.mulaw_decode(np.arange(0, 256, 32)), (64, 3, F // 2))
            frames = np.repeat(pairs, 2, axis=2).astype(np.float32)
            result = net.train_step(frames[:, :2], frames[:, 1:], cfg.learning_rate)
        return result.loss
    tier, mulaw = train("tier"), train("mulaw")
    assert mulaw > 0.9 * np.log(8)          # 8 equally likely levels per sample: ln 8 nats
    assert tier < 0.7 * mulaw               # half the samples known: about ln 8 / 2


def test_tier_refuses_frames_it_cannot_serve():
    heads.check(heads.TIER_MAX_F, TrainConfig(output="tier"))
    with pytest.raises(UserError, match=r"output=tier at frame size 1000 needs .*32,896,000 parameters"):
        heads.check(1000, TrainConfig(output="tier"))
    with pytest.raises(UserError, match=r"tier_context=16 previous samples, more than the frame size 10; use "
                                        r"--set tier_context=10 or less"):
        heads.check(10, TrainConfig(output="tier"))


@pytest.fixture(scope="module")
def tier_run(tmp_path_factory):
    """A tier head trained briefly on a chord (F=40, L=10)."""
    from conftest import train_on_chord
    cfg = TrainConfig(output="tier", hidden=16, tier_dim=16, epochs=2, batch_size=32)
    return train_on_chord(tmp_path_factory.mktemp("tier"), cfg)


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_a_trained_tier_run_logs_bits_and_generates_in_every_mode(tier_run, tmp_path):
    from rnnsound.cli import main
    run, summary = tier_run
    assert summary["best_bits"] is not None and 0 < summary["best_bits"] < 8.5
    for mode in ("stateful", "blog", "window"):
        out = str(tmp_path / f"{mode}.wav")
        assert main(["generate", run, "--mode", mode, "--seconds", "1", "--sampling-seed", "3", "-o", out, "-q"]) == 0
        m = json.load(open(out[:-4] + ".metrics.json"))
        assert m["output_head"] == "tier" and m["temperature"] == 1.0 and m["sampling_seed"] == 3


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_chunked_backprop_and_evaluation_equal_the_fused_step():
    """Each frame's context comes from its own input frame, so backprop in chunks of frames gives
    the fused step's update, and evaluate's sums are the step's loss."""
    cfg = cfg_for(hidden=6)
    rng = np.random.default_rng(8)
    p = {k: (v + rng.uniform(-0.2, 0.2, v.shape)).astype(np.float32)
         for k, v in graph.init_params(F, cfg, rng).items()}
    x = rng.uniform(-0.8, 0.8, (5, 7, F)).astype(np.float32)
    y = np.roll(x, -1, axis=1)
    fused, chunked = Network(F, 6, cfg, p), Network(F, 6, cfg_for(hidden=6, bptt_chunk=3), p)
    loss_sum, sse, bits = fused.evaluate(x[:, :6], y[:, :6])
    step = fused.train_step(x[:, :6], y[:, :6], 0.01)
    np.testing.assert_allclose(loss_sum / y[:, :6].size, step.loss, rtol=1e-5)
    np.testing.assert_allclose(bits, loss_sum / np.log(2), rtol=1e-5)
    np.testing.assert_allclose(sse / y[:, :6].size, step.mse, rtol=1e-5)
    chunked_step = chunked.train_step(x[:, :6], y[:, :6], 0.01)
    np.testing.assert_allclose(chunked_step.loss, step.loss, rtol=1e-5)
    for k, v in fused.params().items():
        np.testing.assert_allclose(v, chunked.params()[k], atol=1e-6, err_msg=k)
