"""`microdomain plot SWEEP_DIR`: each metric against the parameters (matplotlib, Agg).

One figure per parameter, one panel per metric (and ratio): finished points only. In a grid,
the other parameters are held by colour (one line per combination); an ensemble shows the mean
with its 95 % confidence interval per design point, the seeds as faint dots, and, for stochastic
clusters, the histograms of its events' quantities (events_<flux>.png, from event_summary.json).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..render import RenderError, _figure, _font_scale, parse_size
from .events import EVENT_SUMMARY_JSON, read_event_summary
from .summary import open_sweep

FINISHED = ("completed", "steady state")


def plot_sweep(sweep_dir, out=None, size=(1024, 768), dpi: float = 100.0):
    """Figures of a sweep directory's summary: sweep_PARAM.png in `out` (a directory), or
    STEM_PARAM.SUFFIX when `out` is a file name ending in .png, .svg or .pdf; returns the plot
    module's PlotResult."""
    from ..plot import PlotResult
    from ..render.common import check_dpi, output_target, save_figure

    sweep_dir = Path(sweep_dir)
    if isinstance(size, str):
        size = parse_size(size)
    dpi = check_dpi(dpi)
    try:
        df = open_sweep(sweep_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise RenderError(str(exc)) from None
    params, metrics, units = df.attrs["parameters"], df.attrs["metrics"], df.attrs["units"]
    result = PlotResult()
    done = df[df["status"].isin(FINISHED)]
    if done.empty:
        raise RenderError(f"{sweep_dir}: no finished point to plot yet")
    if len(done) < len(df):
        result.notes.append(f"{len(df) - len(done)} of {len(df)} points not finished: left out")
    numeric = [p for p in params if _is_numeric(done[p])]
    if not numeric:
        numeric = ["seed"] if "seed" in done else []
    if not numeric or not metrics:
        raise RenderError(f"{sweep_dir}: nothing to plot (no numeric parameter or no metric)")
    out_dir, out_file = output_target(out, sweep_dir / "render")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot write to {out_dir} ({exc.strerror}); choose --out") from None
    import matplotlib

    seeded = "seed" in done.columns and "seed" not in numeric
    for x in numeric:
        others = [p for p in params if p != x]
        fs = 10.5 * _font_scale(size)
        fig = _figure(size, dpi)
        with matplotlib.rc_context({"font.size": fs, "legend.fontsize": 0.8 * fs}):
            n = len(metrics)
            cols = 1 if n == 1 else 2
            axes = fig.subplots(math.ceil(n / cols), cols, squeeze=False).ravel()
            for ax, m in zip(axes, metrics):
                _panel(ax, done, x, m, others if df.attrs["design"] == "grid" else [], seeded,
                       units)
            for ax in axes[n:]:
                ax.set_visible(False)
            fig.suptitle(f"{df.attrs['name']}: metrics against {x}", fontsize=1.15 * fs,
                         weight="bold")
            fig.tight_layout(rect=(0, 0, 1, 0.96))
        path = (out_dir / f"sweep_{_safe(x)}.png" if out_file is None
                else out_file.with_name(f"{out_file.stem}_{_safe(x)}{out_file.suffix}"))
        save_figure(fig, path)
        result.paths.append(path)
    if (sweep_dir / EVENT_SUMMARY_JSON).is_file():
        for fig, flux in _event_histograms(read_event_summary(sweep_dir), df.attrs["name"], size, dpi):
            stem = f"events_{_safe(str(flux))}"
            path = (out_dir / f"{stem}.png" if out_file is None
                    else out_file.with_name(f"{out_file.stem}_{stem}{out_file.suffix}"))
            save_figure(fig, path)
            result.paths.append(path)
    return result


def _event_histograms(doc: dict, name: str, size, dpi):
    """Per design point and cluster of an ensemble's event_summary.json: one panel per per-event
    quantity, its histogram with the mean (line) and the 95 % interval (band)."""
    import matplotlib

    fs = 10.5 * _font_scale(size)
    for group in doc["groups"]:
        found = {q: s for q, s in group["quantities"].items() if s["counts"]}
        if not found:
            continue
        fig = _figure(size, dpi)
        with matplotlib.rc_context({"font.size": fs}):
            cols = 2 if len(found) > 1 else 1
            axes = fig.subplots(math.ceil(len(found) / cols), cols, squeeze=False).ravel()
            for ax, (q, s) in zip(axes, found.items()):
                edges = np.asarray(s["bin_edges"], float)
                ax.stairs(s["counts"], edges, fill=True, alpha=0.5, color="C0")
                ax.axvline(s["mean"], color="C3", lw=1.4)
                if np.isfinite(s["ci95_low"]):
                    ax.axvspan(s["ci95_low"], s["ci95_high"], color="C3", alpha=0.15, lw=0)
                ax.set_xlabel(f"{q} ({s['unit']})")
                ax.set_ylabel("events")
                ax.grid(True, alpha=0.3)
            for ax in axes[len(found):]:
                ax.set_visible(False)
            where = ", ".join(f"{k} = {v}" for k, v in group["parameters"].items())
            fig.suptitle(f"{name}: {group['flux']} events ({group['n_events']} in {group['n_runs']} "
                         f"runs{'; ' + where if where else ''}); mean and 95 % interval in red",
                         fontsize=1.1 * fs, weight="bold")
            fig.tight_layout(rect=(0, 0, 1, 0.95))
        yield fig, group["flux"] if not where else f"{group['flux']}_{where}"


def _panel(ax, done, x, m, others, seeded, units):
    groups = done.groupby(others, sort=True, dropna=False) if others else [((), done)]
    for k, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{o} = {v:g}" if isinstance(v, (int, float)) else f"{o} = {v}"
                          for o, v in zip(others, key)) or None
        colour = f"C{k % 10}"
        if seeded:
            stats = g.groupby(x, sort=True)[m].agg(["mean", "std", "count"])
            from scipy import stats as st

            half = st.t.ppf(0.975, np.maximum(stats["count"] - 1, 1)) * stats["std"] / np.sqrt(stats["count"])
            ax.scatter(g[x], g[m], s=8, color=colour, alpha=0.25, lw=0)
            ax.errorbar(stats.index, stats["mean"], yerr=half.fillna(0), color=colour, marker="o",
                        ms=4, capsize=3, lw=1.4, label=label)
        else:
            g = g.sort_values(x)
            style = "o-" if len(g) < 60 and len(done[x].unique()) == len(g) else "o"
            ax.plot(g[x], g[m], style, color=colour, ms=4, lw=1.4, label=label)
    ax.set_xlabel(_with_unit(x, units))
    ax.set_ylabel(_with_unit(m, units))
    ax.set_title(m)
    ax.grid(True, alpha=0.3)
    values = done[x].to_numpy(float)
    if values.size and values.min() > 0 and values.max() / values.min() >= 100:
        ax.set_xscale("log")
    if others:
        ax.legend(loc="best")


def _with_unit(col: str, units: dict) -> str:
    unit = units.get(col)
    return f"{col} ({unit})" if unit else col


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
