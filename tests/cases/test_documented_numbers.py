"""The numbers README.md's 'Shipped cases' table and docs/cases.md give for mam_transfer,
er_lysosome and soce_punctum, asserted in the default suite at the precision the text states (a
number written "5.8 %" must round to 5.8 %).

These three cases run in full (their own meshes and times) in ~5 s each, so their documented
numbers need no coarse stand-in. The README's numbers are read from README.md; each docs/cases.md
number is looked up in the text as written (`_doc`), so the text and the run cannot drift apart
unnoticed. The nanodomain rows are held by tests/convergence/test_shipped_nanodomains.py; the
zn_ca_crosstalk and gap-sweep numbers by the slow tests (tests/cases/test_biology_cases.py).
"""

import re
import tomllib

import numpy as np
import pytest

import microdomain as md
from microdomain.rundir import wide_rows
from microdomain.units import to_internal

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()
CASES_MD = " ".join((ROOT / "docs" / "cases.md").read_text().split())


def _doc(snippet: str) -> str:
    """The snippet, checked to be in docs/cases.md as written (whitespace aside)."""
    assert snippet in CASES_MD, f"docs/cases.md no longer says {snippet!r}"
    return snippet


def _number(snippet: str, which: int = 0) -> str:
    """The which-th number of a snippet of docs/cases.md, as written there."""
    # not digits inside a name (IP3R, Ca2): a number starts after neither a letter nor a digit
    return re.findall(r"(?<![\w.])[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?", _doc(snippet))[which]


def _row(case: str) -> str:
    line = next(l for l in README.splitlines() if l.startswith(f"| `cases/{case}.toml`"))
    return line


def _columns(table):
    columns, rows = wide_rows(table, [table.columns[1], "field"])
    data = np.asarray(rows, float)
    return {"time_ms": data[:, 0], **{f"{a}:{b}": data[:, k + 1] for k, (a, b) in enumerate(columns)}}


def _rounds_to(value: float, text: str) -> bool:
    """`value` written with the digits of `text` reads `text` (−96 -> [-96.5, -95.5]; 3.0e-4 ->
    [2.95e-4, 3.05e-4])."""
    text = text.replace("−", "-")
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    scale = 10.0 ** int(exponent or 0)
    return round(value / scale, decimals) == float(mantissa)


def _run(name: str, tmp_path_factory) -> md.Result:
    res = md.Simulation(md.load_case(ROOT / "cases" / f"{name}.toml")).run(
        out=tmp_path_factory.mktemp(name))
    assert res.status == md.Status.COMPLETED, res.manifest.message
    return res


@pytest.fixture(scope="module")
def mam(tmp_path_factory):
    return _run("mam_transfer", tmp_path_factory)


@pytest.fixture(scope="module")
def lys(tmp_path_factory):
    return _run("er_lysosome", tmp_path_factory)


@pytest.fixture(scope="module")
def soce(tmp_path_factory):
    return _run("soce_punctum", tmp_path_factory)


def _at(columns, name, t):
    return columns[name][np.argmin(abs(columns["time_ms"] - t))]


def _phase_amount(fl, name, start, end):
    """Amount (amol) a flux moved in (start, end] ms, from its per-step mean flows."""
    phase = (fl["time_ms"] > start) & (fl["time_ms"] <= end)
    dt = np.diff(fl["time_ms"], prepend=0.0)
    return float(np.sum(fl[name][phase] * dt[phase]))


# ------------------------------------------------------------------------------ README --

def test_mam_transfer_numbers_of_the_readme(mam):
    row = _row("mam_transfer")
    low, high, floor, fraction = re.search(
        r"(\d+)–(\d+) µM on the facing OMM \(Csordás 2010: > (\d+) µM\), ([\d.]+) % of the release "
        r"reaches the matrix", row).groups()
    m = mam.metrics
    p = _columns(mam.probes)
    opening = (p["time_ms"] > 1.0) & (p["time_ms"] <= 10.0)       # IP3R open 0–10 ms
    facing = p["omm_facing_cluster:Ca"][opening]
    peak = m.surfaces["omm_mam_patch"]["Ca"].peak_uM
    assert _rounds_to(facing.min(), low), facing.min()               # 36.2 at the end
    assert _rounds_to(peak, high), peak                              # 55.9 at 0.11 ms
    assert facing.min() > float(floor)
    share = m.fluxes["mcu"]["Ca"].amount_amol / m.fluxes["ip3r"]["Ca"].amount_amol
    assert _rounds_to(100 * share, fraction), share


