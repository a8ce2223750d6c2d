"""Pictures: learning curves, generated audio (waveform + spectrogram), sweep summaries.

All PNGs are written atomically with the non-interactive Agg backend (no display needed).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .atomic import atomic_path  # noqa: E402


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
    plt.close(fig)


def _baseline_lines(ax, baselines):
    styles = {"zero": ":", "last_frame": "--", "linear": "-."}
    for name, style in styles.items():
        if baselines and name in baselines:
            ax.axhline(baselines[name], color="gray", ls=style, lw=1, label=f"dev baseline: {name.replace('_', ' ')}")


def learning_curve(rows, path, title="", baselines=None):
    """rows: log.csv dicts. Train MSE per batch (thin), per epoch (dots), dev MSE per epoch."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    batch = [r for r in rows if r["kind"] == "batch"]
    epoch = [r for r in rows if r["kind"] == "epoch"]
    if batch:
        ax.plot([int(r["step"]) for r in batch], [float(r["train_mse"]) for r in batch], lw=0.6, alpha=0.5, label="train (batch)")
    if epoch:
        steps = [int(r["step"]) for r in epoch]
        ax.plot(steps, [float(r["train_mse"]) for r in epoch], "o-", ms=3, label="train (epoch mean)")
        ax.plot(steps, [float(r["dev_mse"]) for r in epoch], "s-", ms=3, label="dev")
    _baseline_lines(ax, baselines)
    ax.set_xlabel("update")
    ax.set_ylabel("MSE (normalised units)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def audio_picture(seed, output, rate, path, title=""):
    """Waveform and spectrogram of seed (gray) followed by the generated output."""
    song = np.concatenate([seed, output])
    t = np.arange(len(song)) / rate
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
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
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, rows in runs.items():
        epoch = [r for r in rows if r["kind"] == "epoch"]
        ax.plot([int(r["epoch"]) for r in epoch], [float(r["dev_mse"]) for r in epoch], "o-", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev MSE")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)


def sweep_summary(xs, ys, baselines, path, xlabel, title):
    """Best dev MSE against the swept value, each run's baselines as dashed lines."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    positions = np.arange(len(xs))
    ax.plot(positions, ys, "o-", label="model (best dev MSE)")
    for name, style in (("zero", ":"), ("last_frame", "--"), ("linear", "-.")):
        ax.plot(positions, [b.get(name, np.nan) for b in baselines], style, color="gray",
                label=f"baseline: {name.replace('_', ' ')}")
    ax.set_xticks(positions, [str(x) for x in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("dev MSE")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)
