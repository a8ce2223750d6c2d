"""Every script of benchmarks/, tools/ and experiments/ still starts: its --help runs and prints its
usage, so none rots unseen when the library under it changes."""
import glob
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(HERE, d, "*.py")) for d in ("benchmarks", "tools", "experiments"))
SCRIPTS = [p for group in SCRIPTS for p in group if os.path.basename(p) != "ab.py"]  # ab.py: the benchmarks' helpers


@pytest.mark.heavy
@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_every_script_answers_help(script):
    done = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=120, cwd=HERE)
    assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stderr[-500:]


# A tiny run of each benchmark that can make one in seconds: the code under --help runs too. Left to
# --help alone: train_step.py (needs PyTorch, the `bench` extra), streaming.py (prepares her-length
# data), campaign_throughput.py (whole sweeps), epoch_clips.py and generate_memory.py (train first).
TINY_RUNS = {
    "compile_time.py": ["--cells", "gru", "--frames", "8", "--repeats", "1"],
    "generate_speed.py": ["--frames", "40", "--modes", "stateful", "--seconds", "0.25", "--repeats", "1",
                          "--lanes-only"],
    "profile_step.py": ["--frames", "40", "--repeats", "1"],
    "fold_input_map.py": ["--cell", "gru", "--frames", "40", "--repeats", "1"],
    "song_store.py": ["--out", "{tmp}", "--minutes", "3"],  # the shortest song (4000, 50) fits
}


@pytest.mark.heavy
@pytest.mark.parametrize("script, args", TINY_RUNS.items(), ids=list(TINY_RUNS))
def test_benchmarks_make_a_tiny_run(script, args, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path / "out")) for a in args]
    done = subprocess.run([sys.executable, os.path.join(HERE, "benchmarks", script), *argv], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr[-800:]
