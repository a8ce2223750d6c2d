"""Damaged and crafted files: every file the project reads back is checked as its writer checks
its input. A flipped bit, a broken HDF5 structure, a value of the wrong type or range, a changed
or missing song store: one line naming the file, exit status 2, nothing used."""
import json
import os
import shutil
import signal

import h5py
import numpy as np
import pytest
import soundfile as sf

from rnnsound import checkpoint, plots
from rnnsound.cli import main
from rnnsound.config import DataConfig, TrainConfig
from rnnsound.interrupts import stop_now
from rnnsound.prepare import prepare
from rnnsound.streams import read_attrs
from rnnsound.sweeps import cli as sweep_cli
from rnnsound.train import train

from conftest import chord

SMALL = TrainConfig(hidden=8, layers=2, epochs=2, batch_size=16, learning_rate=0.01)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch run on a views dataset (its song stored in songs/ beside it)."""
    root = tmp_path_factory.mktemp("trained")
    sf.write(root / "chord.wav", chord(3.0), 16000, subtype="PCM_16")
    data = str(root / "data" / "tiny.hdf5")
    os.makedirs(os.path.dirname(data))
    prepare(str(root / "chord.wav"), data, DataConfig(frame_size=8, seq_len=10, train_fraction=0.8), progress=False)
    train(data, SMALL, str(root / "run"), progress=False)
    return root


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run, with its own copy of the dataset and song store (free to damage):
    (run folder, dataset path, song store path)."""
    shutil.copytree(trained / "data", tmp_path / "data")
    shutil.copytree(trained / "run", tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["dataset"] = str(tmp_path / "data" / "tiny.hdf5")
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    store = [str(tmp_path / "data" / "songs" / f) for f in os.listdir(tmp_path / "data" / "songs")]
    return str(tmp_path / "run"), config["dataset"], store[0]


def one_line(capsys, argv, code=2):
    got = main(argv)
    err = capsys.readouterr().err.strip()
    assert got == code and "\n" not in err and "Traceback" not in err, (got, err)
    return err


def generate(capsys, run_dir, tmp_path, *more):
    return one_line(capsys, ["generate", run_dir, "--seconds", "0.1", "-o", str(tmp_path / "out.wav"), "-q", *more])


def flip_bit(path, dataset, where=0.5):
    """Flip one bit in the middle of a contiguous HDF5 dataset's stored bytes."""
    with h5py.File(path, "r") as f:
        d = f[dataset].id
        offset = d.get_offset() + int(d.get_storage_size() * where)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x10]))


def break_signature(path, signature):
    """Overwrite the first HDF5 structure signature (a local heap, a B-tree) in the file."""
    data = bytearray(open(path, "rb").read())
    at = data.find(signature)
    assert at >= 0, signature
    data[at:at + 4] = b"XXXX"
    open(path, "wb").write(bytes(data))


def edit_attrs(path, **attrs):
    with h5py.File(path, "r+") as f:
        for k, v in attrs.items():
            f.attrs[k] = v


# --- checkpoints -------------------------------------------------------------------------------

def test_a_flipped_bit_in_best_h5_is_detected_and_nothing_is_generated(capsys, run, tmp_path):
    run_dir, _, _ = run
    flip_bit(os.path.join(run_dir, "best.h5"), "params/out_W")
    err = generate(capsys, run_dir, tmp_path)
    assert "best.h5" in err and "sha256" in err and not (tmp_path / "out.wav").exists()


def test_a_flipped_bit_in_last_h5_stops_resume(capsys, run):
    run_dir, data, _ = run
    flip_bit(os.path.join(run_dir, "last.h5"), "opt/in_W/ms")
    log = open(os.path.join(run_dir, "log.csv")).read()
    err = one_line(capsys, ["train", data, "--resume", run_dir, "--epochs", "3", "-q"])
    assert "last.h5" in err and "damaged" in err
    assert open(os.path.join(run_dir, "log.csv")).read() == log


