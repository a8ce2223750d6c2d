"""Sweeps: two tiny runs end to end, skipping on rerun, infeasible pairs recorded; baselines by hand."""
import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf

from rnnsound import baselines
from rnnsound.cli import main
from rnnsound.config import DataConfig
from rnnsound.prepare import prepare
from rnnsound.streams import SongDataset
from rnnsound.sweeps import Sweep, run_sweep

from conftest import chord

# hidden 4, batch 32 as in the other sweeps of this file: their (8, 10) and (16, 5) runs compile
# the same graphs, which the test run's XLA cache (conftest) then loads instead of compiling
TINY = Sweep(name="tiny", title="Tiny sweep", base={"hidden": 4, "batch_size": 32},
             variants=({"frame_size": 8, "seq_len": 10}, {"frame_size": 16, "seq_len": 5},
                       {"frame_size": 1000, "seq_len": 100}))


@pytest.mark.heavy
def test_sweep_runs_reports_and_skips_finished_runs(tmp_path, song_wav, capsys):
    out = str(tmp_path / "sweep")
    run_sweep(TINY, out, song=song_wav, epochs=1, clip_seconds=0.1, progress=True)
    for name in ("results.csv", "results.md", "curves.png", "summary.png", "sweep.json"):
        assert os.path.exists(os.path.join(out, name)), name
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert [r["status"] for r in rows] == ["done", "done", "infeasible"]
    assert "too short" in rows[2]["reason"] and "--seq-len" in rows[2]["reason"]
    assert rows[0]["F"] == "8" and int(rows[0]["updates"]) > 0 and float(rows[0]["best dev"]) > 0
    table = open(os.path.join(out, "results.md")).read()
    assert "frame_size=8_seq_len=10" in table and "infeasible" in table
    capsys.readouterr()
    mtime = os.path.getmtime(os.path.join(out, "runs", "frame_size=8_seq_len=10", "last.h5"))
    run_sweep(TINY, out, song=song_wav, epochs=1, clip_seconds=0.1, progress=True)
    assert capsys.readouterr().out.count("finished earlier: skipped") == 3
    assert os.path.getmtime(os.path.join(out, "runs", "frame_size=8_seq_len=10", "last.h5")) == mtime
    os.remove(os.path.join(out, "results.md"))
    assert main(["report", out]) == 0 and os.path.exists(os.path.join(out, "results.md"))
    # --remeasure: the same audio from the same checkpoint, measured again into the summary
    run = os.path.join(out, "runs", "frame_size=8_seq_len=10")
    clip = sf.read(os.path.join(run, "samples", "stateful.wav"))[0]
    summary = json.load(open(os.path.join(run, "summary.json")))
    del summary["stateful"]["end_level_db"]
    json.dump(summary, open(os.path.join(run, "summary.json"), "w"))
    assert main(["report", out, "--remeasure"]) == 0
    assert "generated and measured again" in capsys.readouterr().out
    np.testing.assert_array_equal(sf.read(os.path.join(run, "samples", "stateful.wav"))[0], clip)
    again = json.load(open(os.path.join(run, "summary.json")))
    assert "end_level_db" in again["stateful"] and again["clips"] == summary["clips"] and again["clips_commit"]


def test_a_serial_sweep_whose_runs_all_diverge_records_each_failure_and_reports(tmp_path, song_wav, capsys):
    out = str(tmp_path / "boom")
    run_sweep(TINY, out, song=song_wav, epochs=1, clip_seconds=0.1, progress=True,
              extra={"learning_rate": 1e30, "step_clip": 0.0})
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert [r["status"] for r in rows] == ["failed", "failed", "infeasible"]
    assert all("diverged" in r["reason"] for r in rows[:2])
    for name in ("frame_size=8_seq_len=10", "frame_size=16_seq_len=5"):
        failed = json.load(open(os.path.join(out, "runs", name, "failed.json")))
        assert failed["status"] == "failed" and failed["overrides"]["learning_rate"] == 1e30
    assert capsys.readouterr().out.count("failed: training diverged") == 2


