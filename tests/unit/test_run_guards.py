"""What guards a run directory (docs/run-directory.md, 'The lock' and 'Resuming'): the lock a
writing process holds, stale locks taken over, refused resumes that change nothing, `--out`
that cannot be a run directory. Real subprocesses hold the locks; the runs are in-process and
tiny (a 20-cell box to 2 ms)."""

import json
import os
import socket
import subprocess
import sys

import pytest

import microdomain as md
from microdomain.cli import main
from microdomain.runlock import RunLock, RunLockedError

from tests.helpers import small_case, to_toml


def _case(tmp_path, **over):
    raw = small_case(time={"end": "2 ms"},
                     output={"every": "1 ms", "probes": [{"name": "p", "at": ["0.25 um"]}]}, **over)
    path = tmp_path / "tiny.toml"
    path.write_text(to_toml(raw))
    return path


def _snapshot(directory):
    """Every file below `directory` with its bytes (and the directory's listing)."""
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None
            for p in sorted(directory.rglob("*"))}


@pytest.fixture
def finished(tmp_path):
    case = _case(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(case), "--out", str(out), "--quiet"]) == 0
    return case, out


def _lock_file(out, pid, host=None):
    (out / "run.lock").write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                              "started": "2026-01-01T00:00:00+00:00",
                                              "command": "microdomain run x.toml"}))


def test_a_live_lock_refuses_resume_and_overwrite_naming_the_holder(finished, capsys):
    case, out = finished
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock_file(out, holder.pid)
        before = _snapshot(out)
        for flag in ("--resume", "--overwrite"):
            assert main(["run", str(case), "--out", str(out), "--quiet", flag]) == 2
            err = capsys.readouterr().err
            assert f"being written by PID {holder.pid} on {socket.gethostname()}" in err, err
            assert "Traceback" not in err
            assert _snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over_with_a_log_message_and_removed_at_the_end(finished, capsys):
    case, out = finished
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()                                  # a PID that no longer runs
    _lock_file(out, gone.pid)
    # (a resume takes over a stale lock too: tests/unit/test_fault_injection.py, after SIGKILL)
    assert main(["run", str(case), "--out", str(out), "--quiet", "--overwrite"]) == 0
    log = (out / "log.txt").read_text()
    assert f"took over the stale lock of {out}: PID {gone.pid}" in log
    assert "is no longer running" in log
    assert not (out / "run.lock").exists()
    assert "1 warning(s) in" in capsys.readouterr().err     # the console says log.txt has one


def test_the_lock_is_held_during_a_run_and_refuses_a_second_writer_in_this_process(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    seen = {}

    class Peek:
        def start(self, system, U, t):
            seen["lock"] = json.loads((out / "run.lock").read_text())
            seen["mode"] = (out / "run.lock").stat().st_mode & 0o777
            with pytest.raises(RunLockedError, match="being written by PID"):
                RunLock(out).acquire()

        def __getattr__(self, name):
            return lambda *a, **k: None

    sim = md.Simulation(md.case_from_dict(small_case(time={"end": "0.5 ms"}), "t.toml"))
    sim.run(out=out, observers=[Peek()])
    assert seen["lock"]["pid"] == os.getpid() and seen["lock"]["host"] == socket.gethostname()
    assert set(seen["lock"]) == {"pid", "host", "started", "command"}
    from microdomain.io import umask

    assert seen["mode"] == 0o666 & ~umask()            # as every file of the run: the umask
    assert not (out / "run.lock").exists()


def test_another_hosts_lock_is_refused_unless_the_caller_takes_it(tmp_path):
    _lock_file(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(RunLockedError, match="elsewhere.example"):
        RunLock(tmp_path).acquire()
    lock = RunLock(tmp_path, take_foreign=True)
    with lock:
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    assert "another host's lock" in lock.took_over
    assert not (tmp_path / "run.lock").exists()


@pytest.mark.parametrize("damage", ["changed case", "metrics without time_ms", "no checkpoint metrics",
                                    "other probe columns"])
def test_a_refused_resume_leaves_every_file_byte_identical(finished, capsys, damage):
    case, out = finished
    if damage == "changed case":
        case.write_text(case.read_text().replace('end = "2 ms"', 'end = "3 ms"'))
        expected = "has changed"
    elif damage == "metrics without time_ms":
        metrics = json.loads((out / "metrics.json").read_text())
        del metrics["time_ms"]
        (out / "metrics.json").write_text(json.dumps(metrics))
        expected = "time_ms"
    elif damage == "other probe columns":
        probes = (out / "probes.csv").read_text()
        assert ",p," in probes
        (out / "probes.csv").write_text(probes.replace(",p,", ",q,"))
        expected = "other columns than this case records"
    else:
        import io

        import numpy as np

        with np.load(out / "checkpoint.npz") as z:
            arrays = {k: z[k] for k in z.files if k != "metrics"}
        buf = io.BytesIO()
        np.savez(buf, metrics=json.dumps({"time_ms": 1.0}), **arrays)
        (out / "checkpoint.npz").write_bytes(buf.getvalue())
        expected = "compartments"
    before = _snapshot(out)
    assert main(["run", str(case), "--out", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"cannot resume into {out}" in err and expected in err, err
    assert "Traceback" not in err
    assert _snapshot(out) == before


def test_resume_into_a_directory_that_holds_no_run_is_refused_and_creates_nothing(tmp_path, capsys):
    case = _case(tmp_path)
    stranger = tmp_path / "papers"
    stranger.mkdir()
    (stranger / "draft.txt").write_text("mine")
    assert main(["run", str(case), "--out", str(stranger), "--quiet", "--resume"]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert _snapshot(stranger) == {"draft.txt": b"mine"}
    missing = tmp_path / "nowhere"
    assert main(["run", str(case), "--out", str(missing), "--quiet", "--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not missing.exists()


def test_out_that_is_a_file_or_cannot_be_written_exits_2_without_a_traceback(tmp_path, capsys):
    case = _case(tmp_path)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert main(["run", str(case), "--out", str(a_file), "--quiet"]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert main(["run", str(case), "--out", str(a_file / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot create the run directory" in err and "Traceback" not in err
    assert a_file.read_text() == "x"
    if os.geteuid() == 0:
        locked = "/proc/self"            # root writes through a mode of 0o500; procfs it cannot
        extra = ["--overwrite"]
    else:
        locked = tmp_path / "readonly"
        locked.mkdir(mode=0o500)
        extra = []
    assert main(["run", str(case), "--out", str(locked), "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert "cannot write in" in err and "Traceback" not in err


def test_resuming_a_finished_run_changes_nothing(finished, capsys):
    case, out = finished
    before = _snapshot(out)
    assert main(["run", str(case), "--out", str(out), "--resume"]) == 0
    assert capsys.readouterr().out.startswith("completed:")
    assert _snapshot(out) == before            # no second last frame, metrics not rewritten
