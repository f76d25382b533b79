"""The solvers fill fixed sparsity patterns in place; check what they fill against a direct build."""

import numpy as np
import scipy.sparse as sp

from microdomain.assembly import build_system
from microdomain.case import case_from_dict
from microdomain.mesh import build_domain
from microdomain.stepper import Discretisation, DirectNewton, IterativeSweeps

from tests.helpers import small_case


def test_iterative_blocks_equal_transport_plus_diagonal_beyond_int32_keys():
    # 36³ = 46 656 cells: row·N keys exceed 2³¹, the size where int32 index arithmetic broke
    raw = small_case(geometry={"builder": "box", "size": ["1 um"] * 3, "cells": [36] * 3,
                               "compartments": [{"name": "cytosol"}], "surfaces": []},
                     species=[{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
                     buffers=[])
    system = build_system(case := case_from_dict(raw), build_domain(case.builder.build(case.geometry)))
    (A, base, diag), = IterativeSweeps(Discretisation(system)).blocks
    A = A.copy()
    A.data[:] = base
    A.data[diag] += 1.0
    expected = system.transport[0] + sp.identity(system.n_cells)
    assert abs(A - expected).max() < 1e-12 * abs(expected).max()


def test_direct_jacobian_equals_blockwise_construction():
    raw = small_case(fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er",
                              "to": "cytosol", "params": {"permeability": "5 um/s"}}])
    case = case_from_dict(raw)
    system = build_system(case, build_domain(case.builder.build(case.geometry)))
    disc = Discretisation(system)
    newton = DirectNewton(disc)
    U, dt = system.initial * 1.1, 0.01
    F, jac_R, entries, _, _ = disc.residual(U, system.initial, dt, 0.0, dt, want_jacobian=True)
    J = newton.jacobian(U, dt, jac_R, entries).toarray()
    # central-difference Jacobian of the residual
    N = system.n_cells
    J_fd = np.zeros_like(J)
    for j in range(U.size):
        step = 1e-6 * max(abs(U.ravel()[j]), 1e-3)
        Up, Um = U.copy().ravel(), U.copy().ravel()
        Up[j] += step
        Um[j] -= step
        Fp = disc.residual(Up.reshape(U.shape), system.initial, dt, 0.0, dt)[0]
        Fm = disc.residual(Um.reshape(U.shape), system.initial, dt, 0.0, dt)[0]
        J_fd[:, j] = (Fp - Fm).ravel() / (2 * step)
    assert np.allclose(J, J_fd, rtol=1e-6, atol=1e-7 * np.abs(J).max())
    assert J.shape == (2 * N, 2 * N)
