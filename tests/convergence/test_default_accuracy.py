"""Accuracy at the settings a user would pick: default rtol/atol, default method, adaptive steps,
against exact solutions. docs/case-files.md ("Time") quotes these figures."""

import numpy as np
import pytest
from scipy.optimize import brentq

from microdomain.units import current_to_molar_flow
from microdomain.verification import analytic
from microdomain.verification.studies import (C_INF, D_CA, SIGMA, FrameRecorder, build, channel_case,
                                              integrate, wall_cells)

DEFAULT_ACCURACY = 5e-3          # the docs' promise: within 0.5 % of the exact solution


def _box(length_um: float, cells: int, compartments=None, surfaces=None, **extra) -> dict:
    geometry = {"builder": "box", "size": [f"{length_um} um"], "cells": [cells]}
    if compartments:
        geometry["compartments"] = compartments
    if surfaces:
        geometry["surfaces"] = surfaces
    return {"case": {"name": "accuracy"}, "geometry": geometry, **extra}


def _run(raw, times):
    _, domain, system = build(raw)
    rec = FrameRecorder()
    _, _, res = integrate(system, times[-1], times, [rec])
    return domain, np.array(rec.states), res


@pytest.mark.parametrize("n", [1, 2])
def test_hill_pump_draining_a_compartment(n):
    # one well-mixed compartment (one cell) emptied through its wall by a Hill pump:
    # dc/dt = −k·cⁿ/(Kⁿ + cⁿ), k = Vmax·A/V; exact c(t) from the implicit integral, followed
    # from 10 µM down to 0.1 µM = K/10 — 1000 × atol: below that atol, not rtol, sets the
    # accuracy (backward Euler at the old defaults was +21 % below K for n = 1)
    c0, K, vmax, L = 10.0, 1.0, 0.5, 1.0            # µM, µM, µM·µm/ms, µm → k = 0.5 µM/ms
    k = vmax / L
    times = [2.0, 10.0, 20.0, 25.0, 30.0] if n == 1 else [2.0, 10.0, 20.0, 30.0, 40.0]
    raw = _box(L, 1, surfaces=[{"name": "wall", "wall": "x-"}],
               species=[{"ion": "Ca", "D": "0 um**2/ms", "initial": f"{c0} uM"}],
               fluxes=[{"model": "hill_pump", "surface": "wall", "from": "cytosol", "to": "outside",
                        "params": {"vmax": f"{vmax} uM*um/ms", "K": f"{K} uM", "n": n}}],
               time={"end": f"{times[-1]} ms", "dt": {"max": "100 ms"}})
    _, states, _ = _run(raw, times)

    def elapsed(c):        # ∫_c^c0 (Kⁿ + xⁿ)/xⁿ dx / k
        if n == 1:
            return (K * np.log(c0 / c) + (c0 - c)) / k
        return (K**2 * (1 / c - 1 / c0) + (c0 - c)) / k

    exact = np.array([brentq(lambda c: elapsed(c) - t, 1e-12, c0) for t in times])
    got = states[:, 0, 0]
    assert 0.05 < exact[-1] < 0.2 * K                 # the drain goes well below K
    assert np.max(np.abs(got / exact - 1)) < DEFAULT_ACCURACY


def test_two_compartments_exchanging_through_a_permeability():
    # cytosol | ER, each well mixed (fast diffusion over 0.5 µm), exchanging through
    # P = 0.5 µm/s: c_cyt − c_er decays as exp(−P·(1/L1 + 1/L2)·t) over 4 time constants, each
    # compartment's concentration compared (the half-cells next to the membrane add
    # δ/D = 0.025/0.22 ms/µm in series to 1/P; the diffusion inside the compartments changes the
    # rate by < 0.1 %, a 1e-4 relative change of the concentrations here)
    P, L, D, h = 0.5e-3, 0.5, 0.22, 0.05            # µm/ms, µm, µm²/ms, µm
    raw = _box(2 * L, 20, compartments=[{"name": "cytosol"}, {"name": "er", "x": [f"{L} um", f"{2 * L} um"]}],
               surfaces=[{"name": "er_membrane", "between": ["er", "cytosol"]}],
               species=[{"ion": "Ca", "D": f"{D} um**2/ms", "initial": {"cytosol": "0.1 uM", "er": "500 uM"}}],
               fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
                        "params": {"permeability": f"{P} um/ms"}}],
               time={"end": "2000 ms", "dt": {"max": "200 ms"}})
    times = [100.0, 500.0, 1000.0, 2000.0]
    domain, states, _ = _run(raw, times)
    P_eff = 1 / (1 / P + 2 * (h / 2) / D)
    rate = P_eff * (2 / L)
    mean, half = (0.1 + 500.0) / 2, (0.1 - 500.0) / 2 * np.exp(-rate * np.array(times))
    for comp, exact in (("cytosol", mean + half), ("er", mean - half)):
        got = states[:, 0, domain.compartment_mask(comp)].mean(axis=1)
        assert np.max(np.abs(got / exact - 1)) < DEFAULT_ACCURACY, comp


def test_switched_on_channel_follows_the_erfc_front():
    # one unbuffered 0.2 pA channel opens at t = 0: c − c∞ = σ/(2πDr)·erfc(r/√(4Dt)) on the
    # wall, at r = 20–200 nm and t = 10–200 µs, relative to the steady amplitude σ/(2πDr);
    # grid level 1 (1 nm at the pore) so the spatial error is well below the bound
    times = [0.01, 0.05, 0.2]
    raw = channel_case(1, size=3.0, time={"end": f"{times[-1]} ms"})
    domain, states, _ = _run(raw, times)
    idx, rc, zc = wall_cells(domain, [0.02, 0.05, 0.1, 0.2])
    rho = np.hypot(rc, zc)
    worst = 0.0
    for t, U in zip(times, states):
        exact = analytic.switched_on_source(rho, t, SIGMA, D_CA, C_INF)
        worst = max(worst, float(np.max(np.abs(U[0, idx] - exact) / (SIGMA / (2 * np.pi * D_CA * rho)))))
    assert SIGMA == pytest.approx(current_to_molar_flow(0.2, 2))
    assert worst < DEFAULT_ACCURACY
