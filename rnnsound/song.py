"""The song a dataset is made from: an audio file (`SongFile`) or an embedded song
(`rnnsound.default_song.EmbeddedSong`), behind one interface:

  stem                  a file-name stem for its datasets
  label                 how tables and sweep.json name it
  identity              what a run folder's results depend on (settings.json)
  content_id            a sha256 of its content (the file's bytes, the embedded song's recipe)
  path                  the audio file, or None
  num_samples(rate)     its length at `rate`, without decoding it
  load(rate, ...)       (mono float32 samples at `rate`, source name, sha256, extra dataset attributes)
  to_json()             a JSON-able dict that `from_json` turns back into the song (Dask workers)

`as_song` turns what callers hold (None: the default song; a path; a song) into one of the two.
"""
import dataclasses
import functools
import os

from . import audio
from .default_song import STYLES, EmbeddedSong, parse_minutes
from .errors import UserError
from .files import sha256_of


@dataclasses.dataclass(frozen=True)
class SongFile:
    """An audio file libsndfile reads; decoded, mixed to mono and resampled on load."""
    path: str

    @property
    def stem(self):
        return os.path.splitext(os.path.basename(self.path))[0]

    @property
    def label(self):
        return os.path.basename(self.path)

    @property
    def identity(self):
        """The file and its content: a file changed in place is another song."""
        return f"{os.path.abspath(self.path)} (sha256 {self.content_id[:16]})"

    @functools.cached_property
    def content_id(self):
        with audio.open_song(self.path):  # a missing, empty or non-audio file is one line, not a hash
            pass
        return sha256_of(self.path)

    def num_samples(self, sample_rate):
        with audio.open_song(self.path) as f:
            frames, rate = f.frames, f.samplerate
        if frames <= 0:
            raise UserError(f"{self.path}'s header gives no length; prepare it once to count its samples")
        return audio.resampled_length(frames, rate, sample_rate)

    def load(self, sample_rate, progress=True, accept_damaged=False):
        samples, extra = audio.load_song(self.path, sample_rate, progress, accept_damaged)
        return samples, os.path.basename(self.path), self.content_id, extra

    def to_json(self):
        return {"path": os.path.abspath(self.path)}


def as_song(song):
    """None (the default song), a path, a SongFile or an EmbeddedSong -> a SongFile or an EmbeddedSong."""
    if song is None:
        return EmbeddedSong()
    if isinstance(song, (str, os.PathLike)):
        return SongFile(os.fspath(song))
    return song


def from_json(data):
    return EmbeddedSong(**data["embedded"]) if "embedded" in data else as_song(data["path"])


def from_args(path, style, minutes):
    """The song of the command-line options: a file, or the embedded song of `style` and `minutes`."""
    if path is not None:
        if style is not None or minutes is not None:
            raise UserError("--style and --minutes choose the embedded song; leave them out when you give a song file")
        return SongFile(path)
    return EmbeddedSong(style or "etude", None if minutes is None else parse_minutes(minutes))


def add_song_options(parser):
    """--style and --minutes: which embedded song, and how long (used when no song file is given)."""
    parser.add_argument("--style", choices=STYLES, help="embedded song style when no song file is given: etude "
                        "(the default song: pop-like, drums) or ambient (slow pads and drones, no drums, like the "
                        "class song)")
    parser.add_argument("--minutes", metavar="M|blog", help="length of the embedded song in minutes (at most the "
                        "class song's 181.49), or 'blog' for exactly its 174,229,537 samples; default: the "
                        "étude's 3:26")
