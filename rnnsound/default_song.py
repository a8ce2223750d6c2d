"""The embedded songs: synthesised in code, any length up to the class song's, no file, no network.

Two styles, each the same, sample for sample, on every machine (numpy's PCG64, seeded per
movement, so a shorter rendering is exactly the start of a longer one):

- `etude` (the default song): "Etude for rnnsound", 3 min 26 s at 93 bpm in 4/4 (one bar =
  2.58 s, which no blog frame size divides): a pad playing the chords (vi-IV-I-V verses, IV-V-iii-vi
  choruses, ii-iii-IV-V bridge, C major / A minor), a syncopated plucked bass on the roots, a melody
  of two-bar motifs repeated with variation, kick/snare/hi-hat, an intro, verses, choruses and a
  bridge with a crescendo; every note nudged by up to +-8 ms and +-12% in loudness, so repeated
  bars are never sample-identical. It does not fade out: the dev split (the last 8%) sounds like
  the rest. Longer renderings continue it as a suite: movement 1 is the étude, each further
  movement (2.5-4.5 min) draws its own key, tempo (76-124 bpm), chord progressions, form,
  instrumentation (pad and melody timbres, bass rhythm, drum pattern or none) and loudness.
- `ambient`: slow pads and drones with no drums, like the class song ("Spiritual Ascension
  Music"): each movement (3-7 min) holds a drone on its key's root and fifth with a slow swell,
  detuned pad chords of 6-16 s with long attacks and releases, sparse bell tones on a pentatonic
  scale and a breath of low-passed noise; movements fade into each other over 3 s.

`EmbeddedSong(style, samples)` names one rendering; `samples=None` is the étude's own length
(3,303,226 samples at 16 kHz). `BLOG_SAMPLES` is the class song's length, 174,229,537 samples.
"""
import dataclasses
import hashlib

import numpy as np
import scipy.signal
from tqdm import tqdm

from .errors import UserError

TITLE = "Etude for rnnsound (synthesised, 93 bpm, C major, 3:26)"
STYLES = ("etude", "ambient")
BLOG_SAMPLES = 174_229_537  # the class song, 16 kHz: ~3 h 1 min
SEED = 2016
RENDER_VERSION = 1  # part of an embedded song's content id: raise it when a rendering changes

_PROGRESSIONS = {          # chord roots as MIDI notes, with chord quality
    "verse": [(57, "m"), (53, ""), (48, ""), (55, "")],    # Am F C G
    "chorus": [(53, ""), (55, ""), (52, "m"), (57, "m")],  # F G Em Am
    "bridge": [(50, "m"), (52, "m"), (53, ""), (55, "")],  # Dm Em F G
    "pop": [(48, ""), (55, ""), (57, "m"), (53, "")],      # C G Am F
    "jazz": [(50, "m"), (55, ""), (48, ""), (57, "m")],    # Dm G C Am
    "plagal": [(48, ""), (53, ""), (48, ""), (55, "")],    # C F C G
    "descent": [(57, "m"), (55, ""), (53, ""), (55, "")],  # Am G F G
}
# (section, bars, progression, gain at start, gain at end, melody?, drums?)
_FORM = [
    ("intro", 8, "verse", 0.35, 0.6, False, False),
    ("verse", 16, "verse", 0.7, 0.7, True, True),
    ("chorus", 16, "chorus", 0.95, 0.95, True, True),
    ("verse", 16, "verse", 0.7, 0.75, True, True),
    ("bridge", 8, "bridge", 0.55, 1.0, True, True),
    ("chorus", 16, "chorus", 1.0, 0.85, True, True),
]
_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])  # C major, semitones
_PENTATONIC = np.array([0, 2, 4, 7, 9])
_BASS_RHYTHMS = (((0, 1.5), (1.5, 1.0), (2.5, 1.5)), ((0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)),
                 ((0, 2.0), (2, 2.0)), ((0, 0.75), (0.75, 0.75), (2, 1.0), (3, 0.5), (3.5, 0.5)))


@dataclasses.dataclass(frozen=True)
class _Etude:
    """One movement of the étude suite; the defaults are the 3:26 étude itself."""
    bpm: float = 93.0
    transpose: int = 0            # semitones from C major / A minor
    form: tuple = tuple(_FORM)
    pad_harmonics: float = 2.0    # harmonic k at 1/k**this: larger is softer
    pad_gain: float = 0.07
    bass_rhythm: tuple = _BASS_RHYTHMS[0]  # (onset, length) in beats
    melody_harmonics: float = 1.5
    vibrato: float = 0.15
    drums: str = "rock"           # rock | four | half | none
    peak: float = 0.8             # the movement's largest |sample|


