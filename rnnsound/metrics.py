"""What came out of generation, measured against the song: loudness, clipping, ticks, spectrum, copying.

All in the song's original scale (floats, 1.0 = full scale). The song's side of each comparison
is a `Reference`, measured on contiguous stretches of the song's training part
(rnnsound.streams.song_stretches): no measure ever crosses a join between two stretches, and
for a dataset of views onto a song store the stretches, and so every song figure, are the same
for every F, L and hop.

- level_per_second_db: ITU-R BS.1770 loudness (pyloudnorm) of each whole second of the clip, DC
  removed, in dB (LU) relative to the song's median per-second loudness; 0 dB = as loud as a
  typical second of the song. Loudness is floored at -70 LUFS (the standard's absolute gate), so
  silence reads about -70 LUFS minus the song's median, not -inf;
- end_level_db: the median of the last five of those seconds (the whole clip if shorter): does
  the clip keep playing (about 0 dB) or fade (-20 dB is a tenth of the song's amplitude);
- seconds_in_song_range: share of the clip's seconds whose loudness lies within the 10th..90th
  percentile of the song's own seconds;
- clipped_fraction: share of output samples at or beyond full scale (|x| >= 0.999);
- tick_score: mean |jump| between the last sample of a frame and the first of the next, divided
  by the mean |jump| between neighbouring samples inside frames (about 1 = seamless; ticks at
  frame boundaries make it large);
- spectral_distance_db: RMS difference, in dB over 0..Nyquist, between the average (Welch)
  log-power spectra of the clip and of the song;
- spectral_flatness / song_spectral_flatness: per-frame spectral flatness as librosa's
  `feature.spectral_flatness` computes it (2048-sample Hann frames every 512, centred, power
  spectrum floored at 1e-10; geometric over arithmetic mean: near 1 for white noise, near 0 for
  tones), averaged over the audible frames (flatness_frames of them; None when there are none,
  since a silent frame's floored spectrum reads as perfectly flat);
- nearest_train_rms / copy: for each output frame (F samples), the RMS distance to the nearest
  frame of the training split, relative to the song's RMS; copy_frames of the audible_frames
  (frames with RMS above 10% of the song's) lie within 5% of a training frame (is it replaying
  the song?). Silence is not counted as a copy of the song's quiet parts; copy_fraction is
  copy_frames / audible_frames (0 with no audible frame), always to be read with its count.
"""
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import scipy.signal

COPY_THRESHOLD = 0.05   # nearest-frame distance, relative to the song's RMS
AUDIBLE = 0.1           # frame RMS, relative to the song's RMS
LUFS_FLOOR = -70.0      # BS.1770's absolute gate
BLOCK_SECONDS = 0.4     # BS.1770's gating block
END_SECONDS = 5         # the seconds end_level_db reads
SONG_RANGE = (10, 90)   # percentiles of the song's per-second loudness: its ordinary range
FLATNESS_FFT, FLATNESS_HOP, FLATNESS_AMIN = 2048, 512, 1e-10   # librosa.feature.spectral_flatness's defaults


def rms(x):
    x = np.asarray(x, np.float64)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def tick_score(x, F):
    d = np.abs(np.diff(np.asarray(x, np.float64)))
    at_boundary = np.zeros(len(d), bool)
    at_boundary[F - 1::F] = True  # d[k] = x[k+1] - x[k]; k = F-1 crosses from frame 0 to 1
    inside = d[~at_boundary].mean()
    return float(d[at_boundary].mean() / inside) if inside > 0 else float("inf")


def loudness(x, rate):
    """BS.1770 integrated loudness in LUFS of `x` with its mean (DC) removed, floored at LUFS_FLOOR;
    clips shorter than a block are measured as one block of their own length."""
    x = np.asarray(x, np.float64)
    block = min(BLOCK_SECONDS, len(x) / rate)
    if block <= 0:
        return LUFS_FLOOR
    with np.errstate(divide="ignore"):  # silence: log10(0) = -inf, floored below
        value = pyloudnorm.Meter(rate, block_size=block).integrated_loudness(x - x.mean())
    return float(max(value, LUFS_FLOOR))


