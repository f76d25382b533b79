"""The like-for-like comparisons of docs/cases.md (issue 12 item 5), asserted at the digits the
text gives.

- Giacomello 2010 (mam_omm_bulk and its SOCE twin): both cases run in full in the default suite
  (~25 s CPU together) and every number of their section is checked here.
- Atakpa 2018 (lys_ip3r_vs_soce and its SOCE twin): the default suite runs the coarse variants
  (tests/cases/test_cases_run_to_end.py's `coarse`) with and without their source and checks the
  coarse numbers the section gives; the full cases, and the thapsigargin variants, under
  `python -m pytest -m slow tests/cases/test_likeforlike.py`.
- The same with a mitochondrion in the lysosome's place (mito_ip3r_vs_soce and its SOCE twin):
  the same split, coarse in the default suite (~6 s CPU), full and thapsigargin under `-m slow`;
  the preset arithmetic the section explains the result with is checked in the default suite.
"""

import re
import tomllib

import numpy as np
import pytest

import microdomain as md
from microdomain.hotspots import hot_spots, side_cells
from microdomain.units import to_internal
from microdomain.lysosome_uptake import attributable_uptake, thapsigargin
from microdomain.organelle_uptake import MITOCHONDRION
from microdomain import organelle_uptake

from tests.cases.test_cases_run_to_end import coarse
from tests.cases.test_documented_numbers import _doc, _number, _rounds_to
from tests.helpers import ROOT


def _measured(name):
    sim = md.Simulation(md.load_case(ROOT / "cases" / f"{name}.toml"))
    res = sim.run()
    assert res.status == md.Status.COMPLETED, res.manifest.message
    for ion, b in res.metrics.mass_balance.items():
        assert abs(b.relative_error) < 1e-9, ion
    return sim, res, hot_spots(sim, res)


@pytest.fixture(scope="module")
def ip3():
    return _measured("mam_omm_bulk")


@pytest.fixture(scope="module")
def soce():
    return _measured("mam_omm_bulk_soce")


def test_ip3_hot_spot_and_bulk(ip3):
    sim, res, h = ip3
    assert _rounds_to(h.hot.max(), _number("hot spot peaks at **24.9 µM**"))
    assert _rounds_to(h.hot.max(), _number("40 nm stripe) peaks at 24.9 µM", 1))
    assert _rounds_to(h.times[np.argmax(h.hot)], _number("first frame, 2 ms"))
    assert _rounds_to(h.omm.max(), _number("whole OMM peaks at 3.52 µM"))
    assert _rounds_to(h.bulk.max(), _number("bulk peaks at 0.448 µM at 50 ms"))
    assert _rounds_to(h.times[np.argmax(h.bulk)], _number("bulk peaks at 0.448 µM at 50 ms", 1))
    assert _rounds_to(h.peak_ratio, _number("hot spot / bulk, peak over peak | **56** |"))
    assert _rounds_to(h.omm_peak_ratio, _number("whole OMM / bulk, peak over peak | **7.9** |"))
    assert _rounds_to(h.ratio_at(10), _number("falls from 56 at 10 ms"))
    assert _rounds_to(h.ratio_at(50), _number("to 18 at the bulk peak"))
    assert _rounds_to(h.ratio_at(100), _number("and 10.0 at 100 ms"))
    assert _rounds_to(h.ratio_at(150), _number("0.77 at 150 ms"))
    released = sum(v["Ca"].amount_amol for k, v in res.metrics.fluxes.items() if k.startswith("ip3r"))
    assert _rounds_to(released, _number("release 1.11 amol"))
    _, patch = side_cells(sim.domain, "omm_mam", "cytosol")
    _, whole = side_cells(sim.domain, "omm", "cytosol")
    assert _rounds_to(100 * patch.sum() / whole.sum(), _number("10.7 % of the OMM"))
    y = sim.domain.nodes[1]
    _doc("5 nm at the MAM cluster (4 cells across the gap)")
    assert np.sum((y > 2.05 - 1e-9) & (y < 2.07 + 1e-9)) - 1 == 4
    cells = f"{res.manifest.mesh.cells:,}".replace(",", " ")
    _doc(f"(`box`, 2D, {cells} cells)")


