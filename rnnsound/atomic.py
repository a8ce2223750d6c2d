"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash, Ctrl-C or an error half-way never leaves a truncated file at the target path,
and an existing file there stays intact until the new one is complete. A kill -9 can leave the
hidden temporary behind; the next successful write of the same target removes it.
"""
import contextlib
import errno
import os
import shutil
import tempfile

from .errors import UserError


def check_writable(path):
    """Fail early, with one line, when `path` cannot be created (before any long work)."""
    parent = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path) or path.endswith(os.sep):
        raise UserError(f"output path {path} names a folder; give a file name")
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create folder {parent} for {path} ({e.strerror}); choose another output path")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write to folder {parent}; choose another output path")
    try:  # the permission bits can say yes where no file can be made (/proc, a read-only mount as root)
        fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror}); choose another output path")
    os.close(fd)
    os.remove(probe)


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
MARGIN = 16 << 20  # bytes left free beyond what a write needs (logs, plots, filesystem overhead)


def check_space(path, nbytes, what="it"):
    """Fail before writing when the disk holding `path` has less than `nbytes` (+ a margin) free:
    HDF5 can crash on a full disk instead of reporting it."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)) or "."
    free = shutil.disk_usage(folder).free
    if free < nbytes + MARGIN:
        raise UserError(
            f"not enough free disk space in {folder} for {what}: it needs {(nbytes + MARGIN) / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB are free; free some space or choose another output path"
        )


def is_disk_full(error):
    """An OSError from the OS or from HDF5 (which often leaves errno unset) saying the disk is full."""
    return getattr(error, "errno", None) in DISK_FULL or "No space left on device" in str(error)


def ordinary_permissions(path):
    """A new file's permissions as the umask gives them: mkstemp's 0600 would make every output private."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the target's folder; rename it onto `path` on success only."""
    check_writable(path)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    except OSError as e:  # e.g. a folder that takes no new files (/proc), whatever the permission bits say
        raise UserError(f"cannot write {path} ({e.strerror}); choose another output path")
    os.close(fd)
    started = os.stat(tmp).st_mtime
    try:
        yield tmp
        ordinary_permissions(tmp)
        os.replace(tmp, path)
        _remove_stale(parent, os.path.basename(path), started)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _remove_stale(parent, name, before):
    """Temporaries of `name` left by killed writers: those not modified since this write began
    (a live writer's temporary keeps changing)."""
    for entry in os.scandir(parent):
        if entry.name.startswith(f".{name}.") and entry.name.endswith(".tmp"):
            try:
                if entry.stat().st_mtime < before - 1.0:
                    os.remove(entry.path)
            except OSError:
                pass  # gone already, or not ours to remove
