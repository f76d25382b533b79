"""The result of a run, in memory or read back from its run directory — the same object either
way: status and manifest, typed metrics, probe and flux traces as tidy DataFrames, fields per
frame, the mesh as a PyVista dataset, and an xarray view of the traces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .records import Manifest, Metrics, Status
from .rundir import RunDirectory, frame_field_data, wide_rows
from .tables import tidy_frame


class Result:
    """What a run produced. Times are in ms, lengths in µm, concentrations in µM, flows in
    amol/ms (the `unit` column of each table says so)."""

    def __init__(self, manifest: Manifest, metrics: Metrics | None, probes: pd.DataFrame,
                 fluxes: pd.DataFrame, frames, path: Path | None = None, state=None):
        self.manifest = manifest
        self.metrics = metrics
        self.probes = probes
        self.fluxes = fluxes
        self._frames = frames
        self.path = path
        self._state = state

    @property
    def channel_events(self) -> pd.DataFrame:
        """Stochastic clusters: one row per channel opening — flux, channel, open_ms, close_ms
        (NaN while still open at the end); empty for a deterministic run."""
        if getattr(self, "_channel_events", None) is None:
            self._channel_events = RunDirectory(self.path).channel_events() if self.path else \
                pd.DataFrame({c: [] for c in ("flux", "channel", "open_ms", "close_ms")})
        return self._channel_events

    @property
    def cluster_events(self) -> pd.DataFrame:
        """Stochastic clusters: one row per event (a maximal interval with a channel of the
        cluster open) with its amplitude, duration, channels, the Ca²⁺ it released, what every
        flux moved over its window and the peak next to every surface (stochastic/ensemble.py
        `events_table`; docs/run-directory.md); empty for a deterministic run."""
        from .stochastic.ensemble import events_table

        return events_table(self.metrics, str(self.path or ""))

    @property
    def channel_counts(self) -> pd.DataFrame:
        """Stochastic clusters: flux, time_ms, open — the number of channels open from time_ms
        on, at t = 0 and at every change; empty for a deterministic run."""
        if getattr(self, "_channel_counts", None) is None:
            self._channel_counts = RunDirectory(self.path).channel_counts() if self.path else \
                pd.DataFrame({c: [] for c in ("flux", "time_ms", "open")})
        return self._channel_counts

    # -------------------------------------------------------------------- what it is --
    @property
    def status(self) -> Status:
        """How the run ended (or stands)."""
        return self.manifest.status

    @property
    def name(self) -> str:
        """The case's name."""
        return (self.manifest.case.get("case") or {}).get("name", "")

    @property
    def times(self) -> np.ndarray:
        """The frame times (ms)."""
        return np.asarray(self._frames.times, float)

    @property
    def fields(self) -> list[str]:
        """The fields in the frames: free ions, then bound buffer states."""
        return list(self._frames.names)

    @property
    def state(self):
        """The last accepted solver state (U, t, gates, dt), from memory or checkpoint.npz."""
        if self._state is None and self.path is not None:
            try:
                self._state, _ = RunDirectory(self.path).checkpoint()
            except OSError:
                return None
        return self._state

    def __repr__(self) -> str:
        where = f" in {self.path}" if self.path else " (in memory)"
        t = self.manifest.time_ms
        when = f" at t = {t:.6g} ms" if t is not None else ""
        return (f"<Result {self.name}: {self.status}{when}; {len(self.times)} frames, "
                f"{self.probes['probe'].nunique()} probes, {self.fluxes['flux'].nunique()} "
                f"fluxes{where}>")

    # ----------------------------------------------------------------------- fields --
    def frame_index(self, t=None) -> int:
        """The frame at time t (ms, or a string with units such as "5 ms"); the last if None."""
        times = self.times
        if t is None:
            return len(times) - 1
        if isinstance(t, str):
            from .units import to_internal

            t = to_internal(t, "time")
        hits = np.flatnonzero(np.abs(times - float(t)) <= 1e-9 * max(abs(float(t)), 1e-12))
        if hits.size == 0:
            shown = ", ".join(f"{x:g}" for x in times[:12]) + (", ..." if len(times) > 12 else "")
            raise KeyError(f"no frame at t = {float(t):g} ms; frames are at {shown} ms")
        return int(hits[0])

    def field(self, name: str, t=None) -> np.ndarray:
        """The field's value per cell (µM) at frame time t (the last frame if None), in the
        cells' order (that of `mesh`); NaN where the field does not exist (a bound buffer
        state outside the buffer's compartments)."""
        if name not in self.fields:
            raise KeyError(f"no field {name!r}; fields: {', '.join(self.fields)}")
        return self._frames.field(name, self.frame_index(t))

    @property
    def mesh(self):
        """The mesh as a PyVista UnstructuredGrid with the `compartment` cell array and the
        names and units as field data; `frame(t)` adds every field at one time."""
        return self._frames.grid()

    def frame(self, t=None):
        """The mesh with every field at frame time t as cell arrays (for plotting)."""
        grid = self.mesh
        i = self.frame_index(t)
        for name in self.fields:
            grid.cell_data[name] = self._frames.field(name, i)
        grid.field_data["TimeValue"] = np.array([self.times[i]])
        return grid

    # ----------------------------------------------------------------------- figures --
    def render(self, field: str | None = None, t=None, *, camera: str = "auto",
               size=(1024, 768), dpi: float = 100.0, log: bool = True, clim=None,
               per_compartment: bool = False):
        """The picture `microdomain render` draws of one frame, as a matplotlib Figure: the
        frame nearest t (ms, or "5 ms"; the last if None). `size` is the layout in pixels at
        100 dpi; `clim` (lo, hi) µM or {compartment: (lo, hi)}; `per_compartment` gives every
        compartment its own colour bar. Save it with `fig.savefig("x.pdf")`; what was drawn
        (colour limits, region, notes) is `fig.render_result`. A Result kept in memory is
        written to a scratch run directory first (frames, manifest, surfaces), then removed."""
        import tempfile

        from .render.pipeline import figure

        kw = dict(field=field, time=t, camera=camera, size=size, log=log, clim=clim, dpi=dpi,
                  per_compartment=per_compartment)
        if self.path is not None:
            return figure(self.path, **kw)
        with tempfile.TemporaryDirectory(prefix="microdomain-render-") as scratch:
            return figure(self._write_frames(scratch), **kw)

    def plot(self, what: str = "probes", *, size=(1024, 768), dpi: float = 100.0):
        """The figure `microdomain plot` draws, as a matplotlib Figure: "probes" (the probe
        traces) or "metrics" (the metrics summary), from this Result's tables."""
        from .plot import probe_series, summary_figure, traces_figure
        from .render.common import RenderError, check_dpi

        dpi = check_dpi(dpi)
        if what == "probes":
            made = traces_figure(*probe_series(self.probes), size, self.name, dpi)
            if made is None:
                raise RenderError(f"{self.name}: no probe traces to plot")
            made[0].log_time = bool(made[1])
            return made[0]
        if what == "metrics":
            if self.metrics is None:
                raise RenderError(f"{self.name}: no metrics to plot")
            return summary_figure(self.metrics, size, self.name, dpi)
        raise RenderError(f"plot what={what!r}: choose 'probes' or 'metrics'")

    def _write_frames(self, where) -> Path:
        """The files pictures read (manifest, frames, surfaces) of a Result kept in memory."""
        from .observers import field_units

        run = RunDirectory(where).create()
        run.write_manifest(self.manifest)
        system = self._frames.system
        units = field_units(system)
        series = run.frame_series(system.domain, {n: units[n] for n in self.fields}
                                  | {"compartment": ""})
        comp = system.domain.compartment_id.astype(np.int32)
        for i, t in enumerate(self.times):
            series.write(float(t), {n: self._frames.field(n, i) for n in self.fields}
                         | {"compartment": comp})
        run.write_surfaces(system.domain)
        return run.path

    # ------------------------------------------------------------------------ xarray --
    def to_xarray(self):
        """Probes and fluxes as an xarray Dataset: `concentration` (time, probe, field) in µM
        with the probe coordinates, `flow` (time, flux, ion) in amol/ms and `gate`
        (time, flux, gate); NaN where a probe does not record a field or a flux does not move
        an ion or have a gate."""
        import xarray as xr

        ds = xr.Dataset(attrs={"case": self.name, "status": str(self.status)})
        axes = [c[: -len("_um")] for c in self.probes.columns if c.endswith("_um")]
        t_probe = self._add(ds, self.probes, ["probe", "field"], "concentration", "time", "uM")
        if t_probe is not None:
            at = self.probes.drop_duplicates("probe").set_index("probe")
            for a in axes:
                ds.coords[a] = ("probe", at.loc[ds.probe.values, f"{a}_um"].to_numpy(float))
                ds.coords[a].attrs["units"] = "um"
        flows = self.fluxes[self.fluxes["kind"] == "flow"].rename(columns={"field": "ion"})
        gates = self.fluxes[self.fluxes["kind"] == "gate"].rename(columns={"field": "gate"})
        time = "time"
        t_flux = flows if not flows.empty else gates
        if t_probe is not None and not t_flux.empty:
            t_f = np.unique(t_flux["time_ms"].to_numpy(float))
            if t_f.size != t_probe.size or not np.allclose(t_f, t_probe, rtol=1e-12, atol=0):
                time = "flux_time"        # other time axes: keep them apart
        self._add(ds, flows, ["flux", "ion"], "flow", time, "amol/ms")
        self._add(ds, gates, ["flux", "gate"], "gate", time, "1")
        for dim in ("time", "flux_time"):
            if dim in ds.coords:
                ds.coords[dim].attrs["units"] = "ms"
        return ds

    @staticmethod
    def _add(ds, frame: pd.DataFrame, keys: list[str], name: str, time: str, unit: str):
        if frame.empty:
            return None
        columns, rows = wide_rows(frame, keys)
        data = np.asarray(rows, float)
        a = list(dict.fromkeys(c[0] for c in columns))
        b = list(dict.fromkeys(c[1] for c in columns))
        values = np.full((data.shape[0], len(a), len(b)), np.nan)
        for j, (x, y) in enumerate(columns):
            values[:, a.index(x), b.index(y)] = data[:, j + 1]
        t = data[:, 0]
        coords = {time: t, keys[0]: a, keys[1]: b}
        if time in ds.coords and ds.sizes[time] == t.size:
            coords.pop(time)
        ds[name] = ((time, keys[0], keys[1]), values, {"units": unit})
        for k, v in coords.items():
            ds.coords[k] = v
        return t