def test_soce_has_no_hot_spot(soce):
    _, res, h = soce
    assert _rounds_to(h.peak_ratio, _number("hot spot / bulk, peak over peak | **56** | **1.02**", 1))
    assert _rounds_to(h.omm_peak_ratio, _number("whole OMM / bulk, peak over peak | **7.9** | "
                                                "**0.99**", 1))
    assert _rounds_to(h.bulk.max(), _number("bulk rises to 0.139 µM"))
    # the Orai1 preset's STIM1 Hill law read at the depleted store's 100 µM
    preset = tomllib.loads((ROOT / "microdomain" / "parameters" / "fluxes.toml").read_text())
    orai = preset["soce"]["orai1"]["params"]
    K, n = to_internal(orai["K"]["value"], "concentration"), orai["n"]["value"]
    assert _rounds_to(100 * K**n / (K**n + 100.0**n), _number("STIM1 activation is then 92 %"))
    _doc("peaks within 3 % of the bulk peak")
    assert abs(h.peak_ratio - 1) < 0.03 and abs(h.omm_peak_ratio - 1) < 0.03
    assert _rounds_to(res.metrics.fluxes["orai1_1"]["Ca"].amount_amol
                      + res.metrics.fluxes["orai1_2"]["Ca"].amount_amol
                      + res.metrics.fluxes["orai1_3"]["Ca"].amount_amol,
                      _number("Orai1 lets in 0.234 amol"))
    assert _rounds_to(res.metrics.fluxes["er_leak"]["Ca"].amount_amol,
                      _number("the ER leak 0.049 amol"))


# ---------------------------------------------------------------- Atakpa 2018 --

def _coarse_case(name):
    path = ROOT / "cases" / f"{name}.toml"
    return md.case_from_dict(coarse(tomllib.loads(path.read_text())), str(path))


def test_lysosome_takes_ip3r_calcium_not_soce_coarse():
    ip3r = attributable_uptake(_coarse_case("lys_ip3r_vs_soce"), "ip3r")
    orai = attributable_uptake(_coarse_case("lys_ip3r_vs_soce_soce"), "orai1")
    assert _rounds_to(100 * ip3r.share, _number("coarse variants: 12.7 %"))
    assert _rounds_to(100 * orai.share, _number("coarse variants: 12.7 % and 0.49 %", 1))
    assert ip3r.share > 10 * orai.share
    cells = md.Simulation(md.load_case(ROOT / "cases" / "lys_ip3r_vs_soce.toml")).domain.n_cells
    _doc(f"(`box`, 2D, {cells:,} cells, per µm of depth)".replace(f"{cells:,}",
                                                                  f"{cells:,}".replace(",", " ")))


CASES_MD_LINES = [" ".join(l.split()) for l in (ROOT / "docs" / "cases.md").read_text().splitlines()]


def _full_rows(name, uptake):
    """The four rows of a section's table: each source, with and without thapsigargin."""
    ip3_case = md.load_case(ROOT / "cases" / f"{name}.toml")
    soce_case = md.load_case(ROOT / "cases" / f"{name}_soce.toml")
    return {"ip3r": uptake(ip3_case, "ip3r"),
            "ip3r_tg": uptake(thapsigargin(ip3_case), "ip3r"),
            "orai1": uptake(soce_case, "orai1"),
            "orai1_tg": uptake(thapsigargin(soce_case), "orai1")}


@pytest.fixture(scope="module")
def lysosome_rows():
    return _full_rows("lys_ip3r_vs_soce", attributable_uptake)


