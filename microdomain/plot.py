"""Figures of a run directory's numbers (matplotlib, Agg): probe traces and the metrics summary.

Reads probes.csv and metrics.json through rundir.py (the tidy probe table; the typed metrics
record: peaks and means per compartment and surface, flux totals, mass balance); writes PNG,
SVG or PDF, or hands the matplotlib Figures back (`figures`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .render import RenderError, _figure, _font_scale, fmt_conc, parse_size
from .render.common import check_dpi, output_target, save_figure
from .rundir import MANIFEST, METRICS, PROBES, RunDirectory
from .tables import TableError


@dataclass
class PlotResult:
    paths: list[Path] = field(default_factory=list)
    log_time: bool | None = None        # probes: was the time axis logarithmic?
    notes: list[str] = field(default_factory=list)


def read_probes(run_dir: Path) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """time (ms), {field: {probe: values}} from the run's probe table."""
    try:
        return probe_series(RunDirectory(run_dir).probes())
    except (TableError, ValueError) as exc:
        raise RenderError(f"{Path(run_dir) / 'probes.csv'}: {exc}") from None


def probe_series(table) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """time (ms), {field: {probe: values}} from a tidy probe table (Result.probes)."""
    from .rundir import wide_rows

    columns, rows = wide_rows(table, ["probe", "field"])
    data = np.asarray(rows, float).reshape(len(rows), len(columns) + 1)
    series: dict[str, dict[str, np.ndarray]] = {}
    for k, (probe, fld) in enumerate(columns, start=1):
        series.setdefault(fld, {})[probe] = data[:, k]
    return data[:, 0], series


def use_log_time(t: np.ndarray) -> bool:
    """Log time axis when the positive output times span two decades or more."""
    pos = t[t > 0]
    return pos.size >= 3 and pos.max() / pos.min() >= 100


def probes_figure(run_dir: Path, size=(1024, 768), name: str = "", dpi: float = 100.0):
    """(Figure, log time axis?) of the probe traces, or None without probes."""
    if not (Path(run_dir) / PROBES).is_file():
        return None
    return traces_figure(*read_probes(run_dir), size, name, dpi)


def traces_figure(t: np.ndarray, series: dict, size=(1024, 768), name: str = "",
                  dpi: float = 100.0):
    """(Figure, log time axis?) of probe traces (time ms, {field: {probe: values}}), or None."""
    if not series or t.size == 0:
        return None
    import matplotlib

    log_t = use_log_time(t)
    fs = 10.5 * _font_scale(size)
    fig = _figure(size, dpi)
    with matplotlib.rc_context({"font.size": fs, "legend.fontsize": 0.85 * fs}):
        n = len(series)
        cols = 1 if n == 1 else 2
        rows = math.ceil(n / cols)
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, (fld, probes) in zip(axes.ravel(), series.items()):
            keep = t > 0 if log_t else np.ones(t.size, bool)
            for k, (probe, v) in enumerate(probes.items()):
                ax.plot(t[keep], v[keep], label=probe, color=f"C{k % 10}", lw=1.6)
            allv = np.concatenate([v for v in probes.values()])
            pos = allv[allv > 0]
            if pos.size and pos.max() / pos.min() > 30 and pos.size == allv.size:
                ax.set_yscale("log")
            if log_t:
                ax.set_xscale("log")
            ax.set_xlabel("time (ms)" + (", log scale" if log_t else ""))
            ax.set_ylabel(f"[{fld.replace('.', '·')}] (µM)")
            ax.set_title(fld)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(title="probe", loc="best")
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        fig.suptitle(f"{name}: probe traces" + ("  (t = 0 not shown on the log axis)" if log_t
                                                 and np.any(t <= 0) else ""),
                     fontsize=1.15 * fs, weight="bold")
        fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig, log_t


def metrics_figure(run_dir: Path, size=(1024, 768), name: str = "", dpi: float = 100.0):
    """The metrics summary as a Figure, or None without metrics.json."""
    if not (Path(run_dir) / METRICS).is_file():
        return None
    try:
        m = RunDirectory(run_dir).metrics()
    except ValueError as exc:
        raise RenderError(f"{Path(run_dir) / 'metrics.json'} is unreadable ({exc})") from None
    return summary_figure(m, size, name, dpi)


