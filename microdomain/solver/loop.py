"""The time loop: where steps stop, what is accepted, what observers see.

Steps land exactly on the end time and on every flux switching time (a rate law that jumps
must not be integrated across), and on every opening and closing of a stochastic channel
(stochastic/engine.py: an accepted step across which one would happen is retaken to end
there); output frames are *not* stops: a frame between two accepted steps is the cubic
Hermite interpolant of the two (integrators.hermite), so frequent output does not shorten
steps or cost factorisations. After each accepted step that passed a frame
time, observers get a checkpoint of the accepted state, from which a run resumes exactly.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time as wallclock

import numpy as np

from .integrators import INTEGRATORS, hermite
from .jacobian import JacobianPattern
from .linear import choose
from .membrane import initial_gates
from .newton import place
from .policy import StepPolicy
from .residual import Residual, Stage
from .state import (Counters, NotConverged, Observer, SimulationError, State, StepInfo,
                    reaction_inflow)

log = logging.getLogger("microdomain.solver")      # rejected steps, at debug level


_recording = threading.local()       # per thread: signal handlers run in the main thread


@contextlib.contextmanager
def recording_step():
    """Marks the recording of an accepted step: every observer records it, the stepper commits
    it, a checkpoint follows. A "stop at once" (the second Ctrl-C, simulation.py) waits for it to
    end — it would otherwise leave running totals a step ahead of the checkpointed state — and
    the loop then stops after the step, the first Ctrl-C having asked for that. Recording takes
    milliseconds (longer only while a large frame is written). Blocking the signals instead
    (pthread_sigmask) would not do: the kernel hands a process's SIGINT to any thread that does
    not block it (BLAS, Dask), and Python runs the handler in the main thread at once."""
    _recording.depth = getattr(_recording, "depth", 0) + 1
    try:
        yield
    finally:
        _recording.depth -= 1


def is_recording_step() -> bool:
    """Whether this thread is recording an accepted step (recording_step)."""
    return getattr(_recording, "depth", 0) > 0


class Stepper:
    def __init__(self, system, observers: list[Observer], policy: StepPolicy | None = None,
                 warn=None):
        self.sys = system
        self.observers = observers
        self.policy = policy or StepPolicy()
        self.counters = Counters()
        self.warn = warn or (lambda message: None)          # run.py logs them
        self.ceiling = self._ceiling()
        self.warned: set[int] = set()
        self.undershot: set[int] = set()
        # schemes without a maximum principle (solver/nonorthogonal.py, solver/symmetric_flux.py):
        # their small undershoots are let pass (policy.negative_rel); monotone ones get none
        self.undershoots = system.nonorthogonal in ("correct", "symmetric")
        self.res = Residual(system)
        self.pattern = JacobianPattern(system, self.res.pairs)
        self.linear = choose(self.res, self.pattern, self.counters)
        time = system.case.time
        self.integrator = INTEGRATORS[time.method](self.res, self.linear, self.policy, self.counters)
        self.counters.extra["method"] = time.method if time.mode == "transient" else "steady"
        from ..stochastic.coupling import Coupling

        self.markov = Coupling.for_system(system)       # stochastic channel clusters, if any

    # ------------------------------------------------------------------------- helpers --

    def initial_state(self) -> State:
        U = self.sys.initial.copy()
        snapshot = self.markov.start(U, 0.0) if self.markov is not None else None
        return State(U, 0.0, initial_gates(self.sys, U), self.sys.case.time.dt.initial, snapshot)

    def _explicit(self, U, gates, t, active):
        """The right-hand side at an accepted state with its gates held (f_n of the next step)."""
        return self.res.evaluate(U, Stage(np.inf, t, fixed_gates=gates), active, want_jacobian=False)

    def _ceiling(self) -> np.ndarray:
        """Per unknown, the concentration above which a run is suspect: 10 × the largest value the
        case gives anywhere (initial, bath, outside of a flux), never above 1 M — a 1e9 pA
        channel, or D = 0 everywhere, otherwise runs to absurd values without a word."""
        case = self.sys.case
        given = [float(np.max(np.abs(self.sys.initial)))]
        given += [v for b in case.boundaries for v in b.concentrations.values()]
        given += [v for f in case.fluxes for v in f.outside.values()]
        return np.full(self.sys.n_unknowns, min(10.0 * max(max(given), 1e-300), 1e6))

    def _check_ceiling(self, U, t: float) -> None:
        high = np.max(U, axis=1) > self.ceiling
        for k in np.flatnonzero(high):
            if k in self.warned:
                continue
            self.warned.add(int(k))
            cell = int(np.argmax(U[k]))
            message = (f"at t = {t:.6g} ms {place(self.sys, int(k), cell)} reached {U[k, cell]:.4g} uM, "
                       f"above {self.ceiling[k]:.4g} uM (10x the largest initial value, at most 1 M): "
                       "check the fluxes' magnitudes and the diffusivities")
            self.counters.extra.setdefault("warnings", []).append(message)
            self.warn(message)

    def _check_undershoot(self, U, t: float) -> None:
        """Record (once per unknown a warning, and the deepest value) an accepted state below
        −negative_atol·atol that `_negativity` let pass as the diffusion scheme's undershoot."""
        if not self.undershoots:
            return
        low = np.min(U, axis=1) < -self.policy.negative_atol * self.sys.atol
        for k in np.flatnonzero(low):
            cell = int(np.argmin(U[k]))
            value, rel = float(U[k, cell]), float(U[k, cell] / np.max(np.abs(U[k])))
            deepest = self.counters.extra.setdefault("undershoot", {})
            name = self.sys.chemistry.unknowns[k].name
            if name not in deepest or value < deepest[name]["uM"]:
                deepest[name] = {"uM": value, "of_largest": rel, "t_ms": t}
            if k in self.undershot:
                continue
            self.undershot.add(int(k))
            message = (f"at t = {t:.6g} ms {place(self.sys, int(k), cell)} undershot to {value:.3g} uM "
                       f"({-rel:.2g} of its largest value): the diffusion scheme has no maximum "
                       "principle on this mesh (solver.nonorthogonal); the deepest value is in the "
                       "manifest (solver.undershoot)")
            self.counters.extra.setdefault("warnings", []).append(message)
            self.warn(message)

    def _negativity(self, U, t: float) -> str | None:
        pol = self.policy
        scale = self.sys.atol
        if self.undershoots:
            scale = np.maximum(scale, pol.negative_rel * np.max(np.abs(U), axis=1))
        floor = -pol.negative_atol * scale[:, None]
        low = U < floor
        if not np.any(low):
            return None
        k, cell = np.unravel_index(int(np.argmin(np.where(low, U / self.sys.atol[:, None], 0.0))), U.shape)
        return (f"negative concentration {U[k, cell]:.3g} uM of {place(self.sys, int(k), int(cell))} "
                f"at t = {t:.6g} ms")

    def _info(self, t, h, its, result, gates) -> StepInfo:
        angle = self.sys.domain.angle
        amounts = {b: {ion: float(q.sum()) * angle for ion, q in per_ion.items()}
                   for b, per_ion in result.amounts.items()}
        outside: dict[str, float] = {}
        for b in self.sys.bindings:
            for ion, q in result.amounts.get(b.name, {}).items():
                enters = q[b.src < 0].sum() - q[b.tgt < 0].sum()
                outside[ion] = outside.get(ion, 0.0) + float(enters) * angle
        boundary = np.asarray(result.boundary, float) * angle
        return StepInfo(t, h, its, amounts, boundary, outside, gates,
                        reaction_inflow=reaction_inflow(self.sys, result.created))

    # ---------------------------------------------------------------------------- loop --

    def run(self, t_end: float, frame_times: list[float], progress=None,
            resume: State | None = None, saved: dict | None = None,
            stop_requested=None) -> tuple[np.ndarray, float, str]:
        """Integrate to t_end; `resume` (with the run directory's `saved` records) continues.
        `stop_requested()` is polled between steps (a signal handler's flag): when it returns
        a reason the loop checkpoints the last step and raises KeyboardInterrupt."""
        cfg = self.sys.case.time
        self.stop_requested = stop_requested or (lambda: None)
        start_wall, start_cpu = wallclock.perf_counter(), wallclock.process_time()
        if resume is None:
            state = self.initial_state()
            for ob in self.observers:
                ob.start(self.sys, state.U, state.t)
            for ob in self.observers:
                ob.checkpoint(state)
        else:
            state = resume.copy()
            if self.markov is not None:
                self.markov.restore(state.stochastic)
            for ob in self.observers:
                ob.resume(self.sys, state.U, state.t, saved or {})
        # the last state every observer has recorded: what an interruption checkpoints
        self.committed = state
        status = "completed"
        try:
            if cfg.mode == "steady":
                state, status = self._steady(state, t_end, frame_times, progress)
            else:
                state, status = self._march(state, t_end, frame_times, progress)
        except (SimulationError, KeyboardInterrupt) as exc:
            status = f"stopped: {exc}" if isinstance(exc, SimulationError) else "interrupted"
            self._times(start_wall, start_cpu)
            state = self._snapshot(self.committed)
            for ob in self.observers:
                ob.checkpoint(state)
            for ob in self.observers:
                ob.finish(state.U, state.t, status)
            raise
        self._times(start_wall, start_cpu)
        self._snapshot(state)
        for ob in self.observers:
            ob.checkpoint(state)
        for ob in self.observers:
            ob.finish(state.U, state.t, status)
        return state.U, state.t, status

    def _snapshot(self, state: State) -> State:
        """The stochastic channels' state into `state` before a checkpoint: the engine always
        holds the last accepted step's (its draws queued past it are kept, and used in order)."""
        if self.markov is not None:
            state.stochastic = self.markov.engine.snapshot()
        return state

    def _times(self, wall0, cpu0):
        self.counters.wall_s = wallclock.perf_counter() - wall0
        self.counters.cpu_s = wallclock.process_time() - cpu0

    def _march(self, state: State, t_end: float, frame_times, progress) -> tuple[State, str]:
        cfg = self.sys.case.time
        pol = self.policy
        t = state.t
        stops = sorted({x for x in [*self.sys.breakpoints, t_end] if t * (1 + 1e-12) < x <= t_end})
        events = set(self.sys.breakpoints)
        frames = sorted(f for f in frame_times if f > t * (1 + 1e-12) + 1e-15)
        dt_natural = state.dt
        ev_n, key_n = None, None
        after_reject = False
        rejected_at = None            # (t, h, err) of the last rejection
        last_frame = None
        markov = self.markov
        while state.t < t_end * (1 - 1e-12):
            t = state.t
            stop = next(x for x in stops if x > t * (1 + 1e-12) + 1e-15)
            if markov is not None and markov.engine.pending_stop is not None:
                pending = markov.engine.pending_stop
                if pending > t * (1 + 1e-12) + 1e-15:
                    stop = min(stop, pending)
                else:
                    markov.engine.pending_stop = None
            h, lands = pol.land(min(dt_natural, cfg.dt.max), t, stop)
            if not cfg.adaptive:
                h, lands = (stop - t, True) if t + dt_natural >= stop * (1 - 1e-9) else (dt_natural, False)
            active = self.res.activity(t + h / 2)
            key = tuple(b.active(t + h / 2) for b in self.sys.bindings)
            restart = after_reject or ev_n is None or key != key_n
            if ev_n is None or key != key_n:
                ev_n, key_n = self._explicit(state.U, state.gates, t, active), key
                self.integrator.predictor.reset()          # a flux switched: no extrapolation
            try:
                result = self.integrator.step(state.U, state.gates, ev_n, t, h, active, cfg.rtol,
                                              restart, judge=cfg.adaptive)
                problem = self._negativity(result.ev.U, t + h)
                if problem:
                    raise NotConverged(problem)
            except NotConverged as exc:
                self.counters.rejected += 1
                self.counters.extra["last_failure"] = f"t = {t:.6g} ms, dt = {h:.3g} ms: {exc}"
                log.debug("step from t = %.6g ms with dt = %.3g ms rejected: %s", t, h, exc)
                dt_natural = h * pol.fail_shrink
                after_reject = True
                if dt_natural < cfg.dt.min:
                    raise SimulationError(f"from t = {t:.6g} ms: {exc}; dt fell below dt.min "
                                          f"({cfg.dt.min:g} ms)") from None
                continue
            err = result.error if cfg.adaptive else 0.0
            if err > 1.0 and h > cfg.dt.min:
                self.counters.rejected += 1
                previous = rejected_at[1:] if rejected_at and rejected_at[0] == t else None
                dt_natural = max(pol.rejected_dt(h, err, self.integrator.order, previous), cfg.dt.min)
                rejected_at = (t, h, err)
                after_reject = True
                continue
            if markov is not None:
                # walk the channels along the step; an opening or closing inside it: retake the
                # step to land on it (at dt.min it fires at the step's end)
                plan = markov.plan(t, stop - t if lands else h, state.U, result.ev.U,
                                   final=h <= cfg.dt.min * (1 + 1e-9))
                if plan.land is not None:
                    self.counters.extra["stochastic_retakes"] = \
                        self.counters.extra.get("stochastic_retakes", 0) + 1
                    markov.engine.pending_stop = max(plan.land, t + cfg.dt.min)
                    continue
            # accepted
            U_old, G_old = state.U, ev_n.G
            ev = result.ev
            self.integrator.predictor.accept(U_old, ev.U, h)
            state = State(ev.U, t + h if not lands else stop, ev.gates, dt_natural)
            switched = False
            if markov is not None:
                switched = markov.commit(plan)
                if markov.engine.pending_stop is not None and \
                        markov.engine.pending_stop <= state.t * (1 + 1e-12) + 1e-15:
                    markov.engine.pending_stop = None
            self.counters.steps += 1
            self._check_ceiling(state.U, state.t)
            self._check_undershoot(state.U, state.t)
            info = self._info(state.t, h, result.iterations, result, ev.gates)
            passed = [f for f in frames if f <= state.t * (1 + 1e-12) + 1e-15]
            with recording_step():
                self._record(state, info, passed, t, U_old, G_old, ev.G)
            frames = frames[len(passed):]
            last_frame = passed[-1] if passed else last_frame
            if cfg.adaptive:
                proposal = pol.next_dt(h, err, self.integrator.order, after_reject)
                # a step cut short to land on a stop says little about the natural step
                dt_natural = max(proposal, dt_natural) if (lands and h < dt_natural) else proposal
            else:
                dt_natural = cfg.dt.initial       # back to the fixed step after a failure
            after_reject = False
            ev_n = ev
            if lands and any(abs(state.t - e) <= 1e-12 + 1e-9 * e for e in events):
                dt_natural = min(dt_natural, cfg.dt.initial)     # a flux switched: start small
            if switched:
                ev_n = None                     # a channel opened or closed: new f_n, start small
                dt_natural = min(dt_natural, cfg.dt.initial)
            state.dt = dt_natural
            if passed:
                with recording_step():
                    self._snapshot(state)
                    for ob in self.observers:
                        ob.checkpoint(state)
            if progress is not None:
                progress(state.t, t_end, h)
            reason = self.stop_requested()
            if reason:
                raise KeyboardInterrupt(reason)
            if cfg.steady_state is not None and self._at_steady(state.U, U_old, h, cfg.steady_state):
                self._final_frame(state, last_frame)
                return state, "steady state"
        self._final_frame(state, last_frame)
        return state, "completed"

    def _record(self, state: State, info: StepInfo, passed: list[float], t: float, U_old, G_old, G):
        """Every observer records the accepted step, then the frames it passed (the cubic Hermite
        interpolant between t and state.t), and the step is committed."""
        for ob in self.observers:
            ob.step(state.U, info)
        self.committed = state
        for f in passed:
            U_f = state.U if abs(f - state.t) <= 1e-12 * max(f, 1e-30) else \
                hermite(f, t, U_old, G_old, state.t, state.U, G, self.res.V)
            for ob in self.observers:
                ob.frame(U_f, f)

    def _final_frame(self, state: State, last_frame: float | None):
        """Always keep the final state as a frame."""
        if last_frame is None or abs(state.t - last_frame) > 1e-12 * max(state.t, 1e-30):
            for ob in self.observers:
                ob.frame(state.U, state.t)

    def _at_steady(self, U, U_prev, h, tol) -> bool:
        rate = np.abs(U - U_prev) / h / (self.sys.atol[:, None] + np.abs(U))
        return bool(np.max(rate) < tol)

    def _steady(self, state: State, t_end: float, frame_times, progress) -> tuple[State, str]:
        from .steady import solve_steady

        try:
            U, gates, info, report = solve_steady(self.res, self.linear, state.U, t_end,
                                                  self.policy, self.counters)
        except NotConverged as exc:
            # pseudo-transient Newton failed: march in time instead, from the initial state
            self.counters.extra["steady_solve"] = f"failed ({exc}); marched in time instead"
            return self._march(state, t_end, frame_times, progress)
        self.counters.extra["steady_solve"] = report
        state = State(U, t_end, gates, state.dt)
        self._check_ceiling(state.U, t_end)
        for ob in self.observers:
            ob.step(state.U, info)
        for ob in self.observers:
            ob.frame(state.U, t_end)
        return state, "steady state"