@pytest.mark.slow
def test_lysosome_takes_ip3r_calcium_not_soce_full(lysosome_rows):
    rows = lysosome_rows
    assert _rounds_to(rows["ip3r"].source_amol, _number("| IP3Rs, 10 ms | 0.0133 amol", 1))
    assert _rounds_to(rows["ip3r"].attributable_amol, _number("| IP3Rs, 10 ms | 0.0133 amol | "
                                                              "0.00168 amol", 2))
    assert _rounds_to(100 * rows["ip3r"].share, _number("| IP3Rs, 10 ms | 0.0133 amol | "
                                                        "0.00168 amol | **12.6 %**", 3))
    assert _rounds_to(100 * rows["ip3r_tg"].share, _number("| IP3Rs, thapsigargin | 0.0130 amol "
                                                           "| 0.00167 amol | 12.9 %", 2))
    assert _rounds_to(rows["orai1"].source_amol, _number("| Orai1, 100 ms | 0.0039 amol", 1))
    assert _rounds_to(rows["orai1"].attributable_amol, _number("| Orai1, 100 ms | 0.0039 amol | "
                                                               "2.0e-5 amol", 2))
    assert _rounds_to(100 * rows["orai1"].share, _number("| Orai1, 100 ms | 0.0039 amol | "
                                                         "2.0e-5 amol | **0.51 %**", 3))
    assert _rounds_to(rows["orai1_tg"].source_amol, _number("| Orai1, thapsigargin | 0.0165 amol"))
    assert _rounds_to(100 * rows["orai1_tg"].share, _number("| Orai1, thapsigargin | 0.0165 amol "
                                                            "| 0.00065 amol | 4.0 %", 2))
    assert _rounds_to(rows["ip3r_tg"].source_amol, _number("| IP3Rs, thapsigargin | 0.0130 amol"))
    assert _rounds_to(rows["ip3r_tg"].attributable_amol,
                      _number("| IP3Rs, thapsigargin | 0.0130 amol | 0.00167 amol", 1))
    assert _rounds_to(rows["orai1_tg"].attributable_amol,
                      _number("| Orai1, thapsigargin | 0.0165 amol | 0.00065 amol", 1))
    # the reading's ratios: "a 25-fold smaller share", "four times more", "eightfold", "a third"
    _doc("Yes, as a 25-fold smaller share")
    assert round(rows["ip3r"].share / rows["orai1"].share) == 25
    _doc("blocking SERCA lets in four times more and the lysosome's share rises eightfold")
    assert round(rows["orai1_tg"].source_amol / rows["orai1"].source_amol) == 4
    assert round(rows["orai1_tg"].share / rows["orai1"].share) == 8
    _doc("even then the share is a third of the IP3R one")
    assert round(rows["ip3r"].share / rows["orai1_tg"].share) == 3


@pytest.mark.slow
def test_soce_excess_on_the_mam_is_the_er_leak():
    """docs/cases.md: with the leak removed the SOCE twin's hot spot / bulk ratio is below 1."""
    _doc("with the leak removed the ratio is below 1, asserted by the slow test")
    case = md.load_case(ROOT / "cases" / "mam_omm_bulk_soce.toml").replace(
        {"fluxes.er_leak.params.permeability": "0 um/s"})
    sim = md.Simulation(case)
    assert hot_spots(sim, sim.run()).peak_ratio < 1


# ------------------------------------------- the same with a mitochondrion (Atakpa 2018) --

MITO = "## mito_ip3r_vs_soce"


def _mito_uptake(case, source):
    return organelle_uptake.attributable_uptake(case, source, MITOCHONDRION)


def _nclx_bound(u):
    """What the solver's rtol (the cases', 1e-2) allows on a difference of the two runs' net
    uptakes: rtol times the NCLX efflux of the control run, which dominates the net where the
    source adds little."""
    efflux = u.control_gross_amol - u.control_amol
    return 1e-2 * efflux


def _percent(u, gross=False):
    return 100 * (u.attributable_gross_amol if gross else u.attributable_amol) / u.source_amol


def test_mitochondrion_takes_little_ip3r_calcium_and_no_soce_coarse():
    ip3r = _mito_uptake(_coarse_case("mito_ip3r_vs_soce"), "ip3r")
    orai = _mito_uptake(_coarse_case("mito_ip3r_vs_soce_soce"), "orai1")
    assert _rounds_to(100 * ip3r.share, _number("coarse variants: 0.042 % of the IP3R release"))
    assert _rounds_to(_percent(orai, gross=True), _number("through MCU alone 2.6e-7 %"))
    _doc("zero to within what the solver's tolerance allows")
    assert abs(orai.attributable_amol) < _nclx_bound(orai)
    assert ip3r.attributable_amol > 100 * _nclx_bound(ip3r)    # the IP3R share is resolved
    cells = md.Simulation(md.load_case(ROOT / "cases" / "mito_ip3r_vs_soce.toml")).domain.n_cells
    _doc(f"(`box`, 2D, {cells:,} cells, per µm of depth".replace(f"{cells:,}",
                                                                 f"{cells:,}".replace(",", " ")))


