"""Output heads (rnnsound.heads): losses, gradients, bits and samplers against float64 numpy; mu-law;
temperature; a bimodal target the MSE head averages and the mixture keeps apart; a gmm clip that
keeps playing; the mulaw size limit."""
import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from rnnsound import heads, metrics, graph
from rnnsound.config import TrainConfig
from rnnsound.errors import UserError
from rnnsound.generator import compile_generator, generate_frames
from rnnsound.compiled import Network

import reference  # tests/reference.py: the numpy oracle

F, K = 3, 2
FRAME_HEADS = [h for h in heads.HEADS if h != "tier"]  # heads that read only the network's outputs (tier: test_tier.py)


def cfg_for(output, **kw):
    return TrainConfig(output=output, mixtures=K, **kw)


def random_outputs(output, n, rng, spread=1.0):
    o = rng.normal(0, spread, (n, heads.width(F, cfg_for(output)))).astype(np.float32)
    y = rng.uniform(-0.9, 0.9, (n, F)).astype(np.float32)
    return o, y


@pytest.mark.parametrize("output", FRAME_HEADS)
def test_loss_gradient_and_bits_match_float64_numpy(output):
    rng = np.random.default_rng(0)
    cfg = cfg_for(output)
    o, y = random_outputs(output, 6, rng)
    ov, yv, sigma = static(o), static(y), pt.scalar("s", dtype="float32")
    loss = heads.loss_sum(ov, yv, F, cfg)
    fn = pytensor.function([ov, yv, sigma], [loss, pt.grad(loss, ov), heads.bits_sum(ov, yv, F, cfg, sigma),
                                             heads.mean(ov, F, cfg)], on_unused_input="ignore")
    got_loss, got_grad, got_bits, got_mean = fn(o, y, np.float32(0.3))
    np.testing.assert_allclose(got_loss, reference.head_loss(o, y, F, output, K), rtol=1e-5)
    np.testing.assert_allclose(got_bits, reference.head_bits(o, y, F, output, K, 0.3), rtol=1e-4)
    np.testing.assert_allclose(got_mean, reference.head_mean(o, F, output, K), rtol=1e-5, atol=1e-6)
    # the gradient against central differences of the float64 reference
    o64, eps, numeric = o.astype(np.float64), 1e-6, np.zeros(o.shape)
    for idx in np.ndindex(o.shape):
        d = np.zeros(o.shape)
        d[idx] = eps
        numeric[idx] = (
            reference.head_loss(o64 + d, y, F, output, K) - reference.head_loss(o64 - d, y, F, output, K)
        ) / (2 * eps)
    np.testing.assert_allclose(got_grad, numeric, rtol=2e-3, atol=2e-4)


def test_gmm_loss_and_gradient_stay_finite_on_silence_and_far_targets():
    """Frames whose every component is hundreds of nats away (silence against narrow scales, or a
    clipped song) gave NaN gradients through pt.logsumexp; the head's own log-sum-exp does not."""
    cfg = cfg_for("gmm")
    o = np.zeros((4, heads.width(F, cfg)), np.float32)
    o[:, K + K * F:] = -30.0                                # every scale at the floor
    o[:, K:K + K * F] = 0.5                                 # means far from the targets in scale units
    y = np.zeros((4, F), np.float32)
    y[1] = 1.0                                              # a clipped frame
    ov, yv = static(o), static(y)
    loss = heads.loss_sum(ov, yv, F, cfg)
    got_loss, got_grad = pytensor.function([ov, yv], [loss, pt.grad(loss, ov)])(o, y)
    assert np.isfinite(got_loss) and np.all(np.isfinite(got_grad))


def test_mulaw_round_trip():
    q = np.arange(heads.LEVELS)
    np.testing.assert_array_equal(heads.mulaw_encode(heads.mulaw_decode(q)), q)
    x = np.linspace(-1, 1, 10001)
    back = heads.mulaw_decode(heads.mulaw_encode(x))
    edges = heads.level_edges()
    q = heads.mulaw_encode(x)
    assert np.all((edges[q] <= x + 1e-12) & (x <= edges[q + 1] + 1e-12))   # each sample lies in its level
    half_level = 256 * np.log(256) / 255 / 255                               # at full scale: 0.0218
    assert np.max(np.abs(back - x)) <= half_level
    assert np.max(np.abs(back - x)[np.abs(x) < 0.01]) < 3e-4                 # fine near zero (levels ~2e-4 wide)
    np.testing.assert_array_equal(heads.mulaw_encode([-5.0, 5.0]), [0, 255])  # clipped to [-1, 1]


