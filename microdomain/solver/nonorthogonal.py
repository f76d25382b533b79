"""Diffusion on non-orthogonal faces: a deferred correction of FiPy's two-point flux.

FiPy's flux through a face f between cells P and Q is D·A·(c_Q − c_P)/|d|, d = x_Q − x_P: exact
only when d is along the face normal n. On tetrahedra the angle between them reaches 60–77°,
and the flux is then off by D·A·∇c·(n − d/|d|) — an O(1) error that no refinement removes. The
correction adds exactly that term, with ∇c at the face the mean of the two cells' least-squares
gradients. It is linear in the concentrations, so it is assembled once as a sparse operator C
and taken into the transport matrix, T − C (assembly.py): implicit, in the Jacobian, no
explicit term to destabilise a step (an explicit version went negative within a microsecond on
the MAM contact). ±q on the two cells of each face: conservative (C's columns sum to zero). The
matrix is then no longer an M-matrix; the linear solvers do not need one. On structured grids
every d is along n and nothing is done.

Status: the default on unstructured 3D meshes (`nonorthogonal = "auto"`, assembly.nonorthogonal_mode).
A linear field is divergence-free to round-off with it in about 90 % of the interior cells of
the tetrahedral contacts — the others have neighbours nearly in one plane
(tests/geometry/test_nonorthogonal.py; without it 8 % median). T − C is not symmetric and not
dissipative by construction. With least-squares directions kept down to a relative singular
value of 0.05 it was not dissipative on the coarse 3D MAM contact: its symmetric part had one
negative eigenvalue (−1.4 % of max|T|), a mode on a few cytosolic cells at the edge of the
contact whose gradient inverted a direction of relative strength 0.054 (×12 amplification), and
the coarse MAM and ER–lysosome transients stopped on a negative [Ca2+] at t = 0.050 and 0.116 ms.
(On the ER–lysosome contact T − C was dissipative even then — all eigenvalues of its symmetric
part ≥ 0, measured — and its stop was an undershoot below the loop's former negativity floor:
with the former cut it now runs to 0.3 ms, the loop letting small undershoots pass,
solver/policy.py `negative_rel`.) With the cut at 0.1 (RCOND)
both run to their ends, and the symmetric part of T − C is positive semi-definite on the meshes
the tests check (tests/geometry/test_nonorthogonal.py) — checked, not proven for every mesh; the
loop's negative-concentration check stays the guard. The price
of the higher cut: on the resolution-2 twin the cleft probes move by up to +0.3 % (docs/geometry.md).
Where it runs it is what makes the tetrahedral contacts convergent: a manufactured solution
converges at about second order in L2 with it, about 1 without (verification/contact_studies.py;
docs/geometry.md, "Accuracy on the 3D meshes").

`nonorthogonal = "limited"` (LimitedCorrection) is the stable alternative: the same correction,
bounded per face by ψ = `nonorthogonal_limit` (default 0.5) times the face's two-point flux and
evaluated in the residual, T alone in the Jacobian. Each face then carries a two-point flux with
a coefficient in [1 − ψ, 1 + ψ]: a discrete maximum principle and energy dissipation hold for
any mesh. The price is accuracy: on faces whose two-point flux is small next to the correction
(gradient nearly across d) the limiter cuts it, so a linear field is no longer exact — its
median error on the coarse MAM mesh is about half the uncorrected one at ψ = 0.5 (asserted in
tests/geometry/test_nonorthogonal.py). It is not the default: it does not restore the order,
and the deferred correction slows Newton so much that the coarse 3D contacts had not reached
t = 0.05 ms after 170 CPU s (measured; "correct" with the former cut of 0.05 failed there at
0.050 / 0.116 ms in < 110 s, and with the cut of 0.1 runs their whole 10 / 5 ms in about 120 s).

`nonorthogonal = "symmetric"` (solver/symmetric_flux.py) is the other way to stability: not a
correction of the two-point flux but a SUSHI-type operator, symmetric positive semi-definite by
construction and consistent; docs/geometry.md measures it against these two.

Membrane faces carry no diffusion; there the same least-squares gradients carry each cell's
value along the face to the point under the face centre, c_P + ∇c_P·(x_f − x_P − δ_P·n), so
membrane fluxes see the concentration at the membrane (solver/membrane.py) on skewed cells too.
Gradients use only neighbours in the same compartment: concentrations jump at membranes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

SKEW = 1e-9            # |n − d/|d|| below this: the face is orthogonal, nothing to correct
RCOND = 0.1            # least-squares directions weaker than this (relative singular value) are
                       # dropped: at 0.05 a kept weak direction made T − C anti-dissipative (above)


def diffusion_faces(dom):
    """The faces diffusion crosses (interior, within one compartment) and their geometry:
    (faces, P, Q, d = x_Q − x_P, n oriented from P to Q, |d|, t = n − d/|d|, skewed mask)."""
    fc = dom.face_cells
    x = dom.cell_centers
    faces = np.flatnonzero((fc[1] >= 0) & ~dom.membrane_faces())
    P, Q = fc[0, faces], fc[1, faces]
    d = x[:, Q] - x[:, P]
    n = dom.face_normals[:, faces]
    n = n * np.sign(np.sum(n * d, axis=0))
    dist = np.sqrt(np.sum(d * d, axis=0))
    t = n - d / dist
    return faces, P, Q, d, n, dist, t, np.sqrt(np.sum(t * t, axis=0)) > SKEW


def has_skewed_faces(dom) -> bool:
    """Whether any diffusion face is non-orthogonal (the correction would change anything)."""
    return bool(diffusion_faces(dom)[-1].any())


class NonOrthogonalCorrection:
    def __init__(self, dom, transport=(), over_relaxed: bool = False):
        x = dom.cell_centers
        self.dim, self.N = x.shape
        faces, P, Q, d, n, dist, t, skew = diffusion_faces(dom)
        # least-squares gradient operator over same-compartment neighbours, weights 1/|d|²
        w = 1.0 / np.sum(d * d, axis=0)
        M = np.zeros((self.N, self.dim, self.dim))
        for i in range(self.dim):
            for j in range(self.dim):
                wdd = w * d[i] * d[j]
                M[:, i, j] = np.bincount(P, wdd, self.N) + np.bincount(Q, wdd, self.N)
        # truncated pseudo-inverse: where the neighbours lie (nearly) in one plane — thin layers
        # such as the 20 nm IMS, a few cells across — the gradient across the plane is unknown;
        # inverting its tiny singular value blew the correction up, so it is left out there
        self.Minv = np.linalg.pinv(M, rcond=RCOND)
        self.ls = (P, Q, w * d)
        # over-relaxed: the two-point part along d carries 1/(n·d̂) times FiPy's coefficient and
        # the gradient the rest, n − d̂/(n·d̂); otherwise FiPy's part as it is and n − d̂
        cos = np.sum(n * d, axis=0) / dist
        self.stretch = (1.0 / cos[skew] - 1.0) if over_relaxed else np.zeros(int(skew.sum()))
        if over_relaxed:
            t = n - d / (dist * cos)
        self.faces, self.P, self.Q = faces[skew], P[skew], Q[skew]
        self.t, self.dist = t[:, skew], dist[skew]
        # per unknown, D·A/|d| of those faces, read off the assembled operator (0 if immobile)
        self.coef = []
        for T in transport:
            T = T.tocsr()
            self.coef.append(-np.asarray(T[self.P, self.Q]).ravel() if T.nnz else None)
        self.active = bool(self.faces.size)
        self.skewed_faces = int(self.faces.size)

    def gradient_operators(self):
        """Sparse (N × N) matrices G_i with ∇c_i = G_i·c, one per axis."""
        P, Q, wd = self.ls
        N = self.N
        # b_P = Σ_f w·d·(c_Q − c_P) over the faces of P; for the cell on the other side the
        # same term, w·(−d)·(c_P − c_Q) = w·d·(c_Q − c_P)
        rows = np.concatenate([P, P, Q, Q])
        cols = np.concatenate([Q, P, P, Q])
        ops = []
        for i in range(self.dim):
            vals = np.concatenate([wd[i], -wd[i], -wd[i], wd[i]])
            ops.append(sp.csr_matrix((vals, (rows, cols)), shape=(N, N)))
        # ∇c = Minv·b, per cell
        return [sum(sp.diags(self.Minv[:, i, j]) @ ops[j] for j in range(self.dim)).tocsr()
                for i in range(self.dim)]

    def matrix(self, k: int, grads=None):
        """C for unknown k (N × N): the correction's inflow is C·u. None if nothing to correct."""
        coef = self.coef[k]
        if coef is None or not np.any(coef):
            return None
        q = sp.diags(coef) @ self.face_operator(grads or self.gradient_operators())
        return (self._pick(self.P) - self._pick(self.Q)).T @ q

    def _pick(self, cells):
        nf = self.faces.size
        return sp.csr_matrix((np.ones(nf), (np.arange(nf), cells)), shape=(nf, self.N))

    def face_operator(self, grads):
        """(nf × N) operator of the correction flux into P on each skewed face per unit
        coefficient D·A/|d|: |d|·t·(∇c_P + ∇c_Q)/2 (plus the over-relaxed two-point part)."""
        both = self._pick(self.P) + self._pick(self.Q)
        q = sum(sp.diags(0.5 * self.dist * self.t[i]) @ (both @ grads[i]) for i in range(self.dim))
        return (q + sp.diags(self.stretch) @ (self._pick(self.Q) - self._pick(self.P))).tocsr()

    def neighbour_bounds(self, u: np.ndarray):
        """Per cell, the least and largest value over the cell and its same-compartment face
        neighbours: the range a reconstructed value inside the cell may take."""
        P, Q, _ = self.ls
        lo, hi = u.copy(), u.copy()
        np.minimum.at(lo, P, u[Q])
        np.minimum.at(lo, Q, u[P])
        np.maximum.at(hi, P, u[Q])
        np.maximum.at(hi, Q, u[P])
        return lo, hi

    def gradient(self, u: np.ndarray) -> np.ndarray:
        """Least-squares gradient of a cell field, (dim, N)."""
        P, Q, wd = self.ls
        diff = u[Q] - u[P]
        b = np.stack([np.bincount(P, wd[i] * diff, self.N) + np.bincount(Q, wd[i] * diff, self.N)
                      for i in range(self.dim)])
        return np.einsum("kij,jk->ik", self.Minv, b)