def _freq(midi):
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def _chord(root, quality):
    return [root, root + (3 if quality == "m" else 4), root + 7]


class _Mixer:
    def __init__(self, seconds, rate, rng):
        self.rate, self.rng = rate, rng
        self.buf = np.zeros(int(round(seconds * rate)) + rate, np.float64)

    def humanise(self, start, gain):
        return max(0.0, start + self.rng.uniform(-0.008, 0.008)), gain * self.rng.uniform(0.88, 1.12)

    def t(self, seconds):
        return np.arange(int(seconds * self.rate)) / self.rate

    def add(self, start, wave):
        i = int(round(start * self.rate))
        n = max(0, min(len(wave), len(self.buf) - i))  # notes ringing past the end are cut
        self.buf[i:i + n] += wave[:n]

    def tone(self, start, seconds, freq, harmonics, attack, decay, gain, vibrato=0.0, release=0.02, partials=5,
             detune=0.0):
        start, gain = self.humanise(start, gain)
        t = self.t(seconds)
        phase = 2 * np.pi * freq * t + vibrato * np.sin(2 * np.pi * 5.0 * t)
        wave = sum(np.sin(k * phase) / k ** harmonics for k in range(1, partials + 1))
        if detune:  # a second voice `detune` Hz away: slow beating, a chorus
            wave = 0.5 * (wave + sum(np.sin(k * (phase + 2 * np.pi * detune * t)) / k ** harmonics
                                     for k in range(1, partials + 1)))
        env = np.minimum(1.0, t / attack) * np.exp(-t / decay)
        env *= np.minimum(1.0, (seconds - t) / release)  # no clicks at note ends
        self.add(start, gain * env * wave)


def _drums(mix, start, gain, rng, beat_seconds, pattern):
    """One bar of drums. `rock`: kick on 1 and 3, snare on 2 and 4; `four`: kick on every beat,
    snare on 2 and 4 over it; `half`: kick on 1, snare on 3. Closed hi-hat on eighth notes."""
    for beat in range(4):
        t0, g = mix.humanise(start + beat * beat_seconds, gain)
        kick = beat in (0, 2) if pattern == "rock" else pattern == "four" or beat == 0
        snare = beat in (1, 3) if pattern in ("rock", "four") else beat == 2
        if kick:  # a sine sweeping 110 -> 45 Hz
            t = mix.t(0.35)
            f = 45 + 65 * np.exp(-t / 0.04)
            mix.add(t0, g * 0.9 * np.sin(2 * np.pi * np.cumsum(f) / mix.rate) * np.exp(-t / 0.12))
        if snare:  # a 180 Hz body plus a noise burst
            t = mix.t(0.25)
            noise = np.diff(rng.standard_normal(len(t) + 1))  # differenced: brighter noise
            mix.add(t0, g * (0.25 * np.sin(2 * np.pi * 180 * t) + 0.22 * noise) * np.exp(-t / 0.06))
        for half in (0.0, 0.5):  # closed hi-hat: short high-passed noise
            t = mix.t(0.06)
            noise = np.diff(np.diff(rng.standard_normal(len(t) + 2)))
            mix.add(t0 + half * beat_seconds, g * 0.05 * noise * np.exp(-t / 0.015))


def _motif(rng, chord, transpose=0):
    """Two bars of melody: (onset in beats, length in beats, MIDI note)."""
    rhythms = ([1, 1, 0.5, 0.5, 1], [1.5, 0.5, 1, 1], [0.5, 0.5, 1, 2], [2, 1, 1])  # 4 beats each
    rhythm = rhythms[rng.integers(len(rhythms))]
    notes, beat = [], 0.0
    for length in list(rhythm) + list(rng.permutation(rhythm)):
        if rng.random() < 0.6:
            pitch = rng.choice(chord) + 12
        else:
            pitch = 60 + transpose + rng.choice(_SCALE) + 12 * rng.integers(0, 2)
        notes.append((beat, length, int(pitch)))
        beat += length
    return notes


