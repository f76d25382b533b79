"""Reference for the benchmark's weak-buffer problem, independent of microdomain and CalC.

    python -m benchmarks.anchors.weak_buffer                 # bath (30 µm cylinder) and open
    python -m benchmarks.anchors.weak_buffer --check         # also the convergence checks

Problem: 0.2 pA of Ca²⁺ through a channel on a no-flux wall (a point source), Ca D 0.22 µm²/ms,
0.1 µM far away; one slow mobile buffer: 100 µM, D 0.02 µm²/ms (20 µm²/s), kon 0.1 /µM/ms
(100 /µM/s), koff 0.05 /ms (50 /s), KD 0.5 µM; steady state. Free [Ca²⁺] on the wall at 200 nm.

Reduction: mirrored in the wall, the problem is a free-space point source of 2σ, so it is
radially symmetric in ρ = distance from the channel. The steady two-species problem for free Ca
(c) and free buffer (b) is solved as it stands, by collocation (scipy solve_bvp):

    Dc (c'' + 2c'/ρ) = R,   Db (b'' + 2b'/ρ) = R,   R = kon·c·b − koff·(B_T − b),
    −Dc c'(a) = σ/(2πa²),   b'(a) = 0,            (a hemispherical source of radius a → 0)

and at the far end either
* "bath": c = c∞, b = b∞ at ρ = R_eff, the radius of the sphere whose bath a source on the wall
  of the 30 µm × 30 µm cylinder (bath on its side and top) sees: references.bath_radius(30, 30)
  = 32.58 µm. Why a sphere stands in for the cylinder: Dc·c − Db·b is exactly harmonic in the
  steady state (subtract the two equations), so its regular part near the source is the
  cylinder's (a constant, as in references.nanodomain_reference), and the other combination
  decays like exp(−ρ/λ), λ ≤ 0.6 µm, so it is e^-50 at the bath.
* "open": free space (the bath at infinity), imposed at ρ = R_far = 100 µm by the far field's
  own form: (c − c∞) and (b − b∞) ∝ 1/ρ there, i.e. c' = −(c − c∞)/ρ, b' = −(b − b∞)/ρ (exact
  for the linear far field; the exponential mode is e^-170 at 100 µm).

Checked (run with --check; relative changes of c(200 nm)): the source radius converges like
a²: a = 2 nm is +1.7e-5 and 0.5 nm −4.3e-6 from the default a = 1 nm, so a = 1 nm is within
~6e-6 of a point source; collocation tolerance 1e-6 instead of 1e-8: 2e-9 (tighter than 1e-8
exhausts solve_bvp's nodes near the singular source); open: R_far = 300 µm instead of 100 µm:
2e-12. A second route (reduced_reference: Dc·c − Db·b is harmonic, so one ODE remains) agrees
to 2e-11 for both far conditions. The bath at 32.6 µm lowers c(200 nm) by 0.29 % from free
space: the 30 µm domain's bath is not "far" at the 0.1 % level, hence the two references. The
microdomain case's 2 nm disk (not a point) raises c(200 nm) by ≈ a²/(8ρ²) = 1.3e-5.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.anchors import PA_CA, cpu_self, peak_mb_self

import numpy as np  # noqa: E402  (after the package set one BLAS thread)
from scipy.integrate import solve_bvp  # noqa: E402

WEAK = dict(sigma=0.2 * PA_CA, Dc=0.22, Db=0.02, kon=0.1, koff=0.05, B_total=100.0, c_inf=0.1)
PROBE_UM = 0.2


def weak_reference(r_um=(PROBE_UM,), far: str = "bath", R: float | None = None,
                   a: float = 1e-3, tol: float = 1e-8) -> np.ndarray:
    """Free [Ca²⁺] (µM) at distances r_um (µm) from the channel. `far` "bath" (Dirichlet at R,
    default references.bath_radius(30, 30)) or "open" (far-field Robin at R, default 100 µm)."""
    from benchmarks.anchors.references import bath_radius

    p = WEAK
    sigma, Dc, Db, kon, koff, BT, c_inf = (p[k] for k in
                                           ("sigma", "Dc", "Db", "kon", "koff", "B_total", "c_inf"))
    if R is None:
        R = bath_radius(30.0, 30.0) if far == "bath" else 100.0
    b_inf = BT * koff / (koff + kon * c_inf)

    def rhs(r, y):
        c, dc, b, db = y
        react = kon * c * b - koff * (BT - b)
        return np.vstack([dc, react / Dc - 2 * dc / r, db, react / Db - 2 * db / r])

    def bc(ya, yb):
        src = [Dc * ya[1] + sigma / (2 * np.pi * a * a), ya[3]]
        if far == "bath":
            return np.array(src + [yb[0] - c_inf, yb[2] - b_inf])
        return np.array(src + [yb[1] + (yb[0] - c_inf) / R, yb[3] + (yb[2] - b_inf) / R])

    # initial guess: the linearised far field (total carried with Dc + κ·Db), the buffer
    # saturated where the unbuffered field exceeds its KD
    r = np.geomspace(a, R, 600)
    kd = koff / kon
    kappa = BT * kd / (kd + c_inf) ** 2
    s = sigma / (2 * np.pi)
    near = np.exp(-r / 0.5)
    c0 = c_inf + s / (Dc * r) * near + s / ((Dc + kappa * Db) * r) * (1 - near)
    b0 = BT * kd / (kd + c0)
    guess = np.vstack([c0, np.gradient(c0, r), b0, np.gradient(b0, r)])
    sol = solve_bvp(rhs, bc, r, guess, tol=tol, max_nodes=1_000_000)
    if not sol.success:
        raise RuntimeError(f"weak-buffer reference ({far}): {sol.message}")
    return sol.sol(np.asarray(r_um, float))[0]


def reduced_reference(r_um=(PROBE_UM,), far: str = "bath", R: float | None = None,
                      a: float = 1e-3, tol: float = 1e-8) -> np.ndarray:
    """The same by a second route, for the check: U = Dc·c − Db·b is harmonic, so U = U∞ +
    σ/(2π)·(1/ρ − 1/R) (bath at R; open: without the 1/R), b = (Dc·c − U)/Db, and one ODE for
    c remains (c(R) = c∞ for the bath, c' = −(c − c∞)/ρ at R for the open far field)."""
    from benchmarks.anchors.references import bath_radius

    p = WEAK
    sigma, Dc, Db, kon, koff, BT, c_inf = (p[k] for k in
                                           ("sigma", "Dc", "Db", "kon", "koff", "B_total", "c_inf"))
    if R is None:
        R = bath_radius(30.0, 30.0) if far == "bath" else 100.0
    b_inf = BT * koff / (koff + kon * c_inf)
    U_inf = Dc * c_inf - Db * b_inf
    s = sigma / (2 * np.pi)

    def U(r):
        return U_inf + s * (1 / r - (1 / R if far == "bath" else 0.0))

    def rhs(r, y):
        c, dc = y
        b = (Dc * c - U(r)) / Db
        return np.vstack([dc, (kon * c * b - koff * (BT - b)) / Dc - 2 * dc / r])

    def bc(ya, yb):
        far_bc = yb[0] - c_inf if far == "bath" else yb[1] + (yb[0] - c_inf) / R
        return np.array([Dc * ya[1] + sigma / (2 * np.pi * a * a), far_bc])

    r = np.geomspace(a, R, 600)
    kd = koff / kon
    kappa = BT * kd / (kd + c_inf) ** 2
    near = np.exp(-r / 0.5)
    c0 = c_inf + s / (Dc * r) * near + s / ((Dc + kappa * Db) * r) * (1 - near)
    sol = solve_bvp(rhs, bc, r, np.vstack([c0, np.gradient(c0, r)]), tol=tol, max_nodes=1_000_000)
    if not sol.success:
        raise RuntimeError(f"weak-buffer reduced reference ({far}): {sol.message}")
    return sol.sol(np.asarray(r_um, float))[0]


def run(check: bool = False) -> dict:
    cpu0 = cpu_self()
    from benchmarks.anchors.references import bath_radius

    out = {"problem": "weak_buffer", "r_um": PROBE_UM, "bath_radius_um": bath_radius(30.0, 30.0),
           "bath_uM": float(weak_reference(far="bath")[0]),
           "open_uM": float(weak_reference(far="open")[0])}
    if check:
        rel = lambda v, ref: float(v[0] / ref - 1)  # noqa: E731
        out["checks_rel_change"] = {
            "bath: a 2 nm": rel(weak_reference(far="bath", a=2e-3), out["bath_uM"]),
            "bath: a 0.5 nm (tol 1e-6)": rel(weak_reference(far="bath", a=5e-4, tol=1e-6),
                                             out["bath_uM"]),
            "bath: tol 1e-6": rel(weak_reference(far="bath", tol=1e-6), out["bath_uM"]),
            "bath: one-ODE reduction": rel(reduced_reference(far="bath"), out["bath_uM"]),
            "open: a 2 nm": rel(weak_reference(far="open", a=2e-3), out["open_uM"]),
            "open: R_far 300 um": rel(weak_reference(far="open", R=300.0), out["open_uM"]),
            "open: one-ODE reduction": rel(reduced_reference(far="open"), out["open_uM"]),
        }
    out.update(cpu_s=cpu_self() - cpu0, peak_mb=peak_mb_self())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="also the convergence checks")
    print(json.dumps(run(p.parse_args().check)))


if __name__ == "__main__":
    main()
