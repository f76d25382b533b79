"""The transport operator microdomain assembles equals FiPy's own DiffusionTerm: on a 3-cell
stencil by hand, and on meshes with baths, membranes and graded spacing against FiPy's full term
(which also evaluates gradient constraints microdomain never sets)."""

import fipy as fp
import numpy as np
import pytest
from fipy.matrices.scipyMatrix import _ScipyMeshMatrix

from microdomain.assembly import _transport
from microdomain.case import case_from_dict
from microdomain.mesh import build_domain


def _domain(geometry: dict):
    raw = {"case": {"name": "contract"}, "geometry": geometry,
           "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}], "time": {"end": "1 ms"}}
    case = case_from_dict(raw)
    return build_domain(case.builder.build(case.geometry))


def test_three_cells_give_the_textbook_stencil():
    # 1D, unit spacing, D = 2: T = D/h·[[1, −1, 0], [−1, 2, −1], [0, −1, 1]] (FiPy's areas are 1)
    domain = _domain({"builder": "box", "size": ["3 um"], "cells": [3]})
    T, g = _transport(domain, np.full(3, 2.0), [])
    assert T.toarray() == pytest.approx(2.0 * np.array([[1, -1, 0], [-1, 2, -1], [0, -1, 1]]))
    assert g == pytest.approx(np.zeros(3))


@pytest.mark.parametrize("geometry", [
    {"builder": "box", "size": ["1 um", "0.6 um"],
     "spacing": {"min": "0.02 um", "max": "0.1 um", "growth": 1.3, "focus": ["0.3 um", "0.2 um"]},
     "compartments": [{"name": "cytosol"}, {"name": "er", "x": ["0.5 um", "1 um"]}],
     "surfaces": [{"name": "er_membrane", "between": ["er", "cytosol"]}, {"name": "left", "wall": "x-"}]},
    {"builder": "axisymmetric", "radius": "1 um", "height": "1 um",
     "spacing": {"min": "0.01 um", "max": "0.2 um", "growth": 1.4, "focus": ["0 um", "0 um"]},
     "surfaces": [{"name": "left", "wall": ["r+", "z+"]}]},
])
def test_the_operator_is_fipys_diffusion_term(geometry):
    domain = _domain(geometry)
    D = np.linspace(0.1, 0.3, domain.n_cells)
    faces = domain.surfaces["left"].faces
    values = np.linspace(1.0, 2.0, faces.size)
    T, g = _transport(domain, D, [(faces, values)])
    # FiPy's own, gradient-constraint evaluation included
    mesh = domain.mesh
    var = fp.CellVariable(mesh=mesh, value=0.0)
    D_face = fp.CellVariable(mesh=mesh, value=D).harmonicFaceValue.value.copy()
    D_face[domain.membrane_faces()] = 0.0
    mask = np.zeros(mesh.numberOfFaces, bool)
    mask[faces] = True
    face_values = np.zeros(mesh.numberOfFaces)
    face_values[faces] = values
    var.constrain(fp.FaceVariable(mesh=mesh, value=face_values), where=mask)
    term = fp.DiffusionTerm(coeff=fp.FaceVariable(mesh=mesh, value=D_face), var=var)
    _, L, b = term._buildMatrix(var, _ScipyMeshMatrix, dt=1.0)
    assert abs(T - (-L.matrix)).max() <= 1e-12 * abs(T).max()
    assert g == pytest.approx(-np.asarray(b, float), rel=1e-12, abs=1e-15)