@pytest.mark.parametrize("signature", [b"HEAP", b"TREE"])
def test_damaged_hdf5_structures_are_one_line_naming_the_file(capsys, run, tmp_path, signature):
    run_dir, data, _ = run
    break_signature(os.path.join(run_dir, "best.h5"), signature)
    assert "best.h5" in generate(capsys, run_dir, tmp_path)
    break_signature(data, signature)
    assert "tiny.hdf5" in generate(capsys, run_dir, tmp_path, "--checkpoint", "last")


def test_checkpoint_positions_are_checked_like_the_trainer_writes_them(capsys, run):
    run_dir, data, _ = run
    last = os.path.join(run_dir, "last.h5")
    params, opt, meta = checkpoint.load(last)
    checkpoint.save(last, params, opt, {**meta, "step": -5})  # a valid digest: the value itself is wrong
    err = one_line(capsys, ["train", data, "--resume", run_dir, "--epochs", "3", "-q"])
    assert "step is -5" in err
    assert len(open(os.path.join(run_dir, "log.csv")).read().splitlines()) > 2  # the log is untouched


# --- the run's settings and log ------------------------------------------------------------------

@pytest.mark.parametrize("key, value, words", [("hidden", "32", "hidden is '32'"), ("recur_axis", "x", "recur-axis"),
                                               ("learning_rate", True, "learning_rate is True")])
def test_a_crafted_config_json_is_one_line(capsys, run, tmp_path, key, value, words):
    run_dir, data, _ = run
    path = os.path.join(run_dir, "config.json")
    config = json.load(open(path))
    config["train"][key] = value
    json.dump(config, open(path, "w"))
    err = generate(capsys, run_dir, tmp_path)
    assert "config.json" in err and words in err
    err = one_line(capsys, ["train", data, "--resume", run_dir, "--epochs", "3", "-q"])
    assert "config.json" in err and words in err


def test_a_partial_last_log_row_is_dropped_on_resume(run):
    run_dir, data, _ = run
    with open(os.path.join(run_dir, "log.csv"), "a") as f:
        f.write("batch")  # a process killed while writing its row
    assert main(["train", data, "--resume", run_dir, "--epochs", "3", "-q"]) == 0
    rows = [r.split(",") for r in open(os.path.join(run_dir, "log.csv")).read().splitlines()[1:]]
    steps = [int(r[1]) for r in rows if r[0] == "batch"]
    assert steps == list(range(1, len(steps) + 1)) and sum(r[0] == "epoch" for r in rows) == 3


# --- datasets and song stores --------------------------------------------------------------------

def test_a_changed_song_store_is_refused_by_generate_and_resume(capsys, run, tmp_path):
    run_dir, data, store = run
    flip_bit(store, "samples")
    assert "song store" in generate(capsys, run_dir, tmp_path)
    assert "song store" in one_line(capsys, ["train", data, "--resume", run_dir, "--epochs", "3", "-q"])


def test_a_missing_song_store_is_refused_not_read_as_zeros(capsys, run, tmp_path):
    run_dir, data, store = run
    os.rename(store, store + ".moved")
    err = generate(capsys, run_dir, tmp_path)
    assert "missing" in err and os.path.basename(store) in err
    assert "missing" in one_line(capsys, ["train", data, "-o", str(tmp_path / "new"), "-q"])


def _split_stop(path):
    with h5py.File(path, "r+") as f:
        split = f.attrs["split"].copy()
        split["stop"][split["split"] == b"train"] = 10 ** 12
        f.attrs["split"] = split


@pytest.mark.parametrize("damage, words", [
    (lambda p: edit_attrs(p, sample_rate=10 ** 12), "sample-rate"),
    (lambda p: edit_attrs(p, hop=0), "hop is 0"),
    (lambda p: edit_attrs(p, normalisation="foo"), "normalisation is 'foo'"),
    (lambda p: edit_attrs(p, norm_max=float("nan")), "normalisation constants"),
    (lambda p: edit_attrs(p, seq_len=np.float64(10.0)), "seq_len"),
    (_split_stop, "1000000000000"),
])
def test_crafted_dataset_attributes_are_one_line(capsys, run, tmp_path, damage, words):
    run_dir, data, _ = run
    damage(data)
    err = one_line(capsys, ["train", data, "-o", str(tmp_path / "new"), "-q"])
    assert words in err and "tiny.hdf5" in err
    assert words in generate(capsys, run_dir, tmp_path)


