"""[output] revolve: an axisymmetric run's frames also written as the 3D solid they stand for."""

import math

import numpy as np
import pytest
import pyvista as pv

import microdomain as md
from microdomain.io import revolved_cells, vtk_grid
from microdomain.rundir import RunDirectory
from tests.helpers import small_case

SEGMENTS = 24
CHORD = math.sin(2 * math.pi / SEGMENTS) / (2 * math.pi / SEGMENTS)   # polygon / circle area
assert round(CHORD, 3) == 0.989       # the figure docs/run-directory.md quotes for N = 24


def axisymmetric(**output):
    raw = small_case(time={"end": "0.5 ms"}, output={"every": "0.25 ms", **output})
    raw["geometry"] = {"builder": "axisymmetric", "radius": "1 um", "height": "0.5 um", "cells": [6, 4],
                       "compartments": [{"name": "cytosol"}, {"name": "er", "r": ["0.5 um", "1 um"]}],
                       "surfaces": [{"name": "er_membrane", "between": ["er", "cytosol"]}]}
    return md.case_from_dict(raw)


def test_the_revolved_frames_are_the_solid_with_the_section_values_and_the_same_times(tmp_path):
    md.Simulation(axisymmetric(revolve=SEGMENTS)).run(out=tmp_path / "run")
    run = RunDirectory(tmp_path / "run")
    flat = run.frames()
    reader = pv.get_reader(tmp_path / "run" / "fields_revolved.pvd")      # as ParaView reads it
    assert list(reader.time_values) == pytest.approx([f.time for f in flat])
    reader.set_active_time_point(len(flat) - 1)
    solid = reader.read()[0]
    section = pv.read(flat[-1].path)
    assert solid.n_cells == SEGMENTS * section.n_cells
    volumes = solid.compute_cell_sizes(length=False, area=False)["Volume"]
    assert volumes.min() > 0                                  # every swept cell right side out
    exact = math.pi * 1.0**2 * 0.5                            # µm³, the cylinder r ≤ 1, 0 ≤ z ≤ 0.5
    assert volumes.sum() == pytest.approx(exact * CHORD, rel=1e-9)
    for name in ("Ca", "B.Ca", "compartment"):
        assert np.array_equal(solid.cell_data[name], np.tile(section.cell_data[name], SEGMENTS), equal_nan=True)
    assert "revolved about the z axis" in str(solid.field_data["coordinates"][0])


def test_triangles_sweep_into_wedges_of_positive_volume_whatever_their_orientation():
    points = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)   # (r, z) in x, y
    tris = np.array([[0, 1, 2], [0, 3, 2]])                                   # ccw and cw
    pts, cells, index = revolved_cells(points, [("triangle", tris)], 8)
    volumes = vtk_grid(pts, cells).compute_cell_sizes(length=False, area=False)["Volume"]
    assert cells[0][0] == "wedge" and np.all(volumes > 0)
    chord = math.sin(2 * math.pi / 8) / (2 * math.pi / 8)
    assert volumes.sum() == pytest.approx(math.pi * 1.0 * chord, rel=1e-9)   # πR²H, R = H = 1
    assert list(index) == [0, 1] * 8


def test_revolve_is_refused_for_a_cartesian_geometry_naming_the_option():
    with pytest.raises(md.CaseError, match=r"output\.revolve: only axisymmetric"):
        md.Simulation(md.case_from_dict(small_case(output={"revolve": 12})))


def test_revolve_needs_enough_segments():
    with pytest.raises(md.CaseError, match=r"output\.revolve"):
        axisymmetric(revolve=2)
