"""Linear solvers for the stage Jacobian, chosen by the problem (`choose`).

- **DirectLU** (SuperLU): 1D/2D and small 3D systems. A factorisation is kept and reused — across
  Newton iterations, both TR-BDF2 stages and later steps — for as long as c = α·h is unchanged
  and Newton still contracts quickly; the step-size controller keeps h still unless a change pays
  (policy.py), so most steps factorise nothing. With c unchanged a stale factorisation leaves
  mass balance exact: the parts of the Jacobian that age (binding, membranes between two cells)
  move mass without creating it. A matrix whose columns are diagonally dominant is factorised
  without pivoting in SuperLU's symmetric mode: Gaussian elimination without pivoting is stable
  on such matrices (Wilkinson: growth factor ≤ 2), and it is several times faster.
- **Krylov** (GMRES): large 3D systems. Preconditioner = the exact inverse of every cell's local
  block (binding couples the unknowns of one cell, stiffly), followed by one correction per
  unknown with its own diffusion block, approximated by Jacobi when diffusion over a step spans
  less than a cell (max T_kk·c/V_k < 1) and by one algebraic-multigrid V-cycle (pyamg smoothed
  aggregation, built once per step size and reused) otherwise. A one-dimensional correction per
  conserved element after each solve makes the residual sum to zero, so an inexact solve still
  conserves mass.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .state import Counters, NotConverged

AMG_THRESHOLD = 1.0            # max T_kk·c/V_k above which a diffusion block gets multigrid
PRECONDITIONER_C_RANGE = 1.5   # rebuild the preconditioner when c moves by more than this factor
GMRES_RESTART = 30
GMRES_MAX_RESTARTS = 20


def column_dominant(A: sp.csc_matrix) -> bool:
    """|a_jj| ≥ Σ_{i≠j} |a_ij| in every column."""
    absA = abs(A)
    colsum = np.asarray(absA.sum(axis=0)).ravel()
    diag = np.abs(A.diagonal())
    return bool(np.all(2 * diag >= colsum * (1 - 1e-12)))


class DirectLU:
    name = "direct"

    def __init__(self, residual, pattern, counters: Counters):
        self.res, self.pattern, self.counters = residual, pattern, counters
        self.lu = None
        self.c = None

    def prepare(self, c: float, ev, refresh: bool) -> bool:
        """Factorise A(c, U) unless the kept factorisation is for this c and still serves."""
        if self.lu is not None and c == self.c and not refresh:
            return False
        A = self.pattern.matrix(self.res.V, c, ev.jac_R, ev.entries)
        try:
            if column_dominant(A):
                self.lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                    options={"SymmetricMode": True})
                self.counters.extra.setdefault("superlu", "symmetric mode, no pivoting "
                                               "(column diagonally dominant)")
            else:
                self.lu = spla.splu(A, permc_spec="COLAMD")
                self.counters.extra["superlu"] = "partial pivoting, COLAMD (not diagonally dominant)"
        except RuntimeError as exc:       # exactly singular
            self.lu = None
            raise NotConverged(f"singular Jacobian ({exc})") from None
        self.c = c
        self.counters.factorisations += 1
        return True

    def solve(self, rhs: np.ndarray, rtol: float | None = None) -> np.ndarray:
        self.counters.linear_solves += 1
        return self.lu.solve(rhs.ravel()).reshape(rhs.shape)

    def invalidate(self):
        self.lu = None


class Krylov:
    name = "iterative"

    def __init__(self, residual, pattern, counters: Counters, rtol: float, choice: str = "auto"):
        self.res, self.pattern, self.counters = residual, pattern, counters
        self.rtol, self.choice = rtol, choice
        sys = residual.sys
        self.n, self.N = sys.n_unknowns, sys.n_cells
        self.A = None
        self.c_pc = None
        self.species_pc = None
        # conserved elements: (free ion unknown, carrier unknowns)
        chem = sys.chemistry
        self.elements = [(k, chem.carriers(u.name)) for k, u in enumerate(chem.unknowns) if not u.bound]
        # same-cell entries of the pattern: (row unknown, col unknown) pairs
        local = {(u, u) for u in range(self.n)} | set(residual.pairs)
        self.local_pairs = sorted(local)
        cells = np.arange(self.N, dtype=np.int64)
        self.local_pos = [pattern.position(r * self.N + cells, c * self.N + cells)
                          for r, c in self.local_pairs]

    def invalidate(self):
        self.c_pc = None

    def prepare(self, c: float, ev, refresh: bool) -> bool:
        """Fill A at the current iterate (always: it is cheap); rebuild the preconditioner when
        c has moved, or Newton asks for it."""
        data = self.pattern.data(self.res.V, c, ev.jac_R, ev.entries)
        p = self.pattern.pattern
        self.A = sp.csc_matrix((data, p.indices, p.indptr), shape=p.shape).tocsr()
        self.c = c
        stale = (self.c_pc is None or refresh or not
                 (self.c_pc / PRECONDITIONER_C_RANGE <= c <= self.c_pc * PRECONDITIONER_C_RANGE))
        if stale:
            self._build_preconditioner(c, data)
            self.counters.factorisations += 1
        return stale

    def _build_preconditioner(self, c, data):
        n, N = self.n, self.N
        blocks = np.zeros((N, n, n))
        for (r, col), pos in zip(self.local_pairs, self.local_pos):
            blocks[:, r, col] = data[pos]
        self.local_inverse = np.linalg.inv(blocks)
        self.species_pc = []
        kinds = []
        V = self.res.sys.domain.volumes
        for u, T in enumerate(self.res.sys.transport):
            block = self.A[u * N:(u + 1) * N, u * N:(u + 1) * N]
            diag = block.diagonal()
            spread = float(np.max(T.diagonal() * c / V)) if T.nnz and c != np.inf else np.inf
            if T.nnz == 0:
                self.species_pc.append(("jacobi", 1.0 / diag))
                kinds.append("local")
                continue
            use_amg = self.choice == "amg" or (self.choice == "auto" and spread > AMG_THRESHOLD)
            if use_amg:
                import pyamg
                sym = (T + sp.diags(diag - T.diagonal())).tocsr()   # symmetric part: V/c + T + local
                ml = pyamg.smoothed_aggregation_solver(sym, max_coarse=500)
                self.species_pc.append(("amg", ml.aspreconditioner(cycle="V")))
                kinds.append("amg")
            else:
                self.species_pc.append(("jacobi", 1.0 / diag))
                kinds.append("jacobi")
        self.c_pc = c
        self.counters.extra["preconditioner"] = (
            "local blocks + per-unknown " + ", ".join(sorted(set(kinds))) +
            f" (max D·c/h² ≈ T_kk·c/V_k; multigrid above {AMG_THRESHOLD:g})")

    def _apply(self, r: np.ndarray) -> np.ndarray:
        n, N = self.n, self.N
        R = r.reshape(n, N)
        z1 = np.einsum("kij,jk->ik", self.local_inverse, R)
        r2 = R - (self.A @ z1.ravel()).reshape(n, N)
        z2 = np.empty_like(R)
        for u, (kind, pc) in enumerate(self.species_pc):
            z2[u] = pc * r2[u] if kind == "jacobi" else pc.matvec(r2[u])
        return (z1 + z2).ravel()

    def solve(self, rhs: np.ndarray, rtol: float | None = None) -> np.ndarray:
        n, N = self.n, self.N
        b = rhs.ravel()
        M = spla.LinearOperator(self.A.shape, matvec=self._apply, dtype=float)
        x, info = spla.gmres(self.A, b, rtol=rtol or self.rtol, atol=0.0, restart=GMRES_RESTART,
                             maxiter=GMRES_MAX_RESTARTS, M=M)
        self.counters.linear_solves += 1
        if info != 0 or not np.all(np.isfinite(x)):
            raise NotConverged(f"GMRES did not reach rtol {rtol or self.rtol:g} (info {info})")
        # conservation: shift each element's free ion uniformly so the element's residual sums
        # to zero (binding and membranes between cells do not mix elements, see module doc)
        r = (b - self.A @ x).reshape(n, N)
        X = x.reshape(n, N)
        for k, carriers in self.elements:
            column = np.zeros(n * N)
            column[k * N:(k + 1) * N] = 1.0
            Acol = (self.A @ column).reshape(n, N)
            t = Acol[carriers].sum()
            if t > 0:
                X[k] += r[carriers].sum() / t
        return X.reshape(rhs.shape)


def choose(residual, pattern, counters: Counters):
    """The linear solver for this problem, and why (counters.extra, log, manifest)."""
    sys = residual.sys
    cfg = sys.case.solver
    unknowns = sys.n_unknowns * sys.n_cells
    choice = cfg.linear
    if choice == "auto":
        if sys.domain.dim <= 2:
            choice, why = "direct", "1D/2D: sparse LU factorisations stay cheap and are reused"
        elif unknowns <= cfg.direct_limit:
            choice, why = "direct", f"3D with {unknowns} ≤ direct_limit = {cfg.direct_limit} unknowns"
        else:
            choice, why = "iterative", (f"3D with {unknowns} > direct_limit = {cfg.direct_limit} "
                                        "unknowns: LU fill-in grows too fast")
    else:
        why = f"solver.linear = {choice!r} in the case"
    counters.extra["linear_strategy"] = choice
    counters.extra["linear_reason"] = why
    if choice == "direct":
        return DirectLU(residual, pattern, counters)
    return Krylov(residual, pattern, counters, cfg.iterative_tol, cfg.preconditioner)
