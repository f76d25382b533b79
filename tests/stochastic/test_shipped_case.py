"""cases/mam_stochastic_ip3r.toml, coarse variant (the default CI's, tests/cases/
test_cases_run_to_end.py): the numbers docs/stochastic.md, docs/cases.md and
docs/run-directory.md give for it (seed 10, one machine: see docs/stochastic.md)."""

import re
import tomllib
from pathlib import Path

import numpy as np
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


def test_the_documented_per_event_numbers(run):
    """docs/cases.md, mam_stochastic_ip3r: each event's release, OMM peak and matrix uptake."""
    ev = run.cluster_events
    assert list(ev["amplitude_channels"]) == [1, 2, 2]
    assert list(ev["open_at_start"]) == [True, False, False]
    assert list(ev["open_at_end"]) == [False, False, True]
    np.testing.assert_allclose(ev["released_amol"], [1.82e-4, 5.06e-3, 2.30e-3], rtol=5e-3)
    np.testing.assert_allclose(ev["peak_omm_mam_patch_uM"], [15.2, 37.1, 35.2], atol=0.05)
    np.testing.assert_allclose(ev["transfer_mcu_amol"], [1.17e-8, 7.65e-7, 3.78e-7], rtol=5e-3)
    np.testing.assert_allclose(ev["peak_current_pA"], [0.146, 0.227, 0.194], atol=5e-4)
    # the events partition the run: releases and uptake add up to its totals (first event at 0)
    m = run.metrics
    assert ev["released_amol"].sum() == pytest.approx(m.fluxes["ip3r"]["Ca"].amount_amol, rel=1e-12)
    assert ev["transfer_mcu_amol"].sum() == pytest.approx(m.fluxes["mcu"]["Ca"].amount_amol, rel=1e-12)
