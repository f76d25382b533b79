"""The floor's 3D box problem integrated accurately in time: the yardstick for time error.

    python -m benchmarks.anchors.box_ode --n 64 --t-end 0.05 --save exact.npy

anchors/floor.py takes backward-Euler steps, and floor.converged_be solves them exactly; both
carry BE's own time error (first order: 28 % of Ca near the channel after 5 steps of 0.01 ms at
n = 16, halving with dt — 16 %, 8.3 %, 4.3 % — and 34 % at n = 64). This module integrates the
same semi-discrete problem — floor.box's operator and source, the same reaction — with an
explicit high-order Runge–Kutta method (scipy's DOP853) at a tight tolerance, so a method's
deviation from it is its time error alone, on identical space discretisation.

Why explicit: the fastest decay rates (diffusion across a cell, ~12·D/h² ≈ 1.1e4 /ms at n = 64,
and binding, kon·B_free ≈ 4 /ms) make DOP853 stability-limited: 1505 right-hand sides to
0.05 ms at n = 64 (12 CPU s), each a handful of sparse products, with no factorisation of a 3D
system. The tolerance (rtol 1e-10, atol 1e-10 µM) leaves it far below every error compared
(rtol 1e-8 and 1e-10 agree to 1e-9 relative on Ca at n = 16 and at n = 64).
"""

from __future__ import annotations

import argparse
import json

from benchmarks.anchors import cpu_self, peak_mb_self

import numpy as np  # noqa: E402  (after the package set one BLAS thread)
from scipy.integrate import solve_ivp  # noqa: E402

from benchmarks.anchors.floor import BT, C0, CB0, KOFF, KON, box  # noqa: E402


def box_ode(n: int, t_end: float, rtol: float = 1e-10, atol: float = 1e-10):
    """(c, cb, stats) at t_end from equilibrium at t = 0, the channel on throughout."""
    A, src, _ = box(n)
    N = n**3

    def rhs(t, y):
        c, cb = y[:N], y[N:]
        bind = KON * c * (BT - cb) - KOFF * cb
        return np.concatenate([-(A @ c) - bind + src, -(A @ cb) + bind])

    y0 = np.concatenate([np.full(N, C0), np.full(N, CB0)])
    sol = solve_ivp(rhs, (0.0, t_end), y0, method="DOP853", rtol=rtol, atol=atol,
                    t_eval=[t_end])
    if not sol.success:
        raise RuntimeError(f"box_ode: {sol.message}")
    return sol.y[:N, -1], sol.y[N:, -1], {"nfev": int(sol.nfev)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64, help="cells per side")
    p.add_argument("--t-end", type=float, default=0.05, help="ms")
    p.add_argument("--rtol", type=float, default=1e-10)
    p.add_argument("--save", help="write the final [c, cb] (2 × n³) to this .npy file")
    a = p.parse_args()
    cpu0 = cpu_self()
    c, cb, stats = box_ode(a.n, a.t_end, a.rtol)
    out = {"n": a.n, "t_end_ms": a.t_end, "rtol": a.rtol, **stats, "cpu_s": cpu_self() - cpu0,
           "peak_mb": peak_mb_self(), "ca_max_uM": float(c.max())}
    if a.save:
        np.save(a.save, np.stack([c, cb]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
