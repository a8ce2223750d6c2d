"""Her scale: plans counted from the split arithmetic, measured without training, her grid as data."""
import csv
import importlib.util
import math
import os

import numpy as np
import pytest

from rnnsound.song import as_song
from rnnsound.sweeps import plan
from rnnsound.config import BLOG_TRAIN_FRACTION
from rnnsound.default_song import BLOG_SAMPLES, EmbeddedSong
from rnnsound.sweeps import Sweep, run_sweep
from rnnsound.sweeps.spec import run_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_experiment(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "experiments", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FixedTimes:
    """Stands in for measured step times where a test is about counts, not seconds."""

    def get(self, F, tcfg):
        return 1e-6, 1.0


def test_blog_grid_holds_every_pair_once_and_marks_her_committed_ones():
    grid = load_experiment("blog_grid")
    pairs = [(v["frame_size"], v["seq_len"]) for v in grid.SWEEP.variants]
    assert len(pairs) == len(set(pairs)) == 7 * 5 + 3
    assert {(F, L) for F in (40, 50, 100, 800, 1000, 4000, 40000) for L in (50, 100, 1000, 4000, 10000)} <= set(pairs)
    names = {run_name(v) for v in grid.SWEEP.variants}
    assert set(grid.SWEEP.marked) <= names and len(grid.SWEEP.marked) == 7


def test_plan_counts_at_her_length_are_her_counts_and_infeasible_exactly_where_dev_cannot_hold_one():
    grid = load_experiment("blog_grid")
    n = EmbeddedSong("ambient", BLOG_SAMPLES).num_samples()
    assert n == 174_229_537
    rows = {(r["frame_size"], r["seq_len"]): r for r in
            (plan.plan_run(run_name(v), {"epochs": 30, **v}, n, FixedTimes()) for v in grid.SWEEP.variants)}
    assert (rows[1000, 100]["train_examples"], rows[1000, 100]["dev_examples"], rows[1000, 100]["updates"]) == (
        1600,
        142,
        390,
    )
    assert (rows[4000, 50]["train_examples"], rows[4000, 50]["dev_examples"], rows[4000, 50]["updates"]) == (
        800,
        71,
        210,
    )
    p = round(BLOG_TRAIN_FRACTION * n)
    for (F, L), r in rows.items():
        dev_fits = n - (p + F) >= (L + 1) * F        # the dev segment starts one frame after train's inputs end
        train_fits = p >= L * F
        assert (r["status"] == "feasible") == (dev_fits and train_fits), (F, L)
        if r["status"] == "feasible":
            assert r["updates"] == 30 * math.ceil(r["train_examples"] / 128)
        else:
            assert "too short" in r["reason"] and r["updates"] == 0


def test_schedule_puts_longest_jobs_first_on_the_least_loaded_worker():
    assert plan.schedule([1, 1, 1, 1, 4], 2) == 4  # in the given order it would be 5: (1, 1, 4) and (1, 1)
    assert plan.schedule([5, 4, 3, 3, 3], 2) == 10  # a heuristic: the best is 9, LPT is within 4/3 of it
    assert plan.schedule([7, 1], 4) == 7 and plan.schedule([2, 2, 2], 1) == 6


def test_song_length_comes_from_the_header_resampled(tmp_path):
    import soundfile as sf
    path = str(tmp_path / "s.wav")
    sf.write(path, np.zeros((44100 * 3 + 7, 2)), 44100)
    from rnnsound.audio import resample
    assert as_song(path).num_samples(16000) == len(resample(np.zeros(44100 * 3 + 7, np.float32), 44100, 16000, False))
    assert as_song(None).num_samples(16000) == EmbeddedSong().num_samples(16000) == 3_303_226


TINY = Sweep(name="tiny_grid", title="Tiny grid", base={"hidden": 8, "batch_size": 16},
             variants=({"frame_size": 8, "seq_len": 10}, {"frame_size": 16, "seq_len": 5},
                       {"frame_size": 2000, "seq_len": 100}),
             marked=("frame_size=16_seq_len=5",), mark="her code")


def test_plan_trains_nothing_writes_no_dataset_and_caches_its_measurements(tmp_path, song_wav, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "out"
    rows = plan.plan_sweep(TINY, str(out), song_wav, epochs=2)
    assert sorted(os.listdir(out)) == ["plan.csv"]  # no runs/, no data/
    with open(out / "plan.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == plan.FIELDS
    assert [r["status"] for r in written] == ["feasible", "feasible", "infeasible"]
    assert all(float(r["est_seconds"]) > 0 and float(r["est_peak_gb"]) > 0 for r in written[:2])
    assert written[2]["frame_size"] == "2000" and written[2]["seq_len"] == "100" and "too short" in written[2]["reason"]
    printed = capsys.readouterr().out
    assert "timing a training step at F=8" in printed and "(her code)" in printed and "serially" in printed
    cache = tmp_path / "cache" / "rnnsound" / "step_times.json"
    assert cache.exists()
    again = plan.plan_sweep(TINY, str(out), song_wav, epochs=2)  # from the cache: the same estimates, no timing
    assert "timing" not in capsys.readouterr().out
    assert [r["est_seconds"] for r in again] == [r["est_seconds"] for r in rows]


@pytest.mark.heavy
def test_a_tiny_grid_runs_marks_its_pairs_lists_planned_runs_and_rerun_skips(tmp_path, song_wav, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = str(tmp_path / "grid")
    plan.plan_sweep(TINY, out, song_wav, epochs=1, progress=False)
    run_sweep(TINY, out, song=song_wav, epochs=1, clip_seconds=0.2, progress=False, only="frame_size=8_*")
    table = open(os.path.join(out, "results.md")).read()
    assert "| her code |" in table
    assert "frame_size=16_seq_len=5 | planned: est." in table  # not run yet: the plan's estimate
    run_sweep(TINY, out, song=song_wav, epochs=1, clip_seconds=0.2, progress=False)
    with open(os.path.join(out, "results.csv"), newline="") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert [rows[n]["status"] for n in rows] == ["done", "done", "infeasible"]
    assert rows["frame_size=16_seq_len=5"]["her code"] == "yes" and rows["frame_size=8_seq_len=10"]["her code"] == ""
    assert float(rows["frame_size=8_seq_len=10"]["step norm"]) > 0
    capsys.readouterr()
    run_sweep(TINY, out, song=song_wav, epochs=1, clip_seconds=0.2, progress=True)
    assert capsys.readouterr().out.count("finished earlier: skipped") == 3


def test_only_must_match_a_run(tmp_path, song_wav):
    from rnnsound.errors import UserError
    with pytest.raises(UserError, match="matches none"):
        run_sweep(TINY, str(tmp_path / "s"), song=song_wav, epochs=1, only="frame_size=9*", progress=False)


def test_experiment_plan_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from rnnsound.sweeps import main as sweep_main

    assert (
        sweep_main(
            TINY, ["--plan", "--out", str(tmp_path / "p"), "--minutes", "0.5", "--style", "ambient", "--epochs", "1"]
        )
        == 0
    )
    assert "480000 samples" in capsys.readouterr().out
    assert sweep_main(TINY, ["--plan", "--out", str(tmp_path / "p"), "--minutes", "-3"]) == 2
    assert "--minutes must be" in capsys.readouterr().err


def test_an_out_folder_that_is_a_file_is_one_line(tmp_path, capsys):
    from rnnsound.sweeps import main as sweep_main
    (tmp_path / "afile").write_text("x")
    for out in ("afile", "afile/x"):
        assert sweep_main(TINY, ["--plan", "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--out" in err
