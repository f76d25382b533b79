"""An ensemble's events (a sweep with `seeds` over a case with stochastic clusters): every event
of every finished seed in events.csv, and per design point and cluster the distribution of each
per-event quantity — histogram (bin edges, counts), mean, standard deviation and 95 % interval
of the mean — in event_summary.json and event_summary.csv (docs/sweeps.md, docs/stochastic.md).

The interval is a percentile bootstrap over runs: the seeds are resampled with replacement
(BOOTSTRAP resamples, numpy Generator(PCG64(BOOTSTRAP_SEED)), so the same events give the same
interval) and the mean per event recomputed over the resampled runs' events. Runs, not events,
are resampled because the events of one run are not independent (one event's release depletes
the ER at the mouth and raises [Ca²⁺] around the next).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..stochastic.ensemble import ensemble_events, peak_column, transfer_column

EVENTS_CSV = "events.csv"
EVENT_SUMMARY_JSON = "event_summary.json"
EVENT_SUMMARY_CSV = "event_summary.csv"
CONFIDENCE = 0.95
BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0
INTERVAL = (f"percentile bootstrap over runs (seeds): {BOOTSTRAP} resamples, "
            f"numpy Generator(PCG64({BOOTSTRAP_SEED}))")
BINS = 10

# always summarised: column of events_table → unit
QUANTITIES = {"amplitude_channels": "channels", "amplitude_pA": "pA", "duration_ms": "ms",
              "n_channels": "channels", "released_amol": "amol", "peak_current_pA": "pA"}
_FLUX_METRIC = re.compile(r"^fluxes\.([^.]+)\.[^.]+\.amount_amol$")
_SURFACE_METRIC = re.compile(r"^surfaces\.([^.]+)\.[^.]+\.peak_uM$")

FILES = {
    EVENTS_CSV: "with `seeds` and stochastic clusters: every event of every finished point "
                "(the point, its parameters, then the columns of `Result.cluster_events`)",
    EVENT_SUMMARY_JSON: "per design point and cluster: each per-event quantity's histogram "
                        "(bin edges, counts), mean, standard deviation and 95 % interval",
    EVENT_SUMMARY_CSV: "the same without the histograms, one row per quantity",
}


def quantities(metrics: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Per-event quantity → (events_table column, unit): the fixed ones, then the per-event
    counterpart of each sweep metric that has one — a flux's amount (`fluxes.F.ION.amount_amol`:
    what F moved over each event's window) and a surface's peak (`surfaces.S.ION.peak_uM`: the
    peak next to S during each event), under the metric's own column name."""
    out = {q: (q, unit) for q, unit in QUANTITIES.items()}
    for name, path in metrics.items():
        if name in out:
            continue
        if m := _FLUX_METRIC.match(path):
            out[name] = (transfer_column(m.group(1)), "amol")
        elif m := _SURFACE_METRIC.match(path):
            out[name] = (peak_column(m.group(1)), "uM")
    return out


def histogram(x: np.ndarray, integer: bool) -> tuple[list[float], list[int]]:
    """Bin edges and counts: one bin per integer for counts of channels, else BINS equal bins
    over the range (numpy's: the last bin closed, so the counts add up to the values)."""
    if x.size == 0:
        return [], []
    if integer:
        edges = np.arange(np.floor(x.min()) - 0.5, np.ceil(x.max()) + 1.0)
    else:
        edges = np.histogram_bin_edges(x, bins=BINS)
    counts, edges = np.histogram(x, bins=edges)
    return edges.tolist(), counts.astype(int).tolist()