def test_er_lysosome_uptake_share_of_the_readme(lys):
    share = re.search(r"\(([\d.]+) % of their release taken up\)", _row("er_lysosome")).group(1)
    fl = _columns(lys.fluxes)
    uptake = sum(_phase_amount(fl, f"{n}:Ca", 10, 20)                 # IP3Rs open 10–20 ms
                 for n in ("lysosomal_uptake_contact", "lysosomal_uptake"))
    released = lys.metrics.fluxes["ip3r"]["Ca"].amount_amol
    assert _rounds_to(100 * uptake / released, share), uptake / released


def test_soce_switch_off_of_the_readme(soce):
    drop, span = re.search(r"\(([−\d]+) % in (\d+) ms\)", _row("soce_punctum")).groups()
    assert soce.metrics.time_ms == pytest.approx(float(span))
    orai = _columns(soce.fluxes)["orai1:Ca"][1:]        # row 0 is t = 0, before any step
    assert _rounds_to(100 * (orai[-1] / orai[0] - 1), drop), orai[-1] / orai[0] - 1


def test_gap_sweep_range_of_the_readme():
    low, high = re.search(r"over gaps (\d+)–(\d+) nm", _row("mam_gap_sweep")).groups()
    spec = tomllib.loads((ROOT / "cases" / "mam_gap_sweep.toml").read_text())["sweep"]
    values = [to_internal(v, "length") * 1e3 for v in spec["values"]]
    assert (min(values), max(values)) == pytest.approx((float(low), float(high)))


# ------------------------------------------------------------------------ docs/cases.md --

def _mesh_size(res: md.Result, text: str) -> None:
    """docs/cases.md's '**Geometry** (`mam_contact`, axisymmetric, 5 410 triangles)': the run's
    cell count, as written there (thousands apart by a space)."""
    cells = f"{res.manifest.mesh.cells:,}".replace(",", " ")
    _doc(text.format(cells=cells))


def test_mam_transfer_table_of_docs_cases(mam):
    m, p = mam.metrics, _columns(mam.probes)
    _mesh_size(mam, "(`mam_contact`, axisymmetric, {cells} triangles)")
    patch = m.surfaces["omm_mam_patch"]["Ca"]
    assert _rounds_to(patch.peak_uM, _number("**55.9 µM** at 0.11 ms"))
    assert _rounds_to(patch.peak_time_ms, _number("**55.9 µM** at 0.11 ms", 1))
    assert _rounds_to(_at(p, "omm_facing_cluster:Ca", 10.0),
                      _number("36.2 µM at the end of the opening"))
    er = p["er_under_cluster:Ca"]
    assert _rounds_to(er[0], _number("500 → 217 µM during the opening"))
    assert _rounds_to(er.min(), _number("500 → 217 µM during the opening", 1))
    # "refills in ~5 ms": within 2 % of its start 5 ms after the opening ends
    assert _doc("refills in ~5 ms") and _at(p, "er_under_cluster:Ca", 15.0) > 0.98 * er[0]
    released = m.fluxes["ip3r"]["Ca"].amount_amol
    assert _rounds_to(released, _number("Ca²⁺ released by the cluster | 0.0212 amol"))
    assert _rounds_to(m.fluxes["mcu"]["Ca"].amount_amol, _number("6.4e-6 amol / 2.9e-7 amol"))
    assert _rounds_to(m.fluxes["nclx"]["Ca"].amount_amol, _number("6.4e-6 amol / 2.9e-7 amol", 1))
    share = m.fluxes["mcu"]["Ca"].amount_amol / released
    assert _rounds_to(share, _number("**3.0e-4** (0.03 %)"))
    matrix = m.compartments["matrix"]["Ca"]
    text = "0.10 → 0.17 µM (mean), peak 0.19 µM"
    assert _rounds_to(p["matrix:Ca"][0], _number(text))
    assert _rounds_to(matrix.mean_uM, _number(text, 1))
    assert _rounds_to(matrix.peak_uM, _number(text, 2))
    assert _rounds_to(m.compartments["cytosol"]["Ca"].mean_uM, _number("[Ca²⁺] (0.10 µM)"))
    assert abs(m.mass_balance["Ca"].relative_error) < 5e-14       # "mass balance 2e-14"
    assert _doc("(run above, mass balance 2e-14)")


