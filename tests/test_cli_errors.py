"""Every bad input to `rnnsound prepare` gives one clear line, a non-zero exit, and no output file."""
import os
import time

import numpy as np
import pytest
import soundfile as sf

from rnnsound.cli import main

from conftest import chord


def run_prepare(capsys, *args):
    code = main(["prepare", "-q", *args])
    err = capsys.readouterr().err.strip()
    return code, err


def leftovers(folder):
    """Datasets, song stores and temporaries anywhere under `folder`."""
    return [f for _, _, files in os.walk(folder) for f in files if f.endswith(".hdf5") or f.endswith(".tmp")]


@pytest.fixture
def bad_inputs(tmp_path):
    def write(name, data=None, **kw):
        p = tmp_path / name
        if data is None:
            p.write_bytes(b"")
        elif isinstance(data, bytes):
            p.write_bytes(data)
        else:
            sf.write(p, data, 16000, **kw)
        return str(p)
    nan = chord(2.0)
    nan[100] = np.nan
    return {
        "missing": (str(tmp_path / "nope.wav"), "does not exist"),
        "not audio": (write("notes.wav", b"these are not the samples you are looking for" * 10), "not an audio file"),
        "empty": (write("empty.wav"), "empty"),
        "silent": (write("silent.wav", np.zeros(32000, np.float32), subtype="PCM_16"), "silent"),
        "nan": (write("nan.wav", nan, subtype="FLOAT"), "NaN"),
        "short": (write("short.wav", chord(0.5), subtype="PCM_16"), "too short"),
    }


@pytest.mark.parametrize("case", ["missing", "not audio", "empty", "silent", "nan", "short"])
def test_bad_song(capsys, tmp_path, bad_inputs, case):
    path, words = bad_inputs[case]
    fits = [] if case == "short" else ["-F", "40", "-L", "10"]  # a pair the 2 s songs could hold: their content is why
    code, err = run_prepare(capsys, path, *fits, "-o", str(tmp_path / "out.hdf5"))
    assert code == 2
    assert err.startswith("rnnsound: error:") and words in err and "\n" not in err
    assert not os.path.exists(tmp_path / "out.hdf5") and leftovers(tmp_path) == []


def test_too_short_names_the_largest_sequence_length(capsys, tmp_path, song_wav):
    # 3 s = 48000 samples; dev gets the last 8.2% minus one frame: 3822 samples = (L + 1) * 100 for L <= 37
    code, err = run_prepare(capsys, song_wav, "-F", "100", "-L", "100", "-o", str(tmp_path / "o.hdf5"))
    assert code == 2 and "--seq-len 37 or less" in err and "--hop" not in err
    code, _ = run_prepare(capsys, song_wav, "-F", "100", "-L", "37", "-o", str(tmp_path / "o.hdf5"))
    assert code == 0  # and that L does fit
    code, _ = run_prepare(capsys, song_wav, "-F", "100", "-L", "38", "-o", str(tmp_path / "p.hdf5"))
    assert code == 2
    code, _ = run_prepare(capsys, song_wav, "-F", "100", "-L", "38", "--hop", "1", "-o", str(tmp_path / "p.hdf5"))
    assert code == 2  # overlapping windows do not help: one dev example must fit


@pytest.mark.parametrize("flag, value", [("--frame-size", "0"), ("--seq-len", "-3"), ("--hop", "-1")])
def test_non_positive_sizes(capsys, tmp_path, song_wav, flag, value):
    code, err = run_prepare(capsys, song_wav, flag, value, "-o", str(tmp_path / "o.hdf5"))
    assert code == 2 and "must be" in err and leftovers(tmp_path) == []


def test_unwritable_output(capsys, tmp_path, song_wav):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, err = run_prepare(capsys, song_wav, "-o", str(blocker / "out.hdf5"))
    assert code == 2 and "cannot" in err
    code, err = run_prepare(capsys, song_wav, "-o", str(tmp_path))
    assert code == 2 and "names a folder" in err


def test_outputs_get_ordinary_permissions(capsys, tmp_path, song_wav):
    out = tmp_path / "d.hdf5"
    assert run_prepare(capsys, song_wav, "-F", "8", "-L", "10", "-o", str(out))[0] == 0
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask


