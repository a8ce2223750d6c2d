"""The embedded default song: "Etude for rnnsound", 3 min 26 s, synthesised in code.

Needs no file and no network, and is the same, sample for sample, on every machine (numpy's
PCG64 with a fixed seed for the melody's choices and the drums' noise). It has what makes
learning a song a meaningful task, at 93 beats per minute in 4/4 (one bar = 2.58 s):

- harmony: a pad playing the chord of each bar (vi-IV-I-V in the verses, IV-V-iii-vi in the
  choruses, ii-iii-IV-V in the bridge, C major / A minor);
- a bass line on the chord roots in a syncopated rhythm, plucked (decaying) tones;
- a melody of two-bar motifs drawn from the chord tones and the scale, repeated with variation;
- drums: kick on beats 1 and 3, snare on 2 and 4, closed hi-hat on eighth notes;
- a player's looseness: every note is nudged by up to +-8 ms and +-12% in loudness, so repeated
  bars are never sample-identical (a model cannot score by memorising exact repeats);
- dynamics and form: intro (pad alone, rising), verse, chorus, verse, bridge (crescendo), a last
  chorus easing off; 80 bars in all. It does not fade out: the dev split is the song's last 8%,
  and it should sound like the rest.
"""
import numpy as np

TITLE = "Etude for rnnsound (synthesised, 93 bpm, C major, 3:26)"
BPM = 93  # a bar is 2.58 s = 41290.3 samples at 16 kHz: no blog frame size divides it
BEAT = 60.0 / BPM          # seconds
BAR = 4 * BEAT             # seconds

_PROGRESSIONS = {          # chord roots as MIDI notes, with chord quality
    "verse": [(57, "m"), (53, ""), (48, ""), (55, "")],    # Am F C G
    "chorus": [(53, ""), (55, ""), (52, "m"), (57, "m")],  # F G Em Am
    "bridge": [(50, "m"), (52, "m"), (53, ""), (55, "")],  # Dm Em F G
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
        n = min(len(wave), len(self.buf) - i)
        self.buf[i:i + n] += wave[:n]

    def tone(self, start, seconds, freq, harmonics, attack, decay, gain, vibrato=0.0):
        start, gain = self.humanise(start, gain)
        t = self.t(seconds)
        phase = 2 * np.pi * freq * t + vibrato * np.sin(2 * np.pi * 5.0 * t)
        wave = sum(np.sin(k * phase) / k ** harmonics for k in range(1, 6))
        env = np.minimum(1.0, t / attack) * np.exp(-t / decay)
        env *= np.minimum(1.0, (seconds - t) / 0.02)  # 20 ms release: no clicks at note ends
        self.add(start, gain * env * wave)


def _drums(mix, start, gain, rng):
    for beat in range(4):
        t0, g = mix.humanise(start + beat * BEAT, gain)
        if beat in (0, 2):  # kick: a sine sweeping 110 -> 45 Hz
            t = mix.t(0.35)
            f = 45 + 65 * np.exp(-t / 0.04)
            mix.add(t0, g * 0.9 * np.sin(2 * np.pi * np.cumsum(f) / mix.rate) * np.exp(-t / 0.12))
        else:  # snare: a 180 Hz body plus a noise burst
            t = mix.t(0.25)
            noise = np.diff(rng.standard_normal(len(t) + 1))  # differenced: brighter noise
            mix.add(t0, g * (0.25 * np.sin(2 * np.pi * 180 * t) + 0.22 * noise) * np.exp(-t / 0.06))
        for half in (0.0, 0.5):  # closed hi-hat: short high-passed noise
            t = mix.t(0.06)
            noise = np.diff(np.diff(rng.standard_normal(len(t) + 2)))
            mix.add(t0 + half * BEAT, g * 0.05 * noise * np.exp(-t / 0.015))


def _motif(rng, chord):
    """Two bars of melody: (onset in beats, length in beats, MIDI note)."""
    rhythms = ([1, 1, 0.5, 0.5, 1], [1.5, 0.5, 1, 1], [0.5, 0.5, 1, 2], [2, 1, 1])  # 4 beats each
    rhythm = rhythms[rng.integers(len(rhythms))]
    notes, beat = [], 0.0
    for length in list(rhythm) + list(rng.permutation(rhythm)):
        if rng.random() < 0.6:
            pitch = rng.choice(chord) + 12
        else:
            pitch = 60 + rng.choice(_SCALE) + 12 * rng.integers(0, 2)
        notes.append((beat, length, int(pitch)))
        beat += length
    return notes


def render(sample_rate=16000, seed=2016):
    """The song as float32 mono samples in [-0.8, 0.8] at `sample_rate`."""
    rng = np.random.default_rng(seed)
    seconds = sum(section[1] for section in _FORM) * BAR
    mix = _Mixer(seconds, sample_rate, rng)
    bar_start = 0.0
    for name, bars, prog, g0, g1, melody, drums in _FORM:
        motifs = {}
        for i in range(bars):
            gain = g0 + (g1 - g0) * i / max(1, bars - 1)
            root, quality = _PROGRESSIONS[prog][i % 4]
            chord = _chord(root, quality)
            for note in chord:  # pad: soft attack, held for the bar
                mix.tone(bar_start, BAR, _freq(note), 2.0, 0.3, 6.0, 0.07 * gain)
            for onset, length in ((0, 1.5), (1.5, 1.0), (2.5, 1.5)):  # bass: syncopated roots
                mix.tone(bar_start + onset * BEAT, length * BEAT, _freq(root - 12), 1.0, 0.005, 0.4, 0.22 * gain)
            if melody and i % 2 == 0:
                key = (i // 2) % 4  # four motifs per section, repeated; a variation the 2nd time
                if key not in motifs:
                    motifs[key] = _motif(rng, chord)
                up = 12 if (i // 8) % 2 else 0  # the second pass plays the motif an octave up
                for onset, length, pitch in motifs[key]:
                    mix.tone(bar_start + onset * BEAT, length * BEAT * 0.95, _freq(pitch + up),
                             1.5, 0.01, 0.8, 0.14 * gain, vibrato=0.15)
            if drums:
                _drums(mix, bar_start, gain, rng)
            bar_start += BAR
    song = mix.buf[:int(round(seconds * sample_rate))]
    return (0.8 * song / np.max(np.abs(song))).astype(np.float32)
