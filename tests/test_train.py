"""`rnnsound train` end to end: the run folder, resume, and bad input."""
import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from rnnsound import checkpoint
from rnnsound.cli import main
from rnnsound.config import TrainConfig
from rnnsound.errors import Interrupted, UserError
from rnnsound.compiled import Network
from rnnsound.files import read_csv
from rnnsound.train import train

SMALL = TrainConfig(hidden=8, layers=2, epochs=2, batch_size=16, learning_rate=0.01)
RUN_FILES = {"config.json", "versions.json", "baselines.json", "log.csv", "best.h5", "last.h5", "learning_curve.png"}


def test_two_epoch_run_writes_the_whole_run_folder(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    s = train(tiny_dataset, SMALL, str(run), progress=False)
    assert RUN_FILES <= set(os.listdir(run))
    rows = list(csv.DictReader(open(run / "log.csv")))
    epochs = [r for r in rows if r["kind"] == "epoch"]
    batches = [r for r in rows if r["kind"] == "batch"]
    assert len(epochs) == 2 and len(batches) == s["steps"] > 0
    assert float(epochs[-1]["lr"]) == pytest.approx(0.01 * 0.97)  # lr decays after each epoch
    config = json.load(open(run / "config.json"))
    assert config["train"]["hidden"] == 8 and len(config["dataset_sha256"]) == 64
    assert "pytensor" in json.load(open(run / "versions.json"))
    with h5py.File(run / "last.h5") as f:
        assert f.attrs["step"] == s["steps"] and f.attrs["epoch"] == 2 and "params/in_W" in f and "opt/in_W/ms" in f
    assert s["best_dev"] == pytest.approx(min(float(r["dev_mse"]) for r in epochs), rel=1e-5)
    assert open(run / "learning_curve.png", "rb").read(4) == b"\x89PNG"


def test_the_learning_curve_is_drawn_after_the_first_epoch_and_when_training_stops(tiny_dataset, tmp_path, monkeypatch):
    from rnnsound import plots, train as train_module
    drawn = []  # epochs in the log each time the curve is drawn
    monkeypatch.setattr(plots, "learning_curve", lambda rows, *a: drawn.append(sum(r["kind"] == "epoch" for r in rows)))
    monkeypatch.setattr(train_module, "PLOT_SECONDS", 3600)
    train(tiny_dataset, dataclasses.replace(SMALL, epochs=4), str(tmp_path / "run"), progress=False)
    assert drawn == [1, 4]
    monkeypatch.setattr(train_module, "PLOT_SECONDS", 0)
    train(tiny_dataset, dataclasses.replace(SMALL, epochs=3), str(tmp_path / "every"), progress=False)
    assert drawn[2:] == [1, 2, 3]


def _same_run(a_dir, b_dir):
    a, opt_a, meta_a = checkpoint.load(str(a_dir / "last.h5"))
    b, opt_b, meta_b = checkpoint.load(str(b_dir / "last.h5"))
    assert meta_a["step"] == meta_b["step"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    for k in opt_a:
        np.testing.assert_array_equal(opt_a[k], opt_b[k])
    logs = [[(r["kind"], r["step"], r["train_mse"], r["dev_mse"]) for r in csv.DictReader(open(d / "log.csv"))]
            for d in (a_dir, b_dir)]
    assert logs[0] == logs[1]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130),
                                          pytest.param(signal.SIGTERM, 143, marks=pytest.mark.heavy)])
def test_a_signal_after_an_update_saves_that_step_and_resume_equals_an_uninterrupted_run(
        tiny_dataset, tmp_path, monkeypatch, signum, code):
    train(tiny_dataset, SMALL, str(tmp_path / "whole"), progress=False)
    calls = {"n": 0}
    real_step = Network.train_step

    def signal_after_the_update(self, *a):  # the worst moment: applied, not yet counted
        loss = real_step(self, *a)
        calls["n"] += 1
        if calls["n"] in (5, 6):  # the second one arrives while the first is being handled
            os.kill(os.getpid(), signum)
        return loss

    monkeypatch.setattr(Network, "train_step", signal_after_the_update)
    with pytest.raises(Interrupted, match=f"{signal.Signals(signum).name} at step 5") as e:
        train(tiny_dataset, SMALL, str(tmp_path / "split"), progress=False)
    assert e.value.exit_code == code and f"--resume {tmp_path / 'split'}" in str(e.value)
    assert checkpoint.load(str(tmp_path / "split" / "last.h5"))[2]["step"] == 5
    monkeypatch.setattr(Network, "train_step", real_step)
    train(tiny_dataset, SMALL, str(tmp_path / "split"), resume=True, progress=False)
    _same_run(tmp_path / "whole", tmp_path / "split")