def test_existing_output_survives_a_failed_prepare(capsys, tmp_path, song_wav, bad_inputs):
    out = tmp_path / "keep.hdf5"
    assert run_prepare(capsys, song_wav, "-F", "8", "-L", "10", "-o", str(out))[0] == 0
    before = out.read_bytes()
    assert run_prepare(capsys, bad_inputs["silent"][0], "-o", str(out))[0] == 2
    assert out.read_bytes() == before


def test_the_song_is_never_overwritten_by_its_dataset(capsys, song_wav):
    before = open(song_wav, "rb").read()
    code, err = run_prepare(capsys, song_wav, "-F", "8", "-L", "10", "-o", song_wav)
    assert code == 2 and "is the song itself" in err and "\n" not in err
    assert open(song_wav, "rb").read() == before


@pytest.mark.parametrize("setting", ["lr_decay=-0.5", "learning_rate=nan", "learning_rate=inf", "decay_rate=1",
                                     "max_scaling=0", "step_clip=-1", "init_width=0", "forget_bias=nan",
                                     "memory_gb=0", "seed=-1", "hidden=100000", "batch_size=0", "epochs=-1"])
def test_every_setting_is_checked_on_its_range_before_any_work(capsys, tiny_dataset, tmp_path, setting):
    run = tmp_path / "run"
    assert main(["train", tiny_dataset, "-o", str(run), "--set", setting, "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be in" in err and setting.split("=")[0].replace("_", "-") in err
    assert not run.exists()


@pytest.mark.parametrize("args", [("--sample-rate", "5"), ("--train-fraction", "nan"), ("--hop", "-1")])
def test_data_settings_are_checked_on_their_ranges(capsys, tmp_path, song_wav, args):
    code, err = run_prepare(capsys, song_wav, *args, "-o", str(tmp_path / "o.hdf5"))
    assert code == 2 and "must be in" in err and not leftovers(tmp_path)


def test_a_flag_and_a_set_of_the_same_setting_conflict(capsys, tiny_dataset, tmp_path):
    assert main(["train", tiny_dataset, "-o", str(tmp_path / "r"), "--hidden", "32", "--set", "hidden=64"]) == 2
    assert "both set hidden" in capsys.readouterr().err


def test_a_sweep_with_a_bad_value_in_one_run_fails_before_any_work(tmp_path, song_wav):
    from rnnsound.errors import UserError
    from rnnsound.sweeps import Sweep, run_sweep
    sweep = Sweep(name="s", title="S", base={"frame_size": 8, "seq_len": 10},
                  variants=({"hidden": 4}, {"hidden": 0}))
    with pytest.raises(UserError, match="hidden must be in"):
        run_sweep(sweep, str(tmp_path / "s"), song=song_wav, epochs=1, progress=False)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("copy", [True, False])
def test_a_signal_while_writing_stops_prepare_cleanly(tmp_path, song_wav, monkeypatch, copy):
    import signal
    from rnnsound import prepare as prep
    from rnnsound.config import DataConfig
    from rnnsound.errors import Interrupted
    # a copy frames its examples chunk by chunk; the song store normalises the song block by block
    step = "frame" if copy else "normalise"
    real, calls = getattr(prep, step), {"n": 0}

    def step_then_ctrl_c(*a):
        calls["n"] += 1
        if calls["n"] == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a)

    monkeypatch.setattr(prep, step, step_then_ctrl_c)
    out = tmp_path / "out.hdf5"
    with pytest.raises(Interrupted, match="SIGINT while writing") as e:
        # ~24,000 examples of 200 one-sample frames: two write chunks of at most 20,971 examples
        prep.prepare(song_wav, str(out), DataConfig(frame_size=1, seq_len=200, hop=2), progress=False, copy=copy)
    assert e.value.exit_code == 130 and calls["n"] == 1  # stopped after the first chunk
    assert not out.exists() and not leftovers(tmp_path)


def test_a_damaged_sweep_file_is_one_line(tmp_path, capsys):
    (tmp_path / "sweep.json").write_text('{"runs": ')
    assert main(["report", str(tmp_path)]) == 2
    assert "sweep.json is damaged" in capsys.readouterr().err


def test_a_successful_rerun_removes_the_temporaries_of_killed_writers(capsys, tmp_path, song_wav):
    out = tmp_path / "out.hdf5"
    stale = tmp_path / ".out.hdf5.k1ll3d.tmp"  # what a prepare killed with -9 leaves
    stale.write_bytes(b"\0" * 1000)
    os.utime(stale, (time.time() - 60, time.time() - 60))
    other = tmp_path / ".other.hdf5.k1ll3d.tmp"  # another target's: not this write's business
    other.write_bytes(b"\0")
    assert run_prepare(capsys, song_wav, "-F", "8", "-L", "10", "-o", str(out))[0] == 0
    assert out.exists() and not stale.exists() and other.exists()


def test_a_full_disk_is_one_line_before_any_writing(capsys, tmp_path, song_wav, tiny_dataset, monkeypatch):
    import collections
    from rnnsound import atomic
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: usage(10 << 20, 9 << 20, 1 << 20))
    out = tmp_path / "out"
    out.mkdir()
    code, err = run_prepare(capsys, song_wav, "-F", "8", "-L", "10", "-o", str(out / "d.hdf5"))
    assert code == 2 and "not enough free disk space" in err and "\n" not in err and not leftovers(out)
    assert main(["train", tiny_dataset, "-o", str(out / "run"), "--hidden", "4", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not enough free disk space" in err
    assert not os.path.exists(out / "run" / "config.json")


@pytest.mark.parametrize("copy", [True, False])
def test_a_disk_that_fills_up_during_a_write_is_one_line(capsys, tmp_path, song_wav, monkeypatch, copy):
    import errno
    from rnnsound import prepare as prep

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "d.hdf5"))

    monkeypatch.setattr(prep, "frame" if copy else "normalise", full)
    code, err = run_prepare(capsys, song_wav, "-F", "8", "-L", "10", "-o", str(tmp_path / "d.hdf5"),
                            *(["--copy"] if copy else []))
    assert code == 2 and "the disk filled up" in err and "\n" not in err and not leftovers(tmp_path)