def _render_etude(spec, sample_rate, rng):
    beat_s = 60.0 / spec.bpm
    bar_s = 4 * beat_s
    seconds = sum(section[1] for section in spec.form) * bar_s
    mix = _Mixer(seconds, sample_rate, rng)
    bar_start = 0.0
    for name, bars, prog, g0, g1, melody, drums in spec.form:
        motifs = {}
        for i in range(bars):
            gain = g0 + (g1 - g0) * i / max(1, bars - 1)
            root, quality = _PROGRESSIONS[prog][i % 4]
            root += spec.transpose
            chord = _chord(root, quality)
            for note in chord:  # pad: soft attack, held for the bar
                mix.tone(bar_start, bar_s, _freq(note), spec.pad_harmonics, 0.3, 6.0, spec.pad_gain * gain)
            for onset, length in spec.bass_rhythm:  # bass: the chord's root, plucked
                mix.tone(bar_start + onset * beat_s, length * beat_s, _freq(root - 12), 1.0, 0.005, 0.4, 0.22 * gain)
            if melody and i % 2 == 0:
                key = (i // 2) % 4  # four motifs per section, repeated; a variation the 2nd time
                if key not in motifs:
                    motifs[key] = _motif(rng, chord, spec.transpose)
                up = 12 if (i // 8) % 2 else 0  # the second pass plays the motif an octave up
                for onset, length, pitch in motifs[key]:
                    mix.tone(bar_start + onset * beat_s, length * beat_s * 0.95, _freq(pitch + up),
                             spec.melody_harmonics, 0.01, 0.8, 0.14 * gain, vibrato=spec.vibrato)
            if drums and spec.drums != "none":
                _drums(mix, bar_start, gain, rng, beat_s, spec.drums)
            bar_start += bar_s
    song = mix.buf[:int(round(seconds * sample_rate))]
    return spec.peak * song / np.max(np.abs(song))


def _etude_movement(rng):
    """A movement's spec, drawn: key, tempo, form, progressions, instrumentation, loudness."""
    progs = list(_PROGRESSIONS)
    form = [("intro", 8, str(rng.choice(progs)), 0.3, 0.6, False, bool(rng.random() < 0.3))]
    for _ in range(int(rng.integers(4, 7))):
        g0 = float(rng.uniform(0.5, 1.0))
        form.append(("section", int(rng.choice((8, 16))), str(rng.choice(progs)), g0,
                     float(np.clip(g0 + rng.uniform(-0.3, 0.3), 0.4, 1.0)), bool(rng.random() < 0.85),
                     bool(rng.random() < 0.8)))
    return _Etude(bpm=float(rng.uniform(76, 124)), transpose=int(rng.integers(-5, 7)), form=tuple(form),
                  pad_harmonics=float(rng.uniform(1.2, 3.0)), pad_gain=float(rng.uniform(0.04, 0.1)),
                  bass_rhythm=_BASS_RHYTHMS[int(rng.integers(len(_BASS_RHYTHMS)))],
                  melody_harmonics=float(rng.uniform(1.0, 2.5)), vibrato=float(rng.uniform(0.0, 0.3)),
                  drums=str(rng.choice(("rock", "four", "half", "none"))), peak=float(rng.uniform(0.6, 0.8)))


def _render_ambient(sample_rate, rng):
    """One ambient movement, 3-7 minutes: drone, slow detuned pads, sparse bells, breath noise."""
    seconds = float(rng.uniform(180, 420))
    key = 36 + int(rng.integers(0, 12))  # drone root, C2..B2
    minor = rng.random() < 0.6
    degrees = ([0, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9])  # chord roots over the drone
    mix = _Mixer(seconds, sample_rate, rng)
    t = mix.t(seconds)
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / rng.uniform(15, 40) + rng.uniform(0, 2 * np.pi))
    for midi, g in ((key, 0.16), (key + 7, 0.08), (key + 12, 0.05)):
        drone = sum(np.sin(2 * np.pi * k * _freq(midi) * t) / k ** 2.5 for k in range(1, 4))
        mix.add(0.0, g * swell * drone)
    start = 0.0
    while start < seconds:
        length = float(rng.uniform(6, 16))
        root = key + 12 + int(rng.choice(degrees))
        third = 3 if (minor and rng.random() < 0.7) else 4
        for note in (root, root + third, root + 7, root + 12 * int(rng.integers(0, 2)) + 7):
            mix.tone(start, length + 3.0, _freq(note), float(rng.uniform(2.5, 3.5)), float(rng.uniform(1.5, 4.0)),
                     60.0, 0.05, release=3.0, partials=3, detune=float(rng.uniform(0.1, 0.4)))
        for _ in range(int(rng.poisson(0.8))):  # bells: high, sparse, ringing
            pitch = key + 36 + int(rng.choice(_PENTATONIC)) + (3 if minor else 0)
            mix.tone(start + rng.uniform(0, length), 6.0, _freq(pitch), 1.0, 0.003, float(rng.uniform(1.5, 4.0)),
                     0.06, partials=2)
        start += length
    b, a = scipy.signal.butter(2, 600 / (sample_rate / 2))  # breath: low-passed noise, slowly swelling
    mix.add(0.0, 0.02 * swell[::-1] * scipy.signal.lfilter(b, a, rng.standard_normal(len(t))))
    song = mix.buf[:len(t)]
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 3.0)  # 3 s in and out: movements blend
    return float(rng.uniform(0.6, 0.8)) * song * fade / np.max(np.abs(song))


