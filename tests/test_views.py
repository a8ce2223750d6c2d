"""The song stored once, datasets as views onto it (rnnsound.prepare.store_song, write_views):
the same arrays and attributes as a self-contained copy, for every hop; a further (F, L) does not
decode the song again; a moved folder still reads; a changed song is a new store."""
import os
import shutil

import h5py
import numpy as np
import pytest
import soundfile as sf

from rnnsound import prepare as prep
from rnnsound.config import DataConfig, TrainConfig
from rnnsound.song import SongFile
from rnnsound.streams import SongDataset
from rnnsound.train import train

from conftest import chord


def arrays_and_attrs(path):
    with h5py.File(path, "r") as f:
        arrays = {k: f[k][()] for k in ("inputs", "targets", "example_start")}
        attrs = {k: v for k, v in f.attrs.items() if k not in ("split", "song_store")}
        labels = [d.label for d in f["inputs"].dims]
    return arrays, attrs, labels


@pytest.mark.parametrize("F, L, hop", [(8, 10, 0), (8, 10, 4), (5, 12, 5), (8, 10, 1), (16, 3, 2)])
def test_views_hold_the_same_examples_and_attributes_as_a_copy(song_wav, tmp_path, F, L, hop):
    cfg = DataConfig(frame_size=F, seq_len=L, hop=hop, train_fraction=0.8)
    view, copy = str(tmp_path / "view.hdf5"), str(tmp_path / "copy.hdf5")
    a = prep.prepare(song_wav, view, cfg, progress=False)
    b = prep.prepare(song_wav, copy, cfg, progress=False, copy=True)
    assert (a["train"], a["dev"]) == (b["train"], b["dev"])
    (xa, attrs_a, labels_a), (xb, attrs_b, labels_b) = arrays_and_attrs(view), arrays_and_attrs(copy)
    for k in xa:
        np.testing.assert_array_equal(xa[k], xb[k])
    assert attrs_a.keys() == attrs_b.keys() and all(np.array_equal(attrs_a[k], attrs_b[k]) for k in attrs_a)
    assert labels_a == labels_b == ["batch", "sequence", "frame"]
    with h5py.File(view, "r") as f:
        assert f["inputs"].is_virtual and f.attrs["song_store"].startswith("songs" + os.sep)
    assert os.path.getsize(view) < os.path.getsize(copy)


def test_a_further_frame_size_reuses_the_stored_song(song_wav, tmp_path, monkeypatch):
    prep.prepare(song_wav, str(tmp_path / "a.hdf5"), DataConfig(frame_size=8, seq_len=10), progress=False)
    loads = []
    real = SongFile.load
    monkeypatch.setattr(SongFile, "load", lambda self, *a, **k: loads.append(1) or real(self, *a, **k))
    prep.prepare(song_wav, str(tmp_path / "b.hdf5"), DataConfig(frame_size=20, seq_len=7), progress=False)
    assert loads == [] and len(os.listdir(tmp_path / "songs")) == 1
    prep.prepare(song_wav, str(tmp_path / "c.hdf5"), DataConfig(frame_size=20, seq_len=7, normalisation="stdev"),
                 progress=False)
    assert loads == [1] and len(os.listdir(tmp_path / "songs")) == 2  # other samples: another store


def test_a_moved_folder_of_datasets_still_reads(song_wav, tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    prep.prepare(song_wav, str(folder / "d.hdf5"), DataConfig(frame_size=8, seq_len=10), progress=False)
    before = SongDataset(str(folder / "d.hdf5"), "dev").get([0, 1])
    shutil.move(str(folder), str(tmp_path / "b"))
    after = SongDataset(str(tmp_path / "b" / "d.hdf5"), "dev", load_in_memory=False).get([0, 1])
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)


def test_a_changed_song_is_a_new_store(tmp_path):
    path = tmp_path / "song.wav"
    sf.write(path, chord(3.0), 16000, subtype="PCM_16")
    cfg = DataConfig(frame_size=8, seq_len=10)
    first = prep.prepare(str(path), str(tmp_path / "a.hdf5"), cfg, progress=False)["store"]
    sf.write(path, chord(3.0, amp=0.25), 16000, subtype="PCM_16")  # same name and length, other content
    second = prep.prepare(str(path), str(tmp_path / "b.hdf5"), cfg, progress=False)["store"]
    assert first != second
    with h5py.File(tmp_path / "a.hdf5") as a, h5py.File(tmp_path / "b.hdf5") as b:
        assert a.attrs["source_sha256"] != b.attrs["source_sha256"]


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_training_from_a_view_equals_training_from_a_copy(song_wav, tmp_path):
    cfg = DataConfig(frame_size=8, seq_len=10, train_fraction=0.8)
    tcfg = TrainConfig(hidden=4, epochs=2, batch_size=16)
    for name, copy in (("view", False), ("copy", True)):
        prep.prepare(song_wav, str(tmp_path / f"{name}.hdf5"), cfg, progress=False, copy=copy)
        train(str(tmp_path / f"{name}.hdf5"), tcfg, str(tmp_path / f"run_{name}"), progress=False)
    with h5py.File(tmp_path / "run_view" / "last.h5") as a, h5py.File(tmp_path / "run_copy" / "last.h5") as b:
        names = []
        a.visit(lambda k: names.append(k) if isinstance(a[k], h5py.Dataset) else None)
        for k in names:
            np.testing.assert_array_equal(a[k][()], b[k][()])


