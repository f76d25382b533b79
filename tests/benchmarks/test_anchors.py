"""Fast checks of the benchmark's independent anchors (benchmarks/anchors). CalC tests run only
when MICRODOMAIN_CALC points to a CalC binary."""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from benchmarks.anchors import floor, references
from benchmarks.anchors.references import OCTANT, octant_reference, octant_solve, radial_faces

OCTANT_R = np.array(references.OCTANT_PROBES_UM)


# ------------------------------------------------------------------------------ references --

def test_octant_reference_matches_linearised_far_field():
    """Steady state (300 ms ≫ the ~18 ms slowest time) of a weak source (σ/100: binding stays
    linear) on the coarse base grid against the linearised buffered solution with the bath at
    R (Naraghi & Neher 1997; its slow mode 1/r − 1/R vanishes at the bath): within 0.05 % of
    the excess over 0.1 µM at r = 0.1–0.5 µm (measured: ≤ 0.02 %)."""
    p = OCTANT
    sigma = p["sigma"] / 100
    rc, c, _, _ = octant_solve(radial_faces(), t_end=300.0, sigma=sigma)
    excess = CubicSpline(rc, c)(OCTANT_R) - p["c_inf"]
    kon = p["koff"] / p["Kd"]
    b_inf = p["B_total"] * p["Kd"] / (p["Kd"] + p["c_inf"])
    kappa = p["B_total"] * p["Kd"] / (p["Kd"] + p["c_inf"]) ** 2
    lam = 1 / np.sqrt(kon * b_inf / p["Dc"] + (kon * p["c_inf"] + p["koff"]) / p["Db"])
    r = OCTANT_R
    linear = sigma / (4 * np.pi * (p["Dc"] + kappa * p["Db"])) * (
        (1 / r - 1 / p["R"]) + kappa * p["Db"] / p["Dc"] * np.exp(-r / lam) / r)
    np.testing.assert_allclose(excess, linear, rtol=5e-4)


def test_octant_reference_coarse_grid_agrees():
    """The base grid (1–5 nm) against the default (4× finer) at 20 ms: Ca within 1e-5
    relative, the excess within 0.05 % (measured: 4e-6 and 0.02 %)."""
    coarse, fine = octant_reference(refine=0), octant_reference()
    np.testing.assert_allclose(coarse, fine, rtol=1e-5)
    np.testing.assert_allclose(coarse - 0.1, fine - 0.1, rtol=5e-4)


def test_nanodomain_reference_matches_microdomain_collocation():
    """Our radial ODE and microdomain's closed-form module (an independent implementation of
    the same reduction) agree for the same source radius and bath radius."""
    from microdomain.verification.analytic import point_source_reference

    r = np.array([0.02, 0.05, 0.1, 0.2])
    R = references.bath_radius(3.0, 3.0)
    ours = references.nanodomain_reference(r, R=R, a=2e-3)
    p = references.NANO
    theirs = point_source_reference(r, p["sigma"], p["D"], p["kon"], p["koff"], p["B_total"],
                                    p["c_inf"], a=2e-3, R=R)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7)


def test_bath_radius_value_and_slab_limit():
    """R_eff of the 3 µm × 3 µm cylinder (checked once against a finite-volume Laplace solve,
    see bath_radius), and a very wide cylinder tends to the slab's H/ln 2."""
    assert references.bath_radius(3.0, 3.0) == pytest.approx(3.258438, rel=1e-6)
    assert references.bath_radius(1e3, 3.0) == pytest.approx(3.0 / np.log(2), rel=1e-9)


# ---------------------------------------------------------------------------------- floor --

def test_floor_conserves_mass():
    """Total Ca added (free + bound, no-flux walls) = 10 channels × 0.2 pA × time, to the CG
    tolerance (1e-6 relative residual: within 1e-6), and exactly with a tight CG."""
    out = floor.run_floor(n=4, steps=10, dt=0.01)
    assert out["amount_added"] == pytest.approx(out["amount_in"], rel=1e-6)
    tight = floor.run_floor(n=4, steps=10, dt=0.01, cg_rtol=1e-12)
    assert tight["amount_added"] == pytest.approx(tight["amount_in"], rel=1e-10)
    assert out["amount_in"] == pytest.approx(10 * 0.2 * 5.182134828 * 0.1, rel=1e-9)


def test_floor_close_to_converged_backward_euler():
    """One Gauss–Seidel pass per step against fully converged BE at n = 8 (measured 1.8e-4)."""
    out = floor.run_floor(n=8, steps=10, dt=0.01, return_fields=True)
    c_ref, cb_ref = floor.converged_be(8, 10, 0.01)
    assert np.max(np.abs(out["c"] - c_ref) / c_ref) < 1e-3
    assert np.max(np.abs(out["cb"] - cb_ref) / cb_ref) < 1e-3


# ----------------------------------------------------------------------------- naive FiPy --

def test_naive_fipy_coarse_profile_decreases():
    from benchmarks.anchors.naive_fipy import run_naive

    out = run_naive(h_min=0.004, growth=1.3, h_max=0.4)
    ca = np.array(out["ca_uM"])
    assert np.all(np.diff(ca) < 0) and ca[-1] > 0.1
    ref = references.nanodomain_reference(np.array(out["r_um"]))
    np.testing.assert_allclose(ca, ref, rtol=0.2)      # coarse: right to tens of %, not better


# ---------------------------------------------------------------------------------- CalC --

CALC = os.environ.get("MICRODOMAIN_CALC")
needs_calc = pytest.mark.skipif(not (CALC and os.access(CALC, os.X_OK)),
                                reason="set MICRODOMAIN_CALC to a CalC binary")


@needs_calc
def test_calc_nanodomain_runs_and_is_close():
    from benchmarks.anchors import calc

    out = calc.nanodomain(CALC, N=60)            # ~0.2 CPU s; measured 0.21 % at 50–200 nm
    assert out["cpu_s"] > 0 and out["peak_mb"] > 0
    assert out["max_rel_err_50_200nm"] < 5e-3


@needs_calc
def test_calc_spherical_agrees_with_octant_reference():
    from benchmarks.anchors import calc

    out = calc.spherical(CALC)                   # measured ≤ 0.01 % of the excess
    assert out["max_excess_rel_err"] < 5e-4


@needs_calc
def test_calc_octant_profile_parsed():
    from benchmarks.anchors import calc

    out = calc.octant(CALC, 20)                  # coarse: measured 16.6 %
    assert len(out["x_um"]) >= 3
    assert 0.05 < out["max_excess_rel_err"] < 0.3
