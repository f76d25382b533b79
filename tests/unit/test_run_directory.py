"""The run directory contract (docs/run-directory.md): files, formats, mass balance, failure
handling; read back through the API (md.open_run) as every reader does."""

import json
import os
import signal
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import pyvista as pv

import microdomain as md
from microdomain.case import case_from_dict
from microdomain.cli import main
from microdomain.run import run
from microdomain.solver import SimulationError

from tests.helpers import small_case


def leaky_case(**over):
    sections = dict(
        fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
                 "params": {"permeability": "5 um/s"}},
                {"model": "hill_pump", "surface": "er_membrane", "from": "cytosol", "to": "er",
                 "params": {"vmax": "0.5 uM*um/ms", "K": "0.3 uM", "n": 2}, "label": "pump"}],
        time={"end": "2 ms"},
        output={"every": "0.5 ms", "probes": [{"name": "mid", "at": ["0.25 um"]}]},
    )
    return small_case(**{**sections, **over})


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    status, _ = run(case_from_dict(leaky_case(), "leaky.toml"), out, quiet=True)
    return status, out


def test_run_writes_every_file_of_the_contract(leaky_run):
    status, out = leaky_run
    assert status == md.Status.COMPLETED == "completed"
    for name in ("fields.pvd", "surfaces.vtu", "probes.csv", "fluxes.csv", "metrics.json",
                 "manifest.json", "checkpoint.npz", "log.txt"):
        assert (out / name).stat().st_size > 0
    assert not list(out.rglob(".*.tmp*"))


def test_pvd_lists_readable_frames_at_output_times(leaky_run):
    _, out = leaky_run
    sets = ET.parse(out / "fields.pvd").getroot().findall(".//DataSet")
    times = [float(s.get("timestep")) for s in sets]
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
    mesh = pv.read(out / sets[-1].get("file"))
    assert set(mesh.cell_data.keys()) == {"Ca", "B.Ca", "compartment"}
    assert len(mesh.cell_data["Ca"]) == 20
    assert set(np.unique(mesh.cell_data["compartment"])) == {0, 1}


def test_frames_carry_units_names_and_nan_where_a_field_does_not_exist(leaky_run):
    _, out = leaky_run
    mesh = pv.read(out / "fields" / "frame_00002.vtu")
    fd = mesh.field_data
    assert list(fd["TimeValue"]) == [1.0] and list(fd["time_unit"]) == ["ms"]
    assert list(fd["length_unit"]) == ["um"] and list(fd["axes"]) == ["x"]
    assert dict(zip(fd["field_names"], fd["field_units"])) == {"Ca": "uM", "B.Ca": "uM",
                                                               "compartment": ""}
    assert list(fd["compartment_names"]) == ["cytosol", "er"]
    # buffer B lives in the cytosol only: its bound state is NaN in the ER, not 0
    er = np.asarray(mesh.cell_data["compartment"]) == 1
    bound = np.asarray(mesh.cell_data["B.Ca"])
    assert np.all(np.isnan(bound[er])) and np.all(bound[~er] > 0)
    assert np.all(np.isfinite(mesh.cell_data["Ca"]))


def test_named_surfaces_are_written_once_with_their_index(leaky_run):
    _, out = leaky_run
    man = md.RunDirectory(out).manifest()
    assert man.mesh.surfaces == ["er_membrane", "left"]
    assert man.mesh.compartments == ["cytosol", "er"]
    surf = pv.read(out / "surfaces.vtu")
    assert list(surf.field_data["surface_names"]) == ["er_membrane", "left"]
    ids = np.asarray(surf.cell_data["surface"])
    assert sorted(np.unique(ids)) == [0, 1]
    # the membrane of a 1D box is one point; it sits at x = 0.5 um
    conn = surf.cells_dict[next(iter(surf.cells_dict))]
    assert np.allclose(surf.points[np.unique(conn[ids == 0])][:, 0], 0.5)


def test_probes_csv_is_tidy_with_the_probe_coordinates(leaky_run):
    _, out = leaky_run
    lines = (out / "probes.csv").read_text().splitlines()
    assert lines[0] == "time_ms,probe,x_um,field,value,unit"
    assert lines[1] == "0,mid,0.25,Ca,0.1,uM"
    probes = md.open_run(out).probes
    assert list(probes.columns) == ["time_ms", "probe", "x_um", "field", "value", "unit"]
    t = probes["time_ms"].to_numpy()
    assert t[0] == 0.0 and t[-1] == pytest.approx(2.0) and np.all(np.diff(t) > 0)
    assert set(probes["probe"]) == {"mid"} and set(probes["unit"]) == {"uM"}


def test_fluxes_csv_is_tidy(leaky_run):
    _, out = leaky_run
    fluxes = md.open_run(out).fluxes
    assert list(fluxes.columns) == ["time_ms", "flux", "surface", "kind", "field", "value", "unit"]
    assert set(fluxes["flux"]) == {"permeability@er_membrane", "pump"}
    assert set(fluxes["surface"]) == {"er_membrane"} and set(fluxes["unit"]) == {"amol/ms"}


