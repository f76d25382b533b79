"""One run: case file → run directory (DESIGN.md's contract)."""

from __future__ import annotations

import importlib.metadata as md
import json
import logging
import platform
import time as wallclock
import xml.etree.ElementTree as ET
from pathlib import Path

import fipy as fp
import meshio
import numpy as np

from . import __version__
from .assembly import build_system
from .case import Case
from .io import atomic_write_json, read_csv_rows, read_pvd
from .mesh import build_domain
from .observers import FluxRecorder, FrameWriter, Metrics, ProbeRecorder, Progress
from .stepper import Stepper

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


def resume_state(case: Case, out_dir: Path, system) -> tuple[np.ndarray, float, dict]:
    """(U, t, saved) at the last frame whose metrics were written, from a run directory."""
    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
        metrics = json.loads((out_dir / "metrics.json").read_text())
        frames = read_pvd(out_dir / "fields.pvd")
    except (OSError, ValueError, ET.ParseError) as exc:
        raise ResumeError(f"{out_dir} holds no run to resume ({exc})") from None
    if manifest.get("case_sha256") != case.sha256:
        raise ResumeError(f"{case.path} has changed since the run in {out_dir} was started "
                          "(case hash differs); resume needs the same case file")
    t = metrics["time_ms"]
    matching = [i for i, (tf, _) in enumerate(frames) if abs(tf - t) <= 1e-9 * max(abs(t), 1e-12)]
    if not matching:
        raise ResumeError(f"no frame in {out_dir}/fields.pvd at t = {t} ms, the time of metrics.json")
    index = matching[-1]
    data = meshio.read(out_dir / frames[index][1]).cell_data
    names = [u.name for u in system.chemistry.unknowns]
    missing = [n for n in names if n not in data]
    if missing:
        raise ResumeError(f"the frames lack {', '.join(missing)}: resume needs every unknown in "
                          "them (leave output.fields unset)")
    U = np.array([np.asarray(data[n][0], float) for n in names])
    probes = read_csv_rows(out_dir / "probes.csv") if (out_dir / "probes.csv").exists() else []
    flux_rows = read_csv_rows(out_dir / "fluxes.csv") if (out_dir / "fluxes.csv").exists() else []
    return U, t, {"frames": frames[: index + 1], "probe_rows": probes, "flux_rows": flux_rows,
                  "metrics": metrics}


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
        observers = [FrameWriter(out_dir, list(case.output.fields) if case.output.fields else None),
                     ProbeRecorder(out_dir / "probes.csv", case.output.probes),
                     FluxRecorder(out_dir / "fluxes.csv"),
                     Metrics(out_dir / "metrics.json")]
        stepper = Stepper(system, observers)
        log.info("unknowns: %s; linear strategy: %s",
                 ", ".join(u.name for u in system.chemistry.unknowns), stepper.strategy.name)
        state = resume_state(case, out_dir, system) if resume else None
        if state is not None:
            log.info("resuming from the frame at t = %.6g ms", state[1])
        atomic_write_json(out_dir / "manifest.json", _manifest(case, domain, stepper, "running", 0.0))
        progress = None if quiet else Progress()
        try:
            _, t, status = stepper.run(case.time.end, frame_times(case), progress, resume=state)
        finally:
            if progress:
                progress.close()
        log.info("%s at t = %.6g ms after %d steps (%d rejected), %.2f s", status, t,
                 stepper.counters.steps, stepper.counters.rejected, stepper.counters.wall_s)
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
