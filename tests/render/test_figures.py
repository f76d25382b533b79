"""Figures a paper can use: the cleft camera on every contact geometry, scale bars, colour limits
per compartment, vector output and DPI, and figures from the API."""

import numpy as np
import pytest
from PIL import Image

from microdomain.render import RunDir, render
from microdomain.render.colours import make_scale
from microdomain.render.topology import grid_facets
from microdomain.render.view import make_view

CONTACT_CASES = ("mam_contact", "er_lysosome_contact", "pm_punctum_contact")   # conftest.py

offscreen = pytest.mark.usefixtures("offscreen_opengl")


def load(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def views(run_dir, cameras=("iso", "cleft")):
    run = RunDir(run_dir)
    grid = run.read(len(run.frames) - 1)
    values = np.asarray(grid.cell_data["Ca"], float)
    scale = make_scale(values)
    return run, {c: make_view(run, grid, values, scale, c, grid_facets(grid)) for c in cameras}


@pytest.mark.parametrize("name", CONTACT_CASES)
@pytest.mark.parametrize("variant", ["axisymmetric", "3d"])
def test_cleft_camera_zooms_on_the_cleft_of_every_contact(contact_runs, name, variant):
    run, v = views(contact_runs[name, variant])
    geometry = run.case["geometry"]
    gap = geometry["gap"]
    radius = geometry.get("contact_radius") or geometry["punctum_radius"]
    lateral = [0] if variant == "axisymmetric" else [0, 1]
    normal = 1 if variant == "axisymmetric" else 2
    extent = np.ptp(v["cleft"].region, axis=1)
    iso = np.ptp(v["iso"].region, axis=1)
    # the whole cleft is inside the region: from the axis (or −radius) to +radius, 0 ≤ z ≤ gap
    for k in lateral:
        assert v["cleft"].region[k, 0] <= (0 if variant == "axisymmetric" else -radius) + 1e-9
        assert v["cleft"].region[k, 1] >= radius - 1e-9
    assert v["cleft"].region[normal, 0] < 0 and v["cleft"].region[normal, 1] > gap
    # and the region is within a few times the contact radius and the gap, far below iso's
    assert max(extent[k] for k in lateral) <= 3 * radius
    assert extent[normal] <= 12 * gap
    assert extent[normal] < 0.3 * iso[normal] and all(extent[k] < 0.5 * iso[k] for k in lateral)
    assert "cleft" in v["cleft"].note and f"{gap * 1e3:g} nm gap" in v["cleft"].note


@offscreen
def test_cleft_picture_differs_from_iso_and_reports_its_region(contact_runs, tmp_path):
    run_dir = contact_runs["mam_contact", "axisymmetric"]
    iso = render(run_dir, camera="iso", size=(480, 360), out=tmp_path)
    cleft = render(run_dir, camera="cleft", size=(480, 360), out=tmp_path)
    r, z = np.ptp(np.asarray(cleft.region), axis=1)[:2]
    assert r <= 3 * 0.150 and z <= 12 * 0.020
    assert np.ptp(np.asarray(iso.region), axis=1)[1] > 5 * z
    a, b = load(iso.paths[0]).astype(float), load(cleft.paths[0]).astype(float)
    assert a.shape == b.shape and np.abs(a - b).mean() > 10
