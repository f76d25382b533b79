"""One run: case file → run directory (DESIGN.md's contract)."""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import json
import logging
import platform
import time as wallclock
import xml.etree.ElementTree as ET
from pathlib import Path

import fipy as fp
import numpy as np

from . import __version__
from .assembly import build_system
from .case import Case
from .io import atomic_write_json, read_csv_rows, read_pvd
from .mesh import build_domain
from .observers import (Checkpoint, FluxRecorder, FrameWriter, Metrics, ProbeRecorder, Progress,
                        read_checkpoint)
from .solver import Stepper

PACKAGES = ("fipy", "numpy", "scipy", "meshio", "pint", "pydantic")


def frame_times(case: Case) -> list[float]:
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
    for r in case.reactions:
        keys += list(r.references) + list(reaction_models.get(r.model).references)
    for f in case.fluxes:
        keys += registry.get(f.model).references
        if f.preset is not None:
            keys += flux_presets()[f.model][f.preset].references
    return list(dict.fromkeys(keys))


def _manifest(case: Case, domain, stepper, status: str, wall: float) -> dict:
    versions = {"microdomain": __version__, "python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    c = stepper.counters if stepper else None
    return {
        "status": status,
        "case_file": str(case.path),
        "case_sha256": case.sha256,
        "case": case.normalised(),
        "versions": versions,
        "fipy_solver_suite": fp.solvers.solver_suite,
        "solver": dict(c.extra, factorisations=c.factorisations, cpu_s=c.cpu_s) if c else None,
        "linear_strategy": c.extra.get("linear_strategy") if c else None,
        "mesh": dict(domain.stats, compartments=list(domain.compartment_names),
                     surfaces=list(domain.surfaces)) if domain else None,
        "wall_time_s": wall,
        "steps": c.steps if c else 0,
        "rejected_steps": c.rejected if c else 0,
        "newton_iterations": c.newton_iterations if c else 0,
        "linear_solves": c.linear_solves if c else 0,
        "citations": citations(case),
    }


class ResumeError(ValueError):
    """A run directory that cannot be continued; the message says why."""


def resume_state(case: Case, out_dir: Path, system):
    """(State, saved) to continue the run in out_dir from its checkpoint: the accepted state,
    the metrics' running totals, and the frames, probe and flux rows up to that time."""
    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
        state, saved = read_checkpoint(out_dir / "checkpoint.npz")
        frames = read_pvd(out_dir / "fields.pvd")
    except (OSError, ValueError, KeyError, ET.ParseError) as exc:
        raise ResumeError(f"{out_dir} holds no run to resume ({exc})") from None
    if manifest.get("case_sha256") != case.sha256:
        raise ResumeError(f"{case.path} has changed since the run in {out_dir} was started "
                          "(case hash differs); resume needs the same case file")
    if state.U.shape != system.initial.shape:
        raise ResumeError(f"the checkpoint in {out_dir} holds {state.U.shape} values, the case "
                          f"needs {system.initial.shape}")
    t = state.t
    keep = lambda rows: [r for r in rows if r[0] <= t * (1 + 1e-12)]  # noqa: E731
    probes = read_csv_rows(out_dir / "probes.csv") if (out_dir / "probes.csv").exists() else []
    flux_rows = read_csv_rows(out_dir / "fluxes.csv") if (out_dir / "fluxes.csv").exists() else []
    saved.update(frames=[f for f in frames if f[0] <= t * (1 + 1e-12)], probe_rows=keep(probes),
                 flux_rows=keep(flux_rows))
    return state, saved


class _StopSignals:
    """SIGINT and SIGTERM ask the time loop to stop after its current step (it then checkpoints,
    so `--resume` continues exactly); a second SIGINT interrupts at once. Only in the main thread,
    where Python delivers signals."""

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
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc):
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def run(case: Case, out_dir: Path, quiet: bool = False, resume: bool = False) -> tuple[str, Path]:
    """Run a case into `out_dir` (or continue the run there); return (status, out_dir). Raises
    SimulationError after writing everything computed until the failure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"microdomain.run.{id(out_dir)}")
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(out_dir / "log.txt", mode="a" if resume else "w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    start = wallclock.perf_counter()
    domain = stepper = None
    status = "failed"
    try:
        log.info("case %s (%s), sha256 %s", case.info.name, case.path, case.sha256)
        domain = build_domain(case.builder.build(case.geometry))
        log.info("mesh: %s", domain.stats)
        system = build_system(case, domain)
        system = dataclasses.replace(system, domain=domain.without_mesh())
        del domain          # FiPy's mesh and its cached geometry: not needed past assembly
        domain = system.domain
        metrics = Metrics(out_dir / "metrics.json")
        observers = [FrameWriter(out_dir, list(case.output.fields) if case.output.fields else None),
                     ProbeRecorder(out_dir / "probes.csv", case.output.probes),
                     FluxRecorder(out_dir / "fluxes.csv"),
                     metrics, Checkpoint(out_dir / "checkpoint.npz", metrics)]
        stepper = Stepper(system, observers)
        extra = stepper.counters.extra
        log.info("unknowns: %s", ", ".join(u.name for u in system.chemistry.unknowns))
        log.info("time: %s; linear solver: %s (%s)", extra["method"], extra["linear_strategy"],
                 extra["linear_reason"])
        state, saved = resume_state(case, out_dir, system) if resume else (None, None)
        if state is not None:
            log.info("resuming from the checkpoint at t = %.6g ms", state.t)
        atomic_write_json(out_dir / "manifest.json", _manifest(case, domain, stepper, "running", 0.0))
        progress = None if quiet else Progress()
        try:
            with _StopSignals() as signals:
                _, t, status = stepper.run(case.time.end, frame_times(case), progress, resume=state,
                                           saved=saved, stop_requested=lambda: signals.reason)
        finally:
            if progress:
                progress.close()
        c = stepper.counters
        log.info("%s at t = %.6g ms after %d steps (%d rejected), %d Newton iterations, "
                 "%d factorisations, %.2f s CPU", status, t, c.steps, c.rejected,
                 c.newton_iterations, c.factorisations, c.cpu_s)
        for key in ("superlu", "preconditioner", "steady_solve"):
            if key in c.extra:
                log.info("%s: %s", key, c.extra[key])
        return status, out_dir
    except BaseException as exc:
        status = f"failed: {exc}" if str(exc) else f"failed: {type(exc).__name__}"
        log.error(status)
        raise
    finally:
        atomic_write_json(out_dir / "manifest.json",
                          _manifest(case, domain, stepper, status, wallclock.perf_counter() - start))
        log.removeHandler(handler)
        handler.close()
