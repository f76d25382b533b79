"""Newton's method for one implicit stage, and where a failure happened.

Modified Newton: the linear solver keeps its factorisation (or preconditioner) as long as it
serves (linear.py); a contraction rate θ above `newton_slow` asks for a fresh one. Convergence
is judged in the error-tolerance units the step-size control uses (Hairer & Wanner 1996, IV.8):
the iteration stops when the estimated remaining error η·|δ|, η = θ/(1 − θ), is below
`newton_tol` tolerances (solver.newton_tol, default 0.03) — Newton's error stays a small
fraction of the error the step is allowed. After the first iteration θ is not yet known and the
last stage's η is used, so a stage that converges as fast as the previous one costs one
iteration. Mass balance does not rest on this tolerance: see linear.py.
"""

from __future__ import annotations

import numpy as np

from .residual import weighted_max
from .state import NotConverged


def place(system, k: int, cell: int) -> str:
    """'Ca in cytosol at r = 0.01, z = 0 µm' for unknown k in a cell."""
    d = system.domain
    name = system.chemistry.unknowns[k].name
    comp = d.compartment_names[d.compartment_id[cell]]
    where = ", ".join(f"{a} = {x:.4g}" for a, x in zip(d.axes, d.cell_centers[:, cell]))
    return f"{name} in {comp} at {where} um"


def worst(system, x: np.ndarray, w: np.ndarray) -> str:
    k, cell = np.unravel_index(int(np.argmax(np.abs(x) / w)), x.shape)
    return place(system, int(k), int(cell))


class NewtonMemory:
    """η of the last converged stage: the guess for the next stage's first iteration."""

    def __init__(self):
        self.eta = 1.0


def solve_stage(res, lin, stage, U0: np.ndarray, active, W: np.ndarray, policy, counters,
                memory: NewtonMemory):
    """Solve F(U) = 0 for one stage from the predictor U0; returns (Evaluation, iterations)."""
    cfg = res.sys.case.solver
    ev = res.evaluate(U0, stage, active)
    refresh, prev, norm = False, None, np.inf
    eta = max(memory.eta, 1e-16) ** 0.8
    U = U0
    for it in range(1, cfg.max_newton + 1):
        fresh = lin.prepare(stage.c, ev, refresh)
        dU = lin.solve(-ev.F)
        U = U + dU
        if not np.all(np.isfinite(U)):
            raise NotConverged(f"non-finite values in a Newton update ({worst(res.sys, np.nan_to_num(dU, nan=1e300), W)})")
        ev = res.evaluate(U, stage, active)
        norm = weighted_max(dU, W)
        counters.newton_iterations += 1
        if prev is not None:
            theta = norm / prev
            if theta >= 1.0:
                if fresh:
                    raise NotConverged(f"Newton diverges (contraction {theta:.2g}) at "
                                       f"{worst(res.sys, dU, W)}")
                refresh, prev, eta = True, None, 1.0
                continue
            eta = theta / (1.0 - theta)
            refresh = theta > policy.newton_slow
        if eta * norm <= cfg.newton_tol or norm == 0.0:
            memory.eta = eta
            return ev, it
        prev = norm
    raise NotConverged(f"Newton did not converge in {cfg.max_newton} iterations (last correction "
                       f"{norm:.3g} tolerances, largest at {worst(res.sys, dU, W)})")
