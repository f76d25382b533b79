"""Cost of one implicit step: microdomain (FiPy-assembled operator, cached) against a plain
scipy.sparse implementation of the same discretisation and the same algorithm, written here
independently for the comparison (the "floor"), and FiPy's own per-step term path.

    python benchmarks/step_cost.py                 # 64³ box + the EGTA nanodomain mesh
    python benchmarks/step_cost.py --n 32 --steps 3

Every variant runs in its own process (peak memory = that process's max RSS), side by side in
one invocation, so machine noise hits them alike. Prints a table and writes JSON next to it.
Problem: Ca²⁺ + 1 mM EGTA (mobile, D = 220 µm²/s), a channel cluster on one wall, fixed dt.
"""

from __future__ import annotations

import os

# same BLAS threading for every variant (microdomain sets one thread on import; see its __init__)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

D = 0.22                         # µm²/ms, Ca²⁺ and EGTA
KON, KOFF, BT, C0 = 0.0105, 0.000735, 1000.0, 0.1
SIGMA = 10 * 0.2 * 5.182134828  # µM·µm³/ms: 10 channels × 0.2 pA (see units.current_to_molar_flow)
NEWTON_TOL, CG_TOL, ATOL = 1e-9, 1e-10, 1e-4
ROOT = Path(__file__).resolve().parents[1]


def box_case(n: int, dt: float, steps: int) -> dict:
    return {
        "case": {"name": "bench_box"},
        "geometry": {"builder": "box", "size": ["1 um"] * 3, "cells": [n] * 3,
                     "surfaces": [{"name": "ch", "wall": "z-", "center": ["0.5 um", "0.5 um", "0 um"],
                                   "radius": "50 nm"}]},
        "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
        "buffers": [{"name": "EGTA", "in": "cytosol", "total": "1 mM", "D": "220 um**2/s",
                     "sites": [{"ion": "Ca", "kon": "10.5 /uM/s", "koff": "0.735 /s"}]}],
        "fluxes": [{"model": "channel_cluster", "surface": "ch", "from": "outside", "to": "cytosol",
                    "params": {"channels": 10, "unitary_current": "0.2 pA"}}],
        "time": {"end": f"{dt * steps} ms", "dt": {"initial": f"{dt} ms", "max": f"{dt} ms"},
                 "rtol": 1e9, "atol": f"{ATOL} uM"},
        "solver": {"linear": "iterative", "newton_tol": NEWTON_TOL, "iterative_tol": CG_TOL},
    }


# ------------------------------------------------------------------------------ microdomain --

def run_microdomain(raw: dict, steps: int) -> dict:
    from microdomain.case import case_from_dict

    return _time_case(lambda: case_from_dict(raw))


def _time_case(make_case) -> dict:
    """Set a case up (mesh, FiPy operator), then time its steps alone."""
    from microdomain.assembly import build_system
    from microdomain.mesh import build_domain
    from microdomain.solver import Stepper

    t0 = time.perf_counter()
    case = make_case()
    system = build_system(case, build_domain(case.builder.build(case.geometry)))
    stepper = Stepper(system, [])
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    U, _, _ = stepper.run(case.time.end, [case.time.end])
    wall = time.perf_counter() - t0
    return {"cells": system.n_cells, "steps": stepper.counters.steps, "setup_s": setup,
            "step_s": wall / stepper.counters.steps, "iterations": stepper.counters.newton_iterations,
            "ca_max": float(U[0].max())}


# ---------------------------------------------------------------------------- plain scipy --

def _laplacian_1d(n, coeff):
    import scipy.sparse as sp
    main = np.full(n, 2.0)
    main[0] = main[-1] = 1.0
    return coeff * sp.diags([-np.ones(n - 1), main, -np.ones(n - 1)], [-1, 0, 1])