def render(sample_rate=16000, seed=SEED):
    """The 3:26 étude as float32 mono samples in [-0.8, 0.8] at `sample_rate`."""
    return _render_etude(_Etude(), sample_rate, np.random.default_rng(seed)).astype(np.float32)


def _movement(style, index, sample_rate, seed):
    if style == "etude" and index == 0:
        return render(sample_rate, seed)
    rng = np.random.default_rng([seed, STYLES.index(style), index])
    song = _render_etude(_etude_movement(rng), sample_rate, rng) if style == "etude" else \
        _render_ambient(sample_rate, rng)
    return song.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class EmbeddedSong:
    """A rendering of an embedded style: `samples` long (None: the étude's 3,303,226 at 16 kHz)."""
    style: str = "etude"
    samples: int = None           # at 16 kHz; None: the étude's own length
    seed: int = SEED

    def num_samples(self, sample_rate=16000):
        """Length at `sample_rate`: `samples` is counted at 16 kHz, the class song's rate."""
        if self.samples is not None:
            return int(round(self.samples * sample_rate / 16000))
        return int(round(sum(s[1] for s in _FORM) * 4 * 60.0 / _Etude.bpm * sample_rate))

    @property
    def is_default(self):
        return self.style == "etude" and self.samples is None and self.seed == SEED

    @property
    def stem(self):
        """A file-name stem: `default` for the default song, else e.g. `ambient_181min`."""
        if self.is_default:
            return "default"
        length = "" if self.samples is None else ("_blog" if self.samples == BLOG_SAMPLES else
                                                  f"_{self.samples / 16000 / 60:.4g}min")
        return f"{self.style}{length}" + ("" if self.seed == SEED else f"_seed{self.seed}")

    def describe(self, sample_rate=16000):
        n = self.num_samples(sample_rate)
        return f"embedded {self.style} song, {n} samples ({n / sample_rate / 60:.1f} min)"

    # the interface of rnnsound.song
    path = None

    @property
    def content_id(self):
        """A sha256 of the recipe (style, length, seed, renderer version): it fixes every sample."""
        recipe = f"{self.style}:{self.num_samples(16000)}:{self.seed}:{RENDER_VERSION}"
        return hashlib.sha256(recipe.encode()).hexdigest()

    @property
    def label(self):
        return self.describe()

    @property
    def identity(self):
        return self.describe()

    def load(self, sample_rate, progress=True, accept_damaged=False):
        """(samples, source name, sha256 of the samples, title and recipe as dataset attributes)."""
        samples = self.render(sample_rate, progress)
        name = "default_song" if self.is_default else f"embedded_{self.stem}"
        extra = {"title": TITLE if self.is_default else self.describe(sample_rate),
                 "embedded_style": self.style, "embedded_seed": self.seed}
        return samples, name, hashlib.sha256(samples.tobytes()).hexdigest(), extra

    def to_json(self):
        return {"embedded": dataclasses.asdict(self)}

    def render(self, sample_rate=16000, progress=False):
        """float32 samples in [-0.8, 0.8]: movements rendered one by one, the last one cut."""
        n = self.num_samples(sample_rate)
        out = np.empty(n, np.float32)
        filled, index = 0, 0
        with tqdm(total=n, unit="sample", unit_scale=True, desc=f"render {self.style}", disable=not progress) as bar:
            while filled < n:
                part = _movement(self.style, index, sample_rate, self.seed)
                take = min(len(part), n - filled)
                out[filled:filled + take] = part[:take]
                filled, index = filled + take, index + 1
                bar.update(take)
        return out


def parse_minutes(text):
    """`--minutes`: a positive number of minutes, or `blog` for the class song's 174,229,537 samples."""
    if str(text).lower() == "blog":
        return BLOG_SAMPLES
    try:
        minutes = float(text)
    except ValueError:
        minutes = float("nan")
    if not 1 / 60 <= minutes <= BLOG_SAMPLES / 16000 / 60 + 1e-9:
        raise UserError(f"--minutes must be a number of minutes from 1/60 (one second) to the class song's "
                        f"{BLOG_SAMPLES / 16000 / 60:.2f}, or 'blog' for exactly {BLOG_SAMPLES} samples; got {text!r}")
    return int(round(minutes * 60 * 16000))
