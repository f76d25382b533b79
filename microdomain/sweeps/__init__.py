"""Sweeps and ensembles: one case over a design of points, each point a run directory, run on
Dask distributed (a LocalCluster, or a cluster of your own), with a tidy summary to analyse.

    md.sweep("cases/mam_gap_sweep.toml", out="runs/gaps", jobs=2)
    md.open_sweep("runs/gaps")                    # the summary as a DataFrame (or xarray)

spec.py reads and expands sweep files, engine.py runs them, worker.py is what a worker does
with one point, summary.py writes and reads the tables, plot.py draws them. docs/sweeps.md.
"""

from .engine import SweepError, SweepInterrupted, SweepOutcome, sweep
from .spec import Plan, SweepSpec, load_sweep, plan, run_label, sweep_cases
from .summary import open_sweep

__all__ = ["Plan", "SweepError", "SweepInterrupted", "SweepOutcome", "SweepSpec", "load_sweep",
           "open_sweep", "plan", "run_label", "sweep", "sweep_cases"]
