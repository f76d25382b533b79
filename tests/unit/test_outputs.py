"""What a run leaves behind beyond the numbers: file modes, the status of a stopped run, the
records' schemas, older run directories, and the conventions of the command line (version,
log levels, progress)."""

import io
import json
import os
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest

import microdomain as md
from microdomain.cli import main
from microdomain.progress import Progress
from microdomain.records import Manifest, Metrics, Status, schemas

from tests.helpers import ROOT, small_case, to_toml


def tiny(**over):
    return md.case_from_dict(small_case(**{"time": {"end": "2 ms"},
                                           "output": {"every": "1 ms",
                                                      "probes": [{"name": "mid", "at": ["0.25 um"]}]},
                                           **over}), "tiny.toml")


def test_every_file_honours_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        md.Simulation(tiny()).run(out=tmp_path / "run")
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"manifest.json", "metrics.json", "probes.csv", "fluxes.csv",
                                       "fields.pvd", "checkpoint.npz", "log.txt", "surfaces.vtu",
                                       "frame_00000.vtu"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p.name


def test_status_is_an_enum_and_older_manifests_still_read():
    assert Status("steady state") is Status.STEADY_STATE and str(Status.FAILED) == "failed"
    assert Status.parse("failed: negative concentration") == (Status.FAILED, "negative concentration")
    assert Status.parse("completed") == (Status.COMPLETED, "")
    assert Status.parse("something else") == (Status.FAILED, "something else")
    assert Status.COMPLETED.finished and Status.STEADY_STATE.finished
    assert not any(s.finished for s in (Status.RUNNING, Status.INTERRUPTED, Status.STOPPED, Status.FAILED))
    m = Manifest.read({"status": "failed: KeyboardInterrupt", "case_file": "x.toml",
                       "case_sha256": "0" * 64, "case": {}, "future_key": 1})
    assert m.status is Status.FAILED and m.message == "KeyboardInterrupt" and m.format == 1
    assert m.to_json()["future_key"] == 1                       # kept, not dropped


def test_a_run_stopped_by_sigterm_says_so_and_resumes(tmp_path, monkeypatch):
    import microdomain.observers as observers

    case = tiny(time={"end": "2 ms", "rtol": 1e-5}, output={"every": "0.5 ms"})
    original = observers.Metrics.frame

    def sigterm_at_one_ms(self, U, t):
        original(self, U, t)
        if t >= 1.0:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(observers.Metrics, "frame", sigterm_at_one_ms)
    sim = md.Simulation(case)
    with pytest.raises(KeyboardInterrupt):
        sim.run(out=tmp_path)
    monkeypatch.setattr(observers.Metrics, "frame", original)
    man = md.RunDirectory(tmp_path).manifest()
    assert man.status is Status.STOPPED and man.message == "on SIGTERM"
    assert 1.0 <= man.time_ms < 2.0
    res = sim.run(out=tmp_path, resume=True)
    assert res.status is Status.COMPLETED and list(res.times) == pytest.approx([0, 0.5, 1, 1.5, 2])
    assert "resuming from the checkpoint" in (tmp_path / "log.txt").read_text()


def test_a_format_1_run_directory_reads_as_tidy_tables(tmp_path):
    """Run directories written before the tidy tables: wide CSVs, 'failed: why' statuses."""
    case = md.case_from_dict(small_case(output={"probes": [{"name": "mid", "at": ["0.25 um"]}]},
                                        fluxes=[{"model": "permeability", "surface": "er_membrane",
                                                 "from": "er", "to": "cytosol", "label": "leak",
                                                 "params": {"permeability": "5 um/s"}}]), "old.toml")
    md.Simulation(case).run(out=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for key in ("format", "message", "time_ms"):
        del manifest[key]
    manifest["status"] = "failed: something broke"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "probes.csv").write_text("time_ms,mid:Ca_uM\n0,0.1\n0.5,0.2\n")
    (tmp_path / "fluxes.csv").write_text("time_ms,leak:Ca_amol_per_ms\n0,0\n0.5,0.003\n")
    res = md.open_run(tmp_path)
    assert res.status is Status.FAILED and res.manifest.message == "something broke"
    assert res.probes.to_dict("list") == {"time_ms": [0.0, 0.5], "probe": ["mid", "mid"],
                                          "x_um": [0.25, 0.25], "field": ["Ca", "Ca"],
                                          "value": [0.1, 0.2], "unit": ["uM", "uM"]}
    assert res.fluxes.to_dict("list") == {"time_ms": [0.0, 0.5], "flux": ["leak", "leak"],
                                          "surface": ["er_membrane"] * 2, "kind": ["flow"] * 2,
                                          "field": ["Ca", "Ca"], "value": [0.0, 0.003],
                                          "unit": ["amol/ms"] * 2}


