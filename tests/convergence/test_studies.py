"""The verification studies (microdomain/verification/studies.py) as tests: quick sizes by
default, the full refinement behind the `slow` marker. Each order row asserts the observed
least-squares order within its stated tolerance of the expected one; each bound row its bound."""

from __future__ import annotations

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
