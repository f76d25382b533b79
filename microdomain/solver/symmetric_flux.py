"""Diffusion on non-orthogonal meshes, symmetric and consistent: a SUSHI-type scheme.

`[solver] nonorthogonal = "symmetric"`. The scheme is the cell-centred variant of SUSHI (the
stabilised hybrid scheme of Eymard, Gallouët and Herbin, 2010; named, not cited: it is not in
docs/references.bib, and its bibliographic data could not be checked here) in which every face
value is eliminated by an interpolation of cell values. What it is, and why each choice:

1. **Face values, linearly exact.** Every cell's least-squares gradient g_K (same-compartment
   neighbours only: concentrations jump at membranes) carries its value to a face centre,
   E_K(σ) = u_K + g_K·(x_σ − x_K). An interior face of one compartment gets ONE value,
   u_σ = (E_K(σ) + E_L(σ))/2, shared by both cells — that sharing is what makes a linear field
   exact: its face terms cancel between the two cells (below). A wall or membrane face gets
   E_K(σ) of its one cell on each side; a bath face (Dirichlet) its bath value, a known that
   moves to the right-hand side g. Each u_σ is a combination of cell values with weights summing
   to 1, exact for a linear field whenever the least-squares gradients are. The gradient is
   taken over face neighbours and, where those span fewer than `dim` directions well (relative
   singular value below `RCOND_FACE`, cells with one face on a wall or neighbours in one plane),
   over neighbours of neighbours too; a pseudo-inverse with a small cut (`RCOND`) keeps a
   degenerate direction from blowing up. Stability does not depend on any of this.
2. **Cell gradient** ∇_K u = (1/|K|) Σ_σ |σ| (u_σ − u_K) n_Kσ, exact for linear u because
   Σ_σ |σ| (x_σ − x_K) ⊗ n_Kσ = |K| I on a polyhedron with plane faces and x_σ their centroids;
   |K| is taken as Σ_σ |σ| n_Kσ·(x_σ − x_K)/dim so that the identity holds to round-off.
3. **Cone gradients** ∇_Kσ u = ∇_K u + (√dim / d_Kσ) R_Kσ(u) n_Kσ,
   R_Kσ(u) = u_σ − u_K − ∇_K u·(x_σ − x_K), on the cone D_Kσ of apex x_K and base σ, of volume
   |D_Kσ| = |σ| d_Kσ / dim (d_Kσ the distance from x_K to the plane of σ). R vanishes for linear
   u; the stabilisation controls the part of u_σ − u_K that ∇_K cannot see (the scheme's
   coercivity; √dim is the paper's choice of its constant).
4. **Operator** A = Σ_K Σ_σ D_K |D_Kσ| ∇_Kσᵀ ∇_Kσ, the discrete ∫ D ∇u·∇v. With Δ the map from
   cell values (and bath values) to the per-cone differences u_σ − u_K, and M the block-diagonal
   matrix of each cell's local form, A = Δᵀ M Δ: **symmetric positive semi-definite by
   construction**, for any mesh and any interpolation weights, so the semi-discrete
   diffusion dissipates Σ_k u·A·u ≥ 0 and no mode grows (what T − C of "correct" did not do).
   Constants have zero differences: A·1 = 0, and by symmetry 1ᵀA = 0: the total amount is
   conserved exactly (cell by cell the flux is no longer a two-point one, so the scheme is
   conservative globally, not face by face). It is linear: A replaces FiPy's T in the transport
   matrix and in the Newton Jacobian exactly.
5. **Consistency.** For linear u every ∇_Kσ u = ∇u, so (A u)_L = ∇u·Σ_K Σ_σ |D_Kσ| ∂∇_Kσ/∂u_L.
   The stabilisation sums to zero by the identity of 2., leaving D∇u·Σ_K Σ_σ |σ| n_Kσ
   ∂(u_σ − u_K)/∂u_L: the shared interior face values cancel (n_Kσ = −n_Lσ), Σ_σ |σ| n_Kσ = 0
   removes the cell values, and what remains comes from wall, membrane and bath faces only. So a
   linear field has zero discrete divergence in every cell that no such face's interpolation
   reads (tests/geometry/test_symmetric_flux.py): the scheme is consistent where the two-point
   flux is off by O(1).

Not a maximum-principle scheme: A is not an M-matrix, so a steep front may undershoot slightly
below zero in a transient (the loop's negative check still applies); energy stability is what
it guarantees. Membrane fluxes are untouched (solver/membrane.py); the membrane values they read
are the least-squares extrapolations as with "correct". Open (far-field) faces are walls for A
and keep their Robin conductance on the cell value (assembly.py).

Scope: unstructured Cartesian meshes. On a mesh without skewed faces (extruded prisms, a
structured grid) FiPy's two-point flux is already consistent and is kept unchanged (assembly.py),
so orthogonal meshes reproduce "none" exactly. Axisymmetric (r, z) meshes are refused: the
identity of 2. does not hold with r-weighted measures, and a consistent r-weighted variant is
not built.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

RCOND = 1e-3          # pseudo-inverse cut of the least-squares normal matrices
RCOND_FACE = 0.05     # below this relative singular value face neighbours alone are too flat


def _same_compartment_adjacency(domain) -> sp.csr_matrix:
    fc = domain.face_cells
    inner = fc[1] >= 0
    same = inner & ~domain.membrane_faces()
    P, Q = fc[0, same], fc[1, same]
    N = domain.n_cells
    adj = sp.csr_matrix((np.ones(2 * P.size), (np.concatenate([P, Q]), np.concatenate([Q, P]))),
                        shape=(N, N))
    adj.data[:] = 1.0
    return adj


def _normal_matrices(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, N: int):
    d = x[:, cols] - x[:, rows]
    w = 1.0 / np.sum(d * d, axis=0)
    dim = x.shape[0]
    M = np.zeros((N, dim, dim))
    for i in range(dim):
        for j in range(dim):
            M[:, i, j] = np.bincount(rows, w * d[i] * d[j], N)
    return M, w * d


def least_squares_gradients(domain) -> list[sp.csr_matrix]:
    """Sparse (N × N) G_i with the least-squares gradient ∇u_i = G_i·u over same-compartment
    neighbours, widened to neighbours of neighbours where the face neighbours are too flat."""
    x = domain.cell_centers
    N, dim = domain.n_cells, domain.dim
    adj = _same_compartment_adjacency(domain)
    rows, cols = adj.nonzero()
    M, _ = _normal_matrices(x, rows, cols, N)
    s = np.linalg.svd(M, compute_uv=False)
    flat = s[:, -1] < RCOND_FACE * np.maximum(s[:, 0], 1e-300)
    if flat.any():
        wide = (adj + adj @ adj).tolil()
        wide.setdiag(0)
        wide = wide.tocsr()
        wide.eliminate_zeros()
        keep = sp.diags(flat.astype(float)) @ wide
        keep.data[:] = 1.0
        stencil = (sp.diags((~flat).astype(float)) @ adj + keep).tocsr()
        rows, cols = stencil.nonzero()
        M, _ = _normal_matrices(x, rows, cols, N)
    Minv = np.linalg.pinv(M, rcond=RCOND)
    _, wd = _normal_matrices(x, rows, cols, N)
    # b_K = Σ_L w·d·(u_L − u_K); ∇u_K = Minv_K·b_K
    B = [sp.csr_matrix((wd[i], (rows, cols)), shape=(N, N)) for i in range(dim)]
    B = [Bi - sp.diags(np.asarray(Bi.sum(axis=1)).ravel()) for Bi in B]
    return [sum(sp.diags(Minv[:, i, j]) @ B[j] for j in range(dim)).tocsr() for i in range(dim)]


class SymmetricDiffusion:
    """Geometry of the scheme, built once per mesh; `operator` gives A and the bath right-hand
    side for one unknown's diffusivity."""

    def __init__(self, domain, bath_faces: np.ndarray = np.zeros(0, int)):
        if domain.cylindrical:
            raise ValueError("the symmetric scheme is built for Cartesian meshes only")
        fc = domain.face_cells
        N, dim = domain.n_cells, domain.dim
        self.N, self.dim = N, dim
        nf = fc.shape[1]
        membrane = domain.membrane_faces()
        # bath faces, numbered after the cells in the extended unknown vector
        bath_faces = np.unique(np.asarray(bath_faces, int))
        self.bath_faces = bath_faces
        bath_col = -np.ones(nf, int)
        bath_col[bath_faces] = N + np.arange(bath_faces.size)
        ncol = N + bath_faces.size
        # half-faces (cones): one per (cell, face), grouped by cell
        cells = np.concatenate([fc[0], fc[1][fc[1] >= 0]])
        faces = np.concatenate([np.arange(nf), np.flatnonzero(fc[1] >= 0)])
        order = np.argsort(cells, kind="stable")
        cells, faces = cells[order], faces[order]
        H = cells.size
        xK = domain.cell_centers[:, cells]
        xs = domain.face_centers[:, faces]
        off = xs - xK
        n = domain.face_normals[:, faces]
        n = n * np.where(np.sum(n * off, axis=0) >= 0, 1.0, -1.0)      # outward from the cell
        dist = np.sum(n * off, axis=0)                                   # d_Kσ
        if np.any(dist <= 0):
            raise ValueError(f"{int(np.sum(dist <= 0))} cell centres lie on or outside a face plane")
        area = domain.face_areas[faces]
        vol = np.bincount(cells, area * dist, N) / dim                  # |K| consistent with 2.
        pick = sp.csr_matrix((np.ones(H), (np.arange(H), cells)), shape=(H, ncol))
        # E: each cell's value extrapolated to its face centre
        grads = least_squares_gradients(domain)
        pickN = sp.csr_matrix((np.ones(H), (np.arange(H), cells)), shape=(H, N))
        E = pickN + sum(sp.diags(off[i]) @ pickN @ grads[i] for i in range(dim))
        E = sp.hstack([E, sp.csr_matrix((H, bath_faces.size))]).tocsr()
        # u_σ: the mean of both sides' extrapolations on interior faces of one compartment
        other = -np.ones(H, int)
        inner = (fc[1, faces] >= 0) & ~membrane[faces]
        # the partner half-face of each interior one: same face, other cell
        key = np.argsort(faces, kind="stable")
        f_sorted = faces[key]
        pair = np.flatnonzero(f_sorted[1:] == f_sorted[:-1])
        other[key[pair]] = key[pair + 1]
        other[key[pair + 1]] = key[pair]
        other[~inner] = -1
        swap = sp.csr_matrix((np.ones(int(inner.sum())), (np.flatnonzero(inner), other[inner])),
                             shape=(H, H))
        keep = sp.diags(np.where(inner, 0.5, 1.0))
        U_face = keep @ E + 0.5 * (swap @ E)
        # bath faces: the known value instead
        is_bath = bath_col[faces] >= 0
        if is_bath.any():
            U_face = sp.diags((~is_bath).astype(float)) @ U_face + sp.csr_matrix(
                (np.ones(int(is_bath.sum())), (np.flatnonzero(is_bath), bath_col[faces[is_bath]])),
                shape=(H, ncol))
        self.Delta = (U_face - pick).tocsr()                             # u_σ − u_K per cone
        self.Delta.eliminate_zeros()
        # local forms: ∇_Kσ = Σ_σ' C[σ, σ'] Δ_σ' within a cell
        agg = sp.csr_matrix((np.ones(H), (cells, np.arange(H))), shape=(N, H))
        spread = agg.T.tocsr()                                           # cell → its cones
        cell_grad = [spread @ sp.diags(1.0 / vol) @ agg @ sp.diags(area * n[i]) for i in range(dim)]
        resid = sp.identity(H, format="csr") - sum(sp.diags(off[i]) @ cell_grad[i] for i in range(dim))
        stab = np.sqrt(dim) / dist
        C = [(cell_grad[i] + sp.diags(stab * n[i]) @ resid).tocsr() for i in range(dim)]
        cone = area * dist / dim
        self.M = sum(C[i].T @ sp.diags(cone) @ C[i] for i in range(dim)).tocsr()   # block-diag
        self.cells, self.faces, self.cone_volumes = cells, faces, cone
        self.cell_volumes = vol

    def operator(self, D_cells: np.ndarray, bath_values: np.ndarray | None = None):
        """(A (N × N), g (N,)) for one unknown: −A·u + g is its diffusive inflow; bath_values in
        the order of `bath_faces`."""
        D = D_cells[self.cells]
        if not np.any(D):
            return sp.csr_matrix((self.N, self.N)), np.zeros(self.N)
        full = (self.Delta.T @ (sp.diags(D) @ self.M) @ self.Delta).tocsr()
        full = 0.5 * (full + full.T)          # exactly symmetric, not only to round-off
        A = full[: self.N, : self.N].tocsr()
        g = np.zeros(self.N)
        if self.bath_faces.size:
            g = -(full[: self.N, self.N:] @ bath_values)
        A.eliminate_zeros()
        return A, np.asarray(g).ravel()