@pytest.mark.parametrize("name", ["50%.wav", "x%%y.wav", "take%d.wav", "a%b.wav"])
def test_a_percent_sign_in_the_songs_name_reads_the_songs_samples(tmp_path, name):
    """HDF5 reads `%` in a virtual dataset's source name as a pattern: the store's name holds none."""
    sf.write(tmp_path / name, chord(2.0), 16000, subtype="FLOAT")
    views, copy = str(tmp_path / "v.hdf5"), str(tmp_path / "c.hdf5")
    prep.prepare(str(tmp_path / name), views, DataConfig(frame_size=20, seq_len=10), progress=False)
    prep.prepare(str(tmp_path / name), copy, DataConfig(frame_size=20, seq_len=10), progress=False, copy=True)
    a, b = SongDataset(views, "train"), SongDataset(copy, "train")
    x = a.get(np.arange(a.num_examples))[0]
    assert np.abs(x).max() > 0.1
    np.testing.assert_array_equal(x, b.get(np.arange(b.num_examples))[0])


def _one_line_error(capsys, argv):
    from rnnsound.cli import main
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err, (code, err)
    return err


def test_another_songs_store_under_this_songs_name_is_refused(capsys, tmp_path):
    """A store is checked against what its dataset recorded (train, generate) and against the song
    (a further prepare): another song copied over it is never read as this one."""
    sf.write(tmp_path / "one.wav", chord(2.0), 16000, subtype="FLOAT")
    sf.write(tmp_path / "two.wav", chord(2.0, amp=0.3)[::-1], 16000, subtype="FLOAT")
    cfg = DataConfig(frame_size=20, seq_len=10)
    prep.prepare(str(tmp_path / "one.wav"), str(tmp_path / "one.hdf5"), cfg, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    prep.prepare(str(tmp_path / "two.wav"), str(other / "two.hdf5"), cfg, progress=False)
    [mine] = os.listdir(tmp_path / "songs")
    [theirs] = os.listdir(other / "songs")
    shutil.copyfile(other / "songs" / theirs, tmp_path / "songs" / mine)
    err = _one_line_error(capsys, ["train", str(tmp_path / "one.hdf5"), "-o", str(tmp_path / "run"), "-q"])
    assert "holds another song" in err and "source_sha256" in err
    err = _one_line_error(capsys, ["prepare", str(tmp_path / "one.wav"), "-F", "40", "-L", "5",
                                   "-o", str(tmp_path / "b.hdf5"), "-q"])
    assert "does not hold one.wav" in err and not os.path.exists(tmp_path / "b.hdf5")


def test_a_shortened_store_is_refused(capsys, tmp_path, song_wav):
    cfg = DataConfig(frame_size=20, seq_len=10)
    prep.prepare(song_wav, str(tmp_path / "d.hdf5"), cfg, progress=False)
    [store] = os.listdir(tmp_path / "songs")
    with h5py.File(tmp_path / "songs" / store, "a") as f:
        samples = f["samples"][()]
        del f["samples"]
        f["samples"] = np.concatenate([samples, samples])   # longer: every view reads, but not this song
    err = _one_line_error(capsys, ["train", str(tmp_path / "d.hdf5"), "-o", str(tmp_path / "run"), "-q"])
    assert "holds another song" in err and "samples" in err


@pytest.mark.parametrize("damage", ["truncated", "not hdf5", "no samples", "folder"])
def test_a_damaged_store_is_one_line_at_the_next_prepare(capsys, tmp_path, song_wav, damage):
    prep.prepare(song_wav, str(tmp_path / "d.hdf5"), DataConfig(frame_size=20, seq_len=10), progress=False)
    [store] = os.listdir(tmp_path / "songs")
    path = tmp_path / "songs" / store
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "not hdf5":
        path.write_text("not a store")
    elif damage == "no samples":
        with h5py.File(path, "a") as f:
            del f["samples"]
    else:
        path.unlink()
        path.mkdir()
    err = _one_line_error(capsys, ["prepare", song_wav, "-F", "40", "-L", "5", "-o", str(tmp_path / "e.hdf5"), "-q"])
    assert "is damaged or not a song store" in err and "delete it" in err and not os.path.exists(tmp_path / "e.hdf5")


def test_prepare_writes_over_no_hdf5_file_but_its_own_datasets(capsys, tmp_path, song_wav):
    cfg = DataConfig(frame_size=20, seq_len=10)
    prep.prepare(song_wav, str(tmp_path / "d.hdf5"), cfg, progress=False)
    prep.prepare(song_wav, str(tmp_path / "d.hdf5"), DataConfig(frame_size=40, seq_len=5), progress=False)  # its own
    [store] = os.listdir(tmp_path / "songs")
    with h5py.File(tmp_path / "best.h5", "w") as f:
        f["params/w"] = np.ones(3)
    for target in (tmp_path / "best.h5", tmp_path / "songs" / store):
        before = target.read_bytes()
        err = _one_line_error(capsys, ["prepare", song_wav, "-F", "20", "-L", "10", "-o", str(target), "-q"])
        assert "not a dataset made by `rnnsound prepare`" in err and target.read_bytes() == before


def test_a_refused_prepare_touches_no_store(tmp_path, song_wav, monkeypatch):
    """An (F, L) the song cannot hold is refused from its length before any store is written or
    removed, so a prepare beside it that is making views onto the same store never loses it."""
    from rnnsound.errors import SongTooShort
    prep.prepare(song_wav, str(tmp_path / "a.hdf5"), DataConfig(frame_size=8, seq_len=10), progress=False)
    [store] = os.listdir(tmp_path / "songs")
    touched = []
    monkeypatch.setattr(prep, "store_song", lambda *a, **k: touched.append(a))
    with pytest.raises(SongTooShort):
        prep.prepare(song_wav, str(tmp_path / "b.hdf5"), DataConfig(frame_size=1000, seq_len=100), progress=False)
    assert touched == [] and os.listdir(tmp_path / "songs") == [store] and not os.path.exists(tmp_path / "b.hdf5")
    assert SongDataset(str(tmp_path / "a.hdf5"), "train").num_examples > 0


def test_a_symlinked_dataset_reads_and_checks_the_store_beside_its_target(tmp_path, song_wav):
    """HDF5 reads a view's store beside the file it opens, the link's target: so does rnnsound, and a
    store of the same name beside the link is neither checked nor read."""
    real = tmp_path / "real"
    real.mkdir()
    prep.prepare(song_wav, str(real / "d.hdf5"), DataConfig(frame_size=8, seq_len=10), progress=False)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "songs").mkdir(parents=True)
    os.symlink(real / "d.hdf5", elsewhere / "d.hdf5")
    [store] = os.listdir(real / "songs")
    assert SongDataset(str(elsewhere / "d.hdf5"), "train").num_examples > 0      # no songs/ beside the link: fine
    (elsewhere / "songs" / store).write_text("a decoy, not a store")
    a, b = SongDataset(str(elsewhere / "d.hdf5"), "train"), SongDataset(str(real / "d.hdf5"), "train")
    assert a.attrs["stores"] == [str(real / "songs" / store)]
    np.testing.assert_array_equal(a.get([0, 1])[0], b.get([0, 1])[0])


