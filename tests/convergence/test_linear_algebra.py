"""One backward-Euler step of pure diffusion must equal an independent sparse solve of
(V/dt + T)·U1 = V/dt·U0 + g built from the assembled operator, with either linear strategy,
below and above 46 340 cells (where int32 sparse-pattern keys used to overflow, ef7453a).

Single-cell meshes and immobile buffers (an empty transport matrix) once crashed on an int64
bincount in the time loop; they run now, and these tests keep it so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from microdomain.verification.studies import build, fixed_dt, integrate, well_mixed_case

DT = 1e-4   # ms: D·dt/h² ~ 1 at the sizes below, a well-conditioned system


def _diffusion_box(nx: int, ny: int, linear: str) -> dict:
    return {"case": {"name": "step"},
            "geometry": {"builder": "box", "size": ["1 um", "1 um"], "cells": [nx, ny]},
            "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "1 uM"}],
            "time": {**fixed_dt(DT, DT), "dt": {"initial": f"{DT} ms", "max": f"{DT} ms", "min": f"{DT} ms"}},
            "solver": {"linear": linear, "newton_tol": 1e-12, "iterative_tol": 1e-12}}


def _one_step_error(nx: int, ny: int, linear: str) -> float:
    _, domain, system = build(_diffusion_box(nx, ny, linear))
    x, y = domain.cell_centers
    U0 = (1.0 + 0.5 * np.cos(np.pi * x) * np.cos(2 * np.pi * y))[None, :]
    system = dataclasses.replace(system, initial=U0)
    U1, _, _ = integrate(system, DT)
    V = domain.volumes
    A = sp.diags(V / DT) + system.transport[0]
    ref = spla.spsolve(A.tocsc(), V / DT * U0[0] + system.boundary_rhs[0])
    return float(np.max(np.abs(U1[0] - ref)) / np.max(np.abs(ref - U0[0])))


@pytest.mark.parametrize("linear", ["direct", "iterative"])
def test_one_step_matches_a_sparse_solve(linear):
    assert _one_step_error(60, 50, linear) < 1e-8


@pytest.mark.parametrize("linear", ["direct", "iterative"])
def test_one_step_matches_a_sparse_solve_above_46340_cells(linear):
    assert _one_step_error(250, 190, linear) < 1e-8          # 47 500 cells


def test_single_cell_well_mixed_compartment_runs():
    raw = well_mixed_case(0.1, 0.5)
    raw["geometry"]["cells"] = [1]
    _, _, system = build(raw)
    U, _, _ = integrate(system, 0.5)
    assert np.allclose(U.sum(axis=0), 10.0)


def test_iterative_strategy_with_an_immobile_buffer_runs():
    raw = well_mixed_case(0.1, 0.5)
    raw["buffers"][0]["D"] = "0 um**2/ms"
    raw["solver"] = {"linear": "iterative"}
    _, _, system = build(raw)
    U, _, _ = integrate(system, 0.5)
    assert np.allclose(U.sum(axis=0), 10.0)
