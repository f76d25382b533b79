"""cases/mam_stochastic_ip3r.toml, coarse variant (the default CI's, tests/cases/
test_cases_run_to_end.py): the numbers docs/stochastic.md, docs/cases.md and
docs/run-directory.md give for it (seed 10, one machine: see docs/stochastic.md)."""

import re
import tomllib
from pathlib import Path

import pytest

import microdomain as md

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "cases" / "mam_stochastic_ip3r.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "cases"))
    from test_cases_run_to_end import coarse

    raw = coarse(tomllib.loads(CASE.read_text()))
    assert raw["geometry"]["resolution"] == 2.0
    case = md.case_from_dict(raw, str(CASE))
    return md.Simulation(case).run(out=tmp_path_factory.mktemp("mam_stochastic") / "run")


def test_the_documented_numbers(run):
    m = run.metrics
    ch = m.channels["ip3r"]
    assert (ch.seed, ch.channels, ch.openings, len(ch.events)) == (10, 5, 6, 3)
    assert max(e.amplitude_channels for e in ch.events) == ch.max_amplitude_channels == 2
    assert ch.n_events == 3
    assert run.channel_events.iloc[0][["channel", "open_ms"]].tolist() == [0, 0.0]
    assert m.surfaces["omm_mam_patch"]["Ca"].peak_uM == pytest.approx(37.1, abs=0.05)
    assert m.fluxes["ip3r"]["Ca"].amount_amol == pytest.approx(0.00753, abs=5e-6)
    assert m.fluxes["mcu"]["Ca"].amount_amol == pytest.approx(1.15e-6, abs=5e-9)
    assert ch.max_hazard_mismatch <= 1e-3
    assert abs(m.mass_balance["Ca"].relative_error) < 1e-9


def test_run_directory_md_example_is_the_run_s_first_lines(run):
    text = (ROOT / "docs" / "run-directory.md").read_text()
    block = re.search(r"```\n(flux,channel,open_ms,close_ms\n.*?)```", text, re.S).group(1)
    lines = block.strip().splitlines()
    assert (run.path / "channel_events.csv").read_text().splitlines()[: len(lines)] == lines
