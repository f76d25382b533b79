"""`solver.nonorthogonal = "symmetric"` (solver/symmetric_flux.py): the SUSHI-type diffusion
operator is symmetric positive semi-definite and conservative by construction, and consistent —
a linear field has zero discrete divergence in every cell that no wall or membrane face's
interpolation reads."""

import tomllib

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from microdomain.assembly import ModelError, build_system
from microdomain.case import case_from_dict
from microdomain.mesh import build_domain
from microdomain.solver.symmetric_flux import SymmetricDiffusion

from tests.helpers import ROOT


def _system(case_file: str, mode: str, resolution: float, boundaries=()):
    path = ROOT / "cases" / case_file
    raw = tomllib.loads(path.read_text())
    raw["geometry"]["resolution"] = resolution
    if raw["geometry"].get("variant") == "3d" and raw["geometry"]["builder"] != "pm_punctum":
        raw["geometry"]["cleft_cells"] = 0          # the sizing the studies use (contact_studies.py)
    raw.update(species=[{"ion": "Ca", "D": "220 um**2/s", "initial": "1 uM"}], buffers=[], fluxes=[],
               boundaries=list(boundaries), solver={"nonorthogonal": mode})
    case = case_from_dict(raw, str(path))
    domain = build_domain(case.builder.build(case.geometry))
    return domain, build_system(case, domain)


@pytest.fixture(scope="module")
def mam():
    return _system("mam_contact_3d.toml", "symmetric", 3.0)


def test_the_operator_is_symmetric_semidefinite_and_conservative(mam):
    domain, system = mam
    A = system.transport[0]
    norm = abs(A).max()
    assert domain.n_cells > 5000 and A.nnz > 10 * domain.n_cells      # a wide stencil, as built
    assert abs(A - A.T).max() == 0.0
    assert np.abs(A @ np.ones(domain.n_cells)).max() < 1e-12 * norm     # A·1 = 0: columns too
    # smallest eigenvalues by shift-invert just below zero: one zero per compartment, none negative
    start = np.random.default_rng(0).standard_normal(A.shape[0])   # ARPACK's own start is random
    lows = spla.eigsh(A.tocsc(), k=6, sigma=-1e-3 * norm, which="LM", return_eigenvectors=False,
                      v0=start)
    assert np.min(lows) >= -1e-12 * norm
    assert np.sum(lows < 1e-10 * norm) == len(domain.compartment_names)


def test_a_linear_field_is_divergence_free_away_from_walls_and_membranes(mam):
    domain, system = mam
    A = system.transport[0]
    grad = np.array([0.3, -0.2, 0.5])
    u = 1.0 + grad @ domain.cell_centers
    fc = domain.face_cells
    inner = fc[1] >= 0
    area = np.bincount(fc[0], domain.face_areas, domain.n_cells) + \
        np.bincount(fc[1, inner], domain.face_areas[inner], domain.n_cells)
    rel = np.abs(A @ u) / (0.22 * np.linalg.norm(grad) * area)
    # the cells that the face value of no wall or membrane face reads
    scheme = SymmetricDiffusion(domain)
    edge = (fc[1] < 0) | domain.membrane_faces()
    read = np.zeros(domain.n_cells, bool)
    read[np.unique(scheme.Delta[np.flatnonzero(edge[scheme.faces])].indices)] = True
    assert np.sum(~read) > 300
    assert np.max(rel[~read]) < 1e-10
    # near walls a linear field has a wall flux the no-flux condition removes: not zero there
    assert np.median(rel[read]) > 1e-4


def test_orthogonal_meshes_keep_the_two_point_flux():
    """The extruded pm_punctum mesh has no skewed faces: "symmetric" leaves FiPy's operator."""
    _, sym = _system("pm_punctum_contact_3d.toml", "symmetric", 4.0)
    _, plain = _system("pm_punctum_contact_3d.toml", "none", 4.0)
    assert abs(sym.transport[0] - plain.transport[0]).max() == 0.0


def test_axisymmetric_meshes_are_refused():
    with pytest.raises(ModelError, match="symmetric") as err:
        _system("mam_contact.toml", "symmetric", 2.0)
    assert err.value.problems[0][0] == "solver.nonorthogonal"


def test_bath_faces_enter_as_known_values(mam):
    """A bath fixes the face value: a linear field with its own values on the `outer` bath faces
    leaves zero residual in every cell next to the bath (its face term drops out, as on interior
    faces), and the constant bath value of a constant field gives zero flux."""
    domain, _ = mam
    bath = domain.surfaces["outer"].faces
    scheme = SymmetricDiffusion(domain, bath)
    grad = np.array([0.3, -0.2, 0.5])
    u = 1.0 + grad @ domain.cell_centers
    at_bath = 1.0 + grad @ domain.face_centers[:, scheme.bath_faces]
    A, g = scheme.operator(np.ones(domain.n_cells), at_bath)
    fc = domain.face_cells
    walls = (fc[1] < 0) | domain.membrane_faces()
    walls[bath] = False
    read = np.zeros(domain.n_cells, bool)
    read[np.unique(scheme.Delta[np.flatnonzero(walls[scheme.faces])].indices)] = True
    next_to_bath = np.zeros(domain.n_cells, bool)
    next_to_bath[fc[0, bath]] = True
    ok = next_to_bath & ~read
    assert ok.sum() > 50
    assert np.abs(A @ u - g)[ok].max() < 1e-12 * abs(A).max()
    A, g = scheme.operator(np.ones(domain.n_cells), np.full(scheme.bath_faces.size, 2.0))
    assert np.abs(A @ np.full(domain.n_cells, 2.0) - g).max() < 1e-12 * abs(A).max()
