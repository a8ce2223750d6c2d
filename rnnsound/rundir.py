"""A run folder's files, in one place: what `rnnsound train` writes, what `generate` and the
sweeps read and add.

  config.json         the TrainConfig, the dataset's path, sha256 and attributes, example counts
  versions.json       Python and library versions, PyTensor backend and flags, the device
  baselines.json      dev MSE of the zero / last-frame / linear predictors (rnnsound.baselines)
  log.csv             one row per batch and per epoch (rnnsound.train.LOG_FIELDS)
  best.h5, last.h5    checkpoints (rnnsound.checkpoint): the best dev loss, the latest position
  learning_curve.png
  samples/            generated clips: NAME.wav, NAME.metrics.json, NAME.png
  epoch_clips/        with `train --sample-every N`: epoch_NNN.wav, a short clip after every N epochs
  .lock               held by the one process that trains in the folder (rnnsound.interrupts)
A sweep's run folder (OUT/runs/NAME) adds settings.json (its overrides and song), summary.json
(written last: the run is done), and on a Dask worker run.log, attempts.json (the step each attempt
started from) and, after a failure a retry cannot fix, failed.json.
"""
import os

from .config import TrainConfig, from_dict
from .errors import UserError
from .files import read_json


# The files a run folder holds besides its samples (the module doc): no clip may take their names
OWN_FILES = ("config.json", "versions.json", "baselines.json", "log.csv", "best.h5", "last.h5", "learning_curve.png",
             "settings.json", "summary.json", "run.log", "attempts.json", "failed.json", "index.html")


class RunFolder:
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path

    def __str__(self):
        return self.path

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def name(self):
        return os.path.basename(os.path.abspath(self.path))  # "." is named by its folder

    config = property(lambda self: self.file("config.json"))
    versions = property(lambda self: self.file("versions.json"))
    baselines = property(lambda self: self.file("baselines.json"))
    log = property(lambda self: self.file("log.csv"))
    best = property(lambda self: self.file("best.h5"))
    last = property(lambda self: self.file("last.h5"))
    curve = property(lambda self: self.file("learning_curve.png"))
    settings = property(lambda self: self.file("settings.json"))
    summary = property(lambda self: self.file("summary.json"))
    failed = property(lambda self: self.file("failed.json"))
    run_log = property(lambda self: self.file("run.log"))
    attempts = property(lambda self: self.file("attempts.json"))

    def read_config(self):
        """(config.json as a dict, its TrainConfig), every value checked as on the command line."""
        if not os.path.exists(self.config):
            raise UserError(f"{self.path} is not a run folder (no config.json); give a folder written by "
                            "`rnnsound train`")
        saved = read_json(self.config, {"train": dict, "dataset": str, "dataset_sha256": str, "dataset_attrs": dict})
        if "store_sha256" in saved and not isinstance(saved["store_sha256"], (str, type(None))):
            raise UserError(f"{self.config} is damaged (store_sha256 is {saved['store_sha256']!r}); restore it, or "
                            "delete its folder to start that work anew")
        return saved, from_dict(TrainConfig, saved["train"], self.config)

    def checkpoint(self, which):
        """best.h5 or last.h5."""
        return self.file(f"{which}.h5")

    def sample(self, name):
        """samples/NAME.wav"""
        return os.path.join(self.path, "samples", f"{name}.wav")


def sweep_run(out_dir, name):
    """The run folder of run NAME of the sweep in OUT: OUT/runs/NAME."""
    return RunFolder(os.path.join(out_dir, "runs", name))
