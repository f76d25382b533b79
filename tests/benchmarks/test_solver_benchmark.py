"""The solver benchmark (benchmarks/solver.py) runs end to end in its quick mode and writes what
it prints; no timing is asserted (CPU figures depend on the machine and its load)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import problems
from benchmarks.solver import cpu_at_error, fit_exponent

ROOT = Path(__file__).resolve().parents[2]


def test_quick_nanodomain_and_floor(tmp_path):
    """`--quick --only nanodomain,floor` without CalC: both tables print, the JSON parses and
    holds every variant; the like-for-like checks hold (microdomain selects the floor's channel
    faces; its bdf1 solves the same backward-Euler equations as converged_be)."""
    env = {k: v for k, v in os.environ.items() if k != "MICRODOMAIN_CALC"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "solver.py"), "--quick",
                           "--only", "nanodomain,floor", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "== nanodomain:" in out and "== floor:" in out
    assert "CalC: not run" in out and "FAILED" not in out
    assert "CPU to reach <= 0.1 % (microdomain)" in out

    (path,) = tmp_path.glob("solver-*-quick.json")
    data = json.loads(path.read_text())
    assert data["meta"]["mode"] == "quick" and data["meta"]["calc"] is None
    assert set(data["comparisons"]) == {"nanodomain", "floor"}

    nano = data["comparisons"]["nanodomain"]
    assert nano["calc"] == []
    for r in nano["microdomain"] + nano["naive_fipy"]:
        assert "error" not in r, r.get("error")
        assert r["solver_cpu_s"] > 0 and r["process_cpu_s"] >= r["solver_cpu_s"]
        assert math.isfinite(r["max_err"]) and r["max_err"] < 0.02
    assert len(nano["microdomain"]) >= 2

    floor = data["comparisons"]["floor"]
    assert all(f["same"] for f in floor["faces"].values()), floor["faces"]
    assert floor["floor"]["cpu_s_per_step"] > 0
    for method in ("bdf1", "trbdf2"):
        r = floor["microdomain"][method]
        assert "error" not in r, r.get("error")
        assert r["steps"] == floor["steps"] and r["peak_mb"] > 0
    dev = floor["deviations"]
    assert dev["bdf1"]["be"] < 1e-5                   # the same BE equations, solved
    assert dev["trbdf2"]["exact"] < dev["bdf1"]["exact"]   # second order beats first


def test_cpu_at_error_interpolates_on_the_curve():
    rows = [{"solver_cpu_s": 1.0, "max_err": 0.1}, {"solver_cpu_s": 10.0, "max_err": 0.01},
            {"solver_cpu_s": 100.0, "max_err": 0.001}]
    cpu, how = cpu_at_error(rows, math.sqrt(0.1 * 0.01))
    assert how == "interpolated" and math.isclose(cpu, math.sqrt(10.0))
    assert cpu_at_error(rows, 1e-4) == (None, "not reached")
    assert cpu_at_error(rows, 0.5)[0] == 1.0


def test_fit_exponent_recovers_a_power_law():
    xs = [1e3, 1e4, 1e5]
    assert math.isclose(fit_exponent(xs, [2 * x**1.3 for x in xs]), 1.3)


def test_floor_patch_radius_matches_the_floor_rule():
    """50 nm where the grid has face centres that close, else the nearest centres' distance."""
    assert problems.floor_patch_radius_um(64) == 0.05
    assert math.isclose(problems.floor_patch_radius_um(8), math.hypot(1 / 16, 1 / 16))
