"""The stage Jacobian is filled into a fixed sparsity pattern in place; check what is filled
against finite differences of the residual, and the linear solvers against a direct solve."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from microdomain.assembly import build_system
from microdomain.case import case_from_dict
from microdomain.mesh import build_domain
from microdomain.solver.jacobian import JacobianPattern
from microdomain.solver.linear import DirectLU, Krylov
from microdomain.solver.membrane import GateStage
from microdomain.solver.residual import Residual, Stage
from microdomain.solver.state import Counters

from tests.helpers import small_case


def _system(**overrides):
    case = case_from_dict(small_case(**overrides))
    return build_system(case, build_domain(case.builder.build(case.geometry)))


def _stage(U_known, c):
    return Stage(c, 0.0, known=U_known, gates=GateStage({}, {}, c))


PUMP_AND_LEAK = [
    {"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
     "params": {"permeability": "5 um/s"}},
    {"model": "hill_pump", "surface": "er_membrane", "from": "cytosol", "to": "er", "label": "pump",
     "params": {"vmax": "2 uM*um/ms", "K": "0.5 uM", "n": 2}},
]


def test_pattern_beyond_int32_keys_holds_transport_plus_diagonal():
    # 36³ = 46 656 cells: row·N keys exceed 2³¹, the size where int32 index arithmetic broke
    system = _system(geometry={"builder": "box", "size": ["1 um"] * 3, "cells": [36] * 3,
                               "compartments": [{"name": "cytosol"}], "surfaces": []},
                     species=[{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}], buffers=[])
    res = Residual(system)
    pattern = JacobianPattern(system, res.pairs)
    ev = res.evaluate(system.initial, _stage(system.initial, 1.0), lambda b: True)
    A = pattern.matrix(res.V, 1.0, ev.jac_R, ev.entries)
    expected = system.transport[0] + sp.diags(system.domain.volumes)
    assert abs(A - expected).max() < 1e-12 * abs(expected).max()


@pytest.mark.parametrize("membrane", ["face", "cell"])
def test_stage_jacobian_equals_finite_differences(membrane):
    system = _system(fluxes=PUMP_AND_LEAK, solver={"membrane": membrane})
    res = Residual(system)
    pattern = JacobianPattern(system, res.pairs)
    U, c = system.initial * 1.1, 0.01
    stage = _stage(system.initial, c)
    active = lambda b: True  # noqa: E731
    ev = res.evaluate(U, stage, active)
    J = pattern.matrix(res.V, c, ev.jac_R, ev.entries).toarray()
    J_fd = np.zeros_like(J)
    for j in range(U.size):
        step = 1e-6 * max(abs(U.ravel()[j]), 1.0)       # F ~ 1e3: smaller steps drown in round-off
        Up, Um = U.copy().ravel(), U.copy().ravel()
        Up[j] += step
        Um[j] -= step
        Fp = res.evaluate(Up.reshape(U.shape), stage, active, want_jacobian=False).F
        Fm = res.evaluate(Um.reshape(U.shape), stage, active, want_jacobian=False).F
        J_fd[:, j] = (Fp - Fm).ravel() / (2 * step)
    assert np.allclose(J, J_fd, rtol=1e-6, atol=1e-7 * np.abs(J).max())
    N = system.n_cells
    assert J.shape == (2 * N, 2 * N)


@pytest.mark.parametrize("solver", [DirectLU, Krylov])
def test_linear_solvers_match_a_dense_solve_and_conserve(solver):
    system = _system(fluxes=PUMP_AND_LEAK)
    res = Residual(system)
    pattern = JacobianPattern(system, res.pairs)
    c = 0.05
    ev = res.evaluate(system.initial, _stage(system.initial, c), lambda b: True)
    counters = Counters()
    lin = solver(res, pattern, counters) if solver is DirectLU else \
        solver(res, pattern, counters, rtol=1e-10, choice="amg")
    lin.prepare(c, ev, refresh=False)
    rhs = np.random.default_rng(1).normal(size=system.initial.shape)
    x = lin.solve(rhs)
    A = pattern.matrix(res.V, c, ev.jac_R, ev.entries)
    exact = spla.spsolve(A.tocsc(), rhs.ravel()).reshape(rhs.shape)
    assert np.max(np.abs(x - exact)) < 1e-8 * np.max(np.abs(exact))
    assert counters.factorisations == 1
