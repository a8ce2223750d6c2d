"""The project's JSON and CSV files: written atomically, read with a one-line error when damaged."""
import csv
import hashlib
import json

from .atomic import atomic_path
from .errors import UserError


def write_json(path, data):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)


def read_json(path, required=()):
    """A JSON object from `path`; a damaged file, or one missing a `required` key, is one line."""
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
    return data


def read_csv(path):
    """The rows of a CSV file as dicts; [] when it does not exist."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


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
