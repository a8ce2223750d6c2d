"""The project's JSON, CSV and text files: written atomically, read with a one-line error when damaged."""
import csv
import hashlib
import json

from .atomic import atomic_path
from .errors import UserError


def write_json(path, data, indent=2):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=indent, sort_keys=True)


def write_text(path, text):
    """A text file (a page, a Markdown table), atomically; returns its path."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
    return path


NUMBER = (int, float)


def read_json(path, required=()):
    """A JSON object from `path`; a damaged file, or one missing a `required` key, is one line.
    `required` may map each key to the type (or tuple of types) its value must have."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is damaged (not valid JSON: {e}); restore it, or delete its folder to start that "
                        "work anew")
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if not isinstance(data, dict) or missing:
        raise UserError(f"{path} is damaged (missing {', '.join(missing) or 'its contents'}); restore it, or delete "
                        "its folder to start that work anew")
    if isinstance(required, dict):
        wrong = [f"{k}={data[k]!r}" for k, kind in required.items()
                 if not isinstance(data[k], kind) or isinstance(data[k], bool) and bool not in _tuple(kind)]
        if wrong:
            raise UserError(f"{path} is damaged (wrong type: {', '.join(wrong)}); restore it, or delete its folder to "
                            "start that work anew")
    return data


def _tuple(kind):
    return kind if isinstance(kind, tuple) else (kind,)


def read_csv(path):
    """The rows of a CSV file as dicts; [] when it does not exist. A row with fewer or more fields
    than the header (the partial last row of a process killed while writing) is left out."""
    try:
        with open(path, newline="") as f:
            return [r for r in csv.DictReader(f) if None not in r and None not in r.values()]
    except FileNotFoundError:
        return []
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path} is damaged ({e}); restore it, or delete its folder to start that work anew")


def write_csv(path, header, rows):
    """A CSV file of `rows` (lists, in `header`'s order), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([header] + list(rows))


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