def test_unknown_override_fails_before_any_work(tmp_path, song_wav):
    from rnnsound.errors import UserError
    with pytest.raises(UserError, match="unknown setting"):
        run_sweep(TINY, str(tmp_path / "s"), song=song_wav, epochs=1, extra={"hiden": "8"}, progress=False)
    assert not os.path.exists(tmp_path / "s" / "runs")


def test_baselines_match_hand_computed_values_on_a_tone(tmp_path):
    import soundfile as sf
    rate = 16000
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * rate) / rate)
    sf.write(tmp_path / "tone.wav", tone, rate, subtype="FLOAT")
    path = str(tmp_path / "tone.hdf5")
    prepare(str(tmp_path / "tone.wav"), path, DataConfig(frame_size=20, seq_len=10, train_fraction=0.7), progress=False)
    train, dev = SongDataset(path, "train"), SongDataset(path, "dev")
    b = baselines.evaluate(train, dev)
    x, y = dev.get(np.arange(dev.num_examples))
    assert b["zero"] == pytest.approx(np.mean(y.astype(np.float64) ** 2), rel=1e-6)
    assert b["last_frame"] == pytest.approx(np.mean((y.astype(np.float64) - x) ** 2), rel=1e-6)
    assert b["linear"] < 1e-6 * b["zero"]  # a sine's next samples are a linear function of the current ones


def _prepared(tmp_path, name, x, F=20, L=10):
    rate = 16000
    sf.write(tmp_path / f"{name}.wav", x, rate, subtype="FLOAT")
    path = str(tmp_path / f"{name}.hdf5")
    prepare(
        str(tmp_path / f"{name}.wav"), path, DataConfig(frame_size=F, seq_len=L, train_fraction=0.7), progress=False
    )
    return SongDataset(path, "train"), SongDataset(path, "dev")


def test_lpc_contexts_are_the_samples_before_each_target(tmp_path):
    """Each target sample's context is the song's LPC_ORDER samples just before it."""
    ramp = np.arange(16000) / 16000 - 0.5
    train, _ = _prepared(tmp_path, "ramp", ramp, F=20, L=10)
    context, target = next(baselines._lpc_rows(train, np.array([3]), 16, 1))
    x, y = train.get([3])
    assert np.array_equal(target, y.reshape(-1)) and context.shape == (200, 16)
    song = np.concatenate([x[0, 0], y.reshape(-1)])                     # the window: inputs' first frame, targets
    for j in (0, 7, 199):
        np.testing.assert_array_equal(context[j], song[20 + j - 16:20 + j])


def test_lpc_bits_are_near_zero_for_a_tone_and_the_level_entropy_for_noise(tmp_path):
    from rnnsound.heads import mulaw_encode
    t = np.arange(3 * 16000) / 16000
    tone_train, tone_dev = _prepared(tmp_path, "tone", 0.5 * np.sin(2 * np.pi * 440 * t))
    assert baselines.lpc_bits(tone_train, tone_dev) < 0.5            # a sinusoid is a 2-tap linear recurrence
    noise_train, noise_dev = _prepared(tmp_path, "noise", np.random.default_rng(0).standard_normal(len(t)) * 0.1)
    levels = mulaw_encode(noise_dev.get(np.arange(noise_dev.num_examples))[1].reshape(-1))
    p = np.bincount(levels, minlength=256) / len(levels)
    entropy = -np.sum(p[p > 0] * np.log2(p[p > 0]))                   # the best any predictor of noise can do
    assert entropy <= baselines.lpc_bits(noise_train, noise_dev) < entropy + 0.1


@pytest.mark.heavy
def test_runs_that_differ_in_a_data_setting_do_not_share_a_dataset(tmp_path, song_wav):
    from rnnsound.streams import read_attrs
    sweep = Sweep(name="norm", title="Normalisation",
                  base={"hidden": 4, "batch_size": 32, "frame_size": 8, "seq_len": 10},
                  variants=({"normalisation": "minmax"}, {"normalisation": "stdev"}))
    out = tmp_path / "s"
    run_sweep(sweep, str(out), song=song_wav, epochs=1, clip_seconds=0.1, progress=False)
    files = sorted(f for f in os.listdir(out / "data") if f.endswith(".hdf5"))
    assert len(files) == 2 and len(os.listdir(out / "data" / "songs")) == 2  # the song stored once per normalisation
    assert sorted(read_attrs(str(out / "data" / f))["normalisation"] for f in files) == ["minmax", "stdev"]


