"""The numbers README.md's 'Shipped cases' table gives for the biology cases, asserted in the
default suite at the precision the text states (a number written "5.8 %" must round to 5.8 %).

These three cases run in full (their own meshes and times) in ~5 s each, so the README's claims
need no coarse stand-in; docs/cases.md's longer tables are asserted, tighter, by the slow tests
(tests/cases/test_biology_cases.py). The nanodomain rows are held by
tests/convergence/test_shipped_nanodomains.py. The README text is read here, so a number changed
there without the run agreeing fails.
"""

import re
import tomllib

import numpy as np
import pytest

import microdomain as md
from microdomain.rundir import wide_rows

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()


def _row(case: str) -> str:
    line = next(l for l in README.splitlines() if l.startswith(f"| `cases/{case}.toml`"))
    return line


def _columns(table):
    columns, rows = wide_rows(table, [table.columns[1], "field"])
    data = np.asarray(rows, float)
    return {"time_ms": data[:, 0], **{f"{a}:{b}": data[:, k + 1] for k, (a, b) in enumerate(columns)}}


def _rounds_to(value: float, text: str) -> bool:
    """`value` written with the decimals of `text` reads `text` (−96 -> [-96.5, -95.5])."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return round(value, decimals) == float(text.replace("−", "-"))


def _run(name: str, tmp_path_factory) -> md.Result:
    res = md.Simulation(md.load_case(ROOT / "cases" / f"{name}.toml")).run(
        out=tmp_path_factory.mktemp(name))
    assert res.status == md.Status.COMPLETED, res.manifest.message
    return res


@pytest.fixture(scope="module")
def mam(tmp_path_factory):
    return _run("mam_transfer", tmp_path_factory)


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
    assert _rounds_to(peak, high), peak                              # 55.9 at 0.12 ms
    assert facing.min() > float(floor)
    share = m.fluxes["mcu"]["Ca"].amount_amol / m.fluxes["ip3r"]["Ca"].amount_amol
    assert _rounds_to(100 * share, fraction), share


def test_er_lysosome_uptake_share_of_the_readme(tmp_path_factory):
    share = re.search(r"\(([\d.]+) % of their release taken up\)", _row("er_lysosome")).group(1)
    res = _run("er_lysosome", tmp_path_factory)
    fl = _columns(res.fluxes)
    ip3r_phase = (fl["time_ms"] > 10) & (fl["time_ms"] <= 20)        # IP3Rs open 10–20 ms
    dt = np.diff(fl["time_ms"], prepend=0.0)
    uptake = np.sum((fl["lysosomal_uptake_contact:Ca"] + fl["lysosomal_uptake:Ca"])[ip3r_phase]
                    * dt[ip3r_phase])
    released = res.metrics.fluxes["ip3r"]["Ca"].amount_amol
    assert _rounds_to(100 * uptake / released, share), uptake / released


def test_soce_switch_off_of_the_readme(tmp_path_factory):
    drop, span = re.search(r"\(([−\d]+) % in (\d+) ms\)", _row("soce_punctum")).groups()
    res = _run("soce_punctum", tmp_path_factory)
    assert res.metrics.time_ms == pytest.approx(float(span))
    orai = _columns(res.fluxes)["orai1:Ca"][1:]        # row 0 is t = 0, before any step
    assert _rounds_to(100 * (orai[-1] / orai[0] - 1), drop), orai[-1] / orai[0] - 1


def test_gap_sweep_range_of_the_readme():
    low, high = re.search(r"over gaps (\d+)–(\d+) nm", _row("mam_gap_sweep")).groups()
    spec = tomllib.loads((ROOT / "cases" / "mam_gap_sweep.toml").read_text())["sweep"]
    values = [md.units.to_internal(v, "length") * 1e3 for v in spec["values"]]
    assert (min(values), max(values)) == pytest.approx((float(low), float(high)))
