"""The public API: md.load_case → Case.replace → md.Simulation → Result, and md.open_run giving
the same Result back from the run directory."""

import numpy as np
import pytest

import microdomain as md

from tests.helpers import ROOT, small_case


def leaky(**over):
    sections = dict(
        fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
                 "params": {"permeability": "5 um/s"}, "label": "leak"}],
        time={"end": "2 ms"},
        output={"every": "1 ms", "probes": [{"name": "mid", "at": ["0.25 um"]},
                                            {"name": "deep", "at": ["0.75 um"], "fields": ["Ca"]}]},
    )
    return md.case_from_dict(small_case(**{**sections, **over}), "leaky.toml")


@pytest.fixture(scope="module")
def sim():
    return md.Simulation(leaky())


@pytest.fixture(scope="module")
def runs(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return sim.run(), sim.run(out=out), md.open_run(out)


def test_the_package_exports_the_api():
    names = set(dir(md))
    assert {"load_case", "case_from_dict", "Case", "CaseError", "Simulation", "SimulationError",
            "Result", "open_run", "Status", "Manifest", "Metrics", "RunDirectory",
            "ResumeError", "__version__"} <= names
    with pytest.raises(AttributeError):
        md.no_such_thing


# ----------------------------------------------------------------------------- replace --

def test_replace_parses_units_and_validates_again():
    case = md.load_case(ROOT / "cases" / "nanodomain_egta.toml")
    new = case.replace({"time.end": "50 ms", "geometry.radius": "5 um"})
    assert new.time.end == 50.0 and new.geometry.radius == 5.0
    assert case.time.end == 500.0 and case.geometry.radius == 3.0          # unchanged
    assert new.sha256 != case.sha256 and new.path == case.path


def test_replace_reaches_list_entries_by_name():
    case = md.load_case(ROOT / "cases" / "nanodomain_egta.toml")
    new = case.replace({"buffers.EGTA.total": "2 mM", "species.Ca.D": "200 um**2/s",
                        "fluxes.channel_cluster@channel.params.channels": 3,
                        "output.probes.r20nm.at": ["25 nm", "0 nm"],
                        "geometry.surfaces.channel.radius": "3 nm"})
    assert new.buffers[0].total == 2000.0
    assert new.species[0].D == {"*": pytest.approx(0.2)}
    assert new.flux_params[0].channels == 3
    assert new.output.probes[1].at == pytest.approx((0.025, 0.0))
    assert new.geometry.surfaces[0].radius == pytest.approx(0.003)
    labelled = leaky().replace({"fluxes.leak.params.permeability": "1 um/s", "buffers.0.D": 0})
    assert labelled.flux_params[0].permeability == {"*": pytest.approx(1e-3)}
    assert labelled.buffers[0].D == 0.0


def test_replace_takes_pint_quantities_and_numpy_numbers():
    from microdomain.units import registry

    ureg = registry()
    new = leaky().replace({"time.end": 3 * ureg.ms, "geometry.cells": [np.int64(10)]})
    assert new.time.end == 3.0 and new.geometry.cells == (10,)


@pytest.mark.parametrize("change, path, words", [
    ({"buffers.EGTA.total": "lots"}, "buffers.EGTA.total", "cannot read 'lots'"),
    ({"buffers.EGTA.total": "1 um"}, "buffers.EGTA.total", "concentration"),
    ({"buffers.EGTB.total": "1 mM"}, "buffers.EGTB", "no entry named 'EGTB'; did you mean 'EGTA'?"),
    ({"buffers.EGTA": "1 mM"}, "buffers.EGTA", "is a whole [[buffers]] entry"),
    ({"time": "5 ms"}, "time", "is a section"),
    ({"time.end.value": 1}, "time.end.value", "is a value, not a table"),
    ({"time.ned": "5 ms"}, "time.ned", "unknown key 'ned'; did you mean 'end'?"),
])
def test_a_bad_change_is_a_case_error_at_the_path_given(change, path, words):
    case = md.load_case(ROOT / "cases" / "nanodomain_egta.toml")
    with pytest.raises(md.CaseError) as err:
        case.replace(change)
    (problem,) = err.value.problems
    assert problem.path == path and words in problem.message, str(problem)


# ------------------------------------------------------------------------- simulation --

def test_simulation_builds_once_and_refuses_a_case_it_cannot_build(monkeypatch):
    import microdomain.mesh as mesh

    calls = []
    original = mesh.build_domain
    monkeypatch.setattr(mesh, "build_domain", lambda geo: calls.append(1) or original(geo))
    sim = md.Simulation(leaky())
    sim.run()
    sim.run()
    assert len(calls) == 1
    raw = small_case(fluxes=[{"model": "permeability", "surface": "left", "from": "er",
                              "to": "cytosol", "params": {"permeability": "1 um/s"}}])
    with pytest.raises(md.CaseError, match=r"fluxes\[0\]"):
        md.Simulation(md.case_from_dict(raw, "bad.toml"))
    with pytest.raises(TypeError, match="load_case"):
        md.Simulation(small_case())


def test_the_cli_builds_the_model_once(tmp_path, monkeypatch):
    import microdomain.mesh as mesh
    from microdomain.cli import main

    from tests.helpers import to_toml

    calls = []
    original = mesh.build_domain
    monkeypatch.setattr(mesh, "build_domain", lambda geo: calls.append(1) or original(geo))
    path = tmp_path / "tiny.toml"
    path.write_text(to_toml(small_case()))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert len(calls) == 1


def test_a_run_directory_is_not_overwritten_unless_asked(sim, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        sim.run(out=tmp_path)
    assert sim.run(out=tmp_path, overwrite=True).status == md.Status.COMPLETED
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ----------------------------------------------------------------------------- result --

def test_memory_and_disk_results_agree(runs):
    mem, disk, back = runs
    assert mem.path is None and disk.path == back.path
    for res in (mem, disk, back):
        assert res.status == md.Status.COMPLETED and res.name == "tiny"
        assert list(res.times) == pytest.approx([0.0, 1.0, 2.0])
        assert res.fields == ["Ca", "B.Ca"]
    assert list(mem.probes.columns) == list(back.probes.columns) == \
        ["time_ms", "probe", "x_um", "field", "value", "unit"]
    assert mem.probes["value"].to_numpy() == pytest.approx(back.probes["value"].to_numpy(), rel=1e-9)
    assert (mem.probes[["probe", "field", "unit"]].values == back.probes[["probe", "field", "unit"]].values).all()
    assert mem.fluxes["value"].to_numpy() == pytest.approx(back.fluxes["value"].to_numpy(), rel=1e-9, abs=1e-15)
    assert mem.metrics.mass_balance["Ca"].final_amol == pytest.approx(
        back.metrics.mass_balance["Ca"].final_amol, rel=1e-12)
    assert disk.metrics == back.metrics
    np.testing.assert_allclose(mem.field("Ca", t="1 ms"), back.field("Ca", 1.0), rtol=1e-12)
    np.testing.assert_allclose(mem.state.U, back.state.U, rtol=1e-12)


def test_probes_are_tidy_with_coordinates(runs):
    mem, _, _ = runs
    p = mem.probes
    assert set(p["probe"]) == {"mid", "deep"}
    assert set(p.loc[p.probe == "deep", "field"]) == {"Ca"}               # fields = ["Ca"]
    assert set(p.loc[p.probe == "mid", "x_um"]) == {0.25}
    assert set(p.loc[p.probe == "deep", "x_um"]) == {0.75}
    assert set(p["unit"]) == {"uM"}
    f = mem.fluxes
    assert list(f.columns) == ["time_ms", "flux", "surface", "kind", "field", "value", "unit"]
    assert set(zip(f.flux, f.surface, f.kind, f.field, f.unit)) == {
        ("leak", "er_membrane", "flow", "Ca", "amol/ms")}


def test_fields_are_nan_where_absent_and_frames_are_chosen_by_time(runs):
    mem, _, back = runs
    for res in (mem, back):
        compartment = np.asarray(res.mesh.cell_data["compartment"])
        bound = res.field("B.Ca")
        assert np.all(np.isnan(bound[compartment == 1])) and np.all(bound[compartment == 0] > 0)
        assert res.mesh.n_cells == 20 and list(res.mesh.field_data["field_units"])[0] == "uM"
        grid = res.frame("1 ms")
        assert set(grid.cell_data.keys()) == {"compartment", "Ca", "B.Ca"}
        assert float(grid.field_data["TimeValue"][0]) == 1.0
        with pytest.raises(KeyError, match="no frame at t = 1.5 ms; frames are at 0, 1, 2 ms"):
            res.field("Ca", t=1.5)
        with pytest.raises(KeyError, match="no field 'Zn'"):
            res.field("Zn")


def test_to_xarray_holds_probes_flows_and_units(runs):
    mem, _, back = runs
    for res in (mem, back):
        ds = res.to_xarray()
        c = ds["concentration"]
        assert c.dims == ("time", "probe", "field") and c.attrs["units"] == "uM"
        assert list(ds.probe.values) == ["mid", "deep"]
        assert list(ds["x"].values) == [0.25, 0.75] and ds["x"].attrs["units"] == "um"
        assert np.isnan(c.sel(probe="deep", field="Ca").values).sum() == 0
        assert ds["flow"].dims == ("time", "flux", "ion") and ds["flow"].attrs["units"] == "amol/ms"
        assert ds.sizes["time"] == res.probes["time_ms"].nunique()
        assert ds.time.attrs["units"] == "ms"


def test_a_steady_solve_result(tmp_path):
    case = md.load_case(ROOT / "cases" / "nanodomain_egta.toml").replace({
        "geometry.radius": "1 um", "geometry.height": "1 um", "geometry.spacing.min": "2 nm",
        "geometry.spacing.max": "100 nm", "geometry.spacing.growth": 1.3})
    res = md.Simulation(case).run()
    assert res.status == md.Status.STEADY_STATE and res.metrics.steady is not None
    assert res.metrics.mass_balance is None and res.state.t == case.time.end
    assert abs(res.metrics.steady.balance["Ca"].relative_imbalance) < 1e-9


def test_open_run_of_a_directory_without_a_run(tmp_path):
    from microdomain.rundir import NotARunError

    with pytest.raises(NotARunError, match="not a run directory"):
        md.open_run(tmp_path)


def test_the_library_raises_microdomain_errors():
    import microdomain as md

    assert issubclass(md.CaseError, md.MicrodomainError)
    assert issubclass(md.SimulationError, md.MicrodomainError)
    assert issubclass(md.ResumeError, md.MicrodomainError)
    assert issubclass(md.ResumeError, md.RunDirectoryError)
    assert issubclass(md.RunLockedError, md.RunDirectoryError)
    assert issubclass(md.RunDirectoryError, md.MicrodomainError)