def mean_interval(values: np.ndarray, run_of_value: np.ndarray, runs: list[str]
                  ) -> tuple[float, float, float]:
    """The mean per event and its bootstrap interval over `runs` — every finished run, those
    without events too (module docstring); NaN for fewer than two runs."""
    mean = float(values.mean()) if values.size else float("nan")
    labels = np.asarray(runs, dtype=object)
    run_of = np.array([runs.index(r) for r in run_of_value], dtype=int)
    if labels.size < 2 or values.size == 0:
        return mean, float("nan"), float("nan")
    sums = np.bincount(run_of, weights=values, minlength=labels.size)
    counts = np.bincount(run_of, minlength=labels.size).astype(float)
    rng = np.random.Generator(np.random.PCG64(BOOTSTRAP_SEED))
    pick = rng.integers(0, labels.size, size=(BOOTSTRAP, labels.size))
    n = counts[pick].sum(axis=1)
    means = np.where(n > 0, sums[pick].sum(axis=1) / np.maximum(n, 1), np.nan)
    low, high = np.nanpercentile(means, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
    return mean, float(low), float(high)


def summarise(events: pd.DataFrame, runs: list[str], what: dict[str, tuple[str, str]]) -> dict:
    """One group's distributions: n_runs (finished runs, with or without events), n_events, how
    many of them were going on at the run's start and at its end, and, per quantity, unit, source column, n, mean, std, the interval, bin_edges and counts."""
    out = {"n_runs": len(runs), "n_events": int(len(events)),
           # censored by the run: their durations and amounts are cut short
           "n_open_at_start": int(events.get("open_at_start", pd.Series(dtype=bool)).fillna(False).sum()),
           "n_open_at_end": int(events.get("open_at_end", pd.Series(dtype=bool)).fillna(False).sum()),
           "quantities": {}}
    for name, (col, unit) in what.items():
        if col not in events:
            continue
        ok = events[col].notna().to_numpy()
        x = events[col].to_numpy(float)[ok]
        mean, low, high = mean_interval(x, events["point"].to_numpy()[ok], runs)
        edges, counts = histogram(x, integer=unit == "channels")
        out["quantities"][name] = {
            "unit": unit, "column": col, "n": int(x.size), "mean": mean,
            "std": float(x.std(ddof=1)) if x.size > 1 else float("nan"),
            "ci95_low": low, "ci95_high": high, "bin_edges": edges, "counts": counts}
    return out


def write_event_tables(df: pd.DataFrame, design: dict, out: Path, atomic) -> dict | None:
    """events.csv, event_summary.json and event_summary.csv from the summary table `df` and the
    design (sweep.json's), for an ensemble whose runs have stochastic clusters; None (and
    nothing written) otherwise."""
    if not design.get("seeds"):
        return None
    params = [p["column"] for p in design["parameters"]]
    done = df[df["status"].isin(["completed", "steady state"])]
    frames = []
    for _, row in done.iterrows():
        ev = ensemble_events([out / row["run_dir"]])
        if len(ev):
            ev.insert(0, "point", row["point"])
            for k, p in enumerate(params):
                ev.insert(1 + k, p, row[p])
            frames.append(ev)
    if not frames:
        if not done.empty and not _has_channels(out / done.iloc[0]["run_dir"]):
            return None          # a deterministic case swept over a seed parameter of its own
        events = pd.DataFrame(columns=["point", *params, "run", "flux", "seed"])
    else:
        events = pd.concat(frames, ignore_index=True)
    what = quantities(design["metrics"])
    groups = []
    for key, g in done.groupby(params, sort=False, dropna=False) if params else [((), done)]:
        key = key if isinstance(key, tuple) else (key,)
        mine = events[events["point"].isin(g["point"])]
        for flux in sorted(mine["flux"].unique()) or [None]:
            sel = mine[mine["flux"] == flux] if flux is not None else mine
            groups.append({"parameters": dict(zip(params, _plain(key))), "flux": flux,
                           **summarise(sel, list(g["point"]), what)})
    doc = {"format": 1, "confidence": CONFIDENCE, "interval": INTERVAL, "bins": BINS,
           "groups": groups}
    text = json.dumps(doc, indent=1, default=float) + "\n"
    atomic(out / EVENTS_CSV, lambda tmp: events.drop(columns=["run"]).to_csv(
        tmp, index=False, float_format="%.10g", lineterminator="\n"))
    atomic(out / EVENT_SUMMARY_JSON, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    flat = pd.DataFrame([{**grp["parameters"], "flux": grp["flux"], "quantity": q,
                          **{k: v for k, v in s.items() if k not in ("bin_edges", "counts")}}
                         for grp in groups for q, s in grp["quantities"].items()])
    atomic(out / EVENT_SUMMARY_CSV, lambda tmp: flat.to_csv(tmp, index=False, float_format="%.10g",
                                                            lineterminator="\n"))
    return doc


def _plain(values) -> list:
    return [v.item() if hasattr(v, "item") else v for v in values]


def _has_channels(run_dir: Path) -> bool:
    from ..rundir import RunDirectory

    try:
        return bool(RunDirectory(run_dir).metrics().channels)
    except Exception:  # noqa: BLE001 - an unreadable run: nothing to summarise from it
        return False


def read_event_summary(sweep_dir) -> dict:
    """event_summary.json of a sweep directory (FileNotFoundError, saying why, if absent)."""
    path = Path(sweep_dir) / EVENT_SUMMARY_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path.parent} has no {EVENT_SUMMARY_JSON}: not an ensemble of a "
                                "case with stochastic clusters, or run before it was written") from None
