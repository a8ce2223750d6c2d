"""Audio in and out: decode any common file to mono float at a target rate; write 16-bit WAV.

Decoding is libsndfile's (the `soundfile` wheel ships it: WAV of any PCM/float width, FLAC,
OGG Vorbis, Opus, MP3, AIFF, ...). Channels are averaged to mono. Resampling is
scipy.signal.resample_poly (polyphase, Kaiser-windowed anti-alias filter), run block by block
with enough overlap that the result equals one call on the whole song, so a 3-hour song gets a
progress bar and bounded working memory.
"""
import errno
import math
import os
import re
import shutil

import numpy as np
import scipy.signal
import soundfile as sf
from tqdm import tqdm

from .atomic import MARGIN, atomic_path
from .errors import UserError

BLOCK = 1 << 20  # samples per decode/resample block (~1 minute at 16 kHz)
MAX_ABS = 4.0    # full scale is 1.0; lossy decoders overshoot a little, no real recording reaches +12 dBFS
PLACEHOLDER = 0xFFFFFF00  # streaming writers declare sizes this large (or 0) when they do not know them


def truncation(path):
    """(declared, present) bytes of the audio data when libsndfile's header log shows the file cut
    short (a WAV/AIFF whose data chunk promises more than the file holds), else None."""
    try:
        log = sf.info(path, verbose=True).extra_info
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    for declared, present in re.findall(r"(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", log):
        if int(present) < int(declared) < PLACEHOLDER:
            return int(declared), int(present)
    return None


def check_damage(path, samples):
    """Refuse what no real recording looks like: a cut-off file, or samples far beyond full scale."""
    cut = truncation(path)
    if cut:
        raise UserError(f"{path} is truncated: its header promises {cut[0]} bytes of audio, the file holds {cut[1]}; "
                        "re-export or re-copy it, or pass --accept-damaged to use what is there")
    peak = float(np.max(np.abs(samples)))
    if peak > MAX_ABS:
        raise UserError(f"{path} has samples up to {peak:.3g} (full scale is 1.0): no real recording is that loud, and "
                        "the min-max normalisation would squash the rest of the song; repair the file, or pass "
                        "--accept-damaged to use it anyway")


def open_song(path):
    """The song file opened for reading (a soundfile.SoundFile), or one line saying why it cannot be."""
    if not os.path.exists(path):
        raise UserError(f"song file {path} does not exist; check the path")
    if os.path.isdir(path):
        raise UserError(f"song path {path} is a folder; give an audio file")
    if os.path.getsize(path) == 0:
        raise UserError(f"song file {path} is empty (0 bytes); give a real audio file")
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise UserError(f"{path} is not an audio file libsndfile can read ({e}); "
                        "use WAV, FLAC, OGG, Opus or MP3")


def resampled_length(n, rate_in, rate_out):
    """Samples that `resample` returns for n input samples."""
    g = math.gcd(rate_in, rate_out)
    return math.ceil(n * (rate_out // g) / (rate_in // g))


def read_audio(path, progress=True):
    """Decode `path` to (mono float32 samples at the file's rate, rate, channels)."""
    with open_song(path) as f:
        rate, channels, total = f.samplerate, f.channels, f.frames
        blocks = []
        with tqdm(total=total, unit="sample", unit_scale=True, desc="decode", disable=not progress) as bar:
            try:
                for block in f.blocks(blocksize=BLOCK, dtype="float32", always_2d=True):
                    blocks.append(block.mean(axis=1, dtype=np.float64).astype(np.float32))
                    bar.update(len(block))
            except (sf.LibsndfileError, RuntimeError) as e:
                raise UserError(f"{path} could not be decoded past sample {sum(map(len, blocks))} ({e}); "
                                "the file may be truncated")
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise UserError(f"song file {path} holds no audio samples; give a non-empty song")
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise UserError(f"{path} has {bad} NaN or infinite samples; repair or re-export the file")
    return samples, rate, channels


def resample(samples, rate_in, rate_out, progress=True):
    """Polyphase resampling of a 1-D signal; identical to one resample_poly call on all of it."""
    if rate_in == rate_out:
        return samples
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    # resample_poly's filter reaches 10*max(up, down) upsampled samples each side, i.e.
    # 10*max(up,down)/up input samples; `context` (a multiple of `down`, so block starts map to
    # whole output samples) covers it with room to spare.
    reach = 10 * max(up, down) / up + 8
    context = down * math.ceil(reach / down)
    block = down * max(1, BLOCK // down)
    n = len(samples)
    out = np.empty(resampled_length(n, rate_in, rate_out), np.float32)
    with tqdm(total=n, unit="sample", unit_scale=True, desc="resample", disable=not progress) as bar:
        for a in range(0, n, block):
            b = min(a + block, n)
            lo, hi = max(0, a - context), min(n, b + context)
            y = scipy.signal.resample_poly(samples[lo:hi].astype(np.float64), up, down)
            first = (a - lo) * up // down
            count = (b * up + down - 1) // down - a * up // down
            out[a * up // down: a * up // down + count] = y[first:first + count]
            bar.update(b - a)
    return out


def load_song(path, sample_rate, progress=True, accept_damaged=False):
    """Mono float32 samples of the file at `sample_rate`, and a description of the source.
    A truncated file or one far beyond full scale is refused unless `accept_damaged`."""
    samples, rate, channels = read_audio(path, progress)
    if not accept_damaged:
        check_damage(path, samples)
    samples = resample(samples, rate, sample_rate, progress)
    return samples, {"source_rate": rate, "source_channels": channels}


def write_wav(path, samples, sample_rate):
    """Write float samples in [-1, 1] as 16-bit PCM WAV, atomically; values beyond are clipped."""
    pcm = np.clip(np.asarray(samples, np.float64), -1.0, 1.0)
    with atomic_path(path) as tmp:
        try:
            sf.write(tmp, pcm, sample_rate, subtype="PCM_16", format="WAV")
        except sf.LibsndfileError as e:  # libsndfile reports a full disk as "System error", not an OSError
            if shutil.disk_usage(os.path.dirname(os.path.abspath(tmp))).free < 2 * len(pcm) + MARGIN:
                raise OSError(errno.ENOSPC, "No space left on device", path) from e
            raise UserError(f"cannot write {path} ({e}); choose another output path") from e
