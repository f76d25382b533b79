"""The stochastic ensemble from one command (issue 13 items 5 and 7): a short, coarse variant of
cases/mam_stochastic_ensemble.toml — its first SEEDS seeds, END long — through
`microdomain sweep --jobs 1`, and `microdomain plot`: the event tables exist, the histograms
count every event, the intervals hold the means, the per-event releases add up to each run's.
The numbers docs/stochastic.md quotes for this variant are asserted here; the full ensemble's
under `-m slow` (test_full_ensemble_numbers)."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENSEMBLE = ROOT / "cases" / "mam_stochastic_ensemble.toml"
SEEDS, END = 5, "3 ms"
SMITH_PARKER_PA = (0.4, 2.5)            # pA per puff (SmithParker2009)


def _toml(table: dict) -> str:
    def value(v):
        return json.dumps(v) if isinstance(v, str) else repr(v)
    lines = ["[sweep]"] + [f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for name, sub in table.items():
        if isinstance(sub, dict):
            lines += [f"[sweep.{name}]"] + [f"{json.dumps(k)} = {value(v)}" for k, v in sub.items()]
    return "\n".join(lines) + "\n"


def sweep_file(tmp: Path, seeds: int | None = None, end: str | None = None) -> Path:
    """The shipped ensemble file, its case by absolute path; `seeds` and `end` shorten it."""
    table = tomllib.loads(ENSEMBLE.read_text())["sweep"]
    table["case"] = str(ENSEMBLE.parent / table["case"])
    if seeds is not None:
        table["seeds"] = seeds
    if end is not None:
        table["overrides"]["time.end"] = end
    path = tmp / "ensemble.toml"
    path.write_text(_toml(table))
    return path


def run_ensemble(tmp: Path, seeds=None, end=None) -> Path:
    out = tmp / "out"
    cmd = [sys.executable, "-m", "microdomain", "sweep", str(sweep_file(tmp, seeds, end)),
           "--out", str(out), "--jobs", "1", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def puff_numbers(out: Path) -> dict:
    """What docs/stochastic.md compares with Smith & Parker 2009."""
    ev = pd.read_csv(out / "events.csv")
    low, high = SMITH_PARKER_PA
    return {"runs": len(pd.read_csv(out / "summary.csv")), "events": len(ev),
            "runs_with_events": ev["point"].nunique(),
            "open_at_start": int(ev["open_at_start"].sum()), "open_at_end": int(ev["open_at_end"].sum()),
            "in_range": int(ev["amplitude_pA"].between(low, high).sum()),
            "current_in_range": int(ev["peak_current_pA"].between(low, high).sum()),
            "amplitudes": ev["amplitude_channels"].value_counts().sort_index().to_dict(),
            "max_channels": int(ev["n_channels"].max()) if len(ev) else 0}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return run_ensemble(tmp_path_factory.mktemp("ensemble"), SEEDS, END)


def check_tables(out: Path):
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["status"] == "completed").all()
    ev = pd.read_csv(out / "events.csv")
    doc = json.loads((out / "event_summary.json").read_text())
    (group,) = doc["groups"]
    assert group["flux"] == "ip3r" and group["n_runs"] == len(summary)
    assert group["n_events"] == len(ev) == summary["events"].sum()
    for name, q in group["quantities"].items():
        assert sum(q["counts"]) == q["n"] == len(ev), name
        assert len(q["bin_edges"]) == len(q["counts"]) + 1
        assert q["ci95_low"] <= q["mean"] <= q["ci95_high"], name
        assert q["mean"] == pytest.approx(ev[q["column"]].mean(), rel=1e-8)
    assert {"released_amol", "matrix_uptake_amol", "omm_peak_uM", "amplitude_pA",
            "duration_ms"} <= set(group["quantities"])
    # each run's events partition its release
    per_run = ev.groupby("point")["released_amol"].sum()
    runs = summary.set_index("point")["released_amol"]
    np.testing.assert_allclose(per_run, runs[per_run.index], rtol=1e-8)
    assert (runs.drop(per_run.index) == 0).all()
    flat = pd.read_csv(out / "event_summary.csv")
    assert set(flat["quantity"]) == set(group["quantities"])
    return group


def test_one_command_gives_the_event_tables_and_histograms(small):
    group = check_tables(small)
    assert group["n_events"] >= 2
    done = subprocess.run([sys.executable, "-m", "microdomain", "plot", str(small)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (small / "render" / "events_ip3r.png").stat().st_size > 10_000


def test_the_small_ensemble_s_puff_numbers(small):
    """docs/stochastic.md, 'Against published puffs': the default CI's variant."""
    n = puff_numbers(small)
    assert n == {"runs": 5, "events": 2, "runs_with_events": 2, "open_at_start": 2, "open_at_end": 2,
                 "in_range": 0, "current_in_range": 0, "amplitudes": {2: 2}, "max_channels": 2}


@pytest.mark.slow
def test_full_ensemble_numbers(tmp_path):
    """The shipped ensemble (20 seeds, 10 ms, resolution 2): the numbers docs/stochastic.md and
    docs/cases.md quote for it (`python -m pytest -m slow tests/stochastic/test_ensemble_sweep.py`)."""
    out = run_ensemble(tmp_path)
    group = check_tables(out)
    n = puff_numbers(out)
    assert n == {"runs": 20, "events": 12, "runs_with_events": 9, "open_at_start": 9,
                 "open_at_end": 9, "in_range": 5, "current_in_range": 1,
                 "amplitudes": {1: 2, 2: 5, 3: 2, 4: 2, 5: 1}, "max_channels": 5}
    q = group["quantities"]
    ev = pd.read_csv(out / "events.csv")
    assert (ev["duration_ms"] == 10.0).sum() == 7                   # 7 of 12 last the whole run
    assert q["amplitude_pA"]["mean"] == pytest.approx(0.39, abs=0.005)
    for name, (mean, low, high) in {"released_amol": (0.00717, 0.00460, 0.0108),
                                    "matrix_uptake_amol": (1.35e-6, 7.26e-7, 2.35e-6),
                                    "omm_peak_uM": (36.5, 31.8, 43.4),
                                    "peak_current_pA": (0.262, 0.220, 0.319)}.items():
        got = (q[name]["mean"], q[name]["ci95_low"], q[name]["ci95_high"])
        np.testing.assert_allclose(got, (mean, low, high), rtol=5e-3, err_msg=name)