def test_damaged_sweep_files_are_one_line(capsys, tmp_path):
    out = tmp_path / "sweep"
    os.makedirs(out / "runs" / "a")
    meta = {"runs": ["a"], "title": "t", "song": "s", "base": {}}
    json.dump({**meta, "runs": "a"}, open(out / "sweep.json", "w"))
    assert "sweep.json" in one_line(capsys, ["report", str(out)])
    json.dump(meta, open(out / "sweep.json", "w"))
    json.dump({"name": "a", "status": 3}, open(out / "runs" / "a" / "summary.json", "w"))
    assert "summary.json" in one_line(capsys, ["report", str(out)])
    from rnnsound.song import as_song
    from rnnsound.sweeps.spec import check_run_folder
    json.dump({"overrides": "x", "song": "s"}, open(out / "runs" / "a" / "settings.json", "w"))
    with pytest.raises(Exception, match="settings.json is damaged"):
        check_run_folder(str(out / "runs" / "a"), {}, as_song(None))


# --- outputs -------------------------------------------------------------------------------------

def test_an_interrupted_generate_leaves_every_clip_as_it_was(capsys, run, tmp_path, monkeypatch):
    run_dir, _, _ = run
    out = tmp_path / "clip.wav"
    assert main(["generate", run_dir, "--seconds", "0.1", "-o", str(out), "--count", "2", "-q"]) == 0
    before = {p: open(p, "rb").read() for p in sorted(tmp_path.glob("clip_*"))}
    assert len(before) == 6  # two clips: WAV, metrics, picture
    real, calls = plots.audio_picture, {"n": 0}

    def picture_then_ctrl_c(*a):
        calls["n"] += 1
        if calls["n"] == 2:  # the second clip's picture: the first clip's files are staged
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a)
    monkeypatch.setattr(plots, "audio_picture", picture_then_ctrl_c)
    err = one_line(capsys, ["generate", run_dir, "--seconds", "0.2", "-o", str(out), "--count", "2", "-q"], 130)
    assert "none was written" in err
    assert {p: open(p, "rb").read() for p in sorted(tmp_path.glob("clip_*"))} == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no staged or temporary file is left


def test_concurrent_generates_of_one_clip_set_never_share_a_staged_file(capsys, run, tmp_path, monkeypatch):
    """Each generate stages under names of its own: another generate of the same clips, running
    while this one stages, cannot take or replace its files."""
    from rnnsound import generate as gen
    run_dir, _, _ = run
    out = tmp_path / "a.wav"
    names = []
    real = gen._staged

    def recording(path):
        names.append(real(path))
        return names[-1]
    monkeypatch.setattr(gen, "_staged", recording)
    assert main(["generate", run_dir, "--seconds", "0.1", "-o", str(out), "-q"]) == 0
    assert main(["generate", run_dir, "--seconds", "0.2", "-o", str(out), "-q"]) == 0
    assert len(set(names)) == len(names) == 6 and all(n.endswith((".wav", ".json", ".png")) for n in names)
    assert abs(sf.info(str(out)).duration - 0.2) < 1e-3 and not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o666 & ~current_umask())


