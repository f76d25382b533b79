"""Fault injection: a real `python -m microdomain run` subprocess killed with SIGINT, SIGTERM and
SIGKILL at seeded random moments, then `--resume`d, ends where an uninterrupted run of the same
case ends. Nothing is monkeypatched: the signals are the operating system's.

The case is a 1D box of 100 cells (ER leak and a Hill pump at one membrane, 400 ms, rtol 1e-7):
about 500 accepted steps, ~1.5 s of stepping; each kill comes a seeded random time (up to 15 %
of the reference run's stepping) after the frame at 100 or 200 ms is written, so between frames
with half the run to go. Each subprocess costs ~1 s of imports; the whole file ~20-24 CPU s.

Tolerance: the final probe value, each flux's moved amount, the peaks, the means and the last
frame agree with the uninterrupted run to 1e-6 relative. A resume restarts from the checkpointed
state and step size but not from the integrator's predictor history, so its Newton iterations
start elsewhere and the results are not bit-identical; measured after a SIGINT at 134 ms and a
SIGKILL at 100 ms: at most 1.1e-10 (the field), 1.9e-11 (the pump's total), 0 (the probe). A lost
or doubled step shows far above 1e-6: late in the run the steps are 1 ms and the pump moves 1 %
of its total per 4 ms (its largest step, 2.5e-3 of the total), and a restart from an older
state or a flux total carried wrongly is larger still. 1e-6 separates the two with margin on
either side, allowing the adaptive solver's round-off-level divergence.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import microdomain as md
from microdomain.solver.state import Watcher

from tests.helpers import ROOT, small_case, to_toml

RTOL = 1e-6
SEED = 14


def fault_case() -> dict:
    return small_case(
        geometry={"cells": [100]},
        fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
                 "params": {"permeability": "5 um/s"}},
                {"model": "hill_pump", "surface": "er_membrane", "from": "cytosol", "to": "er",
                 "params": {"vmax": "0.5 uM*um/ms", "K": "0.3 uM", "n": 2}, "label": "pump"}],
        time={"end": "400 ms", "rtol": 1e-7},
        output={"every": "100 ms", "probes": [{"name": "p", "at": ["0.2 um"]}]})


def _start(case: Path, out: Path, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "microdomain", "run", str(case), "--out",
                             str(out), "--quiet", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, poll: float = 0.001) -> None:
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path.name} appeared: {proc.stderr.read()}"
        time.sleep(poll)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, and how long its time loop took (wall, s)."""
    work = tmp_path_factory.mktemp("fault")
    case = work / "fault.toml"
    case.write_text(to_toml(fault_case()))
    proc = _start(case, work / "ref")
    _wait_for(work / "ref" / "checkpoint.npz", proc)      # written at t = 0: stepping begins
    t0 = time.monotonic()
    code, err = _finish(proc)
    assert code == 0, err
    return case, md.open_run(work / "ref"), time.monotonic() - t0


def _assert_same_answer(out: Path, ref: md.Result) -> None:
    res = md.open_run(out)
    assert res.status == md.Status.COMPLETED
    assert res.manifest.time_ms == pytest.approx(400.0)
    m, m_ref = res.metrics, ref.metrics
    assert abs(m.mass_balance["Ca"].relative_error) <= 1e-9
    for name in ("permeability@er_membrane", "pump"):
        assert m.fluxes[name]["Ca"].amount_amol == pytest.approx(
            m_ref.fluxes[name]["Ca"].amount_amol, rel=RTOL), name
    for comp in ("cytosol", "er"):
        assert m.compartments[comp]["Ca"].peak_uM == pytest.approx(
            m_ref.compartments[comp]["Ca"].peak_uM, rel=RTOL)
        assert m.compartments[comp]["Ca"].mean_uM == pytest.approx(
            m_ref.compartments[comp]["Ca"].mean_uM, rel=RTOL)
    last = res.probes.iloc[-1]
    assert last["time_ms"] == pytest.approx(400.0)
    assert last["value"] == pytest.approx(ref.probes.iloc[-1]["value"], rel=RTOL)
    assert res.probes["time_ms"].is_monotonic_increasing
    # every output time once, none lost, none doubled, and the frames hold the same fields
    assert list(res.times) == pytest.approx([0.0, 100.0, 200.0, 300.0, 400.0])
    np.testing.assert_allclose(res.field("Ca"), ref.field("Ca"), rtol=RTOL)
    assert not (out / "run.lock").exists()


