"""Regenerate the generated tables of README.md and docs/*.md from the committed sweep results under
docs/results/.

Each generated table sits between two markers:

  <!-- table: output_heads/results.csv | run, updates, best dev, dev/zero -->
  ...rows written here...
  <!-- end table -->

The first part names a results.csv under docs/results/, the second its columns (any header of that
file, or a derived column below); an optional third part `| where COLUMN=VALUE[,VALUE...]` keeps
the rows whose column has one of those values. Rows that are not done show their status and
reason. Everything outside the markers is left as it is.

It also writes docs/listen.html: a player for the committed clips (docs/results/*/runs/*/*.opus, as
tools/publish_results.py writes them) of each sweep in LISTEN_SECTIONS, each named with its run,
the commit that made it and its main figures, beside an excerpt of its song (docs/listen/*.opus,
tools/song_excerpt.py).

  python tools/results_doc.py            # rewrite every page whose tables are out of date
  python tools/results_doc.py --check    # exit 1 if one is (tests/test_docs.py runs this check)
"""
import argparse
import csv
import glob
import html
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(HERE, "README.md")] + sorted(glob.glob(os.path.join(HERE, "docs", "*.md")))
RESULTS = os.path.join(HERE, "docs", "results")
MARKER = re.compile(r"<!-- table: (?P<spec>.*?) -->\n.*?<!-- end table -->", re.S)
sys.path.insert(0, HERE)
from rnnsound.sweeps.report import HER_FIGURES  # noqa: E402  (her figures, kept in one place)


def ratio(a, b):
    return lambda r: f"{float(r[a]) / float(r[b]):.3f}" if r.get(a) and r.get(b) else ""


DERIVED = {
    "linear/zero": ratio("linear", "zero"),
    "hers": lambda r: HER_FIGURES.get((int(r["F"]), int(r["L"])), "") if r.get("F") and r.get("L") else "",
    "train min": lambda r: f"{float(r['train s']) / 60:.1f}" if r.get("train s") else "",
}


def table(spec):
    parts = [p.strip() for p in spec.split("|")]
    path, columns = os.path.join(RESULTS, parts[0]), [c.strip() for c in parts[1].split(",")]
    if not os.path.exists(path):
        return f"(not run yet: no {os.path.relpath(path, HERE)}; its command is above)"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for cond in parts[2:]:
        key, values = cond.removeprefix("where ").split("=", 1)
        rows = [r for r in rows if r.get(key.strip()) in {v.strip() for v in values.split(",")}]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        if r.get("status", "done") != "done":
            lines.append(f"| {r['run']} | {r['status']}: {r.get('reason', '')} |" + " |" * (len(columns) - 2))
        else:
            lines.append("| " + " | ".join(DERIVED[c](r) if c in DERIVED else r[c] for c in columns) + " |")
    return "\n".join(lines)


def render(text):
    return MARKER.sub(lambda m: f"<!-- table: {m['spec']} -->\n{table(m['spec'])}\n<!-- end table -->", text)


LISTEN = os.path.join(HERE, "docs", "listen.html")
# (results folder, heading, clip modes played, song excerpt under docs/listen/)
LISTEN_SECTIONS = [
    ("demo_clips", "The demo (`rnnsound demo`): the étude, F=100, L=100", ("stateful", "window", "blog"), "etude.opus"),
    ("frame_size_ambient", "Frame size at her length (L=100, GRU), ambient song", ("stateful",), "ambient.opus"),
    ("cells_ambient", "LSTM against GRU, and her committed model, at her length, ambient song", ("stateful",),
     "ambient.opus"),
    ("cells_ambient_hop39", "LSTM against GRU at (4000, 50) with windows every 39 frames (1025 examples), her length",
     ("stateful",), "ambient.opus"),
    ("lstm_vs_gru_etude", "LSTM against GRU, étude", ("stateful", "blog"), "etude.opus"),
    ("frame_size_etude", "Frame size (L=100), étude", ("stateful", "blog"), "etude.opus"),
    ("committed_code_ablation_etude", "Her committed bug against the intended model, étude", ("stateful",),
     "etude.opus"),
    ("sequence_length_etude", "Sequence length (F=40), étude", ("stateful",), "etude.opus"),
    ("frame_size_sectoid", "Frame size (L=100), sectoid_feelings_16k.flac", ("stateful",), None),
    ("cells_wesnoth", "LSTM against GRU at her pairs, wesnoth_128min_16k.opus", ("stateful",), None),
    ("output_heads", "Output heads (mse, gmm, mulaw, tier), étude", ("stateful_t1", "stateful_t0.5", "stateful"),
     "etude.opus"),
]