def test_the_documented_schemas_are_the_records_schemas():
    for name, schema in schemas().items():
        path = ROOT / "docs" / "schemas" / f"{name}.schema.json"
        assert json.loads(path.read_text()) == schema, (
            f"{path} is stale: run `python -m microdomain.records docs/schemas`")


@pytest.mark.parametrize("path, problem", [
    ("surfaces.omm.Ca.peak_uM", None),
    ("fluxes.ip3r.Ca.amount_amol", None),
    ("steady.balance.Ca.relative_imbalance", None),
    ("gates.ip3r.h.mean", None),
    ("surfaces.omm.Ca.peak", "no key 'peak' there; keys: peak_uM, peak_time_ms"),
    ("compartment.cytosol", "no key 'compartment'"),
    ("compartments.cytosol.Ca", "names a table, not a number"),
    ("time_ms.x", "goes below a number"),
])
def test_metrics_paths_are_checked_against_the_schema(path, problem):
    found = Metrics.path_problem(path)
    assert (found is None) if problem is None else (problem in found), found


# ----------------------------------------------------------------------- command line --

def test_version_from_the_command_and_from_python_m(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"microdomain {md.__version__}"
    out = subprocess.run([sys.executable, "-m", "microdomain", "--version"], capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == f"microdomain {md.__version__}"


def test_log_levels_reach_the_console_and_log_txt(tmp_path, capsys):
    case = tmp_path / "tiny.toml"
    case.write_text(to_toml(small_case()))
    assert main(["run", str(case), "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    assert "INFO" not in capsys.readouterr().err                 # warnings only, by default
    log = (tmp_path / "quiet" / "log.txt").read_text()
    assert "INFO case tiny" in log and "DEBUG" not in log
    assert main(["run", str(case), "--out", str(tmp_path / "v"), "--quiet", "-v"]) == 0
    err = capsys.readouterr().err
    assert "INFO microdomain.run: case tiny" in err and "DEBUG" not in err
    assert main(["-vv", "run", str(case), "--out", str(tmp_path / "vv"), "--quiet"]) == 0
    assert "DEBUG microdomain.run: frame at t = 0 ms" in capsys.readouterr().err
    assert "DEBUG checkpoint at t = " in (tmp_path / "vv" / "log.txt").read_text()
    assert main(["run", str(case), "--out", str(tmp_path / "w"), "--quiet", "--log-level", "warning"]) == 0
    assert "INFO" not in (tmp_path / "w" / "log.txt").read_text()


def test_progress_says_when_a_run_stops_at_steady_state():
    # Ca relaxes in a closed box: the run stops once nothing changes by 1e-3 of itself per ms
    case = tiny(time={"end": "1000 ms", "steady_state": 1e-3})
    stream = io.StringIO()
    res = md.Simulation(case).run(progress=Progress(stream))
    assert res.status is Status.STEADY_STATE and res.manifest.time_ms < 1000
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith(f"steady state at t = {res.manifest.time_ms:.6g} ms")
    assert np.isfinite(res.field("Ca")).all()


def test_progress_of_a_direct_steady_solve_says_so():
    case = md.load_case(ROOT / "cases" / "nanodomain_egta.toml").replace({
        "geometry.radius": "1 um", "geometry.height": "1 um", "geometry.spacing.min": "2 nm",
        "geometry.spacing.max": "100 nm", "geometry.spacing.growth": 1.3})
    stream = io.StringIO()
    md.Simulation(case).run(progress=Progress(stream))
    assert stream.getvalue().splitlines()[-1].startswith("steady state (solved directly)")
