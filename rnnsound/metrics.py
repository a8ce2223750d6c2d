"""What came out of generation, measured: loudness over time, clipping, ticks, spectrum, copying.

All in the song's original scale (floats, 1.0 = full scale) unless said otherwise.
- rms_per_second: RMS of each whole second of output (does it fade to silence?);
- fade_ratio: RMS of the last 5 s of output / RMS of the seed (1 = holds its level, 0 = silence);
- clipped_fraction: share of output samples at or beyond full scale (|x| >= 0.999);
- tick_score: mean |jump| between the last sample of a frame and the first of the next, divided
  by the mean |jump| between neighbouring samples inside frames (about 1 = seamless; ticks at
  frame boundaries make it large);
- spectral_distance_db: RMS difference, in dB over 0..Nyquist, between the average (Welch)
  log-power spectra of the output and of the training part of the song;
- nearest_train_rms / copy_fraction: for each output frame, the RMS distance to the nearest
  frame of the training split, relative to the training frames' RMS; copy_fraction = share of
  the audible output frames (RMS above 10% of the training frames') within 5% of a training
  frame (is it replaying the song?). Silence is not counted as a copy of the song's quiet parts.
- loudness_per_second_lufs: ITU-R BS.1770 integrated loudness of each whole second (pyloudnorm),
  floored at -70 LUFS (the standard's absolute gate: silence reads -70, not -inf);
  seed_loudness_lufs: the seed's, measured with one block of its whole length when it is shorter
  than the standard's 400 ms block; loudness_max_deviation_db: the largest |second - seed| in dB
  (LU), the measure of "keeps playing at the seed's level";
- spectral_flatness / song_spectral_flatness: geometric over arithmetic mean of the average
  (Welch) power spectrum of the output / of the training part of the song: near 1 for white
  noise, near 0 for tones, so that hiss is not mistaken for music.
"""
import numpy as np
import pyloudnorm
import scipy.signal

COPY_THRESHOLD = 0.05   # nearest-frame distance, relative to the training frames' RMS
AUDIBLE = 0.1           # frame RMS, relative to the training frames' RMS
LUFS_FLOOR = -70.0      # BS.1770's absolute gate
BLOCK_SECONDS = 0.4     # BS.1770's gating block


def rms(x):
    x = np.asarray(x, np.float64)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def rms_per_second(x, rate):
    n = len(x) // rate
    return [rms(x[i * rate:(i + 1) * rate]) for i in range(n)]


def tick_score(x, F):
    d = np.abs(np.diff(np.asarray(x, np.float64)))
    at_boundary = np.zeros(len(d), bool)
    at_boundary[F - 1::F] = True  # d[k] = x[k+1] - x[k]; k = F-1 crosses from frame 0 to 1
    inside = d[~at_boundary].mean()
    return float(d[at_boundary].mean() / inside) if inside > 0 else float("inf")


def loudness(x, rate):
    """BS.1770 integrated loudness in LUFS, floored at LUFS_FLOOR; clips shorter than a block are
    measured as one block of their own length."""
    x = np.asarray(x, np.float64)
    block = min(BLOCK_SECONDS, len(x) / rate)
    if block <= 0:
        return LUFS_FLOOR
    with np.errstate(divide="ignore"):  # silence: log10(0) = -inf, floored below
        value = pyloudnorm.Meter(rate, block_size=block).integrated_loudness(x)
    return float(max(value, LUFS_FLOOR))


def loudness_per_second(x, rate):
    return [loudness(x[i * rate:(i + 1) * rate], rate) for i in range(len(x) // rate)]


def flatness(spectrum_db):
    """Geometric over arithmetic mean of a power spectrum given in dB."""
    p = 10 ** (np.asarray(spectrum_db, np.float64) / 10)
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def log_spectrum(x, rate, nperseg=1024):
    """Average log-power spectrum (dB), nperseg//2 + 1 bins; short clips are zero-padded."""
    x = np.asarray(x, np.float64)
    if len(x) < nperseg:
        x = np.pad(x, (0, nperseg - len(x)))
    _, p = scipy.signal.welch(x, fs=rate, nperseg=nperseg)
    return 10 * np.log10(p + 1e-12)


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


def measure(output, seed, song_spectrum, train_frames, F, rate):
    """The metrics dict for `output` (samples, original scale); train_frames (m, F) in the same scale."""
    n_frames = len(output) // F
    frames = output[:n_frames * F].reshape(n_frames, F)
    scale = max(rms(train_frames), 1e-12)
    near = nearest_frames(frames, train_frames) / scale
    audible = np.sqrt(np.mean(np.asarray(frames, np.float64) ** 2, axis=1)) > AUDIBLE * scale
    last = output[-5 * rate:]
    spectrum = log_spectrum(output, rate)
    per_second, seed_lufs = loudness_per_second(output, rate), loudness(seed, rate)
    return {
        "seconds": len(output) / rate,
        "rms_per_second": rms_per_second(output, rate),
        "seed_rms": rms(seed),
        "fade_ratio": rms(last) / max(rms(seed), 1e-12),
        "clipped_fraction": float(np.mean(np.abs(output) >= 0.999)),
        "tick_score": tick_score(output, F),
        "spectral_distance_db": float(np.sqrt(np.mean((spectrum - song_spectrum) ** 2))),
        "loudness_per_second_lufs": per_second,
        "seed_loudness_lufs": seed_lufs,
        "loudness_max_deviation_db": max((abs(v - seed_lufs) for v in per_second), default=0.0),
        "spectral_flatness": flatness(spectrum),
        "song_spectral_flatness": flatness(song_spectrum),
        "nearest_train_rms_median": float(np.median(near)),
        "audible_fraction": float(np.mean(audible)),
        "copy_fraction": float(np.mean(near[audible] < COPY_THRESHOLD)) if audible.any() else 0.0,
    }
