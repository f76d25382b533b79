"""The run directory: the one module that knows its files, their formats and their names.

A run writes through :class:`RunDirectory` (manifest, metrics, the two tidy tables, frames,
surfaces, checkpoint, log) and everything that reads a run — `open_run`, resume, `sweep`,
`plot`, `render` — reads through it too. docs/run-directory.md documents every file; the JSON
records are typed in records.py.
"""

from __future__ import annotations

import json
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import (VTKSeries, atomic_write_bytes, atomic_write_json, atomic_write_text, revolved_cells,
                 vtk_grid, write_surfaces)
from .errors import MicrodomainError
from .records import FORMAT, Manifest, Metrics, Status

MANIFEST = "manifest.json"
METRICS = "metrics.json"
PROBES = "probes.csv"
FLUXES = "fluxes.csv"
FIELDS = "fields.pvd"
REVOLVED = "fields_revolved.pvd"
FIELDS_HDF = "fields.vtkhdf"
REVOLVED_HDF = "fields_revolved.vtkhdf"
SURFACES = "surfaces.vtu"
CHECKPOINT = "checkpoint.npz"
LOG = "log.txt"
LOCK = "run.lock"
"""Held while a process writes the directory (runlock.py); absent once the run has ended."""
CHANNEL_EVENTS = "channel_events.csv"
CHANNEL_COUNTS = "channel_counts.csv"

FILES = {
    FIELDS: "the frames: a ParaView collection of fields/frame_NNNNN.vtu with their times",
    REVOLVED: "axisymmetric runs with [output] revolve = N: each frame as the 3D solid, "
              "fields_revolved/frame_NNNNN.vtu, for viewing (the (r, z) frames are the data)",
    FIELDS_HDF: "[output] format = \"vtkhdf\": every frame in one VTKHDF (HDF5) file, the mesh once",
    REVOLVED_HDF: "[output] format = \"vtkhdf\" with revolve = N: the revolved frames in one file",
    SURFACES: "the named surfaces (membranes, channels, baths) as faces with a `surface` index",
    PROBES: "probe values per accepted step, tidy: time_ms, probe, coordinates, field, value, unit",
    FLUXES: "each flux's flow per ion and its gates per accepted step, tidy",
    METRICS: "peaks, means, flux totals, gates, mass balance (records.Metrics)",
    MANIFEST: "status, case, versions, mesh, solver, counters, citations (records.Manifest)",
    CHECKPOINT: "the last accepted state and the metrics' running totals, for --resume",
    CHANNEL_EVENTS: "stochastic clusters: every channel opening, its open and close times",
    CHANNEL_COUNTS: "stochastic clusters: the number of channels open, at the start and each change",
    LOG: "what happened, with times",
}

UNITS = {"time": "ms", "length": "um", "concentration": "uM", "flow": "amol/ms", "gate": "1"}


class RunDirectoryError(MicrodomainError, ValueError):
    """A run directory that cannot be written (a file, unwritable, locked by another process);
    the message says why."""


class ResumeError(RunDirectoryError):
    """A run directory that cannot be continued; the message says why."""


class NotARunError(ValueError):
    """A directory that holds no run (or not the file asked for)."""


# ------------------------------------------------------------------------- tidy tables --

@dataclass(frozen=True)
class ProbeColumn:
    probe: str
    at: tuple[float, ...]          # µm, in the mesh's axes
    field: str
    unit: str = UNITS["concentration"]


@dataclass(frozen=True)
class FluxColumn:
    flux: str
    surface: str
    kind: str                      # "flow" (field = ion) or "gate" (field = gate name)
    field: str
    unit: str


def probe_header(axes) -> list[str]:
    return ["time_ms", "probe", *(f"{a}_um" for a in axes), "field", "value", "unit"]


FLUX_HEADER = ["time_ms", "flux", "surface", "kind", "field", "value", "unit"]
CHANNEL_EVENTS_HEADER = ["flux", "channel", "open_ms", "close_ms"]
CHANNEL_COUNTS_HEADER = ["flux", "time_ms", "open"]


def channel_events_csv(rows) -> str:
    """channel_events.csv from (flux, channel, open_ms, close_ms or None) rows; an opening
    still going on at the end has an empty close_ms. Times with 17 significant digits: the
    file is the event log two runs of one seed are compared by."""
    lines = [",".join(CHANNEL_EVENTS_HEADER)]
    lines += [f"{_csv_field(f)},{ch},{o:.17g},{'' if c is None else f'{c:.17g}'}" for f, ch, o, c in rows]
    return "\n".join(lines) + "\n"


