"""The embedded songs at any length: deterministic, varied, two styles; and the step-norm diagnostic."""
import hashlib

import numpy as np
import pytest

from rnnsound import default_song
from rnnsound.cli import main
from rnnsound.default_song import BLOG_SAMPLES, EmbeddedSong, parse_minutes
from rnnsound.errors import UserError
from rnnsound.streams import read_attrs

RATE = 16000


def sha(x):
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def etude_6min():
    return EmbeddedSong("etude", 6 * 60 * RATE).render()


@pytest.fixture(scope="module")
def ambient_6min():
    return EmbeddedSong("ambient", 6 * 60 * RATE).render()


@pytest.mark.heavy
def test_same_seed_same_samples_other_seed_other_samples(etude_6min, ambient_6min):
    assert sha(EmbeddedSong("etude", 6 * 60 * RATE).render()) == sha(etude_6min)
    assert sha(EmbeddedSong("ambient", 6 * 60 * RATE).render()) == sha(ambient_6min)
    assert sha(EmbeddedSong("ambient", 60 * RATE).render()) == sha(ambient_6min[:60 * RATE])
    assert sha(EmbeddedSong("ambient", 60 * RATE, seed=7).render()) != sha(ambient_6min[:60 * RATE])


def test_a_long_etude_starts_with_the_default_song_and_then_moves_on(etude_6min):
    etude = default_song.render()
    assert len(etude_6min) == 6 * 60 * RATE
    assert np.array_equal(etude_6min[:len(etude)], etude)  # the default song is the suite's first movement
    after = etude_6min[len(etude):len(etude) + 60 * RATE]
    assert not np.array_equal(after, etude[:len(after)])  # not a loop
    # another key, tempo and instrumentation: its spectrum differs from the étude's
    spectrum = [
        np.abs(np.fft.rfft(x[: 60 * RATE].astype(np.float64)))[:480000].reshape(600, -1).sum(axis=1)
        for x in (etude, after)
    ]
    a, b = (s / s.sum() for s in spectrum)
    assert np.abs(a - b).sum() > 0.2


def test_a_shorter_rendering_is_the_start_of_a_longer_one(ambient_6min):
    short = EmbeddedSong("ambient", 2 * 60 * RATE).render()
    assert np.array_equal(short, ambient_6min[:len(short)])


def test_the_two_styles_differ_ambient_has_no_drums(etude_6min, ambient_6min):
    for x in (etude_6min, ambient_6min):
        assert np.all(np.isfinite(x)) and np.abs(x).max() <= 0.8 + 1e-6 and x.std() > 0.02
    # drums are sharp attacks: the loudest 10 ms of each second stands far above that second's RMS
    def crest(x):
        blocks = x[:len(x) // 160 * 160].astype(np.float64).reshape(-1, 100, 160)
        rms = np.sqrt((blocks ** 2).mean(axis=2))
        return np.median(rms.max(axis=1) / (rms.mean(axis=1) + 1e-9))
    assert crest(etude_6min) > 1.3 * crest(ambient_6min)


def test_minutes_option():
    assert parse_minutes("blog") == BLOG_SAMPLES and parse_minutes("2.5") == 2.5 * 60 * RATE
    for bad in ("0", "-1", "abc", "nan", "182", "1e-9"):
        with pytest.raises(UserError, match="--minutes"):
            parse_minutes(bad)
    assert EmbeddedSong("ambient", BLOG_SAMPLES).stem == "ambient_blog"
    assert EmbeddedSong().stem == "default" and EmbeddedSong("etude", 120 * RATE).stem == "etude_2min"


def test_prepare_an_ambient_song_of_a_given_length(tmp_path, capsys):
    out = str(tmp_path / "a.hdf5")
    assert main(["prepare", "--style", "ambient", "--minutes", "1", "-F", "1000", "-L", "10", "-o", out, "-q"]) == 0
    attrs = read_attrs(out)
    assert attrs["num_samples"] == 60 * RATE and attrs["embedded_style"] == "ambient"
    assert attrs["source_file"] == "embedded_ambient_1min"
    song = tmp_path / "s.wav"
    song.write_bytes(b"")
    assert main(["prepare", str(song), "--style", "ambient", "-o", str(tmp_path / "b.hdf5")]) == 2
    assert "leave them out" in capsys.readouterr().err


def test_step_norm_is_the_optimisers_step_before_clipping():
    from rnnsound import graph
    from rnnsound.config import TrainConfig
    from rnnsound.compiled import Network
    x = np.random.default_rng(1).standard_normal((4, 6, 5)).astype(np.float32)
    for clip in (0.0, 1e-3):
        cfg = TrainConfig(hidden=4, step_clip=clip)
        net = Network(5, 6, cfg, graph.init_params(5, cfg, np.random.default_rng(0)))
        before = net.params()
        step_norm = net.train_step(x, np.roll(x, -1, 1), 0.01).step_norm
        moved = np.sqrt(sum(np.sum((before[k].astype(np.float64) - v) ** 2) for k, v in net.params().items()))
        if clip == 0:
            assert step_norm == pytest.approx(moved, rel=1e-3)
        else:  # clipped: the parameters moved by exactly the clip, the step asked for more
            assert moved == pytest.approx(clip, rel=1e-3) and step_norm > 10 * clip
