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


# ---------------------------------------------------------------------------- scale bars --

def black_runs(row: np.ndarray, dark: int = 60) -> list[tuple[int, int]]:
    """(start, length) of the runs of near-black pixels in an image row."""
    black = np.all(row < dark, axis=-1).astype(int)
    edges = np.diff(np.concatenate([[0], black, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist()))


def bar_in(img: np.ndarray, length_px: float) -> bool:
    """A horizontal black bar of about length_px pixels somewhere in the image."""
    for row in img:
        if any(abs(n - length_px) <= 2 for _, n in black_runs(row)):
            return True
    return False


@offscreen
def test_3d_panel_has_a_scale_bar_true_to_the_mesh(box3d_run, tmp_path):
    """Top view of the 1 µm × 1 µm box: its width in pixels, measured on the picture, is what the
    bar says a micrometre is."""
    r = render(box3d_run, camera="top", size=(640, 480), out=tmp_path)
    length_um, length_px = r.scale_bar
    assert length_um in (0.1, 0.2, 0.5, 1.0) and length_px > 20
    img = load(r.paths[0])
    assert bar_in(img[:, int(0.44 * 640):], length_px)
    # the box: the widest non-white span of the 3D panel's middle rows
    panel = img[120:300, int(0.44 * 640):]
    width = max(np.ptp(np.flatnonzero(np.any(row < 235, axis=-1))) for row in panel) + 1
    assert width == pytest.approx(length_px / length_um * 1.0, rel=0.03)


def test_mesh_picture_has_a_scale_bar_true_to_the_mesh(tmp_path, offscreen_opengl):
    import microdomain as md
    from microdomain.geometry.picture import render_mesh_png
    from microdomain.mesh import build_domain

    raw = {"case": {"name": "box2d"},
           "geometry": {"builder": "box", "size": ["1 um", "1 um"], "cells": [8, 8],
                        "compartments": [{"name": "cytosol"},
                                         {"name": "er", "y": ["0.5 um", "1 um"]}]},
           "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
           "time": {"end": "1 ms"}}
    case = md.case_from_dict(raw, "box2d.toml")
    d = build_domain(case.builder.build(case.geometry))
    pic = render_mesh_png(tmp_path / "mesh.png", d.vtk_points, d.vtk_cells, d.compartment_id,
                          d.compartment_names, d.dim, d.cylindrical, size=(800, 600))
    (length_um, length_px), = pic.scale_bars
    img = load(pic.path)
    assert img.shape == (600, 800, 3) and bar_in(img[500:], length_px)
    row = img[300]
    coloured = np.flatnonzero(np.any(np.abs(row.astype(int) - 255) > 20, axis=-1))
    assert np.ptp(coloured) + 1 == pytest.approx(length_px / length_um * 1.0, rel=0.03)
