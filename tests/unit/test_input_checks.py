"""Wrong types, names, duplicates, probes outside the domain, sweeps and mesh files: each is a
problem at a named field (exit code 2 from the CLI), never a traceback or a silent acceptance."""

from __future__ import annotations

import contextlib
import io
import tomllib
import typing

import numpy as np
import pytest
from pydantic import BaseModel

import microdomain.cli as cli
from microdomain import fluxes as flux_plugins
from microdomain import limits
from microdomain.case import SECTIONS, CaseError, case_from_dict, load_case
from microdomain.geometry import builders
from tests.helpers import ROOT, small_case, to_toml


def problems(raw) -> list[str]:
    with pytest.raises(CaseError) as err:
        case_from_dict(raw, "case.toml")
    return [str(p) for p in err.value.problems]


def one(msgs, *needles):
    hits = [m for m in msgs if all(n in m for n in needles)]
    assert hits, f"no message with {needles} in:\n" + "\n".join(msgs)
    return hits[0]


def validate(*args) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(["validate", *map(str, args)])
    return status, err.getvalue()


def shipped(name: str) -> dict:
    return tomllib.loads((ROOT / "cases" / name).read_text("utf-8"))


# ------------------------------------------------------------------------------------ types --

@pytest.mark.parametrize("builder, named", [
    (["box"], "a list"), ({"name": "box"}, "a table"), (3, "an integer"), (True, "a boolean"),
])
def test_geometry_builder_of_the_wrong_type(builder, named):
    raw = small_case()
    raw["geometry"]["builder"] = builder
    msg = one(problems(raw), "geometry.builder")
    assert named in msg and "axisymmetric, box" in msg


def test_geometry_that_is_not_a_table():
    assert "must be a table" in one(problems(small_case(geometry="box")), "geometry")


@pytest.mark.parametrize("section, value", [
    ("case", "tiny"), ("time", ["1 ms"]), ("solver", 3), ("output", "all"),
    ("species", {"ion": "Ca"}), ("fluxes", "none"),
])
def test_sections_of_the_wrong_type(section, value):
    raw = small_case()
    raw[section] = value
    one(problems(raw), f"case.toml: {section}")


@pytest.mark.parametrize("where, value", [
    (("case", "description"), ["x"]),
    (("case", "references"), "Neher1986"),
    (("species", 0, "ion"), 20),
    (("species", 0, "valence"), "two"),
    (("species", 0, "D"), ["220 um**2/s"]),
    (("species", 0, "initial"), {"cytosol": [1], "er": "1 uM"}),
    (("buffers", 0, "preset"), ["EGTA"]),
    (("buffers", 0, "sites"), "EGTA"),
    (("time", "dt"), "1 us"),
    (("time", "rtol"), "tight"),
    (("geometry", "cells"), "20"),
    (("geometry", "size"), "1 um"),
    (("geometry", "surfaces"), {"name": "x"}),
])
def test_wrong_types_are_problems_at_their_field(where, value):
    raw = small_case()
    node = raw
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    path = ".".join(str(k) for k in where).replace(".0.", "[0].")
    one(problems(raw), f"case.toml: {path}")


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "on"])
def test_booleans_are_only_true_or_false(value):
    raw = small_case(solver={"allow_large": value})
    assert "valid boolean" in one(problems(raw), "solver.allow_large")


def test_no_case_model_declares_a_lax_bool():
    """Plain `bool` fields read "yes"/"no"/1 silently; every model uses quantities.Bool."""
    models = [m for m in SECTIONS.values() if m is not None]
    models += [builders.get(n).Params for n in builders.names()]
    models += [flux_plugins.registry.get(n).Params for n in flux_plugins.registry.names()]
    seen, lax = set(), []
    while models:
        m = models.pop()
        for arg in typing.get_args(m) or (m,):
            if not (isinstance(arg, type) and issubclass(arg, BaseModel)) or arg in seen:
                continue
            seen.add(arg)
            for name, field in arg.model_fields.items():
                strict = any(getattr(m, "strict", False) for m in field.metadata)
                inner = typing.get_args(field.annotation)
                if (field.annotation is bool and not strict) or bool in inner:
                    lax.append(f"{arg.__name__}.{name}")
                models += [a for a in typing.get_args(field.annotation) or (field.annotation,)]
    assert not lax, f"use quantities.Bool for {lax}"


