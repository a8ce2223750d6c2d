"""Clips while a run trains (`rnnsound train --sample-every N`): after every N epochs, a short
stateful clip from the network as it stands, written to RUN/epoch_clips/epoch_NNN.wav, so a user
hears the model learn (the run's listening page plays them in order) and can stop a run that only
makes noise.

Every clip starts from the same seed (dev example 0) and, above temperature 0, draws the same
noise (sampling seed 0): from one clip to the next only the weights change. The generator is
compiled once and reads the training network's shared parameters, so a clip costs one short scan.
A resumed run keeps the clips already written; an epoch redone after a crash writes the same clip.
"""
import math
import os

from . import audio
from .errors import UserError
from .generator import compile_generator, default_temperature, draw_noise
from .prepare import denormalise
from .streams import norm_of

FOLDER = "epoch_clips"
SECONDS = 3.0      # the default length: long enough to hear a tone, a beat or noise
MAX_SECONDS = 60


def clip_path(run_dir, epoch):
    return os.path.join(run_dir, FOLDER, f"epoch_{epoch:03d}.wav")


class EpochClips:
    """Writes the clip of an epoch when `every` divides it (`every` 0: never)."""

    @staticmethod
    def check(every, seconds, attrs=None):
        """Refuse, before any work, settings that cannot make clips (from a dataset with `attrs`)."""
        if every < 0 or not 0 < seconds <= MAX_SECONDS:
            raise UserError(f"--sample-every must be 0 (no clips) or more and --sample-seconds between 0 and "
                            f"{MAX_SECONDS}; got {every} and {seconds:g}")
        if every and attrs is not None and not attrs.get("sample_rate"):
            raise UserError("--sample-every needs the dataset's sample rate, which a plain Fuel file does not record; "
                            "prepare the song with `rnnsound prepare`, or leave --sample-every out")

    def __init__(self, run_dir, net, attrs, dev, every, seconds):
        """`every` and `seconds` as `check` passed them (train checks before its run folder exists)."""
        self.every = every
        if not every:
            return
        self.run_dir, self.rate, self.norm = run_dir, attrs["sample_rate"], norm_of(attrs)
        self.seed = dev.get([0])[0][0]                                        # (L, F) normalised
        L, F = self.seed.shape
        self.n_samples = int(round(seconds * self.rate))
        n_frames = math.ceil(self.n_samples / F)
        self.temperature = default_temperature(net.cfg)
        self.noise = draw_noise(net.cfg, F, L, n_frames, "stateful", 1, 0)[:, 0] if self.temperature else None
        self.args = (net.shared, net.cfg, F, L, n_frames, "stateful", self.temperature)
        self.fn = None                                                        # compiled at the first clip

    def after_epoch(self, epoch):
        """The clip of epoch `epoch` (1-based), if it is one of every N."""
        if not self.every or epoch % self.every:
            return
        if self.fn is None:
            self.fn = compile_generator(*self.args)
        frames = self.fn(self.seed) if self.noise is None else self.fn(self.seed, self.noise)  # (n_frames, F)
        path = clip_path(self.run_dir, epoch)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        audio.write_wav(path, denormalise(frames.reshape(-1)[:self.n_samples], self.norm), self.rate)