@pytest.mark.heavy
def test_sigterm_from_outside_saves_and_the_printed_command_resumes(tiny_dataset, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    args = [sys.executable, "-m", "rnnsound", "train", tiny_dataset, "--hidden", "8", "--epochs", "40",
            "--batch-size", "4", "-q"]
    assert subprocess.run(args + ["-o", str(whole)], capture_output=True).returncode == 0
    proc = subprocess.Popen(args + ["-o", str(split)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(read_csv(str(split / "log.csv"))) < 30 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert err.count("\n") == 1 and "SIGTERM at step" in err
    resume = err.split("continue with: ")[1].split()
    assert resume[:2] == ["rnnsound", "train"]
    done = subprocess.run([sys.executable, "-m", "rnnsound"] + resume[1:] + ["-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _same_run(whole, split)


def test_a_second_writer_is_refused_naming_the_holder(tiny_dataset, tmp_path, capsys):
    from rnnsound.interrupts import FolderLock
    run = tmp_path / "run"
    run.mkdir()
    with FolderLock(str(run)):
        assert main(["train", tiny_dataset, "-o", str(run), "--hidden", "4", "--epochs", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pid {os.getpid()}" in err and "in use" in err
    assert main(["train", tiny_dataset, "-o", str(run), "--hidden", "4", "--epochs", "1", "-q"]) == 0  # released


def test_a_restart_without_checkpoint_logs_each_step_once(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_dataset, SMALL, str(run), progress=False)
    os.remove(run / "last.h5")  # as after a kill -9 before the first epoch ended: no checkpoint yet
    os.remove(run / "best.h5")
    train(tiny_dataset, SMALL, str(run), resume=True, progress=False)
    assert "training it from the start" in capsys.readouterr().err
    steps = [int(r["step"]) for r in read_csv(str(run / "log.csv")) if r["kind"] == "batch"]
    assert steps == list(range(1, len(steps) + 1))


def test_training_lowers_the_dev_error(tiny_dataset, tmp_path):
    cfg = TrainConfig(hidden=16, epochs=8, batch_size=8, optimizer="adam", learning_rate=0.01)
    train(tiny_dataset, cfg, str(tmp_path / "r"), progress=False)
    epochs = [r for r in csv.DictReader(open(tmp_path / "r" / "log.csv")) if r["kind"] == "epoch"]
    base = json.load(open(tmp_path / "r" / "baselines.json"))
    assert float(epochs[-1]["dev_mse"]) < 0.5 * float(epochs[0]["dev_mse"])
    assert float(epochs[-1]["dev_mse"]) < base["zero"]


def run_cli(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


def test_not_a_dataset(capsys, tmp_path, song_wav):
    code, err = run_cli(capsys, "train", song_wav, "-o", str(tmp_path / "r"), "-q")
    assert code == 2 and "not an HDF5 file" in err
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1]
    code, err = run_cli(capsys, "train", str(tmp_path / "other.h5"), "-o", str(tmp_path / "r"), "-q")
    assert code == 2 and "not a Fuel dataset with inputs and targets" in err


@pytest.mark.parametrize("flag, value", [("--hidden", "0"), ("--layers", "-1")])
def test_non_positive_model_sizes(capsys, tiny_dataset, tmp_path, flag, value):
    code, err = run_cli(capsys, "train", tiny_dataset, "-o", str(tmp_path / "r"), flag, value, "-q")
    assert code == 2 and "must be in [1, " in err


def test_unknown_override_is_refused(capsys, tiny_dataset, tmp_path):
    code, err = run_cli(capsys, "train", tiny_dataset, "-o", str(tmp_path / "r"), "--set", "learning_rat=0.1", "-q")
    assert code == 2 and "unknown setting 'learning_rat'" in err


def test_resume_with_another_dataset_or_config(capsys, tiny_dataset, tmp_path, song_wav):
    run = str(tmp_path / "r")
    train(tiny_dataset, TrainConfig(hidden=8, epochs=1, batch_size=16), run, progress=False)
    code, err = run_cli(capsys, "train", tiny_dataset, "--resume", run, "--hidden", "9", "-q")
    assert code == 2 and "settings hidden differ" in err
    assert run_cli(capsys, "train", tiny_dataset, "--resume", run, "--epochs", "2", "-q")[0] == 0  # saved config reused
    other = str(tmp_path / "other.hdf5")
    assert main(["prepare", song_wav, "-F", "8", "-L", "12", "-o", other, "-q"]) == 0
    code, err = run_cli(capsys, "train", other, "--resume", run, "--hidden", "8", "-q")
    assert code == 2 and "another dataset" in err
    code, err = run_cli(capsys, "train", tiny_dataset, "-o", run, "--hidden", "8", "-q")
    assert code == 2 and "already holds a run" in err


def test_resume_of_a_trained_run_whose_last_checkpoint_is_gone_changes_nothing(capsys, tiny_dataset, tmp_path):
    run = tmp_path / "r"
    train(tiny_dataset, TrainConfig(hidden=8, epochs=1, batch_size=16), str(run), progress=False)
    os.remove(run / "last.h5")
    before = {name: (run / name).read_bytes() for name in ("best.h5", "log.csv")}
    code, err = run_cli(capsys, "train", tiny_dataset, "--resume", str(run), "-q")
    assert code == 2 and "last.h5 is missing" in err and len(err.splitlines()) == 1
    assert {name: (run / name).read_bytes() for name in before} == before


def test_corrupted_checkpoint(capsys, tiny_dataset, tmp_path):
    run = tmp_path / "r"
    train(tiny_dataset, TrainConfig(hidden=8, epochs=1, batch_size=16), str(run), progress=False)
    data = (run / "last.h5").read_bytes()
    (run / "last.h5").write_bytes(data[:len(data) // 3])
    code, err = run_cli(capsys, "train", tiny_dataset, "--resume", str(run), "-q")
    assert code == 2 and "corrupted" in err


def test_diverging_loss_stops_and_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path):
    run = tmp_path / "r"
    train(tiny_dataset, TrainConfig(hidden=8, epochs=1, batch_size=16), str(run), progress=False)
    before = (run / "last.h5").read_bytes()
    cfg = TrainConfig(hidden=8, epochs=3, batch_size=16, learning_rate=1e30, step_clip=0.0)
    with pytest.raises(UserError, match=r"diverged: the (loss|update.s norm) became (nan|inf) at step \d+"):
        train(tiny_dataset, cfg, str(tmp_path / "boom"), progress=False)
    assert (run / "last.h5").read_bytes() == before


@pytest.mark.parametrize("content", ["{not json", "[]", '{"train": {}}'])
def test_a_damaged_config_is_one_line_for_resume_and_generate(tiny_dataset, tmp_path, capsys, content):
    run = tmp_path / "run"
    train(tiny_dataset, SMALL, str(run), progress=False)
    (run / "config.json").write_text(content)
    for args in (["train", tiny_dataset, "--resume", str(run)], ["generate", str(run), "-o", str(tmp_path / "x.wav")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "config.json is damaged" in err, err


def test_resume_options_that_conflict_are_refused(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_dataset, SMALL, str(run), progress=False)
    config = (run / "config.json").read_text()
    assert main(["train", tiny_dataset, "--resume", str(run), "-o", str(tmp_path / "other")]) == 2
    assert "name two run folders" in capsys.readouterr().err
    assert main(["train", tiny_dataset, "--resume", str(run), "--epochs", "1"]) == 2
    assert "has trained 2 epochs already; give --epochs 2 or more" in capsys.readouterr().err
    assert (run / "config.json").read_text() == config  # nothing rewritten


def test_a_run_folder_that_is_a_file_is_one_line(tiny_dataset, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["train", tiny_dataset, "-o", str(tmp_path / "afile"), "-q"]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_sigterm_during_startup_is_one_line(tiny_dataset, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "rnnsound", "train", tiny_dataset, "-o", str(tmp_path / "r"), "-q"],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # importing, before any training step
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and err.count("\n") == 1 and "stopped by SIGTERM" in err, err


def test_resume_of_a_run_stopped_before_its_settings_were_saved_says_what_to_do(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("")  # what a run killed during startup leaves
    assert main(["train", tiny_dataset, "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "stopped before its settings were saved" in err and f"-o {run}" in err
    assert main(["train", tiny_dataset, "--resume", str(tmp_path / "typo")]) == 2
    assert "typo does not exist" in capsys.readouterr().err and not (tmp_path / "typo").exists()
