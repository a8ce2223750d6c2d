"""The `rnnsound` command: prepare, train, generate, report. Thin wrappers over importable functions."""
import argparse
import os
import signal

from . import epoch_clips, song as songs
from .config import CHOICES, CLIP_SECONDS, DataConfig, TrainConfig, parse_assignments, with_overrides
from .errors import UserError
from .generate import GENERATION_MODES, MAX_SECONDS, clip_paths, generate, generate_clips
from .interrupts import SIGNALS, stop_now
from .prepare import prepare
from .rundir import RunFolder
from .runtime import exit_status, quiet_known_warnings
from .listen import run_page
from .sweeps.report import report, sweep_runs
from .sweeps.run import remeasure
from .train import train


def _prepare(args):
    song = songs.from_args(args.song, args.style, args.minutes)
    cfg = with_overrides(DataConfig(), {
        "sample_rate": args.sample_rate, "frame_size": args.frame_size, "seq_len": args.seq_len, "hop": args.hop,
        "normalisation": args.normalisation, "train_fraction": args.train_fraction, "dtype": args.dtype})
    out = args.output or f"data/{song.stem}_f{cfg.frame_size}_l{cfg.seq_len}" \
                         f"{'' if cfg.hop == 0 else f'_h{cfg.hop}'}.hdf5"
    info = prepare(song, out, cfg, progress=not args.quiet, accept_damaged=args.accept_damaged, copy=args.copy)
    print(f"wrote {out}: {info['train']} train + {info['dev']} dev examples of {cfg.seq_len} frames x "
          f"{cfg.frame_size} samples ({info['samples'] / cfg.sample_rate:.1f} s of audio at {cfg.sample_rate} Hz)"
          + ("" if args.copy else f", views onto the song stored in {info['store']}"))


def _train_config(args):
    """Blog defaults, or with --resume the run's saved config; then the flags given."""
    overrides = {k.replace("-", "_"): v for k, v in parse_assignments(args.set).items()}
    for flag in ("cell", "hidden", "layers", "epochs", "batch_size", "backend", "seed"):
        value = getattr(args, flag)
        if value is not None:
            if flag in overrides:
                raise UserError(f"--{flag.replace('_', '-')} {value} and --set {flag}={overrides[flag]} both set "
                                f"{flag}; give it once")
            overrides[flag] = value
    base = TrainConfig()
    if args.resume and os.path.exists(RunFolder(args.resume).config):
        base = RunFolder(args.resume).read_config()[1]
    return with_overrides(base, overrides)


def _train(args):
    cfg = _train_config(args)
    run_dir = args.resume or args.output
    if args.resume and args.output and os.path.abspath(args.resume) != os.path.abspath(args.output):
        raise UserError(f"-o {args.output} and --resume {args.resume} name two run folders; give --resume RUN to "
                        "continue a run, or -o RUN for a new one")
    if run_dir is None:
        raise UserError("give a run folder with -o/--output (or --resume FOLDER)")
    s = train(args.dataset, cfg, run_dir, resume=bool(args.resume), progress=not args.quiet,
              sample_every=args.sample_every, sample_seconds=args.sample_seconds)
    b = s["baselines"]
    print(
        f"{run_dir}: {s['epochs']} epochs, {s['steps']} updates in {s['seconds']:.0f} s; "
        f"best dev MSE {s['best_dev']:.5g} "
        f"(predict zero {b['zero']:.5g}, repeat last frame {b['last_frame']:.5g}, linear {b['linear']:.5g})"
    )


def clip_line(m):
    """A clip's metrics (rnnsound.metrics) in one line."""
    flat = "none audible" if m["spectral_flatness"] is None else f"{m['spectral_flatness']:.3g}"
    song_flat = "n/a" if m["song_spectral_flatness"] is None else f"{m['song_spectral_flatness']:.3g}"
    return (
        f"last 5 s at {m['end_level_db']:+.1f} dB of the song's loudness, {100 * m['seconds_in_song_range']:.0f}% "
        f"of seconds in its range; spectral flatness {flat} (song {song_flat}), spectral distance "
        f"{m['spectral_distance_db']:.1f} dB, tick score {m['tick_score']:.2f}, clipped "
        f"{100 * m['clipped_fraction']:.2f}%; {m['copy_frames']} of {m['audible_frames']} audible frames copy the song"
    )


