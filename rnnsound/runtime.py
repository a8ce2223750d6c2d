"""Process-wide settings every entry point applies once (PyTensor's float type, known warnings,
a `UserError` as one line and an exit status), and what a result records about where it was
made: the machine and the code's commit."""
import os
import platform
import subprocess
import sys
import warnings

import pytensor

from . import __version__
from .atomic import is_disk_full
from .errors import UserError


def use_float32():
    """Graphs are float32 throughout: PyTensor's constants and shared variables follow floatX."""
    pytensor.config.floatX = "float32"


def quiet_known_warnings():
    """Hide two harmless warnings of PyTensor's JAX backend from command-line users: JAX runs in
    float32 (PyTensor's float64 accumulators are truncated) and shape assertions are not traced."""
    warnings.filterwarnings("ignore", message="Explicitly requested dtype float64", category=UserWarning)
    warnings.filterwarnings("ignore", message="Skipping Assert", category=UserWarning)


def exit_status(prog, command, *args):
    """Run `command(*args)`; a `UserError` (or a disk that filled up) becomes one line on stderr
    and its exit status (2; 130/143 after a signal), anything else keeps its traceback."""
    try:
        command(*args)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        if not is_disk_full(e):
            raise
        print(f"{prog}: error: the disk filled up while writing ({e.filename or 'an output file'}); nothing "
              "partial was kept; free some space and run the command again", file=sys.stderr)
        return 2
    return 0


def machine():
    """The CPU model, its widest vector unit and its cores, e.g. 'AMD EPYC (AVX-512) x2': results
    and step timings name it (AVX2 and AVX-512 machines of one model differ in speed)."""
    model, flags = platform.processor(), set()
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), model)
        flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    return f"{model}{f' ({vector})' if vector else ''} x{os.cpu_count()}"


def code_version():
    """The git commit of the rnnsound code running (with '+changes' when its tree differs from it),
    or the package version outside a git checkout."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no", "--", "rnnsound"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"rnnsound {__version__}"
    return commit + ("+changes" if changed else "")