def test_z_origin_nan_is_a_problem_not_a_numpy_message():
    raw = shipped("nanodomain_egta.toml")
    raw["geometry"]["z_origin"] = "nan um"
    assert "not a finite number" in one(problems(raw), "geometry.z_origin")


# ------------------------------------------------------------------------------------ names --

@pytest.mark.parametrize("name", ["../../x", "/etc/x", ".hidden", "a b", "x" * 101, "", "a/b", "é"])
def test_case_names_must_be_safe_file_names(name):
    raw = small_case(case={"name": name})
    one(problems(raw), "case.name")


@pytest.mark.parametrize("name", ["x" * 100, "nanodomain_egta", "run-2.v1", "_a", "-a"])
def test_safe_case_names(name):
    assert case_from_dict(small_case(case={"name": name})).info.name == name


@pytest.mark.parametrize("where, value, why", [
    (("species", 0, "ion"), "", "must not be empty"),
    (("species", 0, "ion"), "Ca.2", "contains '.'"),
    (("species", 0, "ion"), " Ca", "leading or trailing spaces"),
    (("buffers", 0, "name"), "EGTA.x", "contains '.'"),
    (("buffers", 0, "name"), "", "must not be empty"),
    (("geometry", "compartments", 0, "name"), "", "must not be empty"),
    (("geometry", "surfaces", 0, "name"), "  ", "must not be empty"),
])
def test_names_that_are_empty_or_break_field_names(where, value, why):
    raw = small_case()
    node = raw
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where).lstrip(".")
    assert why in one(problems(raw), f"case.toml: {path}:")


def test_empty_probe_and_flux_names():
    raw = small_case(output={"probes": [{"name": "", "at": ["0.1 um"]}]},
                     fluxes=[{"model": "permeability", "label": "", "surface": "er_membrane",
                              "from": "er", "to": "cytosol", "params": {"permeability": "1 um/s"}}])
    msgs = problems(raw)
    one(msgs, "output.probes[0].name", "must not be empty")
    one(msgs, "fluxes[0].label", "must not be empty")


def test_the_default_run_directory_stays_in_runs():
    """A case name can no longer point the default run directory outside runs/."""
    case = case_from_dict(small_case(case={"name": "ok_name"}))
    out = cli._default_out(case)
    assert out.parent.name == "runs" and ".." not in out.parts


PERMEABILITY = {"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
                "params": {"permeability": "1 um/s"}}


def test_two_surfaces_of_one_name():
    raw = small_case()
    raw["geometry"]["surfaces"].append({"name": "left", "wall": "x+"})
    msg = one(problems(raw), "geometry.surfaces[2].name")
    assert "'left' is already used by geometry.surfaces[1]" in msg


def test_two_fluxes_of_one_name():
    msgs = problems(small_case(fluxes=[PERMEABILITY, PERMEABILITY]))
    assert "'permeability@er_membrane' is already used by fluxes[0]" in one(msgs, "fluxes[1]")
    labelled = [dict(PERMEABILITY, label="leak"), dict(PERMEABILITY, surface="left", label="leak")]
    msgs = problems(small_case(fluxes=labelled))
    one(msgs, "fluxes[1].label", "'leak' is already used")
    case_from_dict(small_case(fluxes=[dict(PERMEABILITY, label="a"), dict(PERMEABILITY, label="b")]))


def test_two_baths_on_one_surface():
    msgs = problems(small_case(boundaries=[{"surface": "left"}, {"surface": "left"}]))
    assert "already has a boundary condition (boundaries[0])" in one(msgs, "boundaries[1].surface")


@pytest.mark.parametrize("permeability, path", [
    ("-1 um/s", "fluxes[0].params.permeability"), ({"Ca": "-1 um/s"}, "fluxes[0].params.permeability.Ca"),
])
def test_a_negative_permeability(permeability, path):
    raw = small_case(fluxes=[dict(PERMEABILITY, params={"permeability": permeability})])
    assert "must not be negative" in one(problems(raw), f"{path}:")


def test_an_ion_whose_species_is_broken_is_not_also_reported_missing():
    raw = small_case()
    raw["species"][0]["D"] = "inf um**2/s"
    msgs = problems(raw)
    assert len(msgs) == 1 and "species[0].D" in msgs[0]


# ----------------------------------------------------------------------------------- probes --

