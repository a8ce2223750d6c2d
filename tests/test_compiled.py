"""The compiled network (rnnsound.compiled, and the graph, cells and optimiser it compiles) against the
numpy reference; gradients against finite differences."""
import functools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from rnnsound import cells, graph
from rnnsound.config import TrainConfig
from rnnsound.compiled import Network

import reference  # tests/reference.py: the numpy oracle

F, L, B = 5, 7, 3


def random_params(cfg, seed=0, scale=0.4):
    """Weights larger than the blog's init so every gate and peephole matters."""
    p = graph.init_params(F, cfg, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    return {k: (v + rng.uniform(-scale, scale, v.shape)).astype(np.float32) for k, v in p.items()}


def batch(seed=2):
    x = np.random.default_rng(seed).standard_normal((B, L, F)).astype(np.float32)
    return x, np.roll(x, -1, axis=1)


@pytest.fixture(params=[True, False], ids=["folded", "unfolded"])
def fold(request, monkeypatch):
    """Both ways of applying the input map and layer 0's input map (graph.folds_input_map): at
    these small shapes the network folds them, so the other way is forced here."""
    monkeypatch.setattr(graph, "folds_input_map", lambda *args: request.param)
    return request.param


def test_input_map_is_folded_where_it_saves_flops():
    assert graph.folds_input_map(40, "lstm", 256) and graph.folds_input_map(511, "lstm", 256)
    assert not graph.folds_input_map(512, "lstm", 256) and not graph.folds_input_map(1000, "lstm", 256)
    assert graph.folds_input_map(575, "gru", 256) and not graph.folds_input_map(576, "gru", 256)
    assert graph.folds_input_map(F, "gru", 6)  # the shapes of these tests


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("axis", ["time", "batch"])
def test_forward_matches_numpy_reference(cell, axis, fold):
    cfg = TrainConfig(cell=cell, hidden=6, layers=2, recur_axis=axis, forget_bias=1.0)
    p = random_params(cfg)
    x, y = batch()
    net = Network(F, L, cfg, p)
    np.testing.assert_allclose(net.evaluate(x, y)[1] / x.size, reference.mse(p, x, y, cell, 2, axis), rtol=2e-5)


def test_committed_axis_recurs_over_the_batch():
    """Under the committed bug, the last example's output depends on the earlier examples; intended, it does not."""
    x, _ = batch()
    for axis, couples in (("time", False), ("batch", True)):
        cfg = TrainConfig(hidden=6, recur_axis=axis)
        p = random_params(cfg)
        xs = pt.tensor3(dtype="float32", shape=x.shape)
        f = pytensor.function([xs], graph.predict_batch(p, xs, cfg)[0])
        changed = x.copy()
        changed[:-1] *= -1  # change every example but the last
        differs = not np.allclose(f(x)[-1], f(changed)[-1], atol=1e-6)
        assert differs == couples
        # and which axis recurs: under "time" the first frame ignores later frames; under "batch" the first example does
        later = x.copy()
        if axis == "time":
            later[:, 1:] *= -1
            np.testing.assert_allclose(f(x)[:, 0], f(later)[:, 0], atol=1e-6)
        else:
            later[1:] *= -1
            np.testing.assert_allclose(f(x)[0], f(later)[0], atol=1e-6)


def _autodiff_layer_grads(cell, H, xw, states, weights):
    """PyTensor's own scan gradient of sum(hs * w) for one layer: the check on the hand-written one."""
    if cell == "gru":
        hs, _, _ = cells._scan(functools.partial(cells._gru_step, H), [xw], [states[0], None, None], weights)
    else:
        hs, _, _ = cells._scan(functools.partial(cells._lstm_step, H), [xw], [states[0], states[1], None], weights)
    return hs


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_handwritten_backward_equals_pytensor_autodiff(cell):
    H, T, W = 4, 6, 3
    rng = np.random.default_rng(3)
    k = 3 if cell == "gru" else 4
    xw = pt.tensor3(dtype="float32", shape=(T, W, k * H))
    h0, c0 = pt.matrix(dtype="float32", shape=(W, H)), pt.matrix(dtype="float32", shape=(W, H))
    mats = [pt.matrix(dtype="float32", shape=(H, 2 * H)), pt.matrix(dtype="float32", shape=(H, H))] if cell == "gru" \
        else [pt.matrix(dtype="float32", shape=(H, 4 * H))]
    peeps = [] if cell == "gru" else [pt.vector(dtype="float32", shape=(H,)) for _ in range(3)]
    target = pt.tensor3(dtype="float32", shape=(T, W, H))
    if cell == "gru":
        ours = cells.gru(xw, h0, *mats, H)
        states, ins = [h0], [xw, h0, *mats]
    else:
        ours = cells.lstm(xw, h0, c0, *mats, *peeps, H)[0]
        states, ins = [h0, c0], [xw, h0, c0, *mats, *peeps]
    theirs = _autodiff_layer_grads(cell, H, xw, states, mats + peeps)
    g_ours = pt.grad(pt.sum(ours * target), ins)
    g_theirs = pt.grad(pt.sum(theirs * target), ins)
    f = pytensor.function(ins + [target], g_ours + g_theirs)
    values = [rng.standard_normal(v.type.shape).astype(np.float32) * (1.0 if v is xw else 0.5) for v in ins]
    out = f(*values, rng.standard_normal((T, W, H)).astype(np.float32))
    n = len(ins)
    for a, b in zip(out[:n], out[n:]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gradient_against_finite_differences(cell, fold):
    """The compiled gradient (float32) against central differences of the float64 numpy reference."""
    cfg = TrainConfig(cell=cell, hidden=4, layers=2)
    p = random_params(cfg, scale=0.5)
    x, y = batch(4)
    xs, ys = pt.tensor3(dtype="float32", shape=x.shape), pt.tensor3(dtype="float32", shape=x.shape)
    sp = {k: pt.tensor(k, dtype="float32", shape=v.shape) for k, v in p.items()}
    loss = graph.mse(graph.predict_batch(sp, xs, cfg)[0], ys)
    grad = pytensor.function([xs, ys, *sp.values()], pt.grad(loss, list(sp.values())))(x, y, *p.values())
    rng = np.random.default_rng(5)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    for (name, value), g in zip(p.items(), grad):
        for _ in range(3):
            i = tuple(rng.integers(0, s) for s in value.shape)
            eps = 1e-5
            plus, minus = dict(p64), dict(p64)
            plus[name], minus[name] = p64[name].copy(), p64[name].copy()
            plus[name][i] += eps
            minus[name][i] -= eps
            numeric = (reference.mse(plus, x, y, cell, 2) - reference.mse(minus, x, y, cell, 2)) / (2 * eps)
            assert abs(g[i] - numeric) <= 2e-3 * abs(numeric) + 2e-6, (name, i, g[i], numeric)


@pytest.mark.parametrize("cell", ["gru", pytest.param("lstm", marks=pytest.mark.heavy)])
def test_chunked_backprop_equals_the_fused_step(cell):
    cfg = TrainConfig(cell=cell, hidden=6)
    p = random_params(cfg)
    x, y = batch()
    fused, chunked = Network(F, L, cfg, p), Network(F, L, TrainConfig(cell=cell, hidden=6, bptt_chunk=3), p)
    assert fused.chunk == L and chunked.chunk == 3
    for step in range(2):
        assert abs(fused.train_step(x, y, 0.01).loss - chunked.train_step(x, y, 0.01).loss) < 1e-6
    # chunks sum the gradient in another order: float32 rounding, which RMSProp under Blocks' floor
    # multiplies by lr * max_scaling (a step of 1e3 g here), moves a parameter by up to ~6e-6 of its
    # value (seen on an AVX-512 Xeon); a wrong gradient moves them by orders of magnitude more
    for k, v in fused.params().items():
        np.testing.assert_allclose(v, chunked.params()[k], rtol=2e-5, atol=1e-6)
    for k, v in fused.opt_state().items():
        np.testing.assert_allclose(v, chunked.opt_state()[k], rtol=1e-4, atol=1e-9)


def test_blog_rmsprop_with_step_clipping_matches_numpy():
    cfg = TrainConfig(hidden=4, layers=1, step_clip=0.05)
    p = random_params(cfg)
    x, y = batch()
    net = Network(F, L, cfg, p)
    xs, ys = pt.tensor3(dtype="float32", shape=x.shape), pt.tensor3(dtype="float32", shape=x.shape)
    sp = {k: pt.tensor(k, dtype="float32", shape=v.shape) for k, v in p.items()}
    loss = graph.mse(graph.predict_batch(sp, xs, cfg)[0], ys)
    g = dict(zip(p, pytensor.function([xs, ys, *sp.values()], pt.grad(loss, list(sp.values())))(x, y, *p.values())))
    net.train_step(x, y, 0.1)
    steps = {k: 0.1 * g[k] / np.maximum(np.sqrt(0.05 * g[k] ** 2), 1e-5) for k in p}  # ms = (1 - 0.95) g^2
    norm = np.sqrt(sum(np.sum(s ** 2) for s in steps.values()))
    assert norm > 0.05  # the clip is active in this test
    for k in p:
        np.testing.assert_allclose(net.params()[k], p[k] - steps[k] * 0.05 / norm, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(net.opt_state()[k + "/ms"], 0.05 * g[k] ** 2, rtol=1e-4, atol=1e-12)


def test_initialisation_is_the_blogs_and_seeded():
    cfg = TrainConfig(cell="lstm", hidden=8, forget_bias=1.0)
    a = graph.init_params(F, cfg, np.random.default_rng(0))
    b = graph.init_params(F, cfg, np.random.default_rng(0))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        if k.endswith("_b"):
            assert set(np.unique(a[k])) <= {0.0, 1.0}
        else:
            assert np.abs(a[k]).max() <= 0.04
            assert a[k].ndim == 1 or np.abs(a[k]).max() > 0.035  # matrices span the whole range
    assert np.all(a["l0_b"][8:16] == 1.0) and np.all(a["l0_b"][:8] == 0.0)


def test_overfits_a_tiny_periodic_signal():
    t = np.arange(4 * (L + 1) * F)
    song = (0.6 * np.sin(2 * np.pi * t / 13) + 0.3 * np.sin(2 * np.pi * t / 5)).astype(np.float32)
    x = np.stack([song[i * F:i * F + L * F].reshape(L, F) for i in range(0, 4 * F, 4)][:4])
    y = np.stack([song[i * F + F:i * F + F + L * F].reshape(L, F) for i in range(0, 4 * F, 4)][:4])
    cfg = TrainConfig(hidden=32, optimizer="adam", learning_rate=0.01)
    net = Network(F, L, cfg, graph.init_params(F, cfg, np.random.default_rng(0)))
    first = net.evaluate(x, y)[1] / x.size
    for _ in range(300):
        net.train_step(x, y, 0.01)
    assert net.evaluate(x, y)[1] / x.size < 0.02 * first


@pytest.mark.parametrize("cell,chunk", [("gru", 0), pytest.param("lstm", 3, marks=pytest.mark.heavy)])
def test_compile_rewrites_leave_the_numbers_bit_identical(cell, chunk):
    """The JAX mode's float32-accumulation rewrite (compiled.compile_mode) removes the float64
    astypes JAX warned about and must not change a bit: a few steps with and without it."""
    import warnings
    from pytensor.compile.mode import get_mode
    from rnnsound.compiled import compile_mode
    cfg = TrainConfig(cell=cell, hidden=6, batch_size=B, bptt_chunk=chunk)
    nets = []
    for mode in (get_mode("JAX"), compile_mode("jax")):
        net = Network(F, L, cfg, random_params(cfg))
        net.mode = mode
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for seed in range(3):
                net.train_step(*batch(seed), 0.002)
        nets.append((net, [w for w in caught if "float64" in str(w.message)]))
    (plain, plain_warned), (ours, ours_warned) = nets
    assert plain_warned and not ours_warned
    for k, v in plain.params().items():
        np.testing.assert_array_equal(v, ours.params()[k])
