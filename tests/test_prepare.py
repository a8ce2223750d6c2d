"""Song -> dataset: framing, split, Fuel layout, normalisation, decoding, resampling."""
import h5py
import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from rnnsound import audio
from rnnsound import prepare as prep
from rnnsound.config import BLOG_TRAIN_FRACTION, DataConfig
from rnnsound.streams import Prefetch, SequentialScheme, ShuffledScheme, SongDataset, read_attrs

from conftest import chord


def test_frame_unframe_round_trip():
    song = np.arange(10_000, dtype=np.float64)
    F, L = 7, 9
    starts = np.arange(prep.count_examples(len(song), F, L, L)) * L * F
    x, y = prep.frame(song, starts, F, L)
    back = np.concatenate([x.reshape(-1), y[-1, -1]])  # consecutive examples, then the last target frame
    np.testing.assert_array_equal(back, song[:len(back)])
    assert len(song) - len(back) < L * F  # only a partial example is left over


def test_targets_are_inputs_one_frame_later():
    song = np.random.default_rng(0).standard_normal(5000)
    F, L, hop = 5, 6, 2
    starts = np.arange(prep.count_examples(len(song), F, L, hop)) * hop * F
    x, y = prep.frame(song, starts, F, L)
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    for i, s in enumerate(starts):
        np.testing.assert_array_equal(y[i, -1], song[s + L * F:s + L * F + F])
    np.testing.assert_array_equal(x[1, 0], song[hop * F:hop * F + F])  # hop in frames


@pytest.mark.parametrize("F, L, train, dev", [(1000, 100, 1600, 142), (4000, 50, 800, 71)])
def test_blog_example_counts(F, L, train, dev):
    assert prep.split_layout(174_229_537, F, L, L, BLOG_TRAIN_FRACTION)[:2] == (train, dev)


@pytest.mark.parametrize("F, L, hop", [(1000, 100, 100), (40, 50, 10), (7, 3, 1)])
def test_no_sample_is_both_train_and_dev(F, L, hop):
    n = 1_000_000
    starts, n_train = prep.example_starts(n, F, L, hop, 0.7)
    last_train_sample = starts[n_train - 1] + (L + 1) * F - 1  # its last target sample
    assert last_train_sample < starts[n_train]
    assert starts[-1] + (L + 1) * F <= n


def test_counts_match_the_written_file(tiny_dataset):
    attrs = read_attrs(tiny_dataset)
    n_train, n_dev, _ = prep.split_layout(attrs["num_samples"], 8, 10, 10, 0.8)
    assert sorted(attrs["splits"]) == ["dev", "train"]
    np.testing.assert_array_equal(attrs["splits"]["train"], np.arange(n_train))
    np.testing.assert_array_equal(attrs["splits"]["dev"], np.arange(n_train, n_train + n_dev))
    assert attrs["shape"] == (n_train + n_dev, 10, 8)


def test_split_attribute_has_fuels_dtype_and_rows(tiny_dataset):
    with h5py.File(tiny_dataset, "r") as f:
        rows = f.attrs["split"]
        assert rows.dtype.names == ("split", "source", "start", "stop", "indices", "available", "comment")
        assert rows.dtype["split"] == np.dtype("S5") and rows.dtype["source"] == np.dtype("S7")
        assert rows.dtype["start"] == np.int64 and rows.dtype["stop"] == np.int64
        assert h5py.check_dtype(ref=rows.dtype["indices"]) is h5py.Reference
        assert rows.dtype["available"] == np.bool_ and rows.dtype["comment"] == np.dtype("S1")
        assert [(r["split"], r["source"]) for r in rows] == [
            (b"train", b"inputs"), (b"train", b"targets"), (b"dev", b"inputs"), (b"dev", b"targets")]
        assert all(r["available"] and r["comment"] == b"." and not r["indices"] for r in rows)
        assert [d.label for d in f["inputs"].dims] == ["batch", "sequence", "frame"]
        assert f["inputs"].dtype == np.float32
        for key in ("sample_rate", "frame_size", "seq_len", "hop", "normalisation", "source_sha256", "train_fraction"):
            assert key in f.attrs


@pytest.mark.parametrize("kind", ["minmax", "stdev"])
def test_normalisation_inverts_exactly(kind):
    x = np.random.default_rng(1).normal(0.1, 0.3, 10_000)
    c = prep.norm_constants(x, kind)
    np.testing.assert_allclose(prep.denormalise(prep.normalise(x, c), c), x, rtol=0, atol=1e-12)


def test_minmax_is_the_blogs_formula():
    x = np.array([-3.0, 1.0, 5.0])
    c = prep.norm_constants(x, "minmax")
    mean, lo, hi = x.mean(), x.min(), x.max()
    np.testing.assert_allclose(prep.normalise(x, c), 2 * (x - mean - lo) / (hi - lo) - 1)


def test_stored_data_denormalises_to_the_song(tiny_dataset, song_wav):
    song, _ = sf.read(song_wav, dtype="float32")
    attrs = read_attrs(tiny_dataset)
    from rnnsound.streams import norm_of
    x, _ = SongDataset(tiny_dataset, "train").get([0, 1])
    np.testing.assert_allclose(prep.denormalise(x.reshape(-1), norm_of(attrs)), song[:160], atol=1e-5)