@pytest.mark.parametrize("at, index, why", [
    (["1.5 um"], 0, "x = 1.5 um lies outside the domain, which spans x = 0 to 1 um"),
    (["-1 nm"], 0, "x = -0.001 um lies outside"),
    (["nan um"], 0, "not a finite number"),
    (["inf um"], 0, "not a finite number"),
])
def test_probes_in_a_box(at, index, why):
    raw = small_case(output={"probes": [{"name": "p", "at": at}]})
    assert why in one(problems(raw), f"output.probes[0].at[{index}]")


def test_probes_on_the_walls_are_inside():
    raw = small_case(output={"probes": [{"name": "a", "at": ["0 um"]}, {"name": "b", "at": ["1 um"]}]})
    case_from_dict(raw)


def test_probes_in_an_axisymmetric_domain_need_r_at_least_0():
    raw = shipped("nanodomain_egta.toml")
    raw["output"]["probes"][0]["at"] = ["-10 nm", "0 nm"]
    raw["output"]["probes"][1]["at"] = ["10 nm", "3.5 um"]
    msgs = problems(raw)
    assert "r = -0.01 um lies outside the domain, which spans r = 0 to 3 um" in \
        one(msgs, "output.probes[0].at[0]")
    assert "z = 3.5 um" in one(msgs, "output.probes[1].at[1]")
    name = raw["output"]["probes"][1]["name"]
    assert f"(probe {name!r})" in one(msgs, "output.probes[1].at[1]")


def test_probes_of_a_gmsh_contact_lie_in_its_box():
    raw = shipped("mam_contact.toml")
    raw["output"]["probes"][0]["at"] = ["10 um", "10 nm"]
    assert "outside the domain" in one(problems(raw), "output.probes[0].at[0]")
    raw = shipped("mam_contact_3d.toml")
    case_from_dict(raw)                               # the shipped probes are inside
    raw["output"]["probes"][0]["at"] = ["0 nm", "0 nm", "-5 um"]
    assert "z = -5 um" in one(problems(raw), "output.probes[0].at[2]")


def _two_squares(path):
    import meshio

    pts = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [1, 1, 0], [2, 1, 0]], float)
    tris = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
    mesh = meshio.Mesh(pts, [("line", np.array([[1, 4]])), ("triangle", tris)],
                       cell_data={"gmsh:physical": [np.array([3]), np.array([1, 1, 2, 2])],
                                  "gmsh:geometrical": [np.array([1]), np.array([1, 1, 2, 2])]},
                       field_data={"left": np.array([1, 2]), "right": np.array([2, 2]),
                                   "wall": np.array([3, 1])})
    meshio.write(path, mesh, file_format="gmsh22", binary=False)
    return path


def _mesh_case(tmp_path, mesh_name="squares.msh", probes=()):
    raw = {"case": {"name": "user_mesh"},
           "geometry": {"builder": "mesh_file", "path": mesh_name},
           "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
           "time": {"end": "1 ms"}, "output": {"probes": list(probes)}}
    path = tmp_path / "case.toml"
    path.write_text(to_toml(raw), "utf-8")
    return path


def test_probes_of_a_mesh_file_are_checked_against_the_mesh(tmp_path):
    _two_squares(tmp_path / "squares.msh")
    inside = _mesh_case(tmp_path, probes=[{"name": "in", "at": ["1.5 um", "0.5 um"]}])
    assert validate(inside)[0] == 0
    outside = _mesh_case(tmp_path, probes=[{"name": "out", "at": ["2.5 um", "0.5 um"]}])
    status, err = validate(outside)
    assert status == 2 and "output.probes[0].at: the probe at x = 2.5, y = 0.5 um lies outside the mesh" in err
    assert "(probe 'out')" in err                       # the probe named, not only its index


# ------------------------------------------------------------------------------ mesh files --

@pytest.mark.parametrize("content, why", [
    (b"", "is empty"), (b"garbage\n", "cannot read mesh file"),
])
def test_a_broken_mesh_file_is_exit_2_at_geometry_path(tmp_path, content, why):
    (tmp_path / "squares.msh").write_bytes(content)
    status, err = validate(_mesh_case(tmp_path))
    assert status == 2 and "geometry.path:" in err and why in err and "Traceback" not in err


def test_a_mesh_path_that_is_a_directory(tmp_path):
    (tmp_path / "squares.msh").mkdir()
    status, err = validate(_mesh_case(tmp_path))
    assert status == 2 and "not a regular file" in err


