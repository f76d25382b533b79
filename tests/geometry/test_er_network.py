"""`er_network = true`: the ER sheet reaches the outer wall, where its rim `er_network` lies
between the ER and the outside, measures what `reference` says, and a bath on it refills a
depleted lumen (the rest of the ER network); without the option the name is refused."""

import numpy as np
import pytest

from microdomain import mesh_checks
from microdomain.assembly import build_system
from microdomain.case import CaseError, case_from_dict
from microdomain.geometry import builders
from microdomain.solver import Stepper

NETWORK = [("mam_contact", "axisymmetric", 2.0), ("er_lysosome", "axisymmetric", 2.0),
           ("pm_punctum", "axisymmetric", 2.0), ("er_lysosome", "3d", 2.0),
           ("pm_punctum", "3d", 2.0)]


@pytest.mark.parametrize("builder,variant,resolution", NETWORK,
                         ids=[f"{b}-{v}" for b, v, _ in NETWORK])
def test_the_er_rim_on_the_outer_wall_is_er_network(built, builder, variant, resolution):
    cls = builders.get(builder)
    # the rim, not the cleft: the tetrahedral contact on the coarser sizing before issue 15
    coarse = {"cleft_cells": 0} if variant == "3d" and builder != "pm_punctum" else {}
    p = cls.Params.model_validate({"builder": builder, "variant": variant,
                                   "resolution": resolution, "er_network": True, **coarse})
    geo, d = built(builder, variant=variant, resolution=resolution, er_network=True, **coarse)
    assert set(d.surfaces) == set(cls.surface_names(p)) and "er_network" in d.surfaces
    fs = d.surfaces["er_network"]
    assert fs.exterior
    pairs = mesh_checks.surface_pairs(fs.faces, d.face_cells, d.compartment_id, d.compartment_names)
    assert set(pairs) == {("er", "outside")}
    xyz = np.asarray(d.mesh.faceCenters)[:, fs.faces]
    r = np.hypot(xyz[0], xyz[1]) if d.dim == 3 else xyz[0]
    Rd = cls._layout(p)["Rd"]
    assert np.allclose(r, Rd, rtol=0.02)            # on the outer cylinder (polygonal in 3D)
    ref = geo.reference
    assert ref["volumes"]["er"] == pytest.approx(np.pi * Rd**2 * p.er_thickness)
    assert ref["areas"]["er_network"] == pytest.approx(2 * np.pi * Rd * p.er_thickness)
    for name, want in ref["volumes"].items():
        got = d.angle * d.volumes[d.compartment_mask(name)].sum()
        assert got == pytest.approx(want, rel=0.02), name
    for name, want in ref["areas"].items():
        got = d.angle * d.face_areas[d.surfaces[name].faces].sum()
        assert got == pytest.approx(want, rel=0.02), name
    tagged = np.zeros(d.face_cells.shape[1], bool)
    for claim in geo.surfaces:
        tagged[d.surfaces[claim.name].faces] = True
    assert not (d.membrane_faces() & ~tagged).any() and d.stats["quality"]["warnings"] == []


def test_the_option_off_leaves_the_surfaces_as_they_were():
    for builder in ("mam_contact", "er_lysosome", "pm_punctum"):
        cls = builders.get(builder)
        p = cls.Params.model_validate({"builder": builder})
        assert not p.er_network and "er_network" not in cls.surface_names(p)
        assert "er_network" not in cls.reference(p)["areas"]
        assert all(c.name != "er_network" for c in cls.claims(p))


def _bath_case(network: bool) -> dict:
    return {
        "case": {"name": "er_network_bath"},
        "geometry": {"builder": "er_lysosome", "variant": "axisymmetric", "resolution": 2.0,
                     "er_network": network},
        "species": [{"ion": "Ca", "D": {"*": "220 um**2/s", "er": "44 um**2/s"},
                     "initial": {"*": "0.1 uM", "er": "100 uM", "lysosome": "400 uM"}}],
        "boundaries": [{"surface": "er_network", "concentrations": {"Ca": "500 uM"}}],
        "time": {"end": "2 ms", "dt": {"initial": "10 us", "max": "0.5 ms"}},
    }


def test_a_bath_on_er_network_refills_a_depleted_lumen(built):
    case = case_from_dict(_bath_case(True))
    _, domain = built("er_lysosome", variant="axisymmetric", resolution=2.0, er_network=True)
    system = build_system(case, domain)
    U, _, status = Stepper(system, []).run(2.0, [2.0])        # ms
    assert status == "completed"
    er = domain.compartment_mask("er")
    V = domain.volumes[er]
    before, after = (float(V @ u[er] / V.sum()) for u in (system.initial[0], U[0]))
    assert before == pytest.approx(100.0)
    assert round(after, -1) == 420.0    # µM, docs/geometry.md: "to a mean of 420 µM in 2 ms"


def test_er_network_without_the_option_is_refused():
    with pytest.raises(CaseError, match=r"boundaries\[0\]\.surface.*no surface 'er_network'"):
        case_from_dict(_bath_case(False))
