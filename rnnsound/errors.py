"""The one exception type the command line turns into a one-line message.

Library code raises `UserError` for anything the user can fix (a bad path, a song too short,
a flag out of range); the CLI prints `rnnsound: error: <message>` and exits with status 2 (130 after
Ctrl-C, 143 after SIGTERM).
Everything else is a bug and keeps its traceback.
"""


# What h5py raises for a file whose HDF5 internals are damaged (bad heap or B-tree signatures, bad
# object headers, a truncated file, a checksum that fails): caught where a file is read, and
# reported as one line naming the file.
HDF5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)


class UserError(Exception):
    """A problem with the user's input, worded as what is wrong and what to do."""
    exit_code = 2


class Interrupted(UserError):
    """SIGINT or SIGTERM, after the work so far was saved; exits with the shell's 128 + signal
    number (130 after Ctrl-C, 143 after SIGTERM)."""
    exit_code = 130

    def __init__(self, message, exit_code=130):
        super().__init__(message)
        self.exit_code = exit_code


class SongTooShort(UserError):
    """The song cannot give one train and one dev example at the chosen F, L and hop: a sweep
    records such a pair as infeasible instead of failing."""
