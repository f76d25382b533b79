"""Implicit time stepping: backward Euler with Newton iterations and adaptive dt.

Each step solves, for the unknowns U (n_unknowns × n_cells),

    F(U) = V/dt·(U − U_old) + T·U − g − V·R(U) − M(U) = 0

with T, g the transport operator FiPy assembled once (assembly.py). Two linear strategies:

- ``direct``: full Newton on the coupled system; the Jacobian's sparsity pattern is fixed, so
  each iteration fills a data array in place and factorises it (SuperLU). Quadratic convergence,
  any dt; meant for 1D/2D and small 3D meshes.
- ``iterative``: block Gauss–Seidel over unknowns; each block is the symmetric positive-definite
  matrix V/dt + T_u + diag(local derivatives), solved by conjugate gradients with a Jacobi
  preconditioner. Memory-light for large 3D meshes; converges more slowly when binding is
  much faster than dt (then dt shrinks).

The error of a step is estimated from the gap between the solution and a linear extrapolation
of the two previous states (the standard backward-Euler estimate); dt follows it, lands exactly
on output times and on flux switching times, and shrinks on any failed step.
"""

from __future__ import annotations

import math
import time as wallclock
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .assembly import System


GATE_ATOL = 1e-3     # absolute error allowed on a gate (an open fraction between 0 and 1)


class SimulationError(RuntimeError):
    """The run cannot continue (NaN, negative concentrations, dt below its minimum)."""


class NotConverged(Exception):
    pass


@dataclass
class StepInfo:
    """What observers learn about an accepted step."""

    t: float
    dt: float
    iterations: int
    flux_amounts: dict[str, dict[str, float]]     # binding → ion → amount moved this step (µM·µm³, per radian)
    boundary_inflow: np.ndarray                   # per unknown, amount entered through baths this step
    outside_inflow: dict[str, float]              # per ion, amount entered from 'outside' fluxes
    gates: dict = field(default_factory=dict)     # binding → gate → value per face, after the step


class Observer(Protocol):
    def start(self, system: System, U: np.ndarray, t: float) -> None: ...
    def resume(self, system: System, U: np.ndarray, t: float, saved: dict) -> None: ...
    def step(self, U: np.ndarray, info: StepInfo) -> None: ...
    def frame(self, U: np.ndarray, t: float) -> None: ...
    def finish(self, U: np.ndarray, t: float, status: str) -> None: ...


@dataclass
class Counters:
    steps: int = 0
    rejected: int = 0
    newton_iterations: int = 0
    linear_solves: int = 0
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- residual --

class Discretisation:
    """Residual and Jacobian pieces shared by both linear strategies."""

    def __init__(self, system: System):
        self.sys = system
        self.V = np.broadcast_to(system.domain.volumes, system.initial.shape)
        self.pairs = system.chemistry.jacobian_pairs()
        self.gates = system.initial_gates(system.initial)   # gates at the start of the step
        self.last_gates = self.gates                         # gates of the latest residual

    def residual(self, U, U_old, dt, t_mid, t, want_jacobian=False):
        s = self.sys
        TU = np.stack([T @ u for T, u in zip(s.transport, U)])
        R = s.chemistry.rates(U)
        M, entries, per_binding, self.last_gates = s.membrane(U, t_mid, t, want_jacobian,
                                                              self.gates, dt)
        F = self.V * (U - U_old) / dt + TU - s.dirichlet_rhs - self.V * R - M
        if s.source is not None:
            F -= self.V * s.source(t)
        jac_R = s.chemistry.jacobian(U, self.pairs) if want_jacobian else None
        return F, jac_R, entries, per_binding, TU

    def converged(self, dU, U, F, dt) -> bool:
        atol = self.sys.atol[:, None]
        step = np.max(np.abs(dU) / (atol + np.abs(U)))
        resid = np.max(np.abs(F) * dt / self.V / (atol + np.abs(U)))
        tol = self.sys.case.solver.newton_tol
        return bool(step < tol or resid < tol)


