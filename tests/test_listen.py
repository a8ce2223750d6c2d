"""Listening pages (rnnsound.listen): a sweep's and a run's index.html, and docs/listen.html, played
in a real browser (headless Chromium): every player loads with its clip's duration, every
picture loads, and the console stays silent."""
import json
import os

import pytest
import soundfile as sf

from rnnsound.cli import main
from rnnsound.sweeps import Sweep, run_sweep

from browser import check_page, chromium
from conftest import chord

pytestmark = pytest.mark.heavy  # a sweep trained for its pages, and Chromium
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWO = Sweep(name="two", title="Two runs", base={"hidden": 4, "batch_size": 32},
            variants=({"frame_size": 8, "seq_len": 10}, {"frame_size": 16, "seq_len": 5}))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("listen")
    sf.write(folder / "chord.wav", chord(3.0), 16000, subtype="PCM_16")
    out = str(folder / "sweep")
    run_sweep(TWO, out, song=str(folder / "chord.wav"), epochs=1, clip_seconds=0.5, progress=False, sample_every=1)
    return out


def _clips(out):
    found = {}
    for run in sorted(os.listdir(os.path.join(out, "runs"))):
        samples = os.path.join(out, "runs", run, "samples")
        for name in os.listdir(samples):
            if name.endswith(".metrics.json"):
                found[f"runs/{run}/samples/{name[:-13]}.wav"] = json.load(open(os.path.join(samples, name)))["seconds"]
    return found


def test_a_sweeps_page_plays_every_clip_and_the_song_in_a_browser(sweep):
    page = os.path.join(sweep, "index.html")
    text = open(page).read()
    assert "http" not in text.replace("http-equiv", "") and "<script src" not in text   # nothing from a network
    result = check_page(page)
    played = dict(result["audio"])
    clips = _clips(sweep)
    assert len(clips) == 4 and set(clips) <= set(played) and {"song/seed.wav", "song/song.wav"} <= set(played)
    for src, seconds in clips.items():
        assert abs(played[src] - seconds) < 0.01, src
    assert played["song/song.wav"] > 1 and all(width > 0 for _, width in result["images"])
    epoch_clips = [f"runs/{run}/epoch_clips/epoch_001.wav" for run in os.listdir(os.path.join(sweep, "runs"))]
    assert all(abs(played[src] - 3.0) < 0.01 for src in epoch_clips)           # a sweep's --sample-every
    assert len(result["images"]) == 5 and result["console"] == []               # curves and four clip pictures


def test_a_missing_clip_is_a_gap_on_the_page_not_an_error(sweep, capsys):
    os.remove(os.path.join(sweep, "runs", "frame_size=8_seq_len=10", "samples", "blog.wav"))
    assert main(["report", sweep]) == 0
    text = open(os.path.join(sweep, "index.html")).read()
    assert "clip missing: runs/frame_size=8_seq_len=10/samples/blog.wav" in text
    assert "listening page" in capsys.readouterr().out


def test_a_run_folders_page(sweep, capsys):
    run = os.path.join(sweep, "runs", "frame_size=16_seq_len=5")
    assert main(["report", run]) == 0 and "listening page" in capsys.readouterr().out
    result = check_page(os.path.join(run, "index.html"))
    assert sorted(src for src, _ in result["audio"]) == ["epoch_clips/epoch_001.wav", "samples/blog.wav",
                                                          "samples/stateful.wav", "song/seed.wav", "song/song.wav"]
    assert all(seconds > 0 for _, seconds in result["audio"]) and result["console"] == []


def test_report_on_a_folder_without_runs_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds no sweep" in err and "\n" not in err


def test_the_docs_listening_page_plays_every_committed_excerpt():
    page = os.path.join(HERE, "docs", "listen.html")
    result = check_page(page)
    assert len(result["audio"]) >= 10 and all(seconds > 1 for _, seconds in result["audio"]), result["audio"]
    assert result["console"] == []


def test_chromium_is_installed():
    """.ci/run installs Debian's chromium: without it the browser checks above cannot run."""
    assert chromium(), "install Debian's chromium (apt-get install chromium), as .ci/run does"


def test_a_run_trained_with_clips_plays_them_in_epoch_order(tiny_dataset, tmp_path):
    from rnnsound.config import TrainConfig
    from rnnsound.listen import run_page
    from rnnsound.train import train
    run = str(tmp_path / "run")
    train(tiny_dataset, TrainConfig(hidden=4, batch_size=32, epochs=3), run, progress=False, sample_every=1,
          sample_seconds=0.5)
    result = check_page(run_page(run))
    clips = [(src, seconds) for src, seconds in result["audio"] if src.startswith("epoch_clips/")]
    assert [src for src, _ in clips] == [f"epoch_clips/epoch_00{e}.wav" for e in (1, 2, 3)]
    assert all(abs(seconds - 0.5) < 0.01 for _, seconds in clips) and result["console"] == []
