"""The experiment's settings: frozen dataclasses holding the blog's defaults.

Every field says its unit (samples, frames, steps, examples) and where its default comes from:
"blog" (the post or her committed code, see docs/recipe.md) or "GUESS" (the blog does
not say; our choice). Overrides come as strings `key=value`, are converted to the field's type,
and unknown keys are refused, so a typo never runs silently with a default.
"""
import dataclasses
import math
import typing

from .errors import UserError

# Fraction of the class song used for training: 160,000,000 of its 174,229,537 samples.
BLOG_TRAIN_FRACTION = 160_000_000 / 174_229_537
CLIP_SECONDS = 30.0  # blog: 30 seconds of generated audio written out

# The allowed values of every setting that is a choice: the command lines offer these, and
# `validate` checks them (the first is not always the default).
CHOICES = {"normalisation": ("minmax", "stdev"), "dtype": ("float32", "float64"),
           "cell": ("gru", "lstm"), "recur_axis": ("time", "batch"), "optimizer": ("rmsprop", "adam"),
           "backend": ("jax", "c", "numba"), "output": ("mse", "gmm", "mulaw", "tier")}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How a song becomes a dataset (`rnnsound prepare`)."""
    sample_rate: int = 16000      # Hz; blog: the class song was 16 kHz
    frame_size: int = 1000        # F, samples per frame; blog swept 40..40000, 1000 in most plots
    seq_len: int = 100            # L, frames per example; blog swept 50..10000, 100 in most plots
    hop: int = 0                  # frames between example starts; 0 = L (blog: no overlap)
    normalisation: str = "minmax"  # blog: "minmax" in every plot; "stdev" was her second option
    train_fraction: float = BLOG_TRAIN_FRACTION  # blog: 160e6 / 174229537 samples
    dtype: str = "float32"        # GUESS for speed; the blog stored float64

    @property
    def hop_frames(self):
        return self.hop or self.seq_len

    def validate(self):
        _in_range(self, "sample_rate", 1000, 384000)
        _in_range(self, "frame_size", 1, 10 ** 7)
        _in_range(self, "seq_len", 1, 10 ** 7)
        _in_range(self, "hop", 0, 10 ** 7, note=" (0 = no overlap)")
        _in_range(self, "train_fraction", 0.0, 1.0, open_ends=True)
        _check_choices(self, ("normalisation", "dtype"))
        return self


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The model and its training recipe (`rnnsound train`)."""
    cell: str = "gru"             # blog: GRU in every plotted run; "lstm" for the comparison
    hidden: int = 256             # H, units per layer; blog: 199 or 256
    layers: int = 2               # blog: 2
    init_width: float = 0.08      # blog: weights uniform in [-0.04, 0.04]; biases zero
    forget_bias: float = 0.0      # LSTM only; blog/Blocks default 0, classmates used 1
    recur_axis: str = "time"      # "time" = intended; "batch" = her committed bug (no transpose)
    optimizer: str = "rmsprop"    # blog: RMSProp; "adam" as an alternative
    learning_rate: float = 0.002  # blog
    decay_rate: float = 0.95      # blog: RMSProp decay of the squared-gradient average
    max_scaling: float = 1e5      # Blocks' RMSProp default: the RMS is floored at 1/max_scaling
    step_clip: float = 1.0        # blog: the whole RMSProp step rescaled to norm <= 1.0 (0 = off)
    lr_decay: float = 0.97        # blog: learning rate multiplied by this after every epoch
    batch_size: int = 128         # examples per minibatch; blog
    epochs: int = 30              # blog
    seed: int = 1234              # GUESS: fixes initialisation and data order
    bptt_chunk: int = 0           # frames per backprop chunk (exact gradient, less memory); 0 = auto
    memory_gb: float = 8.0        # GUESS: budget for stored activations that picks bptt_chunk
    backend: str = "jax"          # PyTensor linker; chosen on measurement (README, benchmarks/)
    output: str = "mse"           # output head (rnnsound.heads): blog "mse"; "gmm", "mulaw" and "tier" go beyond it
    mixtures: int = 4             # GUESS: Gaussian components of output=gmm (each F means and F scales)
    tier_dim: int = 128           # GUESS: units of output=tier's sample-level MLP; SampleRNN: 1024
    tier_context: int = 16        # GUESS: previous samples output=tier's MLP reads; SampleRNN's two tiers: 16
    input_noise: float = 0.0      # std of Gaussian noise on training inputs (normalised units); blog: none

    def validate(self):
        for name, lo, hi in (
            ("hidden", 1, 16384),
            ("layers", 1, 64),
            ("batch_size", 1, 10**6),
            ("epochs", 0, 10**6),
            ("seed", 0, 2**32 - 1),
            ("bptt_chunk", 0, 10**7),
        ):
            _in_range(self, name, lo, hi)
        _check_choices(self, ("cell", "recur_axis", "optimizer", "backend", "output"))
        _in_range(self, "learning_rate", 0.0, None, open_ends=True)
        _in_range(self, "init_width", 0.0, 10.0, open_ends=True)
        _in_range(self, "forget_bias", -100.0, 100.0)
        _in_range(self, "decay_rate", 0.0, 1.0, note=" (1 would never update the mean square)", open_high=True)
        _in_range(self, "max_scaling", 0.0, None, open_ends=True)
        _in_range(self, "step_clip", 0.0, None, note=" (0 = no clipping)")
        _in_range(self, "lr_decay", 0.0, 1.0, note=" (the learning rate is multiplied by it after every epoch)",
                  open_low=True)
        _in_range(self, "memory_gb", 0.0, 10 ** 4, open_ends=True)
        _in_range(self, "mixtures", 1, 256)
        _in_range(self, "tier_dim", 1, 4096)
        _in_range(self, "tier_context", 1, 4096)
        _in_range(self, "input_noise", 0.0, 10.0)
        return self