class DirectNewton:
    name = "direct"

    def __init__(self, disc: Discretisation):
        self.disc = disc
        s = disc.sys
        n, N = s.n_unknowns, s.n_cells
        self.n_total = n * N
        rows, cols, vals = [], [], []
        for u, T in enumerate(s.transport):
            coo = T.tocoo()
            # int64 throughout: sparse indices are int32 and row·n² keys overflow them
            rows.append(coo.row.astype(np.int64) + u * N)
            cols.append(coo.col.astype(np.int64) + u * N)
            vals.append(coo.data)
        diag = np.arange(n * N)
        cells = np.arange(N)
        pr = [r * N + cells for r, _ in disc.pairs]
        pc = [c * N + cells for _, c in disc.pairs]
        mu, mr, mc = s.membrane_pattern()
        all_rows = np.concatenate(rows + [diag] + pr + [mu * N + mr])
        all_cols = np.concatenate(cols + [diag] + pc + [mu * N + mc])
        pattern = sp.csc_matrix((np.ones(all_rows.size), (all_rows, all_cols)),
                                shape=(n * N, n * N))
        pattern.sort_indices()
        self.pattern = pattern
        col_of_entry = np.repeat(np.arange(n * N), np.diff(pattern.indptr))
        self.keys = col_of_entry * (n * N) + pattern.indices.astype(np.int64)
        t_rows, t_cols = np.concatenate(rows), np.concatenate(cols)
        # float even when every transport matrix is empty (one cell; all D = 0): bincount of an
        # empty array returns int64 whatever its weights
        self.base = np.bincount(self.position(t_rows, t_cols), weights=np.concatenate(vals),
                                minlength=pattern.nnz).astype(float)
        self.pos_diag = self.position(diag, diag)
        self.pos_pairs = self.position(np.concatenate(pr), np.concatenate(pc)) if pr else None

    def position(self, rows, cols):
        return np.searchsorted(self.keys, cols * self.n_total + rows)

    def jacobian(self, U, dt, jac_R, entries):
        N = self.disc.sys.n_cells
        data = self.base.copy()
        data[self.pos_diag] += (self.disc.V / dt).ravel()
        if self.pos_pairs is not None:
            V = self.disc.sys.domain.volumes
            data[self.pos_pairs] -= (jac_R * V).ravel()
        unk, rcell, ccell, vals = entries
        if vals.size:
            pos = self.position(unk * N + rcell, unk * N + ccell)
            data -= np.bincount(pos, weights=vals, minlength=data.size)
        return sp.csc_matrix((data, self.pattern.indices, self.pattern.indptr), shape=self.pattern.shape)

    def solve(self, U_old, dt, t_mid, t, counters: Counters):
        """Newton's method, keeping the factorisation while it still contracts well (chord
        iterations): factorising costs ~30 solves, and binding is only mildly nonlinear."""
        U = U_old.copy()
        F, jac_R, entries, _, _ = self.disc.residual(U, U_old, dt, t_mid, t, want_jacobian=True)
        lu, last_norm = None, np.inf
        for it in range(1, self.disc.sys.case.solver.max_newton + 1):
            if lu is None:
                try:
                    lu = spla.splu(self.jacobian(U, dt, jac_R, entries), permc_spec="MMD_AT_PLUS_A")
                except RuntimeError as exc:  # singular factor
                    raise NotConverged(str(exc)) from None
                counters.extra["factorisations"] = counters.extra.get("factorisations", 0) + 1
            dU = lu.solve(-F.ravel()).reshape(U.shape)
            counters.linear_solves += 1
            U = U + dU
            if not np.all(np.isfinite(U)):
                raise NotConverged("non-finite values in a Newton update")
            F, jac_R, entries, _, _ = self.disc.residual(U, U_old, dt, t_mid, t, want_jacobian=True)
            if self.disc.converged(dU, U, F, dt):
                return U, it
            norm = float(np.max(np.abs(dU)))
            if norm > 0.1 * last_norm:      # contracting too slowly: refresh the Jacobian
                lu = None
            last_norm = norm
        raise NotConverged(f"Newton did not converge in {it} iterations")


