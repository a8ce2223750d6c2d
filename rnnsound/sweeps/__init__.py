"""Sweeps: many runs of the blog's experiment, described as data, run serially or on Dask.

Modules, each importing only those above it:
  spec      the Sweep (a base set of overrides and one dict per run), run names, settings checks
  run       one run: prepare its dataset, train, generate its clips, write summary.json
  report    results.csv / results.md / clips.md and plots from a sweep's run folders
  plan      --plan: every run's examples, updates, time and memory, nothing trained
  cluster   where the runs go: options, and starting a Dask cluster (local workers, a scheduler, Slurm/PBS/SGE)
  task      a worker's tasks: prepare a dataset, train and measure a run in a child process
  executor  the runs on that cluster
  sweep     run_sweep: every run of a sweep, serially or on Dask, then the report
  cli       the command line every experiments/ script shares
"""
from .cli import main
from .spec import Sweep
from .sweep import run_sweep

__all__ = ["Sweep", "main", "run_sweep"]