def static(a):
    """A symbolic input with `a`'s static shape (the JAX backend needs static shapes to reshape)."""
    return pt.tensor(dtype="float32", shape=a.shape)


def sampler(output, temperature, sigma=0.0):
    return sampler_for(cfg_for(output), temperature, sigma)


def sampler_for(cfg, temperature=1.0, sigma=0.0):
    """A function (o, z) -> frames, compiled for the shapes of its first call."""
    compiled = {}

    def run(o, z):
        if o.shape not in compiled:
            ov, zv = static(o), static(z)
            compiled[o.shape] = pytensor.function([ov, zv], heads.sample(ov, zv, F, cfg, temperature, sigma),
                                                  on_unused_input="ignore")
        return compiled[o.shape](o, z)
    return run


@pytest.mark.parametrize("output", FRAME_HEADS)
def test_sampler_draws_what_numpy_draws(output):
    rng = np.random.default_rng(2)
    cfg = cfg_for(output)
    o, _ = random_outputs(output, 50, rng)
    z = heads.draw_noise(rng, (50,), F, cfg)
    for t in (1.0, 0.5):
        np.testing.assert_allclose(sampler(output, t, 0.2)(o, z), reference.head_sample(o, z, F, output, K, t, 0.2),
                                   rtol=1e-4, atol=1e-5)


def test_mixture_sampler_matches_the_mixtures_mean_and_variance():
    rng = np.random.default_rng(3)
    cfg = cfg_for("gmm")
    o, _ = random_outputs("gmm", 1, rng)
    o[0, :K] = [0.3, -0.4]
    o[0, K:K + K * F] = rng.uniform(-0.6, 0.6, K * F)
    n = 200_000
    draws = sampler("gmm", 1.0)(np.repeat(o, n, 0), heads.draw_noise(rng, (n,), F, cfg))
    logits, mu, scale = reference._gmm(o.astype(np.float64), F, K)
    w = np.exp(reference._log_softmax(logits))[0]
    mean = w @ mu[0]
    var = w @ (scale[0] ** 2 + mu[0] ** 2) - mean ** 2
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * np.sqrt(var / n))     # 4 standard errors
    np.testing.assert_allclose(draws.var(0), var, rtol=0.02)


def test_mulaw_sampler_matches_the_softmax():
    rng = np.random.default_rng(4)
    cfg = cfg_for("mulaw")
    o = rng.normal(0, 2, (1, heads.width(F, cfg))).astype(np.float32)
    n = 100_000
    draws = sampler("mulaw", 1.0)(np.repeat(o, n, 0), heads.draw_noise(rng, (n,), F, cfg))
    p = np.exp(reference._log_softmax(o.reshape(F, heads.LEVELS).astype(np.float64)))
    levels = heads.mulaw_decode(np.arange(heads.LEVELS))
    mean, var = p @ levels, p @ levels ** 2 - (p @ levels) ** 2
    np.testing.assert_allclose(draws.mean(0), mean, atol=4 * np.sqrt(var.max() / n))
    np.testing.assert_allclose(draws.var(0), var, rtol=0.03)


@pytest.mark.parametrize("output", FRAME_HEADS)
def test_temperature_zero_is_the_deterministic_mean(output):
    rng = np.random.default_rng(5)
    o, _ = random_outputs(output, 8, rng)
    z1, z2 = (heads.draw_noise(np.random.default_rng(s), (8,), F, cfg_for(output)) for s in (1, 2))
    at_zero = sampler(output, 0.0)
    np.testing.assert_array_equal(at_zero(o, z1), at_zero(o, z2))
    np.testing.assert_allclose(at_zero(o, z1), reference.head_mean(o, F, output, K), rtol=1e-5, atol=1e-6)
    assert not np.allclose(sampler(output, 1.0, 0.1)(o, z1), sampler(output, 1.0, 0.1)(o, z2))