def summary_figure(m, size=(1024, 768), name: str = "", dpi: float = 100.0):
    """The metrics summary of a Metrics record (Result.metrics) as a Figure."""
    import matplotlib

    fs = 10.5 * _font_scale(size)
    fig = _figure(size, dpi)
    with matplotlib.rc_context({"font.size": fs, "legend.fontsize": 0.8 * fs,
                                "xtick.labelsize": 0.85 * fs, "ytick.labelsize": 0.85 * fs}):
        axes = fig.subplots(2, 2, squeeze=False).ravel()
        # 1. peak and mean per compartment and ion
        labels, peaks, means = [], [], []
        for c, per_ion in m.compartments.items():
            for ion, d in per_ion.items():
                labels.append(f"{c}\n{ion}")
                peaks.append(d.peak_uM)
                means.append(d.mean_uM)
        _bars(axes[0], labels, {"peak": peaks, "mean": means}, "[ion] (µM)",
              "per compartment (peak, mean)")
        # 2. peak per surface
        labels, peaks = [], []
        for s, per_ion in m.surfaces.items():
            for ion, d in per_ion.items():
                labels.append(f"{s}\n{ion}")
                peaks.append(d.peak_uM)
        _bars(axes[1], labels, {"peak": peaks}, "[ion] (µM)", "at surfaces (peak)")
        # 3. amount moved by each flux plugin
        labels, amounts = [], []
        for f, per_ion in (m.fluxes or {}).items():
            for ion, d in per_ion.items():
                labels.append(f"{f}\n{ion}")
                amounts.append(d.amount_amol)
        _bars(axes[2], labels, {"amount": amounts}, "amount moved (amol)",
              "membrane fluxes (source → target)", signed=True)
        # 4. mass balance
        labels, errors = [], []
        for ion, d in (m.mass_balance or {}).items():
            labels.append(ion)
            errors.append(abs(d.relative_error))
        _bars(axes[3], labels, {"|relative error|": errors}, "|relative error|",
              "mass balance", floor=1e-17)
        fig.suptitle(f"{name}: metrics at t = {m.time_ms:.4g} ms",
                     fontsize=1.15 * fs, weight="bold")
        fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def _bars(ax, labels, groups: dict[str, list[float]], ylabel, title, signed=False, floor=None):
    ax.set_title(title)
    if not labels:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color="0.5")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    x = np.arange(len(labels))
    width = 0.8 / len(groups)
    values = np.array([v for vs in groups.values() for v in vs], float)
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    log = (not signed and positive.size and positive.size == finite.size
           and positive.max() / positive.min() > 30) or floor is not None
    for k, (name, vs) in enumerate(groups.items()):
        vs = np.asarray(vs, float)
        if floor is not None:
            vs = np.maximum(vs, floor)
        bars = ax.bar(x + (k - (len(groups) - 1) / 2) * width, vs, width, label=name,
                      color=f"C{k}")
        for b, v in zip(bars, vs):
            if np.isfinite(v):
                ax.annotate(f"{v:.2g}" if floor is not None or signed else fmt_conc(v),
                            (b.get_x() + b.get_width() / 2, v), ha="center",
                            va="bottom" if v >= 0 else "top", fontsize="x-small",
                            xytext=(0, 2 if v >= 0 else -2), textcoords="offset points")
    if log:
        ax.set_yscale("log")
    if signed:
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_yscale("symlog", linthresh=max(np.min(np.abs(finite[finite != 0])), 1e-12)
                      if np.any(finite != 0) else 1.0)
    ax.set_xticks(x, labels)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)
    if len(groups) > 1:
        ax.legend(loc="best")


def figures(run_dir, size=(1024, 768), dpi: float = 100.0) -> dict:
    """{"probes": Figure, "metrics": Figure} for a run directory (whichever of probes.csv and
    metrics.json exist); `fig.log_time` on the probes figure says whether its time axis is log."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RenderError(f"{run_dir}: no such directory")
    if isinstance(size, str):
        size = parse_size(size)
    dpi = check_dpi(dpi)
    if not (run_dir / PROBES).is_file() and not (run_dir / METRICS).is_file():
        raise RenderError(f"{run_dir} has neither probes.csv nor metrics.json: not a run directory")
    name = run_dir.name
    rundir = RunDirectory(run_dir)
    if rundir.file(MANIFEST).is_file():
        name = (rundir.manifest().case.get("case") or {}).get("name") or name
    out = {}
    probes = probes_figure(run_dir, size, name, dpi)
    if probes is not None:
        out["probes"] = probes[0]
        probes[0].log_time = bool(probes[1])
    metrics = metrics_figure(run_dir, size, name, dpi)
    if metrics is not None:
        out["metrics"] = metrics
    return out


def plot(run_dir, out=None, size=(1024, 768), dpi: float = 100.0) -> PlotResult:
    """probes.png and metrics.png for a run directory (whichever of the two files exist). `out`:
    a directory (default RUN_DIR/render), or a file name whose suffix (.png, .svg, .pdf) sets
    the format: STEM_probes.SUFFIX and STEM_metrics.SUFFIX beside it."""
    figs = figures(run_dir, size, dpi)
    out_dir, out_file = output_target(out, Path(run_dir) / "render")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot write to {out_dir} ({exc.strerror}); choose --out") from None
    result = PlotResult()
    for kind in ("probes", "metrics"):
        if kind not in figs:
            result.notes.append("no probe traces (probes.csv missing or without probes)"
                                if kind == "probes" else "no metrics.json")
            continue
        path = (out_dir / f"{kind}.png" if out_file is None
                else out_file.with_name(f"{out_file.stem}_{kind}{out_file.suffix}"))
        save_figure(figs[kind], path)
        result.paths.append(path)
        if kind == "probes":
            result.log_time = figs[kind].log_time
    return result
