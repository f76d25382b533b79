"""Flux parameter sets (microdomain/parameters/fluxes.toml): registered models, references that
resolve, validation as a case would use them, overrides, citations and `microdomain info`."""

import re

import pytest
from pydantic import ValidationError

from microdomain import fluxes
from microdomain.case import CaseError, case_from_dict
from microdomain.cli import main
from microdomain.parameters import flux_presets
from microdomain.run import citations

from tests.helpers import ROOT, small_case

ALL_PRESETS = [(model, name) for model, sets in flux_presets().items() for name in sets]


def bib_keys() -> set[str]:
    text = (ROOT / "docs" / "references.bib").read_text("utf-8")
    return set(re.findall(r"^\s*@\w+\s*\{\s*([^,\s]+)\s*,", text, flags=re.MULTILINE))


def case_specific(model: str, params: dict) -> dict:
    """Values no preset can hold because they belong to the case: the IP3 level of a gated IP3R,
    where STIM1 senses the ER, the agonist concentration of a lysosomal channel."""
    if model == "ip3r":
        return {"ip3": "10 uM"} if params.get("mode") == "gated" else {}
    if model == "soce":
        return {"sensor": {"compartment": "er"}}
    if model in ("tpc2", "trpml1"):
        return {"agonist": "1 uM"}
    return {}


def test_there_are_presets_for_the_biological_models():
    assert {"ip3r", "serca", "tmco1", "leak", "zip7", "vdac", "mcu", "nclx", "soce", "pmca", "ncx",
            "znt", "tpc2", "trpml1"} <= set(flux_presets())
    assert {"type3", "li_rinzel"} <= set(flux_presets()["ip3r"])


@pytest.mark.parametrize("model, name", ALL_PRESETS)
def test_every_preset_names_a_registered_model_and_describes_itself(model, name):
    assert model in fluxes.registry.names()
    p = flux_presets()[model][name]
    assert p.model == model and p.name == name
    assert p.description.strip()
    assert p.params and p.references
    assert set(p.unchecked) <= set(p.params)


@pytest.mark.parametrize("model, name", ALL_PRESETS)
def test_every_preset_reference_resolves_in_the_bibliography(model, name):
    missing = [k for k in flux_presets()[model][name].references if k not in bib_keys()]
    assert not missing, f"{model}.{name} cites {missing}, not in docs/references.bib"


@pytest.mark.parametrize("model", fluxes.registry.names())
def test_every_flux_model_reference_resolves_in_the_bibliography(model):
    refs = fluxes.registry.get(model).references
    assert not [k for k in refs if k not in bib_keys()]


def test_the_bibliography_parser_sees_the_known_keys():
    keys = bib_keys()
    assert {"Vais2010", "LiRinzel1994", "Illustrative"} <= keys and "NoSuchKey2099" not in keys


@pytest.mark.parametrize("model, name", ALL_PRESETS)
def test_presets_validate_once_the_case_gives_its_own_values(model, name):
    cls = fluxes.registry.get(model)
    params = flux_presets()[model][name].params
    extra = case_specific(model, params)
    if extra:
        # the preset alone is incomplete, and only for want of the case's values
        with pytest.raises(ValidationError) as err:
            cls.Params.model_validate(params)
        msg = str(err.value)
        assert all(key in msg for key in extra), msg
        assert err.value.error_count() == len(extra)
    validated = cls.Params.model_validate({**params, **extra})
    assert validated is not None


def test_exactly_the_expected_presets_need_case_values():
    needing = {(m, n) for m, n in ALL_PRESETS if case_specific(m, flux_presets()[m][n].params)}
    assert {("ip3r", "li_rinzel"), ("soce", "orai1"), ("tpc2", "naadp"), ("trpml1", "agonist")} <= needing
    assert ("ip3r", "type3") not in needing


@pytest.mark.parametrize("model, name", ALL_PRESETS)
def test_every_preset_loads_in_a_case(model, name):
    extra = case_specific(model, flux_presets()[model][name].params)
    raw = small_case(fluxes=[{"model": model, "preset": name, "surface": "er_membrane", "from": "er",
                              "to": "cytosol", "params": extra}])
    case = case_from_dict(raw, "preset.toml")
    assert case.flux_params[0] is not None and case.fluxes[0].preset == name


