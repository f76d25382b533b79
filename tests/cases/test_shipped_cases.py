"""Every shipped case validates and cites only references that resolve in docs/references.bib
(test_cases_run_to_end.py runs them)."""

import re
import tomllib
from pathlib import Path

import pytest

from microdomain.case import load_case
from microdomain.fluxes import registry
from microdomain.parameters import buffer_presets
from microdomain.run import citations

ROOT = Path(__file__).resolve().parents[2]
ALL = sorted((ROOT / "cases").glob("*.toml"))
SWEEPS = [p for p in ALL if "sweep" in tomllib.loads(p.read_text())]
CASES = [p for p in ALL if p not in SWEEPS]
BIB_KEYS = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "docs" / "references.bib").read_text()))


def test_there_are_shipped_cases():
    names = {p.name for p in CASES}
    assert {"nanodomain_egta.toml", "nanodomain_bapta.toml", "mam_transfer.toml", "er_lysosome.toml",
            "soce_punctum.toml", "zn_ca_crosstalk.toml", "ros_zn_release.toml"} <= names
    assert {p.name for p in SWEEPS} == {"mam_gap_sweep.toml", "mam_gap_sweep_exclusion.toml"}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_cases_all_validate(path):
    from microdomain.sweeps import sweep_cases
    spec, cases = sweep_cases(path)
    assert len(cases) == len(spec.values) >= 2
    assert len({c.sha256 for _, _, c in cases}) == len(cases)     # each value makes a different case


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_citations_resolve(path):
    missing = set(citations(load_case(path))) - BIB_KEYS
    assert not missing, f"{path.name} cites {missing}, not in docs/references.bib"


def test_buffer_presets_and_flux_models_cite_resolvable_references():
    keys = {k for p in buffer_presets().values() for k in p["references"]}
    keys |= {k for name in registry.names() for k in registry.get(name).references}
    assert keys - BIB_KEYS == set()
