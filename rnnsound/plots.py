"""Pictures: learning curves, generated audio (waveform + spectrogram), sweep summaries.

Figures are matplotlib `Figure` objects saved through the Agg canvas, without pyplot: no global
backend is chosen, no display is needed, and nothing is left open. All PNGs are written atomically.
"""
import numpy as np
from matplotlib.figure import Figure

from .atomic import atomic_path


def _figure(rows=1, figsize=(8, 4.5), **kwargs):
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, 1, **kwargs)


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")


BASELINE_STYLES = {"zero": ":", "last_frame": "--", "linear": "-."}


def _finish(fig, ax, path, xlabel, ylabel, title, legend_size=8):
    """The common ending of the MSE plots: labels, log y axis, legend, grid, atomic save."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=legend_size)
    ax.grid(alpha=0.3)
    _save(fig, path)


def learning_curve(rows, path, title="", baselines=None):
    """rows: log.csv dicts. Train MSE per batch (thin), per epoch (dots), dev MSE per epoch."""
    fig, ax = _figure()
    batch = [r for r in rows if r["kind"] == "batch"]
    epoch = [r for r in rows if r["kind"] == "epoch"]
    if batch:
        ax.plot([int(r["step"]) for r in batch], [float(r["train_mse"]) for r in batch], lw=0.6, alpha=0.5,
                label="train (batch)")
    if epoch:
        steps = [int(r["step"]) for r in epoch]
        ax.plot(steps, [float(r["train_mse"]) for r in epoch], "o-", ms=3, label="train (epoch mean)")
        ax.plot(steps, [float(r["dev_mse"]) for r in epoch], "s-", ms=3, label="dev")
    for name, style in BASELINE_STYLES.items():
        if baselines and name in baselines:
            ax.axhline(baselines[name], color="gray", ls=style, lw=1, label=f"dev baseline: {name.replace('_', ' ')}")
    _finish(fig, ax, path, "update", "MSE (normalised units)", title)


def audio_picture(seed, output, rate, path, title=""):
    """Waveform and spectrogram of seed (gray) followed by the generated output."""
    song = np.concatenate([seed, output])
    t = np.arange(len(song)) / rate
    fig, (a, b) = _figure(2, figsize=(10, 6), sharex=True)
    a.plot(t[:len(seed)], seed, color="gray", lw=0.3, label="seed (from the song)")
    a.plot(t[len(seed):], output, color="C0", lw=0.3, label="generated")
    a.set_ylabel("amplitude")
    a.legend(loc="upper right", fontsize=8)
    a.set_title(title)
    nfft = min(1024, 2 ** int(np.log2(max(len(song), 16))))  # short clips: a shorter window
    b.specgram(song, Fs=rate, NFFT=nfft, noverlap=nfft // 2, cmap="magma")
    b.axvline(len(seed) / rate, color="w", lw=1)
    b.set_ylabel("Hz")
    b.set_xlabel("seconds")
    _save(fig, path)


def sweep_curves(runs, path, title):
    """Dev-MSE learning curves of several runs overlaid: runs = {label: log rows}."""
    fig, ax = _figure()
    for label, rows in runs.items():
        epoch = [r for r in rows if r["kind"] == "epoch"]
        ax.plot([int(r["epoch"]) for r in epoch], [float(r["dev_mse"]) for r in epoch], "o-", ms=3, label=label)
    _finish(fig, ax, path, "epoch", "dev MSE", title, legend_size=7)


def sweep_summary(labels, ys, baselines, path, title):
    """Best dev MSE of each run, with that run's baselines (each run's dev split may differ)."""
    fig, ax = _figure(figsize=(max(8, 1.2 * len(labels)), 5))
    positions = np.arange(len(labels))
    ax.plot(positions, ys, "o-", label="model (best dev MSE)")
    for name, style in BASELINE_STYLES.items():
        ax.plot(positions, [b.get(name, np.nan) for b in baselines], style, color="gray",
                label=f"baseline: {name.replace('_', ' ')}")
    ax.set_xticks(positions, [str(x) for x in labels], fontsize=8, rotation=20, ha="right")
    _finish(fig, ax, path, "run", "dev MSE", title)


def clips_side_by_side(rows, rate, path, title=""):
    """One row per clip: (label, seed, clip) samples -> the seed (gray) and clip's waveform on the
    left, their spectrogram on the right (a white line where the seed ends): heads compared at a glance."""
    fig = Figure(figsize=(14, 2.4 * len(rows)))
    axes = fig.subplots(len(rows), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.3]})
    for (label, seed, clip), (a, b) in zip(rows, axes):
        song = np.concatenate([seed, clip])
        t = np.arange(len(song)) / rate
        a.plot(t[:len(seed)], seed, color="gray", lw=0.3)
        a.plot(t[len(seed):], clip, color="C0", lw=0.3)
        a.set_ylabel(label, fontsize=9)
        a.set_ylim(-1.05 * max(1e-6, np.abs(song).max()), 1.05 * max(1e-6, np.abs(song).max()))
        b.specgram(song, Fs=rate, NFFT=1024, noverlap=512, cmap="magma")
        b.axvline(len(seed) / rate, color="w", lw=1)
        b.set_ylabel("Hz", fontsize=8)
    axes[0][0].set_title(f"{title}: waveform (gray: the seed from the song)" if title else "waveform", fontsize=10)
    axes[0][1].set_title("spectrogram", fontsize=10)
    axes[-1][0].set_xlabel("seconds")
    axes[-1][1].set_xlabel("seconds")
    _save(fig, path)


def bits_over_time(runs, path, title=""):
    """Dev bits per sample against training wall time, one line per run: runs = {label: log rows}.
    Heads of different step costs compared at equal training time."""
    fig, ax = _figure()
    for label, rows in runs.items():
        epoch = [r for r in rows if r["kind"] == "epoch" and r.get("dev_bits")]
        ax.plot([float(r["seconds"]) / 60 for r in epoch], [float(r["dev_bits"]) for r in epoch], "o-", ms=3,
                label=label)
    ax.set_xlabel("training wall time (minutes)")
    ax.set_ylabel("dev bits per sample (8-bit mu-law)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)
