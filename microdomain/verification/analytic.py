"""Closed-form solutions for a point source of Ca²⁺ on a flat membrane (half-space) and for
well-mixed binding; internal units (µm, ms, µM; σ in µM·µm³/ms). Sources: docs/references.md.

A source on a no-flux wall is a full-space source of 2σ, hence the 2π (not 4π) below.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_bvp
from scipy.special import erfc


def resting_free_buffer(B_total: float, Kd: float, c_inf: float) -> float:
    """b∞ = B_T·Kd/(Kd + c∞): free buffer in equilibrium with the resting ion."""
    return B_total * Kd / (Kd + c_inf)


def unbuffered(r, sigma, D, c_inf):
    """Steady state without buffer: c = c∞ + σ/(2πDr)."""
    return c_inf + sigma / (2 * np.pi * D * np.asarray(r))


def excess_buffer(r, sigma, D, kon, B_total, Kd, c_inf):
    """Excess buffer approximation (Neher 1986): c∞ + σ/(2πDr)·exp(−r/λ), λ = √(D/(kon b∞))."""
    lam = np.sqrt(D / (kon * resting_free_buffer(B_total, Kd, c_inf)))
    r = np.asarray(r)
    return c_inf + sigma / (2 * np.pi * D * r) * np.exp(-r / lam)


def linearised(r, sigma, D_c, D_B, kon, koff, B_total, c_inf):
    """Linearised buffered steady state (Naraghi & Neher 1997)."""
    Kd = koff / kon
    b_inf = resting_free_buffer(B_total, Kd, c_inf)
    kappa = B_total * Kd / (Kd + c_inf) ** 2
    lam = 1 / np.sqrt(kon * b_inf / D_c + (kon * c_inf + koff) / D_B)
    r = np.asarray(r)
    return c_inf + sigma / (2 * np.pi * r * (D_c + kappa * D_B)) * (1 + kappa * D_B / D_c * np.exp(-r / lam))


def rapid_buffer(r, sigma, D_c, D_B, B_total, Kd, c_inf):
    """Rapid buffer approximation (Wagner & Keizer 1994; Smith 1996); fast buffers only."""
    b_inf = resting_free_buffer(B_total, Kd, c_inf)
    Q = D_c * c_inf + D_B * (B_total - b_inf) + sigma / (2 * np.pi * np.asarray(r))
    beta = D_c * Kd + D_B * B_total - Q
    return (-beta + np.sqrt(beta**2 + 4 * D_c * Q * Kd)) / (2 * D_c)


def switched_on_source(r, t, sigma, D, c_inf):
    """Continuous source switched on at t = 0, no buffer: c∞ + σ/(2πDr)·erfc(r/√(4Dt))."""
    r = np.asarray(r)
    return c_inf + sigma / (2 * np.pi * D * r) * erfc(r / np.sqrt(4 * D * t))


def well_mixed_bound(t, c_total, B_total, kon, koff, x0):
    """Exact [CaB](t) for dx/dt = kon(c_T − x)(B_T − x) − koff·x (Riccati equation)."""
    # roots of kon x² − (kon(c_T + B_T) + koff) x + kon c_T B_T = 0
    a, b, c = kon, -(kon * (c_total + B_total) + koff), kon * c_total * B_total
    disc = np.sqrt(b * b - 4 * a * c)
    x1, x2 = (-b - disc) / (2 * a), (-b + disc) / (2 * a)
    Q = (x0 - x1) / (x0 - x2)
    e = Q * np.exp(-kon * (x2 - x1) * np.asarray(t))
    return (x1 - x2 * e) / (1 - e)


def point_source_reference(r_eval, sigma, D, kon, koff, B_total, c_inf, a=2e-3, R=5.0, tol=1e-9):
    """Steady state of the full nonlinear problem with one buffer as mobile as the ion, around a
    hemispherical source of radius `a` with a bath (c∞, b∞) at r = R; spherical symmetry.

    An independent reference where no closed form holds (a fast buffer, partly saturated near
    the source). Equal mobilities make total ion exact: (c − c∞) + (cb − cb∞) = W(r) =
    σ/(2πD)·(1/r − 1/R), so b = b∞ − W + (c − c∞) and one ODE remains,
    D(c'' + 2c'/r) = kon·c·b − koff·(B_T − b),  −D c'(a) = σ/(2πa²),  c(R) = c∞,
    solved by collocation (scipy solve_bvp) on a log-spaced mesh.
    """
    b_inf = resting_free_buffer(B_total, koff / kon, c_inf)
    W = lambda r: sigma / (2 * np.pi * D) * (1 / r - 1 / R)  # noqa: E731

    def rhs(r, y):
        c, dc = y
        b = b_inf - W(r) + (c - c_inf)
        return np.vstack([dc, (kon * c * b - koff * (B_total - b)) / D - 2 * dc / r])

    def bc(ya, yb):
        return np.array([D * ya[1] + sigma / (2 * np.pi * a * a), yb[0] - c_inf])

    r = np.geomspace(a, R, 400)
    lam = np.sqrt(D / (kon * b_inf))
    guess = c_inf + sigma / (2 * np.pi * D * r) * np.exp(-(r - a) / lam)
    sol = solve_bvp(rhs, bc, r, np.vstack([guess, np.gradient(guess, r)]), tol=tol, max_nodes=200_000)
    if not sol.success:
        raise RuntimeError(f"reference solve failed: {sol.message}")
    return sol.sol(np.asarray(r_eval))[0]


def disk_source(r, z, sigma, D, a, c_inf=0.0):
    """Unbuffered steady state around a disk of radius `a` on a no-flux wall (z = 0) that lets
    in a molar flow σ spread evenly over it (flux density σ/(πa²)): the exact solution of the
    problem a `channel_cluster` on a disk-shaped patch poses, with a bath at infinity.

        c − c∞ = σ/(π a²)/(2πD) ∫_disk dA'/|x − x'|
               = σ/(2π² a² D) ∫_0^a 4ρ K(m)/√((r+ρ)² + z²) dρ,   m = 4rρ/((r+ρ)² + z²),

    (K the complete elliptic integral of the first kind, parameter m). Far away it tends to
    σ/(2πDρ), ρ = √(r² + z²); at r = 10a on the wall it is larger by ~a²/(8r²) = 0.125 %.
    """
    from scipy.integrate import quad
    from scipy.special import ellipk

    r_arr, z_arr = np.broadcast_arrays(np.asarray(r, float), np.asarray(z, float))
    out = np.empty(r_arr.shape)
    for idx in np.ndindex(r_arr.shape):
        ri, zi = float(r_arr[idx]), float(z_arr[idx])

        def f(rho, ri=ri, zi=zi):
            s2 = (ri + rho) ** 2 + zi * zi
            return 4 * rho * ellipk(4 * ri * rho / s2) / np.sqrt(s2)

        if 0 < ri < a:      # log singularity of K at ρ = r on the disk itself: split there
            val = sum(quad(f, lo, hi, epsabs=0.0, epsrel=1e-9, limit=200)[0]
                      for lo, hi in ((0.0, ri), (ri, a)))
        else:
            val = quad(f, 0.0, a, epsabs=0.0, epsrel=1e-12, limit=200)[0]
        out[idx] = val
    return c_inf + sigma / (2 * np.pi**2 * a * a * D) * out
