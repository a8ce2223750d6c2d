"""Generation: each mode against its formula in numpy, exact lengths, determinism, metrics, bad input."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from rnnsound import checkpoint, metrics, graph
from rnnsound.cli import main
from rnnsound.config import TrainConfig
from rnnsound.generate import generate
from rnnsound.generator import compile_generator, generate_frames, uses_lanes
from rnnsound.prepare import denormalise, prepare
from rnnsound.streams import norm_of, read_attrs
from rnnsound.train import train

import reference  # tests/reference.py: the numpy oracle


@pytest.fixture(scope="module")
def run(tmp_path_factory, request):
    """A tiny model trained for one epoch on the chord (F=8, L=10)."""
    import soundfile as sf
    from conftest import chord
    from rnnsound.config import DataConfig
    from rnnsound.prepare import prepare
    d = tmp_path_factory.mktemp("gen")
    sf.write(d / "chord.wav", chord(3.0), 16000)
    prepare(
        str(d / "chord.wav"),
        str(d / "tiny.hdf5"),
        DataConfig(frame_size=8, seq_len=10, train_fraction=0.8),
        progress=False,
    )
    train(str(d / "tiny.hdf5"), TrainConfig(hidden=8, epochs=1, batch_size=32), str(d / "run"), progress=False)
    return str(d / "run")


def numpy_generation(params, cfg, seed, n, mode):
    """The three modes written out with the numpy reference network."""
    pred, states = reference.predict(params, seed[None], cfg.cell, cfg.layers)
    out, window = [pred[0, -1]], (pred[0] if mode == "blog" else np.concatenate([seed[1:], pred[0, -1:]]))
    for _ in range(n - 1):
        if mode == "stateful":
            nxt, states = reference.predict(params, out[-1][None, None], cfg.cell, cfg.layers, states=states)
            out.append(nxt[0, -1])
            continue
        nxt = reference.predict(params, window[None], cfg.cell, cfg.layers)[0][0]
        out.append(nxt[-1])
        window = nxt if mode == "blog" else np.concatenate([window[1:], nxt[-1:]])
    return np.stack(out)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("mode", ["blog", "window", "stateful"])
def test_each_mode_computes_its_formula(cell, mode):
    F, L, n = 4, 5, 6
    cfg = TrainConfig(cell=cell, hidden=6)
    rng = np.random.default_rng(0)
    params = {k: (v + rng.uniform(-0.3, 0.3, v.shape)).astype(np.float32)
              for k, v in graph.init_params(F, cfg, rng).items()}
    seed = rng.standard_normal((L, F)).astype(np.float32)
    ours = generate_frames(params, cfg, seed, n, mode)
    np.testing.assert_allclose(ours, numpy_generation(params, cfg, seed, n, mode), rtol=1e-4, atol=1e-5)


def test_windows_read_in_lanes_equal_windows_read_one_at_a_time():
    F, L, n = 3, 4, 9  # (each cell's lanes are checked against numpy in test_each_mode_computes_its_formula)
    cfg = TrainConfig(hidden=5)
    rng = np.random.default_rng(2)
    params = {k: (v + rng.uniform(-0.4, 0.4, v.shape)).astype(np.float32)
              for k, v in graph.init_params(F, cfg, rng).items()}
    seeds = rng.standard_normal((2, L, F)).astype(np.float32)  # two clips side by side
    for mode in ("blog", "window"):
        lanes, one = (
            compile_generator(params, cfg, F, L, n, mode, count=2, lanes=flag)(seeds) for flag in (True, False)
        )
        assert np.asarray(lanes).shape == (2, n, F)
        np.testing.assert_allclose(lanes, one, rtol=1e-5, atol=1e-6)
    assert uses_lanes(cfg, L, L) and not uses_lanes(cfg, L, L - 1)  # shorter clips: one window at a time
    assert not uses_lanes(TrainConfig(recur_axis="batch"), L, n)   # no recurrence over frames to overlap


def test_all_modes_agree_on_the_first_frame_and_then_differ():
    F, L = 4, 5
    cfg = TrainConfig(hidden=6)
    rng = np.random.default_rng(1)
    params = {
        k: (v + rng.uniform(-0.5, 0.5, v.shape)).astype(np.float32) for k, v in graph.init_params(F, cfg, rng).items()
    }
    seed = rng.standard_normal((L, F)).astype(np.float32)
    out = {m: generate_frames(params, cfg, seed, 3, m) for m in ("blog", "window", "stateful")}
    np.testing.assert_allclose(out["stateful"][0], out["window"][0], rtol=1e-5)
    np.testing.assert_allclose(out["blog"][0], out["window"][0], rtol=1e-5)
    assert not np.allclose(out["stateful"][1], out["window"][1], atol=1e-4)


def test_an_output_bias_model_generates_its_bias():
    """Identity-like toy: all weights zero, output bias b: every mode outputs b in every frame."""
    F, L = 4, 5
    cfg = TrainConfig(hidden=3)
    params = {k: np.zeros_like(v) for k, v in graph.init_params(F, cfg, np.random.default_rng(0)).items()}
    params["out_b"] = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    for mode in ("blog", "window", "stateful"):
        np.testing.assert_allclose(generate_frames(params, cfg, np.ones((L, F), np.float32), 4, mode),
                                   np.tile(params["out_b"], (4, 1)), atol=1e-7)


@pytest.mark.parametrize("mode", ["blog", "window", "stateful"])
def test_exact_length_seed_excluded_and_deterministic(run, tmp_path, mode):
    a, b = str(tmp_path / "a.wav"), str(tmp_path / "b.wav")
    m = generate(run, a, mode, seconds=0.0513, seed_index=1, progress=False)
    generate(run, b, mode, seconds=0.0513, seed_index=1, progress=False)
    x, rate = sf.read(a, dtype="int16")
    assert rate == 16000 and len(x) == round(0.0513 * 16000)  # 821 samples: not a whole number of frames
    assert open(a, "rb").read() == open(b, "rb").read()
    assert os.path.exists(str(tmp_path / "a.metrics.json")) and os.path.exists(str(tmp_path / "a.png"))
    assert json.load(open(tmp_path / "a.metrics.json"))["mode"] == mode and m["seconds"] == pytest.approx(821 / 16000)


def test_output_starts_with_the_prediction_after_the_seed(run, tmp_path):
    """The first output frame is the model's prediction of the frame after the seed, not the seed."""
    from rnnsound.prepare import denormalise
    from rnnsound.generate import load_run
    from rnnsound.streams import SongDataset, norm_of
    cfg, params, data, attrs = load_run(run)
    seed = SongDataset(data, "dev").get([0])[0][0]
    first = reference.predict(params, seed[None], cfg.cell, cfg.layers)[0][0, -1]
    generate(run, str(tmp_path / "s.wav"), "stateful", seconds=0.01, progress=False)
    x, _ = sf.read(tmp_path / "s.wav", dtype="float64")
    expected = np.clip(denormalise(first, norm_of(attrs)), -1, 1)
    np.testing.assert_allclose(x[:8], expected, atol=1 / 32768 + 1e-4)