class IterativeSweeps:
    name = "iterative"

    def __init__(self, disc: Discretisation):
        self.disc = disc
        s = disc.sys
        N = s.n_cells
        self.blocks = []
        for T in s.transport:
            A = (abs(T) + sp.eye(N, format="csr")).tocsr()
            A.sort_indices()
            keys = np.repeat(np.arange(N), np.diff(A.indptr)) * N + A.indices.astype(np.int64)
            coo = T.tocoo()
            positions = np.searchsorted(keys, coo.row.astype(np.int64) * N + coo.col)
            base = np.bincount(positions, weights=coo.data,
                               minlength=A.nnz).astype(float)   # int64 if T is empty (D = 0)
            diag = np.searchsorted(keys, np.arange(N) * (N + 1))
            self.blocks.append((A, base, diag))
        self.self_pairs = {r: i for i, (r, c) in enumerate(disc.pairs) if r == c}

    def solve(self, U_old, dt, t_mid, t, counters: Counters):
        s = self.disc.sys
        V = s.domain.volumes
        cfg = s.case.solver
        U = U_old.copy()
        for sweep in range(1, cfg.max_sweeps + 1):
            dU_all = np.zeros_like(U)
            for u, (A, base, diag) in enumerate(self.blocks):
                F, jac_R, entries, _, _ = self.disc.residual(U, U_old, dt, t_mid, t, want_jacobian=True)
                d = V / dt
                if u in self.self_pairs:
                    d = d - V * jac_R[self.self_pairs[u]]
                unk, rc, cc, vals = entries
                own = (unk == u) & (rc == cc)
                d = d - np.bincount(rc[own], weights=vals[own], minlength=V.size).clip(max=0.0)
                data = base.copy()
                data[diag] += d
                A.data[:] = data
                diag_A = A.diagonal()
                # stop at a residual worth `iterative_tol` of the solution itself: a tolerance
                # relative to F alone becomes unreachable once Newton has made F small
                # (RMS over cells: a 2-norm floor would loosen with the square root of the size)
                floor = cfg.iterative_tol * np.sqrt(np.mean((diag_A * (np.abs(U[u]) + s.atol[u])) ** 2))
                dU, status = spla.cg(A, -F[u], rtol=cfg.iterative_tol, atol=floor,
                                     M=sp.diags(1.0 / diag_A), maxiter=10 * V.size)
                counters.linear_solves += 1
                if status != 0:
                    raise NotConverged(f"conjugate gradients failed on {s.chemistry.unknowns[u].name}")
                U[u] += dU
                dU_all[u] = dU
            if not np.all(np.isfinite(U)):
                raise NotConverged("non-finite values in a sweep")
            F_new = self.disc.residual(U, U_old, dt, t_mid, t)[0]
            if self.disc.converged(dU_all, U, F_new, dt):
                return U, sweep
        raise NotConverged(f"sweeps did not converge in {cfg.max_sweeps}")


def choose_strategy(system: System):
    disc = Discretisation(system)
    choice = system.case.solver.linear
    if choice == "auto":
        unknowns = system.n_unknowns * system.n_cells
        choice = "direct" if unknowns <= system.case.solver.direct_limit else "iterative"
    return (DirectNewton if choice == "direct" else IterativeSweeps)(disc)


# ------------------------------------------------------------------------------- time loop --

