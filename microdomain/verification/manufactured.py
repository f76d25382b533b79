"""Manufactured solutions for one ion + one mobile buffer with mass-action binding.

The solver's unknowns are the free ion c and the *bound* buffer cb (free buffer b = B_T − cb);
it integrates, per unknown u,

    du/dt = D_u ∇²u + R_u(U) + S_u(x, t),    R_cb = −R_c = kon·c·(B_T − cb) − koff·cb,

with no-flux walls. We choose a spatial mode φ with −∇²φ = k²φ and zero normal slope on every
wall (cosines on a box; J0(j1·r/R)·cos(πz/H) on a cylinder, j1 the first zero of J1) and

    c_m  = c0  + a·φ(x)·g(t),       cb_m = cb0 + β·φ(x)·g(t),   (b_m = B_T − cb_m)

so the sources that make (c_m, cb_m) exact are (docs/references.md, written here for the bound state)

    S_c  = a·φ·(g' + D_c·k²·g) + R,     S_cb = β·φ·(g' + D_B·k²·g) − R,   R = kon c_m b_m − koff cb_m.

Two time profiles: ``linear`` g = t/τ starts from the uniform equilibrium the case builds itself
and is integrated exactly by backward Euler (its truncation error is zero for solutions linear
in t, whatever the nonlinearity), so a space study sees the spatial error alone; ``exp``
g = e^{−t/τ} is the textbook form (its initial state replaces the case's).

The source enters through the solver's own hook, ``System.source`` (a callable t → array of
shape (n_unknowns, n_cells) in µM/ms, added to the right-hand side at the new time level), with
``dataclasses.replace``; nothing else in the solver is touched.

A *discrete* manufactured solution (:func:`discrete_manufactured_system`) builds the source
from the assembled transport matrices instead of the continuous Laplacian: the semi-discrete
ODE system then has U_m(t) at the cell centres as its exact solution, and the only error left is
that of the time integrator (time-order studies on a PDE, free of any spatial error).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import j0

J1_FIRST_ZERO = 3.8317059702075125   # first positive zero of J1 (= first extremum of J0)


# ------------------------------------------------------------------------------ spatial modes --

@dataclass(frozen=True)
class Factor:
    """One factor of a separable mode along one axis: cos(nπ(x − lo)/L) or J0(j1·r/L)."""

    axis: int
    kind: Literal["cos", "j0"]
    length: float
    n: int = 1
    lo: float = 0.0

    @property
    def k2(self) -> float:
        if self.kind == "cos":
            return (self.n * np.pi / self.length) ** 2
        return (J1_FIRST_ZERO / self.length) ** 2

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "cos":
            return np.cos(self.n * np.pi * (x - self.lo) / self.length)
        return j0(J1_FIRST_ZERO * x / self.length)


@dataclass(frozen=True)
class Mode:
    """Product of factors: an eigenfunction of −∇² (Cartesian, or cylindrical with axis 0 = r)
    with eigenvalue k² = Σ k_i² and zero normal derivative on every wall of the box."""

    factors: tuple[Factor, ...]

    @property
    def k2(self) -> float:
        return float(sum(f.k2 for f in self.factors))

    def __call__(self, centers: np.ndarray) -> np.ndarray:
        centers = np.atleast_2d(centers)
        out = np.ones(centers.shape[1])
        for f in self.factors:
            out = out * f(centers[f.axis])
        return out


# ---------------------------------------------------------------------------- the solution --

@dataclass(frozen=True)
class BindingMMS:
    """Parameters of the manufactured ion + buffer pair, internal units (µm, ms, µM)."""

    D_c: float = 0.22        # µm²/ms
    D_B: float = 0.05        # µm²/ms
    kon: float = 0.1         # 1/(µM·ms)
    koff: float = 0.1        # 1/ms
    B_total: float = 100.0   # µM
    c0: float = 1.0          # µM, uniform level; cb0 is its binding equilibrium
    a: float = 0.5           # µM, amplitude of c
    beta: float = 10.0       # µM, amplitude of cb (bound)
    tau: float = 1.0         # ms
    profile: Literal["linear", "exp"] = "linear"

    @property
    def Kd(self) -> float:
        return self.koff / self.kon

    @property
    def cb0(self) -> float:
        return self.B_total * self.c0 / (self.Kd + self.c0)

    def g(self, t: float) -> float:
        return t / self.tau if self.profile == "linear" else float(np.exp(-t / self.tau))

    def dg(self, t: float) -> float:
        return 1.0 / self.tau if self.profile == "linear" else -float(np.exp(-t / self.tau)) / self.tau

    def exact(self, phi: np.ndarray, t: float) -> np.ndarray:
        """(c_m, cb_m) for the mode values φ at time t; shape (2, n_points)."""
        g = self.g(t)
        return np.stack([self.c0 + self.a * phi * g, self.cb0 + self.beta * phi * g])

    def reaction(self, U: np.ndarray) -> np.ndarray:
        """Binding rate into the bound state, kon·c·(B_T − cb) − koff·cb."""
        c, cb = U
        return self.kon * c * (self.B_total - cb) - self.koff * cb

    def source(self, phi: np.ndarray, k2: float, t: float) -> np.ndarray:
        """(S_c, S_cb) in µM/ms for the continuous problem."""
        g, dg = self.g(t), self.dg(t)
        R = self.reaction(self.exact(phi, t))
        return np.stack([self.a * phi * (dg + self.D_c * k2 * g) + R,
                         self.beta * phi * (dg + self.D_B * k2 * g) - R])

    def species_and_buffer(self) -> dict:
        """Case-file sections for this pair (values written with their units)."""
        return {
            "species": [{"ion": "Ca", "D": f"{self.D_c!r} um**2/ms", "initial": f"{self.c0!r} uM"}],
            "buffers": [{"name": "B", "in": "cytosol", "total": f"{self.B_total!r} uM",
                         "D": f"{self.D_B!r} um**2/ms",
                         "sites": [{"ion": "Ca", "kon": f"{self.kon!r} /uM/ms",
                                    "koff": f"{self.koff!r} /ms"}]}],
        }


def _check_layout(system) -> None:
    names = [u.name for u in system.chemistry.unknowns]
    if names != ["Ca", "B.Ca"]:
        raise ValueError(f"manufactured solutions expect unknowns ['Ca', 'B.Ca'], got {names}")
    if system.bindings or np.any(system.boundary_rhs):
        raise ValueError("manufactured solutions need a closed box: no fluxes, no baths")


def manufactured_system(system, mode: Mode, mms: BindingMMS):
    """The system with the manufactured source (and, for the exp profile, initial state)."""
    _check_layout(system)
    phi = mode(system.domain.cell_centers)
    k2 = mode.k2
    changes = {"source": lambda t: mms.source(phi, k2, t)}
    if mms.profile != "linear":
        changes["initial"] = mms.exact(phi, 0.0)
    return dataclasses.replace(system, **changes)


def discrete_manufactured_system(system, mode: Mode, mms: BindingMMS):
    """The system whose semi-discrete solution is exactly U_m(t) at the cell centres.

    S_u = dU_m/dt + (T_u·U_m − g_u)/V − R_u(U_m), with T, g the assembled transport operator and
    R the solver's own binding rates: only the time integration error remains.
    """
    _check_layout(system)
    phi = mode(system.domain.cell_centers)
    V = system.domain.volumes
    chem = system.chemistry

    def source(t):
        U = mms.exact(phi, t)
        dU = np.stack([mms.a * phi, mms.beta * phi]) * mms.dg(t)
        TU = np.stack([T @ u for T, u in zip(system.transport, U)])
        return dU + (TU - system.boundary_rhs) / V - chem.rates(U)

    return dataclasses.replace(system, source=source, initial=mms.exact(phi, 0.0))


@dataclass(frozen=True)
class MembraneMMS:
    """A manufactured solution across a permeable membrane at x = L in the box [0, 2L] (one ion,
    no buffer; compartment A left, B right, no-flux walls):

        c(x, t) = c0 + g(t)·(s·cos(kx) ± j/2),   k = π/(2L),   + in A, − in B,
        j = D·s·k/P,                             g(t) = e^(−t/τ)

    The derivative is continuous at L and the jump j makes P·(c_A − c_B) equal the diffusive
    flux −D·∂c/∂x = D·s·k·g there, at every t: the membrane condition holds exactly, and the
    source S = ∂c/∂t − D·∂²c/∂x² closes the equation in each compartment."""

    L: float = 0.5           # µm
    D: float = 0.22          # µm²/ms
    P: float = 0.05          # µm/ms: j = D·s·k/P, a resistance 1/P comparable to L/D
    c0: float = 20.0         # µM: above j/2 + s, so c stays positive
    s: float = 1.0           # µM
    tau: float = 1.0         # ms

    @property
    def k(self) -> float:
        return np.pi / (2 * self.L)

    @property
    def jump(self) -> float:
        return self.D * self.s * self.k / self.P

    def _profile(self, x: np.ndarray) -> np.ndarray:
        return self.s * np.cos(self.k * x) + np.where(x < self.L, 0.5, -0.5) * self.jump

    def exact(self, x: np.ndarray, t: float) -> np.ndarray:
        return self.c0 + np.exp(-t / self.tau) * self._profile(x)

    def source(self, x: np.ndarray, t: float) -> np.ndarray:
        g = np.exp(-t / self.tau)
        return -g / self.tau * self._profile(x) + self.D * self.k**2 * g * self.s * np.cos(self.k * x)

    def case(self, cells: int, membrane: str) -> dict:
        return {"case": {"name": "membrane_mms"},
                "geometry": {"builder": "box", "size": [f"{2 * self.L!r} um"], "cells": [cells],
                             "compartments": [{"name": "a"}, {"name": "b", "x": [f"{self.L!r} um",
                                                                                f"{2 * self.L!r} um"]}],
                             "surfaces": [{"name": "membrane", "between": ["a", "b"]}]},
                "species": [{"ion": "Ca", "D": f"{self.D!r} um**2/ms", "initial": f"{self.c0!r} uM"}],
                "fluxes": [{"model": "permeability", "surface": "membrane", "from": "a", "to": "b",
                            "params": {"permeability": f"{self.P!r} um/ms"}}],
                "solver": {"membrane": membrane, "newton_tol": 1e-6}}

    def system(self, system):
        x = system.domain.cell_centers[0]
        return dataclasses.replace(system, source=lambda t: self.source(x, t)[None, :],
                                   initial=self.exact(x, 0.0)[None, :])


@dataclass(frozen=True)
class ReactionMMS:
    """Two species that are not ions, A and C, diffusing and reacting by

        2 A <-> C  (mass action, kf in 1/(µM·ms), kr in 1/ms)     A ->  (Michaelis–Menten),

    so R_A = −2·r1 − r2, R_C = r1 with r1 = kf·A² − kr·C, r2 = Vmax·A/(Km + A); no-flux walls.
    The manufactured pair is (A, C) = (a0, c0) + (a1, c1)·φ(x)·g(t) with the same modes and time
    profiles as BindingMMS, and the sources S_u = ∂u/∂t − D_u∇²u − R_u close the equations."""

    D_A: float = 0.2         # µm²/ms
    D_C: float = 0.05        # µm²/ms
    kf: float = 0.5          # 1/(µM·ms)
    kr: float = 0.3          # 1/ms
    Vmax: float = 1.0        # µM/ms
    Km: float = 1.0          # µM
    a0: float = 2.0          # µM
    c0: float = 1.0          # µM
    a1: float = 0.5          # µM
    c1: float = 0.3          # µM
    tau: float = 1.0         # ms
    profile: Literal["linear", "exp"] = "linear"

    g = BindingMMS.g
    dg = BindingMMS.dg

    def exact(self, phi: np.ndarray, t: float) -> np.ndarray:
        g = self.g(t)
        return np.stack([self.a0 + self.a1 * phi * g, self.c0 + self.c1 * phi * g])

    def rates(self, U: np.ndarray) -> np.ndarray:
        A, C = U
        r1 = self.kf * A * A - self.kr * C
        r2 = self.Vmax * A / (self.Km + A)
        return np.stack([-2 * r1 - r2, r1])

    def source(self, phi: np.ndarray, k2: float, t: float) -> np.ndarray:
        g, dg = self.g(t), self.dg(t)
        R = self.rates(self.exact(phi, t))
        return np.stack([self.a1 * phi * (dg + self.D_A * k2 * g) - R[0],
                         self.c1 * phi * (dg + self.D_C * k2 * g) - R[1]])

    def species_and_reactions(self) -> dict:
        """Case-file sections for this pair (values written with their units)."""
        return {
            "species": [{"name": "A", "D": f"{self.D_A!r} um**2/ms", "initial": f"{self.a0!r} uM"},
                        {"name": "C", "D": f"{self.D_C!r} um**2/ms", "initial": f"{self.c0!r} uM"}],
            "reactions": [
                {"in": "cytosol", "equation": "2 A <-> C", "model": "mass_action",
                 "params": {"kf": f"{self.kf!r} /uM/ms", "kr": f"{self.kr!r} /ms"}},
                {"in": "cytosol", "equation": "A ->", "model": "michaelis_menten",
                 "params": {"Vmax": f"{self.Vmax!r} uM/ms", "Km": f"{self.Km!r} uM"}}],
        }


def reaction_manufactured_system(system, mode: Mode, mms: ReactionMMS, discrete: bool = False):
    """The system with the manufactured source of ReactionMMS. `discrete` builds it from the
    assembled operator and the solver's own reaction rates, as discrete_manufactured_system
    does, so that U_m at the cell centres solves the semi-discrete system exactly."""
    names = [u.name for u in system.chemistry.unknowns]
    if names != ["A", "C"] or system.bindings or np.any(system.boundary_rhs):
        raise ValueError(f"ReactionMMS expects unknowns ['A', 'C'] in a closed box, got {names}")
    phi = mode(system.domain.cell_centers)
    k2 = mode.k2
    V = system.domain.volumes
    chem = system.chemistry

    def discrete_source(t):
        U = mms.exact(phi, t)
        dU = np.stack([mms.a1 * phi, mms.c1 * phi]) * mms.dg(t)
        TU = np.stack([T @ u for T, u in zip(system.transport, U)])
        return dU + (TU - system.boundary_rhs) / V - chem.rates(U)

    changes = {"source": discrete_source if discrete else (lambda t: mms.source(phi, k2, t))}
    if mms.profile != "linear" or discrete:
        changes["initial"] = mms.exact(phi, 0.0)
    return dataclasses.replace(system, **changes)


def exact_at_cells(system, mode: Mode, mms: BindingMMS, t: float) -> np.ndarray:
    return mms.exact(mode(system.domain.cell_centers), t)


# ------------------------------------------------------------------------------- error norms --

def error_norms(U: np.ndarray, exact: np.ndarray, volumes: np.ndarray) -> dict[str, np.ndarray]:
    """Per unknown: volume-weighted L2 norm sqrt(Σ V e² / Σ V) and max norm of U − exact (µM)."""
    e = U - exact
    w = volumes / volumes.sum()
    return {"L2": np.sqrt(np.sum(w * e * e, axis=1)), "max": np.max(np.abs(e), axis=1)}


def mean_spacing(domain) -> float:
    """h = (measure of the domain / number of cells)^(1/dim), in the meridian plane for (r, z)."""
    extent = np.prod([n[-1] - n[0] for n in domain.nodes])
    return float((extent / domain.n_cells) ** (1.0 / domain.dim))


# ------------------------------------------------------- several compartments, any mesh --

@dataclass(frozen=True)
class ContactMMS:
    """A manufactured ion + buffer pair on a mesh of several compartments separated by
    membranes with a passive permeability P (the Gmsh contacts, 3D or (r, z)).

    In compartment k: c_m = c0 + a·s_k·φ·g(t), cb_m = cb0 + β·s_k·φ·g(t) with φ = J0(j1·r/R)·
    cos(π(z − z0)/H) (−∇²φ = k²φ in 3D and in (r, z)) and g = t/τ, so the case's own uniform
    equilibrium is the initial state and backward Euler is exact in time. The scales s_k differ
    per compartment, so the concentration jumps across every membrane.

    The interfaces are curved and faceted, so no smooth φ satisfies the boundary conditions
    there; instead every face without diffusion (outer walls, membranes) gets a *surface source*:
    the exact diffusive inflow D·∇u_m·n·A minus what the model puts through that face at the
    exact solution (P·(c_other − c_self)·A for the ion on a membrane, nothing for the buffer or
    on a wall), both at the face centre, lumped into the cell beside the face. The exact solution
    then solves the discrete problem's continuous counterpart on the polyhedral mesh itself, and
    the error measures the consistency of the interior diffusion fluxes, of the membrane fluxes
    (evaluated at the membrane, solver/membrane.py) and of the binding — what the solver does on
    that mesh, not how well the mesh fits a sphere."""

    pair: BindingMMS = BindingMMS()
    permeability: float = 0.2          # µm/ms on every membrane
    scales: tuple[tuple[str, float], ...] = ()   # (compartment, s_k); missing → 1

    def scale_per_cell(self, domain) -> np.ndarray:
        s = dict(self.scales)
        per_comp = np.array([s.get(n, 1.0) for n in domain.compartment_names])
        return per_comp[domain.compartment_id]

    @staticmethod
    def mode(domain):
        """(φ, ∇φ) as functions of points (dim, n); R, z0, H from the mesh's extent."""
        from scipy.special import j1

        x_b = domain.face_centers
        if domain.dim == 3:
            R = float(np.max(np.hypot(x_b[0], x_b[1])))
        else:
            R = float(np.max(x_b[0]))
        z0, z1 = float(np.min(x_b[-1])), float(np.max(x_b[-1]))
        H = z1 - z0
        kr, kz = J1_FIRST_ZERO / R, np.pi / H

        def radius(p):
            return np.hypot(p[0], p[1]) if domain.dim == 3 else np.abs(p[0])

        def phi(p):
            return j0(kr * radius(p)) * np.cos(kz * (p[-1] - z0))

        def grad(p):
            r = radius(p)
            dr = -kr * j1(kr * r) * np.cos(kz * (p[-1] - z0))
            dz = -kz * j0(kr * r) * np.sin(kz * (p[-1] - z0))
            if domain.dim == 3:
                safe = np.where(r > 0, r, 1.0)
                return np.stack([dr * p[0] / safe, dr * p[1] / safe, dz])
            return np.stack([dr, dz])

        return phi, grad, kr * kr + kz * kz

    def exact(self, domain, t: float) -> np.ndarray:
        phi, _, _ = self.mode(domain)
        return self.pair.exact(phi(domain.cell_centers) * self.scale_per_cell(domain), t)


