"""Every script of benchmarks/, tools/ and experiments/ still starts: its --help runs and prints its
usage, so none rots unseen when the library under it changes."""
import glob
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(HERE, d, "*.py")) for d in ("benchmarks", "tools", "experiments"))
SCRIPTS = [p for group in SCRIPTS for p in group if os.path.basename(p) != "ab.py"]  # ab.py: the A/B scripts' helpers


@pytest.mark.heavy
@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_every_script_answers_help(script):
    done = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=120, cwd=HERE)
    assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stderr[-500:]
