"""The documentation is part of what is tested: docs/api.md runs as a doctest, docs/run-directory.md
describes every file, key and status the code writes, the API reference is the code's, and the
repository stands alone (no document it does not hold)."""

import doctest
import re
import shutil
import subprocess

import pytest

import microdomain as md
from microdomain import records, rundir

from tests.helpers import ROOT

DOCS = ROOT / "docs"
# names of material outside the repository (the design notes, the reference table, the team's
# shared folder) that no tracked file may cite; spelled in parts so this file does not cite them
OUTSIDE_MATERIAL = tuple(a + b for a, b in (("DESIGN", ".md"), ("REFERENCES", ".md"), ("sha", "red/")))


@pytest.fixture(scope="module")
def api_session(tmp_path_factory):
    """docs/api.md run as a doctest in a scratch directory holding the shipped cases (its run
    directory, runs/x, is kept for the checks below)."""
    work = tmp_path_factory.mktemp("api_doc")
    shutil.copytree(ROOT / "cases", work / "cases")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        result = doctest.testfile(str(DOCS / "api.md"), module_relative=False, verbose=False,
                                  optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    return result, work / "runs" / "x"


def test_api_md_runs_as_a_doctest(api_session):
    result, _ = api_session
    assert result.attempted >= 20 and result.failed == 0


FRAME_FIELD_DATA = ["TimeValue", "time_unit", "length_unit", "axes", "coordinates", "field_names",
                    "field_units", "compartment_names"]


def test_run_directory_md_names_every_file_key_and_status(api_session):
    text = (DOCS / "run-directory.md").read_text()
    for name in rundir.FILES:
        assert f"{name}" in text, name
    for model in (records.Manifest, records.MeshInfo):
        for key in model.model_fields:
            assert f"`{key}`" in text, f"manifest key {key}"
    for model in (records.Metrics, records.CompartmentIon, records.SurfaceIon, records.FluxAmount,
                  records.GateStats, records.MassBalance, records.SteadyFlow, records.SteadyBalance,
                  records.ChannelCluster, records.ChannelEvent):
        for key in model.model_fields:
            assert key in text, f"metrics key {key}"
    for status in md.Status:
        assert f"| `{status.value}` |" in text, status
    for column in rundir.FLUX_HEADER + rundir.probe_header(["r", "z"]):
        assert column in text, column
    import pyvista as pv

    _, run = api_session
    assert sorted(pv.read(run / "fields" / "frame_00001.vtu").field_data.keys()) == sorted(FRAME_FIELD_DATA)
    surface_data = pv.read(run / "surfaces.vtu").field_data.keys()
    assert sorted(surface_data) == ["axes", "coordinates", "length_unit", "surface_names"]
    for key in FRAME_FIELD_DATA + ["surface_names"]:
        assert f"`{key}`" in text, key


def test_run_directory_md_examples_are_a_run_s_first_lines(api_session):
    _, run = api_session
    text = (DOCS / "run-directory.md").read_text()
    blocks = re.findall(r"```\n(time_ms,.*?)```", text, re.S)
    assert len(blocks) == 2
    for block, name in zip(blocks, ("probes.csv", "fluxes.csv")):
        lines = block.strip().splitlines()
        assert (run / name).read_text().splitlines()[: len(lines)] == lines, name


def test_tables_keep_ten_significant_digits():
    column = rundir.ProbeColumn("p", (0.5,), "Ca")
    text = rundir.tidy_csv(rundir.probe_header(["x"]), [column], [[1 / 3, 2 / 3]])
    assert text.splitlines()[1] == "0.3333333333,p,0.5,Ca,0.6666666667,uM"


def test_meshio_refuses_the_frames_as_the_docs_say(api_session):
    import meshio

    _, run = api_session
    with pytest.raises((SystemExit, Exception)):
        meshio.read(run / "fields" / "frame_00000.vtu")


def test_the_api_reference_is_generated_from_the_code():
    import runpy

    make = runpy.run_path(str(DOCS / "make_api_reference.py"))["reference"]
    assert (DOCS / "api-reference.md").read_text() == make(), \
        "docs/api-reference.md is stale: run `python docs/make_api_reference.py > docs/api-reference.md`"


def test_the_repository_cites_no_document_it_does_not_hold():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".md", ".py", ".toml", ".bib", ".cff", ".ipynb", ".txt"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for ref in OUTSIDE_MATERIAL:
            if ref in text:
                offenders.append(f"{name}: {ref}")
    assert not offenders, offenders


def test_docs_link_only_to_files_that_exist():
    missing = []
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)\)", doc.read_text()):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                missing.append(f"{doc.name}: {target}")
    assert not missing, missing


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    block = re.search(r"## From Python\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    res = namespace["res"]
    assert res.status == md.Status.STEADY_STATE and namespace["case"].buffers[0].total == 2000.0
