"""The "floor": a minimal implicit algorithm for the 3D box benchmark, written from scratch with
numpy/scipy.sparse (no microdomain, no FiPy), to show what one time step costs at the least.

    python -m benchmarks.anchors.floor --n 64 --steps 5            # cost per step
    python -m benchmarks.anchors.floor --n 16 --steps 20 --check   # also error vs converged BE

Problem: Ca²⁺ + 1 mM EGTA in [0, 1]³ µm (both D = 0.22 µm²/ms; kon 0.0105 /µM/ms, koff
0.000735 /ms; 0.1 µM Ca²⁺ and the buffer in equilibrium at t = 0), a uniform n³ grid of cubes,
no-flux walls, 10 × 0.2 pA entering through the z = 0 wall faces whose centres lie within 50 nm
of (0.5, 0.5) µm — or, on grids too coarse to have any there, the faces nearest that point.

Fields are stored flat with the cell index i + n·j + n²·k (x fastest, FiPy's Grid3D order).
"""

from __future__ import annotations

import argparse
import json

from benchmarks.anchors import PA_CA, cpu_self, peak_mb_self

import numpy as np  # noqa: E402  (after the package set one BLAS thread)
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

D, KON, KOFF, BT, C0 = 0.22, 0.0105, 0.000735, 1000.0, 0.1
SIGMA = 10 * 0.2 * PA_CA                  # µM·µm³/ms into the box
CB0 = BT * C0 / (KOFF / KON + C0)         # bound buffer in equilibrium with C0


def box(n: int):
    """Operator and source of the uniform n³ grid: D·(−Δ_h) as a CSR matrix (7-point stencil;
    a wall face simply has no neighbour, which is the no-flux condition of finite volumes) and
    the channel's rate of change of concentration, µM/ms, in the cells it feeds."""
    h = 1.0 / n
    ends = np.ones(n)
    ends[1:-1] = 2.0                       # neighbours per cell along one axis
    L1 = sp.diags([-np.ones(n - 1), ends, -np.ones(n - 1)], [-1, 0, 1]) / h**2
    eye = sp.identity(n)
    lap = (sp.kron(eye, sp.kron(eye, L1)) + sp.kron(eye, sp.kron(L1, eye))
           + sp.kron(L1, sp.kron(eye, eye)))                        # x fastest
    A = (D * lap).tocsr()
    A.sort_indices()

    centres = (np.arange(n) + 0.5) * h
    X, Y = np.meshgrid(centres, centres, indexing="xy")            # [j, i]: x fastest
    dist = np.hypot(X - 0.5, Y - 0.5).ravel()
    patch = dist <= max(0.05, dist.min()) + 1e-12
    src = np.zeros(n**3)
    src[: n * n][patch] = SIGMA / (patch.sum() * h**3)             # bottom layer k = 0
    return A, src, h


def _with_diagonal(A):
    """A copy of A and the positions of its diagonal in .data, so a step can reset the diagonal
    in place instead of building a new matrix."""
    A = A.copy()
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    pos = np.flatnonzero(rows == A.indices)
    return A, pos, A.data[pos].copy()