# ---------------------------------------------------------------------- frame sources --

class _MemoryFrames:
    """Frames kept in memory by observers.FrameStore."""

    def __init__(self, system, store):
        from .observers import absent_cells

        self.system, self.store = system, store
        self.times = store.times
        self.names = store.names
        self.absent = absent_cells(system)

    def field(self, name: str, i: int) -> np.ndarray:
        values = np.array(self.store.states[i][self.names.index(name)], float)
        if name in self.absent:
            values[self.absent[name]] = np.nan
        return values

    def grid(self):
        from .io import set_field_data, vtk_grid
        from .observers import field_units

        d = self.system.domain
        grid = vtk_grid(d.vtk_points, d.vtk_cells)
        grid.cell_data["compartment"] = d.compartment_id.astype(np.int32)
        units = field_units(self.system)
        set_field_data(grid, frame_field_data(d, {n: units[n] for n in self.names}
                                              | {"compartment": ""}))
        return grid


class _DiskFrames:
    """Frames read from a run directory's VTU files (or fields.vtkhdf), one at a time."""

    def __init__(self, rundir: RunDirectory):
        try:
            self.refs = rundir.frames()
        except (OSError, ValueError):
            self.refs = []
        self.rundir = rundir
        self.times = [f.time for f in self.refs]
        self._cache: tuple[int, object] | None = None
        self.names = []
        if self.refs:
            last = self.read(len(self.refs) - 1)
            self.names = [n for n in last.cell_data.keys() if n != "compartment"]

    def read(self, i: int):
        if self._cache is None or self._cache[0] != i:
            self._cache = (i, self.rundir.read_frame(self.refs[i]))
        return self._cache[1]

    def field(self, name: str, i: int) -> np.ndarray:
        return np.array(self.read(i).cell_data[name], float)

    def grid(self):
        if not self.refs:
            raise KeyError("this run wrote no frames")
        grid = self.read(0).copy()
        for name in list(grid.cell_data.keys()):
            if name != "compartment":
                del grid.cell_data[name]
        return grid