def test_metrics_detect_fade_ticks_and_copies():
    rate, F = 16000, 100
    rng = np.random.default_rng(0)
    # a song whose seconds range from 0.3 to 0.7 in amplitude (about 7 dB), and a steady clip inside that range
    song = np.sin(2 * np.pi * 220 * np.arange(10 * rate) / rate) * np.repeat(np.linspace(0.3, 0.7, 10), rate)
    train_frames = song.reshape(-1, F)
    ref = metrics.reference([song], rate, "test")
    steady = 0.5 * np.sin(2 * np.pi * 330 * np.arange(10 * rate) / rate + 0.3)
    fading = steady * np.exp(-np.arange(10 * rate) / rate)
    ticks = steady + np.repeat(rng.choice([-0.2, 0.2], 10 * rate // F), F)
    m_steady = metrics.measure(steady, ref, train_frames, F, rate)
    m_fade = metrics.measure(fading, ref, train_frames, F, rate)
    m_ticks = metrics.measure(ticks, ref, train_frames, F, rate)
    m_copy = metrics.measure(song.copy(), ref, train_frames, F, rate)
    assert abs(m_steady["end_level_db"]) < 1 and m_steady["seconds_in_song_range"] == 1.0
    # e^-t falls 8.7 dB a second: from t = 7 on it is under BS.1770's -70 LUFS gate, so the end reads the floor
    floor = metrics.LUFS_FLOOR - ref.median_lufs
    assert m_fade["end_level_db"] == floor and m_fade["seconds_in_song_range"] <= 0.1
    assert -5 < m_fade["level_per_second_db"][0] and -30 < m_fade["level_per_second_db"][3] < -20
    assert m_steady["tick_score"] < 1.5 and m_ticks["tick_score"] > 5
    assert m_copy["copy_fraction"] == 1.0 and m_copy["copy_frames"] == m_copy["audible_frames"] == 10 * rate // F
    assert m_steady["copy_fraction"] < 0.5
    silence = metrics.measure(np.zeros(10 * rate), ref, np.vstack([train_frames, 0 * train_frames]), F, rate)
    assert silence["copy_fraction"] == 0.0 and silence["audible_frames"] == 0  # silence copies nothing
    assert silence["spectral_flatness"] is None and silence["flatness_frames"] == 0  # and has no spectrum to flatten
    assert silence["end_level_db"] == metrics.LUFS_FLOOR - ref.median_lufs
    assert m_copy["spectral_distance_db"] < 1.0 < m_steady["spectral_distance_db"]
    assert metrics.measure(steady * 3, ref, train_frames, F, rate)["clipped_fraction"] > 0.1


def test_loudness_ignores_dc():
    rate = 16000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * rate) / rate)
    assert abs(metrics.loudness(tone + 0.5, rate) - metrics.loudness(tone, rate)) < 1e-9
    ref = metrics.reference([tone], rate, "test")
    assert abs(metrics.measure(tone + 0.5, ref, tone.reshape(-1, 100), 100, rate)["end_level_db"]) < 1e-6


