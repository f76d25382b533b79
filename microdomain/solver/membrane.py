"""Membrane fluxes evaluated at the membrane.

A flux plugin gives J(c_a, c_b): a rate law in the concentrations *on the two faces of the
membrane*. The solver knows cell averages, half a cell away. Between a cell centre P and its
face lies a half-cell of diffusion resistance r = δ/D (δ the normal distance from P to the face,
D the ion's diffusivity there), so with J flowing from the `from` side (cell P) to the `to`
side (cell Q)

    c_a = c_P − r_a·J,        c_b = c_Q + r_b·J,        J = J_model(c_a, c_b).

For a linear law J = P·(c_a − c_b) this is the series form J = (c_P − c_Q)/(1/P + r_a + r_b);
for a nonlinear one the scalar equation h(J) = J − J_model(c_P − r_a·J, c_Q + r_b·J) = 0 is
solved per face and ion by a vectorised Newton iteration. Using the cell values instead (r = 0)
misses the half-cell resistance: a first-order error in h for any concentration-dependent law.

The derivatives the global Newton needs follow from the implicit-function theorem, with
J_a = ∂J_model/∂c_a, J_b = ∂J_model/∂c_b at the converged face values:

    dJ/dc_P = J_a/(1 + r_a·J_a − r_b·J_b),    dJ/dc_Q = J_b/(1 + r_a·J_a − r_b·J_b).

Gates are advanced inside the same per-face iteration, from the face concentrations, by the
stage formula of the time integrator (integrators.py): x = (x_known + c·(a + e))/(1 + c·b).
A side with no cell (`outside`) or an immobile ion (D = 0: no gradient to resolve) has r = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fluxes.base import FluxInputs

FACE_ITERATIONS = 30        # per-face Newton: linear laws need 1, saturable pumps a handful
FACE_RTOL = 1e-13           # |h(J)| relative to |J| + the scale of the two diffusive fluxes
MIN_DENOMINATOR = 0.05      # 1 + r_a·J_a − r_b·J_b: guards positive feedback (CICR) per face


@dataclass(frozen=True)
class GateStage:
    """How gates are advanced in one residual evaluation (see integrators.py):
    x = (known + c·(a + explicit))/(1 + c·b); c = inf gives the steady state a/b."""

    known: dict          # binding → gate → per-face values
    explicit: dict       # binding → gate → per-face values (0 when absent)
    c: float


@dataclass
class MembraneResult:
    inflow: np.ndarray                      # per unknown and cell: net membrane inflow (amount/time)
    flows: dict[str, dict[str, np.ndarray]]  # binding → ion → J·A per face (amount/time)
    gates: dict[str, dict[str, np.ndarray]]  # binding → gate → per face, as used
    gate_rates: dict[str, dict[str, np.ndarray]]  # binding → gate → dx/dt = a − b·x per face
    entries: tuple                          # (unknown, row cell, col cell, d inflow/du) if asked


def _side_values(U_row: np.ndarray, cells: np.ndarray, outside: float) -> np.ndarray:
    return np.where(cells >= 0, U_row[np.maximum(cells, 0)], outside)


def _gate_update(rates, stage: GateStage, name: str):
    """Gate values from their rates (a, b) at the current face values."""
    out = {}
    for g, (a, b) in rates.items():
        if stage.c == np.inf:
            out[g] = a / b                 # the steady state at these concentrations
            continue
        known = stage.known[name][g]
        explicit = stage.explicit.get(name, {}).get(g, 0.0)
        out[g] = np.clip((known + stage.c * (a + explicit)) / (1.0 + stage.c * b), 0.0, 1.0)
    return out


def _carried(values, cells, offsets, reconstruction):
    """c + ∇c·offset at the faces' cells, clipped to [lo, hi] of each cell when given
    (reconstruction = (gradient, lo, hi) per cell); faces without a cell keep their value."""
    g, lo, hi = reconstruction
    ok = cells >= 0
    c = np.maximum(cells, 0)
    carried = values + np.sum(g[:, c] * offsets, axis=0)
    if lo is not None:
        carried = np.clip(carried, lo[c], hi[c])
    return np.where(ok, carried, values)


def solve_binding(b, U, ion_index, t, stage: GateStage | None, fixed_gates=None, gradients=None):
    """(J, gates, dx/dt of the gates, dJ/dc_P, dJ/dc_Q): the flux density per ion and face at the
    membrane, the gates it used, their rates a − b·x, and the derivatives with respect to the
    two cells' concentrations (only where the model gives the partial derivative).

    `fixed_gates` are used as given; otherwise a gated model's gates follow `stage` from the
    face values."""
    model = b.model
    cP = {ion: _side_values(U[k], b.src, b.outside.get(ion, 0.0)) for ion, k in ion_index.items()}
    cQ = {ion: _side_values(U[k], b.tgt, b.outside.get(ion, 0.0)) for ion, k in ion_index.items()}
    if gradients is not None and b.off_src is not None:
        # skewed cells: each cell's value carried along the face to the point under its centre,
        # kept within the range of the cell and its neighbours (no new extremum, no negative value)
        for ion in model.ions:
            if ion_index[ion] in gradients:
                cP[ion] = _carried(cP[ion], b.src, b.off_src, gradients[ion_index[ion]])
                cQ[ion] = _carried(cQ[ion], b.tgt, b.off_tgt, gradients[ion_index[ion]])
    sensed = {name: {ion: float(w @ U[k, cells]) for ion, k in ion_index.items()}
              for name, (cells, w) in b.sensors.items()}
    ra, rb = b.r_src, b.r_tgt
    moved = model.ions
    resisted = any(np.any(ra[i] > 0) or np.any(rb[i] > 0) for i in moved)
    fa, fb = dict(cP), dict(cQ)
    gates, J = fixed_gates, None

    def model_at_faces():
        nonlocal gates
        if model.gates and fixed_gates is None:
            x = FluxInputs(fa, fb, t, {}, sensed)
            gates = (model.initial_gates(x) if stage is None else
                     _gate_update(model.gate_rates(x), stage, b.name))
        x = FluxInputs(fa, fb, t, gates or {}, sensed)
        Jm = {i: np.broadcast_to(np.asarray(v, float), b.faces.shape) for i, v in
              model.flux(x).items()}
        return Jm, model.dflux(x)

    for _ in range(FACE_ITERATIONS):
        Jm, dJ = model_at_faces()
        if not resisted:
            break
        if J is None:                       # first guess: the law at the cell values
            J = {i: Jm[i].copy() for i in moved}
        else:
            converged = True
            for ion in moved:
                h = J[ion] - Jm[ion]
                if np.any(np.abs(h) > FACE_RTOL * (np.abs(J[ion]) + np.abs(Jm[ion])) + 1e-300):
                    converged = False
                den = np.maximum(1.0 + ra[ion] * dJ.get((ion, "src"), 0.0)
                                 - rb[ion] * dJ.get((ion, "tgt"), 0.0), MIN_DENOMINATOR)
                J[ion] = J[ion] - h / den
            if converged:
                break
        for ion in moved:
            fa[ion] = cP[ion] - ra[ion] * J[ion]
            fb[ion] = cQ[ion] + rb[ion] * J[ion]
    phi = {}
    if model.gates:
        rates = model.gate_rates(FluxInputs(fa, fb, t, {}, sensed))
        phi = {g: a - bb * gates[g] for g, (a, bb) in rates.items()}
    dP, dQ = {}, {}
    for ion in moved:
        Ja, Jb = dJ.get((ion, "src")), dJ.get((ion, "tgt"))
        den = np.maximum(1.0 + ra[ion] * (0.0 if Ja is None else Ja)
                         - rb[ion] * (0.0 if Jb is None else Jb), MIN_DENOMINATOR)
        if Ja is not None:
            dP[ion] = Ja / den
        if Jb is not None:
            dQ[ion] = Jb / den
    return Jm, gates, phi, dP, dQ


def evaluate_membrane(system, U, t, active, stage: GateStage | None, want_jacobian: bool,
                      fixed_gates: dict | None = None, gradients: dict | None = None) -> MembraneResult:
    """Net membrane inflow per cell for state U; `active(b)` says whether a binding passes
    current in this step (a closed gated channel still advances its gates)."""
    M = np.zeros_like(U)
    rows, rcells, ccells, vals = [], [], [], []
    flows, gates_out, phi_out = {}, {}, {}
    ion_index = system.free_ion_index()
    for b in system.bindings:
        gated = bool(b.model.gates)
        on = active(b)
        if not gated and not on:
            continue
        fixed = None if fixed_gates is None else fixed_gates.get(b.name)
        J, gates, phi, dP, dQ = solve_binding(b, U, ion_index, t, stage, fixed, gradients)
        if gated:
            gates_out[b.name] = gates
            phi_out[b.name] = phi
        if not on:
            continue
        flows[b.name] = {ion: j * b.areas for ion, j in J.items()}
        inside_src, inside_tgt = b.src >= 0, b.tgt >= 0
        for ion, q in flows[b.name].items():
            k = ion_index[ion]
            np.add.at(M[k], b.src[inside_src], -q[inside_src])
            np.add.at(M[k], b.tgt[inside_tgt], q[inside_tgt])
        if not want_jacobian:
            continue
        for derivs, col in ((dP, b.src), (dQ, b.tgt)):
            for ion, d in derivs.items():
                k = ion_index[ion]
                dq = d * b.areas
                for row, sign in ((b.src, -1.0), (b.tgt, 1.0)):
                    ok = (row >= 0) & (col >= 0)
                    rows.append(np.full(int(ok.sum()), k))
                    rcells.append(row[ok])
                    ccells.append(col[ok])
                    vals.append(sign * dq[ok])
    entries = tuple(np.concatenate(x) if x else np.zeros(0, dtype=float if i == 3 else np.int64)
                    for i, x in enumerate((rows, rcells, ccells, vals)))
    return MembraneResult(M, flows, gates_out, phi_out, entries)


def initial_gates(system, U) -> dict:
    """Gates of every gated binding at their steady state for the state U (t = 0)."""
    ion_index = system.free_ion_index()
    out = {}
    for b in system.bindings:
        if b.model.gates:
            _, gates, _, _, _ = solve_binding(b, U, ion_index, 0.0, None)
            out[b.name] = gates
    return out


def membrane_pattern(system) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (unknown, row cell, col cell) a flux derivative may fill, for the sparse pattern."""
    ion_index = system.free_ion_index()
    rows, rc, cc = [], [], []
    for b in system.bindings:
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