def test_an_unreadable_store_is_called_unreadable_not_damaged(capsys, tmp_path, song_wav, monkeypatch):
    """A store this user may not read (chmod 000; simulated, since root reads anything) is a
    permission to grant, not a file to delete."""
    prep.prepare(song_wav, str(tmp_path / "d.hdf5"), DataConfig(frame_size=20, seq_len=10), progress=False)
    real_file = h5py.File

    def refuse_stores(name, *a, **k):
        if os.sep + "songs" + os.sep in str(name):
            raise PermissionError(13, "Permission denied")
        return real_file(name, *a, **k)
    monkeypatch.setattr(h5py, "File", refuse_stores)
    for argv in (["prepare", song_wav, "-F", "40", "-L", "5", "-o", str(tmp_path / "e.hdf5"), "-q"],
                 ["train", str(tmp_path / "d.hdf5"), "-o", str(tmp_path / "run"), "-q"]):
        err = _one_line_error(capsys, argv)
        assert "cannot read the song store" in err and "read access" in err and "delete" not in err, err
    assert not os.path.exists(tmp_path / "e.hdf5")


def test_a_song_with_a_long_name_is_stored_under_a_name_the_file_system_takes(tmp_path):
    """A 226-character song name: the store's name is cut (the content hash tells songs apart)."""
    song = tmp_path / ("é" * 113 + ".wav")                                  # 226 bytes of name
    sf.write(song, chord(2.0), 16000, subtype="FLOAT")
    prep.prepare(str(song), str(tmp_path / "d.hdf5"), DataConfig(frame_size=20, seq_len=10), progress=False)
    [store] = os.listdir(tmp_path / "songs")
    assert store.startswith("é" * (prep.STEM_BYTES // 2)) and len(store.encode()) < 200
    assert SongDataset(str(tmp_path / "d.hdf5"), "train").num_examples > 0


@pytest.mark.parametrize("n", [1, 2])
def test_a_song_of_a_sample_or_two_is_too_short_not_silent(capsys, tmp_path, n):
    sf.write(tmp_path / "s.wav", np.full(n, 0.5, np.float32), 16000)
    err = _one_line_error(capsys, ["prepare", str(tmp_path / "s.wav"), "-o", str(tmp_path / "d.hdf5"), "-q"])
    assert "too short" in err and "silent" not in err and not os.path.exists(tmp_path / "songs")
