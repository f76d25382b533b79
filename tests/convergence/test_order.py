"""observed_order and the manufactured-solution building blocks, checked independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import j1

from microdomain.verification.manufactured import J1_FIRST_ZERO, BindingMMS, Factor, Mode
from microdomain.verification.order import fit_constant, observed_order, pairwise_orders


def test_observed_order_recovers_a_power_law():
    h = np.array([0.1, 0.05, 0.025, 0.0125])
    assert observed_order(h, 3.0 * h**2) == pytest.approx(2.0, abs=1e-12)
    assert observed_order(h, 0.5 * h**1) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(pairwise_orders(h, 7 * h**1.5), 1.5, atol=1e-12)
    assert fit_constant(h, 3.0 * h**2, 2.0) == pytest.approx(3.0)


def test_observed_order_is_a_least_squares_slope():
    h = np.array([1.0, 0.5, 0.25])
    err = np.array([1.0, 0.3, 0.05])
    slope = np.polyfit(np.log(h), np.log(err), 1)[0]
    assert observed_order(h, err) == pytest.approx(slope)
    assert pairwise_orders(h, err) == pytest.approx([np.log2(1 / 0.3), np.log2(0.3 / 0.05)])


@pytest.mark.parametrize("h, err", [([0.1], [1.0]), ([0.1, 0.05], [1.0, 0.0]),
                                    ([0.1, 0.1], [1.0, 0.5]), ([0.1, 0.05], [1.0])])
def test_observed_order_refuses_bad_input(h, err):
    with pytest.raises(ValueError):
        observed_order(h, err)


def _laplacian(mode: Mode, x: np.ndarray, cylindrical: bool, eps: float = 1e-4) -> np.ndarray:
    lap = np.zeros(x.shape[1])
    for i in range(x.shape[0]):
        e = np.zeros((x.shape[0], 1))
        e[i] = eps
        second = (mode(x + e) - 2 * mode(x) + mode(x - e)) / eps**2
        lap += second
        if cylindrical and i == 0:
            lap += (mode(x + e) - mode(x - e)) / (2 * eps) / x[0]
    return lap


@pytest.mark.parametrize("mode, cylindrical", [
    (Mode((Factor(0, "cos", 1.5, 1), Factor(1, "cos", 1.0, 2))), False),
    (Mode(tuple(Factor(i, "cos", 1.0, 1) for i in range(3))), False),
    (Mode((Factor(0, "j0", 1.0), Factor(1, "cos", 2.0, 1))), True),
])
def test_modes_are_neumann_eigenfunctions(mode, cylindrical):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 0.9, size=(len(mode.factors), 50))
    np.testing.assert_allclose(-_laplacian(mode, x, cylindrical), mode.k2 * mode(x), rtol=2e-4, atol=2e-4)
    for f in mode.factors:         # zero slope on both walls of every axis
        for wall in (f.lo, f.lo + f.length):
            slope = (f(np.array([wall + 1e-7])) - f(np.array([wall - 1e-7]))) / 2e-7
            assert abs(slope[0]) < 1e-5


def test_j1_first_zero():
    assert abs(j1(J1_FIRST_ZERO)) < 1e-14


@pytest.mark.parametrize("profile", ["linear", "exp"])
def test_manufactured_source_satisfies_the_pde(profile):
    """S_c = ∂c/∂t − D_c∇²c + R and S_cb = ∂cb/∂t − D_B∇²cb − R, by finite differences."""
    mms = BindingMMS(profile=profile)
    mode = Mode((Factor(0, "cos", 1.0, 1), Factor(1, "cos", 2.0, 1)))
    x = np.random.default_rng(5).uniform(0, 1, size=(2, 40))
    t, dt = 0.3, 1e-6
    phi = mode(x)
    U = mms.exact(phi, t)
    dUdt = (mms.exact(phi, t + dt) - mms.exact(phi, t - dt)) / (2 * dt)
    lap_phi = _laplacian(mode, x, False)
    g = mms.g(t)
    lap = np.stack([mms.a * lap_phi * g, mms.beta * lap_phi * g])
    R = mms.kon * U[0] * (mms.B_total - U[1]) - mms.koff * U[1]
    expected = np.stack([dUdt[0] - mms.D_c * lap[0] + R, dUdt[1] - mms.D_B * lap[1] - R])
    np.testing.assert_allclose(mms.source(phi, mode.k2, t), expected, rtol=1e-5, atol=1e-5)


def test_linear_profile_starts_in_binding_equilibrium():
    mms = BindingMMS()
    U0 = mms.exact(np.linspace(-1, 1, 7), 0.0)
    assert np.allclose(mms.reaction(U0), 0.0, atol=1e-12)
