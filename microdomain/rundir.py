"""The run directory: the one module that knows its files, their formats and their names.

A run writes through :class:`RunDirectory` (manifest, metrics, the two tidy tables, frames,
surfaces, checkpoint, log) and everything that reads a run — `open_run`, resume, `sweep`,
`plot`, `render` — reads through it too. docs/run-directory.md documents every file; the JSON
records are typed in records.py.
"""

from __future__ import annotations

import json
import logging
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
SURFACES = "surfaces.vtu"
CHECKPOINT = "checkpoint.npz"
LOG = "log.txt"

FILES = {
    FIELDS: "the frames: a ParaView collection of fields/frame_NNNNN.vtu with their times",
    REVOLVED: "axisymmetric runs with [output] revolve = N: each frame as the 3D solid, "
              "fields_revolved/frame_NNNNN.vtu, for viewing (the (r, z) frames are the data)",
    SURFACES: "the named surfaces (membranes, channels, baths) as faces with a `surface` index",
    PROBES: "probe values per accepted step, tidy: time_ms, probe, coordinates, field, value, unit",
    FLUXES: "each flux's flow per ion and its gates per accepted step, tidy",
    METRICS: "peaks, means, flux totals, gates, mass balance (records.Metrics)",
    MANIFEST: "status, case, versions, mesh, solver, counters, citations (records.Manifest)",
    CHECKPOINT: "the last accepted state and the metrics' running totals, for --resume",
    LOG: "what happened, with times",
}

UNITS = {"time": "ms", "length": "um", "concentration": "uM", "flow": "amol/ms", "gate": "1"}


class ResumeError(MicrodomainError, ValueError):
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
        """Make the directory (and its parents)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self

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

    def frame_series(self, domain, field_units: dict[str, str], entries=()) -> VTKSeries:
        """The frame writer, its VTK field data naming what the numbers are."""
        series = VTKSeries(self.path, vtk_grid(domain.vtk_points, domain.vtk_cells),
                           frame_field_data(domain, field_units))
        series.entries = list(entries)
        return series

    def revolved_series(self, domain, field_units: dict[str, str], segments: int, entries=()):
        """The 3D companion of an axisymmetric run's frames: each frame revolved about the z
        axis in `segments` steps (io.revolved_cells), same arrays, same times."""
        points, cells, index = revolved_cells(domain.vtk_points, domain.vtk_cells, segments)
        field_data = {**frame_field_data(domain, field_units), "axes": ["x", "y", "z"],
                      "coordinates": [f"cartesian, revolved about the z axis in {segments} segments "
                                      "from the axisymmetric (r, z) frames of fields.pvd"]}
        series = _Revolved(VTKSeries(self.path, vtk_grid(points, cells), field_data,
                                     name=REVOLVED.removesuffix(".pvd")), index)
        stem = Path(FIELDS).stem
        series.entries = [(t, f.replace(stem + "/", series.name + "/", 1)) for t, f in entries]
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
        np.savez(buf, U=state.U, t=state.t, dt=state.dt, gate_names=json.dumps(names),
                 metrics=json.dumps(metrics_report, default=float), **gates)
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

    def frames(self) -> list[FrameRef]:
        """The frames fields.pvd lists, in order (files that do not exist are left out)."""
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
        root = ET.parse(self.file(FIELDS)).getroot()
        return [(float(d.get("timestep")), d.get("file")) for d in root.iter("DataSet")]

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
        state = State(np.asarray(z["U"], float), float(z["t"]), gates, float(z["dt"]))
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
    the metrics' running totals, and the frames, probe and flux rows up to that time."""
    from .tables import TableError

    try:
        manifest = rundir.manifest()
        state, saved = rundir.checkpoint()
        frames = rundir.frame_entries()
        probes = rundir.probes(manifest)
        fluxes = rundir.fluxes(manifest)
    except (OSError, ValueError, KeyError, ET.ParseError, TableError) as exc:
        raise ResumeError(f"{rundir.path} holds no run to resume ({exc})") from None
    if manifest.case_sha256 != case.sha256:
        raise ResumeError(f"{case.path} has changed since the run in {rundir.path} was started "
                          "(case hash differs); resume needs the same case file")
    if state.U.shape != system.initial.shape:
        raise ResumeError(f"the checkpoint in {rundir.path} holds {state.U.shape} values, the "
                          f"case needs {system.initial.shape}")
    t = state.t
    keep = lambda rows: [r for r in rows if r[0] <= t * (1 + 1e-12)]  # noqa: E731
    probe_keys, probe_rows = wide_rows(probes, ["probe", "field"])
    flux_keys, flux_rows = wide_rows(fluxes, ["flux", "kind", "field"])
    saved.update(frames=[f for f in frames if f[0] <= t * (1 + 1e-12)],
                 probe_rows=keep(probe_rows), probe_keys=probe_keys,
                 flux_rows=keep(flux_rows), flux_keys=flux_keys)
    return state, saved


__all__ = ["CHECKPOINT", "FIELDS", "FILES", "FLUXES", "FORMAT", "FluxColumn", "FrameRef", "LOG",
           "MANIFEST", "METRICS", "NotARunError", "PROBES", "ProbeColumn", "ResumeError",
           "RunDirectory", "SURFACES", "Status", "read_checkpoint", "resume_state"]
