"""The input limits of docs/case-files.md ("Limits"), each at its boundary, and the guards on
files and grid sizes: every number that section states is asserted here."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest

from microdomain import limits
from microdomain.case import CaseError, case_from_dict, load_case
from microdomain.geometry.structured import Axisymmetric, Box, graded_nodes
from microdomain.units import UnitError, to_internal
from tests.helpers import ROOT, returns_within, small_case, to_toml

DOCS = (ROOT / "docs" / "case-files.md").read_text("utf-8")
LIMITS = DOCS[DOCS.index("## Limits"):]


def problems(raw) -> list[str]:
    with pytest.raises(CaseError) as err:
        case_from_dict(raw, "case.toml")
    return [str(p) for p in err.value.problems]


def one(msgs, *needles):
    hits = [m for m in msgs if all(n in m for n in needles)]
    assert hits, f"no message with {needles} in:\n" + "\n".join(msgs)
    return hits[0]


def written(tmp_path, data: bytes, name="case.toml"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------- the documented numbers --

def test_the_limits_section_states_the_numbers_the_code_enforces():
    def spaced(n: int) -> str:
        return f"{n:,}".replace(",", " ")

    assert limits.MAX_FILE_BYTES == 1_000_000 and f"{spaced(limits.MAX_FILE_BYTES)} bytes" in LIMITS
    assert limits.MAX_DEPTH == 16 and "nested at most 16 deep" in LIMITS
    assert limits.MAX_QUANTITY_CHARS == 200 and "at most 200 characters" in LIMITS
    assert limits.MAX_MAGNITUDE == 1e30 and "at most 1e30 in magnitude" in LIMITS
    assert limits.MAX_INTEGER == 10**15 and "integers at\n  most 1e15" in LIMITS
    assert limits.MAX_NAME_CHARS == 100 and "at most 100 characters" in LIMITS
    assert limits.MAX_CELLS == 20_000_000 and f"{spaced(limits.MAX_CELLS)} cells" in LIMITS
    assert (limits.BYTES_PER_CELL, limits.BYTES_PER_UNKNOWN) == (1_800, 400)
    assert "1.8 kB per cell plus 0.4 kB per unknown" in LIMITS
    assert "from -9 to 9" in LIMITS
    # every number in the section, and where it is asserted: the ones above; 2*110 and 220 and
    # 1e33 and um**2 below; r >= 0 and `1` for a boolean in test_input_checks.py
    numbers = {n.strip() for n in re.findall(r"\d[\d ]*(?:\.\d+)?(?:e\d+)?",
                                             LIMITS.replace("UTF-8", "UTF"))}
    stated = {"1 000 000", "16", "200", "9", "2", "110", "220", "1e30", "1e33", "1e15", "1",
              "100", "20 000 000", "1.8", "0.4", "0"}
    unexpected = numbers - stated
    assert not unexpected, f"numbers in the Limits section without a test here: {unexpected}"


def test_the_documented_examples_behave_as_documented():
    with pytest.raises(UnitError, match="unexpected"):
        to_internal("2*110 um**2/s", "diffusivity")
    assert to_internal("220 um**2/s", "diffusivity") == pytest.approx(0.22)
    with pytest.raises(UnitError, match=r"1e\+33 uM"):
        to_internal("1e30 mM", "concentration")
    assert to_internal("1 um^2/s", "diffusivity") == to_internal("1 um**2/s", "diffusivity")
    assert to_internal("1 um**9/um**9", "dimensionless") == 1.0
    with pytest.raises(UnitError, match="-9 to 9"):
        to_internal("1 um**-10", "length")


# ------------------------------------------------------------------------------------ files --

def _valid_case_bytes() -> bytes:
    return to_toml(small_case()).encode()


def test_a_file_of_1_000_000_bytes_is_read_and_one_byte_more_is_not(tmp_path):
    base = _valid_case_bytes()
    padded = base + b"#" + b"x" * (limits.MAX_FILE_BYTES - len(base) - 2) + b"\n"
    assert len(padded) == limits.MAX_FILE_BYTES
    load_case(written(tmp_path, padded))
    with pytest.raises(CaseError, match="1000001 bytes; case files are limited to 1000000 bytes"):
        load_case(written(tmp_path, padded + b"\n"))


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(CaseError, match="is a directory"):
        load_case(tmp_path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CaseError, match="cannot read the file"):
        load_case(tmp_path / "missing.toml")


def _load_message(path):
    try:
        load_case(path)
    except CaseError as exc:
        return str(exc)
    return "accepted"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_input_is_refused_at_once():
    finished, result = returns_within(5.0, _load_message, "/dev/zero")
    assert finished and "not a regular file" in result


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "case.toml"
    os.mkfifo(fifo)
    finished, result = returns_within(5.0, _load_message, fifo)
    assert finished and "not a regular file" in result


def test_bytes_that_are_not_utf8(tmp_path):
    with pytest.raises(CaseError, match="not UTF-8"):
        load_case(written(tmp_path, b'[case]\nname = "\xff"\n'))


def test_nesting_is_limited_to_16_levels_in_files_and_dicts(tmp_path):
    def nested(depth):                  # the document is level 1, [case] level 2
        value = "x"
        for _ in range(depth - 2):
            value = [value]
        raw = small_case()
        raw["case"]["description"] = value
        return raw

    assert limits.nesting_depth(nested(16)) == 16
    ok = nested(16)
    assert not any("nested" in m for m in _problems_or_none(ok))
    assert "nested 17 deep; the limit is 16" in one(problems(nested(17)), "nested")
    path = written(tmp_path, to_toml(nested(17)).encode())
    with pytest.raises(CaseError, match="nested 17 deep"):
        load_case(path)


def _problems_or_none(raw):
    try:
        case_from_dict(raw, "case.toml")
    except CaseError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_nesting_thousands_deep_is_an_error_not_a_recursion_error(tmp_path):
    data = b'[case]\nname = "deep"\nx = ' + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    finished, result = returns_within(20.0, _load_message, written(tmp_path, data))
    assert finished and "nested more than 16 deep" in result


def test_bare_numbers_must_be_finite_and_within_limits():
    raw = small_case(time={"end": "1 ms", "rtol": float("inf"), "steady_state": float("nan")})
    raw["species"][0]["valence"] = 10**15 + 1
    msgs = problems(raw)
    assert "not a finite number" in one(msgs, "time.rtol")
    assert "not a finite number" in one(msgs, "time.steady_state")
    assert "beyond the limit of ±1e+15" in one(msgs, "species[0].valence")
    raw = small_case(time={"end": "1 ms", "rtol": 1e30})
    raw["species"][0]["valence"] = 10**15
    msgs = _problems_or_none(raw)
    assert not any("limit" in m for m in msgs)          # both at the limit: fine
    raw = small_case(time={"end": "1 ms", "rtol": 1.1e30})
    assert "beyond the limit of ±1e+30" in one(problems(raw), "time.rtol")


def test_a_number_reported_once_not_again_by_its_schema():
    raw = small_case(time={"end": "1 ms", "rtol": float("inf")})
    assert len([m for m in problems(raw) if "time.rtol" in m]) == 1


# -------------------------------------------------------------------------------- grid size --

def test_a_uniform_axis_of_2000_cells_builds():
    """graded_nodes computed 1.5**k for every cell of a uniform axis: overflow past k ~ 1750."""
    raw = small_case()
    raw["geometry"]["cells"] = [2000]
    case = case_from_dict(raw)
    nodes = Box.build(case.geometry).nodes[0]
    assert nodes.size == 2001
    assert np.allclose(np.diff(nodes), 0.0005)
    nodes = graded_nodes(0.0, 1.0, 0.0, 1e-4, 1e-4, 1.5, [])
    assert nodes.size == 10_001


def _box(cells=None, spacing=None, size=("1 um",)):
    raw = small_case()
    raw["geometry"] = {"builder": "box", "size": list(size),
                       "compartments": [{"name": "cytosol"}, {"name": "er"}],
                       "surfaces": [{"name": "er_membrane", "wall": "x+"}, {"name": "left", "wall": "x-"}]}
    if cells:
        raw["geometry"]["cells"] = cells
    else:
        raw["geometry"]["spacing"] = spacing
    return raw


@pytest.fixture
def lots_of_memory(monkeypatch):
    monkeypatch.setattr(limits, "physical_memory", lambda: 10**18)


def test_more_than_20_000_000_cells_need_allow_large(lots_of_memory):
    case_from_dict(_box(cells=[limits.MAX_CELLS]))            # counted, not built
    msg = one(problems(_box(cells=[limits.MAX_CELLS + 1])), "geometry.cells")
    assert "2e+07 cells" in msg and "allow_large = true" in msg
    assert "4e+07 unknowns (2 fields)" in msg                 # Ca and B.Ca
    raw = _box(cells=[limits.MAX_CELLS + 1])
    raw["solver"] = {"allow_large": True}
    case = case_from_dict(raw)
    assert case.solver.allow_large is True


def test_a_grid_above_the_machines_memory_is_refused_even_with_allow_large(monkeypatch):
    monkeypatch.setattr(limits, "physical_memory", lambda: 100_000_000)        # 100 MB
    raw = _box(cells=[100_000])
    raw["solver"] = {"allow_large": True}
    msg = one(problems(raw), "geometry.cells")
    # 1e5 cells × 1.8 kB + 2e5 unknowns × 0.4 kB = 260 MB
    assert "1e+05 cells, 2e+05 unknowns (2 fields)" in msg and "260 MB" in msg
    assert "more than this machine's 100 MB" in msg
    case_from_dict(_box(cells=[10_000]))                      # 26 MB fits


def test_physical_memory_is_read_from_the_os():
    ram = limits.physical_memory()
    assert ram is None or ram > 100_000_000


def test_a_billion_cells_are_refused_without_allocating_them():
    def refuse():
        try:
            case_from_dict(_box(cells=[1000, 1000, 1000], size=("1 um",) * 3))
        except CaseError as exc:
            return str(exc)

    start = time.perf_counter()
    msg = refuse()
    assert time.perf_counter() - start < 1.0
    assert "1e+09 cells" in msg


@pytest.mark.parametrize("spacing", [
    {"min": "1 nm", "max": "50 nm", "growth": 1.05, "focus": ["0 nm"]},
    {"min": "0.5 nm", "max": "0.5 nm", "growth": 1.5, "focus": ["300 nm"]},
    {"min": "2 nm", "max": "20 nm", "growth": 1.3, "focus": ["1 um"]},
    {"min": "0.1 nm", "max": "100 nm", "growth": 1.01, "focus": ["0.5 um"]},
])
def test_the_cell_estimate_bounds_the_grid_that_is_built(spacing):
    case = case_from_dict(_box(spacing=spacing))
    built = Box.build(case.geometry).nodes[0].size - 1
    estimate = Box.estimate_cells(case.geometry)
    assert built <= estimate <= built * 1.05 + 4


def test_an_absurd_spacing_is_counted_not_built():
    raw = _box(spacing={"min": "1e-25 nm", "max": "1e-20 nm", "growth": 1.0001, "focus": ["0 nm"]})
    assert "geometry.spacing" in one(problems(raw), "cells")


def test_axisymmetric_estimate_counts_both_axes():
    raw = small_case()
    raw["geometry"] = {"builder": "axisymmetric", "radius": "1 um", "height": "2 um",
                       "cells": [30, 40]}
    raw["buffers"][0]["in"] = "cytosol"
    raw["species"][0]["initial"] = "0.1 uM"
    case = case_from_dict(raw)
    assert Axisymmetric.estimate_cells(case.geometry) == 1200
