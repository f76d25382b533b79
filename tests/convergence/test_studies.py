"""The verification studies (microdomain/verification/studies.py) as tests: quick sizes by
default, the full refinement behind the `slow` marker. Each order row asserts the observed
least-squares order within its stated tolerance of the expected one; each bound row its bound."""

from __future__ import annotations

import numpy as np
import pytest

from microdomain.verification.studies import STUDIES

_cache: dict[tuple[str, bool], object] = {}


def _result(name: str, quick: bool):
    key = (name, quick)
    if key not in _cache:
        _cache[key] = STUDIES[name].run(quick)
    return _cache[key]


def _check(res):
    problems = []
    for row in res.rows:
        assert all(e == e for e in row.errors), f"{res.name}: NaN error in {row.quantity}"
        if row.kind == "order":
            p = row.observed
            if p is None or abs(p - row.expected) > row.tol:
                problems.append(f"{row.quantity} [{row.norm}]: observed order {p} vs expected "
                                f"{row.expected} ± {row.tol} (errors {row.errors})")
        elif row.kind == "bound":
            if not row.errors[-1] <= row.tol:
                problems.append(f"{row.quantity} [{row.norm}]: error {row.errors[-1]:.3g} > {row.tol:.3g}")
    assert not problems, f"{res.name}:\n" + "\n".join(problems)
    assert res.passed


@pytest.mark.parametrize("name", list(STUDIES))
def test_quick_study(name):
    _check(_result(name, quick=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STUDIES))
def test_full_study(name):
    _check(_result(name, quick=False))


def test_every_study_judges_something():
    for name in STUDIES:
        res = _result(name, quick=True)
        assert any(r.kind in ("order", "bound") for r in res.rows), name


def test_space_studies_refine_and_converge():
    """Beyond the fitted slope: on the uniform grids every refinement lowers every error."""
    for name in ("mms_1d", "mms_axisymmetric", "mms_3d", "mms_reactions", "point_source_unbuffered"):
        for row in _result(name, quick=True).rows:
            if row.kind == "order":
                assert all(b < a for a, b in zip(row.errors, row.errors[1:])), (name, row.quantity)


# Observed orders on the 3D contact meshes (issue 15) as docs/verification.md and
# docs/geometry.md quote them: (quantity, norm) → order, two decimals. Quick: resolutions 3, 2
# (pm_punctum 4, 2); full (slow): 3, 2, 1.5, 1 (pm_punctum 4, 3, 2, 1), and the same levels with
# solver.nonorthogonal = "correct".
CONTACT_ORDERS_QUICK = {
    "mms_mam_contact_3d": {("c (free ion)", "L2(V)"): 0.68, ("c (free ion)", "max"): 1.40,
                           ("cb (bound buffer)", "L2(V)"): 0.75, ("cb (bound buffer)", "max"): 2.44},
    "mms_er_lysosome_3d": {("c (free ion)", "L2(V)"): 1.39, ("c (free ion)", "max"): 1.86,
                           ("cb (bound buffer)", "L2(V)"): 1.39, ("cb (bound buffer)", "max"): 1.43},
    "mms_pm_punctum_3d": {("c (free ion)", "L2(V)"): 1.85, ("c (free ion)", "max"): 1.25,
                          ("cb (bound buffer)", "L2(V)"): 1.82, ("cb (bound buffer)", "max"): 1.15},
}
_C = ', nonorthogonal = "correct"'
CONTACT_ORDERS_FULL = {
    "mms_mam_contact_3d": {("c (free ion)", "L2(V)"): 0.97, ("c (free ion)", "max"): 0.51,
                           ("cb (bound buffer)", "L2(V)"): 0.98, ("cb (bound buffer)", "max"): 0.90,
                           ("c (free ion)" + _C, "L2(V)"): 2.23, ("c (free ion)" + _C, "max"): 1.63,
                           ("cb (bound buffer)" + _C, "L2(V)"): 2.20,
                           ("cb (bound buffer)" + _C, "max"): 1.64},
    "mms_er_lysosome_3d": {("c (free ion)", "L2(V)"): 1.09, ("c (free ion)", "max"): 0.60,
                           ("cb (bound buffer)", "L2(V)"): 1.09, ("cb (bound buffer)", "max"): 0.58,
                           ("c (free ion)" + _C, "L2(V)"): 2.29, ("c (free ion)" + _C, "max"): 2.11,
                           ("cb (bound buffer)" + _C, "L2(V)"): 2.25,
                           ("cb (bound buffer)" + _C, "max"): 2.11},
    "mms_pm_punctum_3d": {("c (free ion)", "L2(V)"): 2.38, ("c (free ion)", "max"): 1.97,
                          ("cb (bound buffer)", "L2(V)"): 2.35, ("cb (bound buffer)", "max"): 1.89,
                          ("c (free ion)" + _C, "L2(V)"): 2.38, ("c (free ion)" + _C, "max"): 1.97,
                          ("cb (bound buffer)" + _C, "L2(V)"): 2.35,
                          ("cb (bound buffer)" + _C, "max"): 1.89},
}


def _contact_orders(quick: bool, table: dict):
    for name, expected in table.items():
        rows = {(r.quantity, r.norm): r for r in _result(name, quick).rows if r.kind == "target"}
        assert set(rows) == set(expected), name
        for key, order in expected.items():
            row = rows[key]
            assert round(row.observed, 2) == order, (name, key, row.observed, row.errors)
            # the verdict follows the measured order against the target, never loosened
            assert row.expected == (1.8 if key[1] == "L2(V)" else 1.5)
            assert row.met == (row.observed >= row.expected)


