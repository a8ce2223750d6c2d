"""Listening pages: one self-contained `index.html` per sweep or run folder, to hear what it did.

A page plays every clip beside its waveform and spectrogram picture and its metrics, the clips
written while the run trained (in epoch order), and the song
itself (the seed its clips start from, and a stretch of the song's training part) so model and
song are compared by ear. It opens from `file://` with no network: every path is relative, the
only script is a few lines that sort the table by a clicked column. A clip whose files are gone
shows as a gap on the page.

  song/seed.wav, song/song.wav   written beside the page (16-bit WAV), from the first run's dataset
"""
import html
import os

from . import audio, epoch_clips
from .files import read_json, write_text
from .prepare import denormalise
from .rundir import RunFolder
from .streams import SongDataset, norm_of, read_attrs, song_stretches

SONG_SECONDS = 10.0  # of the song's training part, played beside the clips
SORT_SCRIPT = """<script>
for (const th of document.querySelectorAll("table.runs th")) th.onclick = () => {
  const body = th.closest("table").tBodies[0], i = th.cellIndex, up = th.dataset.up !== "1";
  const key = r => { const t = r.cells[i].textContent, n = parseFloat(t); return isNaN(n) ? t : n; };
  [...body.rows].sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (up ? 1 : -1))
    .forEach(r => body.appendChild(r));
  th.dataset.up = up ? "1" : "0";
};
</script>"""
STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
         "th{cursor:pointer;background:#eee}img{max-width:100%}.gap{color:#a00}.clip{margin:1em 0}"
         "audio{vertical-align:middle}")


def _rel(path, page_dir):
    return html.escape(os.path.relpath(path, page_dir).replace(os.sep, "/"))


def write_song_excerpts(dataset, page_dir, seed_index=0):
    """song/seed.wav (dev example `seed_index`, the clips' default seed) and song/song.wav (the first
    SONG_SECONDS of the song's reference stretches) beside the page; their paths."""
    attrs = read_attrs(dataset)
    rate, norm = attrs.get("sample_rate") or 16000, norm_of(attrs)
    dev = SongDataset(dataset, "dev", load_in_memory=False, attrs=attrs)
    seed = denormalise(dev.get([min(seed_index, dev.num_examples - 1)])[0].reshape(-1), norm)
    dev.close()
    stretches, _ = song_stretches(dataset, attrs, rate)
    song = denormalise(stretches[0][:int(SONG_SECONDS * rate)], norm)
    paths = [os.path.join(page_dir, "song", name) for name in ("seed.wav", "song.wav")]
    os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
    for path, x in zip(paths, (seed, song)):
        audio.write_wav(path, x, rate)
    return paths


def _clip_html(wav, page_dir, metrics_line):
    """A clip's player, picture and metrics, or the gap where its files are missing."""
    stem = wav[:-4]
    if not os.path.exists(wav):
        return f'<p class="gap">clip missing: {_rel(wav, page_dir)}</p>'
    parts = [f'<div class="clip"><b>{html.escape(os.path.basename(stem))}</b> {html.escape(metrics_line)}<br>',
             f'<audio controls preload="metadata" src="{_rel(wav, page_dir)}"></audio><br>']
    picture = stem + ".png"
    parts.append(f'<img src="{_rel(picture, page_dir)}" alt="waveform and spectrogram" loading="lazy">'
                 if os.path.exists(picture) else f'<p class="gap">picture missing: {_rel(picture, page_dir)}</p>')
    return "".join(parts) + "</div>"


def page_clip_line(m):
    """A clip's metrics (rnnsound.metrics) as one short line for the page."""
    flat = "-" if m.get("spectral_flatness") is None else f"{m['spectral_flatness']:.3g}"
    return (f"{m.get('seconds', 0):.1f} s; end {m.get('end_level_db', float('nan')):+.1f} dB of the song's loudness; "
            f"flatness {flat}; copies {m.get('copy_frames', '?')}/{m.get('audible_frames', '?')} audible frames")


def _page(title, body):
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}{SORT_SCRIPT}</body></html>\n")