def _generate(args):
    out = args.output or os.path.join(args.run_dir, "samples", f"{args.mode}_{args.seed_split}{args.seed_index}.wav")
    clips = generate_clips(args.run_dir, out, args.mode, args.seconds, args.seed_index, args.seed_split,
                           args.checkpoint, progress=not args.quiet, sample_rate=args.sample_rate,
                           temperature=args.temperature, sampling_seed=args.sampling_seed, count=args.count)
    if args.quiet:
        return
    for path, m in zip(clip_paths(out, args.count), clips):
        drawn = f", {m['output_head']} head at temperature {m['temperature']:g}"
        print(f"wrote {path} ({m['seconds']:.1f} s, {args.mode}{drawn}): {clip_line(m)}")


def _demo(args):
    """The main job on the embedded song: prepare, train with the blog's recipe, generate 3 ways."""
    cfg = with_overrides(TrainConfig(), {"epochs": args.epochs})  # every value checked before any work
    dcfg = with_overrides(DataConfig(), {"frame_size": args.frame_size, "seq_len": args.seq_len, "hop": args.hop})
    if not 0 < args.seconds <= MAX_SECONDS:
        raise UserError(f"--seconds must be between 0 and {MAX_SECONDS}, got {args.seconds}")
    epoch_clips.EpochClips.check(args.sample_every, epoch_clips.SECONDS)
    data = os.path.join(args.output, f"default_f{args.frame_size}_l{args.seq_len}_h{args.hop}.hdf5")
    if not os.path.exists(data):
        info = prepare(None, data, dcfg, progress=not args.quiet)
        print(f"dataset {data}: {info['train']} train + {info['dev']} dev examples")
    run = os.path.join(args.output, "run")
    resume = os.path.exists(RunFolder(run).last)
    s = train(data, cfg, run, resume=resume, progress=not args.quiet, sample_every=args.sample_every)
    b = s["baselines"]
    print(f"trained {s['steps']} updates in {s['seconds']:.0f} s: best dev MSE {s['best_dev']:.5g}; baselines: predict "
          f"zero {b['zero']:.5g}, repeat last frame {b['last_frame']:.5g}, linear {b['linear']:.5g}")
    for mode in ("stateful", "window", "blog"):
        out = RunFolder(run).sample(mode)
        m = generate(run, out, mode, args.seconds, progress=not args.quiet)
        print(f"{out}: {clip_line(m)}")
    print(f"listen: {run_page(run)}")