def _every_file_parses(out: Path) -> None:
    for name in ("manifest.json", "metrics.json"):
        json.loads((out / name).read_text())
    md.RunDirectory(out).checkpoint()
    md.RunDirectory(out).probes()
    assert md.RunDirectory(out).frames()


KILLS = [(signal.SIGINT, 130, md.Status.INTERRUPTED), (signal.SIGTERM, 130, md.Status.STOPPED),
         (signal.SIGKILL, -signal.SIGKILL, md.Status.RUNNING)]


@pytest.mark.parametrize("sig,code,status", KILLS, ids=[s.name for s, _, _ in KILLS])
def test_a_run_killed_mid_way_resumes_to_the_uninterrupted_answer(reference, tmp_path, sig, code,
                                                                     status):
    case, ref, loop_s = reference
    # a seeded moment: after the frame at 100 or 200 ms is written, plus up to 15 % of the
    # reference time loop, so between two frames, with at least half the run still to go
    rng = random.Random(f"{SEED}-{sig.name}")
    frame, delay = rng.choice([1, 2]), rng.uniform(0.0, 0.15) * loop_s
    out = tmp_path / "out"
    proc = _start(case, out)
    _wait_for(out / "fields" / f"frame_{frame:05d}.vtu", proc)
    time.sleep(delay)
    proc.send_signal(sig)
    got, err = _finish(proc)
    assert got == code, err
    assert "Traceback" not in err
    manifest = md.RunDirectory(out).manifest()
    assert manifest.status == status, f"the {sig.name} {delay:.2f} s after frame {frame} missed the run"
    assert 100.0 * frame <= md.RunDirectory(out).checkpoint()[0].t < 400.0
    _every_file_parses(out)
    if sig == signal.SIGKILL:
        assert (out / "run.lock").exists()          # nobody could remove it: stale
    else:
        assert not (out / "run.lock").exists()
        assert f"--out {out} --resume" in err
    got, err = _finish(_start(case, out, "--resume", "-v"))
    assert got == 0, err
    assert "resuming from the checkpoint at t = " in (out / "log.txt").read_text()
    if sig == signal.SIGKILL:
        assert "took over the stale lock" in err and "is no longer running" in err
    _assert_same_answer(out, ref)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_t_0(reference, tmp_path):
    case, ref, _ = reference
    out = tmp_path / "out"
    proc = _start(case, out)
    # manifest.json is the first file a run writes; the checkpoint at t = 0 comes ~0.1 s later
    _wait_for(out / "manifest.json", proc)
    proc.send_signal(signal.SIGKILL)
    assert _finish(proc)[0] == -signal.SIGKILL
    assert not (out / "checkpoint.npz").exists(), "the kill came after the first checkpoint"
    assert md.RunDirectory(out).manifest().status == md.Status.RUNNING
    got, err = _finish(_start(case, out, "--resume", "-v"))
    assert got == 0, err
    assert "starting again at t = 0" in err
    _assert_same_answer(out, ref)


def test_a_second_ctrl_c_while_a_step_is_recorded_keeps_the_checkpoint_consistent(tmp_path):
    """Two SIGINTs while the observers record an accepted step (the first asks for a stop, the
    second means "at once"): the step is recorded by every observer or by none, so the
    checkpoint's running totals (flux amounts, mass balance) belong to its state, and the
    resumed run gives the uninterrupted answer. Before, the second Ctrl-C could land between the
    Metrics observer and the stepper's commit: totals one step ahead of the checkpointed state."""
    case = md.case_from_dict(fault_case(), str(tmp_path / "fault.toml"))
    ref = md.Simulation(case).run(out=tmp_path / "ref")

    class CtrlCTwice(Watcher):
        """Recorded after Metrics: presses Ctrl-C twice inside the tenth step's recording."""
        steps = 0

        def step(self, U, info):
            self.steps += 1
            if self.steps == 10:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

    # another thread, as BLAS or Dask keep: the kernel may hand it the process's SIGINT
    import threading

    done = threading.Event()
    other = threading.Thread(target=done.wait, daemon=True)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            md.Simulation(case).run(out=tmp_path / "cut", observers=[CtrlCTwice()])
    finally:
        done.set()
    assert md.open_run(tmp_path / "cut").status == md.Status.INTERRUPTED
    md.Simulation(case).run(out=tmp_path / "cut", resume=True)
    _assert_same_answer(tmp_path / "cut", ref)