@pytest.mark.parametrize("stretch_seconds, source", [(15.0, "training part"), (1.0, "16 stretches of 1 s")])
def test_the_songs_reference_is_the_same_for_every_frame_size_and_seq_len(tmp_path, monkeypatch, stretch_seconds,
                                                                           source):
    """Generation measures the song on contiguous stretches of its store, whatever F and L cut it into:
    its whole training part (a minute's song), or 16 stretches spread over it."""
    from rnnsound import streams
    from rnnsound.config import BLOG_TRAIN_FRACTION, DataConfig
    from rnnsound.default_song import EmbeddedSong
    from rnnsound.streams import song_stretches
    monkeypatch.setattr(streams, "STRETCH_SECONDS", stretch_seconds)
    song = EmbeddedSong("etude", 60 * 16000)
    refs = []
    for F, L in ((40, 100), (100, 50), (1000, 10)):
        path = str(tmp_path / f"d_{F}_{L}.hdf5")
        prepare(song, path, DataConfig(frame_size=F, seq_len=L), progress=False)
        attrs = read_attrs(path)
        stretches, source = song_stretches(path, attrs, 16000)
        refs.append(metrics.reference([denormalise(s, norm_of(attrs)) for s in stretches], 16000, source))
    first = refs[0]
    train_part = round(BLOG_TRAIN_FRACTION * 60 * 16000) / 16000     # seconds
    assert source in first.source and first.seconds == (16 if stretch_seconds == 1 else train_part)
    for r in refs[1:]:
        assert r.flatness == first.flatness and r.rms == first.rms and r.seconds == first.seconds
        np.testing.assert_array_equal(r.spectrum_db, first.spectrum_db)
        np.testing.assert_array_equal(r.loudness_lufs, first.loudness_lufs)