def _check_choices(config, names):
    for name in names:
        if getattr(config, name) not in CHOICES[name]:
            raise UserError(f"{name.replace('_', '-')} must be one of {', '.join(CHOICES[name])}; "
                            f"got {getattr(config, name)!r}")


def _in_range(config, name, lo, hi, note="", open_ends=False, open_low=False, open_high=False):
    """A field's value must be finite and within [lo, hi] (ends excluded where asked): else one line."""
    value = getattr(config, name)
    low_open, high_open = open_ends or open_low, open_ends or open_high
    ok = math.isfinite(value) and (value > lo if low_open else value >= lo) and \
        (hi is None or (value < hi if high_open else value <= hi))
    if not ok:
        span = (
            ("(" if low_open else "[") + f"{lo}, " + ("inf)" if hi is None else f"{hi}" + (")" if high_open else "]"))
        )
        raise UserError(f"{name.replace('_', '-')} must be in {span}{note}; got {value}")


def _convert(value, kind, key):
    if kind is bool:
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
    else:
        try:
            return kind(value)
        except ValueError:
            pass
    raise UserError(f"override {key}={value!r}: expected a {kind.__name__}")


def with_overrides(config, overrides):
    """Return a copy of `config` with `overrides` ({key: str or typed value}) applied.

    Keys may use dashes or underscores. An unknown key is an error naming the valid ones.
    """
    types = typing.get_type_hints(type(config))
    changes = {}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name not in types:
            valid = ", ".join(f.name for f in dataclasses.fields(config))
            raise UserError(f"unknown setting {key!r} for {type(config).__name__}; valid: {valid}")
        changes[name] = _convert(value, types[name], key) if isinstance(value, str) else types[name](value)
    return dataclasses.replace(config, **changes).validate()


def parse_assignments(pairs):
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; a pair without '=' is an error."""
    out = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise UserError(f"override {pair!r} must look like key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def from_dict(cls, data, source="the saved settings"):
    """Build a config from a saved dict (a run's config.json, a dataset's attributes), ignoring keys
    a newer version no longer has, and check it as the command line's values are checked: a value
    of the wrong type or out of range is one line naming `source`, never a traceback later."""
    types = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in types:
            continue
        kind = types[key]
        numeric = kind in (int, float) and not isinstance(value, bool)
        if kind is float and numeric and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind) or kind is not bool and isinstance(value, bool):
            raise UserError(f"{source} is damaged: {key} is {value!r}, not of type {kind.__name__}; restore it, or "
                            "make it anew")
        values[key] = value
    try:
        return cls(**values).validate()
    except UserError as e:
        raise UserError(f"{source} is damaged: {e}; restore it, or make it anew")


DATA_KEYS = tuple(f.name for f in dataclasses.fields(DataConfig))
TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def split_overrides(overrides):
    """({data overrides}, {train overrides}) of one dict of both; an unknown key is one line."""
    data = {k: v for k, v in overrides.items() if k.replace("-", "_") in DATA_KEYS}
    train = {k: v for k, v in overrides.items() if k.replace("-", "_") in TRAIN_KEYS}
    unknown = set(overrides) - set(data) - set(train)
    if unknown:
        raise UserError(f"unknown setting(s) {', '.join(sorted(unknown))}; valid: "
                        f"{', '.join(sorted(DATA_KEYS + TRAIN_KEYS))}")
    return data, train


def configs(overrides):
    """(DataConfig, TrainConfig): the blog's defaults with `overrides` (one dict of both), validated."""
    data, train = split_overrides(overrides)
    return with_overrides(DataConfig(), data), with_overrides(TrainConfig(), train)
