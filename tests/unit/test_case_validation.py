"""Every class of user mistake gets a message naming the file, the field and the fix."""

import subprocess
import sys
import textwrap

import pytest

from microdomain.case import CaseError, case_from_dict, load_case
from microdomain.cli import main

from tests.helpers import small_case


def problems(raw) -> list[str]:
    with pytest.raises(CaseError) as err:
        case_from_dict(raw, "case.toml")
    return [str(p) for p in err.value.problems]


def one(msgs, *needles):
    hits = [m for m in msgs if all(n in m for n in needles)]
    assert hits, f"no message with {needles} in:\n" + "\n".join(msgs)
    return hits[0]


def test_a_valid_case_reads_into_internal_units():
    case = case_from_dict(small_case())
    assert case.species[0].D == {"*": pytest.approx(0.22)}
    assert case.buffers[0].sites[0].binds[0].kon == pytest.approx(0.1)
    assert case.time.end == pytest.approx(1.0)
    assert case.compartments() == ["cytosol", "er"]


def test_unknown_key_names_the_nearest_valid_key():
    raw = small_case()
    raw["buffers"][0]["totl"] = "1 mM"
    msg = one(problems(raw), "buffers[0].totl")
    assert "did you mean 'total'" in msg and "case.toml" in msg


def test_unknown_section_and_nested_key():
    raw = small_case()
    raw["outptu"] = {}
    raw["time"]["dt"] = {"inital": "1 us"}
    msgs = problems(raw)
    assert "did you mean 'output'" in one(msgs, "outptu")
    assert "did you mean 'initial'" in one(msgs, "time.dt.inital")


def test_wrong_dimension_says_what_was_given_and_what_is_needed():
    raw = small_case()
    raw["species"][0]["D"] = "20 nm"
    msg = one(problems(raw), "species[0].D")
    assert "a length" in msg and "diffusivity" in msg


def test_flux_on_a_surface_the_mesh_lacks():
    raw = small_case(fluxes=[{"model": "permeability", "surface": "er_membrne", "from": "er",
                              "to": "cytosol", "params": {"permeability": "1 um/s"}}])
    msg = one(problems(raw), "fluxes[0].surface")
    assert "did you mean 'er_membrane'" in msg


def test_negative_concentration():
    raw = small_case()
    raw["species"][0]["initial"] = {"cytosol": "-0.1 uM", "er": "500 uM"}
    assert "negative" in one(problems(raw), "species[0].initial.cytosol")


def test_buffer_in_a_compartment_that_does_not_exist():
    raw = small_case()
    raw["buffers"][0]["in"] = "mitochondria"
    msg = one(problems(raw), "buffers[0].in")
    assert "no compartment 'mitochondria'" in msg and "cytosol" in msg


def test_unknown_flux_model_and_bad_plugin_params():
    raw = small_case(fluxes=[
        {"model": "serca_pump", "surface": "er_membrane", "from": "cytosol", "to": "er"},
        {"model": "hill_pump", "surface": "er_membrane", "from": "cytosol", "to": "er",
         "params": {"vmax": "1 uM*um/ms", "K": "1 um"}},
    ])
    msgs = problems(raw)
    assert "unknown flux model 'serca_pump'" in one(msgs, "fluxes[0].model")
    assert "a length" in one(msgs, "fluxes[1].params.K")


def test_every_problem_is_reported_at_once():
    raw = small_case()
    raw["species"][0]["D"] = "20 nm"
    raw["buffers"][0]["in"] = "nowhere"
    raw["time"]["end"] = "-1 ms"
    raw["output"] = {"fields": ["Cax"], "probes": [{"name": "p", "at": ["1 nm", "2 nm"]}]}
    msgs = problems(raw)
    for needle in ("species[0].D", "buffers[0].in", "time.end", "output.fields[0]", "output.probes[0].at"):
        one(msgs, needle)


def test_buffer_site_binding_an_ion_that_is_not_a_species():
    raw = small_case()
    raw["buffers"][0]["sites"] = [{"ion": "Mg", "kon": "1 /uM/s", "koff": "1 /s"}]
    assert "no species 'Mg'" in one(problems(raw), "buffers[0].sites[0].binds[0].ion")


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[case\nname = 1")
    with pytest.raises(CaseError, match="not valid TOML"):
        load_case(bad)
    with pytest.raises(CaseError, match="cannot read"):
        load_case(tmp_path / "missing.toml")


BROKEN = """
[case]
name = "broken"
[geometry]
builder = "axisymmetric"
radius = "1 um"
height = "1 um"
cells = [10, 10]
surfaces = [{ name = "pore", wall = "z-", radius = "50 nm" }]
[[species]]
ion = "Ca"
D = "220 um"
initial = "0.1 uM"
[[buffers]]
name = "EGTA"
in = "er"
total = "1 mM"
sites = [{ ion = "Ca", kon = "10 /uM/s", koff = "1 /s" }]
[[fluxes]]
model = "channel_cluster"
surface = "pour"
from = "outside"
to = "cytosol"
params = { unitary_current = "0.2 pA" }
[time]
end = "1 ms"
"""


def test_cli_validate_prints_every_problem_and_exits_2_without_traceback(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN)
    proc = subprocess.run([sys.executable, "-m", "microdomain.cli", "validate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for needle in ("species[0].D", "buffers[0].in", "fluxes[0].surface", "did you mean 'pore'"):
        assert needle in proc.stderr
    assert str(path) in proc.stderr


def test_flux_between_compartments_the_surface_does_not_separate(tmp_path, capsys):
    raw = textwrap.dedent(BROKEN).replace('D = "220 um"', 'D = "220 um**2/s"').replace(
        'in = "er"', 'in = "cytosol"').replace('surface = "pour"', 'surface = "pore"').replace(
        'from = "outside"', 'from = "er"')
    path = tmp_path / "mismatch.toml"
    path.write_text(raw)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "fluxes[0].from" in err and "no compartment 'er'" in err


def test_cli_validate_ok_on_shipped_cases(root, capsys):
    cases = sorted(str(p) for p in (root / "cases").glob("*.toml"))
    assert main(["validate", *cases]) == 0
    assert capsys.readouterr().out.count("OK") == len(cases)


def test_flux_sides_must_match_the_compartments_around_the_surface(tmp_path, capsys):
    from microdomain.cli import _check_model

    raw = small_case(fluxes=[{"model": "permeability", "surface": "left", "from": "er",
                              "to": "cytosol", "params": {"permeability": "1 um/s"}}],
                     boundaries=[{"surface": "er_membrane"}])
    case = case_from_dict(raw, "case.toml")
    with pytest.raises(CaseError) as err:
        _check_model(case)
    msg = str(err.value)
    assert "fluxes[0]" in msg and "cytosol | outside" in msg                 # both reported
    assert "boundaries[0].surface" in msg and "outer faces" in msg