def channel_counts_csv(rows) -> str:
    """channel_counts.csv from (flux, time_ms, open) rows: open from time_ms on."""
    lines = [",".join(CHANNEL_COUNTS_HEADER)]
    lines += [f"{_csv_field(f)},{t:.17g},{n}" for f, t, n in rows]
    return "\n".join(lines) + "\n"


def _labels(columns) -> list[tuple[str, str]]:
    """Per column, the text between time and value, and the unit."""
    out = []
    for c in columns:
        if isinstance(c, ProbeColumn):
            middle = [c.probe, *(f"{x:.10g}" for x in c.at), c.field]
        else:
            middle = [c.flux, c.surface, c.kind, c.field]
        out.append((",".join(_csv_field(m) for m in middle), c.unit))
    return out


def _csv_field(text: str) -> str:
    return f'"{text}"' if any(ch in text for ch in ',"\n') else text


def tidy_csv(header: list[str], columns, rows) -> str:
    """One line per (time, column): rows of [t, v1, v2, ...] in the order of `columns`."""
    labels = _labels(columns)
    lines = [",".join(header)]
    for row in rows:
        t = f"{row[0]:.10g}"
        lines += [f"{t},{mid},{v:.10g},{unit}" for (mid, unit), v in zip(labels, row[1:])]
    return "\n".join(lines) + "\n"


def wide_rows(frame, keys: list[str]) -> tuple[list[tuple], list[list[float]]]:
    """(columns, rows of [t, v...]) from a tidy table written by tidy_csv: its lines come in
    blocks of one per column, so the rows are recovered by order, not by matching times."""
    if frame.empty:
        return [], []
    ids = list(zip(*(frame[k].astype(str) for k in keys)))
    columns = list(dict.fromkeys(ids))
    n = len(columns)
    if len(ids) % n or ids[:n] != columns:
        raise ValueError("lines are not in blocks of one per column")
    t = frame["time_ms"].to_numpy(float).reshape(-1, n)[:, 0]
    values = frame["value"].to_numpy(float).reshape(-1, n)
    return columns, [[float(ti), *map(float, v)] for ti, v in zip(t, values)]


# -------------------------------------------------------------------- the run directory --

@dataclass(frozen=True)
class FrameRef:
    index: int
    time: float                    # ms
    path: Path
    step: int | None = None        # the step in a .vtkhdf file; None: path is the frame's .vtu