def run_floor_box(n: int, dt: float, steps: int) -> dict:
    """Same FV discretisation on a uniform n³ grid: T = D·h·(7-point stencil), V = h³; same
    block Gauss–Seidel over (c, bound) with CG + Jacobi per block, same stopping rules."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    t0 = time.perf_counter()
    h = 1.0 / n
    V = h**3
    eye = sp.identity(n, format="csr")
    L1 = _laplacian_1d(n, D * h)
    T = (sp.kron(sp.kron(eye, eye), L1) + sp.kron(sp.kron(eye, L1), eye)
         + sp.kron(sp.kron(L1, eye), eye)).tocsr()
    x = (np.arange(n) + 0.5) * h
    X, Y = np.meshgrid(x, x, indexing="ij")
    in_patch = ((X - 0.5) ** 2 + (Y - 0.5) ** 2 <= 0.05**2).ravel(order="F")   # bottom layer, x fastest
    source = np.zeros(n**3)
    source[: n * n][in_patch] = SIGMA / in_patch.sum()
    kd = KOFF / KON
    c = np.full(n**3, C0)
    cb = np.full(n**3, BT * C0 / (kd + C0))
    diag_pos = np.arange(n**3)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    sweeps_total = 0
    for _ in range(steps):
        c_old, cb_old = c.copy(), cb.copy()
        for sweep in range(1, 41):
            changes = []
            for which in ("c", "cb"):
                r = KON * c * (BT - cb) - KOFF * cb
                if which == "c":
                    F = V * (c - c_old) / dt + T @ c + V * r - source
                    d = V / dt + V * KON * (BT - cb)
                else:
                    F = V * (cb - cb_old) / dt + T @ cb - V * r
                    d = V / dt + V * (KON * c + KOFF)
                A = T + sp.diags(d)
                u = c if which == "c" else cb
                diag_A = A.diagonal()
                floor = CG_TOL * np.sqrt(np.mean((diag_A * (np.abs(u) + ATOL)) ** 2))
                step, info = spla.cg(A, -F, rtol=CG_TOL, atol=floor, M=sp.diags(1.0 / diag_A))
                assert info == 0
                if which == "c":
                    c = c + step
                    changes.append(np.max(np.abs(step) / (ATOL + np.abs(c))))
                else:
                    cb = cb + step
                    changes.append(np.max(np.abs(step) / (ATOL + np.abs(cb))))
            if max(changes) < NEWTON_TOL:
                break
        sweeps_total += sweep
    wall = time.perf_counter() - t0
    del diag_pos
    return {"cells": n**3, "steps": steps, "setup_s": setup, "step_s": wall / steps,
            "iterations": sweeps_total, "ca_max": float(c.max())}


# --------------------------------------------------------------------------- FiPy per step --

def run_fipy_terms(n: int, dt: float, steps: int) -> dict:
    """The hand-written FiPy script: terms and matrices rebuilt every step, Ca and buffer solved
    one after the other (faster than FiPy's coupled `&`), CG with a set tolerance."""
    import fipy as fp

    t0 = time.perf_counter()
    mesh = fp.Grid3D(nx=n, ny=n, nz=n, dx=1.0 / n, dy=1.0 / n, dz=1.0 / n)
    kd = KOFF / KON
    c = fp.CellVariable(mesh=mesh, value=C0, hasOld=True)
    cb = fp.CellVariable(mesh=mesh, value=BT * C0 / (kd + C0), hasOld=True)
    fx, fy, fz = mesh.faceCenters
    patch = (np.asarray(fz) < 1e-12) & (((fx - 0.5) ** 2 + (fy - 0.5) ** 2) <= 0.05**2)   # z = 0 wall
    j = SIGMA / float(np.sum(np.asarray(mesh._faceAreas)[np.asarray(patch)]))
    influx = fp.FaceVariable(mesh=mesh, value=0.0)
    influx.setValue(j, where=patch)
    solver = fp.LinearCGSolver(tolerance=CG_TOL, criterion="initial")
    eq_c = (fp.TransientTerm(var=c) == fp.DiffusionTerm(D, var=c)
            - fp.ImplicitSourceTerm(KON * (BT - cb), var=c) + KOFF * cb
            + (influx * mesh.faceNormals).divergence)   # exterior normals point out: +j enters
    eq_b = (fp.TransientTerm(var=cb) == fp.DiffusionTerm(D, var=cb)
            - fp.ImplicitSourceTerm(KON * c + KOFF, var=cb) + KON * c * BT)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        c.updateOld()
        cb.updateOld()
        for _sweep in range(3):
            eq_c.sweep(var=c, dt=dt, solver=solver)
            eq_b.sweep(var=cb, dt=dt, solver=solver)
    wall = time.perf_counter() - t0
    return {"cells": n**3, "steps": steps, "setup_s": setup, "step_s": wall / steps,
            "iterations": 3 * steps, "ca_max": float(np.max(c.value))}


# ------------------------------------------------------------------------- nanodomain (2D) --

def run_microdomain_nanodomain(steps: int, dt: float) -> dict:
    import dataclasses

    from microdomain.case import load_case

    def make_case():
        case = load_case(ROOT / "cases" / "nanodomain_egta.toml")
        return dataclasses.replace(case, time=case.time.model_copy(update={
            "end": dt * steps, "rtol": 1e9, "steady_state": None,
            "dt": case.time.dt.model_copy(update={"initial": dt, "max": dt})}))

    return _time_case(make_case)


def run_floor_nanodomain(steps: int, dt: float) -> dict:
    """The EGTA case's graded cylindrical grid, assembled by hand (volumes r·dr·dz, areas r·dz and
    r·dr, Dirichlet bath at r = R and z = H), full Newton with SuperLU, the same chord reuse."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from microdomain.case import load_case

    case = load_case(ROOT / "cases" / "nanodomain_egta.toml")
    t0 = time.perf_counter()
    geo = case.builder.build(case.geometry)           # node coordinates only
    rn, zn = geo.nodes
    dr, dz = np.diff(rn), np.diff(zn)
    rc, zc = 0.5 * (rn[1:] + rn[:-1]), 0.5 * (zn[1:] + zn[:-1])
    nr, nz = rc.size, zc.size
    N = nr * nz
    idx = lambda i, k: i + k * nr  # noqa: E731  (r fastest)
    R, Zc = np.meshgrid(rc, zc, indexing="ij")
    DR, DZ = np.meshgrid(dr, dz, indexing="ij")
    V = (R * DR * DZ).ravel(order="F")
    rows, cols, vals = [], [], []
    g = np.zeros(N)
    kd = KOFF / KON
    for i in range(nr):                      # faces between r-neighbours, and the bath at R
        for k in range(nz):
            p = idx(i, k)
            if i + 1 < nr:
                coeff = D * rn[i + 1] * dz[k] / (rc[i + 1] - rc[i])
                q = idx(i + 1, k)
                rows += [p, q, p, q]
                cols += [p, q, q, p]
                vals += [coeff, coeff, -coeff, -coeff]
            else:
                coeff = D * rn[-1] * dz[k] / (rn[-1] - rc[i])
                rows.append(p)
                cols.append(p)
                vals.append(coeff)
                g[p] += coeff
            if k + 1 < nz:
                coeff = D * rc[i] * dr[i] / (zc[k + 1] - zc[k])
                q = idx(i, k + 1)
                rows += [p, q, p, q]
                cols += [p, q, q, p]
                vals += [coeff, coeff, -coeff, -coeff]
            else:
                coeff = D * rc[i] * dr[i] / (zn[-1] - zc[k])
                rows.append(p)
                cols.append(p)
                vals.append(coeff)
                g[p] += coeff
    T = sp.csr_matrix((vals, (rows, cols)), shape=(N, N))
    cb_inf = BT * C0 / (kd + C0)
    g_c, g_b = g * C0, g * cb_inf
    patch = rn[1:] <= 0.002 + 1e-12                    # bottom faces of the 2 nm pore
    src = np.zeros(N)
    area = rc[patch] * dr[patch]
    src[np.flatnonzero(patch)] = 0.2 * 5.182134828 / (2 * np.pi) * area / area.sum()
    c = np.full(N, C0)
    cb = np.full(N, cb_inf)
    Tblock = sp.block_diag([T, T], format="csc")
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    iterations = 0
    lu = None
    for _ in range(steps):
        c_old, cb_old = c.copy(), cb.copy()
        lu, last = None, np.inf
        for it in range(1, 13):
            r = KON * c * (BT - cb) - KOFF * cb
            F = np.concatenate([V * (c - c_old) / dt + T @ c - g_c + V * r - src,
                                V * (cb - cb_old) / dt + T @ cb - g_b - V * r])
            if lu is None:
                dc_c, dc_b = KON * (BT - cb), -(KON * c + KOFF)
                J = Tblock + sp.bmat([[sp.diags(V / dt + V * dc_c), sp.diags(-V * dc_b)],
                                      [sp.diags(-V * dc_c), sp.diags(V / dt + V * dc_b * -1)]],
                                     format="csc")
                lu = spla.splu(J, permc_spec="MMD_AT_PLUS_A")
            step = lu.solve(-F)
            c, cb = c + step[:N], cb + step[N:]
            norm = np.max(np.abs(step) / (ATOL + np.abs(np.concatenate([c, cb]))))
            if norm < NEWTON_TOL:
                break
            if np.max(np.abs(step)) > 0.1 * last:
                lu = None
            last = np.max(np.abs(step))
        iterations += it
    wall = time.perf_counter() - t0
    return {"cells": N, "steps": steps, "setup_s": setup, "step_s": wall / steps,
            "iterations": iterations, "ca_max": float(c.max())}


# ---------------------------------------------------------------------------------- driver --

WORKERS = {
    "box:microdomain": lambda a: run_microdomain(box_case(a.n, a.dt, a.steps), a.steps),
    "box:scipy_floor": lambda a: run_floor_box(a.n, a.dt, a.steps),
    "box:fipy_terms_per_step": lambda a: run_fipy_terms(a.n, a.dt, a.steps),
    "nanodomain:microdomain": lambda a: run_microdomain_nanodomain(a.steps, a.dt2),
    "nanodomain:scipy_floor": lambda a: run_floor_nanodomain(a.steps, a.dt2),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64, help="box cells per side")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--dt", type=float, default=0.01, help="box step, ms")
    p.add_argument("--dt2", type=float, default=0.01, help="nanodomain step, ms")
    p.add_argument("--skip-fipy", action="store_true", help="skip FiPy's per-step term path")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        out = WORKERS[a.worker](a)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    results = {}
    for name in WORKERS:
        if a.skip_fipy and "fipy" in name:
            continue
        cmd = [sys.executable, __file__, "--worker", name, "--n", str(a.n), "--steps", str(a.steps),
               "--dt", str(a.dt), "--dt2", str(a.dt2)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{name} failed:\n{proc.stderr}", file=sys.stderr)
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{'variant':<28}{'cells':>9}{'s/step':>10}{'cell-steps/s':>14}{'iters':>7}{'peak MB':>9}"
          f"{'max Ca uM':>11}")
    for name, r in results.items():
        print(f"{name:<28}{r['cells']:>9}{r['step_s']:>10.4f}{r['cells'] / r['step_s']:>14.3g}"
              f"{r['iterations']:>7}{r['peak_rss_mb']:>9.0f}{r['ca_max']:>11.4g}")
    for problem in ("box", "nanodomain"):
        ours, floor = results.get(f"{problem}:microdomain"), results.get(f"{problem}:scipy_floor")
        if ours and floor:
            print(f"{problem}: microdomain / scipy floor = {ours['step_s'] / floor['step_s']:.2f}x per step, "
                  f"{ours['peak_rss_mb'] / floor['peak_rss_mb']:.2f}x peak memory")
    fipy = results.get("box:fipy_terms_per_step")
    if fipy and results.get("box:microdomain"):
        print(f"box: FiPy terms per step / microdomain = "
              f"{fipy['step_s'] / results['box:microdomain']['step_s']:.1f}x per step")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"step_cost_n{a.n}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
