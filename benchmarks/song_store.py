"""Disk and time of preparing one long song at two (F, L): views onto the song stored once (the
default) against self-contained copies (`prepare --copy`).

The song: the embedded étude at her length (174,229,537 samples, 3 h 1 min; `--minutes` for
another length). Four prepares in one process, each into a fresh folder: views at (1000, 100),
then views at (4000, 50) of the song already stored, then a copy of each. Prints seconds per
prepare and the bytes each folder holds, against the song's float32 size.

  python benchmarks/song_store.py --out /tmp/store_bench
"""
import argparse
import os
import shutil
import time

from rnnsound.config import DataConfig
from rnnsound.default_song import BLOG_SAMPLES, EmbeddedSong, parse_minutes
from rnnsound.prepare import prepare

PAIRS = ((1000, 100), (4000, 50))


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="a scratch folder (emptied first)")
    p.add_argument("--minutes", default="blog", help="length of the song (default: her 174,229,537 samples)")
    args = p.parse_args()
    song = EmbeddedSong(samples=BLOG_SAMPLES if args.minutes == "blog" else parse_minutes(args.minutes))
    song_gb = song.num_samples() * 4 / 1e9
    shutil.rmtree(args.out, ignore_errors=True)
    results = {}
    for mode in ("views", "copies"):
        folder = os.path.join(args.out, mode)
        os.makedirs(folder)
        for F, L in PAIRS:
            t = time.perf_counter()
            info = prepare(song, os.path.join(folder, f"f{F}_l{L}.hdf5"), DataConfig(frame_size=F, seq_len=L),
                           progress=False, copy=mode == "copies")
            seconds = time.perf_counter() - t
            print(f"{mode:6s} F={F:<5d} L={L:<4d} {info['train']:5d} + {info['dev']:3d} examples  {seconds:7.1f} s",
                  flush=True)
        results[mode] = folder_bytes(folder) / 1e9
        print(f"{mode}: {results[mode]:.3f} GB on disk for both, {results[mode] / song_gb:.2f}x the song's float32 "
              f"size ({song_gb:.3f} GB)", flush=True)
    print(f"views / copies: {results['views'] / results['copies']:.3f} of the disk")


if __name__ == "__main__":
    main()