def test_tone_at_44k_stereo_comes_out_at_440hz_16k_mono(tmp_path):
    t = np.arange(44100 * 2) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([tone, 0.5 * tone], axis=1), 44100, subtype="PCM_24")
    mono, info = audio.load_song(str(path), 16000, progress=False)
    assert info == {"source_rate": 44100, "source_channels": 2}
    assert abs(len(mono) - 32000) <= 1
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    peak = np.argmax(spectrum) * 16000 / len(mono)
    assert abs(peak - 440) < 1.0
    assert abs(np.max(np.abs(mono[1000:-1000])) - 0.375) < 0.01  # channels averaged


def test_blockwise_resampling_equals_one_call(monkeypatch):
    x = np.random.default_rng(2).standard_normal(100_003).astype(np.float32)
    monkeypatch.setattr(audio, "BLOCK", 4096)
    for rate_in, rate_out in [(44100, 16000), (8000, 16000), (48000, 16000), (22050, 16000)]:
        whole = scipy.signal.resample_poly(
            x.astype(np.float64), *(np.array([rate_out, rate_in]) // np.gcd(rate_in, rate_out))
        )
        np.testing.assert_allclose(audio.resample(x, rate_in, rate_out, progress=False), whole, atol=1e-5)


@pytest.mark.parametrize("fmt, subtype, ext", [
    ("WAV", "PCM_U8", "wav"), ("WAV", "PCM_16", "wav"), ("WAV", "PCM_24", "wav"), ("WAV", "PCM_32", "wav"),
    ("WAV", "FLOAT", "wav"), ("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg"), ("OGG", "OPUS", "opus"),
    ("MP3", "MPEG_LAYER_III", "mp3")])
def test_common_formats_decode(tmp_path, fmt, subtype, ext):
    rate = 48000 if subtype == "OPUS" else 16000
    x = chord(1.0, rate)
    path = tmp_path / f"song.{ext}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)
    y, _ = audio.load_song(str(path), 16000, progress=False)
    assert abs(len(y) - 16000) < 2000  # codecs pad a little
    spectrum = np.abs(np.fft.rfft(y))
    peak = np.argmax(spectrum) * 16000 / len(y)
    assert min(abs(peak - f) for f in (220, 330, 440)) < 5  # the strongest partial is one of the chord's


def test_shuffled_scheme_semantics():
    s = ShuffledScheme(300, 128, seed=5)
    b0, b1 = s.batches(0), s.batches(1)
    assert [len(b) for b in b0] == [128, 128, 44]  # last partial batch kept
    assert sorted(np.concatenate(b0)) == list(range(300))
    assert not np.array_equal(np.concatenate(b0), np.concatenate(b1))  # reshuffled every epoch
    np.testing.assert_array_equal(np.concatenate(b0), np.concatenate(ShuffledScheme(300, 128, seed=5).batches(0)))
    assert not np.array_equal(np.concatenate(b0), np.concatenate(ShuffledScheme(300, 128, seed=6).batches(0)))
    assert [list(b) for b in SequentialScheme(5, 2).batches()] == [[0, 1], [2, 3], [4]]


def test_lazy_reading_equals_in_memory(tiny_dataset):
    mem, disk = SongDataset(tiny_dataset, "dev"), SongDataset(tiny_dataset, "dev", load_in_memory=False)
    idx = [3, 0, 2]
    for a, b in zip(mem.get(idx), disk.get(idx)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32 and a.shape == (3, 10, 8)
    with Prefetch(disk, ShuffledScheme(disk.num_examples, 2, seed=0).batches()) as reader:
        batches = list(reader)
    assert sum(len(x) for x, _ in batches) == disk.num_examples
    disk.close()


def test_default_song_is_long_structured_and_deterministic():
    from rnnsound import default_song
    a = default_song.render()
    assert len(a) >= 180 * 16000
    assert np.array_equal(a, default_song.render())
    rms = np.sqrt(np.mean(a[:len(a) // 16000 * 16000].reshape(-1, 16000).astype(np.float64) ** 2, axis=1))
    assert rms.max() / rms.min() > 2  # dynamics: quiet intro, loud choruses
    assert rms[-8:].min() > 0.5 * np.median(rms)  # no fade-out into the dev split


def test_prepare_default_song(tmp_path):
    out = tmp_path / "d.hdf5"
    info = prep.prepare(None, str(out), DataConfig(frame_size=1000, seq_len=100), progress=False)
    assert info["train"] >= 25 and info["dev"] >= 1
    attrs = read_attrs(str(out))
    assert attrs["source_file"] == "default_song" and attrs["sample_rate"] == 16000


def test_prefetch_yields_the_same_batches_in_order(tiny_dataset):
    from rnnsound.streams import Prefetch, ShuffledScheme, SongDataset
    lazy = SongDataset(tiny_dataset, "train", load_in_memory=False)
    batches = ShuffledScheme(lazy.num_examples, 7, seed=3).batches(0)
    with Prefetch(lazy, batches) as reader:
        got = list(reader)
    assert len(got) == len(batches)
    for (x, y), idx in zip(got, batches):
        ex, ey = lazy.get(idx)
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
    with Prefetch(lazy, batches) as reader:  # left after one batch: the read in flight is waited for
        next(reader)


@pytest.mark.heavy
def test_training_from_disk_equals_training_in_memory(tiny_dataset, tmp_path):
    from rnnsound import checkpoint
    from rnnsound.config import TrainConfig
    from rnnsound.train import train
    cfg = TrainConfig(hidden=4, epochs=2, batch_size=16)
    for name, in_memory in (("mem", True), ("disk", False)):
        train(tiny_dataset, cfg, str(tmp_path / name), progress=False, in_memory=in_memory)
    a, b = (checkpoint.load(str(tmp_path / n / "last.h5"))[0] for n in ("mem", "disk"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
