"""Running a sweep on Dask distributed: every point a task, one run directory per point.

    md.sweep("cases/mam_gap_sweep.toml", out="runs/gaps", jobs=2)       # a LocalCluster
    md.sweep(..., scheduler="tcp://host:8786")                          # an existing cluster
    md.sweep(..., client=client)                                        # your own Client

`jobs=N` starts a LocalCluster of N single-threaded worker processes (BLAS pinned to one
thread); `jobs=0` runs the points one after another in this process, without Dask. Points
already finished in `out` (same case hash) are reused, unfinished ones are resumed from their
checkpoints, a failed point is recorded and the others go on (`fail_fast` stops at the first),
a point whose worker died is run again by the scheduler (and resumes its checkpoint). Ctrl-C
or SIGTERM ask every running point to stop after its current step (it checkpoints), record
the summary and raise SweepInterrupted; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import summary as tables
from .spec import Plan, plan as make_plan
from ..errors import MicrodomainError
from .worker import BLAS_ENV, INVALID, NOT_STARTED, run_point, unpack

log = logging.getLogger("microdomain.sweep")

FINISHED = ("completed", "steady state")
WRITE_EVERY_S = 2.0          # the summary is rewritten at most this often while points finish
CONNECT_TIMEOUT = "30s"      # to reach a scheduler given by --scheduler


class SweepError(MicrodomainError, RuntimeError):
    """A sweep that cannot start (no cluster, workers that cannot see the run directories)."""


@dataclass
class SweepOutcome:
    """What a sweep did: its directory, the summary table, and how many points ended how."""

    path: Path
    table: object                              # pandas DataFrame, as summary.parquet
    counts: dict[str, int] = field(default_factory=dict)
    reused: int = 0
    interrupted: str | None = None             # "SIGINT" / "SIGTERM" / "fail-fast" when stopped
    problems: list = field(default_factory=list)      # of invalid points: (file, path, message)

    @property
    def ok(self) -> bool:
        """Every point finished."""
        return sum(self.counts.get(s, 0) for s in FINISHED) == len(self.table)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts.items())
        return f"<SweepOutcome {self.path}: {counts}>"


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the sweep; `outcome` holds what was done (rerun to resume)."""

    def __init__(self, outcome: SweepOutcome):
        super().__init__(outcome.interrupted or "SIGINT")
        self.outcome = outcome


def sweep(sweep, out=None, *, jobs: int = 1, client=None, scheduler: str | None = None,
          transfer: bool = False, fail_fast: bool = False, progress=False,
          log_level: int | str = "INFO") -> SweepOutcome:
    """Run a sweep (a sweep file, its [sweep] table as a dict, or a plan) into `out` (default
    runs/<sweep name>); return a SweepOutcome, whose `table` is the summary.

    jobs: worker processes of a LocalCluster (0: in this process, no Dask); scheduler: the
    address of a running scheduler (tcp://host:8786) or its scheduler file; client: a Dask
    Client to use as it is. transfer: the workers do not share `out` — run directories go to
    and from them through the futures. fail_fast: stop at the first failed point.
    progress: True for a display of the points on stderr (or a stream to write it to).

    Raises CaseError (nothing has run) if any point's case is invalid; SweepInterrupted after
    Ctrl-C or SIGTERM (the summary written; running points checkpointed)."""
    plan = sweep if isinstance(sweep, Plan) else make_plan(sweep)
    out = Path(out) if out is not None else Path("runs") / plan.spec.name
    out.mkdir(parents=True, exist_ok=True)
    tables.write_design(plan, out)
    previous = tables.previous_rows(out)
    from ..rundir import RunDirectory

    rows: dict[str, dict] = {}
    todo = []
    for pt in plan.points:
        rundir = RunDirectory(out / pt.label)
        if rundir.is_complete(pt.case.sha256):
            rows[pt.label] = _reused_row(plan, pt, rundir, previous.get(pt.label))
        else:
            todo.append(pt)
    reused = len(rows)
    display = _Display(progress, len(plan.points), reused)
    interrupted, problems = None, []
    try:
        if todo:
            runner = _run_local if jobs == 0 and client is None and scheduler is None else _run_dask
            interrupted = runner(plan, todo, out, rows, display, jobs=jobs, client=client,
                                 scheduler=scheduler, transfer=transfer, fail_fast=fail_fast,
                                 log_level=log_level)
    finally:
        df = tables.write_tables(plan, rows, out)
        display.close()
    problems = [p for r in rows.values() for p in r.get("problems", [])]
    counts = df["status"].value_counts().to_dict()
    outcome = SweepOutcome(out, df, {str(k): int(v) for k, v in counts.items()}, reused,
                           interrupted, problems)
    if interrupted in ("SIGINT", "SIGTERM"):
        raise SweepInterrupted(outcome)
    return outcome