def test_metrics_mass_balance_closes_and_fluxes_are_accounted(leaky_run):
    _, out = leaky_run
    m = md.open_run(out).metrics
    assert abs(m.mass_balance["Ca"].relative_error) <= 1e-9
    balance = m.mass_balance["Ca"]
    assert abs(balance.bath_inflow_amol) <= 1e-12 * balance.initial_amol   # closed box
    leak = m.fluxes["permeability@er_membrane"]["Ca"].amount_amol
    pump = m.fluxes["pump"]["Ca"].amount_amol
    assert leak > 0 and pump > 0                      # ER leaks, the pump refills
    er, cyto = m.compartments["er"]["Ca"], m.compartments["cytosol"]["Ca"]
    assert er.mean_uM < 500 and cyto.peak_uM > 0.1
    assert m.value("compartments.er.Ca.mean_uM") == er.mean_uM
    assert json.loads((out / "metrics.json").read_text())["mass_balance"]["Ca"]["relative_error"] \
        == m.mass_balance["Ca"].relative_error


def test_manifest_records_case_versions_solver_and_citations(leaky_run):
    _, out = leaky_run
    man = md.RunDirectory(out).manifest()
    assert man.status == md.Status.COMPLETED and man.steps > 0 and man.format == 2
    assert man.time_ms == pytest.approx(2.0)
    assert man.fipy_solver_suite and man.versions["fipy"]
    assert man.case["units"] == {"length": "um", "time": "ms", "concentration": "uM"}
    assert man.case["species"][0]["D"]["*"] == pytest.approx(0.22)
    assert len(man.case_sha256) == 64
    assert "Hill1910" in man.citations
    assert json.loads((out / "manifest.json").read_text())["status"] == "completed"


def drain_case():
    # a fixed outward flux larger than the ER content: concentrations must go negative
    return small_case(fluxes=[{"model": "constant_flux", "surface": "er_membrane", "from": "er",
                               "to": "cytosol", "params": {"density": "1000 uM*um/ms"}}],
                      time={"end": "5 ms", "dt": {"initial": "1 us", "max": "0.1 ms", "min": "1 ns"}},
                      output={"every": "0.05 ms"})


def test_negative_concentrations_stop_the_run_with_frames_kept(tmp_path):
    with pytest.raises(SimulationError, match=r"negative concentration -[0-9.e-]+ uM of Ca in er at x = "):
        run(case_from_dict(drain_case(), "drain.toml"), tmp_path, quiet=True)
    res = md.open_run(tmp_path)
    assert res.status == md.Status.FAILED and "negative" in res.manifest.message
    assert len(res.times) >= 2
    for t in res.times:
        assert np.all(res.field("Ca", t) >= 0)
    assert res.metrics.mass_balance


def test_cli_run_reports_a_failed_run_and_exits_1(tmp_path, capsys):
    case = tmp_path / "drain.toml"
    case.write_text(_toml(drain_case()))
    code = main(["run", str(case), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "run stopped" in err and "negative concentration" in err and "Traceback" not in err


def test_cli_run_refuses_to_overwrite_a_previous_run(tmp_path, capsys):
    case = tmp_path / "leaky.toml"
    case.write_text(_toml(leaky_case()))
    out = tmp_path / "out"
    assert main(["run", str(case), "--out", str(out), "--quiet"]) == 0
    before = (out / "manifest.json").read_text()
    assert main(["run", str(case), "--out", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == before


def _toml(d, prefix=""):
    """A minimal TOML writer for the dicts of tests/helpers.py."""
    def val(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
    lines = []
    for section, body in d.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {val(v)}" for k, v in item.items()]
        else:
            lines.append(f"[{section}]")
            lines += [f"{k} = {val(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import microdomain.observers as observers

    case = case_from_dict(leaky_case(time={"end": "2 ms", "rtol": 1e-5}), "leaky.toml")
    status, ref = run(case, tmp_path / "ref", quiet=True)
    assert status == "completed"

    original = observers.Metrics.frame

    def ctrl_c_after_one_ms(self, U, t):
        original(self, U, t)
        if t >= 1.0:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(observers.Metrics, "frame", ctrl_c_after_one_ms)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(case, out, quiet=True)
    monkeypatch.setattr(observers.Metrics, "frame", original)
    assert md.RunDirectory(out).manifest().status == md.Status.INTERRUPTED

    status, _ = run(case, out, quiet=True, resume=True)
    assert status == "completed"
    sets = [float(s.get("timestep")) for s in ET.parse(out / "fields.pvd").getroot().findall(".//DataSet")]
    assert sets == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
    res, res_ref = md.open_run(out), md.open_run(ref)
    m, m_ref = res.metrics, res_ref.metrics
    assert abs(m.mass_balance["Ca"].relative_error) <= 1e-9
    # the checkpoint holds the accepted state and step: the run goes on as if never stopped
    for name in ("permeability@er_membrane", "pump"):
        assert m.fluxes[name]["Ca"].amount_amol == pytest.approx(
            m_ref.fluxes[name]["Ca"].amount_amol, rel=1e-5)
    last = lambda r: r.probes.iloc[-1][["time_ms", "value"]].to_numpy(float)  # noqa: E731
    assert last(res) == pytest.approx(last(res_ref), rel=1e-5)
    assert res.probes["time_ms"].is_monotonic_increasing


def test_resume_refuses_a_changed_case(tmp_path):
    run(case_from_dict(leaky_case(), "leaky.toml"), tmp_path, quiet=True)
    from microdomain.run import ResumeError
    changed = case_from_dict(leaky_case(time={"end": "3 ms"}), "leaky.toml")
    with pytest.raises(ResumeError, match="has changed"):
        run(changed, tmp_path, quiet=True, resume=True)
