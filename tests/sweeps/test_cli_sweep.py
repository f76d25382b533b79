"""`microdomain sweep` from a shell: Ctrl-C (a real SIGINT to the whole process group, as a
terminal sends it) stops the sweep cleanly — running points checkpoint — and the same command
resumes it without rerunning finished points; `--scheduler` runs on a scheduler and a worker
started as separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import microdomain as md
from microdomain.sweeps import plan

from tests.helpers import ROOT
from tests.sweeps.small import write_sweep


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _checkpoint_t(run_dir) -> float:
    try:
        state, _ = md.RunDirectory(run_dir).checkpoint()
        return state.t
    except Exception:  # noqa: BLE001 - not written yet
        return -1.0


def test_ctrl_c_stops_the_sweep_cleanly_and_the_same_command_resumes_it(tmp_path):
    # point a is short; b and c are long: a finishes, then b and c run on the two workers
    path = write_sweep(tmp_path, {"zip": {"time.end": ["4 ms", "50 ms", "50 ms"],
                                          "buffers.B.total": ["100 uM", "100 uM", "90 uM"]}},
                       cells=200, dt_max="0.02 ms", every="5 ms")      # b, c: ~2500 steps
    out = tmp_path / "out"
    command = [sys.executable, "-m", "microdomain", "sweep", str(path), "--out", str(out), "--jobs", "2"]
    proc = subprocess.Popen(command, env=_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    a, b, c = (out / "end_4ms__total_100uM", out / "end_50ms__total_100uM", out / "end_50ms__total_90uM")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if md.RunDirectory(a).status() == md.Status.COMPLETED and _checkpoint_t(b) > 0 and _checkpoint_t(c) > 0:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"the points did not get going: {proc.communicate()}")
    os.killpg(proc.pid, signal.SIGINT)                   # Ctrl-C: to every process of the group
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Continue with the same command" in stderr
    for run in (b, c):
        m = md.RunDirectory(run).manifest()
        assert m.status == md.Status.INTERRUPTED and 0 < m.time_ms < 50, (m.status, m.time_ms)
        assert _checkpoint_t(run) == pytest.approx(m.time_ms)
    summary = md.open_sweep(out).set_index("point")
    assert summary.loc[a.name, "status"] == "completed"
    assert summary.loc[b.name, "status"] == "interrupted"
    started_a = md.RunDirectory(a).manifest().started
    stopped_at = md.RunDirectory(b).manifest().time_ms

    again = subprocess.run(command, env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    summary = md.open_sweep(out).set_index("point")
    assert (summary["status"] == "completed").all()
    assert md.RunDirectory(a).manifest().started == started_a            # not run again
    assert summary.loc[b.name, "resumed_from_ms"] == pytest.approx(stopped_at)
    assert f"resuming from the checkpoint at t = {stopped_at:.6g} ms" in (b / "log.txt").read_text()
    # and the resumed point ends where an uninterrupted run ends, to the case's time tolerance
    # (rtol 1e-4): stopped between two frames, the resumed run restarts its step predictor and
    # takes other steps (measured: 3.5e-6 relative on the peak; bit for bit needs the stepper's history in the checkpoint)
    p = plan(path)
    res = md.Simulation(p.points[1].case).run()
    for col, metric in p.spec.metrics.items():
        assert summary.loc[b.name, col] == pytest.approx(res.metrics.value(metric), rel=1e-4)


def test_scheduler_runs_the_sweep_on_a_cluster_started_by_hand(tmp_path):
    path = write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "100 uM"]})
    scheduler_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file",
                               str(scheduler_file)], env=_env(), cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads",
                                       "1", "--no-dashboard", "--preload", "microdomain.sweeps.worker"],
                                      env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        done = subprocess.run([sys.executable, "-m", "microdomain", "sweep", str(path), "--out",
                               str(tmp_path / "out"), "--scheduler", address],
                              env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert f"on the cluster at {address}" in done.stdout
        df = md.open_sweep(tmp_path / "out")
        assert (df["status"] == "completed").all()
        assert df["worker"].str.startswith("tcp://127.0.0.1:").all()
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_an_unreachable_scheduler_is_exit_2(tmp_path, monkeypatch):
    from microdomain import cli

    monkeypatch.setattr("microdomain.sweeps.engine.CONNECT_TIMEOUT", "1s")
    path = write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM"]})
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"),
                         "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2 and "cannot reach the scheduler at tcp://127.0.0.1:9" in err.getvalue()


def test_a_failed_point_is_exit_1_after_the_others_ran(tmp_path):
    import contextlib
    import io

    from microdomain import cli

    path = write_sweep(tmp_path, {"parameter": "fluxes.ch.params.unitary_current",
                                  "values": ["-1e6 pA", "0.1 pA"]})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--jobs", "0", "--quiet"])
    assert code == 1
    assert "1 completed, 1 failed" in out.getvalue() or "1 failed, 1 completed" in out.getvalue()
    assert "unitary_current_-1e6pA: failed" in err.getvalue() and "log.txt" in err.getvalue()