def _song_html(dataset, page_dir):
    if not dataset or not os.path.exists(dataset):
        return '<p class="gap">the song: its dataset is gone, so it cannot be played here</p>'
    seed, song = write_song_excerpts(dataset, page_dir)
    return ("<h2>The song</h2><p>The seed every clip starts from (dev example 0), and "
            f"{SONG_SECONDS:g} s of the song's training part:</p>"
            f'<audio controls preload="metadata" src="{_rel(seed, page_dir)}"></audio> seed '
            f'<audio controls preload="metadata" src="{_rel(song, page_dir)}"></audio> song')


def _run_clips(run, page_dir):
    samples = os.path.join(run.path, "samples")
    names = sorted(n for n in os.listdir(samples) if n.endswith(".metrics.json")) if os.path.isdir(samples) else []
    out = []
    for name in names:
        wav = os.path.join(samples, name[:-len(".metrics.json")] + ".wav")
        out.append(_clip_html(wav, page_dir, page_clip_line(read_json(os.path.join(samples, name)))))
    return "".join(out) or '<p class="gap">no clips</p>'


def _epoch_clips_html(run, page_dir):
    """The clips written while the run trained (rnnsound.epoch_clips), in epoch order; '' if none."""
    folder = run.file(epoch_clips.FOLDER)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".wav")) if os.path.isdir(folder) else []
    if not names:
        return ""
    players = "".join(f'<div class="clip">{html.escape(n[:-4].replace("_", " "))} '
                      f'<audio controls preload="metadata" src="{_rel(os.path.join(folder, n), page_dir)}"></audio>'
                      "</div>" for n in names)
    return ("<h3>While training</h3><p>The same seed after each epoch shown (stateful, the head's default "
            f"temperature): the model learning.</p>{players}")


def run_page(run_dir):
    """RUN/index.html for one run folder: its learning curve, its clips and the song."""
    run = RunFolder(run_dir)
    config = read_json(run.config, {"dataset": str})
    curve = run.file("learning_curve.png")
    body = [_song_html(config["dataset"], run.path), "<h2>Learning curve</h2>",
            f'<img src="{_rel(curve, run.path)}" alt="learning curve">' if os.path.exists(curve) else
            '<p class="gap">learning curve missing</p>', _epoch_clips_html(run, run.path), "<h2>Clips</h2>",
            _run_clips(run, run.path)]
    return write_text(os.path.join(run.path, "index.html"), _page(f"{run.name}: listen", "".join(body)))


def sweep_page(out_dir, title, summaries, columns, her_figure):
    """OUT/index.html for a sweep: the table of its runs (sortable; her figure beside ours where one
    is known), the learning curves, every finished run's clips, and the song."""
    done = [s for s in summaries if s["status"] == "done"]
    header = "".join(f"<th>{html.escape(h)}</th>" for h, _ in columns) + "<th>hers</th>"
    rows = []
    for s in summaries:
        if s["status"] == "done":
            cells = "".join(f"<td>{html.escape(str(get(s)))}</td>" for _, get in columns)
            rows.append(f"<tr>{cells}<td>{html.escape(her_figure(s))}</td></tr>")
        else:
            rows.append(f"<tr><td>{html.escape(s['name'])}</td><td colspan='{len(columns)}'>"
                        f"{html.escape(s['status'])}: {html.escape(s.get('reason', ''))}</td></tr>")
    dataset = None
    if done:
        config = RunFolder(os.path.join(out_dir, "runs", done[0]["name"])).config
        dataset = read_json(config, {"dataset": str})["dataset"] if os.path.exists(config) else None
    body = [_song_html(dataset, out_dir) if done else "<p>No run has finished yet.</p>",
            "<h2>Runs</h2><p>Click a column to sort. Every column is explained in results.md.</p>",
            f"<table class='runs'><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"]
    curves = os.path.join(out_dir, "curves.png")
    if os.path.exists(curves):
        body.append(f'<h2>Learning curves</h2><img src="{_rel(curves, out_dir)}" alt="dev MSE per epoch">')
    for s in done:
        run = RunFolder(os.path.join(out_dir, "runs", s["name"]))
        body.append(f"<h2>{html.escape(s['name'])}</h2>" + _run_clips(run, out_dir) + _epoch_clips_html(run, out_dir))
    return write_text(os.path.join(out_dir, "index.html"), _page(f"{title}: listen", "".join(body)))