def _reused_row(plan: Plan, pt, rundir, before: dict | None) -> dict:
    from .worker import read_metrics

    m = rundir.manifest()
    row = {"status": str(m.status), "message": m.message, "t_ms": m.time_ms,
           "wall_s": m.wall_time_s, "cpu_s": (m.solver or {}).get("cpu_s"),
           "started": m.started, "finished": m.finished, "worker": None,
           "log": f"{pt.label}/log.txt", "metrics": read_metrics(rundir, plan.spec.metrics)}
    if before and before.get("status") in FINISHED:
        for key in ("wall_s", "cpu_s", "started", "finished", "worker", "resumed_from_ms"):
            if before.get(key) is not None and not (isinstance(before[key], float) and math.isnan(before[key])):
                row[key] = before[key]
    return row


def _task(plan: Plan, pt, out: Path, stop, log_level, transfer: bool) -> dict:
    from .worker import pack

    run_dir = (out / pt.label).resolve()
    task = {"label": pt.label, "case": pt.case, "run_dir": str(run_dir), "stop": stop,
            "metrics": dict(plan.spec.metrics), "log_level": log_level}
    if transfer:
        task["transfer"] = pack(run_dir) if run_dir.is_dir() else b""
    return task


def _record(rows: dict, out: Path, row: dict, display) -> dict:
    label = row["point"]
    data = row.pop("transfer", None)
    if data is not None:
        target = out / label
        if target.exists():
            shutil.rmtree(target)
        unpack(data, target)
    trace = row.pop("traceback", None)
    if trace:
        errors = out / "errors"
        errors.mkdir(exist_ok=True)
        (errors / f"{label}.txt").write_text(trace)
        row["log"] = f"errors/{label}.txt"
    elif row.get("log"):
        row["log"] = f"{label}/{row['log']}"
    rows[label] = row
    display.point(row)
    return row


# ------------------------------------------------------------------- in this process --

def _run_local(plan, todo, out, rows, display, *, fail_fast, log_level, **_) -> str | None:
    with _Signals() as signals:
        for pt in todo:
            if signals.reason:
                break
            row = run_point(_task(plan, pt, out, lambda: signals.reason, log_level, False))
            _record(rows, out, row, display)
            if row["status"] in ("interrupted", "stopped"):
                # the run's own handler took the signal (it checkpointed); stop here
                signals.reason = signals.reason or ("SIGTERM" if row["status"] == "stopped" else "SIGINT")
            if fail_fast and row["status"] in ("failed", INVALID):
                return "fail-fast"
            tables.write_tables(plan, rows, out)
        return signals.reason


# ---------------------------------------------------------------------------- on Dask --

@contextmanager
def _client(jobs: int, client, scheduler: str | None):
    if client is not None:
        yield client
        return
    from distributed import Client

    if scheduler:
        try:
            if Path(scheduler).is_file():
                c = Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT)
            else:
                c = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"cannot reach the scheduler at {scheduler}: {exc}") from None
        with c:
            yield c
        return
    if jobs < 1:
        raise ValueError(f"jobs = {jobs}: a LocalCluster needs at least one worker")
    import dask
    from distributed import LocalCluster

    # one running point per worker: a queued task must not wait behind a long one. The
    # scheduler's HTTP server (health and metrics routes) starts even without a dashboard, on
    # 8787 unless told otherwise, and warns when another process holds that port, as on a shared
    # machine: any free port (":0") is as good for a cluster that lives as long as the sweep
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR,
                               env=dict(BLAS_ENV), preload=["microdomain.sweeps.worker"])
    try:
        with Client(cluster) as c:
            yield c
    finally:
        cluster.close()


def _check_shared(client, out: Path) -> None:
    """Every worker must see `out` (without `transfer`): a marker file written here."""
    import os

    marker = (out / f".sweep-{uuid.uuid4().hex}").resolve()
    marker.write_text("microdomain")
    try:
        seen = client.run(os.path.exists, str(marker))
    finally:
        marker.unlink()
    blind = [w for w, ok in seen.items() if not ok]
    if blind:
        raise SweepError(f"worker(s) {', '.join(blind)} cannot see {out.resolve()}; run the sweep "
                         "into a directory they share, or pass --transfer (run directories "
                         "then go through the futures)")