def test_two_generates_of_one_clip_set_at_once_leave_one_whole_set(run, tmp_path):
    import subprocess
    import sys
    run_dir, _, _ = run
    out = tmp_path / "both.wav"
    procs = [subprocess.Popen([sys.executable, "-m", "rnnsound", "generate", run_dir, "--seconds", seconds, "-o",
                               str(out), "-q"], stderr=subprocess.PIPE, text=True) for seconds in ("0.5", "1.5")]
    errs = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    metrics = json.load(open(tmp_path / "both.metrics.json"))
    assert abs(sf.info(str(out)).duration - metrics["seconds"]) < 1e-3       # the WAV and its metrics: one clip
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_clip_file_named_by_a_folder_is_refused_before_any_clip_is_written(capsys, run, tmp_path):
    run_dir, _, _ = run
    out = tmp_path / "x.wav"
    assert main(["generate", run_dir, "--seconds", "0.1", "-o", str(out), "--count", "2", "-q"]) == 0
    before = {p: open(p, "rb").read() for p in sorted(tmp_path.glob("x_*"))}
    (tmp_path / "x_1.metrics.json").unlink()
    (tmp_path / "x_1.metrics.json").mkdir()
    del before[tmp_path / "x_1.metrics.json"]
    err = one_line(capsys, ["generate", run_dir, "--seconds", "0.2", "-o", str(out), "--count", "2", "-q"])
    assert "x_1.metrics.json is a folder" in err
    assert {p: open(p, "rb").read() for p in sorted(tmp_path.glob("x_*")) if p.is_file()} == before


def test_a_disk_that_fills_during_a_wav_write_is_one_line(capsys, run, tmp_path, monkeypatch):
    import collections
    from rnnsound import audio
    run_dir, _, _ = run

    def full(*a, **k):
        raise sf.LibsndfileError(2, "Error writing: ")  # what libsndfile raises on a full disk
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(audio.sf, "write", full)
    monkeypatch.setattr(audio.shutil, "disk_usage", lambda path: usage(10 << 20, 10 << 20, 0))
    out = tmp_path / "clips"
    out.mkdir()
    err = one_line(capsys, ["generate", run_dir, "--seconds", "0.1", "-o", str(out / "y.wav"), "-q"])
    assert f"the disk filled up while writing ({out / 'y.wav'})" in err and not os.listdir(out)


def test_late_or_wrong_messages_are_early_and_right(capsys, run, tmp_path):
    run_dir, data, _ = run
    before = open(os.path.join(run_dir, "learning_curve.png"), "rb").read()
    err = one_line(capsys, ["generate", run_dir, "--seconds", "0.1", "-o", os.path.join(run_dir, "learning_curve.wav"),
                            "-q"])
    assert "would overwrite its run folder's learning_curve.png" in err
    assert open(os.path.join(run_dir, "learning_curve.png"), "rb").read() == before
    assert "is a folder, not a file" in one_line(capsys, ["train", str(tmp_path), "-o", str(tmp_path / "r"), "-q"])
    err = one_line(capsys, ["train", data, "-o", str(tmp_path / "tier"), "--set", "output=tier", "--set",
                            "tier_context=9", "-q"])
    assert "tier_context=9" in err and not os.path.exists(tmp_path / "tier")   # F=8: refused, no empty folder left
    for flag, value in (("--epochs", "-1"), ("--seconds", "0"), ("--sample-every", "-1")):
        out = tmp_path / f"demo{flag}"
        one_line(capsys, ["demo", flag, value, "-o", str(out), "-q"])
        assert not os.path.exists(out)                                  # refused before preparing anything


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_values_read_back_from_log_and_summary_are_checked(capsys, run, tmp_path):
    run_dir, _, _ = run
    log = os.path.join(run_dir, "log.csv")
    rows = open(log).read().splitlines()
    header = rows[0].split(",")
    k = header.index("dev_mse")
    damaged = [r if not r.startswith("epoch") else ",".join(v if i != k else "-0.5" for i, v in enumerate(r.split(",")))
               for r in rows]
    open(log, "w").write("\n".join(damaged) + "\n")
    err = one_line(capsys, ["generate", run_dir, "--temperature", "1", "-o", str(tmp_path / "n.wav"), "-q"])
    assert "log.csv is damaged" in err and "'-0.5'" in err and not os.path.exists(tmp_path / "n.wav")
    from rnnsound.sweeps import Sweep, run_sweep
    out = tmp_path / "sweep"
    run_sweep(Sweep(name="s", title="S", base={"hidden": 4, "batch_size": 32},
                    variants=({"frame_size": 8, "seq_len": 10},)), str(out), song=song_file(tmp_path), epochs=1,
              clip_seconds=0.1, progress=False)
    summary = out / "runs" / "frame_size=8_seq_len=10" / "summary.json"
    data = json.loads(summary.read_text())
    data["best_dev"] = "low"
    summary.write_text(json.dumps(data))
    err = one_line(capsys, ["report", str(out)])
    assert "summary.json is damaged" in err and "best_dev='low'" in err


