"""Newton's method for one implicit stage, and where a failure happened.

Modified Newton: the linear solver keeps its factorisation (or preconditioner) as long as it
serves (linear.py); a contraction rate θ above `newton_slow` asks for a fresh one. Convergence
is judged in the error-tolerance units the step-size control uses (Hairer & Wanner 1996, IV.8):
the iteration stops when the estimated remaining error η·|δ|, η = θ/(1 − θ), is below
`newton_tol` tolerances (solver.newton_tol, default 0.03) — Newton's error stays a small
fraction of the error the step is allowed. After the first iteration θ is not yet known and the
last stage's η is used, so a stage that converges as fast as the previous one costs one
iteration. Mass balance does not rest on this tolerance: a converged stage's residual is
projected onto zero total per conserved element (`conserve`), so the accounted inflows match the
change of every ion's total to round-off, whatever Newton left behind.
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


class Conservation:
    """Per element (a free species with the bound states carrying it), the uniform shift of the
    free species that makes the stage residual sum to zero over its carriers.

    Σ_carriers F is the amount (per time) the stage equations leave unexplained: zero for an
    exact solution. Binding and fluxes between two cells move an element without creating it;
    volume reactions may create or destroy it, but F holds their V·R, so the projected stage
    balances the element's change against boundaries, outside fluxes *and* reactions (whose
    production the integrators account for: integrators._amounts). Shifting the free species by
    α in every cell where it exists changes the sum by α·t_e, t_e = Σ_k V_k/c + Σ_k (T·1)_k (the
    bath and open-face conductances) − Σ_k V_k·Σ_carriers ∂R/∂c (reactions only: binding's
    derivatives cancel over the carriers). Fluxes that depend on a remote mean (sensors) or move
    ions to the outside respond as well, so the shift is repeated with the measured response
    (a secant step) until the sum is at round-off: rarely more than two re-evaluations."""

    PASSES = 3
    ROUNDOFF = 1e-13       # |Σ F| relative to Σ |G| over the carriers: done

    def __init__(self, system):
        chem = system.chemistry
        self.elements = [(k, chem.carriers(u.name)) for k, u in enumerate(chem.unknowns) if not u.bound]
        N = system.n_cells
        # a species absent from a compartment stays zero there: shift it where it exists only
        self.where = [np.ones(N, bool) if chem.present is None else chem.present[k]
                      for k, _ in self.elements]
        V = system.domain.volumes
        self.volume = [float(V[w].sum()) for w in self.where]
        self.leak = [float((system.transport[k] @ w.astype(float)).sum())
                     for (k, _), w in zip(self.elements, self.where)]
        self.reacting = bool(chem.reactions)

    def _reaction_slopes(self, res, ev) -> list[float]:
        """−Σ_k V_k·Σ_carriers ∂R_u/∂c_k: how the reactions' production answers the shift."""
        out = [0.0] * len(self.elements)
        if not self.reacting or ev.jac_R is None:
            return out
        V = res.sys.domain.volumes
        for i, ((k, carriers), w) in enumerate(zip(self.elements, self.where)):
            for p, (row, col) in enumerate(res.pairs):
                if col == k and row in carriers:
                    out[i] -= float(np.sum(V[w] * ev.jac_R[p, w]))
        return out

    def project(self, res, ev, stage, active):
        """The evaluation at the shifted state (`ev` itself if nothing needs shifting)."""
        if stage.c == np.inf:
            return ev
        slopes = [vol / stage.c + leak + rx for vol, leak, rx in
                  zip(self.volume, self.leak, self._reaction_slopes(res, ev))]
        for _ in range(self.PASSES):
            sums = [float(ev.F[carriers].sum()) for _, carriers in self.elements]
            small = [abs(s) <= self.ROUNDOFF * float(np.abs(ev.G[carriers]).sum())
                     for s, (_, carriers) in zip(sums, self.elements)]
            if all(small):
                return ev
            shift = np.zeros_like(ev.U)
            steps = [0.0] * len(self.elements)
            for i, ((k, _), s, slope, done) in enumerate(zip(self.elements, sums, slopes, small)):
                if not done:
                    steps[i] = -s / slope
                    shift[k, self.where[i]] = steps[i]
            new = res.evaluate(ev.U + shift, stage, active)
            for i, ((k, carriers), s) in enumerate(zip(self.elements, sums)):
                step = steps[i]
                if step != 0.0:      # secant: the slope the sum actually showed
                    measured = (float(new.F[carriers].sum()) - s) / step
                    slopes[i] = measured if measured > 0 else slopes[i]
            ev = new
        return ev


class NewtonMemory:
    """η of the last converged stage: the guess for the next stage's first iteration."""

    def __init__(self):
        self.eta = 1.0


def solve_stage(res, lin, stage, U0: np.ndarray, active, W: np.ndarray, policy, counters,
                memory: NewtonMemory, conservation: Conservation | None = None):
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
            raise NotConverged(f"non-finite values in a Newton update at t = {stage.t:.6g} ms "
                               f"({worst(res.sys, np.nan_to_num(dU, nan=1e300), W)})")
        ev = res.evaluate(U, stage, active)
        norm = weighted_max(dU, W)
        counters.newton_iterations += 1
        if prev is not None:
            theta = norm / prev
            if theta >= 1.0:
                if fresh:
                    raise NotConverged(f"Newton diverges (contraction {theta:.2g}) at "
                                       f"t = {stage.t:.6g} ms, {worst(res.sys, dU, W)}")
                refresh, prev, eta = True, None, 1.0
                continue
            eta = theta / (1.0 - theta)
            refresh = theta > policy.newton_slow
        if eta * norm <= cfg.newton_tol or norm == 0.0:
            memory.eta = eta
            if conservation is not None:
                ev = conservation.project(res, ev, stage, active)
            return ev, it
        prev = norm
    raise NotConverged(f"Newton did not converge in {cfg.max_newton} iterations at t = "
                       f"{stage.t:.6g} ms (last correction {norm:.3g} tolerances, largest at "
                       f"{worst(res.sys, dU, W)})")