def numpy_sampled_generation(params, cfg, seed, n, mode, noise, temperature, sigma, draw=None):
    """The three modes with sampling, written out with the numpy reference network and heads.
    `draw(o, z, x)` draws frames from head outputs o read from input frames x (default: the
    frame heads of reference.head_sample, which do not read x)."""
    if draw is None:
        def draw(o, z, x):
            return reference.head_sample(o, z, F, cfg.output, K, temperature, sigma)
    pred, states = reference.predict(params, seed[None], cfg.cell, cfg.layers)
    if mode == "blog":
        window = draw(pred[0], noise[0], seed)
        out = [window[-1]]
    else:
        out = [draw(pred[0, -1:], noise[0:1], seed[-1:])[0]]
        window = np.concatenate([seed[1:], out[-1][None]])
    for i in range(1, n):
        if mode == "stateful":
            nxt, states = reference.predict(params, out[-1][None, None], cfg.cell, cfg.layers, states=states)
            out.append(draw(nxt[0, -1:], noise[i:i + 1], out[-1][None])[0])
            continue
        o = reference.predict(params, window[None], cfg.cell, cfg.layers)[0][0]
        if mode == "blog":
            window = draw(o, noise[i], window)
            out.append(window[-1])
        else:
            out.append(draw(o[-1:], noise[i:i + 1], window[-1:])[0])
            window = np.concatenate([window[1:], out[-1][None]])
    return np.stack(out)


@pytest.mark.parametrize("output,mode", [(o, m) for o in ("gmm", "mulaw") for m in ("blog", "window", "stateful")]
                         + [("mse", "stateful")])
def test_every_generation_mode_samples_the_head(output, mode):
    L, n, t, sigma = 4, 5, 0.8, 0.05
    cfg = cfg_for(output, hidden=5)
    rng = np.random.default_rng(6)
    params = {k: (v + rng.uniform(-0.3, 0.3, v.shape)).astype(np.float32)
              for k, v in graph.init_params(F, cfg, rng).items()}
    seed = rng.uniform(-0.5, 0.5, (L, F)).astype(np.float32)
    fn = compile_generator(params, cfg, F, L, n, mode, t, sigma)
    noise = [heads.draw_noise(np.random.default_rng(s), (n, L) if mode == "blog" else (n,), F, cfg) for s in (7, 8)]
    ours = np.asarray(fn(seed, noise[0]))
    np.testing.assert_allclose(ours, numpy_sampled_generation(params, cfg, seed, n, mode, noise[0], t, sigma),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ours, fn(seed, noise[0]))     # the noise fixes the audio
    assert not np.allclose(ours, fn(seed, noise[1]))           # other noise, other audio