def _mcu_and_lysosome_rates():
    """The MCU's flux per µM of IMS Ca2+ at full activation (µm/ms) from its preset, and the
    lysosomal pump's Vmax and K (µM·µm/ms, µM) from the lysosome case."""
    from microdomain.units import current_to_molar_flow

    preset = tomllib.loads((ROOT / "microdomain" / "parameters" / "fluxes.toml").read_text())
    mcu = preset["mcu"]["kirichok2004"]["params"]
    density = to_internal(mcu["density"]["value"], "area_density")
    current = to_internal(mcu["unitary_current"]["value"], "current")
    at = to_internal(mcu["at"]["value"], "concentration")
    rate = density * current_to_molar_flow(current, 2) / at
    K, n = to_internal(mcu["K"]["value"], "concentration"), mcu["n"]["value"]
    lys = tomllib.loads((ROOT / "cases" / "lys_ip3r_vs_soce.toml").read_text())
    (pump,) = [f for f in lys["fluxes"] if f["label"] == "lysosomal_uptake"]
    vmax = to_internal(pump["params"]["vmax"], "flux_density")
    Kl = to_internal(pump["params"]["K"], "concentration")
    return rate, K, n, vmax, Kl


def test_mcu_against_the_lysosomal_pump_arithmetic():
    """The section's reading: MCU activation and the two fluxes per area at the two [Ca2+]s the
    full runs give (those [Ca2+]s are asserted by the slow test)."""
    rate, K, n, vmax, Kl = _mcu_and_lysosome_rates()
    assert _rounds_to(1000 * rate, _number("is at most 0.49 µm/s (fully active)"))
    assert _rounds_to(1000 * vmax / Kl, _number("against the lysosomal pump's 100 µm/s below its K"))
    cleft = float(_number("the cleft facing the IP3Rs peaks at 34 µM"))
    side = float(_number("the OMM beside the punctum reaches 0.36 µM"))
    act = lambda c: c**n / (K**n + c**n)
    assert _rounds_to(100 * act(cleft), _number("MCU is 84 % active at 34 µM"))
    assert _rounds_to(100 * act(side), _number("0.058 % at 0.36 µM"))
    mcu_flux = lambda c: rate * c * act(c)
    pump_flux = lambda c: vmax * c / (Kl + c)
    assert _rounds_to(pump_flux(cleft) / mcu_flux(cleft), _number("carries 31 times less"))
    assert _rounds_to(pump_flux(side) / mcu_flux(side), _number("and 3.3e5 times less at 0.36"))


@pytest.fixture(scope="module")
def mito_rows():
    return _full_rows("mito_ip3r_vs_soce", _mito_uptake)


MITO_HEADING = ("## mito_ip3r_vs_soce — a mitochondrion in the lysosome's place: does SOCE Ca²⁺ "
                "reach it?")
NUMBER = re.compile(r"(?<![\w.])[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?")


def _section_rows(name):
    """The numbers of the mito_ip3r_vs_soce section's two table rows for source `name`, after
    the name: its shares, then its amounts."""
    lines = CASES_MD_LINES[CASES_MD_LINES.index(MITO_HEADING):]
    lines = lines[:next(i for i, l in enumerate(lines[1:], 1) if l.startswith("## "))]
    first = f"| {name} | "
    return [NUMBER.findall(l[len(first):]) for l in lines if l.startswith(first)]


@pytest.mark.slow
def test_mitochondrion_takes_little_ip3r_calcium_and_no_soce_full(mito_rows, lysosome_rows):
    names = {"ip3r": "IP3Rs, 10 ms", "ip3r_tg": "IP3Rs, thapsigargin", "orai1": "Orai1, 100 ms",
             "orai1_tg": "Orai1, thapsigargin"}
    for key, name in names.items():
        mito, lys = mito_rows[key], lysosome_rows[key]
        shares, amounts = _section_rows(name)
        # the shares side by side: lysosome | MCU − NCLX | MCU alone
        assert _rounds_to(100 * lys.share, shares[0]), key
        assert _rounds_to(100 * mito.share, shares[1]), key
        assert _rounds_to(_percent(mito, gross=True), shares[-1]), key
        # the amounts: let in | attributable | through MCU alone
        assert [_rounds_to(v, t) for v, t in zip(
            (mito.source_amol, mito.attributable_amol, mito.attributable_gross_amol), amounts)] \
            == [True] * 3, (key, amounts)
    orai = mito_rows["orai1"]
    _doc("not resolved, zero within the tolerance")
    assert abs(orai.attributable_amol) < _nclx_bound(orai)
    _doc("for SOCE the net is not, with or without thapsigargin (both rows are below that bound)")
    assert abs(mito_rows["orai1_tg"].attributable_amol) < _nclx_bound(mito_rows["orai1_tg"])
    efflux = orai.control_gross_amol - orai.control_amol
    assert _rounds_to(efflux, _number("NCLX efflux of the control (1.75e-6 amol in 100 ms)"))
    ratio = _percent(mito_rows["ip3r"], gross=True) / _percent(orai, gross=True)
    _doc("through MCU alone the two shares are five orders of magnitude apart")
    assert 1e5 <= ratio < 1e6
    _doc("against a factor 25 for the lysosome")
    assert round(lysosome_rows["ip3r"].share / lysosome_rows["orai1"].share) == 25


