"""Resume equality under fire: a training run interrupted many times at random moments with SIGINT,
SIGTERM or kill -9 and resumed each time ends with every array of its last.h5 (parameters and
optimiser state) and every row of its log equal to an uninterrupted run's.

A fifth of the signals land during startup (a random 0.3-4 s), the rest after a random number of
further training steps. Marked slow (a few minutes: every start compiles): `pytest -m slow
tests/test_resume_stress.py`; STRESS_INTERRUPTS sets how many interrupts (default 12).
"""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from rnnsound import checkpoint
from rnnsound.files import read_csv

from conftest import chord

pytestmark = pytest.mark.slow
MAX_STEPS = 15  # most training steps before an interrupt


def train_cmd(data, run, resume):
    where = ["--resume", run] if resume else ["-o", run]
    return [sys.executable, "-m", "rnnsound", "train", data, *where, "--hidden", "16", "--batch-size", "16",
            "--epochs", "3", "-q"]


def interrupt_once(rng, data, run):
    """Start the run (or resume it), interrupt it at a random moment: (signal name, exit status), or
    None when it finished first."""
    log = os.path.join(run, "log.csv")
    rows_before = len(read_csv(log))
    resume = os.path.exists(os.path.join(run, "config.json"))  # before that, the command that created it
    proc = subprocess.Popen(train_cmd(data, run, resume), stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    if rng.random() < 0.2:  # during startup (imports, compiling, baselines)
        target, deadline = None, t0 + rng.uniform(0.3, 4.0)
    else:
        target, deadline = rows_before + rng.randint(1, MAX_STEPS), t0 + 600
    while proc.poll() is None and time.time() < deadline and (target is None or len(read_csv(log)) < target):
        time.sleep(0.01)
    if proc.poll() is not None:
        assert proc.returncode == 0, proc.stderr.read()
        return None
    sig = rng.choice((signal.SIGINT, signal.SIGTERM, signal.SIGKILL))
    proc.send_signal(sig)
    proc.communicate()
    return sig.name, proc.returncode


def test_many_random_interrupts_and_resumes_equal_an_uninterrupted_run(tmp_path):
    sf.write(tmp_path / "chord.wav", chord(20.0), 16000)  # ~130 steps: room for a dozen interrupts
    data, whole, split = str(tmp_path / "d.hdf5"), str(tmp_path / "whole"), str(tmp_path / "split")
    subprocess.run([sys.executable, "-m", "rnnsound", "prepare", str(tmp_path / "chord.wav"), "-F", "40", "-L", "10",
                    "-o", data, "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(train_cmd(data, whole, False), check=True, stdout=subprocess.DEVNULL)
    rng, interrupts = random.Random(0), []
    for _ in range(int(os.environ.get("STRESS_INTERRUPTS", 12))):
        got = interrupt_once(rng, data, split)
        if got is None:
            break
        interrupts.append(got)
    subprocess.run(train_cmd(data, split, os.path.exists(os.path.join(split, "config.json"))), check=True,
                   stdout=subprocess.DEVNULL)  # to the end
    print(f"{len(interrupts)} interrupts:", ", ".join(f"{name} -> {code}" for name, code in interrupts))
    assert len(interrupts) >= 5 and all(code in (130, 143, -9) for _, code in interrupts), interrupts
    a_params, a_opt, a_meta = checkpoint.load(os.path.join(whole, "last.h5"))
    b_params, b_opt, b_meta = checkpoint.load(os.path.join(split, "last.h5"))
    assert a_meta["step"] == b_meta["step"]
    for a, b in ((a_params, b_params), (a_opt, b_opt)):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    rows = [[(r["kind"], r["step"], r["train_mse"], r["dev_mse"]) for r in read_csv(os.path.join(d, "log.csv"))]
            for d in (whole, split)]
    assert rows[0] == rows[1]
