"""The events of many stochastic runs (the seeds of an ensemble sweep) in one table, for their
distributions: event amplitude and duration, channels involved."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["run", "flux", "seed", "start_ms", "duration_ms", "amplitude_channels", "n_channels"]


def ensemble_events(run_dirs) -> pd.DataFrame:
    """One row per cluster event of each run directory (read through rundir.py from its
    metrics.json): run, flux, seed, start_ms, duration_ms, amplitude_channels (most channels
    open at once), n_channels (how many took part). For a sweep with seeds:
    `ensemble_events([DIR / d for d in md.open_sweep(DIR).run_dir])`."""
    from ..rundir import RunDirectory

    rows = []
    for path in run_dirs:
        channels = RunDirectory(path).metrics().channels or {}
        for flux, cluster in channels.items():
            rows += [(str(Path(path)), flux, cluster.seed, e.start_ms, e.duration_ms,
                      e.amplitude_channels, len(e.channels)) for e in cluster.events]
    return pd.DataFrame(rows, columns=COLUMNS)
