"""Linear solvers for the stage Jacobian, chosen by the problem (`choose`).

- **DirectLU** (SuperLU): 1D/2D and small 3D systems. A factorisation is kept and reused — across
  Newton iterations, both TR-BDF2 stages and later steps — for as long as c = α·h is unchanged
  and Newton still contracts quickly; the step-size controller keeps h still unless a change pays
  (policy.py), so most steps factorise nothing. With c unchanged a stale factorisation leaves
  mass balance exact: the parts of the Jacobian that age (binding, membranes between two cells)
  move mass without creating it. A matrix whose columns are diagonally dominant is factorised
  without pivoting in SuperLU's symmetric mode: Gaussian elimination without pivoting is stable
  on such matrices (Wilkinson: growth factor ≤ 2), and it is several times faster.
- **Krylov** (BiCGSTAB, GMRES when it breaks down): large 3D systems. BiCGSTAB keeps a fixed
  handful of vectors (GMRES(30) holds thirty, and its orthogonalisation costs more than the
  preconditioner here). The preconditioner starts from the exact inverse of every
  cell's local block — V/c, the cell's own transport coefficient and the binding that couples
  the unknowns of one cell, stiffly (point-block Jacobi). That alone suffices while diffusion over
  a step spans a few cells in a typical cell (spread = the median over cells of T_kk·c/V_k, below
  `AMG_SPREAD`: Krylov then needs ~√spread iterations, and a few tiny cells at a channel do not
  count); beyond, each unknown's diffusion block gets one algebraic-multigrid V-cycle (pyamg
  smoothed aggregation, built once per step size and reused) after the local solve. A V-cycle
  costs some 25 matrix–vector products here, so multigrid pays only for large spreads: measured,
  Jacobi ran the 3D contact cases 1.4–1.7× faster at median spreads up to 1.5·10³, and
  multigrid solved a uniform 48³ box 1.8× faster at a spread of 900 (setup not counted). A
  one-dimensional correction per conserved element after each solve makes the residual sum to
  zero, so an inexact solve still conserves mass.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .state import Counters, NotConverged

AMG_SPREAD = 2000.0            # median T_kk·c/V_k above which the diffusion blocks get multigrid
PRECONDITIONER_C_RANGE = 1.5   # rebuild the preconditioner when c moves by more than this factor
BICGSTAB_MAX_ITERATIONS = 2000
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
        # (n, n, N): entry [i, j] is a contiguous row over cells, for the vectorised local solve
        self.local_inverse = np.ascontiguousarray(np.linalg.inv(blocks).transpose(1, 2, 0))
        V = self.res.sys.domain.volumes
        spreads = [float(np.median(T.diagonal() * c / V)) if T.nnz and c != np.inf else
                   (np.inf if T.nnz else 0.0) for T in self.res.sys.transport]
        spread = max(spreads)
        use_amg = self.choice == "amg" or (self.choice == "auto" and spread > AMG_SPREAD)
        self.species_pc = None
        if use_amg:
            import pyamg
            self.species_pc = []
            for u, T in enumerate(self.res.sys.transport):
                diag = self.A[u * N:(u + 1) * N, u * N:(u + 1) * N].diagonal()
                if T.nnz == 0:
                    self.species_pc.append(None)          # immobile: the local solve is exact
                    continue
                sym = (T + sp.diags(diag - T.diagonal())).tocsr()   # symmetric part: V/c + T + local
                ml = pyamg.smoothed_aggregation_solver(sym, max_coarse=500)
                self.species_pc.append(ml.aspreconditioner(cycle="V"))
        self.c_pc = c
        kind = "cell-local blocks + multigrid per unknown" if use_amg else "cell-local blocks (point-block Jacobi)"
        self.counters.extra["preconditioner"] = (
            f"{kind}: spread (median T_kk·c/V_k) {spread:.3g}, multigrid above {AMG_SPREAD:g}")

    def _local_solve(self, R: np.ndarray) -> np.ndarray:
        inv, n = self.local_inverse, self.n
        Z = np.empty_like(R)
        for i in range(n):
            Z[i] = inv[i, 0] * R[0]
            for j in range(1, n):
                Z[i] += inv[i, j] * R[j]
        return Z

    def _apply(self, r: np.ndarray) -> np.ndarray:
        n, N = self.n, self.N
        R = r.reshape(n, N)
        z1 = self._local_solve(R)
        if self.species_pc is None:
            return z1.ravel()
        r2 = R - (self.A @ z1.ravel()).reshape(n, N)
        for u, pc in enumerate(self.species_pc):
            if pc is not None:
                z1[u] += pc.matvec(r2[u])
        return z1.ravel()

    def solve(self, rhs: np.ndarray, rtol: float | None = None) -> np.ndarray:
        n, N = self.n, self.N
        b = rhs.ravel()
        tol = rtol or self.rtol
        M = spla.LinearOperator(self.A.shape, matvec=self._apply, dtype=float)
        x, info = spla.bicgstab(self.A, b, rtol=tol, atol=0.0, maxiter=BICGSTAB_MAX_ITERATIONS, M=M)
        if info != 0 or not np.all(np.isfinite(x)):      # breakdown or stagnation: GMRES
            x, info = spla.gmres(self.A, b, rtol=tol, atol=0.0, restart=GMRES_RESTART,
                                 maxiter=GMRES_MAX_RESTARTS, M=M)
        self.counters.linear_solves += 1
        if info != 0 or not np.all(np.isfinite(x)):
            raise NotConverged(f"Krylov solver did not reach rtol {tol:g} (info {info})")
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
