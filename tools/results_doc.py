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

  python tools/results_doc.py            # rewrite every page whose tables are out of date
  python tools/results_doc.py --check    # exit 1 if one is (tests/test_docs.py runs this check)
"""
import argparse
import csv
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(HERE, "README.md")] + sorted(glob.glob(os.path.join(HERE, "docs", "*.md")))
RESULTS = os.path.join(HERE, "docs", "results")
MARKER = re.compile(r"<!-- table: (?P<spec>.*?) -->\n.*?<!-- end table -->", re.S)
# her figures for her committed pairs (docs/recipe.md), relative to her data's variance
HERS = {("1000", "100"): "0.59 (train 0.056 -> 0.033, 390 updates)",
        ("4000", "50"): "0.90 (dev 0.0561 -> 0.0504, 210 updates)"}


def ratio(a, b):
    return lambda r: f"{float(r[a]) / float(r[b]):.3f}" if r.get(a) and r.get(b) else ""


DERIVED = {
    "linear/zero": ratio("linear", "zero"),
    "hers": lambda r: HERS.get((r.get("F"), r.get("L")), ""),
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


def stale():
    """{path: regenerated text} of the pages whose generated tables differ from their CSVs."""
    out = {}
    for path in DOCS:
        with open(path) as f:
            old = f.read()
        new = render(old)
        if new != old:
            out[path] = new
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