def test_a_self_contained_file_measures_its_train_examples(tmp_path):
    from rnnsound.config import DataConfig
    from rnnsound.default_song import EmbeddedSong
    from rnnsound.streams import song_stretches
    path = str(tmp_path / "copy.hdf5")
    prepare(EmbeddedSong("etude", 60 * 16000), path, DataConfig(frame_size=100, seq_len=50), progress=False, copy=True)
    stretches, source = song_stretches(path, read_attrs(path), 16000)
    assert "train examples" in source and all(len(s) == 5000 for s in stretches) and len(stretches) > 100


def cli(capsys, *args):
    code = main(["generate", *args, "-q"])
    return code, capsys.readouterr().err.strip()


def test_quiet_generate_prints_nothing(capsys, run, tmp_path):
    assert main(["generate", run, "-o", str(tmp_path / "q.wav"), "--seconds", "0.2", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "" and os.path.exists(tmp_path / "q.wav")
    assert main(["generate", run, "-o", str(tmp_path / "v.wav"), "--seconds", "0.2"]) == 0
    assert "wrote" in capsys.readouterr().out


def test_bad_inputs(capsys, run, tmp_path):
    out = str(tmp_path / "x.wav")
    empty = tmp_path / "empty_run"
    empty.mkdir()
    (tmp_path / "blocker").write_text("a file, not a folder")
    cases = [
        ((str(empty), "-o", out), "not a run folder"),
        ((run, "-o", out, "--seed-index", "10000"), "out of range: the dev split has examples 0.."),
        ((run, "-o", out, "--seconds", "0"), "--seconds must be"),
        ((run, "-o", out, "--seconds", "1e9"), "--seconds must be"),
        ((run, "-o", out, "--mode", "jazz"), "invalid choice: 'jazz'"),
        ((run, "-o", out, "--temperature", "1e-15"), "--temperature must be 0 (the head's mean) or between 0.01"),
        ((run, "-o", out, "--temperature", "-1"), "--temperature must be"),
        ((run, "-o", str(tmp_path / "blocker" / "y.wav")), "cannot"),
    ]
    for args, words in cases:
        code, err = cli(capsys, *args)
        assert code == 2 and words in err and "\n" not in err, (args, err)
        assert not os.path.exists(out)


def test_missing_or_mismatched_checkpoint(capsys, run, tmp_path):
    import shutil
    other = tmp_path / "run"
    shutil.copytree(run, other)
    os.remove(other / "best.h5")
    code, err = cli(capsys, str(other), "-o", str(tmp_path / "x.wav"))
    assert code == 2 and "no best.h5" in err
    params = graph.init_params(16, TrainConfig(hidden=8), np.random.default_rng(0))
    checkpoint.save(str(other / "best.h5"), params, {}, {"step": 1})
    code, err = cli(capsys, str(other), "-o", str(tmp_path / "x.wav"))
    assert code == 2 and "different model" in err and not os.path.exists(tmp_path / "x.wav")


def test_a_dataset_changed_since_training_is_refused(tmp_path, capsys):
    import shutil
    from conftest import chord
    from rnnsound.config import DataConfig
    from rnnsound.prepare import prepare
    sf.write(tmp_path / "chord.wav", chord(3.0), 16000)
    data = str(tmp_path / "d.hdf5")
    prepare(str(tmp_path / "chord.wav"), data, DataConfig(frame_size=8, seq_len=10, train_fraction=0.8), progress=False)
    train(data, TrainConfig(hidden=4, epochs=1, batch_size=32), str(tmp_path / "run"), progress=False)
    shutil.copy(data, tmp_path / "kept.hdf5")
    prepare(str(tmp_path / "chord.wav"), data, DataConfig(frame_size=8, seq_len=10, train_fraction=0.8,
                                                          normalisation="stdev"), progress=False)
    assert main(["generate", str(tmp_path / "run"), "-o", str(tmp_path / "x.wav"), "--seconds", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "changed since the run was trained" in err and "normalisation: 'minmax' -> 'stdev'" in err
    assert not (tmp_path / "x.wav").exists()
    shutil.copy(tmp_path / "kept.hdf5", data)  # the same dataset again: accepted
    assert main(["generate", str(tmp_path / "run"), "-o", str(tmp_path / "x.wav"), "--seconds", "0.1", "-q"]) == 0