# solver.nonorthogonal = "symmetric" (solver/symmetric_flux.py) at the full levels, as
# docs/geometry.md quotes them: (quantity, norm) → order, two decimals
SYMMETRIC_ORDERS = {
    "mam_contact": {("c", "L2"): 2.02, ("cb", "L2"): 2.06, ("c", "max"): 1.38, ("cb", "max"): 1.26},
    "er_lysosome": {("c", "L2"): 2.22, ("cb", "L2"): 2.25, ("c", "max"): 1.53, ("cb", "max"): 1.62},
}


@pytest.mark.slow
@pytest.mark.parametrize("builder", sorted(SYMMETRIC_ORDERS))
def test_symmetric_scheme_orders_full(builder):
    from microdomain.verification.contact_studies import observed_orders

    got = observed_orders(builder, "symmetric")
    assert {k: round(v, 2) for k, v in got.items() if isinstance(k, tuple)} == SYMMETRIC_ORDERS[builder]
    # the finest level's L2 error of c, as docs/geometry.md quotes it (µM)
    finest = {"mam_contact": "0.00128", "er_lysosome": "0.00137"}[builder]
    assert f'{got["errors"][-1]["L2"][0]:.3g}' == finest
    assert got["cells"] == {"mam_contact": [6675, 14038, 25202, 63076],
                            "er_lysosome": [6536, 13998, 25740, 66145]}[builder]


def test_contact_orders_quick():
    _contact_orders(True, CONTACT_ORDERS_QUICK)


@pytest.mark.slow
def test_contact_orders_full():
    _contact_orders(False, CONTACT_ORDERS_FULL)
    # what docs/verification.md concludes: on the tetrahedral contacts the default two-point
    # flux converges at about first order in L2 and stalls in max; the correction restores ≥ 1.8
    # and ≥ 1.5 there; on the extruded pm_punctum it changes nothing (no skewed face)
    for name in ("mms_mam_contact_3d", "mms_er_lysosome_3d"):
        rows = _result(name, False).rows
        plain = [r for r in rows if r.kind == "target" and "correct" not in r.quantity]
        fixed = [r for r in rows if r.kind == "target" and "correct" in r.quantity]
        assert all(r.met is False for r in plain) and all(r.met for r in fixed), name
    # the mesh-quality figures docs/verification.md quotes from the studies' notes
    import re
    means, maxima, over45, ratios = [], [], [], []
    for name in ("mms_mam_contact_3d", "mms_er_lysosome_3d"):
        res = _result(name, False)
        for m in re.finditer(r"mean ([\d.]+)°, max ([\d.]+)°, (\d+) faces > 45°", " ".join(res.notes)):
            means.append(float(m[1]))
            maxima.append(float(m[2]))
            over45.append(int(m[3]))
        rows = {(r.quantity, r.norm): r.errors[-1] for r in res.rows if r.kind == "target"}
        for q in ("c (free ion)", "cb (bound buffer)"):
            ratios.append((round(rows[(q, "L2(V)")] / rows[(q + _C, "L2(V)")]),
                           rows[(q, "max")] / rows[(q + _C, "max")]))
    assert len(means) == 8 and 17 <= min(means) and max(means) < 24.5
    assert 59.5 <= min(maxima) and max(maxima) < 77 and max(over45) == 1064
    assert all(r2 == 7 and 3.5 <= rmax < 5.5 for r2, rmax in ratios), ratios
    # the cell counts docs/geometry.md lists for resolution 3, 2, 1.5, 1 (pm_punctum 4, 3, 2, 1)
    for name, cells in (("mms_mam_contact_3d", "[6675, 14038, 25202, 63076]"),
                        ("mms_er_lysosome_3d", "[6536, 13998, 25740, 66145]"),
                        ("mms_pm_punctum_3d", "[4488, 5760, 10800, 26928]")):
        assert f"cells {cells}" in " ".join(_result(name, False).notes), name
    pm = _result("mms_pm_punctum_3d", False).rows
    plain = [r.errors for r in pm if r.kind == "target" and "correct" not in r.quantity]
    fixed = [r.errors for r in pm if r.kind == "target" and "correct" in r.quantity]
    # no skewed face: the correction changes nothing but round-off
    assert np.allclose(plain, fixed, rtol=1e-9, atol=0)


# The same manufactured solution on the meshes a case file makes by default (the finer cleft,
# issue 15 item 3), with the default scheme on them ("correct"), resolutions 3, 2, 1.5, 1: as
# docs/geometry.md quotes them. Measured once (2026-12-03).
DEFAULT_SIZING_ORDERS = {
    "mam_contact": {("c", "L2"): 1.99, ("c", "max"): 1.54, ("cb", "L2"): 1.97, ("cb", "max"): 1.52},
    "er_lysosome": {("c", "L2"): 1.97, ("c", "max"): 1.42, ("cb", "L2"): 1.93, ("cb", "max"): 1.46},
}


@pytest.mark.slow
@pytest.mark.parametrize("builder", sorted(DEFAULT_SIZING_ORDERS))
def test_orders_on_the_default_sizing(builder, monkeypatch):
    import microdomain.verification.contact_studies as cs

    monkeypatch.setattr(cs, "studied_sizing", lambda b, v: {})
    got = cs.observed_orders(builder, "correct", [3.0, 2.0, 1.5, 1.0])
    assert {k: round(v, 2) for k, v in got.items() if isinstance(k, tuple)} == DEFAULT_SIZING_ORDERS[builder]