def _run_dask(plan, todo, out, rows, display, *, jobs, client, scheduler, transfer, fail_fast,
              log_level) -> str | None:
    from distributed import Event, Variable

    with _client(jobs, client, scheduler) as c:
        if scheduler and not transfer:
            _check_shared(c, out)
        display.workers(len(c.scheduler_info().get("workers", {})) or jobs or 1)
        name = f"microdomain-sweep-stop-{uuid.uuid4().hex}"
        event, reason_var = Event(name, client=c), Variable(name, client=c)
        token = uuid.uuid4().hex[:8]
        futures = {}
        for pt in todo:
            task = _task(plan, pt, out, name, log_level, transfer)
            futures[c.submit(run_point, task, key=f"point-{pt.label}-{token}", pure=False)] = pt
        display.submitted(len(todo))
        stopping, last_write = None, time.monotonic()
        with _Signals() as signals:
            try:
                pending = set(futures)
                while pending:
                    time.sleep(0.2)
                    if signals.reason and not stopping:
                        stopping = signals.reason
                    if stopping and not event.is_set():
                        reason_var.set(stopping)
                        event.set()
                        display.stopping(stopping)
                    for f in [f for f in pending if f.done()]:
                        pending.discard(f)
                        row = _result(f, futures[f])
                        _record(rows, out, row, display)
                        if fail_fast and row["status"] in ("failed", INVALID) and not stopping:
                            stopping = "fail-fast"
                    if time.monotonic() - last_write > WRITE_EVERY_S:
                        tables.write_tables(plan, rows, out)
                        last_write = time.monotonic()
            except KeyboardInterrupt:          # a second Ctrl-C: stop at once
                c.cancel(list(futures))
                stopping = stopping or "SIGINT"
                display.message("stopped at once: running points keep their last checkpoint")
        for f in futures:
            f.release()
        return stopping


def _result(future, pt) -> dict:
    from distributed import CancelledError

    try:
        return future.result()
    except CancelledError:
        return {"point": pt.label, "status": NOT_STARTED, "message": "cancelled"}
    except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: recorded, the rest go on
        kind = type(exc).__name__
        why = ("its worker died every time it ran it" if kind == "KilledWorker" else str(exc))
        return {"point": pt.label, "status": "failed", "message": f"{kind}: {why}"}


# --------------------------------------------------------------------------- signals --

class _Signals:
    """SIGINT and SIGTERM ask the sweep to stop (running points checkpoint); a second SIGINT
    stops at once. Only in the main thread, where Python delivers signals."""

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


# --------------------------------------------------------------------------- display --

class _Display:
    """Progress over points on stderr: a rich bar on a terminal, a line per point elsewhere,
    each with an estimate of the time left (the mean time of the points run so far, over the
    workers)."""

    def __init__(self, progress, total: int, reused: int):
        self.on = bool(progress)
        self.stream = progress if (progress and progress is not True) else sys.stderr
        self.total, self.done, self.reused = total, reused, reused
        self.n_workers, self.walls, self.t0 = 1, [], time.perf_counter()
        self.failed = 0
        self.tty = self.on and bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        if self.on and reused:
            self._line(f"{reused} of {total} points already finished; reused")

    def workers(self, n: int) -> None:
        self.n_workers = max(1, n)

    def submitted(self, n: int) -> None:
        if self.on:
            self._line(f"{n} points to run on {self.n_workers} worker{'s' * (self.n_workers > 1)}")

    def eta(self) -> float | None:
        left = self.total - self.done
        if not self.walls:
            return None
        return left * (sum(self.walls) / len(self.walls)) / min(self.n_workers, max(left, 1))

    def point(self, row: dict) -> None:
        self.done += 1
        status = row.get("status")
        if status in ("failed", INVALID):
            self.failed += 1
        wall = row.get("wall_s")
        if status in FINISHED and isinstance(wall, float) and math.isfinite(wall):
            self.walls.append(wall)
        if not self.on:
            return
        eta = self.eta()
        left = f", about {_duration(eta)} left" if eta is not None and self.done < self.total else ""
        took = f" in {wall:.1f} s" if isinstance(wall, float) and math.isfinite(wall) else ""
        why = f" — {row.get('message')}" if status not in FINISHED and row.get("message") else ""
        text = f"[{self.done}/{self.total}] {row['point']}: {status}{took}{why}{left}"
        if self.tty:
            bar = self._rich()
            bar.console.print(text, highlight=False, markup=False)
            bar.update(self._task, completed=self.done,
                       info=f"{self.failed} failed" if self.failed else "",
                       eta=f"~{_duration(eta)} left" if eta is not None and self.done < self.total else "")
        else:
            self._line(text)

    def stopping(self, reason: str) -> None:
        why = "at the first failed point (--fail-fast)" if reason == "fail-fast" else f"on {reason}"
        self.message(f"stopping {why}: running points stop after their current step and "
                     "checkpoint (Ctrl-C again to stop at once)")

    def message(self, text: str) -> None:
        if self.on:
            if self._bar is not None:
                self._bar.console.print(text, highlight=False, markup=False)
            else:
                self._line(text)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _rich(self):
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("points"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                                 TextColumn("{task.fields[info]}"),
                                 console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("points", total=self.total, completed=self.reused,
                                            info="", eta="")
        return self._bar

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