def contact_manufactured_system(system, mms: ContactMMS):
    """The system with ContactMMS's volume and surface sources (see there). Expects the unknowns
    Ca and B.Ca in every compartment, passive permeabilities as the only fluxes, no baths."""
    names = [u.name for u in system.chemistry.unknowns]
    if names != ["Ca", "B.Ca"] or np.any(system.boundary_rhs):
        raise ValueError(f"ContactMMS expects unknowns ['Ca', 'B.Ca'] and no baths, got {names}")
    dom = system.domain
    pair = mms.pair
    phi_f, grad_f, k2 = mms.mode(dom)
    s_cell = mms.scale_per_cell(dom)
    phi = phi_f(dom.cell_centers) * s_cell

    # every face without diffusion, seen from each cell beside it
    fc = dom.face_cells
    membrane = dom.membrane_faces()
    faces = np.flatnonzero((fc[1] < 0) | membrane)
    sides = [(fc[0, faces], fc[1, faces]), (fc[1, faces], fc[0, faces])]
    xf = dom.face_centers[:, faces]
    phi_face, grad_face = phi_f(xf), grad_f(xf)
    lumped = []                       # (cells, A/V·[exact − model] per unit g for c, for cb)
    for me, other in sides:
        ok = me >= 0
        f, cell, nb = faces[ok], me[ok], other[ok]
        n = dom.face_normals[:, f]
        n = n * np.sign(np.sum(n * (dom.face_centers[:, f] - dom.cell_centers[:, cell]), axis=0))
        dphi_n = np.sum(grad_face[:, ok] * n, axis=0) * s_cell[cell]
        # model inflow on a membrane at the exact solution: P·(c_other − c_self), ∝ g as well
        jump = np.where(nb >= 0, (s_cell[np.maximum(nb, 0)] - s_cell[cell]) * phi_face[ok], 0.0)
        w = dom.face_areas[f] / dom.volumes[cell]
        lumped.append((cell, w * (pair.D_c * pair.a * dphi_n - mms.permeability * pair.a * jump),
                       w * pair.D_B * pair.beta * dphi_n))
    N = dom.n_cells
    surf_c = sum(np.bincount(c, v, N) for c, v, _ in lumped)
    surf_cb = sum(np.bincount(c, v, N) for c, _, v in lumped)

    def source(t):
        g = pair.g(t)
        vol = pair.source(phi, k2, t)
        return vol + g * np.stack([surf_c, surf_cb])

    return dataclasses.replace(system, source=source)
