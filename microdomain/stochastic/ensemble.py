"""The events of stochastic runs as tables: one run's (`events_table`, `Result.cluster_events`)
and many runs' — the seeds of an ensemble sweep — in one table (`ensemble_events`), for their
distributions (sweeps/events.py summarises them)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["run", "flux", "seed", "start_ms", "duration_ms", "amplitude_channels", "amplitude_pA",
           "n_channels", "released_amol", "peak_current_pA", "window_ms", "open_at_start", "open_at_end"]


def transfer_column(flux: str) -> str:
    return f"transfer_{flux}_amol"


def peak_column(surface: str) -> str:
    return f"peak_{surface}_uM"


def events_table(metrics, run: str = "") -> pd.DataFrame:
    """One row per event of each stochastic cluster of a run's metrics (records.Metrics): the
    COLUMNS, then per flux `transfer_<flux>_amol` (the ligand ion it moved over the event's
    window) and per surface `peak_<surface>_uM` (the highest [ligand ion] next to it during the
    event); NaN where the metrics predate these (docs/run-directory.md)."""
    rows = []
    for flux, cluster in (getattr(metrics, "channels", None) or {}).items():
        for e in cluster.events:
            row = {"run": run, "flux": flux, "seed": cluster.seed, "start_ms": e.start_ms,
                   "duration_ms": e.duration_ms, "amplitude_channels": e.amplitude_channels,
                   "amplitude_pA": e.amplitude_pA, "n_channels": len(e.channels),
                   "released_amol": e.released_amol, "peak_current_pA": e.peak_current_pA,
                   "window_ms": e.window_ms, "open_at_start": e.open_at_start,
                   "open_at_end": e.open_at_end}
            row.update({transfer_column(f): v for f, v in (e.transfer_amol or {}).items()})
            row.update({peak_column(s): v for s, v in (e.peak_uM or {}).items()})
            rows.append(row)
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df:
            df[col] = pd.Series(dtype=object if col in ("run", "flux") else float)
    rest = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + rest].astype({c: float for c in COLUMNS[3:] if c not in
                                      ("amplitude_channels", "n_channels", "open_at_start",
                                       "open_at_end")})


def ensemble_events(run_dirs) -> pd.DataFrame:
    """One row per cluster event of each run directory (read through rundir.py from its
    metrics.json), as `events_table`, `run` its path. For a sweep with seeds:
    `ensemble_events([DIR / d for d in md.open_sweep(DIR).run_dir])`."""
    from ..rundir import RunDirectory

    tables = [events_table(RunDirectory(path).metrics(), str(Path(path))) for path in run_dirs]
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else events_table(None)
