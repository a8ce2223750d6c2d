"""A run folder's paths (rnnsound.rundir.RunFolder)."""
import os

from rnnsound.rundir import RunFolder, sweep_run


def test_a_run_folder_is_named_by_its_folder_however_it_is_given(tmp_path, monkeypatch):
    run = tmp_path / "gru"
    run.mkdir()
    monkeypatch.chdir(run)
    assert RunFolder(".").name == RunFolder(str(run) + os.sep).name == RunFolder(str(run)).name == "gru"
    assert sweep_run("out", "frame_size=40").name == "frame_size=40"
    assert RunFolder("r").attempts == os.path.join("r", "attempts.json")