def test_er_lysosome_table_of_docs_cases(lys):
    p, fl = _columns(lys.probes), _columns(lys.fluxes)
    _mesh_size(lys, "(`er_lysosome`, axisymmetric, {cells} triangles)")
    uptake = lambda a, b: sum(_phase_amount(fl, f"{n}:Ca", a, b)  # noqa: E731
                              for n in ("lysosomal_uptake_contact", "lysosomal_uptake"))
    row1 = "| 0–10 ms, TPC2 | 0.0106 amol | 0.00078 amol | 400 → 249.1 µM |"
    assert _rounds_to(_phase_amount(fl, "tpc2:Ca", 0, 10), _number(row1, 2))
    assert _rounds_to(uptake(0, 10), _number(row1, 3))
    assert _rounds_to(_at(p, "lysosome_centre:Ca", 0.0), _number(row1, 4))
    assert _rounds_to(_at(p, "lysosome_centre:Ca", 10.0), _number(row1, 5))
    row2 = "| 10–20 ms, IP3R | 0.0168 amol | 0.00098 amol (**5.8 %** of the IP3R release) | 249.1 → 261.4 µM |"
    ip3r = _phase_amount(fl, "ip3r:Ca", 10, 20)
    assert _rounds_to(ip3r, _number(row2, 2))
    assert _rounds_to(uptake(10, 20), _number(row2, 3))
    assert _rounds_to(100 * uptake(10, 20) / ip3r, _number(row2, 4))
    assert _rounds_to(_at(p, "lysosome_centre:Ca", 20.0), _number(row2, 6))
    row3 = "| 20–30 ms | — | 0.00008 amol | 263 µM |"
    assert _rounds_to(uptake(20, 30), _number(row3, 2))
    assert _rounds_to(_at(p, "lysosome_centre:Ca", 30.0), _number(row3, 3))
    text = "Cleft [Ca²⁺] peaks at 76 µM (10.1 ms)"
    cleft = p["cleft_centre:Ca"]
    assert _rounds_to(cleft.max(), _number(text))
    assert _rounds_to(p["time_ms"][np.argmax(cleft)], _number(text, 1))


def test_soce_table_of_docs_cases(soce):
    m, p, fl = soce.metrics, _columns(soce.probes), _columns(soce.fluxes)
    _mesh_size(soce, "(`pm_punctum`, axisymmetric, {cells} triangles)")
    text = "1.5e-4 amol/ms at the start → 6.7e-6 at 100 ms (**−96 %**)"
    orai = fl["orai1:Ca"][1:]
    assert _rounds_to(orai[0], _number(text))
    assert _rounds_to(orai[-1], _number(text, 1))
    assert _rounds_to(100 * (orai[-1] / orai[0] - 1), _number(text, 3))
    text = "ER mean [Ca²⁺] | 100 → 410 µM in 100 ms"
    assert _rounds_to(p["er_lumen:Ca"][0], _number(text))          # t = 0: the initial value
    assert _rounds_to(m.compartments["er"]["Ca"].mean_uM, _number(text, 1))
    text = "96 % (0.00290 of 0.00301 amol)"
    into_er, entry = m.fluxes["serca_punctum"]["Ca"].amount_amol, m.fluxes["orai1"]["Ca"].amount_amol
    assert _rounds_to(into_er, _number(text, 1)) and _rounds_to(entry, _number(text, 2))
    assert _rounds_to(100 * into_er / entry, _number(text))
    assert _rounds_to(p["cleft_centre:Ca"].max(), _number("peak 0.51 µM, then below rest"))