@pytest.mark.slow
def test_the_soce_net_share_is_solver_error_and_mcu_alone_is_not():
    case = md.load_case(ROOT / "cases" / "mito_ip3r_vs_soce_soce.toml")
    coarse_tol = _mito_uptake(case, "orai1")
    fine_tol = _mito_uptake(case.replace({"time.rtol": 1e-3}), "orai1")
    assert _rounds_to(100 * fine_tol.share, _number("at rtol 1e-3 the net share is −5.3e-6 %", 1))
    text = "while MCU alone stays at 1.1e-11 amol"
    assert _rounds_to(coarse_tol.attributable_gross_amol, _number(text))
    assert _rounds_to(fine_tol.attributable_gross_amol, _number(text))
    assert abs(fine_tol.attributable_amol) < abs(coarse_tol.attributable_amol) / 5


@pytest.mark.slow
def test_what_the_mitochondrion_sees_of_each_source():
    def peak(name, probe, tg=False):
        case = md.load_case(ROOT / "cases" / f"{name}.toml")
        res = md.Simulation(thapsigargin(case) if tg else case).run()
        p = res.probes
        return p[(p["probe"] == probe) & (p["field"] == "Ca")]["value"].max()

    assert _rounds_to(peak("mito_ip3r_vs_soce", "contact_cleft"),
                      _number("the cleft facing the IP3Rs peaks at 34 µM"))
    _doc("never rises above its resting 0.1 µM in the 100 ms")
    assert peak("mito_ip3r_vs_soce_soce", "omm_by_punctum") <= 0.1 * (1 + 1e-6)
    assert _rounds_to(peak("mito_ip3r_vs_soce_soce", "omm_by_punctum", tg=True),
                      _number("the OMM beside the punctum reaches 0.36 µM"))


def test_organelle_uptake_names_a_missing_flux_and_its_file(capsys):
    """Labels are checked before any run: a wrong one is a CaseError naming the case file."""
    from microdomain.errors import CaseError

    path = ROOT / "cases" / "mito_ip3r_vs_soce.toml"
    case = md.load_case(path)
    with pytest.raises(CaseError) as wrong:
        attributable_uptake(case, "ip3r")        # the lysosome's labels on the mitochondrion
    assert [str(p).split("cases/")[-1].split(";")[0] for p in wrong.value.problems] == [
        "mito_ip3r_vs_soce.toml: fluxes: no flux labelled 'lysosomal_uptake' (the lysosome's uptake)",
        "mito_ip3r_vs_soce.toml: fluxes: no flux labelled 'lysosomal_leak' (the lysosome's efflux)"]
    argv = ["--uptake", "mcu", "--efflux", "nclx,ncx", str(path), "ip3r"]
    assert organelle_uptake.main(argv) == 1
    assert "no flux labelled 'ncx' (the organelle's efflux)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as odd:
        organelle_uptake.main(["--uptake", "mcu", "--efflux", "nclx", str(path)])
    assert odd.value.code == 2


def test_organelle_uptake_says_which_run_did_not_finish(monkeypatch):
    """A run that ends early is an error naming the case, not a share computed from it."""
    from types import SimpleNamespace

    from microdomain.errors import MicrodomainError

    class Unfinished:
        def __init__(self, case):
            pass

        def run(self):
            return SimpleNamespace(status=SimpleNamespace(finished=False), metrics=None,
                                   manifest=SimpleNamespace(message="dt below its minimum"))

    monkeypatch.setattr(md, "Simulation", Unfinished)
    case = md.load_case(ROOT / "cases" / "mito_ip3r_vs_soce.toml")
    with pytest.raises(MicrodomainError, match=r"mito_ip3r_vs_soce\.toml: the run of "
                                               r"mito_ip3r_vs_soce did not finish .*dt below"):
        organelle_uptake.attributable_uptake(case, "ip3r", MITOCHONDRION)