def test_an_empty_cached_gmsh_mesh_is_rebuilt_not_used(tmp_path, monkeypatch):
    from microdomain.geometry.gmsh_tools import GmshBuilder

    monkeypatch.setenv("MICRODOMAIN_CACHE", str(tmp_path))
    case = load_case(ROOT / "cases" / "mam_contact.toml")
    path = case.builder.mesh_path(case.geometry)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    made = []
    monkeypatch.setattr(case.builder, "_generate", classmethod(lambda cls, g, p: made.append(1)))
    monkeypatch.setattr("microdomain.geometry.gmsh_tools.write_msh22",
                        lambda gmsh, p: p.write_text("rebuilt"))
    geometry = case.builder.build(case.geometry)
    assert made and path.read_text() == "rebuilt" and geometry.notes["cache_hit"] is False
    assert issubclass(case.builder, GmshBuilder)


# ----------------------------------------------------------------------------------- sweeps --

def _sweep(tmp_path, **change) -> str:
    sweep = tomllib.loads((ROOT / "cases" / "mam_gap_sweep.toml").read_text("utf-8"))
    sweep["sweep"]["case"] = str(ROOT / "cases" / "mam_transfer.toml")
    sweep["sweep"].update(change)
    path = tmp_path / "sweep.toml"
    path.write_text(to_toml(sweep), "utf-8")
    return str(path)


def _no_model_build(case):
    raise AssertionError("reached the model build")


@pytest.mark.parametrize("command", ["validate", "sweep"])
@pytest.mark.parametrize("case, why", [
    ("missing.toml", "cannot read the file"), (".", "is a directory"),
    ("/dev/zero", "not a regular file"),
])
def test_a_sweep_whose_case_cannot_be_read(tmp_path, monkeypatch, command, case, why):
    monkeypatch.setattr(cli, "_check_model", _no_model_build)
    path = _sweep(tmp_path, case=case)
    err = io.StringIO()
    args = [command, path] + (["--out", str(tmp_path / "out")] if command == "sweep" else [])
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 2
    assert f"{path}: sweep.case:" in err.getvalue() and why in err.getvalue()


@pytest.mark.parametrize("data, why", [
    (b"\xff\xfe", "not UTF-8"), (b"[sweep\n", "not valid TOML"), (None, "is a directory"),
])
def test_an_unreadable_sweep_file(tmp_path, data, why):
    path = tmp_path / "sweep.toml"
    if data is None:
        path.mkdir()
    else:
        path.write_bytes(data)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert why in err.getvalue()


def test_a_sweep_parameter_naming_a_whole_list_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_check_model", _no_model_build)
    status, err = validate(_sweep(tmp_path, parameter="species.0"))
    assert status == 2 and "'species.0' is a whole [[species]] entry" in err


def test_a_sweep_parameter_reaches_list_entries_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_check_model", lambda case: None)
    status, err = validate(_sweep(tmp_path, parameter="species.Ca.D.cytosol",
                                  values=["200 um**2/s", "250 um**2/s"]))
    assert status == 0, err
    status, err = validate(_sweep(tmp_path, parameter="species.Cx.D", values=["1 um**2/s"]))
    assert status == 2 and "species.Cx: no entry named 'Cx'; names: Ca" in err


def test_sweep_metrics_are_checked_against_the_metrics_schema(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_check_model", _no_model_build)
    status, err = validate(_sweep(tmp_path, metrics={"peak": "surfaces.omm_mam_patch.Ca.peak"}))
    assert status == 2 and "sweep.metrics.peak" in err and "no key 'peak'" in err
    assert "keys: peak_uM, peak_time_ms" in err
    status, err = validate(_sweep(tmp_path, metrics={"x": "compartments.matrix.Ca"}, ratios={}))
    assert status == 2 and "names a table, not a number" in err


def test_a_sweep_over_a_case_with_a_broken_mesh_file_is_exit_2_before_running(tmp_path, monkeypatch):
    (tmp_path / "squares.msh").write_bytes(b"")
    case = _mesh_case(tmp_path)
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(to_toml({"sweep": {"name": "s", "case": case.name, "parameter": "time.end",
                                        "values": ["1 ms"]}}), "utf-8")
    monkeypatch.setattr("microdomain.run.run", lambda *a, **k: pytest.fail("a run started"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["sweep", str(sweep), "--out", str(tmp_path / "out")]) == 2
    assert "geometry.path" in err.getvalue() and "is empty" in err.getvalue()


def test_validate_does_not_read_endless_input_to_detect_a_sweep():
    assert limits.MAX_FILE_BYTES < 10**7
    status, err = validate("/dev/zero")
    assert status == 2 and "not a regular file" in err
