"""docs/references.md: every value it lists is the one the parameter files and cases use."""

import math

import pytest

import microdomain as md
from microdomain.parameters import buffer_presets, flux_presets
from microdomain.units import current_to_molar_flow, to_internal

from tests.helpers import ROOT

TEXT = (ROOT / "docs" / "references.md").read_text()


def case(name):
    return md.load_case(ROOT / "cases" / f"{name}.toml")


def rates(preset):
    """(kon in /uM/s, koff in /s, count) per site of a buffer preset."""
    return [(to_internal(s["kon"], "second_order_rate") * 1e3, to_internal(s["koff"], "rate") * 1e3,
             s.get("count", 1)) for s in buffer_presets()[preset]["sites"]]


def test_every_source_resolves_in_references_bib():
    bib = (ROOT / "docs" / "references.bib").read_text()
    for key in ("Allbritton1992", "NaraghiNeher1997", "Pape1995", "Nagerl2000", "Schmidt2003",
                "KrezelMaret2007", "Vais2010", "SmithParker2009", "Kirichok2004"):
        assert key in TEXT and f"{{{key}," in bib, key


def test_units():
    assert "1 pA of Ca²⁺ is 5.182 µM·µm³/ms" in TEXT
    assert current_to_molar_flow(1.0, 2) == pytest.approx(5.182, rel=1e-4)


def test_diffusivities():
    assert "| 220 µm²/s |" in TEXT and "3–10× slower" in TEXT and "5× slower: 44 µm²/s" in TEXT
    assert case("nanodomain_egta").species[0].D["*"] == pytest.approx(0.220)
    D = case("mam_transfer").species[0].D
    assert D["cytosol"] == pytest.approx(0.220) and D["er"] == pytest.approx(0.044)
    assert D["cytosol"] / D["er"] == pytest.approx(5) and 3 <= 5 <= 10


def test_buffers():
    assert "10.5 µM⁻¹s⁻¹ (pH 7.2), 0.735 s⁻¹" in TEXT
    assert rates("EGTA") == [(pytest.approx(10.5), pytest.approx(0.735), 1)]
    assert "400 µM⁻¹s⁻¹, 88 s⁻¹" in TEXT
    assert rates("BAPTA") == [(pytest.approx(400), pytest.approx(88), 1)]
    assert "kon 11 and 87 µM⁻¹s⁻¹, koff 2.6 and 35.8 s⁻¹" in TEXT
    assert rates("calbindin_D28k") == [(pytest.approx(11), pytest.approx(2.6), 2),
                                       (pytest.approx(87), pytest.approx(35.8), 2)]
    assert "kon 430 µM⁻¹s⁻¹, koff 140 s⁻¹" in TEXT
    assert rates("OGB1") == [(pytest.approx(430), pytest.approx(140), 1)]
    assert "log K 11.8 (4 sites), 10 (2), 7.7 (1)" in TEXT
    logK = [(round(math.log10(kon / koff * 1e6), 1), n) for kon, koff, n in rates("metallothionein")]
    assert logK == [(11.8, 4), (10.0, 2), (7.7, 1)]


def test_fluo4_dye():
    assert "kon 100–800 µM⁻¹s⁻¹ ◇, Kd 345 nM ◇" in TEXT and "(kon 500, Kd 345 nM)" in TEXT
    (dye,) = [b for b in case("zn_ca_crosstalk").buffers if b.name == "dye"]
    (ca,) = [b for b in dye.sites[0].binds if b.ion == "Ca"]
    assert ca.kon * 1e3 == pytest.approx(500) and 100 <= ca.kon * 1e3 <= 800
    assert ca.koff / ca.kon == pytest.approx(0.345)                       # µM


def test_channels():
    assert "0.15 pA at 500 µM [Ca²⁺]ER" in TEXT
    for preset in ("type3", "li_rinzel"):
        params = flux_presets()["ip3r"][preset].params
        assert params["unitary_current"] == "0.15 pA" and params.get("at", "500 uM") == "500 uM"
    assert "| ~6 |" in TEXT and "mam_transfer (6 channels)" in TEXT
    (ip3r,) = [p for f, p in zip(case("mam_transfer").fluxes, case("mam_transfer").flux_params)
               if f.model == "ip3r"]
    assert ip3r.channels == 6
    assert "| 0.5 pA (105 mM Ca²⁺, −160 mV) |" in TEXT
    params = flux_presets()["mcu"]["kirichok2004"].params
    assert params["unitary_current"] == "0.5 pA" and params["at"] == "105 mM"
