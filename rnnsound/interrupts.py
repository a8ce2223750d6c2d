"""Stopping long work cleanly: SIGINT and SIGTERM deferred to a safe point, and one writer per folder.

`Deferred()` is a context manager for a loop that must stop only between two of its steps (a
training step whose update was applied but not yet counted must never be saved): while it is
active, SIGINT (Ctrl-C) and SIGTERM (what Slurm sends at walltime or preemption, and `kill`'s
default) only record that they arrived; the loop asks `stop.signal_name` after each step and
saves. A second signal while saving is recorded the same way, so it cannot cut the save short.
Outside the main thread (where Python cannot install handlers) it does nothing.

`FolderLock(folder)` holds an exclusive `flock` on `folder/.lock` for as long as a run writes
there; the kernel releases it when the process ends, however it ends, so a killed run never
leaves it stuck. The lock file names its holder (pid and host) for the refusal message.
"""
import fcntl
import os
import signal
import socket
import threading
import time

from .errors import UserError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_now(signum, frame):
    """The command line's handler of SIGINT and SIGTERM where nothing is being saved (startup,
    decoding, generation; training's loop and prepare's write phase defer signals and save or clean
    up themselves): stop at once with one line. Unwinding an exception through JAX's or HDF5's C++
    could crash; every output is written to a temporary and renamed, so none is left partial (a
    stray temporary goes with the next write)."""
    os.write(2, f"rnnsound: stopped by {signal.Signals(signum).name}; nothing was being saved, and every "
                "existing output is untouched\n".encode())
    os._exit(128 + signum)


class Deferred:
    def __init__(self):
        self.signum = None
        self._previous = {}

    def _record(self, signum, frame):
        self.signum = self.signum or signum

    @property
    def signal_name(self):
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_code(self):
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._record)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
        return False


def wait_while_locked(folder, poll_seconds=5.0):
    """Return once no process holds `folder`'s lock (FolderLock), polling every `poll_seconds`."""
    path = os.path.join(folder, ".lock")
    while os.path.exists(path):
        with open(path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return  # free: closing the file releases it at once
            except BlockingIOError:
                pass
        time.sleep(poll_seconds)


class FolderLock:
    def __init__(self, folder, what="run folder"):
        self.path, self.folder, self.what = os.path.join(folder, ".lock"), folder, what
        self.file = None

    def __enter__(self):
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise UserError(f"{self.what} {self.folder} is in use by {holder}; wait for it to finish, stop it, "
                            "or choose another folder")
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()} on {socket.gethostname()}")
        self.file.flush()
        return self

    def __exit__(self, *exc):
        self.file.close()  # closing releases the lock
        return False