def _report(args):
    if not os.path.exists(os.path.join(args.folder, "sweep.json")) and \
            os.path.exists(RunFolder(args.folder).config):
        if args.remeasure:
            raise UserError("--remeasure works on a sweep's folder; for one run, use rnnsound generate")
        print(f"listening page: {run_page(args.folder)}")
        return
    if args.remeasure:
        names = [n for n in sweep_runs(args.folder) if remeasure(args.folder, n)]
        print(f"{args.folder}: the clips of {len(names)} finished runs generated and measured again")
    summaries = report(args.folder)
    done = sum(s["status"] == "done" for s in summaries)
    print(
        f"{args.folder}: results.md, results.csv, curves.png and summary.png from {done} finished of {len(summaries)} "
        f"runs; listening page: {os.path.join(args.folder, 'index.html')}"
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error."""

    def error(self, message):
        self.exit(2, f"rnnsound: error: {message} (see {self.prog} --help)\n")


def _add_prepare(sub):
    """The `prepare` command's options."""
    d = DataConfig()
    pp = sub.add_parser("prepare", help="song -> Fuel-layout HDF5 dataset",
                        description="Decode a song (WAV/FLAC/OGG/Opus/MP3, any rate, any channels), mix to mono, "
                                    "resample, normalise, cut into examples of L frames of F samples, split "
                                    "train/dev, and write Fuel's H5PYDataset layout.")
    pp.add_argument("song", nargs="?", help="audio file; omitted: an embedded song (default: the 3:26 étude)")
    songs.add_song_options(pp)
    pp.add_argument(
        "--frame-size", "-F", type=int, default=d.frame_size, help="F, samples per frame (default %(default)s)"
    )
    pp.add_argument("--seq-len", "-L", type=int, default=d.seq_len, help="L, frames per example (default %(default)s)")
    pp.add_argument("--hop", type=int, default=d.hop, help="frames between example starts; 0 = L, no overlap (default)")
    pp.add_argument("--sample-rate", type=int, default=d.sample_rate, help="Hz to resample to (default %(default)s)")
    pp.add_argument("--normalisation", choices=CHOICES["normalisation"], default=d.normalisation,
                    help="minmax: the blog's 2*(x-mean-min)/(max-min)-1; stdev: (x-mean)/std (default %(default)s)")
    pp.add_argument("--train-fraction", type=float, default=d.train_fraction,
                    help="fraction of the song used for training (default: the class's 160e6/174229537)")
    pp.add_argument("--dtype", choices=CHOICES["dtype"], default=d.dtype, help="stored type (blog: float64)")
    pp.add_argument("-o", "--output", help="output .hdf5 (default data/<song>_f<F>_l<L>.hdf5)")
    pp.add_argument("--copy", action="store_true", help="write the examples into the file itself (a self-contained "
                    "file, about 2x the song's size) instead of views onto the song stored once in songs/ beside it")
    pp.add_argument("--accept-damaged", action="store_true", help="use a song file that is cut short (its header "
                    "promises more audio than it holds) or has samples far beyond full scale, instead of refusing it")
    pp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    pp.set_defaults(func=_prepare)


def _add_train(sub):
    """The `train` command's options."""
    t = TrainConfig()
    tp = sub.add_parser("train", help="train a GRU/LSTM on a prepared dataset",
                        description="Train with the blog's recipe (RMSProp 0.002, decay 0.95, step clipping 1.0, "
                                    "lr x0.97 per epoch, batch 128, 30 epochs) into a run folder.")
    tp.add_argument("dataset", help="a file written by `rnnsound prepare`")
    tp.add_argument("-o", "--output", help="run folder to create")
    tp.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this folder from its last.h5, "
                    "with its saved settings (give --epochs to extend it)")
    tp.add_argument("--cell", choices=CHOICES["cell"], help=f"recurrent cell (default {t.cell})")
    tp.add_argument("--hidden", type=int, help=f"units per layer (default {t.hidden}; the blog also used 199)")
    tp.add_argument("--layers", type=int, help=f"recurrent layers (default {t.layers})")
    tp.add_argument("--epochs", type=int, help=f"passes over the train split (default {t.epochs})")
    tp.add_argument("--batch-size", type=int, help=f"examples per update (default {t.batch_size})")
    tp.add_argument("--backend", choices=CHOICES["backend"], help=f"PyTensor backend (default {t.backend})")
    tp.add_argument("--seed", type=int, help=f"initialisation and data order (default {t.seed})")
    tp.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="any other TrainConfig field, e.g. --set recur_axis=batch --set learning_rate=0.001 "
                         "(fields: " + ", ".join(TrainConfig.__dataclass_fields__) + ")")
    tp.add_argument("--sample-every", type=int, default=0, metavar="N", help="after every N epochs write a short "
                    "stateful clip to RUN/epoch_clips/epoch_NNN.wav, to hear the model learn (default 0: none)")
    tp.add_argument("--sample-seconds", type=float, default=epoch_clips.SECONDS, help="length of those clips "
                    "(default %(default)s)")
    tp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    tp.set_defaults(func=_train)


