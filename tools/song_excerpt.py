"""Write 10 s of a prepared dataset's song (the start of its reference stretches: the training part
of the song, rnnsound.streams.song_stretches) as Opus, for docs/listen.html.

  python tools/song_excerpt.py results/cells_ambient/data/ambient_blog_..._f4000_l50_h50.hdf5 docs/listen/ambient.opus
"""
import argparse
import os
import sys

import soundfile as sf

from rnnsound.prepare import denormalise
from rnnsound.runtime import exit_status
from rnnsound.streams import norm_of, read_attrs, song_stretches

SECONDS = 10.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="a dataset made by rnnsound prepare")
    p.add_argument("output", help="an .opus file to write")
    args = p.parse_args()
    if not args.output.endswith(".opus"):
        p.error("the output must end in .opus")
    return exit_status("song_excerpt.py", write_excerpt, args.dataset, args.output)


def write_excerpt(dataset, output):
    attrs = read_attrs(dataset)
    rate = attrs["sample_rate"]
    stretches, source = song_stretches(dataset, attrs, rate)
    x = denormalise(stretches[0][:int(SECONDS * rate)], norm_of(attrs))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    sf.write(output, x, rate, format="OGG", subtype="OPUS")
    print(f"{output}: {len(x) / rate:.1f} s from {source}")


if __name__ == "__main__":
    sys.exit(main())
