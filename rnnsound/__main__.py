"""The `rnnsound` command: `python -m rnnsound` and the console script both start here.

SIGINT and SIGTERM get the command's one-line handler before the command line's modules (and
PyTensor and JAX with them) are imported, so a signal during those seconds of startup also stops
it with one line. That is why `cli` is imported inside `main`, the one such import in the package.
"""
import signal
import sys

from .interrupts import SIGNALS, stop_now


def main():
    for s in SIGNALS:
        signal.signal(s, stop_now)
    from .cli import main as command
    return command()


if __name__ == "__main__":
    sys.exit(main())