def test_stim1_activation_at_a_full_store_of_docs_cases():
    # docs/cases.md: activation Kⁿ/(Kⁿ + [Ca²⁺]ERⁿ) with the orai1 preset's K and n
    text = "STIM1 activation at a full store (500 µM) is 1.8 %, not zero, with K 185 µM and n 4."
    preset = tomllib.loads((ROOT / "microdomain" / "parameters" / "fluxes.toml").read_text())
    params = preset["soce"]["orai1"]["params"]
    K, n = to_internal(params["K"]["value"], "concentration"), params["n"]["value"]
    assert (_rounds_to(K, _number(text, 2)), n) == (True, int(_number(text, 3)))
    store = float(_number(text))
    assert _rounds_to(100 * K**n / (K**n + store**n), _number(text, 1))


@pytest.mark.parametrize("name,buffer", [("nanodomain_egta", "EGTA"), ("nanodomain_bapta", "BAPTA")])
def test_nanodomain_channel_and_buffer_of_the_readme(name, buffer):
    # README: "one 0.2 pA Ca²⁺ channel, 1 mM EGTA"; the table: "same with BAPTA"
    current, total = re.search(r"one ([\d.]+) pA Ca²⁺ channel, ([\d.]+) mM EGTA", README).groups()
    raw = tomllib.loads((ROOT / "cases" / f"{name}.toml").read_text())
    (flux,) = raw["fluxes"]
    (buf,) = raw["buffers"]
    assert (flux["model"], flux["params"]["channels"], buf["name"]) == ("channel_cluster", 1, buffer)
    assert to_internal(flux["params"]["unitary_current"], "current") == \
        pytest.approx(to_internal(f"{current} pA", "current"))
    assert to_internal(buf["total"], "concentration") == pytest.approx(float(total) * 1e3)


def test_zn_ca_crosstalk_table_of_docs_cases(tmp_path_factory):
    # ~4 CPU s; the variant without ZIP7 (0.40 -> 0.72 nM) is left to the slow test
    res = _run("zn_ca_crosstalk", tmp_path_factory)
    p, m = _columns(res.probes), res.metrics
    _mesh_size(res, "(`axisymmetric`, {cells} cells)")
    rows = {0.0: "| 0 (rest) | 0.10 µM | 0.40 nM | 4.23 µM | 1.17 µM | 22 % |",
            10.0: "| 10 ms (end of IP3R release) | 43.4 µM | 27.6 nM | 15.89 µM | 1.19 µM | 7 % |",
            50.0: "| 50 ms | 0.10 µM | 20.6 nM | 4.23 µM | 1.21 µM | 22 % |"}
    for t, row in rows.items():
        # the row's first number is its time
        assert float(_number(row)) == t
        ca, zn_nM, dye_ca, dye_zn, share = (_number(row, 1 + i) for i in range(5))
        v = {f: _at(p, f"r50nm:{f}", t) for f in ("Ca", "Zn", "dye.Ca", "dye.Zn")}
        assert _rounds_to(v["Ca"], ca), (t, v)
        assert _rounds_to(1e3 * v["Zn"], zn_nM), (t, v)
        assert _rounds_to(v["dye.Ca"], dye_ca) and _rounds_to(v["dye.Zn"], dye_zn), (t, v)
        assert _rounds_to(100 * v["dye.Zn"] / (v["dye.Zn"] + v["dye.Ca"]), share), (t, v)
    text = "Released: 0.0340 amol Ca²⁺ (IP3R, 10 ms), 4.7e-4 amol Zn²⁺ (ZIP7, 50 ms)."
    assert _rounds_to(m.fluxes["ip3r"]["Ca"].amount_amol, _number(text))
    assert _rounds_to(m.fluxes["zip7"]["Zn"].amount_amol, _number(text, 2))
    assert _doc("(run above, mass balance 2e-14 for Zn²⁺)")
    assert abs(m.mass_balance["Zn"].relative_error) < 5e-14