@pytest.mark.heavy
def test_a_sweep_stores_its_song_once_and_knows_a_changed_song_by_its_content(tmp_path):
    from rnnsound.errors import UserError
    path = tmp_path / "song.wav"
    sf.write(path, chord(3.0), 16000, subtype="PCM_16")
    sweep = Sweep(name="pairs", title="Pairs", base={"hidden": 4, "batch_size": 32},
                  variants=({"frame_size": 8, "seq_len": 10}, {"frame_size": 16, "seq_len": 5}))
    out = tmp_path / "s"
    run_sweep(sweep, str(out), song=str(path), epochs=1, clip_seconds=0.1, progress=False)
    assert len([f for f in os.listdir(out / "data") if f.endswith(".hdf5")]) == 2
    assert len(os.listdir(out / "data" / "songs")) == 1
    sf.write(path, chord(3.0, amp=0.25), 16000, subtype="PCM_16")  # the same file name, other content
    with pytest.raises(UserError, match=r"other settings \(song .*sha256 .* -> .*sha256"):
        run_sweep(sweep, str(out), song=str(path), epochs=1, clip_seconds=0.1, progress=False)


@pytest.mark.heavy
def test_a_rerun_with_other_settings_is_refused_not_relabelled(tmp_path, song_wav, capsys):
    from rnnsound.errors import UserError
    sweep = Sweep(name="one", title="One", base={"hidden": 4, "batch_size": 32},
                  variants=({"frame_size": 8, "seq_len": 10},))
    out = str(tmp_path / "s")
    run_sweep(sweep, out, song=song_wav, epochs=1, clip_seconds=0.1, progress=False)
    before = open(os.path.join(out, "results.md")).read()
    with pytest.raises(UserError, match=r"other settings \(epochs 1 -> 2, hidden 4 -> 8\)"):
        run_sweep(sweep, out, song=song_wav, epochs=2, extra={"hidden": 8}, progress=False)
    other = tmp_path / "other.wav"
    other.write_bytes(open(song_wav, "rb").read())
    with pytest.raises(UserError, match="song .* -> .*other.wav"):
        run_sweep(sweep, out, song=str(other), epochs=1, progress=False)
    assert open(os.path.join(out, "results.md")).read() == before
    run_sweep(sweep, out, song=song_wav, epochs=1, clip_seconds=0.1, progress=True)  # the same settings: skipped
    assert "finished earlier: skipped" in capsys.readouterr().out


def test_blog_clips_are_whole_up_to_l_100_and_within_budget_beyond():
    from rnnsound.config import TrainConfig
    from rnnsound.generator import uses_lanes
    from rnnsound.sweeps.run import BLOG_BUDGET, SAMPLE_STEP_COST, blog_frames
    for cfg in (TrainConfig(), TrainConfig(recur_axis="batch"), TrainConfig(output="tier")):
        for F in (40, 50, 100, 800, 1000, 4000, 40000):
            for L in (50, 100, 1000, 4000, 10000):
                n = -(-30 * 16000 // F)
                got = blog_frames(cfg, F, L, n)
                assert 1 <= got <= n
                if L <= 100 and cfg.recur_axis == "time" and cfg.output != "tier":
                    assert got == n, (F, L)
                cost = (got + L - 1) * L if uses_lanes(cfg, L, got) else got * L
                cost *= 1 + SAMPLE_STEP_COST * F if cfg.output == "tier" else 1
                assert got == 1 or cost <= BLOG_BUDGET["lanes" if uses_lanes(cfg, L, got) else "one"], (F, L)
    assert blog_frames(TrainConfig(output="tier"), 40, 100, 12000) == 401      # 1 s at 16 kHz
