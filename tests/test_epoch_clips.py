"""Clips while training (rnnsound.epoch_clips, `train --sample-every`): one per N epochs, made by
the weights of that epoch, kept by resume, and training's numbers unchanged by them."""
import dataclasses
import os

import numpy as np
import pytest
import soundfile as sf

from rnnsound import checkpoint
from rnnsound.cli import main
from rnnsound.epoch_clips import clip_path
from rnnsound.generator import generate_frames
from rnnsound.prepare import denormalise
from rnnsound.streams import SongDataset, norm_of, read_attrs
from rnnsound.train import train

from test_train import SMALL, _same_run


def expected_clip(dataset, cfg, params, seconds, temperature):
    """The clip a stateful generation from `params` makes: dev example 0, sampling seed 0."""
    attrs = read_attrs(dataset)
    seed = SongDataset(dataset, "dev", attrs=attrs).get([0])[0][0]
    n = int(round(seconds * attrs["sample_rate"]))
    frames = generate_frames(params, cfg, seed, -(-n // attrs["frame_size"]), "stateful", temperature)
    return denormalise(frames.reshape(-1)[:n], norm_of(attrs))


@pytest.mark.parametrize("output, temperature", [("mse", 0.0), pytest.param("gmm", 1.0, marks=pytest.mark.heavy)])
def test_each_clip_is_the_weights_of_its_epoch_and_training_is_unchanged(tiny_dataset, tmp_path, output, temperature):
    cfg = dataclasses.replace(SMALL, epochs=2, output=output)
    train(tiny_dataset, cfg, str(tmp_path / "plain"), progress=False)
    run = tmp_path / "clips"
    train(tiny_dataset, cfg, str(run), progress=False, sample_every=1, sample_seconds=0.25)
    _same_run(tmp_path / "plain", run)
    assert sorted(os.listdir(run / "epoch_clips")) == ["epoch_001.wav", "epoch_002.wav"]
    params = checkpoint.load(str(run / "last.h5"))[0]                      # the weights after epoch 2
    got, rate = sf.read(clip_path(str(run), 2), dtype="float32")
    want = expected_clip(tiny_dataset, cfg, params, 0.25, temperature)
    assert rate == 16000 and len(got) == 4000
    np.testing.assert_allclose(got, np.clip(want, -1, 1), atol=1 / 32767)   # 16-bit PCM
    first = sf.read(clip_path(str(run), 1), dtype="float32")[0]
    assert not np.array_equal(first, got)                                  # epoch 1's weights made another clip


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_every_n_epochs_and_resume_keeps_the_clips(tiny_dataset, tmp_path):
    run = str(tmp_path / "run")
    train(tiny_dataset, dataclasses.replace(SMALL, epochs=4), run, progress=False, sample_every=2, sample_seconds=0.1)
    assert sorted(os.listdir(os.path.join(run, "epoch_clips"))) == ["epoch_002.wav", "epoch_004.wav"]
    before = {n: open(clip_path(run, n), "rb").read() for n in (2, 4)}
    train(tiny_dataset, dataclasses.replace(SMALL, epochs=6), run, resume=True, progress=False, sample_every=2,
          sample_seconds=0.1)
    assert sorted(os.listdir(os.path.join(run, "epoch_clips"))) == ["epoch_002.wav", "epoch_004.wav", "epoch_006.wav"]
    assert all(open(clip_path(run, n), "rb").read() == b for n, b in before.items())


@pytest.mark.parametrize("flags", [["--sample-every", "-1"], ["--sample-every", "1", "--sample-seconds", "0"],
                                   ["--sample-every", "1", "--sample-seconds", "61"]])
def test_bad_clip_settings_are_one_line_and_leave_no_run_folder(capsys, tiny_dataset, tmp_path, flags):
    code = main(["train", tiny_dataset, "-o", str(tmp_path / "run"), "-q", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "--sample-every" in err and not (tmp_path / "run").exists()