class RunDirectory:
    """A run directory, for writing (a run) and reading (everything after)."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """The path of one of its files."""
        return self.path / name

    def is_empty(self) -> bool:
        """No directory there, or an empty one."""
        return not self.path.exists() or not any(self.path.iterdir())

    # ----------------------------------------------------------------------- writing --

    def create(self) -> "RunDirectory":
        """Make the directory (and its parents); RunDirectoryError if it cannot be written."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path} is a file, not a directory: choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirectoryError(f"cannot create the run directory {self.path}: "
                                    f"{exc.strerror or exc}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise RunDirectoryError(f"cannot write in {self.path}: permission denied")
        return self

    def check_resumable(self) -> None:
        """Refuse (ResumeError), before anything is written, a directory that holds no run of
        microdomain: there is none, it is a file, or it holds neither a manifest nor only what a
        run killed at its very start leaves (the lock, log.txt)."""
        if not self.path.exists():
            raise ResumeError(f"{self.path} does not exist: nothing to resume")
        if not self.path.is_dir():
            raise ResumeError(f"{self.path} is a file, not a run directory")
        if self.file(MANIFEST).is_file():
            return
        names = {p.name for p in self.path.iterdir()}
        if not names or not names <= {LOCK, LOG}:
            raise ResumeError(f"{self.path} is not a run directory (no {MANIFEST}): nothing "
                              "to resume; run without --resume to start a run there")

    def write_manifest(self, manifest: Manifest) -> None:
        """manifest.json, atomically."""
        atomic_write_json(self.file(MANIFEST), manifest.to_json())

    def write_metrics(self, report: dict) -> None:
        """metrics.json from a report, checked against records.Metrics."""
        atomic_write_json(self.file(METRICS), Metrics.model_validate(report).to_json())

    def write_probes(self, axes, columns: list[ProbeColumn], rows) -> None:
        """probes.csv (tidy) from rows of [t, value per column]."""
        atomic_write_text(self.file(PROBES), tidy_csv(probe_header(axes), columns, rows))

    def write_fluxes(self, columns: list[FluxColumn], rows) -> None:
        """fluxes.csv (tidy) from rows of [t, value per column]."""
        atomic_write_text(self.file(FLUXES), tidy_csv(FLUX_HEADER, columns, rows))

    def write_channels(self, events, counts) -> None:
        """channel_events.csv and channel_counts.csv (stochastic clusters), atomically."""
        atomic_write_text(self.file(CHANNEL_EVENTS), channel_events_csv(events))
        atomic_write_text(self.file(CHANNEL_COUNTS), channel_counts_csv(counts))

    def frame_series(self, domain, field_units: dict[str, str], entries=(), format: str = "vtu"):
        """The frame writer (io.VTKSeries, or vtkhdf.VTKHDFSeries for format "vtkhdf"), its
        VTK field data naming what the numbers are; `entries`, a resumed run's frames."""
        return self._series(vtk_grid(domain.vtk_points, domain.vtk_cells),
                            frame_field_data(domain, field_units), Path(FIELDS).stem, entries, format)

    def revolved_series(self, domain, field_units: dict[str, str], segments: int, entries=(),
                        format: str = "vtu"):
        """The 3D companion of an axisymmetric run's frames: each frame revolved about the z
        axis in `segments` steps (io.revolved_cells), same arrays, same times."""
        points, cells, index = revolved_cells(domain.vtk_points, domain.vtk_cells, segments)
        source = FIELDS_HDF if format == "vtkhdf" else FIELDS
        field_data = {**frame_field_data(domain, field_units), "axes": ["x", "y", "z"],
                      "coordinates": [f"cartesian, revolved about the z axis in {segments} segments "
                                      f"from the axisymmetric (r, z) frames of {source}"]}
        stem, name = Path(FIELDS).stem, Path(REVOLVED).stem
        entries = [(t, f.replace(stem + "/", name + "/", 1)) for t, f in entries]
        return _Revolved(self._series(vtk_grid(points, cells), field_data, name, entries, format), index)

    def _series(self, grid, field_data: dict, name: str, entries, format: str):
        if format == "vtkhdf":
            from .vtkhdf import VTKHDFSeries

            return VTKHDFSeries(self.path, grid, field_data, name=name, entries=entries)
        series = VTKSeries(self.path, grid, field_data, name=name)
        series.entries = list(entries)
        return series

    def write_surfaces(self, domain) -> None:
        """surfaces.vtu: the named face sets, with their names as field data."""
        if domain.surface_mesh is not None:
            write_surfaces(self.file(SURFACES), *domain.surface_mesh,
                           field_data={**_mesh_field_data(domain),
                                       "surface_names": list(domain.surfaces)})

    def write_checkpoint(self, state, metrics_report: dict) -> None:
        """checkpoint.npz: the accepted state and the metrics' running totals, atomically."""
        import io

        buf = io.BytesIO()
        names = [(b, g) for b, gs in state.gates.items() for g in gs]
        gates = {f"gate_{i}": state.gates[b][g] for i, (b, g) in enumerate(names)}
        extra = {} if getattr(state, "stochastic", None) is None else \
            {"stochastic": json.dumps(state.stochastic)}      # channels and the random stream
        np.savez(buf, U=state.U, t=state.t, dt=state.dt, gate_names=json.dumps(names),
                 metrics=json.dumps(metrics_report, default=float), **gates, **extra)
        atomic_write_bytes(self.file(CHECKPOINT), buf.getvalue())

    def log_handler(self, level: int, append: bool) -> logging.Handler:
        """A logging handler writing log.txt (appending when a run resumes)."""
        handler = logging.FileHandler(self.file(LOG), mode="a" if append else "w")
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        return handler

    # ----------------------------------------------------------------------- reading --

    def manifest(self) -> Manifest:
        """manifest.json as a Manifest (NotARunError if there is none)."""
        try:
            return Manifest.read(json.loads(self.file(MANIFEST).read_text()))
        except FileNotFoundError:
            raise NotARunError(f"{self.path} has no {MANIFEST}: not a run directory") from None

    def status(self) -> Status | None:
        """The run's status, or None where no manifest can be read."""
        try:
            return self.manifest().status
        except (NotARunError, OSError, ValueError):
            return None

    def is_complete(self, sha256: str) -> bool:
        """A finished run of the case with this hash (a sweep reuses it)."""
        try:
            m = self.manifest()
        except (NotARunError, OSError, ValueError):
            return False
        return m.case_sha256 == sha256 and m.status.finished

    def metrics(self) -> Metrics:
        """metrics.json as a Metrics record."""
        try:
            return Metrics.model_validate(json.loads(self.file(METRICS).read_text()))
        except FileNotFoundError:
            raise NotARunError(f"{self.path} has no {METRICS}") from None

    def probes(self, manifest: Manifest | None = None):
        """probes.csv as a tidy DataFrame (format 1's wide file is converted on reading)."""
        from . import tables

        return tables.read_probes(self.file(PROBES), manifest or self._manifest_or_none())

    def fluxes(self, manifest: Manifest | None = None):
        """fluxes.csv as a tidy DataFrame (format 1's wide file is converted on reading)."""
        from . import tables

        return tables.read_fluxes(self.file(FLUXES), manifest or self._manifest_or_none())

    def _manifest_or_none(self) -> Manifest | None:
        try:
            return self.manifest()
        except (NotARunError, OSError, ValueError):
            return None

    def frames_format(self) -> str:
        """"vtkhdf" or "vtu": the case's [output] format as the manifest records it, else the
        frame file there is (a directory reused with --overwrite may hold both)."""
        try:
            return self.manifest().case["output"]["format"]
        except (NotARunError, OSError, ValueError, KeyError, TypeError):
            hdf = self.file(FIELDS_HDF).is_file() and not self.file(FIELDS).is_file()
            return "vtkhdf" if hdf else "vtu"

    def frames(self) -> list[FrameRef]:
        """The frames fields.pvd lists, in order (files that do not exist are left out), or the
        complete steps of fields.vtkhdf."""
        if self.frames_format() == "vtkhdf":
            return [FrameRef(i, t, self.file(FIELDS_HDF), i) for i, t in enumerate(self._hdf_times())]
        pvd = self.file(FIELDS)
        if not pvd.is_file():
            raise NotARunError(f"{self.path} has no {FIELDS}: not a run directory "
                               "(write one with `microdomain run CASE.toml --out DIR`)")
        root = ET.parse(pvd).getroot()
        listed = [(float(d.get("timestep", "nan")), self.path / d.get("file", ""))
                  for d in root.iter("DataSet")]
        return [FrameRef(i, t, f) for i, (t, f) in enumerate((t, f) for t, f in listed if f.is_file())]

    def frame_entries(self) -> list[tuple[float, str]]:
        """(time, relative file) of every frame listed, for a resumed writer."""
        if self.frames_format() == "vtkhdf":
            return [(t, FIELDS_HDF) for t in self._hdf_times()]
        root = ET.parse(self.file(FIELDS)).getroot()
        return [(float(d.get("timestep")), d.get("file")) for d in root.iter("DataSet")]

    def _hdf_times(self) -> list[float]:
        from .vtkhdf import read_times

        if not self.file(FIELDS_HDF).is_file():
            raise NotARunError(f"{self.path} has no {FIELDS_HDF}: not a run directory "
                               "(write one with `microdomain run CASE.toml --out DIR`)")
        return read_times(self.file(FIELDS_HDF))

    def read_frame(self, frame: FrameRef):
        """One frame as a PyVista grid: its .vtu, or its step of fields.vtkhdf."""
        if frame.step is not None:
            from .vtkhdf import read_step

            return read_step(frame.path, frame.step)
        import pyvista as pv

        return pv.read(frame.path)

    def channel_events(self):
        """channel_events.csv as a DataFrame (empty, with its columns, for a run without
        stochastic clusters)."""
        import pandas as pd

        path = self.file(CHANNEL_EVENTS)
        if not path.is_file():
            return pd.DataFrame({c: [] for c in CHANNEL_EVENTS_HEADER})
        return pd.read_csv(path, dtype={"flux": str}, float_precision="round_trip")

    def channel_counts(self):
        """channel_counts.csv as a DataFrame (empty, with its columns, without stochastic
        clusters)."""
        import pandas as pd

        path = self.file(CHANNEL_COUNTS)
        if not path.is_file():
            return pd.DataFrame({c: [] for c in CHANNEL_COUNTS_HEADER})
        return pd.read_csv(path, dtype={"flux": str}, float_precision="round_trip")

    def checkpoint(self):
        """(State, saved) from checkpoint.npz: saved holds the metrics report and the gates."""
        return read_checkpoint(self.file(CHECKPOINT))


