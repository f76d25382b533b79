"""The 3D biology cases (cases/*_3d.toml of mam_transfer, er_lysosome, soce_punctum) are copies
of their axisymmetric twins on the builders' 3D variant: the case format has no include, so this
test holds the copies to their twins. Everything that is physics — species, buffers, fluxes,
boundaries, reactions, time, the geometry's dimensions — must be identical; only the geometry's
`variant`, `resolution` and `cleft_cells` (3D sizing only), `[solver]`, the case's name and
header, and the probe coordinates (the (r, z) point put at y = 0) may differ."""

import re
import tomllib

import pytest

from microdomain.verification.bio_twins import PAIRS

from tests.helpers import ROOT

MAY_DIFFER = {"case", "geometry", "solver", "output"}
GEOMETRY_MAY_DIFFER = {"variant", "resolution", "cleft_cells"}


def _load(name: str) -> dict:
    return tomllib.loads((ROOT / "cases" / f"{name}.toml").read_text())


@pytest.mark.parametrize("twin", sorted(PAIRS))
def test_the_3d_case_has_the_physics_of_its_twin(twin):
    flat, solid = _load(twin), _load(PAIRS[twin])
    assert {k: v for k, v in flat.items() if k not in MAY_DIFFER} == \
        {k: v for k, v in solid.items() if k not in MAY_DIFFER}
    assert set(flat) - {"solver"} == set(solid) - {"solver"}
    assert (flat["geometry"]["variant"], solid["geometry"]["variant"]) == ("axisymmetric", "3d")
    strip = lambda g: {k: v for k, v in g.items() if k not in GEOMETRY_MAY_DIFFER}  # noqa: E731
    assert strip(flat["geometry"]) == strip(solid["geometry"])
    assert {k: v for k, v in flat["case"].items() if k != "name"} == \
        {k: v for k, v in solid["case"].items() if k != "name"}
    assert solid["case"]["name"] == PAIRS[twin]


@pytest.mark.parametrize("twin", sorted(PAIRS))
def test_the_3d_probes_are_the_twin_probes_in_the_plane_y_0(twin):
    flat, solid = _load(twin)["output"], _load(PAIRS[twin])["output"]
    assert {k: v for k, v in flat.items() if k != "probes"} == \
        {k: v for k, v in solid.items() if k != "probes"}
    as_rz = [{**p, "at": [p["at"][0], p["at"][2]]} for p in solid["probes"]]
    assert [p["at"][1] for p in solid["probes"]] == ["0 nm"] * len(solid["probes"])
    assert as_rz == flat["probes"]


# ------------------------------------------------- the comparison tables of docs/cases.md --

CASES_LINES = [" ".join(line.split()) for line in (ROOT / "docs" / "cases.md").read_text().splitlines()]
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _last_digit(written: str) -> float:
    """One unit of the last digit of a number as written: 6.65e-06 → 1e-08, 0.964 → 0.001."""
    mantissa, _, exponent = written.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def _same_row(made: str, written: str) -> bool:
    """The same text, and every number within one unit of the last digit written: the runs'
    adaptive steps move these numbers by roundoff-driven step choices (a few 1e-4 relative
    between one process and the next), which may flip the last digit of a rounded number."""
    if NUMBER.split(made) != NUMBER.split(written):
        return False
    return all(abs(float(m) - float(w)) <= 1.0001 * _last_digit(w)
               for m, w in zip(NUMBER.findall(made), NUMBER.findall(written)))


def _in_docs(table: str) -> None:
    """The table, as bio_twins writes it, is in docs/cases.md (whitespace aside), each number to
    within one unit of its last digit."""
    rows = [" ".join(line.split()) for line in table.strip().splitlines()]
    for i in (i for i, line in enumerate(CASES_LINES) if line == rows[0]):
        written = CASES_LINES[i:i + len(rows)]
        if len(written) == len(rows) and all(map(_same_row, rows, written)):
            return
    raise AssertionError(f"docs/cases.md does not hold this table:\n{table}")


@pytest.mark.parametrize("twin", sorted(PAIRS))
def test_coarse_comparison_of_docs_cases(twin, tmp_path_factory):
    """The coarse variants (default CI's, test_cases_run_to_end.py: these very runs, shared)."""
    from microdomain.verification import bio_twins

    from tests.cases.test_cases_run_to_end import coarse_run

    rows = [bio_twins.row(name, coarse_run(ROOT / "cases" / f"{name}.toml", tmp_path_factory))
            for name in (twin, PAIRS[twin])]
    _in_docs(bio_twins.markdown(rows, cpu=False))


@pytest.mark.slow
@pytest.mark.parametrize("twin", sorted(PAIRS))
def test_full_comparison_of_docs_cases(twin):
    """The cases as shipped, the 3D one also at resolution 3 (its coarser mesh) (python -m
    microdomain.verification.bio_twins)."""
    from microdomain.verification import bio_twins

    _in_docs(bio_twins.markdown(bio_twins.comparison(twin, [2.0, 3.0]), cpu=False))


def test_bio_twins_names_a_missing_case_folder_and_an_unknown_case(tmp_path, capsys):
    from microdomain.verification import bio_twins

    with pytest.raises(SystemExit) as stop:
        bio_twins.main(["--case-dir", str(tmp_path), "--cases", "soce_punctum"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'soce_punctum.toml'} not found" in err and "--case-dir" in err
    with pytest.raises(SystemExit):
        bio_twins.main(["--cases", "soce_punctum,mam"])
    assert "--cases: mam not among mam_transfer, er_lysosome, soce_punctum" in capsys.readouterr().err
