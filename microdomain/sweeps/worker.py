"""What a worker does with one point of a sweep: build the case, run it into its run directory
(resuming it if an earlier attempt left a checkpoint), and hand back one row of the summary.

`run_point` never raises: a failed point is a row with its status and message, so the other
points go on. It polls a stop request between time steps (a Dask Event the client sets on
Ctrl-C, rate-limited to one look per `POLL_S`), so a stopped point checkpoints its current step
and can be resumed. Dask imports this module on each worker by name.

`dask_setup` makes the module a worker preload (`--preload microdomain.sweeps.worker`): it keeps
worker processes out of the terminal's Ctrl-C (the client stops them cleanly instead) and starts
importing the solver while the worker registers.
"""

from __future__ import annotations

import os

# before numpy is imported anywhere in this process (microdomain/__init__.py does the same)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import io  # noqa: E402
import math  # noqa: E402
import tarfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

POLL_S = 0.25
BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

NOT_STARTED = "pending"      # a point the sweep did not start (stopped first); not a run status
INVALID = "invalid"          # a point whose case could not be built (a mesh file, a flux ...)


def dask_setup(worker=None):
    """Worker preload: ignore SIGINT (a terminal's Ctrl-C reaches every process of the group;
    the client asks running points to stop instead), and import the solver in the background."""
    import signal
    import threading

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:           # not the main thread: nothing to do
        pass
    threading.Thread(target=_warm_up, daemon=True).start()


def _warm_up():
    try:
        import microdomain.simulation  # noqa: F401
    except Exception:  # noqa: BLE001 - the point's own import reports it
        pass


class _Stop:
    """The stop request of a sweep, looked at no more often than every POLL_S seconds: a Dask
    Event (on a worker), or any callable returning a reason or None."""

    def __init__(self, source):
        self.source, self.last, self.reason = source, 0.0, None

    def __call__(self):
        if self.reason or self.source is None:
            return self.reason
        now = time.monotonic()
        if now - self.last < POLL_S:
            return None
        self.last = now
        try:
            self.reason = self.source() if callable(self.source) else _event_reason(self.source)
        except Exception:  # noqa: BLE001 - a scheduler that is gone: stop
            self.reason = "SIGTERM"
        return self.reason


def _event_reason(name: str):
    from distributed import Event, Variable

    if Event(name).is_set():
        return Variable(name).get(timeout=5) or "SIGINT"
    return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def pack(directory: Path) -> bytes:
    """A run directory as an uncompressed tar (run directories go through futures when the
    workers do not share the sweep's filesystem)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if directory.is_dir():
            for path in sorted(directory.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return buf.getvalue()


def unpack(data: bytes, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(directory, filter="data")


def run_point(task: dict) -> dict:
    """Run one point: task holds `label`, `case` (a Case), `run_dir` (where it runs),
    `metrics`, `stop` (the Event's name, or a callable), `log_level` and, for workers without
    the shared filesystem, `transfer` (the run directory so far, packed, or b"")."""
    import microdomain  # noqa: F401  - pins BLAS before numpy if nothing has yet

    label = task["label"]
    stop = _Stop(task.get("stop"))
    row = {"point": label, "status": NOT_STARTED, "message": "", "worker": _worker_name(),
           "started": None, "finished": None, "wall_s": math.nan, "cpu_s": math.nan,
           "t_ms": math.nan, "resumed_from_ms": math.nan}
    if stop():
        row["message"] = "not started: the sweep was stopped"
        return row
    scratch = None
    if task.get("transfer") is not None:
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix=f"microdomain-{label}-")
        run_dir = Path(scratch.name) / label
        if task["transfer"]:
            unpack(task["transfer"], run_dir)
    else:
        run_dir = Path(task["run_dir"])
    try:
        _run(task, run_dir, stop, row)
        if scratch is not None:
            row["transfer"] = pack(run_dir)
    finally:
        if scratch is not None:
            scratch.cleanup()
    return row


def _run(task: dict, run_dir: Path, stop: _Stop, row: dict) -> None:
    from ..case import CaseError
    from ..rundir import LOG, NotARunError, ResumeError, RunDirectory
    from ..simulation import Simulation
    from ..solver import SimulationError

    case = task["case"]
    rundir = RunDirectory(run_dir)
    row["started"] = _now()
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    try:
        if rundir.is_complete(case.sha256):          # finished by an earlier attempt
            resume = None
        else:
            resume = _resumable(rundir, case.sha256)
            sim = Simulation(case)
            if resume is not None:
                row["resumed_from_ms"] = resume
            try:
                # the scheduler runs a point once at a time: a lock left by a worker that died on
                # another host is taken over (one of this host is taken only if its PID is dead)
                sim.run(out=run_dir, resume=resume is not None, overwrite=resume is None,
                        log_level=task.get("log_level", "INFO"), stop=stop, take_foreign_lock=True)
            except ResumeError as exc:               # a checkpoint that cannot be read: again
                row["message"] = f"started again ({exc}); "
                row["resumed_from_ms"] = math.nan
                sim.run(out=run_dir, overwrite=True, log_level=task.get("log_level", "INFO"),
                        stop=stop, take_foreign_lock=True)
    except CaseError as exc:
        row.update(status=INVALID, message="; ".join(f"{p.path}: {p.message}" for p in exc.problems))
        row["problems"] = [(p.file, p.path, p.message) for p in exc.problems]
    except (SimulationError, KeyboardInterrupt):
        pass                                       # the manifest says how it ended
    except Exception as exc:  # noqa: BLE001 - a point's failure is recorded; the rest go on
        row.update(status="failed", message=f"{type(exc).__name__}: {exc}")
        row["traceback"] = traceback.format_exc()
    row["wall_s"] = time.perf_counter() - wall0
    row["cpu_s"] = time.thread_time() - cpu0
    row["finished"] = _now()
    if row["status"] in (INVALID, "failed") and not rundir.file("manifest.json").is_file():
        return
    try:
        manifest = rundir.manifest()
    except (NotARunError, OSError, ValueError) as exc:
        if row["status"] == NOT_STARTED:
            row.update(status="failed", message=f"no manifest after the run ({exc})")
        return
    if row["status"] == NOT_STARTED:
        row["status"] = str(manifest.status)
        row["message"] += manifest.message
    row["t_ms"] = manifest.time_ms if manifest.time_ms is not None else math.nan
    row["log"] = LOG
    row["metrics"] = read_metrics(rundir, task.get("metrics", {}))


def _resumable(rundir, sha256: str):
    """The checkpoint time of a run of this case that can be continued, or None."""
    from ..rundir import CHECKPOINT

    try:
        manifest = rundir.manifest()
    except Exception:  # noqa: BLE001 - nothing to resume
        return None
    if manifest.case_sha256 != sha256 or not rundir.file(CHECKPOINT).is_file():
        return None
    try:
        state, _ = rundir.checkpoint()
    except Exception:  # noqa: BLE001
        return None
    return float(state.t)


def read_metrics(rundir, paths: dict[str, str]) -> dict:
    """{column: value} of metrics.json at the sweep's paths; NaN (and a note) where absent."""
    try:
        metrics = rundir.metrics()
    except Exception:  # noqa: BLE001 - a run stopped before its first metrics
        return {col: math.nan for col in paths}
    out = {}
    for col, path in paths.items():
        try:
            out[col] = float(metrics.value(path))
        except (KeyError, TypeError, ValueError):
            out[col] = math.nan
    return out
