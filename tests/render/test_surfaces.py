"""Named surfaces come from the run directory's surfaces.vtu (names from manifest.json), not from
the case; a run directory without surfaces.vtu (older versions) renders without them and says so."""

import json
import shutil

import numpy as np
import pytest
import pyvista as pv
from PIL import Image

from microdomain.render import RunDir, render
from microdomain.rundir import RunDirectory
from microdomain.render.topology import grid_facets, match_points

offscreen = pytest.mark.usefixtures("offscreen_opengl")


def load(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_surfaces_are_the_face_sets_of_surfaces_vtu_placed_on_the_frames(box3d_run):
    run = RunDir(box3d_run)
    assert [(s["name"], s["role"]) for s in run.surfaces()] == [("channel", "flux"),
                                                                 ("er_membrane", "flux")]
    ids = np.asarray(pv.read(box3d_run / "surfaces.vtu").cell_data["surface"])
    grid = run.read(0)
    fac = grid_facets(grid)
    for k, name in enumerate(RunDirectory(box3d_run).manifest().mesh.surfaces):
        found = run.surface_facets(name, fac, np.asarray(grid.points))
        assert sum(len(f) for f in found) == np.sum(ids == k) > 0


def test_points_are_matched_up_to_round_off_only():
    dst = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    src = np.array([[1 + 1e-14, 1, 0], [0.5, 0.5, 0], [0, 1e-3, 0], [0, 0, 0]])
    assert match_points(src, dst).tolist() == [3, -1, -1, 0]


@offscreen
def test_the_case_surface_rules_are_not_used(egta_run, tmp_path):
    """The same picture with the surface specifications removed from the manifest's case: the
    channel and bath are read from surfaces.vtu."""
    copy = tmp_path / "run"
    shutil.copytree(egta_run, copy, ignore=shutil.ignore_patterns("render"))
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["case"]["geometry"]["surfaces"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    a = render(egta_run, camera="iso", size=(320, 240), out=tmp_path / "a")
    b = render(copy, camera="iso", size=(320, 240), out=tmp_path / "b")
    assert "source: surface 'channel'" in b.notes[1]
    assert np.array_equal(load(a.paths[0]), load(b.paths[0]))


@offscreen
def test_without_surfaces_vtu_the_picture_has_no_surfaces_and_says_so(egta_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(egta_run, copy, ignore=shutil.ignore_patterns("render"))
    (copy / "surfaces.vtu").unlink()
    r = render(copy, size=(320, 240), out=tmp_path)
    assert any("no surfaces.vtu" in n and "not drawn" in n for n in r.notes)
    assert "source: the field's maximum in 'cytosol' (fed by 'channel')" in r.notes[1]
    img = load(r.paths[0])
    assert img.shape == (240, 320, 3) and img.std() > 20