def song_file(folder):
    sf.write(folder / "chord.wav", chord(3.0), 16000, subtype="PCM_16")
    return str(folder / "chord.wav")


def test_tiny_durations_and_odd_output_paths_are_one_line(capsys, run, tmp_path):
    run_dir, _, _ = run
    assert "less than one sample" in generate(capsys, run_dir, tmp_path, "--seconds", "1e-9")
    assert "names a folder" in one_line(capsys, ["prepare", "--minutes", "0.1", "-o", str(tmp_path / "nd") + "/", "-q"])
    if os.path.isdir("/proc"):
        assert "/proc/x.wav" in one_line(capsys, ["generate", run_dir, "--seconds", "0.1", "-o", "/proc/x.wav", "-q"])


def test_prepare_never_replaces_a_file_that_is_not_a_dataset(capsys, tmp_path):
    other = tmp_path / "other.wav"
    sf.write(other, chord(0.5), 16000)
    before = other.read_bytes()
    argv = ["prepare", "--minutes", "0.1", "-F", "40", "-L", "10", "-o", str(other), "-q"]  # a song long enough
    assert "not a dataset made by `rnnsound prepare`" in one_line(capsys, argv)
    assert other.read_bytes() == before


def test_sweep_scripts_handle_signals_as_the_command_does(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(sweep_cli, "_run", lambda sweep, args: seen.update(
        {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}))
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        from test_executor import TINY3
        assert sweep_cli.main(TINY3, ["--out", str(tmp_path / "s"), "--plan"]) == 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert seen == {signal.SIGINT: stop_now, signal.SIGTERM: stop_now}


def test_generations_that_cannot_fit_in_memory_are_refused_with_the_figure(capsys, run, tmp_path, monkeypatch):
    import psutil
    run_dir, _, _ = run
    # the memory available is set, not read: on a busy machine one hour's clip may not fit at all
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("M", (), {"available": 20e9})())
    err = generate(capsys, run_dir, tmp_path, "--count", "1024", "--seconds", "3600")
    assert "GB of memory" in err and "at most --count 2 at this length" in err
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("M", (), {"available": 4e9})())
    err = generate(capsys, run_dir, tmp_path, "--seconds", "3600")  # one hour: ~8 GB
    assert "GB of memory" in err and "shorter clips" in err and not (tmp_path / "out.wav").exists()


def test_blog_mode_sampling_noise_is_counted_before_the_memory_check_accepts(capsys, run, tmp_path, monkeypatch):
    """At T > 0 blog mode draws L x the clip in noise: an hour that fits at T=0 is refused at T=1."""
    import psutil
    from rnnsound.generate import load_run, memory_needed
    run_dir, data, _ = run
    cfg, attrs = load_run(run_dir)[0], read_attrs(data)
    F, L, n = attrs["frame_size"], attrs["seq_len"], 3600 * 16000
    mean = memory_needed(n, 1, F, L, cfg, "blog", 0)
    noise = 4 * -(-n // F) * L * F                                      # the (n_frames, L, F) float32 draws
    assert memory_needed(n, 1, F, L, cfg, "blog", 1) >= mean + 2 * noise
    assert memory_needed(n, 1, F, L, cfg, "stateful", 1) < mean + noise
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("M", (), {"available": mean + noise})())
    err = generate(capsys, run_dir, tmp_path, "--seconds", "3600", "--temperature", "1")
    assert "GB of memory" in err and f"draws L = {L} times the clip in noise" in err
    assert not (tmp_path / "out.wav").exists()
