"""Case + Domain + plugins → the discrete system. The only place FiPy terms are built.

Semi-discrete finite-volume form, per unknown u (an ion or a bound buffer state) and cell k:

    V_k du_k/dt = −(T_u u)_k + g_u,k + V_k R_u(U)_k + M_u(U)_k

T_u is FiPy's DiffusionTerm matrix (sign flipped: symmetric positive semi-definite), built once
with the unknown's face diffusivity (zero on membrane faces, so nothing diffuses through a
membrane) and its bath (Dirichlet) constraints; g_u is the constant right-hand side those
constraints leave. R is local binding (chemistry.py), M the membrane fluxes of the plugins,
±J·A on the two cells of every face. FiPy discretises once; the time loop (stepper.py) only
adds what changes (V/dt, reaction and flux linearisations) to the cached operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import fipy as fp
import numpy as np
import scipy.sparse as sp
from fipy.matrices.scipyMatrix import _ScipyMeshMatrix

from .case import OUTSIDE, Case
from .chemistry import BoundState, Chemistry, SiteGroup, Unknown
from .fluxes import FluxContext, FluxModel, registry as flux_registry
from .fluxes.base import Gates, advance_gates
from .mesh import Domain
from .quantities import value_in


class ModelError(ValueError):
    """A case that reads fine but does not fit its mesh: (case field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


@dataclass(frozen=True)
class FluxBinding:
    """One flux plugin bound to the faces of one surface."""

    name: str
    model: FluxModel
    faces: np.ndarray
    src: np.ndarray            # cell on the `from` side, -1 = outside the mesh
    tgt: np.ndarray            # cell on the `to` side, -1 = outside the mesh
    areas: np.ndarray          # FiPy face areas (per radian when cylindrical)
    outside: dict[str, float]  # fixed concentrations on an outside side
    start: float | None
    stop: float | None
    references: tuple[str, ...]
    sensors: dict[str, tuple[np.ndarray, np.ndarray]]   # sensor → (cells, volume weights summing to 1)

    def active(self, t_mid: float) -> bool:
        return (self.start is None or t_mid >= self.start) and (self.stop is None or t_mid < self.stop)

    def sides(self, U: np.ndarray, ion_index: dict[str, int]):
        """Free ion concentrations on both sides of every face, and the sensed means."""
        src = {ion: _side(U[k], self.src, self.outside.get(ion, 0.0)) for ion, k in ion_index.items()}
        tgt = {ion: _side(U[k], self.tgt, self.outside.get(ion, 0.0)) for ion, k in ion_index.items()}
        sensed = {name: {ion: float(w @ U[k, cells]) for ion, k in ion_index.items()}
                  for name, (cells, w) in self.sensors.items()}
        return src, tgt, sensed

    def extras(self, gates: Gates | None, sensed) -> dict:
        """Keyword arguments for the model: only those it declares (plain plugins take none)."""
        out = {}
        if self.model.gates:
            out["gates"] = gates
        if self.sensors:
            out["sensed"] = sensed
        return out


@dataclass(frozen=True)
class System:
    case: Case
    domain: Domain
    chemistry: Chemistry
    transport: tuple[sp.csr_matrix, ...]     # T_u, one per unknown
    dirichlet_rhs: np.ndarray                # g, shape (n_unknowns, n_cells)
    initial: np.ndarray                      # U0, shape (n_unknowns, n_cells)
    bindings: tuple[FluxBinding, ...]
    atol: np.ndarray                         # per unknown absolute tolerance (µM)
    # optional volumetric source S(t) (µM/ms, shape like U): manufactured-solution studies
    source: Callable[[float], np.ndarray] | None = None

    @property
    def n_unknowns(self) -> int:
        return len(self.chemistry.unknowns)

    @property
    def n_cells(self) -> int:
        return self.domain.n_cells

    @property
    def breakpoints(self) -> list[float]:
        return sorted({x for b in self.bindings for x in (b.start, b.stop) if x is not None})

    def free_ion_index(self) -> dict[str, int]:
        return {u.name: k for k, u in enumerate(self.chemistry.unknowns) if not u.bound}

    def initial_gates(self, U: np.ndarray) -> dict[str, Gates]:
        """Gates of every gated binding at the initial state (binding name → gate → per face)."""
        ion_index = self.free_ion_index()
        out = {}
        for b in self.bindings:
            if b.model.gates:
                src, tgt, sensed = b.sides(U, ion_index)
                out[b.name] = b.model.initial_gates(src, tgt, sensed if b.sensors else None)
        return out

    def membrane(self, U: np.ndarray, t_mid: float, t: float, want_jacobian: bool,
                 gates_old: dict[str, Gates] | None = None, dt: float | None = None):
        """Net membrane inflow per cell (amount/time) and, if asked, its derivative entries.

        Gates are advanced from `gates_old` over `dt` at the concentrations U (the step's end);
        with dt None they are used as given. Returns (M, entries, per_binding, gates) where
        entries are (row_unknown, row_cell, col_cell, d(inflow)/du) arrays for the same unknown,
        per_binding maps a binding to its {ion: J·A per face} (for flux accounting) and gates
        are the gates used.
        """
        M = np.zeros_like(U)
        rows, rcells, ccells, vals = [], [], [], []
        per_binding, gates_new = {}, {}
        ion_index = self.free_ion_index()
        for b in self.bindings:
            gated = bool(b.model.gates)
            if not gated and not b.active(t_mid):
                continue
            src, tgt, sensed = b.sides(U, ion_index)
            gates = None
            if gated:
                gates = gates_old[b.name]
                if dt is not None:
                    gates = advance_gates(b.model, gates, src, tgt, t, dt, sensed if b.sensors else None)
                gates_new[b.name] = gates
                if not b.active(t_mid):     # a closed gated channel still relaxes its gates
                    continue
            extra = b.extras(gates, sensed)
            J = b.model.flux(src, tgt, t, **extra)
            per_binding[b.name] = {ion: j * b.areas for ion, j in J.items()}
            for ion, j in J.items():
                k = ion_index[ion]
                q = j * b.areas
                inside_src, inside_tgt = b.src >= 0, b.tgt >= 0
                np.add.at(M[k], b.src[inside_src], -q[inside_src])
                np.add.at(M[k], b.tgt[inside_tgt], q[inside_tgt])
            if not want_jacobian:
                continue
            for (ion, side), d in b.model.dflux(src, tgt, t, **extra).items():
                k = ion_index[ion]
                col = b.src if side == "src" else b.tgt
                dq = d * b.areas
                for row, sign in ((b.src, -1.0), (b.tgt, 1.0)):
                    ok = (row >= 0) & (col >= 0)
                    rows.append(np.full(int(ok.sum()), k))
                    rcells.append(row[ok])
                    ccells.append(col[ok])
                    vals.append(sign * dq[ok])
        entries = tuple(np.concatenate(x) if x else np.zeros(0, dtype=float if i == 3 else np.int64)
                        for i, x in enumerate((rows, rcells, ccells, vals)))
        return M, entries, per_binding, gates_new

    def membrane_pattern(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (unknown, row cell, col cell) a flux derivative may fill, for the sparse pattern."""
        ion_index = self.free_ion_index()
        rows, rc, cc = [], [], []
        for b in self.bindings:
            both = (b.src >= 0) & (b.tgt >= 0)
            for ion in b.model.ions:
                k = ion_index[ion]
                for row in (b.src, b.tgt):
                    for col in (b.src, b.tgt):
                        ok = (row >= 0) & (col >= 0) & (both | (row == col))
                        rows.append(np.full(int(ok.sum()), k))
                        rc.append(row[ok])
                        cc.append(col[ok])
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows), np.concatenate(rc), np.concatenate(cc)


def _side(values: np.ndarray, cells: np.ndarray, outside: float) -> np.ndarray:
    return np.where(cells >= 0, values[np.maximum(cells, 0)], outside)


# ------------------------------------------------------------------------------- building --

def build_chemistry(case: Case, domain: Domain) -> Chemistry:
    unknowns = [Unknown(s.ion, s.ion, False) for s in case.species]
    ion_index = {s.ion: k for k, s in enumerate(case.species)}
    bound, groups = [], []
    for buf in case.buffers:
        inside = np.isin(domain.compartment_id,
                         [domain.compartment_names.index(c) for c in buf.compartments])
        names = iter(buf.state_names())
        for site in buf.sites:
            states = []
            for binding in site.binds:
                unknowns.append(Unknown(next(names), binding.ion, True, buf.name))
                states.append(len(bound))
                bound.append(BoundState(len(unknowns) - 1, ion_index[binding.ion], len(groups),
                                        binding.kon, binding.koff))
            groups.append(SiteGroup(buf.name, site.count * buf.total * inside, tuple(states)))
    return Chemistry(tuple(unknowns), tuple(bound), tuple(groups))


def _per_cell(table: dict[str, float], domain: Domain) -> np.ndarray:
    per_comp = np.array([value_in(table, c, 0.0) for c in domain.compartment_names])
    return per_comp[domain.compartment_id]


def _diffusivities(case: Case, domain: Domain, chem: Chemistry) -> list[np.ndarray]:
    by_ion = {s.ion: _per_cell(s.D, domain) for s in case.species}
    by_buffer = {b.name: np.full(domain.n_cells, b.D) for b in case.buffers}
    return [by_buffer[u.buffer] if u.bound else by_ion[u.name] for u in chem.unknowns]


def _initial_state(case: Case, domain: Domain, chem: Chemistry) -> np.ndarray:
    U = np.zeros((len(chem.unknowns), domain.n_cells))
    for k, s in enumerate(case.species):
        U[k] = _per_cell(s.initial, domain)
    equilibrium = chem.equilibrium_bound({k: U[k] for k in range(len(case.species))})
    start_free = {b.name for b in case.buffers if b.initial == "free"}
    for k, u in enumerate(chem.unknowns):
        if u.bound and u.buffer not in start_free:
            U[k] = equilibrium[k]
    return U


def _bath_values(case: Case, domain: Domain, chem: Chemistry) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(surface, faces, values per unknown per face) for every bath boundary."""
    out, problems = [], []
    for i, bnd in enumerate(case.boundaries):
        fs = domain.surfaces[bnd.surface]
        if not fs.exterior:
            problems.append((f"boundaries[{i}].surface", f"surface {bnd.surface!r} is a membrane "
                             "inside the mesh; a bath needs outer faces"))
            continue
        cells = fs.cells_a
        free = {}
        for k, s in enumerate(case.species):
            given = value_in(bnd.concentrations, s.ion)
            free[k] = np.full(cells.size, given) if given is not None else _per_cell(s.initial, domain)[cells]
        values = np.zeros((len(chem.unknowns), cells.size))
        for k, v in free.items():
            values[k] = v
        local = Chemistry(chem.unknowns, chem.bound,
                          tuple(SiteGroup(g.buffer, g.site_total[cells], g.states) for g in chem.groups))
        for k, v in local.equilibrium_bound(free).items():
            values[k] = v
        out.append((bnd.surface, fs.faces, values))
    if problems:
        raise ModelError(problems)
    return out


def _transport(domain: Domain, D_cells: np.ndarray, baths) -> tuple[sp.csr_matrix, np.ndarray]:
    mesh = domain.mesh
    var = fp.CellVariable(mesh=mesh, value=0.0)
    D_face = fp.CellVariable(mesh=mesh, value=D_cells).harmonicFaceValue.value.copy()
    D_face[domain.membrane_faces()] = 0.0
    for faces, values in baths:
        mask = np.zeros(mesh.numberOfFaces, bool)
        mask[faces] = True
        face_values = np.zeros(mesh.numberOfFaces)
        face_values[faces] = values
        var.constrain(fp.FaceVariable(mesh=mesh, value=face_values), where=mask)
    term = fp.DiffusionTerm(coeff=fp.FaceVariable(mesh=mesh, value=D_face), var=var)
    # FiPy builds L and b with L·u = b meaning Σ face fluxes = L·u − b: keep T = −L, g = −b.
    _, L, b = term._buildMatrix(var, _ScipyMeshMatrix, dt=1.0)
    T = (-L.matrix).tocsr()
    T.eliminate_zeros()
    return T, -np.asarray(b, float)


def bind_fluxes(case: Case, domain: Domain) -> tuple[FluxBinding, ...]:
    out, problems = [], []
    valence = {s.ion: s.valence for s in case.species}
    names = domain.compartment_names
    for i, (spec, params) in enumerate(zip(case.fluxes, case.flux_params)):
        fs = domain.surfaces[spec.surface]
        ca = domain.compartment_id[fs.cells_a]
        cb = np.where(fs.cells_b >= 0, domain.compartment_id[np.maximum(fs.cells_b, 0)], -1)
        side_name = lambda c: names[c] if c >= 0 else OUTSIDE  # noqa: E731
        pairs = sorted({(side_name(a), side_name(b)) for a, b in zip(ca, cb)})
        want = {spec.source, spec.target}
        bad = [p for p in pairs if set(p) != want]
        if bad:
            found = "; ".join(f"{a} | {b}" for a, b in pairs)
            problems.append((f"fluxes[{i}]", f"flux {spec.name!r} goes from {spec.source!r} to "
                             f"{spec.target!r}, but surface {spec.surface!r} lies between {found}"))
            continue
        a_is_src = np.array([side_name(a) == spec.source for a in ca])
        src = np.where(a_is_src, fs.cells_a, fs.cells_b)
        tgt = np.where(a_is_src, fs.cells_b, fs.cells_a)
        areas = domain.face_areas[fs.faces]
        model_cls = flux_registry.get(spec.model)
        model = model_cls(params, FluxContext(areas=areas * domain.angle, valence=valence))
        missing = [ion for ion in model.ions if ion not in valence]
        if missing:
            problems.append((f"fluxes[{i}].params", f"flux {spec.name!r} moves {', '.join(missing)}, "
                             f"not a species; species: {', '.join(valence)}"))
            continue
        sensors, bad_sensor = _sensor_cells(model, domain)
        if bad_sensor:
            problems.append((f"fluxes[{i}].params", f"flux {spec.name!r}: {bad_sensor}"))
            continue
        outside = {ion: value_in(spec.outside, ion, 0.0) for ion in valence}
        out.append(FluxBinding(spec.name, model, fs.faces, src, tgt, areas, outside, spec.start,
                               spec.stop, tuple(model_cls.references), sensors))
    if problems:
        raise ModelError(problems)
    return tuple(out)


def _sensor_cells(model: FluxModel, domain: Domain):
    """Cells and volume weights of each sensor of a model, or an error message."""
    out = {}
    names = domain.compartment_names
    for name, sensor in model.sensors().items():
        if sensor.compartment not in names:
            return None, (f"sensor {name!r} reads compartment {sensor.compartment!r}, which the "
                          f"geometry lacks; compartments: {', '.join(names)}")
        inside = domain.compartment_id == names.index(sensor.compartment)
        if sensor.surface is not None:
            if sensor.surface not in domain.surfaces:
                return None, (f"sensor {name!r} reads next to surface {sensor.surface!r}, which the "
                              f"geometry lacks; surfaces: {', '.join(domain.surfaces)}")
            fs = domain.surfaces[sensor.surface]
            near = np.zeros(domain.n_cells, bool)
            near[fs.cells_a] = True
            near[fs.cells_b[fs.cells_b >= 0]] = True
            inside &= near
            if not inside.any():
                return None, (f"sensor {name!r}: surface {sensor.surface!r} does not touch "
                              f"compartment {sensor.compartment!r}")
        cells = np.flatnonzero(inside)
        w = domain.volumes[cells]
        out[name] = (cells, w / w.sum())
    return out, None


def build_system(case: Case, domain: Domain) -> System:
    chem = build_chemistry(case, domain)
    U0 = _initial_state(case, domain, chem)
    problems = []
    try:
        bindings = bind_fluxes(case, domain)
    except ModelError as exc:
        problems += exc.problems
    try:
        baths = _bath_values(case, domain, chem)
    except ModelError as exc:
        problems += exc.problems
    if problems:
        raise ModelError(problems)
    T, g = [], []
    for k, D in enumerate(_diffusivities(case, domain, chem)):
        Tk, gk = _transport(domain, D, [(faces, values[k]) for _, faces, values in baths])
        T.append(Tk)
        g.append(gk)
    scale = np.max(np.abs(U0), axis=1)
    atol = np.clip(np.minimum(case.time.atol, 1e-3 * scale), 1e-15, None)
    atol[scale == 0] = case.time.atol
    return System(case, domain, chem, tuple(T), np.array(g), U0, bindings, atol)