class Stepper:
    def __init__(self, system: System, observers: list[Observer]):
        self.sys = system
        self.observers = observers
        self.strategy = choose_strategy(system)
        self.disc = self.strategy.disc
        self.counters = Counters(extra={"linear_strategy": self.strategy.name})

    def _accounting(self, U, U_old, dt, t_mid, t, iterations) -> StepInfo:
        _, _, _, per_binding, TU = self.disc.residual(U, U_old, dt, t_mid, t)
        angle = self.sys.domain.angle
        amounts = {name: {ion: float(q.sum()) * dt * angle for ion, q in fl.items()}
                   for name, fl in per_binding.items()}
        inflow_bath = (self.sys.dirichlet_rhs - TU).sum(axis=1) * dt * angle
        outside: dict[str, float] = {}
        for b in self.sys.bindings:
            if b.name not in per_binding:
                continue
            for ion, q in per_binding[b.name].items():
                enters = q[b.src < 0].sum() - q[b.tgt < 0].sum()
                outside[ion] = outside.get(ion, 0.0) + float(enters) * dt * angle
        return StepInfo(t, dt, iterations, amounts, inflow_bath, outside, self.disc.last_gates)

    def _check(self, U: np.ndarray) -> str | None:
        if not np.all(np.isfinite(U)):
            return "non-finite concentrations"
        floor = -(1e-6 * self.sys.atol + 1e-9 * np.max(np.abs(U), axis=1))
        low = U.min(axis=1) < floor
        if np.any(low):
            k = int(np.argmax(low))
            return (f"negative concentration of {self.sys.chemistry.unknowns[k].name} "
                    f"({U[k].min():.3g} uM)")
        return None

    def run(self, t_end: float, frame_times: list[float], progress=None,
            resume: tuple[np.ndarray, float, dict] | None = None) -> tuple[np.ndarray, float, str]:
        """Integrate to t_end; `resume` = (U, t, saved run-directory state) continues a run."""
        cfg = self.sys.case.time
        start = wallclock.perf_counter()
        if resume is None:
            U, t = self.sys.initial.copy(), 0.0
            self.disc.gates = self.sys.initial_gates(U)
            for ob in self.observers:
                ob.start(self.sys, U, t)
        else:
            U, t, saved = resume
            self.disc.gates = self._saved_gates(saved.get("metrics", {}).get("gates"), U)
            for ob in self.observers:
                ob.resume(self.sys, U, t, saved)
        stops = sorted({x for x in [*frame_times, *self.sys.breakpoints, t_end] if t < x <= t_end})
        events = set(self.sys.breakpoints)
        frames = set(frame_times)
        dt = cfg.dt.initial
        history: tuple[np.ndarray, np.ndarray, float] | None = None   # previous state, gates, dt
        status = "completed"
        try:
            while t < t_end * (1 - 1e-12):
                next_stop = next(x for x in stops if x > t * (1 + 1e-12) + 1e-15)
                dt_try = min(dt, cfg.dt.max)
                hits_stop = t + dt_try >= next_stop * (1 - 1e-9)
                if hits_stop:
                    dt_try = next_stop - t
                t_new = next_stop if hits_stop else t + dt_try
                try:
                    U_new, iterations = self.strategy.solve(U, dt_try, t + dt_try / 2, t_new, self.counters)
                    self.counters.newton_iterations += iterations
                    problem = self._check(U_new)
                    if problem:
                        raise NotConverged(problem)
                except NotConverged as exc:
                    self.counters.rejected += 1
                    dt = dt_try / 4
                    if dt < cfg.dt.min:
                        raise SimulationError(f"at t = {t:.6g} ms: {exc}; dt fell below dt.min "
                                              f"({cfg.dt.min:g} ms)") from None
                    continue
                err = self._error(U_new, U, history, dt_try)
                if err > 1.0 and dt_try > cfg.dt.min:
                    self.counters.rejected += 1
                    dt = max(dt_try * max(0.2, 0.9 / math.sqrt(err)), cfg.dt.min)
                    continue
                info = self._accounting(U_new, U, dt_try, t + dt_try / 2, t_new, iterations)
                history = (U, self._gate_vector(self.disc.gates), dt_try)
                self.disc.gates = self.disc.last_gates
                U, t = U_new, t_new
                self.counters.steps += 1
                for ob in self.observers:
                    ob.step(U, info)
                if hits_stop and any(abs(t - f) <= 1e-9 * max(f, 1e-30) for f in frames):
                    for ob in self.observers:
                        ob.frame(U, t)
                grow = 2.0 if err == 0 else min(2.0, max(0.2, 0.9 / math.sqrt(err)))
                # a step cut short to land on a stop says little about the natural dt: keep it
                dt = (dt if hits_stop and dt > dt_try else dt_try) * grow
                if hits_stop and any(abs(t - e) <= 1e-12 + 1e-9 * e for e in events):
                    history = None      # a flux switched: no extrapolation across it
                    dt = cfg.dt.initial
                if progress is not None:
                    progress(t, t_end, dt_try)
                if cfg.steady_state is not None and self._steady(U, history, cfg.steady_state):
                    status = "steady state"
                    break
        except (SimulationError, KeyboardInterrupt) as exc:
            status = f"stopped: {exc}" if isinstance(exc, SimulationError) else "interrupted"
            self.counters.wall_s = wallclock.perf_counter() - start
            for ob in self.observers:
                ob.finish(U, t, status)
            raise
        self.counters.wall_s = wallclock.perf_counter() - start
        if not any(abs(t - f) <= 1e-9 * max(f, 1e-30) for f in frames):
            for ob in self.observers:
                ob.frame(U, t)        # always keep the final state
        for ob in self.observers:
            ob.finish(U, t, status)
        return U, t, status

    def _error(self, U_new, U, history, dt) -> float:
        """Local error estimate over concentrations and gates (the latter with atol GATE_ATOL);
        the gates of U_new are those of the latest residual, which was evaluated at U_new."""
        if history is None:
            return 0.0
        U_prev, G_prev, dt_prev = history
        rtol = self.sys.case.time.rtol
        err = 0.0
        G_new, G = self._gate_vector(self.disc.last_gates), self._gate_vector(self.disc.gates)
        for new, now, prev, atol in ((U_new, U, U_prev, self.sys.atol[:, None]),
                                     (G_new, G, G_prev, GATE_ATOL)):
            if new.size == 0:
                continue
            predicted = now + (dt / dt_prev) * (now - prev)
            lte = dt / (dt + dt_prev) * (new - predicted)
            err = max(err, float(np.max(np.abs(lte) / (atol + rtol * np.abs(new)))))
        return err

    def _gate_vector(self, gates: dict) -> np.ndarray:
        parts = [np.asarray(v, float).ravel() for b in sorted(gates) for _, v in sorted(gates[b].items())]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _saved_gates(self, saved: dict | None, U: np.ndarray) -> dict:
        """Gates from a run directory's metrics.json; a run saved without any starts at rest."""
        fresh = self.sys.initial_gates(U)
        if not saved:
            return fresh
        return {b: {g: np.asarray(saved[b][g]["values"], float) for g in gs} for b, gs in fresh.items()}

    def _steady(self, U, history, tol) -> bool:
        if history is None:
            return False
        U_prev, _, dt = history
        rate = np.abs(U - U_prev) / dt / (self.sys.atol[:, None] + np.abs(U))
        return bool(np.max(rate) < tol)
