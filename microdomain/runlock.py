"""The lock a process holds on a run directory while it writes it, so that two processes (a
`run --resume` into a live run, a second `--overwrite`) cannot write one directory at once.

The lock is a small JSON file (rundir.LOCK: pid, host, start time, command) created atomically
(written to a temporary file, then hard-linked into place: the link fails if a lock exists, and a
lock is never seen half written). A lock whose process is gone — same host, dead PID — is stale
(a run killed with SIGKILL, a machine that rebooted): it is taken over, with a log message. A
lock held by another host cannot be checked from here and is refused, unless the caller knows
there is one writer per directory (a sweep's scheduler runs a point once at a time).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from .io import umask
from .rundir import LOCK, RunDirectoryError

_held: set[str] = set()          # lock files this process holds (its own PID is not stale then)
_held_guard = threading.Lock()


class RunLockedError(RunDirectoryError):
    """Another live process is writing this run directory; the message names it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # someone else's process: it exists
        return True
    return True


def read_lock(path: Path) -> dict | None:
    """The holder recorded in a lock file, or None if there is none (or it cannot be read)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(holder: dict) -> str:
    return (f"PID {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')} ({holder.get('command', '?')})")


class RunLock:
    """`with RunLock(directory): ...` holds the directory's lock; RunLockedError if a live
    process holds it."""

    def __init__(self, directory, take_foreign: bool = False):
        self.path = Path(directory) / LOCK
        self.take_foreign = take_foreign
        self.held = False
        self.took_over: str | None = None      # why a stale lock was taken over (for the log)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    def acquire(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv)[:500]}
        for _ in range(3):           # a stale lock removed by someone else in between: again
            if self._link(me):
                with _held_guard:
                    _held.add(str(self.path.resolve()))
                self.held = True
                return
            holder = read_lock(self.path)
            if holder is None:
                continue             # released meanwhile
            why = self._stale(holder)
            if why is None:
                raise RunLockedError(
                    f"{self.path.parent} is being written by {describe(holder)}; wait for it to "
                    f"end, or if it is gone, remove {self.path}")
            self.took_over = f"took over the stale lock of {self.path.parent}: {why}"
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        raise RunLockedError(f"could not take the lock {self.path} (other processes keep taking it)")

    def _link(self, me: dict) -> bool:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{LOCK}.", suffix=".tmp")
        except OSError as exc:
            raise RunDirectoryError(f"cannot write in {self.path.parent}: "
                                    f"{exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            os.chmod(tmp, 0o666 & ~umask())      # readable as the umask allows, as every file
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)

    def _stale(self, holder: dict) -> str | None:
        """Why the holder's lock is stale, or None if it may be alive."""
        pid, host = holder.get("pid"), holder.get("host")
        if not isinstance(pid, int) or not isinstance(host, str):
            return f"the lock file cannot be read ({holder!r})"
        if host != socket.gethostname():
            return f"{describe(holder)}: another host's lock, taken as told" if self.take_foreign else None
        if pid == os.getpid():
            with _held_guard:
                mine = str(self.path.resolve()) in _held
            return None if mine else f"{describe(holder)} is this process, which holds no such lock"
        return None if _alive(pid) else f"{describe(holder)} is no longer running"

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with _held_guard:
            _held.discard(str(self.path.resolve()))
        holder = read_lock(self.path)
        # only our own lock: a stale-lock takeover by another process must not be undone
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


__all__ = ["RunLock", "RunLockedError", "read_lock"]