def loudness_per_second(x, rate):
    return [loudness(x[i * rate:(i + 1) * rate], rate) for i in range(len(x) // rate)]


def frame_flatness(x):
    """(flatness, rms) of each STFT frame of `x`, as librosa.feature.spectral_flatness frames it:
    n_fft 2048, hop 512, periodic Hann window, centred with zeros; rms of the unwindowed frame."""
    x = np.pad(np.asarray(x, np.float64), FLATNESS_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(x, FLATNESS_FFT)[::FLATNESS_HOP]
    window = scipy.signal.get_window("hann", FLATNESS_FFT)
    power = np.maximum(np.abs(np.fft.rfft(frames * window, axis=1)) ** 2, FLATNESS_AMIN)
    flat = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    return flat, np.sqrt(np.mean(frames * frames, axis=1))


def mean_flatness(stretches, floor):
    """Per-frame flatness averaged over the frames of all `stretches` louder than `floor` (RMS), and
    their count; (None, 0) when none is."""
    flat, level = (np.concatenate(a) for a in zip(*(frame_flatness(s) for s in stretches)))
    audible = level > floor
    return (float(flat[audible].mean()) if audible.any() else None), int(audible.sum())


def power_spectrum(x, rate, nperseg=1024):
    """Average (Welch) power spectrum, nperseg//2 + 1 bins; short clips are zero-padded."""
    x = np.asarray(x, np.float64)
    if len(x) < nperseg:
        x = np.pad(x, (0, nperseg - len(x)))
    return scipy.signal.welch(x, fs=rate, nperseg=nperseg)[1]


def to_db(power):
    return 10 * np.log10(np.asarray(power) + 1e-12)


@dataclass(frozen=True)
class Reference:
    """The song's side of every comparison (see the module doc), from contiguous stretches of it."""
    rms: float                 # original scale, each stretch's DC removed
    spectrum_db: np.ndarray    # average Welch log-power spectrum, 513 bins
    flatness: object           # mean per-frame flatness of its audible frames (None if none)
    flatness_frames: int
    loudness_lufs: np.ndarray  # BS.1770 loudness of each whole second of every stretch
    seconds: float             # of audio measured
    source: str                # where the stretches came from (rnnsound.streams.song_stretches)

    @property
    def median_lufs(self):
        return float(np.median(self.loudness_lufs))


def reference(stretches, rate, source):
    """The song's Reference from `stretches` (1-D arrays of contiguous audio, original scale)."""
    stretches = [np.asarray(s, np.float64) for s in stretches]
    centred = [s - s.mean() for s in stretches]
    n = sum(len(s) for s in centred)
    song_rms = float(np.sqrt(sum(np.sum(s * s) for s in centred) / n))
    spectrum = sum(len(s) * power_spectrum(s, rate) for s in centred) / n
    flat, frames = mean_flatness(centred, AUDIBLE * song_rms)
    per_second = [v for s in stretches for v in loudness_per_second(s, rate)] or [loudness(stretches[0], rate)]
    return Reference(rms=max(song_rms, 1e-12), spectrum_db=to_db(spectrum), flatness=flat, flatness_frames=frames,
                     loudness_lufs=np.array(per_second), seconds=n / rate, source=source)


def nearest_frames(out_frames, train_frames, block=512):
    """For each row of out_frames (n, F), the RMS distance to the nearest row of train_frames (m, F)."""
    t = train_frames.astype(np.float32)
    t_sq = np.sum(t * t, axis=1)
    best = np.empty(len(out_frames))
    for a in range(0, len(out_frames), block):
        o = out_frames[a:a + block].astype(np.float32)
        d2 = np.sum(o * o, axis=1)[:, None] + t_sq[None, :] - 2 * o @ t.T
        best[a:a + block] = np.sqrt(np.maximum(d2.min(axis=1), 0) / t.shape[1])
    return best


def measure(output, ref, train_frames, F, rate):
    """The metrics dict for `output` (samples, original scale) against the song's Reference `ref`;
    train_frames (m, F) are frames of the training split in the same scale."""
    output = np.asarray(output, np.float64)
    n_frames = len(output) // F
    frames = output[:n_frames * F].reshape(n_frames, F)
    near = nearest_frames(frames, train_frames) / ref.rms
    audible = np.sqrt(np.mean(frames ** 2, axis=1)) > AUDIBLE * ref.rms
    copies = int(np.sum(near[audible] < COPY_THRESHOLD))
    per_second = loudness_per_second(output, rate) or [loudness(output, rate)]
    level = [v - ref.median_lufs for v in per_second]
    lo, hi = np.percentile(ref.loudness_lufs, SONG_RANGE)
    flat, flat_frames = mean_flatness([output - output.mean()], AUDIBLE * ref.rms)
    return {
        "seconds": len(output) / rate,
        "level_per_second_db": level,
        "end_level_db": float(np.median(level[-END_SECONDS:])),
        "seconds_in_song_range": float(np.mean([lo <= v <= hi for v in per_second])),
        "song_loudness_lufs": ref.median_lufs,
        "song_range_db": [float(lo) - ref.median_lufs, float(hi) - ref.median_lufs],
        "clipped_fraction": float(np.mean(np.abs(output) >= 0.999)),
        "tick_score": tick_score(output, F),
        "spectral_distance_db": float(np.sqrt(np.mean((to_db(power_spectrum(output, rate)) - ref.spectrum_db) ** 2))),
        "spectral_flatness": flat,
        "flatness_frames": flat_frames,
        "song_spectral_flatness": ref.flatness,
        "nearest_train_rms_median": float(np.median(near)) if len(near) else None,
        "audible_frames": int(audible.sum()),
        "copy_frames": copies,
        "audible_fraction": float(np.mean(audible)) if len(audible) else 0.0,
        "copy_fraction": copies / int(audible.sum()) if audible.any() else 0.0,
        "reference_seconds": ref.seconds,
        "reference_source": ref.source,
    }