def test_the_sampling_seed_fixes_the_draws():
    L, n = 4, 6
    cfg = cfg_for("gmm", hidden=5)
    params = graph.init_params(F, cfg, np.random.default_rng(0))
    seed = np.random.default_rng(1).uniform(-0.5, 0.5, (L, F)).astype(np.float32)
    a, b, c = (generate_frames(params, cfg, seed, n, "stateful", 1.0, sampling_seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def train_on_two_modes(output, steps=150, a=0.5):
    """Inputs are noise; each target frame is +a or -a (all F samples alike), with equal odds,
    independent of the inputs: the best mean is 0, the best mixture two components at +-a."""
    cfg = TrainConfig(output=output, mixtures=2, hidden=8, layers=1, optimizer="adam", learning_rate=0.02,
                      step_clip=0.0, batch_size=64)
    net = Network(F, 4, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    rng = np.random.default_rng(1)
    for _ in range(steps):
        x = rng.uniform(-1, 1, (64, 4, F)).astype(np.float32)
        y = (a * rng.choice([-1.0, 1.0], (64, 4, 1)) * np.ones((1, 1, F))).astype(np.float32)
        net.train_step(x, y, cfg.learning_rate)
    x = rng.uniform(-1, 1, (64, 4, F)).astype(np.float32)
    xs = pt.tensor3(dtype="float32", shape=x.shape)
    out = np.asarray(pytensor.function([xs], graph.predict_batch(net.shared, xs, cfg)[0])(x))  # from JAX
    return cfg, out.reshape(-1, out.shape[-1])


def test_bimodal_target_mse_learns_the_middle_gmm_both_modes():
    a = 0.5
    _, out = train_on_two_modes("mse", a=a)
    assert np.abs(out).mean() < 0.15 * a                     # the mean of +-a
    cfg, out = train_on_two_modes("gmm", a=a)
    logits, mu, _ = reference._gmm(out.astype(np.float64), F, 2)
    w = np.exp(reference._log_softmax(logits))
    up = mu.mean(axis=2) > 0                                 # (n, 2): which component sits on +a
    assert np.all(np.abs(np.abs(mu.mean(axis=2)) - a) < 0.15 * a)
    assert 0.35 < np.mean(np.sum(w * up, axis=1)) < 0.65     # about half the weight on each mode
    draws = sampler_for(cfg)(out, heads.draw_noise(np.random.default_rng(9), (len(out),), F, cfg))
    frac_up = np.mean(draws.mean(axis=1) > 0)
    assert 0.3 < frac_up < 0.7                               # and it samples both
    assert np.mean(np.abs(np.abs(draws.mean(axis=1)) - a) < 0.2 * a) > 0.9  # near a mode, not between



def test_mulaw_is_refused_for_large_frames_with_its_parameter_count():
    heads.check(heads.MULAW_MAX_F, TrainConfig(output="mulaw"))
    with pytest.raises(UserError, match=r"output=mulaw at frame size 1000 needs .*65,792,000 parameters; use it "
                                        r"with F <= 400"):
        heads.check(1000, TrainConfig(output="mulaw"))


def test_a_sweep_refuses_mulaw_at_large_frames_before_any_work():
    from rnnsound.sweeps.spec import describe_run
    describe_run("ok", {"frame_size": 40, "output": "mulaw"})
    with pytest.raises(UserError, match="output=mulaw at frame size 1000"):
        describe_run("big", {"frame_size": 1000, "output": "mulaw"})


def test_bad_head_settings_are_one_line():
    from rnnsound.config import with_overrides
    for key, value, msg in (("output", "softmax", "output must be one of mse, gmm, mulaw, tier"),
                            ("mixtures", "0", "mixtures must be in"), ("input_noise", "-1", "input-noise must be in")):
        with pytest.raises(UserError, match=msg):
            with_overrides(TrainConfig(), {key: value})


def test_loudness_and_flatness_metrics():
    rate = 16000
    t = np.arange(10 * rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    quieter = np.concatenate([tone[:5 * rate], 0.1 * tone[5 * rate:]])      # the last 5 s 20 dB down
    assert abs(metrics.loudness(tone, rate) - metrics.loudness(0.1 * tone, rate) - 20) < 0.1
    per_second = metrics.loudness_per_second(quieter, rate)
    assert len(per_second) == 10 and abs(per_second[0] - per_second[-1] - 20) < 0.1
    assert metrics.loudness(np.zeros(rate), rate) == metrics.LUFS_FLOOR
    assert abs(metrics.loudness(tone[:4000], rate) - metrics.loudness(tone, rate)) < 0.5  # shorter than a block
    noise = np.random.default_rng(0).standard_normal(10 * rate) * 0.1
    assert metrics.mean_flatness([noise], 0.01)[0] > 0.5
    assert metrics.mean_flatness([tone], 0.01)[0] < 0.01


def test_flatness_matches_librosa():
    """Per-frame spectral flatness as the field's library computes it, on noise, a tone, a chirp and silence."""
    import librosa  # a test extra (setup.py): the reference implementation
    rate = 16000
    t = np.arange(rate * 2) / rate
    rng = np.random.default_rng(1)
    for x in (rng.standard_normal(len(t)) * 0.1, 0.5 * np.sin(2 * np.pi * 440 * t),
              0.3 * np.sin(2 * np.pi * (100 + 2000 * t) * t), np.zeros(5000), rng.standard_normal(700)):
        ours = metrics.frame_flatness(x)[0]
        theirs = librosa.feature.spectral_flatness(y=x)[0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory):
    """A gmm head trained briefly on a chord (F=40, L=10)."""
    from conftest import train_on_chord
    return train_on_chord(tmp_path_factory.mktemp("gmm"), TrainConfig(output="gmm", hidden=16, epochs=2, batch_size=32))


def test_a_briefly_trained_gmm_clip_keeps_playing(gmm_run, tmp_path, capsys):
    from rnnsound.cli import main
    run, summary = gmm_run
    assert summary["best_bits"] is not None and np.isfinite(summary["best_loss"])
    out = str(tmp_path / "g.wav")
    assert (
        main(["generate", run, "--mode", "stateful", "--seconds", "30", "--sampling-seed", "3", "-o", out, "-q"]) == 0
    )
    m = json.load(open(out[:-4] + ".metrics.json"))
    assert m["output_head"] == "gmm" and m["temperature"] == 1.0 and m["sampling_seed"] == 3
    assert -10 < m["end_level_db"] < 10                 # the last 5 s within 10 dB of the song's loudness
    assert len(m["level_per_second_db"]) == 30 and m["flatness_frames"] > 0
    assert capsys.readouterr().out == ""                # -q: nothing printed


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_input_noise_is_seeded_and_changes_training(tiny_dataset, tmp_path):
    from rnnsound import checkpoint
    from rnnsound.train import train
    params = {}
    for name, noise in (("a", 0.1), ("b", 0.1), ("c", 0.0)):
        train(tiny_dataset, TrainConfig(hidden=4, epochs=1, batch_size=16, input_noise=noise), str(tmp_path / name),
              progress=False)
        params[name] = checkpoint.load(str(tmp_path / name / "last.h5"))[0]
    for k in params["a"]:
        np.testing.assert_array_equal(params["a"][k], params["b"][k])
    assert not np.allclose(params["a"]["out_W"], params["c"]["out_W"])


@pytest.mark.parametrize("mode", ["stateful", "blog"])
def test_batched_clips_equal_clips_made_one_at_a_time(mode):
    L, n = 4, 5
    cfg = cfg_for("gmm", hidden=5)
    rng = np.random.default_rng(10)
    params = {k: (v + rng.uniform(-0.3, 0.3, v.shape)).astype(np.float32)
              for k, v in graph.init_params(F, cfg, rng).items()}
    seeds = rng.uniform(-0.5, 0.5, (2, L, F)).astype(np.float32)
    batched = generate_frames(params, cfg, seeds, n, mode, 1.0, sampling_seed=5)
    assert batched.shape == (2, n, F)
    for i in range(2):
        np.testing.assert_allclose(
            batched[i], generate_frames(params, cfg, seeds[i], n, mode, 1.0, sampling_seed=5 + i), rtol=1e-5, atol=1e-6
        )


def test_generate_count_writes_one_file_per_clip(gmm_run, tmp_path):
    from rnnsound.cli import main
    run, _ = gmm_run
    out = str(tmp_path / "c.wav")
    assert main(["generate", run, "--mode", "stateful", "--seconds", "2", "--count", "2", "-o", out, "-q"]) == 0
    m = [json.load(open(tmp_path / f"c_{i}.metrics.json")) for i in range(2)]
    assert [x["sampling_seed"] for x in m] == [0, 1] and m[0]["seed_index"] + 1 == m[1]["seed_index"]
    assert (tmp_path / "c_1.wav").exists() and not (tmp_path / "c.wav").exists()


def test_each_head_is_one_class_in_the_registry_and_no_other_module_asks_which_head():
    """A new head is a subclass of heads.Head and a line in heads.REGISTRY: the rest of the package
    asks the head (heads.of(cfg)), never compares cfg.output with a name."""
    import pathlib
    import re
    assert set(heads.REGISTRY) == set(heads.HEADS)
    assert all(issubclass(c, heads.Head) and isinstance(heads.of(cfg_for(n)), c) for n, c in heads.REGISTRY.items())
    root = pathlib.Path(heads.__file__).parent
    asks = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "heads.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\.output\s*(==|!=|in\b)", line)]
    assert asks == []