def flux_case(**flux):
    spec = {"model": "ip3r", "preset": "type3", "surface": "er_membrane", "from": "er", "to": "cytosol",
            **flux}
    return small_case(fluxes=[spec])


def test_an_unknown_preset_is_an_error_naming_the_field_with_a_suggestion():
    with pytest.raises(CaseError) as err:
        case_from_dict(flux_case(preset="type_3"), "bad.toml")
    (problem,) = err.value.problems
    assert problem.path == "fluxes[0].preset"
    assert "'type_3'" in problem.message and "'ip3r'" in problem.message
    assert "did you mean 'type3'?" in problem.message and "li_rinzel" in problem.message
    assert str(problem).startswith("bad.toml: fluxes[0].preset:")


def test_a_preset_for_a_model_without_presets_says_there_are_none():
    with pytest.raises(CaseError) as err:
        case_from_dict(flux_case(model="permeability", preset="type3",
                                 params={"permeability": "1 um/s"}), "bad.toml")
    (problem,) = err.value.problems
    assert problem.path == "fluxes[0].preset" and "known: (none)" in problem.message


def test_case_params_override_single_preset_values():
    case = case_from_dict(flux_case(params={"channels": 6, "unitary_current": "0.2 pA"}), "c.toml")
    p = case.flux_params[0]
    assert p.channels == 6
    assert p.unitary_current == {"*": pytest.approx(0.2)}
    assert p.at == {"*": pytest.approx(500.0)}                 # kept from the preset
    gated = case_from_dict(flux_case(preset="li_rinzel", params={"ip3": "2 uM", "d5": "0.1 uM"}), "c.toml")
    q = gated.flux_params[0]
    assert q.mode == "gated" and q.ip3 == pytest.approx(2.0)
    assert q.d5 == pytest.approx(0.1) and q.d1 == pytest.approx(0.13) and q.a2 == pytest.approx(2e-4)
    # the manifest's normalised case shows the merged values
    flux = case.normalised()["fluxes"][0]
    assert flux["preset"] == "type3" and flux["params"]["channels"] == 6


def test_a_bad_override_is_reported_under_the_flux_params():
    with pytest.raises(CaseError) as err:
        case_from_dict(flux_case(params={"unitary_current": "0.2 uM", "chanels": 3}), "c.toml")
    paths = {p.path: p.message for p in err.value.problems}
    assert "a current is needed" in paths["fluxes[0].params.unitary_current"]
    assert "did you mean 'channels'?" in paths["fluxes[0].params.chanels"]


def test_an_override_may_leave_the_preset_inconsistent_and_is_then_rejected():
    # a second ion's current without its 'at': the preset gives 'at' for Ca only
    with pytest.raises(CaseError, match="each permeating ion needs both"):
        case_from_dict(flux_case(params={"unitary_current": {"Ca": "0.15 pA", "Zn": "0.01 pA"}}), "c.toml")


def test_citations_include_the_preset_references():
    raw = small_case(fluxes=[
        {"model": "ip3r", "preset": "li_rinzel", "surface": "er_membrane", "from": "er", "to": "cytosol",
         "params": {"ip3": "1 uM"}},
        {"model": "serca", "preset": "lytton", "surface": "er_membrane", "from": "cytosol", "to": "er"}])
    keys = citations(case_from_dict(raw, "c.toml"))
    for k in ("Vais2010", "LiRinzel1994", "DeYoungKeizer1992", "Lytton1992", "Illustrative"):
        assert k in keys
    assert len(keys) == len(set(keys))
    assert not [k for k in keys if k not in bib_keys()]


def test_info_lists_flux_presets_with_their_unchecked_values(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "flux presets" in out
    section = out[out.index("flux presets"):]
    for model, sets in flux_presets().items():
        assert re.search(rf"^\s+{model}\s*$", section, flags=re.MULTILINE), model
        for name, p in sets.items():
            line = next(line for line in section.splitlines() if line.strip().startswith(name + " ")
                        and p.description in line)
            if p.unchecked:
                assert "values to be checked: " + ", ".join(p.unchecked) in line
            else:
                assert "to be checked" not in line
    assert "type3" in section and "li_rinzel" in section