def read_checkpoint(path: Path):
    """(State, saved) from a checkpoint.npz: saved holds the metrics report and the gates."""
    from .solver import State

    with np.load(path, allow_pickle=False) as z:
        gates: dict = {}
        for i, (b, g) in enumerate(json.loads(str(z["gate_names"]))):
            gates.setdefault(b, {})[g] = np.asarray(z[f"gate_{i}"], float)
        stochastic = json.loads(str(z["stochastic"])) if "stochastic" in z.files else None
        state = State(np.asarray(z["U"], float), float(z["t"]), gates, float(z["dt"]), stochastic)
        metrics = json.loads(str(z["metrics"]))
    return state, {"metrics": metrics, "gates": gates}


class _Revolved:
    """A VTKSeries whose frames repeat each (r, z) cell's values over its swept 3D cells."""

    def __init__(self, series: VTKSeries, index: np.ndarray):
        self.series, self.index = series, index
        self.name = series.name

    @property
    def entries(self):
        return self.series.entries

    @entries.setter
    def entries(self, value):
        self.series.entries = value

    def write(self, t: float, arrays: dict[str, np.ndarray]):
        return self.series.write(t, {k: v[self.index] for k, v in arrays.items()})


def frame_field_data(domain, field_units: dict[str, str]) -> dict:
    return {**_mesh_field_data(domain), "time_unit": [UNITS["time"]],
            "field_names": list(field_units), "field_units": list(field_units.values()),
            "compartment_names": list(domain.compartment_names)}


