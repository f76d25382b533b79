"""Steady state directly: Newton's method with pseudo-transient continuation.

Solve G(U) = 0 (residual.py) by the iteration

    (V/τ_k − ∂G/∂U)·δ_k = G(U_k),    U_{k+1} = U_k + δ_k

which is one linearised backward-Euler step of size τ_k (Kelley & Keyes 1998). τ starts at
dt.initial and grows by switched evolution relaxation, τ_{k+1} = τ_k·‖G_k‖/‖G_{k+1}‖ (at least
doubling, at most ×1000 per iteration, halving after an iterate that went badly negative or
raised the residual tenfold); past `NEWTON_TAU`, or once the residual stops falling (it has
reached round-off: more pseudo-time cannot help), it is infinite — plain Newton, whose
factorisation is kept while it contracts (chord iterations). Gates sit at their steady state
a/b at every iterate. The iteration stops when a Newton correction is below solver.newton_tol
error tolerances; the final residual ‖G/V‖ (µM/ms, max over cells) is reported. A closed system
(no bath, no open boundary) has no unique steady state: its Jacobian is singular, the solve
fails, and the caller marches in time instead.
"""

from __future__ import annotations

import numpy as np

from .membrane import GateStage
from .residual import Stage, weighted_max
from .state import NotConverged, StepInfo, reaction_inflow

MAX_ITERATIONS = 200
NEWTON_TAU = 1e9          # ms: beyond every relaxation time of a microdomain
SER_MIN, SER_MAX = 2.0, 1000.0
STALLED = 0.5             # a residual falling by less than this factor has stalled


def _norm(ev, V) -> float:
    return float(np.max(np.abs(ev.G / V)))


def solve_steady(res, lin, U0, t: float, policy, counters):
    """(U, gates, StepInfo with steady rates, report) or NotConverged."""
    system = res.sys
    cfg = system.case
    V = res.V
    active = res.activity(t)
    steady_gates = GateStage({}, {}, np.inf)
    tau = cfg.time.dt.initial
    U = U0.copy()
    ev = res.evaluate(U, Stage(tau, t, known=U, gates=steady_gates), active)
    r = r0 = _norm(ev, V)
    prev_corr, refresh = None, True
    for k in range(1, MAX_ITERATIONS + 1):
        lin.prepare(tau, ev, refresh or tau != np.inf)
        dU = lin.solve(-ev.F)
        U_new = U + dU
        if not np.all(np.isfinite(U_new)):
            raise NotConverged("non-finite values in the steady Newton iteration")
        W = system.atol[:, None] + cfg.time.rtol * np.abs(U_new)
        corr = weighted_max(dU, W)
        ev_new = res.evaluate(U_new, Stage(tau, t, known=U_new, gates=steady_gates), active)
        r_new = _norm(ev_new, V)
        negative = np.any(U_new < -policy.negative_atol * system.atol[:, None])
        counters.newton_iterations += 1
        if tau != np.inf and (negative or r_new > 10 * r):
            tau /= 2                  # too bold a pseudo-step: retry it smaller
            refresh = True
            continue
        if tau == np.inf:
            if negative:
                raise NotConverged("the Newton iterate went negative")
            if corr <= cfg.solver.newton_tol:
                U, ev = U_new, ev_new
                break
            theta = corr / prev_corr if prev_corr else 0.0
            if theta >= 1.0 and not refresh:
                refresh = True        # stale factorisation: refresh before judging divergence
            elif theta >= 1.0:
                raise NotConverged(f"Newton diverges near the steady state (contraction {theta:.2g})")
            else:
                refresh = theta > policy.newton_slow
            prev_corr = corr
        else:
            tau *= min(max(r / max(r_new, 1e-300), SER_MIN), SER_MAX)
            if tau >= NEWTON_TAU or r_new > STALLED * r:
                tau, refresh = np.inf, True
        U, ev, r = U_new, ev_new, r_new
    else:
        raise NotConverged(f"no steady state after {MAX_ITERATIONS} iterations "
                           f"(residual {r:.3g} uM/ms, {r / max(r0, 1e-300):.2g} of the initial)")
    angle = system.domain.angle
    rates = {b: {ion: float(q.sum()) * angle for ion, q in per_ion.items()}
             for b, per_ion in ev.flows.items()}
    outside: dict[str, float] = {}
    for b in system.bindings:
        for ion, q in ev.flows.get(b.name, {}).items():
            outside[ion] = outside.get(ion, 0.0) + float(q[b.src < 0].sum() - q[b.tgt < 0].sum()) * angle
    info = StepInfo(t, 0.0, k, rates, ev.boundary * angle, outside, ev.gates, steady=True,
                    reaction_inflow=reaction_inflow(system, ev.created))
    report = {"iterations": k, "final_residual_uM_per_ms": _norm(ev, V),
              "initial_residual_uM_per_ms": r0, "last_correction_tolerances": corr}
    return U, ev.gates, info, report
