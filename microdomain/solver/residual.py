"""The discrete right-hand side and the residual of one implicit stage — pure functions of the
state: nothing is stored between calls.

Semi-discrete finite-volume form, per unknown u (free ion or bound state) and cell k:

    V_k du_k/dt = G(U)_k = −(T_u u)_k + g_u,k + V_k R_u(U)_k + M_u(U)_k + V_k S_u(t)_k

T, g from assembly.py (FiPy), R local binding and volume reactions (chemistry.py), M membrane fluxes
(membrane.py), S an optional manufactured source. Every implicit stage of the integrators
(integrators.py) has the form

    F(U) = V·(U − K)/c − G(U) − E = 0

with K a known combination of earlier states, E a known explicit part (amount/time) and c = α·h;
c = ∞ is the steady problem F = −G(U). Its Jacobian is V/c − ∂G/∂U, filled by jacobian.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .membrane import GateStage, evaluate_membrane
from .nonorthogonal import NonOrthogonalCorrection


@dataclass(frozen=True)
class Stage:
    c: float                        # α·h (ms); inf: steady state
    t: float                        # time the models and sources see
    known: np.ndarray | None = None         # K
    explicit: np.ndarray | None = None      # E
    gates: GateStage | None = None          # how gates advance; None: gates held (`fixed_gates`)
    fixed_gates: dict | None = None


@dataclass
class Evaluation:
    U: np.ndarray
    G: np.ndarray                   # V·du/dt
    F: np.ndarray | None            # stage residual (None for a plain right-hand side)
    gates: dict                     # binding → gate → per face
    gate_rates: dict                # binding → gate → dx/dt per face
    flows: dict                     # binding → ion → J·A per face
    boundary: np.ndarray            # per unknown: inflow through baths and open faces (Σ g − T·u)
    created: np.ndarray             # per unknown: net production by volume reactions (Σ V·R_rx)
    jac_R: np.ndarray | None        # local binding Jacobian per pair (chemistry.jacobian)
    entries: tuple | None           # membrane Jacobian entries (membrane.py)


class Residual:
    def __init__(self, system):
        self.sys = system
        self.V = np.broadcast_to(system.domain.volumes, system.initial.shape)
        self.pairs = system.chemistry.jacobian_pairs()
        # on skewed cells membrane fluxes read each cell's value carried along the face by its
        # least-squares gradient (nonorthogonal.py; the diffusion correction is in T already)
        ions = system.free_ion_index()
        self.gradient_unknowns = sorted({ions[i] for b in system.bindings for i in b.model.ions
                                         if b.off_src is not None})
        self.gradients = NonOrthogonalCorrection(system.domain) if self.gradient_unknowns else None

    def activity(self, t_mid: float):
        """Which fluxes pass current during a step whose midpoint is t_mid: switching times are
        step boundaries, so one value holds over the whole step."""
        return lambda b: b.active(t_mid)

    def evaluate(self, U: np.ndarray, stage: Stage, active, want_jacobian: bool = True) -> Evaluation:
        s = self.sys
        TU = np.stack([T @ u for T, u in zip(s.transport, U)])
        grads = None
        if self.gradients is not None:
            # with the limited correction the carried values are also kept within their cell's
            # neighbourhood range (nonorthogonal.py); the unlimited one carries them as they are
            bounded = s.correction is not None
            grads = {k: (self.gradients.gradient(U[k]),
                         *(self.gradients.neighbour_bounds(U[k]) if bounded else (None, None)))
                     for k in self.gradient_unknowns}
        mem = evaluate_membrane(s, U, stage.t, active, stage.gates, want_jacobian, stage.fixed_gates,
                                grads)
        chem = s.chemistry
        R = chem.binding_rates(U)
        created = np.zeros(U.shape[0])
        if chem.reactions:
            Rr = chem.reaction_rates(U)
            created = (self.V * Rr).sum(axis=1)
            R = R + Rr
        G = s.boundary_rhs - TU + self.V * R + mem.inflow
        if s.correction is not None:
            G = G + s.correction.inflow(U)
        if s.source is not None:
            G = G + self.V * s.source(stage.t)
        F = None
        if stage.known is not None:
            F = -G if stage.c == np.inf else self.V * (U - stage.known) / stage.c - G
            if stage.explicit is not None:
                F = F - stage.explicit
        return Evaluation(U, G, F, mem.gates, mem.gate_rates, mem.flows,
                          (s.boundary_rhs - TU).sum(axis=1), created,
                          s.chemistry.jacobian(U, self.pairs) if want_jacobian else None,
                          mem.entries if want_jacobian else None)


def weights(system, U: np.ndarray, rtol: float) -> np.ndarray:
    """The error weights atol + rtol·|u|: a correction or error of 1 in these units is one
    tolerance's worth."""
    return system.atol[:, None] + rtol * np.abs(U)


def weighted_max(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.max(np.abs(x) / w)) if x.size else 0.0
