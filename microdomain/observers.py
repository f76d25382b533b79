"""Observers of the time loop: VTK frames, probes, flux traces, metrics with mass balance, the
checkpoint a run resumes from, progress. Each file is rewritten at every checkpoint (after an
accepted step that passed an output time), so they always describe one consistent time."""

from __future__ import annotations

import sys
import time as wallclock
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .assembly import System
from .io import VTKSeries, atomic_write_bytes, atomic_write_json, write_csv, write_surfaces
from .probes import probe_weights
from .solver import State, StepInfo, initial_gates
from .units import AMOUNT_TO_AMOL


class FrameWriter:
    def __init__(self, out_dir: Path, fields: list[str] | None):
        self.out_dir, self.fields = out_dir, fields

    def _setup(self, system: System):
        d = system.domain
        self.names = [u.name for u in system.chemistry.unknowns]
        self.keep = [self.names.index(f) for f in self.fields] if self.fields else range(len(self.names))
        self.series = VTKSeries(self.out_dir, d.vtk_points, d.vtk_cells)
        self.compartment = d.compartment_id.astype(np.int32)

    def resume(self, system: System, U, t, saved):
        self._setup(system)
        self.series.entries = list(saved["frames"])

    def start(self, system: System, U, t):
        self._setup(system)
        d = system.domain
        if d.surface_mesh is not None:
            write_surfaces(self.out_dir / "surfaces.vtu", *d.surface_mesh)
        self.frame(U, t)

    def step(self, U, info):
        pass

    def frame(self, U, t):
        arrays = {self.names[k]: U[k] for k in self.keep}
        arrays["compartment"] = self.compartment
        self.series.write(t, arrays)

    def checkpoint(self, state):
        pass

    def finish(self, U, t, status):
        pass


class ProbeRecorder:
    """Every accepted step: one row of probe values; probes.csv rewritten at each checkpoint."""

    def __init__(self, path: Path, probes):
        self.path, self.probes = path, probes

    def resume(self, system: System, U, t, saved):
        self._setup(system)
        self.rows = [row for row in saved["probe_rows"] if row[0] <= t * (1 + 1e-12)]

    def start(self, system: System, U, t):
        self._setup(system)
        self.step(U, StepInfo(t, 0.0, 0, {}, np.zeros(0), {}))

    def _setup(self, system: System):
        names = [u.name for u in system.chemistry.unknowns]
        rows, self.columns, self.fields = [], ["time_ms"], []
        for p in self.probes:
            w = probe_weights(system.domain, p.at, p.compartment)
            for f in p.fields or [n for n in names if not system.chemistry.unknowns[names.index(n)].bound]:
                rows.append(w)
                self.fields.append(names.index(f))
                self.columns.append(f"{p.name}:{f}_uM")
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
        if self.W is not None:
            write_csv(self.path, self.columns, self.rows)

    def finish(self, U, t, status):
        self.checkpoint(None)


class FluxRecorder:
    """Every accepted step: each flux's mean flow over the step per ion (amol/ms) and, for gated
    fluxes, the area-weighted mean of each gate; fluxes.csv rewritten at each checkpoint. A
    steady solve writes one row of the steady flows."""

    def __init__(self, path: Path):
        self.path = path

    def _setup(self, system: System):
        self.sys = system
        self.columns = ["time_ms"]
        self.keys = []
        for b in system.bindings:
            for ion in b.model.ions:
                self.keys.append(("flow", b.name, ion))
                self.columns.append(f"{b.name}:{ion}_amol_per_ms")
            for g in b.model.gates:
                self.keys.append(("gate", b.name, g))
                self.columns.append(f"{b.name}:{g}")
        self.weights = {b.name: b.areas / b.areas.sum() for b in system.bindings}
        self.rows: list[list[float]] = []

    def resume(self, system: System, U, t, saved):
        self._setup(system)
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
        if len(self.columns) > 1:
            write_csv(self.path, self.columns, self.rows)

    def finish(self, U, t, status):
        self.checkpoint(None)


class Metrics:
    """Peaks and means per compartment and surface, flux totals, and the mass balance per ion.

    A steady solve reports rates instead: each flux's flow at the steady state and the steady
    balance per ion — the net inflow through baths, open faces and outside fluxes, which must
    vanish."""

    def __init__(self, path: Path):
        self.path = path

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

    def start(self, system: System, U, t):
        self._setup(system)
        self.initial_amount = {ion: self.amount(U, ion) for ion in self.ion_rows}
        self.t = t
        self._update_peaks(U, t)

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
        atomic_write_json(self.path, self.report(state.U, state.t))

    def finish(self, U, t, status):
        atomic_write_json(self.path, self.report(U, t))


class Checkpoint:
    """checkpoint.npz: the accepted state (U, t, gates, next dt) and the metrics' running totals,
    in one atomic file, so a run resumes exactly where it was; written at t = 0, after every
    step that passed an output time, at an interruption and at the end."""

    def __init__(self, path: Path, metrics: Metrics):
        self.path, self.metrics = path, metrics

    def start(self, system, U, t):
        pass

    def resume(self, system, U, t, saved):
        pass

    def step(self, U, info):
        pass

    def frame(self, U, t):
        pass

    def checkpoint(self, state: State):
        import io
        import json

        buf = io.BytesIO()
        names = [(b, g) for b, gs in state.gates.items() for g in gs]
        gates = {f"gate_{i}": state.gates[b][g] for i, (b, g) in enumerate(names)}
        np.savez(buf, U=state.U, t=state.t, dt=state.dt, gate_names=json.dumps(names),
                 metrics=json.dumps(self.metrics.report(state.U, state.t), default=float), **gates)
        atomic_write_bytes(self.path, buf.getvalue())

    def finish(self, U, t, status):
        pass


def read_checkpoint(path: Path) -> tuple[State, dict]:
    """(State, saved) from a checkpoint.npz: saved holds the metrics and the gates."""
    import json

    with np.load(path, allow_pickle=False) as z:
        gates: dict = {}
        for i, (b, g) in enumerate(json.loads(str(z["gate_names"]))):
            gates.setdefault(b, {})[g] = np.asarray(z[f"gate_{i}"], float)
        state = State(np.asarray(z["U"], float), float(z["t"]), gates, float(z["dt"]))
        metrics = json.loads(str(z["metrics"]))
    return state, {"metrics": metrics, "gates": gates}


class Progress:
    """A one-line progress bar on stderr; on a non-terminal, a line every 10 %."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last_decile = -1
        self.t0 = wallclock.perf_counter()

    def __call__(self, t, t_end, dt):
        frac = min(t / t_end, 1.0)
        text = (f"{int(40 * frac) * '#':<40} {100 * frac:5.1f}%  t = {t:.4g} ms  dt = {dt:.3g} ms  "
                f"{wallclock.perf_counter() - self.t0:.1f} s")
        if self.tty:
            self.stream.write("\r" + text)
            self.stream.flush()
        elif int(10 * frac) > self.last_decile:
            self.last_decile = int(10 * frac)
            self.stream.write(text + "\n")

    def close(self):
        if self.tty:
            self.stream.write("\n")
