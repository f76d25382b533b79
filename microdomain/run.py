"""One run of a case into a run directory: the call older scripts and tests use.

New code uses the API: ``md.Simulation(case).run(out=...)`` (simulation.py), whose Result says
everything this returns and more.
"""

from __future__ import annotations

from pathlib import Path

from .case import Case
from .records import Status
from .rundir import ResumeError, RunDirectory
from .rundir import resume_state as _resume_state
from .simulation import Simulation, citations, output_times

frame_times = output_times

__all__ = ["ResumeError", "citations", "frame_times", "resume_state", "run"]


def run(case: Case, out_dir, quiet: bool = False, resume: bool = False) -> tuple[Status, Path]:
    """Run a case into `out_dir` (reused if it holds files), or continue the run there; return
    (status, out_dir). Raises CaseError if the model cannot be built, SimulationError after
    writing everything computed until the failure."""
    res = Simulation(case).run(out=out_dir, resume=resume, overwrite=not resume, progress=not quiet)
    return res.status, Path(out_dir)


def resume_state(case: Case, out_dir, system):
    """(State, saved) to continue the run in out_dir from its checkpoint."""
    return _resume_state(case, RunDirectory(out_dir), system)
