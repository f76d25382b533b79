"""The script a FiPy user would write for the steady EGTA nanodomain, from FiPy's documentation
alone (no microdomain): what the benchmark compares microdomain's cost and accuracy against.

    python -m benchmarks.anchors.naive_fipy                    # 1 nm at the pore, 5 %/cell
    python -m benchmarks.anchors.naive_fipy --h-min 0.002 --growth 1.07
    python -m benchmarks.anchors.naive_fipy --dt0 0.001        # step up from 1 µs instead

Physics as cases/nanodomain_egta.toml: 0.2 pA of Ca²⁺ through a 2 nm disk at the centre of a
no-flux wall (z = 0), 1 mM EGTA (D 0.22 µm²/ms for both, kon 0.0105 /µM/ms, koff 0.000735 /ms),
bath (0.1 µM, buffer in equilibrium) at r = 3 µm and z = 3 µm, run to steady state.

Error at 50–200 nm against references.nanodomain_reference (max over 50, 100, 200 nm; the
2 nm disk itself accounts for ~+0.02 % at 50 nm). CPU s = mesh, terms and solves (importing
FiPy adds ~0.2 s), one thread on the shared 2-core machine (repeat runs vary by ~20 %):

    h_min   growth  h_max   cells   CPU s   peak MB   error
    1 nm    1.10    100 nm   4761    1.4     133      0.17 %
    1 nm    1.07    100 nm   7056    1.6     145      0.093 %
    2 nm    1.07    100 nm   5476    1.6     137      0.063 %
    1 nm    1.05    100 nm  11025    2.2     168      0.055 %   (default)
    0.5 nm  1.05     50 nm  18225    3.6     211      0.067 %   (cases/nanodomain_egta.toml)
    1 nm    1.03    100 nm  23409    5.8     243      0.028 %

The error grows with the growth factor (roughly ∝ growth − 1); h_max barely matters for
r ≤ 200 nm. Coarse first cells (2–4 nm) pull the other way, so some coarse settings look
better than they are by cancellation (4 nm/1.07: 0.040 % at 50–200 nm but −0.54 % at 20 nm).
"""

from __future__ import annotations

import argparse
import json

from benchmarks.anchors import PA_CA, cpu_self, peak_mb_self

import numpy as np  # noqa: E402  (after the package set one BLAS thread)
from scipy.interpolate import CubicSpline  # noqa: E402

D, KON, KOFF, BT, C0 = 0.22, 0.0105, 0.000735, 1000.0, 0.1
CB0 = BT * C0 / (KOFF / KON + C0)
SIGMA = 0.2 * PA_CA                       # µM·µm³/ms
PROBES_UM = (0.02, 0.05, 0.1, 0.2)


def graded(h_min: float, growth: float, h_max: float, length: float = 3.0) -> np.ndarray:
    """Cell sizes from the pore outwards: h_min growing by `growth` per cell up to h_max, the
    last cell trimmed to end at `length` (a careful user grades toward the pore)."""
    sizes, total, h = [], 0.0, h_min
    while total + h < length - 1e-12:
        sizes.append(h)
        total += h
        h = min(h * growth, h_max)
    sizes.append(length - total)
    return np.array(sizes)