def _mesh_field_data(domain) -> dict:
    if domain.cylindrical:
        coords = "axisymmetric about the z axis: x = r, y = z; revolve for 3D (volumes carry 2 pi r)"
    else:
        coords = f"cartesian ({', '.join(domain.axes)})"
    return {"length_unit": [UNITS["length"]], "axes": list(domain.axes), "coordinates": [coords]}


def resume_state(case, rundir: RunDirectory, system):
    """(State, saved) to continue the run in `rundir` from its checkpoint: the accepted state,
    the metrics' running totals, and the frames, probe and flux rows up to that time. (None,
    None) for a run of this case killed before its first checkpoint: it starts again at t = 0.
    ResumeError, having written nothing, if the directory cannot be continued."""
    from .tables import TableError

    rundir.check_resumable()
    try:
        manifest = rundir.manifest() if rundir.file(MANIFEST).is_file() else None
    except (OSError, ValueError) as exc:
        raise ResumeError(f"{rundir.path}/{MANIFEST} cannot be read ({exc})") from None
    if manifest is not None and manifest.case_sha256 != case.sha256:
        raise ResumeError(f"{case.path} has changed since the run in {rundir.path} was started "
                          "(case hash differs); resume needs the same case file")
    if not rundir.file(CHECKPOINT).is_file():
        # killed (SIGKILL, power) before the checkpoint written at t = 0: nothing was computed
        return None, None
    try:
        state, saved = rundir.checkpoint()
        Metrics.model_validate(saved["metrics"])
        if rundir.file(METRICS).is_file():
            Metrics.model_validate(json.loads(rundir.file(METRICS).read_text()))
        frames = rundir.frame_entries()
        probes = rundir.probes(manifest)
        fluxes = rundir.fluxes(manifest)
    except (OSError, ValueError, KeyError, TypeError, ET.ParseError, TableError) as exc:
        raise ResumeError(f"{rundir.path} holds no run that can be resumed: "
                          f"{_short(exc)}") from None
    direct_steady = "steady" in saved["metrics"] or "mass_balance" not in saved["metrics"]
    if direct_steady and not (manifest is not None and manifest.status.finished):
        raise ResumeError(f"the run in {rundir.path} reached its steady state: nothing to resume")
    if state.U.shape != system.initial.shape:
        raise ResumeError(f"the checkpoint in {rundir.path} holds {state.U.shape} values, the "
                          f"case needs {system.initial.shape}")
    t = state.t
    keep = lambda rows: [r for r in rows if r[0] <= t * (1 + 1e-12)]  # noqa: E731
    try:
        probe_keys, probe_rows = wide_rows(probes, ["probe", "field"])
        flux_keys, flux_rows = wide_rows(fluxes, ["flux", "kind", "field"])
    except (ValueError, KeyError) as exc:
        raise ResumeError(f"{rundir.path}: {PROBES} or {FLUXES} is damaged ({exc})") from None
    saved.update(frames=[f for f in frames if f[0] <= t * (1 + 1e-12)],
                 probe_rows=keep(probe_rows), probe_keys=probe_keys,
                 flux_rows=keep(flux_rows), flux_keys=flux_keys)
    return state, saved


def _short(exc: Exception) -> str:
    """An exception in one line (a pydantic error lists its fields on several)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


__all__ = ["CHANNEL_COUNTS", "CHANNEL_EVENTS", "CHECKPOINT", "FIELDS", "FILES", "FLUXES", "FORMAT", "FluxColumn", "FrameRef", "LOG",
           "LOCK", "MANIFEST", "METRICS", "NotARunError", "PROBES", "ProbeColumn", "ResumeError",
           "RunDirectory", "RunDirectoryError", "SURFACES", "Status", "read_checkpoint", "resume_state"]
