"""A case built once into its mesh and discrete system, and run — in memory, or into a run
directory — returning a :class:`~microdomain.result.Result`.

    sim = Simulation(case)          # mesh and operator built here, once; CaseError if they cannot be
    res = sim.run()                 # in memory
    res = sim.run(out="runs/x")     # and the run directory (rundir.py writes every file)

The CLI, sweeps and the verification studies all run through here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata as md
import logging
import platform
import time as wallclock
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .case import Case, CaseError, Problem
from .progress import Progress
from .records import FORMAT, Manifest, Status
from .result import Result, memory_result, open_run
from .rundir import RunDirectory, resume_state
from .solver.state import Watcher
from .stochastic import GENERATOR

PACKAGES = ("fipy", "numpy", "scipy", "meshio", "pint", "pydantic", "pyvista")
log = logging.getLogger("microdomain.run")


def output_times(case: Case) -> list[float]:
    """The frame times of a case: every `output.every` ms, and the end."""
    every = case.output.every
    if every is None:
        return [case.time.end]
    n = int(np.floor(case.time.end / every + 1e-9))
    return [every * (i + 1) for i in range(n)] + ([case.time.end] if n * every < case.time.end * (1 - 1e-9) else [])


def citations(case: Case) -> list[str]:
    keys = list(case.info.references)
    for s in case.species:
        keys += s.references
    for b in case.buffers:
        keys += b.references
    from .fluxes import registry
    from .parameters import flux_presets
    from .reactions import registry as reaction_models
    from .stochastic import SCHEMES
    for r in case.reactions:
        keys += list(r.references) + list(reaction_models.get(r.model).references)
    for f, params in zip(case.fluxes, case.flux_params):
        keys += registry.get(f.model).references
        if getattr(registry.get(f.model), "stochastic", False):
            keys += list(SCHEMES[params.scheme].references)
        if f.preset is not None:
            keys += flux_presets()[f.model][f.preset].references
    return list(dict.fromkeys(keys))


def _build(case: Case):
    """(domain, system), with what the model cannot accept reported as case problems."""
    from .assembly import ModelError, build_system
    from .mesh import GeometryError, build_domain

    file = str(case.path)
    try:
        domain = build_domain(case.builder.build(case.geometry))
    except (GeometryError, ValueError) as exc:
        raise CaseError([Problem(file, "geometry", str(exc))]) from None
    if case.output.revolve and not domain.cylindrical:
        raise CaseError([Problem(file, "output.revolve", "only axisymmetric (r, z) runs can be "
                                 f"revolved into 3D; this geometry is {domain.dim}D cartesian")])
    if case.output.format == "vtkhdf":
        from .vtkhdf import VTKHDFError, h5py_module

        try:
            h5py_module()
        except VTKHDFError as exc:
            raise CaseError([Problem(file, "output.format", str(exc))]) from None
    _check_probes_in_mesh(case, domain)
    try:
        system = build_system(case, domain)
    except ModelError as exc:
        raise CaseError([Problem(file, path, msg) for path, msg in exc.problems]) from None
    from .stochastic.coupling import side_problems

    problems = side_problems(system)
    if problems:
        raise CaseError([Problem(file, path, msg) for path, msg in problems])
    # FiPy's mesh and its cached geometry are not needed past assembly
    system = dataclasses.replace(system, domain=domain.without_mesh())
    return system.domain, system


def _check_probes_in_mesh(case: Case, domain) -> None:
    """Every probe must lie in a cell of the mesh (and of its `in` compartment): a check that
    needs the built mesh (user mesh files, curved Gmsh bodies)."""
    from .probes import probe_problems

    problems = probe_problems(case.output.probes, domain)
    if problems:
        raise CaseError([Problem(str(case.path), path, msg) for path, msg in problems])


class Simulation:
    """A validated case with its mesh and discrete system, built once."""

    def __init__(self, case: Case):
        if not isinstance(case, Case):
            raise TypeError(f"Simulation takes a Case (md.load_case), not {type(case).__name__}")
        self.case = case
        self.domain, self.system = _build(case)

    @classmethod
    def from_system(cls, system) -> "Simulation":
        """A simulation of an already assembled system (e.g. one with manufactured sources)."""
        sim = cls.__new__(cls)
        sim.case, sim.system, sim.domain = system.case, system, system.domain
        return sim

    def __repr__(self) -> str:
        unknowns = ", ".join(u.name for u in self.system.chemistry.unknowns)
        return f"<Simulation {self.case.info.name}: {self.domain.n_cells} cells, unknowns {unknowns}>"

    def run(self, out=None, *, resume: bool = False, overwrite: bool = False, progress=False,
            log_level: int | str = "INFO", observers=(), t_end: float | None = None,
            frame_times: list[float] | None = None, stop=None,
            take_foreign_lock: bool = False) -> Result:
        """Run the case to its end time (or steady state).

        out: a run directory to write (every file of docs/run-directory.md); refused if it holds
        files, unless `overwrite` or `resume` (continue the run there from its checkpoint).
        progress: True for a progress display on stderr (a Progress, to choose the stream), or
        any callable(t, t_end, dt).
        log_level: of log.txt. observers, t_end, frame_times: for scripts that watch the time
        loop themselves (verification); t_end and frame times in ms.
        stop: a callable polled between steps, like the signals: a reason ("SIGINT", "SIGTERM")
        stops the run after its current step (a sweep's worker stopping on the client's Ctrl-C).
        take_foreign_lock: take over a lock another host holds on `out` (a sweep's scheduler,
        which runs each point once at a time, after a worker on another host died); a live
        lock of this host is always refused (runlock.py).

        Raises SimulationError if the run cannot go on (what was computed is kept in `out`),
        KeyboardInterrupt on Ctrl-C or SIGTERM (after a checkpoint, so `resume` continues),
        RunDirectoryError (ResumeError, RunLockedError) if `out` cannot be written or resumed:
        then nothing in it has changed."""

        # SIGINT/SIGTERM from here on stop the run cleanly (after a step, checkpointed, the lock
        # released), also when they come while it is being set up
        with _StopSignals() as signals:
            return self._guarded(out, resume, overwrite, progress, log_level, observers, t_end,
                                 frame_times, stop, take_foreign_lock, signals)

    def _guarded(self, out, resume, overwrite, progress, log_level, observers, t_end,
                 frame_times, stop, take_foreign_lock, signals) -> Result:
        case, system = self.case, self.system
        requested = lambda: signals.reason or (stop() if stop is not None else None)  # noqa: E731
        rundir = RunDirectory(out) if out is not None else None
        if rundir is None:
            if resume:
                raise ValueError("resume needs `out`: the run directory to continue")
            return self._run(None, False, progress, log_level, observers, t_end, frame_times,
                             requested)
        if resume and overwrite:
            raise ValueError("resume continues the run in `out`; overwrite starts it again: pick one")
        if resume:
            rundir.check_resumable()          # before anything is written there
        elif not (overwrite or rundir.is_empty()):
            raise FileExistsError(f"{rundir.path} exists and is not empty; pass overwrite=True, "
                                  "or resume=True to continue the run there")
        rundir.create()
        from .runlock import RunLock

        # held while this process writes the directory: released at the end, on an error and
        # on SIGINT/SIGTERM (which end the run through KeyboardInterrupt)
        with RunLock(rundir.path, take_foreign=take_foreign_lock) as lock:
            # a refused resume leaves the directory as it was: checked before any file is written
            state, saved = resume_state(case, rundir, system) if resume else (None, None)
            if state is not None:
                from .observers import check_resumed_columns

                check_resumed_columns(system, saved)
            if resume and rundir.is_complete(case.sha256):
                # finished already (the same case): nothing to continue, nothing rewritten
                return open_run(rundir.path)
            return self._run(rundir, resume, progress, log_level, observers, t_end, frame_times,
                             requested, state, saved, lock.took_over)

    def _run(self, rundir, resume, progress, log_level, observers, t_end, frame_times,
             requested, state=None, saved=None, lock_note=None) -> Result:
        from .observers import (ChannelLog, Checkpoint, FluxRecorder, FrameStore, FrameWriter, Metrics,
                                ProbeRecorder)

        case, system = self.case, self.system
        started = _utc_now()
        if rundir is not None and state is None:
            # first thing written: a run killed from here on is one `--resume` starts again
            rundir.write_manifest(self._manifest(None, Status.RUNNING, "", 0.0, 0.0, started))
        fields = list(case.output.fields) if case.output.fields else None
        metrics = Metrics(rundir)
        probes, fluxes = ProbeRecorder(case.output.probes, rundir), FluxRecorder(rundir)
        frames = (FrameWriter(rundir, fields, case.output.revolve, case.output.format) if rundir is not None
                  else FrameStore(fields))
        watchers = [frames, probes, fluxes, metrics, _LogFrames()]
        if rundir is not None:
            watchers.append(Checkpoint(rundir, metrics))

        from .solver import SimulationError, State, Stepper

        handler = rundir.log_handler(_level(log_level), append=resume) if rundir is not None else None
        restore = _attach(handler)
        start = wallclock.perf_counter()
        stepper, status, message, t = None, Status.FAILED, "", 0.0
        try:
            stepper = Stepper(system, watchers + list(observers), warn=log.warning)
            if stepper.markov is not None:
                engine = stepper.markov.engine
                metrics.channels = engine
                if rundir is not None:
                    # before the checkpoint writer: a checkpoint's channel log is on disk first
                    stepper.observers.insert(len(watchers) - 1, ChannelLog(engine, rundir))
                log.info("stochastic gating: seed %d, %s", engine.seed, engine.rng.bit_generator.__class__.__name__)
            extra = stepper.counters.extra
            if lock_note:
                log.warning("%s", lock_note)
            log.info("case %s (%s), sha256 %s", case.info.name, case.path, case.sha256)
            log.info("mesh: %s", self.domain.stats)
            log.info("unknowns: %s", ", ".join(u.name for u in system.chemistry.unknowns))
            log.info("time: %s; linear solver: %s (%s)", extra["method"], extra["linear_strategy"],
                     extra["linear_reason"])
            if state is not None:
                log.info("resuming from the checkpoint at t = %.6g ms", state.t)
                t = state.t
            elif resume:
                log.warning("no checkpoint in %s (the run was killed before its first one): "
                            "starting again at t = 0", rundir.path)
            if rundir is not None:
                rundir.write_manifest(self._manifest(stepper, Status.RUNNING, "", 0.0, t, started))
            bar = _progress(progress)
            try:
                with _warnings_to_log():
                    U, t, text = stepper.run(case.time.end if t_end is None else t_end,
                                             output_times(case) if frame_times is None
                                             else list(frame_times),
                                             bar, resume=state, saved=saved,
                                             stop_requested=requested)
                status = Status(text)
                final = stepper.committed
                if final.t != t:          # a direct steady solve: the loop hands back U alone
                    final = State(U, t, metrics.gates, final.dt)
            except KeyboardInterrupt as exc:
                status = Status.STOPPED if str(exc) == "SIGTERM" else Status.INTERRUPTED
                message = f"on {exc}" if str(exc) else "on Ctrl-C"
                t = stepper.committed.t if hasattr(stepper, "committed") else t
                raise
            except SimulationError as exc:
                message = str(exc)
                t = stepper.committed.t if hasattr(stepper, "committed") else t
                raise
            finally:
                if isinstance(bar, Progress):
                    steady_solve = status is Status.STEADY_STATE and case.time.mode == "steady"
                    bar.close("steady state (solved directly)" if steady_solve else status,
                              None if steady_solve else t)
            c = stepper.counters
            log.info("%s at t = %.6g ms after %d steps (%d rejected), %d Newton iterations, "
                     "%d factorisations, %.2f s CPU", status, t, c.steps, c.rejected,
                     c.newton_iterations, c.factorisations, c.cpu_s)
            for key in ("superlu", "preconditioner", "steady_solve"):
                if key in c.extra:
                    log.info("%s: %s", key, c.extra[key])
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) and status is Status.FAILED:
                # a second Ctrl-C while the run was set up, before its time loop
                status = Status.INTERRUPTED
            if not message:
                message = str(exc) or type(exc).__name__
            log.error("%s: %s", status, message)
            raise
        finally:
            manifest = self._manifest(stepper, status, message, wallclock.perf_counter() - start, t,
                                      started, _utc_now())
            if rundir is not None:
                rundir.write_manifest(manifest)
            restore()
        if rundir is not None:
            return open_run(rundir.path, state=final)
        engine = stepper.markov.engine if stepper.markov is not None else None
        return memory_result(self, manifest, metrics.final, probes, fluxes, frames, final,
                             engine.event_rows() if engine else (), engine.count_rows() if engine else ())

    def _manifest(self, stepper, status: Status, message: str, wall: float, t: float,
                  started: str | None = None, finished: str | None = None) -> Manifest:
        import fipy as fp

        case, domain = self.case, self.domain
        versions = {"microdomain": __version__, "python": platform.python_version()}
        for pkg in PACKAGES:
            try:
                versions[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                versions[pkg] = None
        c = stepper.counters if stepper else None
        return Manifest(
            format=FORMAT, status=status, message=message, case_file=str(case.path),
            case_sha256=case.sha256, case=case.normalised(), versions=versions,
            fipy_solver_suite=fp.solvers.solver_suite,
            solver=(dict(c.extra, factorisations=c.factorisations, cpu_s=c.cpu_s,
                         nonorthogonal=self.system.nonorthogonal) if c else None),
            linear_strategy=c.extra.get("linear_strategy") if c else None,
            mesh=dict(domain.stats, compartments=list(domain.compartment_names),
                      surfaces=list(domain.surfaces)),
            time_ms=t, wall_time_s=wall, started=started, finished=finished,
            steps=c.steps if c else 0,
            rejected_steps=c.rejected if c else 0,
            newton_iterations=c.newton_iterations if c else 0,
            linear_solves=c.linear_solves if c else 0, citations=citations(case),
            stochastic=({"seed": case.stochastic.seed, "generator": GENERATOR}
                        if case.stochastic is not None else None))


def _utc_now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _level(level: int | str) -> int:
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        if not isinstance(value, int):
            raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
        return value
    return int(level)


def _attach(handler):
    """Send the package's log records to `handler` for the run; returns the undo."""
    if handler is None:
        return lambda: None
    logger = logging.getLogger("microdomain")
    old = logger.level
    if logger.getEffectiveLevel() > handler.level:
        logger.setLevel(handler.level)
    logger.addHandler(handler)

    def restore():
        logger.removeHandler(handler)
        logger.setLevel(old)
        handler.close()

    return restore