def test_a_truncated_or_absurdly_loud_song_is_refused_unless_accepted(capsys, tmp_path):
    sf.write(tmp_path / "whole.wav", chord(3.0), 16000, subtype="PCM_16")
    data = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:len(data) // 2])  # a copy that stopped half-way
    loud = chord(3.0)
    loud[1000] = 1e6  # one absurd sample in a float file
    sf.write(tmp_path / "loud.wav", loud, 16000, subtype="FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    for name, why in (("cut.wav", "is truncated: its header promises"), ("loud.wav", "samples up to 1e+06")):
        target = str(out / f"{name}.hdf5")
        code, err = run_prepare(capsys, str(tmp_path / name), "-F", "8", "-L", "10", "-o", target)
        assert code == 2 and why in err and "--accept-damaged" in err and not os.path.exists(target)
        assert (
            run_prepare(capsys, str(tmp_path / name), "-F", "8", "-L", "10", "-o", target, "--accept-damaged")[0] == 0
        )
    assert run_prepare(capsys, str(tmp_path / "whole.wav"), "-F", "8", "-L", "10", "-o", str(out / "w.hdf5"))[0] == 0


def test_a_sweeps_epochs_are_set_once(capsys, tmp_path):
    """--set epochs=N sets the epochs; with --epochs as well it is refused in one line."""
    from rnnsound.sweeps import Sweep, main as sweep_main
    sweep = Sweep(name="e", title="E", base={}, variants=({"frame_size": 8, "seq_len": 10},))
    assert sweep_main(sweep, ["--epochs", "3", "--set", "epochs=5", "--out", str(tmp_path / "a"), "--plan"]) == 2
    err = capsys.readouterr().err.strip()
    assert "both set the epochs" in err and "\n" not in err
    from rnnsound.sweeps.cli import build_parser, epochs_and_settings
    args = build_parser(sweep).parse_args(["--set", "epochs=5", "--set", "hop=2"])
    assert epochs_and_settings(args) == (5, {"hop": "2"})
    assert epochs_and_settings(build_parser(sweep).parse_args([]))[0] == 30