def _add_generate(sub):
    """The `generate` command's options."""
    gp = sub.add_parser("generate", help="new audio from a trained run",
                        description="Generate audio from a trained run: seed with L frames of the song, feed "
                                    "predictions back, write a 16-bit WAV (seed excluded) with metrics and a picture.")
    gp.add_argument("run_dir", help="a folder written by `rnnsound train`")
    gp.add_argument("-o", "--output", help="output .wav (default RUN_DIR/samples/<mode>_<split><index>.wav)")
    gp.add_argument("--mode", choices=GENERATION_MODES, default="blog",
                    help="blog: feed each whole prediction back; window: slide an L-frame window; "
                         "stateful: carry the recurrent state (default %(default)s)")
    gp.add_argument("--seconds", type=float, default=CLIP_SECONDS,
                    help="length of generated audio (default %(default)s)")
    gp.add_argument("--seed-index", type=int, default=0, help="which example of the split seeds it (default 0)")
    gp.add_argument(
        "--seed-split", choices=("dev", "train"), default="dev", help="split the seed comes from (default dev)"
    )
    gp.add_argument("--checkpoint", choices=("best", "last"), default="best", help="weights to load (default best)")
    gp.add_argument("--sample-rate", type=int, help="Hz of the output, for a dataset that records none (a plain "
                    "Fuel file); ours record theirs")
    gp.add_argument("--temperature", type=float, help="scales the draws from the output head: 0 = its mean "
                    "(deterministic), 1 = its distribution (default: 1, or 0 for the blog's mse head)")
    gp.add_argument("--sampling-seed", type=int, default=0, help="fixes the draws: same seed, same audio (default 0)")
    gp.add_argument("--count", type=int, default=1, help="clips made side by side in one compiled call: clip i "
                    "seeds from example SEED_INDEX+i and draws with SAMPLING_SEED+i, written as OUT_i.wav (default 1)")
    gp.add_argument("-q", "--quiet", action="store_true", help="print nothing (errors still go to stderr)")
    gp.set_defaults(func=_generate)


def _add_demo(sub):
    """The `demo` command's options."""
    dp = sub.add_parser("demo", help="prepare the default song, train, generate: the whole job in one command",
                        description="The main job on the embedded default song: prepare it (F=100, L=100, windows "
                                    "every 20 frames), train the blog's 2x256 GRU with its recipe, and generate "
                                    "30 s in each mode. Rerunning resumes or skips finished work.")
    dp.add_argument(
        "-o", "--output", default="runs/demo", help="folder for the dataset and the run (default %(default)s)"
    )
    dp.add_argument("--epochs", type=int, default=TrainConfig().epochs,
                    help="training epochs (default %(default)s, the blog's)")
    dp.add_argument("--frame-size", type=int, default=100, help="F (default %(default)s)")
    dp.add_argument("--seq-len", type=int, default=100, help="L (default %(default)s)")
    dp.add_argument("--hop", type=int, default=20, help="frames between examples (default %(default)s: 5x overlap, "
                    "so a 3-minute song gives enough updates)")
    dp.add_argument("--seconds", type=float, default=CLIP_SECONDS,
                    help="seconds generated per mode (default %(default)s)")
    dp.add_argument("--sample-every", type=int, default=5, metavar="N", help="a 3 s clip after every N epochs, "
                    "played in order on the listening page (default %(default)s; 0: none)")
    dp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    dp.set_defaults(func=_demo)


def _add_report(sub):
    """The `report` command's options."""
    rp = sub.add_parser("report", help="rebuild an experiment's tables, plots and listening page from its run folders",
                        description="Rebuild results.csv, results.md, curves.png, summary.png and the listening "
                                    "page index.html of a sweep (experiments/*.py --out DIR) from the run folders in "
                                    "DIR/runs; given one run folder, write its listening page.")
    rp.add_argument("folder", help="the --out folder of an experiment, or a run folder")
    rp.add_argument("--remeasure", action="store_true", help="first generate every finished run's clips again (the "
                    "same audio, from best.h5) and measure them with this version's metrics")
    rp.set_defaults(func=_report)


def build_parser():
    p = _Parser(prog="rnnsound", description="Raw-audio generation with a PyTensor GRU/LSTM "
                                "(a reproduction of the 2016 'Sound generation summary').")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_prepare, _add_train, _add_generate, _add_demo, _add_report):
        add(sub)
    return p


def main(argv=None):
    previous = {s: signal.signal(s, stop_now) for s in SIGNALS}
    try:
        return _main(argv)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _main(argv):
    quiet_known_warnings()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return e.code
    return exit_status("rnnsound", args.func, args)