# ----------------------------------------------------------------------------- makers --

def open_run(path, state=None) -> Result:
    """The Result of the run in directory `path` (finished or not), read through rundir."""
    rundir = RunDirectory(path)
    manifest = rundir.manifest()
    try:
        metrics = rundir.metrics()
    except (OSError, ValueError):
        metrics = None
    return Result(manifest, metrics, rundir.probes(manifest), rundir.fluxes(manifest),
                  _DiskFrames(rundir), rundir.path, state)


def memory_result(sim, manifest: Manifest, report: dict, probes, fluxes, frames, state,
                  channel_events=(), channel_counts=()) -> Result:
    """The Result of a run kept in memory (the observers' records, no files)."""
    from .rundir import FLUX_HEADER, probe_header

    p = tidy_frame(probe_header(sim.domain.axes), probes.columns, probes.rows
                   if probes.W is not None else [])
    f = tidy_frame(FLUX_HEADER, fluxes.columns, fluxes.rows)
    from .rundir import CHANNEL_EVENTS_HEADER

    res = Result(manifest, Metrics.model_validate(report), p, f,
                 _MemoryFrames(sim.system, frames), None, state)
    events = pd.DataFrame([list(r) for r in channel_events], columns=CHANNEL_EVENTS_HEADER)
    res._channel_events = events.astype({"channel": int, "open_ms": float, "close_ms": float})
    counts = pd.DataFrame([list(r) for r in channel_counts], columns=["flux", "time_ms", "open"])
    res._channel_counts = counts.astype({"time_ms": float, "open": int})
    return res