def _clip_figures(summary, key):
    clip = summary.get(key, {})
    dev = summary["best_dev"] / summary["baselines"]["zero"]
    end = clip.get("end_level_db")
    flat = clip.get("spectral_flatness")
    return (f"dev/zero {dev:.3f}" + (f", ends at {end:+.1f} dB of the song's loudness" if end is not None else "")
            + (f", flatness {flat:.3g}" if flat is not None else ""))


def render_listen():
    """docs/listen.html's text: a section per committed sweep with clips, each clip a player."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>rnnsound: listen</title><style>"
             "body{font-family:sans-serif;max-width:1000px;margin:1em auto;padding:0 1em}td{padding:2px 8px}"
             "</style></head><body><h1>rnnsound: listen</h1><p>Generated clips of the committed results (Opus, "
             "30 s each, as the sweeps wrote them), beside the song. The tables and how each was made: "
             "<a href='results.md'>results.md</a>, <a href='output_heads.md'>output_heads.md</a>. This page is "
             "written by <code>python tools/results_doc.py</code>.</p>"]
    for folder, heading, modes, song in LISTEN_SECTIONS:
        meta = os.path.join(RESULTS, folder, "sweep.json")
        order = json.load(open(meta))["runs"] if os.path.exists(meta) else []
        runs = sorted(glob.glob(os.path.join(RESULTS, folder, "runs", "*", "summary.json")),
                      key=lambda p: (order.index(os.path.basename(os.path.dirname(p)))
                                     if os.path.basename(os.path.dirname(p)) in order else len(order), p))
        rows = []
        for path in runs:
            summary = json.load(open(path))
            if summary.get("status") != "done":
                continue
            commit = summary.get("clips_commit") or summary.get("commit", "")
            for mode in modes:
                clip = os.path.join(os.path.dirname(path), mode + ".opus")
                if not os.path.exists(clip):
                    continue
                src = html.escape(os.path.relpath(clip, os.path.dirname(LISTEN)))
                rows.append(f"<tr><td>{html.escape(summary['name'])}</td><td>{html.escape(mode)}</td>"
                            f"<td><audio controls preload='metadata' src='{src}'></audio></td>"
                            f"<td>{html.escape(_clip_figures(summary, mode))}; commit {html.escape(commit)}</td></tr>")
        if not rows:
            continue
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        excerpt = os.path.join(HERE, "docs", "listen", song) if song else None
        if excerpt and os.path.exists(excerpt):
            parts.append(f"<p>The song, 10 s of its training part: <audio controls preload='metadata' "
                         f"src='listen/{html.escape(song)}'></audio></p>")
        record = f"results/{folder}/results.md" if os.path.exists(os.path.join(RESULTS, folder, "results.md")) else \
            f"results/{folder}/"
        parts.append(f"<p>Folder: <a href='{record}'>results/{folder}</a></p><table>" + "".join(rows) + "</table>")
    return "\n".join(parts) + "\n</body></html>\n"


def stale():
    """{path: regenerated text} of the pages whose generated tables differ from their CSVs."""
    out = {}
    for path in DOCS:
        with open(path) as f:
            old = f.read()
        new = render(old)
        if new != old:
            out[path] = new
    listen = render_listen()
    if not os.path.exists(LISTEN) or open(LISTEN).read() != listen:
        out[LISTEN] = listen
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only check that every page is up to date")
    args = p.parse_args()
    pages = stale()
    if args.check:
        for path in pages:
            print(f"{os.path.relpath(path, HERE)} is out of date: run python tools/results_doc.py", file=sys.stderr)
        return 1 if pages else 0
    for path, text in pages.items():
        with open(path, "w") as f:
            f.write(text)
        print(f"{os.path.relpath(path, HERE)}: tables regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