def run_naive(h_min=0.001, growth=1.05, h_max=0.1, source_radius=0.002, dt0=1e4,
              dt_growth=2.0, dt_max=1e4, sweep_tol=1e-9, steady_tol=1e-9) -> dict:
    """Build the FiPy problem, step to steady state and return Ca at the probes with the CPU
    seconds spent on mesh, terms and solves (`cpu_s`) and on importing FiPy (`import_cpu_s`)."""
    cpu0 = cpu_self()
    import fipy as fp

    import_cpu = cpu_self() - cpu0
    cpu0 = cpu_self()

    dr = graded(h_min, growth, h_max)
    mesh = fp.CylindricalGrid2D(dr=dr, dz=dr)                      # r along x, z along y

    c = fp.CellVariable(mesh=mesh, name="Ca", value=C0, hasOld=True)
    cb = fp.CellVariable(mesh=mesh, name="CaEGTA", value=CB0, hasOld=True)
    bath = mesh.facesRight | mesh.facesTop
    c.constrain(C0, where=bath)
    cb.constrain(CB0, where=bath)

    # the channel: an inward flux on the wall faces of the pore disk (FiPy's way to impose a
    # flux: the divergence of a face vector; exterior normals point out, so the vector j·n
    # carries j into the cell), scaled so the cells receive exactly σ (cylindrical volumes are
    # per radian, hence 2π). On grids coarser than the pore, the innermost wall face.
    r_face = mesh.faceCenters[0]
    r_first = float(np.min(np.asarray(r_face)[np.asarray(mesh.facesBottom)]))
    disk = mesh.facesBottom & (r_face <= max(source_radius, r_first))
    unit = fp.FaceVariable(mesh=mesh, value=0.0)
    unit.setValue(1.0, where=disk)
    per_unit = 2 * np.pi * float(np.sum((unit * mesh.faceNormals).divergence.value
                                        * mesh.cellVolumes))
    source = (unit * (SIGMA / per_unit) * mesh.faceNormals).divergence

    # binding kon·c·(B_T − cb) − koff·cb, with the nonlinear coefficient lagged between sweeps
    eq_c = (fp.TransientTerm(var=c) == fp.DiffusionTerm(coeff=D, var=c)
            - fp.ImplicitSourceTerm(coeff=KON * (BT - cb), var=c)
            + fp.ImplicitSourceTerm(coeff=KOFF, var=cb) + source)
    eq_b = (fp.TransientTerm(var=cb) == fp.DiffusionTerm(coeff=D, var=cb)
            + fp.ImplicitSourceTerm(coeff=KON * (BT - cb), var=c)
            - fp.ImplicitSourceTerm(coeff=KOFF, var=cb))
    eq = eq_c & eq_b                                               # coupled

    # FiPy's default solver (LU with the scipy suite), but NOT its default stopping rule: that
    # accepts the current iterate when |residual| ≤ 1e-5·|RHS|, and the RHS here is dominated
    # by V/dt·588 µM of bound buffer (and, at large dt, by the bath), so the solver returned
    # without solving — the fields sat still for the first steps, then froze 27–58 % low at
    # 50–200 nm (found by running it). "initial" makes every sweep reduce its own residual.
    solver = fp.DefaultSolver(criterion="initial", tolerance=1e-10)

    # backward Euler steps until the fields stop changing. Default: straight to dt = 10 s (≫ the
    # slowest time, ~4 ms), i.e. a steady solve by FiPy's sweeps — 16 sweeps in all; stepping
    # up from dt0 = 1 µs (doubling) reaches the same state to 1e-10 in 25 steps, 111 sweeps,
    # 8× the CPU (17.7 s against 2.2 s on the default grid). Within a step, sweep (Picard on
    # the binding term) until a sweep changes no value by more than sweep_tol relative.
    t, dt, steps, sweeps = 0.0, dt0, 0, 0
    while True:
        c.updateOld()
        cb.updateOld()
        for _ in range(50):
            before = np.array(c.value), np.array(cb.value)
            eq.sweep(dt=dt, solver=solver)
            sweeps += 1
            if max(np.max(np.abs(c.value - before[0]) / c.value),
                   np.max(np.abs(cb.value - before[1]) / cb.value)) < sweep_tol:
                break
        t += dt
        steps += 1
        change = max(np.max(np.abs(c.value - c.old.value) / c.value),
                     np.max(np.abs(cb.value - cb.old.value) / cb.value))
        if dt >= dt_max and change < steady_tol:
            break
        dt = min(dt * dt_growth, dt_max)
        if steps > 200:
            raise RuntimeError("no steady state after 200 steps")

    # probes on the wall: a cubic spline through the first row of cells (z = h_min/2: low by
    # (h_min/2)²/(2r²), 0.005 % at 50 nm for 1 nm cells). Not FiPy's own c(points, order=1):
    # with 1 nm/1.1 cells it was off by 3.5–4.5 % at 50–200 nm (order=0: 4–8 %), because a
    # CellVariable's grad on a CylindricalGrid2D is ∂c/∂r + c/r (Gauss' theorem with the
    # r-weighted face areas; checked: grad of c = r gives 2), not ∂c/∂r.
    r = np.array(PROBES_UM)
    x, z = (np.asarray(v) for v in mesh.cellCenters)
    row = np.flatnonzero(z == z.min())
    row = row[np.argsort(x[row])]
    ca = CubicSpline(x[row], np.asarray(c.value)[row])(r)
    cpu = cpu_self() - cpu0
    return {"h_min_um": h_min, "growth": growth, "h_max_um": h_max,
            "source_radius_um": source_radius, "cells": int(mesh.numberOfCells), "steps": steps,
            "sweeps": sweeps, "t_end_ms": t,
            "r_um": r.tolist(), "ca_uM": ca.tolist(), "cpu_s": cpu, "import_cpu_s": import_cpu,
            "peak_mb": peak_mb_self()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--h-min", type=float, default=0.001, help="µm, cell size at the pore")
    p.add_argument("--growth", type=float, default=1.05, help="cell-to-cell size ratio")
    p.add_argument("--h-max", type=float, default=0.1, help="µm, largest cell")
    p.add_argument("--source-radius", type=float, default=0.002, help="µm, the pore disk")
    p.add_argument("--dt0", type=float, default=1e4, help="ms, first step (doubling to 1e4)")
    a = p.parse_args()
    out = run_naive(a.h_min, a.growth, a.h_max, a.source_radius, dt0=a.dt0)
    from benchmarks.anchors.references import nanodomain_reference    # not timed

    ref = nanodomain_reference(np.array(out["r_um"]))
    err = np.array(out["ca_uM"]) / ref - 1
    out.update(reference_uM=ref.tolist(), rel_err=err.tolist(),
               max_rel_err_50_200nm=float(np.abs(err[np.array(out["r_um"]) >= 0.05]).max()))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