def tangential_offsets(domain, cells: np.ndarray, faces: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """x_f − x_P − δ·n for each (cell, face): how far the face centre lies off the normal through
    the cell centre, (dim, n_faces); zero where there is no cell."""
    ok = cells >= 0
    out = np.zeros((domain.dim, faces.size))
    n = domain.face_normals[:, faces[ok]]
    off = domain.face_centers[:, faces[ok]] - domain.cell_centers[:, cells[ok]]
    n = n * np.sign(np.sum(n * off, axis=0))            # pointing from the cell to the face
    out[:, ok] = off - delta[ok] * n
    return out


class LimitedCorrection:
    """The correction taken deferred and limited: on each skewed face and for each mobile
    unknown, the correction flux q is bounded by ψ times the face's two-point flux,

        q_f = clip(q_f, −ψ·|F_f|, ψ·|F_f|),      F_f = (D·A/|d|)·(c_Q − c_P),

    so the face flux is F_f·(1 + θ_f) with |θ_f| ≤ ψ ≤ 1: a two-point flux with a non-negative
    coefficient. It therefore keeps the discrete maximum principle (a cell below all its
    neighbours receives, never loses, by diffusion) and, for ψ < 1, dissipates Σ F·(c_Q − c_P)
    ≥ (1 − ψ)·Σ (D·A/|d|)·(c_Q − c_P)² — what T − C did not. The limiter is not linear, so
    the correction is evaluated in the residual (solver/residual.py) and the transport matrix,
    and with it the Newton Jacobian, stays FiPy's M-matrix T: Newton becomes a contraction
    whose rate is about the size of the correction relative to V/c + T."""

    def __init__(self, correction: NonOrthogonalCorrection, limit: float):
        self.base = correction
        self.limit = float(limit)
        grads = correction.gradient_operators()
        ops = correction.face_operator(grads)
        self.ops = [None if c is None or not np.any(c) else (sp.diags(c) @ ops).tocsr()
                    for c in correction.coef]
        self.P, self.Q = correction.P, correction.Q

    def face_fluxes(self, k: int, u: np.ndarray):
        """(q unlimited, q limited, two-point flux) into P on each skewed face, for unknown k."""
        op = self.ops[k]
        q = op @ u
        bound = self.limit * np.abs(self.base.coef[k] * (u[self.Q] - u[self.P]))
        return q, np.clip(q, -bound, bound), bound

    def inflow(self, U: np.ndarray) -> np.ndarray:
        """Net correction inflow per unknown and cell (amount/time); zero rows for immobile
        unknowns. Conservative: what enters P leaves Q."""
        out = np.zeros_like(U)
        N = U.shape[1]
        for k, op in enumerate(self.ops):
            if op is None:
                continue
            _, q, _ = self.face_fluxes(k, U[k])
            out[k] = np.bincount(self.P, q, N) - np.bincount(self.Q, q, N)
        return out

    def limited_share(self, U: np.ndarray, rel: float = 1e-12) -> dict[int, float]:
        """Per mobile unknown, the share of skewed faces whose correction the limiter cut (faces
        where both the correction and the two-point flux vanish are not counted as cut)."""
        out = {}
        for k, op in enumerate(self.ops):
            if op is None:
                continue
            q, ql, _ = self.face_fluxes(k, U[k])
            scale = rel * (np.max(np.abs(q)) + 1e-300)
            out[k] = float(np.mean(np.abs(q - ql) > scale))
        return out

