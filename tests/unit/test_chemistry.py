"""Binding kinetics: equilibria, conservation and the Jacobian the Newton solver relies on."""

import numpy as np
import pytest

from microdomain.assembly import build_chemistry, _initial_state
from microdomain.case import case_from_dict
from microdomain.mesh import build_domain

from tests.helpers import small_case


def competition_case():
    raw = small_case(species=[
        {"ion": "Ca", "D": "220 um**2/s", "initial": {"cytosol": "0.1 uM", "er": "500 uM"}},
        {"ion": "Zn", "D": "200 um**2/s", "initial": "0.4 nM"},
    ])
    raw["buffers"] = [
        {"name": "dye", "in": "cytosol", "total": "50 uM", "D": "90 um**2/s",
         "sites": [{"binds": [{"ion": "Ca", "kon": "500 /uM/s", "koff": "172.5 /s"},
                              {"ion": "Zn", "kon": "500 /uM/s", "koff": "2.5 /s"}]}]},
        {"name": "calbindin", "in": ["cytosol", "er"], "total": "40 uM", "preset": "calbindin_D28k"},
    ]
    case = case_from_dict(raw)
    domain = build_domain(case.builder.build(case.geometry))
    chem = build_chemistry(case, domain)
    return case, domain, chem


def test_initial_state_is_at_equilibrium_and_matches_competitive_binding_formula():
    case, domain, chem = competition_case()
    U = _initial_state(case, domain, chem)
    assert np.abs(chem.rates(U)).max() < 1e-9
    cyto = domain.compartment_mask("cytosol")
    ca, zn = 0.1, 4e-4
    kd_ca, kd_zn = 0.1725 / 0.5, 0.0025 / 0.5
    denom = 1 + ca / kd_ca + zn / kd_zn
    assert U[chem.index("dye.Ca"), cyto] == pytest.approx(50 * (ca / kd_ca) / denom)
    assert U[chem.index("dye.Zn"), cyto] == pytest.approx(50 * (zn / kd_zn) / denom)
    assert np.all(U[chem.index("dye.Ca"), ~cyto] == 0)     # dye only in cytosol


def test_multi_site_preset_has_one_state_per_site_and_counts_sites():
    case, domain, chem = competition_case()
    names = [u.name for u in chem.unknowns]
    assert "calbindin.s1.Ca" in names and "calbindin.s2.Ca" in names
    group = [g for g in chem.groups if g.buffer == "calbindin"][0]
    assert group.site_total.max() == pytest.approx(2 * 40.0)   # two T sites per molecule


def test_rates_conserve_each_ion_and_jacobian_matches_finite_differences():
    case, domain, chem = competition_case()
    rng = np.random.default_rng(1)
    U = _initial_state(case, domain, chem) * rng.uniform(0.5, 1.5, size=(len(chem.unknowns), domain.n_cells))
    R = chem.rates(U)
    for ion in chem.ions:
        assert np.abs(R[chem.carriers(ion)].sum(axis=0)).max() < 1e-12 * np.abs(R).max()
    pairs = chem.jacobian_pairs()
    J = chem.jacobian(U, pairs)
    for i, (row, col) in enumerate(pairs):
        h = 1e-6 * max(np.abs(U[col]).max(), 1e-6)
        Up = U.copy()
        Up[col] += h
        Um = U.copy()
        Um[col] -= h
        fd = (chem.rates(Up)[row] - chem.rates(Um)[row]) / (2 * h)
        assert np.allclose(J[i], fd, rtol=1e-5, atol=1e-9 * np.abs(fd).max() + 1e-14), (row, col)
    # every nonzero derivative is in the pattern
    listed = set(pairs)
    for col in range(len(chem.unknowns)):
        Up = U.copy()
        Up[col] *= 1.001
        changed = np.flatnonzero(np.abs(chem.rates(Up) - R).max(axis=1) > 0)
        assert all((row, col) in listed for row in changed)


def test_buffer_starting_free_is_unbound():
    raw = small_case()
    raw["buffers"][0]["initial"] = "free"
    case = case_from_dict(raw)
    domain = build_domain(case.builder.build(case.geometry))
    chem = build_chemistry(case, domain)
    U = _initial_state(case, domain, chem)
    assert np.all(U[chem.index("B.Ca")] == 0)
