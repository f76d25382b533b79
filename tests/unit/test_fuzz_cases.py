"""Property: any mutation of a shipped case (wrong units or types, non-finite numbers, unknown
keys, deleted keys, broken references, huge sizes) is either a valid case or refused by
`microdomain validate` with exit code 2, every problem at a named field, and no traceback.

Derandomized (the same examples on every run, so CI is reproducible) and without Hypothesis's
example database; the mesh/system build is stubbed out: it is not input validation, and a
mutated Gmsh case would mesh anew for minutes.
"""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
import tomllib
from pathlib import Path
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microdomain.cli as cli
from microdomain.case import CaseError, load_case
from tests.helpers import ROOT, to_toml

CASES = {p.stem: tomllib.loads(p.read_text("utf-8")) for p in sorted((ROOT / "cases").glob("*.toml"))}
CASES = {k: v for k, v in CASES.items() if "sweep" not in v}


def _paths(doc, where=()):
    """Every key or index below the root, containers included, in a fixed order."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        out.append(where + (k,))
        out += _paths(v, where + (k,))
    return out


def _node(doc, path):
    for p in path:
        doc = doc[p]
    return doc


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
NUMBERS = st.one_of(st.floats(), st.integers(-10**40, 10**40),
                    st.sampled_from([0, 1, -1, 1e30, 1.1e30, 1e-300, 10**15, 10**15 + 1]))
UNITS = st.sampled_from(["um", "nm", "km", "ms", "s", "us", "uM", "mM", "nM", "pA", "um**2/s",
                         "/s", "/uM/s", "um/s", "uM*um/ms", "uM*um**3/ms", "/um**2", "kg", "V",
                         "", "um**10", "um**2**2", "fortnight_x", "(um", "um*2", "1/s"])
QUANTITIES = st.builds(lambda x, u: f"{x} {u}", NUMBERS, UNITS)
NON_FINITE = st.sampled_from([float("inf"), float("-inf"), float("nan"), "inf um", "nan mM",
                              "-inf ms", "1e400 um", "1e999 uM", "Infinity pA", "NaN um**2/s"])
WRONG_TYPES = st.one_of(st.booleans(), st.integers(-5, 5), NUMBERS, TEXT,
                        st.lists(st.one_of(st.integers(), TEXT), max_size=3),
                        st.dictionaries(TEXT, st.one_of(st.integers(), TEXT), max_size=2),
                        st.sampled_from(["yes", "no", "true", "1", ""]))
HUGE = st.one_of(st.text(min_size=201, max_size=600), st.just("1" * 5000 + " um"),
                 st.integers(10**6, 10**50), st.just(["1 um"] * 10),
                 st.integers(4, 12).map(lambda k: f"1e-{k} nm"), st.just("9**9**9**9 um"))
VALUES = st.one_of(QUANTITIES, NON_FINITE, WRONG_TYPES, HUGE)


@st.composite
def mutated_cases(draw):
    name = draw(st.sampled_from(sorted(CASES)))
    doc = copy.deepcopy(CASES[name])
    paths = _paths(doc)
    kind = draw(st.sampled_from(["replace", "replace", "replace", "unknown_key", "delete",
                                 "grid", "reference"]))
    if kind == "replace":
        path = draw(st.sampled_from(paths))
        _node(doc, path[:-1])[path[-1]] = draw(VALUES)
    elif kind == "unknown_key":
        tables = [()] + [p for p in paths if isinstance(_node(doc, p), dict)]
        path = draw(st.sampled_from(tables))
        key = draw(st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=10))
        _node(doc, path)[key + "_x"] = draw(st.one_of(QUANTITIES, WRONG_TYPES))
    elif kind == "delete":
        path = draw(st.sampled_from(paths))
        del _node(doc, path[:-1])[path[-1]]
    elif kind == "grid":
        geometry = doc["geometry"]
        if "cells" in geometry:
            geometry["cells"] = [draw(st.integers(10**4, 10**12)) for _ in geometry["cells"]]
        elif "spacing" in geometry:
            geometry["spacing"]["min"] = f"1e-{draw(st.integers(5, 40))} nm"
        else:       # Gmsh builders: tiny mesh sizes are for their own limits (resolution)
            geometry["size_min"] = draw(st.sampled_from(["1e-40 nm", "0 nm", "-1 nm", "inf nm"]))
    else:           # a reference to something that does not exist
        strings = [p for p in paths if isinstance(_node(doc, p), str)]
        path = draw(st.sampled_from(strings))
        _node(doc, path[:-1])[path[-1]] = draw(TEXT)
    return name, doc


def _stub_model(case):
    # stands in for the Simulation `validate` builds
    return SimpleNamespace(domain=SimpleNamespace(n_cells=0),
                           system=SimpleNamespace(chemistry=SimpleNamespace(unknowns=[])))


@settings(max_examples=500, deadline=2000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_cases())
def test_a_mutated_case_is_valid_or_refused_at_named_fields(example):
    name, doc = example
    saved = cli._check_model
    cli._check_model = _stub_model
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.toml"
            path.write_text(to_toml(doc), "utf-8")
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                status = cli.main(["validate", str(path)])
            assert "Traceback" not in err.getvalue()
            assert status in (0, 2), err.getvalue()
            try:
                load_case(path)
                problems = []
            except CaseError as exc:
                problems = exc.problems
    finally:
        cli._check_model = saved
    assert (status == 2) == bool(problems)
    for p in problems:
        assert p.path, f"no field named: {p}"
        assert p.message and "Traceback" not in p.message
