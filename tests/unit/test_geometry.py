import numpy as np
import pytest

from microdomain.case import case_from_dict
from microdomain.geometry.structured import AxisymmetricParams, Axisymmetric, BoxParams, Box, graded_nodes
from microdomain.mesh import GeometryError, build_domain


def test_graded_nodes_start_at_min_grow_and_keep_required_coordinates():
    nodes = graded_nodes(0.0, 3.0, 0.0, 5e-4, 0.05, 1.05, required=[0.002, 1.0])
    h = np.diff(nodes)
    assert nodes[0] == 0.0 and nodes[-1] == 3.0
    assert np.all(h > 0)
    assert h[0] == pytest.approx(5e-4)
    assert h.max() <= 1.4 * 0.05                           # merging near required nodes only
    assert np.any(np.isclose(nodes, 0.002)) and np.any(np.isclose(nodes, 1.0))
    ratios = h[1:] / h[:-1]
    assert np.median(ratios[:40]) == pytest.approx(1.05, rel=1e-6)


def test_axisymmetric_volumes_and_patch_area_are_exact():
    p = AxisymmetricParams(radius="1 um", height="0.5 um",
                           spacing={"min": "1 nm", "max": "50 nm", "focus": ["0 nm", "0 nm"]},
                           compartments=[{"name": "cytosol"}, {"name": "er", "z": ["0.4 um", "0.5 um"]}],
                           surfaces=[{"name": "pore", "wall": "z-", "radius": "7 nm"},
                                     {"name": "er_membrane", "between": ["er", "cytosol"]}])
    d = build_domain(Axisymmetric.build(p))
    vol = lambda c: d.angle * d.volumes[d.compartment_mask(c)].sum()  # noqa: E731
    assert vol("cytosol") == pytest.approx(np.pi * 1.0**2 * 0.4, rel=1e-12)
    assert vol("er") == pytest.approx(np.pi * 1.0**2 * 0.1, rel=1e-12)
    area = lambda s: d.angle * d.face_areas[d.surfaces[s].faces].sum()  # noqa: E731
    assert area("pore") == pytest.approx(np.pi * 0.007**2, rel=1e-12)
    assert area("er_membrane") == pytest.approx(np.pi * 1.0**2, rel=1e-12)
    assert d.surfaces["pore"].exterior and not d.surfaces["er_membrane"].exterior


def test_box_membrane_between_slabs_and_zero_diffusion_across_it():
    p = BoxParams(size=["1 um", "1 um", "0.5 um"], cells=[4, 4, 5],
                  compartments=[{"name": "cytosol"}, {"name": "er", "z": ["0 nm", "100 nm"]}],
                  surfaces=[{"name": "m", "between": ["er", "cytosol"]}])
    d = build_domain(Box.build(p))
    assert d.surfaces["m"].faces.size == 16
    assert d.face_areas[d.surfaces["m"].faces].sum() == pytest.approx(1.0)
    assert set(np.flatnonzero(d.membrane_faces())) == set(d.surfaces["m"].faces)


def test_surface_that_selects_nothing_is_an_error():
    p = BoxParams(size=["1 um", "1 um"], cells=[10, 10],
                  surfaces=[{"name": "m", "wall": "y+", "x": ["2 um", "3 um"]}])
    with pytest.raises(GeometryError, match="'m' selects no face"):
        build_domain(Box.build(p))
    with pytest.raises(ValueError, match="two different compartments"):
        BoxParams(size=["1 um"], cells=[10], surfaces=[{"name": "m", "between": ["cytosol", "cytosol"]}])


def test_geometry_parameter_errors_are_case_errors():
    from microdomain.case import CaseError
    raw = {"case": {"name": "x"}, "species": [{"ion": "Ca", "D": "1 um**2/s", "initial": "0 uM"}],
           "time": {"end": "1 ms"},
           "geometry": {"builder": "axisymmetric", "radius": "1 um", "height": "1 um"}}
    with pytest.raises(CaseError, match="exactly one of 'cells'"):
        case_from_dict(raw)
    raw["geometry"] = {"builder": "sphere"}
    with pytest.raises(CaseError, match="unknown geometry builder 'sphere'"):
        case_from_dict(raw)
