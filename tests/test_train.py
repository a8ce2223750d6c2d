"""`rnnsound train` end to end: the run folder, resume, and bad input."""
import csv
import json
import os

import h5py
import numpy as np
import pytest

from rnnsound import checkpoint
from rnnsound.cli import main
from rnnsound.config import TrainConfig
from rnnsound.errors import Interrupted, UserError
from rnnsound.network import Network
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


def test_resume_after_interruption_equals_an_uninterrupted_run(tiny_dataset, tmp_path, monkeypatch):
    train(tiny_dataset, SMALL, str(tmp_path / "whole"), progress=False)
    calls = {"n": 0}
    real_step = Network.train_step

    def interrupt_at_5(self, *a):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(self, *a)

    monkeypatch.setattr(Network, "train_step", interrupt_at_5)
    with pytest.raises(Interrupted, match="interrupted at step 4"):
        train(tiny_dataset, SMALL, str(tmp_path / "split"), progress=False)
    monkeypatch.setattr(Network, "train_step", real_step)
    train(tiny_dataset, SMALL, str(tmp_path / "split"), resume=True, progress=False)
    a, _, meta_a = checkpoint.load(str(tmp_path / "whole" / "last.h5"))
    b, _, meta_b = checkpoint.load(str(tmp_path / "split" / "last.h5"))
    assert meta_a["step"] == meta_b["step"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    logs = [[(r["kind"], r["step"], r["train_mse"], r["dev_mse"]) for r in csv.DictReader(open(tmp_path / d / "log.csv"))]
            for d in ("whole", "split")]
    assert logs[0] == logs[1]


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
    assert code == 2 and "not a prepared rnnsound dataset" in err


@pytest.mark.parametrize("flag, value", [("--hidden", "0"), ("--layers", "-1")])
def test_non_positive_model_sizes(capsys, tiny_dataset, tmp_path, flag, value):
    code, err = run_cli(capsys, "train", tiny_dataset, "-o", str(tmp_path / "r"), flag, value, "-q")
    assert code == 2 and "must be a positive integer" in err


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
    with pytest.raises(UserError, match=r"diverged: the loss became (nan|inf) at step \d+"):
        train(tiny_dataset, cfg, str(tmp_path / "boom"), progress=False)
    assert (run / "last.h5").read_bytes() == before