def _progress(progress):
    return Progress() if progress is True else (progress or None)


class _LogFrames(Watcher):
    """Debug lines in the log: every frame and checkpoint."""

    def start(self, system, U, t):
        self.frame(U, t)            # the frame writers write the initial frame at start

    def frame(self, U, t):
        log.debug("frame at t = %.6g ms", t)

    def checkpoint(self, state):
        log.debug("checkpoint at t = %.6g ms, next dt %.3g ms", state.t, state.dt)


@contextlib.contextmanager
def _warnings_to_log():
    """Warnings raised during a run go to the log (log.txt), not to stderr.

    NumPy's floating-point errors (overflow, division by zero, invalid values) are logged once per
    kind: the solver judges values itself (a non-finite Newton update rejects the step, negativity
    and the concentration ceiling are checked and reported with field, place and time), so these
    add only noise on the console. np.errstate is local to the thread (a context variable).
    Python warnings (`warnings.warn`: a library's RuntimeWarning, a plugin's own warning) are
    logged with their category and origin, each distinct message once, the way Python's default
    filter shows them."""
    seen: set[str] = set()

    def report(kind: str, flag: int) -> None:
        if kind not in seen:
            seen.add(kind)
            log.warning("NumPy floating-point error during the run: %s (first of its kind; the "
                        "solver rejects steps with non-finite values)", kind)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        key = f"{category.__name__}: {message}"
        if key not in seen:
            seen.add(key)
            log.warning("%s (%s:%d)", key, filename, lineno)

    with np.errstate(divide="call", over="call", invalid="call", call=report), \
            warnings.catch_warnings():
        warnings.simplefilter("always")        # `seen` does the once-only, per run
        warnings.showwarning = show
        yield


class _StopSignals:
    """SIGINT and SIGTERM ask the time loop to stop after its current step (it then checkpoints,
    so a resume continues exactly); a second SIGINT interrupts at once — except while an accepted
    step is being recorded, which it waits for (solver/loop.py, recording_step). Only in the main
    thread, where Python delivers signals."""

    def __init__(self):
        self.reason = None
        self.previous = {}

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        import signal

        if self.reason is not None and signum == signal.SIGINT:
            from .solver.loop import is_recording_step

            if is_recording_step():
                return          # the loop stops right after this step: the first Ctrl-C asked it to
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc):
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


__all__ = ["Simulation", "citations", "output_times"]
