"""Observers of the time loop: frames, probes, flux traces, metrics with mass balance, the
checkpoint a run resumes from. Each keeps what it records in memory (a run without a directory
returns it as a Result) and, given a RunDirectory, rewrites its file at every checkpoint (after
an accepted step that passed an output time), so the files always describe one consistent time."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .assembly import System
from .progress import Progress  # noqa: F401  (re-exported: where it used to live)
from .rundir import FluxColumn, ProbeColumn, ResumeError, RunDirectory, UNITS, read_checkpoint  # noqa: F401
from .probes import probe_weights
from .solver import State, StepInfo, initial_gates
from .solver.state import Watcher
from .units import AMOUNT_TO_AMOL


def field_units(system: System) -> dict[str, str]:
    """Every unknown and the compartment id, with their units."""
    out = {u.name: UNITS["concentration"] for u in system.chemistry.unknowns}
    out["compartment"] = ""
    return out


def absent_cells(system: System) -> dict[str, np.ndarray]:
    """Per bound buffer state, the cells outside the buffer's compartments: there the state does
    not exist, and outputs show NaN rather than a 0 that would wreck a log colour scale."""
    d = system.domain
    where = {b.name: [d.compartment_names.index(c) for c in b.compartments
                      if c in d.compartment_names] for b in system.case.buffers}
    out = {}
    for u in system.chemistry.unknowns:
        if u.bound and u.buffer in where:
            outside = ~np.isin(d.compartment_id, where[u.buffer])
            if np.any(outside):
                out[u.name] = outside
    return out


def output_arrays(system: System, U: np.ndarray, keep, absent) -> dict[str, np.ndarray]:
    """The cell arrays of one frame: the kept unknowns (NaN where absent), then `compartment`."""
    names = [u.name for u in system.chemistry.unknowns]
    arrays = {}
    for k in keep:
        values = np.array(U[k], float)
        if names[k] in absent:
            values[absent[names[k]]] = np.nan
        arrays[names[k]] = values
    arrays["compartment"] = system.domain.compartment_id.astype(np.int32)
    return arrays


class FrameWriter:
    """Frames into the run directory: fields.pvd and fields/frame_NNNNN.vtu (or fields.vtkhdf),
    plus surfaces.vtu."""

    def __init__(self, rundir: RunDirectory, fields: list[str] | None, revolve: int | None = None,
                 format: str = "vtu"):
        self.rundir, self.fields, self.revolve, self.format = rundir, fields, revolve, format

    def _setup(self, system: System, entries=()):
        self.sys = system
        names = [u.name for u in system.chemistry.unknowns]
        self.keep = [names.index(f) for f in self.fields] if self.fields else range(len(names))
        self.absent = absent_cells(system)
        units = field_units(system)
        kept = {names[k]: units[names[k]] for k in self.keep} | {"compartment": ""}
        self.series = [self.rundir.frame_series(system.domain, kept, entries, self.format)]
        if self.revolve:
            self.series.append(self.rundir.revolved_series(system.domain, kept, self.revolve, entries,
                                                           self.format))

    def resume(self, system: System, U, t, saved):
        self._setup(system, saved["frames"])

    def start(self, system: System, U, t):
        self._setup(system)
        self.rundir.write_surfaces(system.domain)
        self.frame(U, t)

    def step(self, U, info):
        pass

    def frame(self, U, t):
        arrays = output_arrays(self.sys, U, self.keep, self.absent)
        for series in self.series:
            series.write(t, arrays)

    def checkpoint(self, state):
        pass

    def finish(self, U, t, status):
        pass


class FrameStore:
    """Frames in memory: (time, kept unknowns) at every frame time, for a run without a
    directory."""

    def __init__(self, fields: list[str] | None):
        self.fields = fields
        self.times: list[float] = []
        self.states: list[np.ndarray] = []

    def _setup(self, system: System):
        names = [u.name for u in system.chemistry.unknowns]
        self.names = list(self.fields) if self.fields else names
        self.keep = [names.index(f) for f in self.names]

    def start(self, system: System, U, t):
        self._setup(system)
        self.frame(U, t)

    def resume(self, system: System, U, t, saved):
        self._setup(system)

    def step(self, U, info):
        pass

    def frame(self, U, t):
        self.times.append(float(t))
        self.states.append(np.array(U[self.keep], float))

    def checkpoint(self, state):
        pass

    def finish(self, U, t, status):
        pass


def _check_keys(saved_keys, own_keys, what: str) -> None:
    if saved_keys and [tuple(k) for k in saved_keys] != [tuple(k) for k in own_keys]:
        raise ResumeError(f"the run directory's {what} has other columns than this case records")


def check_resumed_columns(system: System, saved: dict) -> None:
    """ResumeError, before the resumed run writes anything, if the run directory's tables have
    other columns than this case records (the same case hash, another version's columns)."""
    probes, fluxes = ProbeRecorder(system.case.output.probes), FluxRecorder()
    probes._setup(system)
    fluxes._setup(system)
    _check_keys(saved.get("probe_keys"), [(c.probe, c.field) for c in probes.columns], "probes.csv")
    _check_keys(saved.get("flux_keys"), [(c.flux, c.kind, c.field) for c in fluxes.columns],
                "fluxes.csv")


class ProbeRecorder:
    """Every accepted step: one row of probe values (µM, interpolated; see probe_weights);
    probes.csv rewritten at each checkpoint."""

    def __init__(self, probes, rundir: RunDirectory | None = None):
        self.probes, self.rundir = probes, rundir

    def resume(self, system: System, U, t, saved):
        self._setup(system)
        _check_keys(saved.get("probe_keys"), [(c.probe, c.field) for c in self.columns], "probes.csv")
        self.rows = [row for row in saved["probe_rows"] if row[0] <= t * (1 + 1e-12)]

    def start(self, system: System, U, t):
        self._setup(system)
        self.step(U, StepInfo(t, 0.0, 0, {}, np.zeros(0), {}))

    def _setup(self, system: System):
        names = [u.name for u in system.chemistry.unknowns]
        self.axes = system.domain.axes
        rows, self.columns, self.fields = [], [], []
        for p in self.probes:
            w = probe_weights(system.domain, p.at, p.compartment)
            for f in p.fields or [n for n in names if not system.chemistry.unknowns[names.index(n)].bound]:
                rows.append(w)
                self.fields.append(names.index(f))
                self.columns.append(ProbeColumn(p.name, tuple(p.at), f))
        self.W = sp.vstack(rows).tocsr() if rows else None
        self.rows: list[list[float]] = []

    def values(self, U) -> np.ndarray:
        return np.array([self.W[i] @ U[f] for i, f in enumerate(self.fields)]).ravel()

    def step(self, U, info):
        if self.W is not None:
            self.rows.append([info.t, *self.values(U)])

    def frame(self, U, t):
        pass

    def checkpoint(self, state):
        # written even without probes (a header alone): every run has every file
        if self.rundir is not None:
            self.rundir.write_probes(self.axes, self.columns, self.rows if self.W is not None else [])

    def finish(self, U, t, status):
        self.checkpoint(None)


class FluxRecorder:
    """Every accepted step: each flux's mean flow over the step per ion (amol/ms) and, for gated
    fluxes, the area-weighted mean of each gate; fluxes.csv rewritten at each checkpoint. A
    steady solve writes one row of the steady flows."""

    def __init__(self, rundir: RunDirectory | None = None):
        self.rundir = rundir

    def _setup(self, system: System):
        self.sys = system
        self.columns: list[FluxColumn] = []
        self.keys = []
        surface = {f.name: f.surface for f in system.case.fluxes}
        for b in system.bindings:
            for ion in b.model.ions:
                self.keys.append(("flow", b.name, ion))
                self.columns.append(FluxColumn(b.name, surface[b.name], "flow", ion, UNITS["flow"]))
            for g in b.model.gates:
                self.keys.append(("gate", b.name, g))
                self.columns.append(FluxColumn(b.name, surface[b.name], "gate", g, UNITS["gate"]))
        self.weights = {b.name: b.areas / b.areas.sum() for b in system.bindings}
        self.rows: list[list[float]] = []

    def resume(self, system: System, U, t, saved):
        self._setup(system)
        _check_keys(saved.get("flux_keys"), [(c.flux, c.kind, c.field) for c in self.columns],
                    "fluxes.csv")
        self.rows = [row for row in saved.get("flux_rows", []) if row[0] <= t * (1 + 1e-12)]

    def start(self, system: System, U, t):
        self._setup(system)
        self._row(t, {}, 0.0, initial_gates(system, U))

    def _row(self, t, amounts, dt, gates, steady=False):
        row = [t]
        for kind, name, what in self.keys:
            if kind == "flow":
                amount = amounts.get(name, {}).get(what, 0.0)
                if steady:
                    row.append(amount * AMOUNT_TO_AMOL)          # already a rate
                else:
                    row.append(amount * AMOUNT_TO_AMOL / dt if dt > 0 else 0.0)
            else:
                row.append(float(self.weights[name] @ gates[name][what]))
        self.rows.append(row)

    def step(self, U, info: StepInfo):
        self._row(info.t, info.flux_amounts, info.dt, info.gates, info.steady)

    def frame(self, U, t):
        pass

    def checkpoint(self, state):
        if self.rundir is not None:
            self.rundir.write_fluxes(self.columns, self.rows if self.columns else [])

    def finish(self, U, t, status):
        self.checkpoint(None)


class Metrics:
    """Peaks and means per compartment and surface, flux totals, and the mass balance per ion.

    A steady solve reports rates instead: each flux's flow at the steady state and the steady
    balance per ion — the net inflow through baths, open faces and outside fluxes, which must
    vanish."""

    def __init__(self, rundir: RunDirectory | None = None):
        self.rundir = rundir
        self.channels = None        # a MarkovEngine: its clusters' events go into the report

    def resume(self, system: System, U, t, saved):
        """Carry on the accounting from a checkpoint's metrics (checkpoint.npz)."""
        self._setup(system)
        m = saved["metrics"]
        for (kind, where, ion) in self.peaks:
            entry = m["compartments" if kind == "compartment" else "surfaces"][where][ion]
            self.peaks[(kind, where, ion)] = (entry["peak_uM"], entry["peak_time_ms"])
        for ion, b in m["mass_balance"].items():
            self.initial_amount[ion] = b["initial_amol"] / AMOUNT_TO_AMOL
            self.bath_inflow[ion] = b["bath_inflow_amol"] / AMOUNT_TO_AMOL
            self.outside_inflow[ion] = b["outside_inflow_amol"] / AMOUNT_TO_AMOL
            self.reaction_inflow[ion] = b.get("reaction_inflow_amol", 0.0) / AMOUNT_TO_AMOL
        for name, per_ion in m["fluxes"].items():
            self.flux_totals[name] = {ion: v["amount_amol"] / AMOUNT_TO_AMOL for ion, v in per_ion.items()}
        self.gates = {b: {g: np.asarray(v, float) for g, v in gs.items()}
                      for b, gs in saved.get("gates", {}).items()}
        self.t = t
        if self.ledger is not None:
            self.ledger.resume(U, t, m.get("channels") or {})

    def start(self, system: System, U, t):
        self._setup(system)
        self.initial_amount = {ion: self.amount(U, ion) for ion in self.ion_rows}
        self.t = t
        self._update_peaks(U, t)
        if self.ledger is not None:
            self.ledger.start(U, t)

    def _setup(self, system: System):
        self.sys = system
        d = system.domain
        chem = system.chemistry
        self.ion_rows = {u.name: k for k, u in enumerate(chem.unknowns) if not u.bound}
        self.carriers = {ion: chem.carriers(ion) for ion in self.ion_rows}
        self.masks = {c: d.compartment_mask(c) for c in d.compartment_names}
        self.surface_cells = {n: np.unique(np.concatenate([fs.cells_a, fs.cells_b[fs.cells_b >= 0]]))
                              for n, fs in d.surfaces.items()}
        self.peaks = {("compartment", c, ion): (-np.inf, 0.0) for c in self.masks for ion in self.ion_rows}
        self.peaks.update({("surface", s, ion): (-np.inf, 0.0) for s in self.surface_cells
                           for ion in self.ion_rows})
        self.initial_amount = {ion: 0.0 for ion in self.ion_rows}
        self.bath_inflow = {ion: 0.0 for ion in self.ion_rows}
        self.outside_inflow = {ion: 0.0 for ion in self.ion_rows}
        self.reaction_inflow = {ion: 0.0 for ion in self.ion_rows}   # made by volume reactions
        self.flux_totals: dict[str, dict[str, float]] = {b.name: {} for b in system.bindings}
        self.gates = initial_gates(system, system.initial)
        self.steady = None          # steady rates, after a direct steady solve
        self.ledger = None          # per-event amounts and peaks of the stochastic clusters
        if self.channels is not None:
            from .stochastic.events import EventLedger

            self.ledger = EventLedger(self.channels, system, self.ion_rows, self.surface_cells)

    def amount(self, U, ion) -> float:
        """Total ion, free and bound, in µM·µm³ (physical volume)."""
        d = self.sys.domain
        return float(np.sum(d.volumes * U[self.carriers[ion]].sum(axis=0)) * d.angle)

    def _update_peaks(self, U, t):
        for (kind, where, ion), (best, _) in self.peaks.items():
            cells = self.masks[where] if kind == "compartment" else self.surface_cells[where]
            value = float(U[self.ion_rows[ion], cells].max())
            if value > best:
                self.peaks[(kind, where, ion)] = (value, t)

    def step(self, U, info: StepInfo):
        self.t = info.t
        self._update_peaks(U, info.t)
        if info.gates:
            self.gates = info.gates
        if info.steady:
            self.steady = info
            return
        for ion in self.ion_rows:
            self.bath_inflow[ion] += float(info.boundary_inflow[self.carriers[ion]].sum())
            self.outside_inflow[ion] += info.outside_inflow.get(ion, 0.0)
            self.reaction_inflow[ion] += info.reaction_inflow.get(ion, 0.0)
        for name, per_ion in info.flux_amounts.items():
            for ion, amount in per_ion.items():
                self.flux_totals[name][ion] = self.flux_totals[name].get(ion, 0.0) + amount
        if self.ledger is not None:
            self.ledger.step(U, info.t, info.dt, info.flux_amounts)

    def report(self, U, t) -> dict:
        d = self.sys.domain
        comps = {}
        for c, mask in self.masks.items():
            comps[c] = {ion: {"peak_uM": self.peaks[("compartment", c, ion)][0],
                              "peak_time_ms": self.peaks[("compartment", c, ion)][1],
                              "mean_uM": float(np.average(U[k, mask], weights=d.volumes[mask]))}
                        for ion, k in self.ion_rows.items()}
        surfs = {s: {ion: {"peak_uM": self.peaks[("surface", s, ion)][0],
                           "peak_time_ms": self.peaks[("surface", s, ion)][1]}
                     for ion in self.ion_rows} for s in self.surface_cells}
        balance = {}
        for ion in self.ion_rows:
            now, start = self.amount(U, ion), self.initial_amount[ion]
            inflow = self.bath_inflow[ion] + self.outside_inflow[ion] + self.reaction_inflow[ion]
            error = now - start - inflow
            scale = max(abs(start), abs(now), abs(inflow), 1e-300)
            balance[ion] = {"initial_amol": start * AMOUNT_TO_AMOL, "final_amol": now * AMOUNT_TO_AMOL,
                            "bath_inflow_amol": self.bath_inflow[ion] * AMOUNT_TO_AMOL,
                            "outside_inflow_amol": self.outside_inflow[ion] * AMOUNT_TO_AMOL,
                            "reaction_inflow_amol": self.reaction_inflow[ion] * AMOUNT_TO_AMOL,
                            "error_amol": error * AMOUNT_TO_AMOL, "relative_error": error / scale}
        fluxes = {name: {ion: {"amount_amol": a * AMOUNT_TO_AMOL} for ion, a in per_ion.items()}
                  for name, per_ion in self.flux_totals.items()}
        areas = {b.name: b.areas / b.areas.sum() for b in self.sys.bindings}
        gates = {name: {g: {"mean": float(areas[name] @ v), "min": float(np.min(v)),
                            "max": float(np.max(v))} for g, v in per_gate.items()}
                 for name, per_gate in self.gates.items()}   # area-weighted mean, as fluxes.csv
        out = {"time_ms": t, "compartments": comps, "surfaces": surfs, "fluxes": fluxes,
               "gates": gates, "mass_balance": balance}
        if self.channels is not None:
            # stochastic clusters' events, with what each moved and reached
            out["channels"] = self.ledger.report(self.channels.summary(t), t)
        if self.steady is not None:
            # a direct steady solve integrates nothing in time: its balance is of rates
            out["steady"] = self._steady_report()
            del out["mass_balance"], out["fluxes"]
        return out

    def _steady_report(self) -> dict:
        """Flows at the steady state (amol/ms) and the net inflow per ion, which must vanish."""
        info = self.steady
        flows = {name: {ion: {"rate_amol_per_ms": q * AMOUNT_TO_AMOL} for ion, q in per_ion.items()}
                 for name, per_ion in info.flux_amounts.items()}
        balance = {}
        for ion in self.ion_rows:
            bath = float(info.boundary_inflow[self.carriers[ion]].sum())
            outside = info.outside_inflow.get(ion, 0.0)
            made = info.reaction_inflow.get(ion, 0.0)
            # the scale: the largest single inflow, through a boundary, an outside flux or reactions
            terms = [abs(x) for x in info.boundary_inflow[self.carriers[ion]]] + [abs(outside), abs(made)]
            scale = max(max(terms), 1e-300)
            balance[ion] = {"bath_inflow_amol_per_ms": bath * AMOUNT_TO_AMOL,
                            "outside_inflow_amol_per_ms": outside * AMOUNT_TO_AMOL,
                            "reaction_inflow_amol_per_ms": made * AMOUNT_TO_AMOL,
                            "net_amol_per_ms": (bath + outside + made) * AMOUNT_TO_AMOL,
                            "relative_imbalance": (bath + outside + made) / scale}
        return {"fluxes": flows, "balance": balance}

    def frame(self, U, t):
        pass

    def checkpoint(self, state):
        if self.rundir is not None:
            self.rundir.write_metrics(self.report(state.U, state.t))

    def finish(self, U, t, status):
        self.final = self.report(U, t)
        if self.rundir is not None:
            self.rundir.write_metrics(self.final)


class Checkpoint(Watcher):
    """checkpoint.npz: the accepted state (U, t, gates, next dt) and the metrics' running totals,
    in one atomic file, so a run resumes exactly where it was; written at t = 0, after every
    step that passed an output time, at an interruption and at the end."""

    def __init__(self, rundir: RunDirectory, metrics: Metrics):
        self.rundir, self.metrics = rundir, metrics

    def checkpoint(self, state: State):
        self.rundir.write_checkpoint(state, self.metrics.report(state.U, state.t))


class ChannelLog(Watcher):
    """channel_events.csv and channel_counts.csv of the stochastic clusters, written through
    rundir.py at every checkpoint and at the end, from the engine (whose log a checkpoint
    carries, so a resumed run writes the whole log again)."""

    def __init__(self, engine, rundir: RunDirectory):
        self.engine, self.rundir = engine, rundir

    def checkpoint(self, state):
        self.rundir.write_channels(self.engine.event_rows(), self.engine.count_rows())

    def finish(self, U, t, status):
        self.checkpoint(None)