def run_floor(n: int = 64, steps: int = 5, dt: float = 0.01, save: str | None = None,
              cg_rtol: float = 1e-6, return_fields: bool = False) -> dict:
    """Backward Euler, ONE linearised step per time step, species by species (one block
    Gauss–Seidel pass), each solve by CG + Jacobi to relative residual `cg_rtol`:

      Ca:     (1/dt + D(−Δ) + kon(B_T − cb))·δc = −F_c     with the buffer at its current value;
              F_c is linear in c for fixed cb, so this one Newton step solves it exactly.
      buffer: (1/dt + D(−Δ))·δcb = −F_b, F_b taking the binding flux kon·c(B_T − cb) − koff·cb
              with the NEW c and the same cb the Ca solve used: the very term Ca lost, so total
              Ca is conserved (to the CG tolerance). Linearising it in cb as well would add
              (kon·c + koff) to the diagonal, but then the two species see different binding
              fluxes and ~2e-4 of the Ca that entered goes missing (measured, n = 8 and 16,
              10 steps) for no gain in accuracy; dt·(kon·c + koff) < 0.05 here, so the lagged
              cb is stable.

    Both matrices are symmetric positive definite (CG applies); the systems are posed for the
    increments, so "relative residual" is relative to the step's own residual F.
    Returns cpu_s_per_step (setup excluded), setup_cpu_s, peak_mb, CG iterations, max Ca, and
    the total Ca added (for the mass check); with `save`, np.save(save, [c, cb]); with
    `return_fields`, the arrays as "c" and "cb" too (then the dict is no longer plain JSON)."""
    cpu0 = cpu_self()
    A, src, h = box(n)
    Ac, pos, lap_diag = _with_diagonal(A)
    Ab, pos_b, _ = _with_diagonal(A)
    Ab.data[pos_b] += 1.0 / dt                 # the buffer's matrix never changes
    Mb = sp.diags(1.0 / Ab.diagonal())
    c = np.full(n**3, C0)
    cb = np.full(n**3, CB0)
    iters = [0]

    def count(_):
        iters[0] += 1

    setup = cpu_self() - cpu0
    cpu0 = cpu_self()
    for _ in range(steps):
        c_old, cb_old = c, cb
        k_c = KON * (BT - cb_old)                                   # ∂(binding)/∂c
        Ac.data[pos] = lap_diag + 1.0 / dt + k_c
        F_c = A @ c_old + KON * c_old * (BT - cb_old) - KOFF * cb_old - src   # (c − c_old)/dt = 0
        Mc = sp.diags(1.0 / Ac.data[pos])                           # Jacobi
        dc, info = spla.cg(Ac, -F_c, rtol=cg_rtol, atol=0.0, M=Mc, callback=count)
        assert info == 0, f"CG (Ca) did not converge: {info}"
        c = c_old + dc
        bind = KON * c * (BT - cb_old) - KOFF * cb_old              # what Ca just lost
        F_b = A @ cb_old - bind
        dcb, info = spla.cg(Ab, -F_b, rtol=cg_rtol, atol=0.0, M=Mb, callback=count)
        assert info == 0, f"CG (buffer) did not converge: {info}"
        cb = cb_old + dcb
    step_cpu = (cpu_self() - cpu0) / max(steps, 1)
    if save:
        np.save(save, np.stack([c, cb]))
    out = {"n": n, "cells": n**3, "steps": steps, "dt_ms": dt, "cpu_s_per_step": step_cpu,
           "setup_cpu_s": setup, "cpu_s": step_cpu * steps, "cg_iterations": iters[0],
           "peak_mb": peak_mb_self(), "ca_max_uM": float(c.max()),
           "amount_added": float(((c - C0).sum() + (cb - CB0).sum()) * h**3),
           "amount_in": SIGMA * dt * steps}
    if return_fields:
        out.update(c=c, cb=cb)
    return out


def converged_be(n: int, steps: int, dt: float = 0.01, tol: float = 1e-10):
    """The same problem with backward Euler solved to convergence: full Newton on the coupled
    (c, cb) system until max|update|/|u| < tol. Each Newton system is solved by sparse LU up to
    20 000 unknowns (n ≤ 21) and beyond that by GMRES + Jacobi to relative residual 1e-13
    (the Jacobian is not symmetric, so not CG; it is well conditioned at these dt: 1/dt on the
    diagonal). SuperLU's fill-in on 3D grids makes LU impractical by n = 32 (minutes, GBs).
    Returns (c, cb) after `steps` steps: the yardstick for the floor's splitting error."""
    A, src, _ = box(n)
    N = n**3
    I = sp.identity(N, format="csr")
    c, cb = np.full(N, C0), np.full(N, CB0)
    for _ in range(steps):
        c_old, cb_old = c.copy(), cb.copy()
        for _it in range(50):
            bind = KON * c * (BT - cb) - KOFF * cb
            F = np.concatenate([(c - c_old) / dt + A @ c + bind - src,
                                (cb - cb_old) / dt + A @ cb - bind])
            d_c, d_cb = sp.diags(KON * (BT - cb)), sp.diags(-KON * c - KOFF)   # ∂bind/∂c, ∂cb
            J = sp.bmat([[I / dt + A + d_c, d_cb], [-d_c, I / dt + A - d_cb]], format="csc")
            if 2 * N <= 20_000:
                du = spla.spsolve(J, -F)
            else:
                # floor: late Newton residuals sit near round-off, 1e-13 of them is unreachable
                floor = 1e-15 * np.linalg.norm(np.concatenate([c_old, cb_old])) / dt
                du, info = spla.gmres(J, -F, rtol=1e-13, atol=floor, restart=50,
                                      M=sp.diags(1.0 / J.diagonal()))
                assert info == 0, f"GMRES did not converge: {info}"
            c, cb = c + du[:N], cb + du[N:]
            if np.max(np.abs(du) / np.abs(np.concatenate([c, cb]))) < tol:
                break
        else:
            raise RuntimeError("converged_be: Newton did not converge")
    return c, cb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64, help="cells per side")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--dt", type=float, default=0.01, help="ms")
    p.add_argument("--save", help="write the final [c, cb] (2 × n³) to this .npy file")
    p.add_argument("--check", action="store_true",
                   help="also run converged_be (not timed) and report the floor's error")
    a = p.parse_args()
    out = run_floor(a.n, a.steps, a.dt, a.save, return_fields=True)
    c, cb = out.pop("c"), out.pop("cb")
    if a.check:
        c_ref, cb_ref = converged_be(a.n, a.steps, a.dt)
        out["max_rel_err_c"] = float(np.max(np.abs(c - c_ref) / c_ref))
        out["max_err_c_over_max_c"] = float(np.max(np.abs(c - c_ref)) / c_ref.max())
        out["max_rel_err_cb"] = float(np.max(np.abs(cb - cb_ref) / cb_ref))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
