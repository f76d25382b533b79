"""One time step: TR-BDF2 (default) and backward Euler.

**TR-BDF2** (Bank et al. 1985; Hosea & Shampine 1996), γ = 2 − √2, d = γ/2:

    stage 1, trapezoid:  U_γ = U_n + d·h·(f_n + f_γ)
    stage 2, BDF2:       U_{n+1} = (U_γ − (1 − γ)²·U_n)/(γ(2 − γ)) + d·h·f_{n+1}

Second order, L-stable, one-step. Why this method: both implicit stages have the same matrix
V/(d·h) − ∂G/∂U, so one factorisation serves both and every Newton iteration of later steps
of the same h (linear.py); being one-step it restarts at a flux switch or a resumed run with no
history to rebuild (a variable-step BDF2 needs two past states, and reorders its coefficients at
every change of h); L-stability damps the stiff binding modes (BAPTA: 1/(kon·B) ≈ 3 µs) that the
trapezoidal rule alone would leave ringing. The embedded error estimate is

    est = h·((4w − 1)/3·f_n − f_γ/3 + 2d/3·f_{n+1}),  w = √2/4,

filtered through the stage matrix, (I − d·h·J)⁻¹·est (Hosea & Shampine's recommendation, which
keeps the estimate bounded on stiff components). On a restart — the first step, the first after
a flux switch or after a rejected step — stiff components out of balance (the cells next to a
channel that just opened relax within nanoseconds) still leave the filtered estimate of the
order of their imbalance whatever h; there a second filtering, as RADAU5 does (Hairer &
Wanner 1996, IV.8), estimates what the L-stable method actually makes of them. f_n is the right-hand side at the start of the
step, carried from the previous one (first same as last) unless a flux switched.

**Backward Euler** (`method = "bdf1"`): U_{n+1} = U_n + h·f_{n+1}, error estimate
(h/2)·(f_{n+1} − f_n), filtered alike.

Newton starts from the linear extrapolation of the last accepted step (the state itself after a
restart), and the BDF2 stage from the extrapolation through U_n and U_γ — never from an explicit
Euler step, which throws stiff binding components far off.

Gates x (dx/dt = a − b·x, per face) are advanced by the same stage formulas, solved in closed
form at the stage's face concentrations (membrane.py), so they are integrated to the same order.
Over a step each flux moves h·(w·q_n + w·q_γ + d·q_{n+1}) (TR-BDF2) or h·q_{n+1} (BDF1): the
weights that make the sum over cells of V·(U_{n+1} − U_n) equal the inflow exactly. What volume
reactions create or destroy (Σ V·R_rx per unknown) is integrated with the same weights, so an
element's balance closes with reactions that make or remove it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .membrane import GateStage
from .newton import Conservation, NewtonMemory, solve_stage
from .residual import Stage, weighted_max

GAMMA = 2.0 - math.sqrt(2.0)
D = GAMMA / 2.0                                   # = 1 − 1/√2
W = math.sqrt(2.0) / 4.0                          # = (1 − d)/2, weight of f_n and f_γ
A1 = 1.0 / (GAMMA * (2.0 - GAMMA))                # BDF2 stage: U* = A1·U_γ − A0·U_n
A0 = (1.0 - GAMMA) ** 2 / (GAMMA * (2.0 - GAMMA))
E = ((4 * W - 1) / 3, -1.0 / 3, 2 * D / 3)        # error weights on f_n, f_γ, f_{n+1}


@dataclass
class StepResult:
    ev: object                    # Evaluation at U_{n+1} (its G is next step's f_n)
    error: float                  # weighted max norm of the filtered estimate (1 = tolerance)
    iterations: int
    amounts: dict                 # binding → ion → J·A integrated over the step, per face
    boundary: np.ndarray          # per unknown: inflow through baths/open faces over the step
    created: np.ndarray           # per unknown: net production by volume reactions over the step


def _gate_combination(weights: list[tuple[float, dict]]) -> dict:
    out: dict = {}
    for w, gates in weights:
        for b, gs in gates.items():
            for g, v in gs.items():
                out.setdefault(b, {}).setdefault(g, 0.0)
                out[b][g] = out[b][g] + w * v
    return out


def _amounts(h: float, parts: list[tuple[float, object]]) -> tuple[dict, np.ndarray, np.ndarray]:
    flows: dict = {}
    boundary = created = 0.0
    for w, ev in parts:
        boundary = boundary + h * w * ev.boundary
        created = created + h * w * ev.created
        for b, per_ion in ev.flows.items():
            for ion, q in per_ion.items():
                flows.setdefault(b, {}).setdefault(ion, 0.0)
                flows[b][ion] = flows[b][ion] + h * w * q
    return flows, boundary, created


def _gate_error(h: float, parts: list[tuple[float, dict]], gates_new: dict, rtol: float,
                gate_atol: float) -> float:
    est = _gate_combination([(h * w, rates) for w, rates in parts])
    err = 0.0
    for b, gs in est.items():
        for g, e in gs.items():
            err = max(err, float(np.max(np.abs(e) / (gate_atol + rtol * np.abs(gates_new[b][g])))))
    return err


def _filtered_error(lin, V, c, est, W_err, restart: bool) -> float:
    """Weighted norm of (I − c·J)⁻¹·est; filtered twice on a restart when once is not enough.
    Steps of a fixed size (est None) are not judged."""
    if est is None:
        return 0.0
    filtered = lin.solve(V * est / c, rtol=1e-2)
    err = weighted_max(filtered, W_err)
    if restart and err > 1.0:
        err = weighted_max(lin.solve(V * filtered / c, rtol=1e-2), W_err)
    return err


class _Predictor:
    """The last accepted step (U_{n-1}, U_n, h): U at t_n + s·h by linear extrapolation."""

    def __init__(self):
        self.last = None

    def accept(self, U_prev, U_new, h):
        self.last = (U_prev, U_new, h)

    def reset(self):
        self.last = None

    def at(self, U_n, s_h: float) -> np.ndarray:
        if self.last is None or self.last[1] is not U_n:
            return U_n
        U_prev, _, h = self.last
        return U_n + (s_h / h) * (U_n - U_prev)


class TRBDF2:
    name = "trbdf2"
    order = 2

    def __init__(self, res, lin, policy, counters):
        self.res, self.lin, self.policy, self.counters = res, lin, policy, counters
        self.newton = NewtonMemory()
        self.predictor = _Predictor()
        self.conservation = Conservation(res.sys)

    def step(self, U_n, gates_n, ev_n, t: float, h: float, active, rtol: float,
             restart: bool = False, judge: bool = True) -> StepResult:
        res, V = self.res, self.res.V
        c = D * h
        W_n = res.sys.atol[:, None] + rtol * np.abs(U_n)
        stage1 = Stage(c, t + GAMMA * h, known=U_n, explicit=ev_n.G,
                       gates=GateStage(gates_n, ev_n.gate_rates, c))
        ev_g, it1 = solve_stage(res, self.lin, stage1, self.predictor.at(U_n, GAMMA * h), active,
                                W_n, self.policy, self.counters, self.newton, self.conservation)
        U_star = A1 * ev_g.U - A0 * U_n
        gates_star = _gate_combination([(A1, ev_g.gates), (-A0, gates_n)])
        stage2 = Stage(c, t + h, known=U_star, gates=GateStage(gates_star, {}, c))
        ev_1, it2 = solve_stage(res, self.lin, stage2, U_n + (ev_g.U - U_n) / GAMMA, active, W_n,
                                self.policy, self.counters, self.newton, self.conservation)
        est = h * (E[0] * ev_n.G + E[1] * ev_g.G + E[2] * ev_1.G) / V if judge else None
        W_err = res.sys.atol[:, None] + rtol * np.maximum(np.abs(U_n), np.abs(ev_1.U))
        err = max(_filtered_error(self.lin, V, c, est, W_err, restart),
                  _gate_error(h, [(E[0], ev_n.gate_rates), (E[1], ev_g.gate_rates),
                                  (E[2], ev_1.gate_rates)], ev_1.gates, rtol, self.policy.gate_atol)
                  if judge else 0.0)
        amounts, boundary, created = _amounts(h, [(W, ev_n), (W, ev_g), (D, ev_1)])
        return StepResult(ev_1, err, it1 + it2, amounts, boundary, created)


class BDF1:
    name = "bdf1"
    order = 1

    def __init__(self, res, lin, policy, counters):
        self.res, self.lin, self.policy, self.counters = res, lin, policy, counters
        self.newton = NewtonMemory()
        self.predictor = _Predictor()
        self.conservation = Conservation(res.sys)

    def step(self, U_n, gates_n, ev_n, t: float, h: float, active, rtol: float,
             restart: bool = False, judge: bool = True) -> StepResult:
        res, V = self.res, self.res.V
        W_n = res.sys.atol[:, None] + rtol * np.abs(U_n)
        stage = Stage(h, t + h, known=U_n, gates=GateStage(gates_n, {}, h))
        ev_1, it = solve_stage(res, self.lin, stage, self.predictor.at(U_n, h), active, W_n,
                               self.policy, self.counters, self.newton, self.conservation)
        est = 0.5 * h * (ev_1.G - ev_n.G) / V if judge else None
        W_err = res.sys.atol[:, None] + rtol * np.maximum(np.abs(U_n), np.abs(ev_1.U))
        err = max(_filtered_error(self.lin, V, h, est, W_err, restart),
                  _gate_error(h, [(0.5, ev_1.gate_rates), (-0.5, ev_n.gate_rates)], ev_1.gates,
                              rtol, self.policy.gate_atol) if judge else 0.0)
        amounts, boundary, created = _amounts(h, [(1.0, ev_1)])
        return StepResult(ev_1, err, it, amounts, boundary, created)


def hermite(t: float, t0: float, U0, G0, t1: float, U1, G1, V) -> np.ndarray:
    """Cubic Hermite interpolant between two accepted states (dense output for frames)."""
    h = t1 - t0
    s = (t - t0) / h
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * U0 + h10 * h * G0 / V + h01 * U1 + h11 * h * G1 / V


INTEGRATORS = {"trbdf2": TRBDF2, "bdf1": BDF1}
