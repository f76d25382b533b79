"""Case + Domain + plugins → the discrete system. The only place FiPy terms are built.

Semi-discrete finite-volume form, per unknown u (an ion or a bound buffer state) and cell k:

    V_k du_k/dt = −(T_u u)_k + g_u,k + V_k R_u(U)_k + M_u(U)_k

T_u is FiPy's DiffusionTerm matrix (sign flipped: symmetric positive semi-definite), built once
with the unknown's face diffusivity (zero on membrane faces, so nothing diffuses through a
membrane) and its bath (Dirichlet) constraints; g_u is the constant right-hand side those
constraints leave. R is local binding and volume reactions (chemistry.py), M the membrane
fluxes of the plugins, ±J·A on the two cells of every face. FiPy discretises once; the time
loop (stepper.py) only adds what changes (V/dt, reaction and flux linearisations) to the cached
operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import fipy as fp
import numpy as np
import scipy.sparse as sp
from fipy.matrices.scipyMatrix import _ScipyMeshMatrix

from .case import OUTSIDE, Case
from .chemistry import BoundReaction, BoundState, Chemistry, SiteGroup, Unknown
from .fluxes import FluxContext, FluxModel, registry as flux_registry
from .mesh import Domain
from .quantities import value_in
from .solver.nonorthogonal import (LimitedCorrection, NonOrthogonalCorrection, has_skewed_faces,
                                   tangential_offsets)
from .solver.symmetric_flux import SymmetricDiffusion
from .reactions import registry as reaction_registry


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
    # half-cell diffusion resistance δ/D (ms/µm) between each cell centre and the membrane, per
    # moved ion; 0 outside the mesh and where the ion is immobile (solver/membrane.py)
    r_src: dict[str, np.ndarray]
    r_tgt: dict[str, np.ndarray]
    # on skewed cells, face centre − (cell centre + δ·n) per side, (dim, n_faces); None when the
    # mesh is orthogonal (solver/nonorthogonal.py)
    off_src: np.ndarray | None = None
    off_tgt: np.ndarray | None = None

    def active(self, t_mid: float) -> bool:
        return (self.start is None or t_mid >= self.start) and (self.stop is None or t_mid < self.stop)


@dataclass(frozen=True)
class System:
    case: Case
    domain: Domain
    chemistry: Chemistry
    transport: tuple[sp.csr_matrix, ...]     # T_u, one per unknown
    boundary_rhs: np.ndarray                 # g (baths and open faces), shape (n_unknowns, n_cells)
    initial: np.ndarray                      # U0, shape (n_unknowns, n_cells)
    bindings: tuple[FluxBinding, ...]
    atol: np.ndarray                         # per unknown absolute tolerance (µM)
    # optional volumetric source S(t) (µM/ms, shape like U): manufactured-solution studies
    source: Callable[[float], np.ndarray] | None = None
    # the limited, deferred non-orthogonal correction the residual adds (solver/nonorthogonal.py)
    correction: LimitedCorrection | None = None
    # the diffusion scheme `solver.nonorthogonal` resolved to on this mesh (nonorthogonal_mode)
    nonorthogonal: str = "none"

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


# ------------------------------------------------------------------------------- building --

def _cells_of(domain: Domain, compartments) -> np.ndarray:
    """Boolean mask of the cells of some compartments (None: every cell)."""
    if compartments is None:
        return np.ones(domain.n_cells, bool)
    return np.isin(domain.compartment_id, [domain.compartment_names.index(c) for c in compartments])


def build_chemistry(case: Case, domain: Domain) -> Chemistry:
    unknowns = [Unknown(s.symbol, s.symbol, False) for s in case.species]
    ion_index = {s.symbol: k for k, s in enumerate(case.species)}
    present = [_cells_of(domain, s.compartments) for s in case.species]
    bound, groups = [], []
    for buf in case.buffers:
        inside = _cells_of(domain, buf.compartments)
        names = iter(buf.state_names())
        for site in buf.sites:
            states = []
            for binding in site.binds:
                unknowns.append(Unknown(next(names), binding.ion, True, buf.name))
                present.append(inside)
                states.append(len(bound))
                bound.append(BoundState(len(unknowns) - 1, ion_index[binding.ion], len(groups),
                                        binding.kon, binding.koff))
            groups.append(SiteGroup(buf.name, site.count * buf.total * inside, tuple(states)))
    index = {u.name: k for k, u in enumerate(unknowns)}
    reactions = []
    for spec, params in zip(case.reactions, case.reaction_params):
        model = reaction_registry.get(spec.model)(params, spec.parsed)
        mask = _cells_of(domain, spec.compartments)
        cells = slice(None) if mask.all() else np.flatnonzero(mask)
        reads = tuple((name, index[name]) for name in model.reads())
        net = tuple((index[name], nu) for name, nu in spec.parsed.net().items() if nu != 0)
        reactions.append(BoundReaction(model, cells, reads, net))
    return Chemistry(tuple(unknowns), tuple(bound), tuple(groups), tuple(reactions),
                     np.array(present) if present else None)


def _per_cell(table: dict[str, float], domain: Domain, where: np.ndarray | None = None) -> np.ndarray:
    """A per-compartment table per cell; 0 outside `where` (a species' compartments)."""
    per_comp = np.array([value_in(table, c, 0.0) for c in domain.compartment_names])
    values = per_comp[domain.compartment_id]
    return values if where is None else np.where(where, values, 0.0)


def _diffusivities(case: Case, domain: Domain, chem: Chemistry) -> list[np.ndarray]:
    by_ion = {s.symbol: _per_cell(s.D, domain, _cells_of(domain, s.compartments)) for s in case.species}
    by_buffer = {b.name: np.full(domain.n_cells, b.D) for b in case.buffers}
    return [by_buffer[u.buffer] if u.bound else by_ion[u.name] for u in chem.unknowns]


def _initial_state(case: Case, domain: Domain, chem: Chemistry) -> np.ndarray:
    U = np.zeros((len(chem.unknowns), domain.n_cells))
    for k, s in enumerate(case.species):
        U[k] = _per_cell(s.initial, domain, _cells_of(domain, s.compartments))
    equilibrium = chem.equilibrium_bound({k: U[k] for k in range(len(case.species))})
    start_free = {b.name for b in case.buffers if b.initial == "free"}
    for k, u in enumerate(chem.unknowns):
        if u.bound and u.buffer not in start_free:
            U[k] = equilibrium[k]
    return U


@dataclass(frozen=True)
class BoundaryFaces:
    """Outer faces held by one [[boundaries]] entry, with the far values of every unknown."""

    kind: str                  # "bath" (Dirichlet) or "open" (far-field Robin)
    faces: np.ndarray
    values: np.ndarray         # (n_unknowns, n_faces)
    center: tuple[float, ...] | None = None


def _boundary_values(case: Case, domain: Domain, chem: Chemistry) -> list[BoundaryFaces]:
    """Faces and held values of every bath or open boundary: ions at `concentrations` (default:
    the initial value in the adjacent compartment), bound states in equilibrium with them."""
    out, problems = [], []
    for i, bnd in enumerate(case.boundaries):
        fs = domain.surfaces[bnd.surface]
        if not fs.exterior:
            problems.append((f"boundaries[{i}].surface", f"surface {bnd.surface!r} is a membrane "
                             f"inside the mesh; a{'n open boundary' if bnd.type == 'open' else ' bath'} "
                             "needs outer faces"))
            continue
        cells = fs.cells_a
        free = {}
        for k, s in enumerate(case.species):
            given = value_in(bnd.concentrations, s.symbol)
            inside = _cells_of(domain, s.compartments)
            free[k] = (np.where(inside[cells], given, 0.0) if given is not None
                       else _per_cell(s.initial, domain, inside)[cells])
        values = np.zeros((len(chem.unknowns), cells.size))
        for k, v in free.items():
            values[k] = v
        local = Chemistry(chem.unknowns, chem.bound,
                          tuple(SiteGroup(g.buffer, g.site_total[cells], g.states) for g in chem.groups))
        for k, v in local.equilibrium_bound(free).items():
            values[k] = v
        center = None
        if bnd.type == "open":
            center = tuple(bnd.center) if bnd.center is not None else (0.0,) * domain.dim
            if len(center) != domain.dim:
                problems.append((f"boundaries[{i}].center", f"needs {domain.dim} coordinates, "
                                 f"got {len(center)}"))
                continue
        out.append(BoundaryFaces(bnd.type, fs.faces, values, center))
    if problems:
        raise ModelError(problems)
    return out


def _open_conductance(domain: Domain, faces: np.ndarray, D_cells: np.ndarray,
                      center: tuple[float, ...]) -> np.ndarray:
    """Per face, the conductance (µm³/ms per µM, FiPy areas) of the far-field condition.

    Far from a localised source every species deviates from its far value as A/ρ, ρ = |x − x0|
    (the steady linear far field: the unbuffered point source, and beyond the buffer length
    constants the total ion carried by mobile buffers). So on an outer face with unit normal n
    the outward flux density is J = D·(n·ρ̂/ρ)·(c_face − c∞) = κ·(c_face − c∞), and eliminating
    the face value through the half-cell (δ/D) gives J = (c_P − c∞)/(δ/D + 1/κ). Faces whose
    normal does not point away from x0 (κ ≤ 0) are left no-flux."""
    cells = domain.face_cells[0, faces]
    x = domain.face_centers[:, faces] - np.asarray(center, float)[:, None]
    rho2 = np.sum(x * x, axis=0)
    cos_over_rho = np.sum(x * domain.face_normals[:, faces], axis=0) / rho2   # n·ρ̂/ρ
    D = D_cells[cells]
    delta = domain.normal_distance(cells, faces)
    G = np.zeros(faces.size)
    ok = (cos_over_rho > 0) & (D > 0)
    G[ok] = domain.face_areas[faces[ok]] / (delta[ok] / D[ok] + 1.0 / (D[ok] * cos_over_rho[ok]))
    return G


class _ValueConstrainedDiffusion(fp.DiffusionTerm):
    """FiPy's DiffusionTerm for a variable whose values, never its gradient, are constrained.

    FiPy evaluates the variable's face gradient to add gradient constraints whether or not any
    exist; microdomain sets none (membrane and wall fluxes are applied by the solver), and that
    evaluation was most of assembly — 2.6 of 3.1 s and ~0.6 GB on a 64³ box. The contract test
    tests/unit/test_transport_contract.py compares this term's matrix with FiPy's own."""

    def _constrainGradient(self, var):
        return 0, 0


def _transport(domain: Domain, D_cells: np.ndarray, baths, opens=()) -> tuple[sp.csr_matrix, np.ndarray]:
    """T_u and g_u for one unknown: FiPy's DiffusionTerm with membrane-zeroed face D and the
    baths as constraints; open (far-field) faces add their conductance G to T's diagonal and
    G·c∞ to g. `baths` and `opens` are lists of (faces, values) and (faces, G, values)."""
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
    term = _ValueConstrainedDiffusion(coeff=fp.FaceVariable(mesh=mesh, value=D_face), var=var)
    # FiPy builds L and b with L·u = b meaning Σ face fluxes = L·u − b: keep T = −L, g = −b.
    _, L, b = term._buildMatrix(var, _ScipyMeshMatrix, dt=1.0)
    T = (-L.matrix).tocsr()
    g = -np.asarray(b, float)
    for faces, G, values in opens:
        cells = domain.face_cells[0, faces]
        T = T + sp.csr_matrix((G, (cells, cells)), shape=T.shape)
        g = g + np.bincount(cells, weights=G * values, minlength=g.size)
    T = T.tocsr()
    T.eliminate_zeros()
    return T, g


def bind_fluxes(case: Case, domain: Domain, mode: str = "none") -> tuple[FluxBinding, ...]:
    """The case's fluxes bound to the mesh; `mode` is the diffusion scheme (nonorthogonal_mode):
    any but "none" carries membrane values along skewed faces (tangential offsets)."""
    out, problems = [], []
    valence = {s.symbol: s.valence for s in case.species if s.is_ion}
    D_ion = {s.symbol: _per_cell(s.D, domain, _cells_of(domain, s.compartments)) for s in case.species}
    species = {s.symbol: s for s in case.species}
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
            what = ("not an ion (declared with `name =`): membrane flux models move ions"
                    if all(m in species for m in missing) else "not a species")
            problems.append((f"fluxes[{i}].params", f"flux {spec.name!r} moves {', '.join(missing)}, "
                             f"{what}; ions: {', '.join(valence)}"))
            continue
        absent = [(ion, side) for ion in model.ions for side in (spec.source, spec.target)
                  if side != OUTSIDE and not species[ion].present_in(side)]
        if absent:
            problems.append((f"fluxes[{i}]", f"flux {spec.name!r} moves " + "; ".join(
                f"{ion} into or out of {side!r}, where it is absent (species `in`)"
                for ion, side in absent)))
            continue
        sensors, bad_sensor = _sensor_cells(model, domain)
        if bad_sensor:
            problems.append((f"fluxes[{i}].params", f"flux {spec.name!r}: {bad_sensor}"))
            continue
        outside = {ion: value_in(spec.outside, ion, 0.0) for ion in valence}
        r_src = {ion: _half_cell_resistance(domain, src, fs.faces, D_ion[ion], case) for ion in model.ions}
        r_tgt = {ion: _half_cell_resistance(domain, tgt, fs.faces, D_ion[ion], case) for ion in model.ions}
        off_src = off_tgt = None
        if mode != "none" and case.solver.membrane == "face":
            off_src = tangential_offsets(domain, src, fs.faces, domain.normal_distance(src, fs.faces))
            off_tgt = tangential_offsets(domain, tgt, fs.faces, domain.normal_distance(tgt, fs.faces))
        out.append(FluxBinding(spec.name, model, fs.faces, src, tgt, areas, outside, spec.start,
                               spec.stop, tuple(model_cls.references), sensors, r_src, r_tgt,
                               off_src, off_tgt))
    if problems:
        raise ModelError(problems)
    return tuple(out)


def _half_cell_resistance(domain: Domain, cells: np.ndarray, faces: np.ndarray, D: np.ndarray,
                          case: Case) -> np.ndarray:
    """δ/D from each cell centre to the membrane face; 0 outside the mesh, for an immobile ion,
    or when the case asks for cell-centre values (solver.membrane = "cell")."""
    r = np.zeros(faces.size)
    if case.solver.membrane == "cell":
        return r
    ok = cells >= 0
    D_at = np.where(ok, D[np.maximum(cells, 0)], 0.0)
    ok &= D_at > 0
    r[ok] = domain.normal_distance(cells[ok], faces[ok]) / D_at[ok]
    return r


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


def nonorthogonal_mode(case: Case, domain: Domain) -> str:
    """The diffusion scheme `solver.nonorthogonal` gives on this mesh. Structured grids
    (`domain.nodes` set) are orthogonal: "none". "auto", the default, is "correct" on unstructured
    3D meshes: on the tetrahedral contacts the two-point flux is 5-35 % off the axisymmetric twin
    at any resolution and the correction brings it within 1 % at the default resolution
    (docs/geometry.md). On 2D and
    (r, z) meshes "auto" keeps the two-point flux: there the twin at the default resolution is
    within 1 % of the converged one with it, and every (r, z) figure in docs/ was measured with
    it; it is first order there (set "correct" for second)."""
    if domain.nodes is not None:
        return "none"
    mode = case.solver.nonorthogonal
    if mode == "auto":
        return ("correct" if domain.dim == 3 and not domain.cylindrical and has_skewed_faces(domain)
                else "none")
    return mode


def _corrected_for_skew(domain: Domain, T: list) -> list:
    """T − C: FiPy's two-point operator with the non-orthogonal correction taken in
    (solver/nonorthogonal.py). Unstructured meshes only; a mesh without skewed faces is left."""
    correction = NonOrthogonalCorrection(domain, T)
    if not correction.active:
        return T
    grads = correction.gradient_operators()
    out = []
    for k, Tk in enumerate(T):
        C = correction.matrix(k, grads)
        Tc = Tk if C is None else (Tk - C).tocsr()
        Tc.eliminate_zeros()
        out.append(Tc)
    return out


def _symmetric_transport(domain: Domain, diffusivities: list, boundaries: list, T: list, g: list):
    """T_u and g_u with the symmetric, consistent scheme in place of FiPy's two-point diffusion
    (solver/symmetric_flux.py): A_u from the cone gradients, the baths as known face values; open
    faces keep their far-field conductance on the cell value, as in `_transport`. A mesh without
    skewed faces keeps FiPy's operator (already consistent there)."""
    if domain.cylindrical:
        raise ModelError([("solver.nonorthogonal", "\"symmetric\" is built for Cartesian meshes; "
                           "this (r, z) mesh is axisymmetric: use \"correct\" or \"none\"")])
    if not NonOrthogonalCorrection(domain).active:
        return T, g
    baths = [b for b in boundaries if b.kind == "bath"]
    faces = np.concatenate([b.faces for b in baths]) if baths else np.zeros(0, int)
    scheme = SymmetricDiffusion(domain, faces)
    where = np.searchsorted(scheme.bath_faces, faces)
    T_out, g_out = [], []
    for k, D in enumerate(diffusivities):
        values = np.zeros(scheme.bath_faces.size)
        if baths:
            values[where] = np.concatenate([b.values[k] for b in baths])
        A, gk = scheme.operator(D, values)
        for b in boundaries:
            if b.kind == "open":
                G = _open_conductance(domain, b.faces, D, b.center)
                cells = domain.face_cells[0, b.faces]
                A = A + sp.csr_matrix((G, (cells, cells)), shape=A.shape)
                gk = gk + np.bincount(cells, weights=G * b.values[k], minlength=gk.size)
        A = A.tocsr()
        A.eliminate_zeros()
        T_out.append(A)
        g_out.append(gk)
    return T_out, g_out


def build_system(case: Case, domain: Domain) -> System:
    chem = build_chemistry(case, domain)
    U0 = _initial_state(case, domain, chem)
    problems = []
    mode = nonorthogonal_mode(case, domain)
    try:
        bindings = bind_fluxes(case, domain, mode)
    except ModelError as exc:
        problems += exc.problems
    try:
        boundaries = _boundary_values(case, domain, chem)
    except ModelError as exc:
        problems += exc.problems
    if problems:
        raise ModelError(problems)
    T, g = [], []
    diffusivities = _diffusivities(case, domain, chem)
    for k, D in enumerate(diffusivities):
        baths = [(b.faces, b.values[k]) for b in boundaries if b.kind == "bath"]
        opens = [(b.faces, _open_conductance(domain, b.faces, D, b.center), b.values[k])
                 for b in boundaries if b.kind == "open"]
        Tk, gk = _transport(domain, D, baths, opens)
        T.append(Tk)
        g.append(gk)
    correction = None
    if mode == "symmetric":
        T, g = _symmetric_transport(domain, diffusivities, boundaries, T, g)
    elif mode == "correct":
        T = _corrected_for_skew(domain, T)
    elif mode == "limited":
        skew = NonOrthogonalCorrection(domain, T)
        correction = LimitedCorrection(skew, case.solver.nonorthogonal_limit) if skew.active else None
    scale = np.max(np.abs(U0), axis=1)
    atol = np.clip(np.minimum(case.time.atol, 1e-3 * scale), 1e-15, None)
    atol[scale == 0] = case.time.atol
    return System(case, domain, chem, tuple(T), np.array(g), U0, bindings, atol,
                  correction=correction, nonorthogonal=mode)
