"""The stage Jacobian A = V/c − ∂G/∂U in a sparsity pattern fixed once per run.

Unknown-major numbering: row u·N + k is unknown u in cell k. The pattern is the union of the
transport matrices (one block per unknown), the diagonal, the local binding pairs (chemistry)
and every cell pair a membrane derivative may fill. Each fill writes a data array in place:
FiPy's operator is never rebuilt in the time loop.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .membrane import membrane_pattern


class JacobianPattern:
    def __init__(self, system, pairs):
        n, N = system.n_unknowns, system.n_cells
        self.N = N
        self.n_total = n * N
        rows, cols, vals = [], [], []
        for u, T in enumerate(system.transport):
            coo = T.tocoo()
            # int64 throughout: sparse indices are int32 and row·n² keys overflow them
            rows.append(coo.row.astype(np.int64) + u * N)
            cols.append(coo.col.astype(np.int64) + u * N)
            vals.append(coo.data)
        diag = np.arange(n * N, dtype=np.int64)
        cells = np.arange(N, dtype=np.int64)
        pr = [r * N + cells for r, _ in pairs]
        pc = [c * N + cells for _, c in pairs]
        mu, mr, mc = membrane_pattern(system)
        all_rows = np.concatenate(rows + [diag] + pr + [mu * N + mr])
        all_cols = np.concatenate(cols + [diag] + pc + [mu * N + mc])
        pattern = sp.csc_matrix((np.ones(all_rows.size), (all_rows, all_cols)), shape=(n * N, n * N))
        pattern.sort_indices()
        self.pattern = pattern
        col_of_entry = np.repeat(np.arange(n * N, dtype=np.int64), np.diff(pattern.indptr))
        self.keys = col_of_entry * (n * N) + pattern.indices.astype(np.int64)
        t_rows, t_cols = np.concatenate(rows), np.concatenate(cols)
        # float even when every transport matrix is empty (one cell; all D = 0): bincount of an
        # empty array returns int64 whatever its weights
        self.base = np.bincount(self.position(t_rows, t_cols), weights=np.concatenate(vals),
                                minlength=pattern.nnz).astype(float)
        self.pos_diag = self.position(diag, diag)
        self.pos_pairs = self.position(np.concatenate(pr), np.concatenate(pc)) if pr else None

    def position(self, rows, cols):
        return np.searchsorted(self.keys, cols * self.n_total + rows)

    def data(self, V: np.ndarray, c: float, jac_R, entries) -> np.ndarray:
        """The nonzeros of A = V/c + T − V·∂R/∂U − ∂M/∂U in the pattern's (CSC) order."""
        N = self.N
        data = self.base.copy()
        if c != np.inf:
            data[self.pos_diag] += (V / c).ravel()
        if self.pos_pairs is not None:
            data[self.pos_pairs] -= (jac_R * V[0]).ravel()
        unk, rcell, ccell, vals = entries
        if vals.size:
            pos = self.position(unk * N + rcell, unk * N + ccell)
            data -= np.bincount(pos, weights=vals, minlength=data.size)
        return data

    def matrix(self, V, c, jac_R, entries) -> sp.csc_matrix:
        p = self.pattern
        return sp.csc_matrix((self.data(V, c, jac_R, entries), p.indices, p.indptr), shape=p.shape)
