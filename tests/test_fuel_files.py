"""Files written by Fuel's own conventions (no rnnsound attributes) are read as Fuel 0.2 reads them."""
import h5py
import numpy as np
import pytest

from rnnsound.cli import main
from rnnsound.prepare import create_split_array
from rnnsound.errors import UserError
from rnnsound.streams import SongDataset

N, L, F = 40, 6, 5


def fuel_file(path, split_rows):
    """inputs/targets (N, L, F) where example i holds the value i (targets: i + 0.5), and `split_rows`."""
    with h5py.File(path, "w") as f:
        x = np.repeat(np.arange(N, dtype=np.float32), L * F).reshape(N, L, F) / N
        f["inputs"], f["targets"] = x, x + 0.5 / N
        f.attrs["split"] = split_rows(f)
    return str(path)


def slices(splits):
    return lambda f: create_split_array({name: {"inputs": span, "targets": span} for name, span in splits.items()})


def with_indices(train_rows, valid_rows, unavailable=(), targets_train=None):
    """Fuel's index-list splits: each row's `indices` references a dataset of example numbers."""
    def rows(f):
        arr = create_split_array({"train": {"inputs": (0, 0), "targets": (0, 0)},
                                  "valid": {"inputs": (0, 0), "targets": (0, 0)}})
        for i, r in enumerate(arr):
            split, source = r["split"].decode(), r["source"].decode()
            idx = train_rows if split == "train" else valid_rows
            if split == "train" and source == "targets" and targets_train is not None:
                idx = targets_train
            f[f"{split}_{source}_idx"] = np.asarray(idx, np.int64)
            arr[i]["indices"] = f[f"{split}_{source}_idx"].ref
            arr[i]["available"] = (split, source) not in unavailable
        return arr
    return rows


def values(dataset):
    x, y = dataset.get(np.arange(dataset.num_examples))
    return np.round(x[:, 0, 0] * N).astype(int).tolist(), np.round(y[:, 0, 0] * N - 0.5).astype(int).tolist()


@pytest.mark.heavy  # the fast tier (-m "not slow and not heavy") leaves it to the full run
def test_a_plain_fuel_file_with_train_and_valid_slices_trains_and_generates(tmp_path, capsys):
    path = fuel_file(tmp_path / "plain.hdf5", slices({"train": (0, 30), "valid": (30, 40)}))
    for memory in (True, False):
        assert values(SongDataset(path, "train", memory)) == (list(range(30)), list(range(30)))
        assert values(SongDataset(path, "dev", memory)) == (list(range(30, 40)), list(range(30, 40)))
    run = str(tmp_path / "run")
    assert main(["train", path, "-o", run, "--hidden", "4", "--epochs", "1", "--batch-size", "8", "-q"]) == 0
    assert main(["generate", run, "-o", str(tmp_path / "g.wav"), "--seconds", "0.01", "-q"]) == 2
    assert "records no sample rate" in capsys.readouterr().err
    assert main(["generate", run, "-o", str(tmp_path / "g.wav"), "--seconds", "0.01", "--sample-rate", "8000",
                 "-q"]) == 0


def test_index_list_splits_give_their_examples_in_their_order(tmp_path):
    train_rows, valid_rows = [5, 3, 17, 0, 3, 39], [21, 20]
    path = fuel_file(tmp_path / "idx.hdf5", with_indices(train_rows, valid_rows))
    for memory in (True, False):
        assert values(SongDataset(path, "train", memory)) == (train_rows, train_rows)
        assert values(SongDataset(path, "dev", memory)) == (valid_rows, valid_rows)


@pytest.mark.parametrize("rows, split, message", [
    (with_indices([1, 2], [3], unavailable=(("train", "targets"),)), "train", "'train' split provides no targets"),
    (with_indices([1, 2], [3], targets_train=[2, 1]), "train", "gives inputs and targets different examples"),
    (with_indices([1, 40], [3]), "train", "points past the data (example 40; the file holds 40)"),
    (slices({"train": (0, 45), "dev": (45, 46)}), "train", "points past the data"),
    (slices({"train": (0, 0), "dev": (0, 10)}), "train", "holds no examples"),
    (slices({"train": (0, 10), "test": (10, 20)}), "dev", "has no split 'dev'; it has train, test"),
])
def test_what_cannot_be_used_is_one_line(tmp_path, rows, split, message):
    path = fuel_file(tmp_path / "bad.hdf5", rows)
    with pytest.raises(UserError) as e:
        SongDataset(path, split)
    assert message in str(e.value) and "\n" not in str(e.value)
