"""Every Gmsh builder, both variants, two resolutions: the tags are there, volumes and areas
match the idealised shapes within 2 %, the cleft measured on the mesh matches `gap` within 5 %,
and every membrane face lies between the two compartments its surface claims."""

import math

import numpy as np
import pytest

from microdomain import mesh_checks
from microdomain.geometry import builders
from microdomain.geometry.unstructured import SurfaceClaim, UnstructuredGeometry
from microdomain.mesh import GeometryError, build_domain

RESOLUTIONS = {
    ("pm_punctum", "axisymmetric"): (1.0, 2.0),
    ("pm_punctum", "3d"): (1.0, 2.0),
    ("mam_contact", "axisymmetric"): (1.0, 2.0),
    ("mam_contact", "3d"): (2.0,),     # 2 cells across the cleft (≥ 4 at 1: test_cleft_cells)
    ("er_lysosome", "axisymmetric"): (1.0, 2.0),
    ("er_lysosome", "3d"): (2.0,),     # coarser misses the 2 % volumes (−3.7 % at 3)
}
CASES = [(b, v, r) for (b, v), rs in RESOLUTIONS.items() for r in rs]
IDS = [f"{b}-{v}-res{r:g}" for b, v, r in CASES]


def params(builder, **kw):
    cls = builders.get(builder)
    return cls, cls.Params.model_validate({"builder": builder, **kw})


@pytest.mark.parametrize("builder,variant,resolution", CASES, ids=IDS)
def test_tags_volumes_areas_and_cleft(built, builder, variant, resolution):
    cls, p = params(builder, variant=variant, resolution=resolution)
    geo, d = built(builder, variant=variant, resolution=resolution)
    assert d.dim == (3 if variant == "3d" else 2) and d.cylindrical == (variant == "axisymmetric")
    assert d.compartment_names == tuple(cls.compartment_names(p))
    assert set(d.surfaces) == set(cls.surface_names(p))
    ref = geo.reference
    deviation = {}
    for name, want in ref["volumes"].items():
        got = d.angle * d.volumes[d.compartment_mask(name)].sum()
        assert got == pytest.approx(want, rel=0.02), name
        deviation[name] = got / want - 1
    # the cell counts docs/geometry.md quotes for the default 3D sizing (deterministic: one thread)
    cells = {("mam_contact", "3d", 2.0): 39088, ("er_lysosome", "3d", 2.0): 59620}
    if (builder, variant, resolution) in cells:
        assert d.n_cells == cells[builder, variant, resolution]
    # the worst cases docs/geometry.md quotes, to the digit it gives
    quoted = {("er_lysosome", "3d", 2.0): ("lysosome", -1.7), ("pm_punctum", "3d", 2.0): (None, -1.1)}
    if (builder, variant, resolution) in quoted:
        name, percent = quoted[builder, variant, resolution]
        worst = deviation[name] if name else min(deviation.values(), key=lambda v: -abs(v))
        assert round(100 * worst, 1) == percent, deviation
    for name, want in ref["areas"].items():
        got = d.angle * d.face_areas[d.surfaces[name].faces].sum()
        assert got == pytest.approx(want, rel=0.02), name
    centres, normals = np.asarray(d.mesh.faceCenters), np.asarray(d.mesh.faceNormals)
    for key, (a, b, gap) in ref["clefts"].items():
        for first, second in ((a, b), (b, a)):
            width = mesh_checks.surface_gap(centres, normals, d.surfaces[first].faces,
                                            d.surfaces[second].faces)
            assert width["min"] == pytest.approx(gap, rel=0.05)
            assert width["max"] == pytest.approx(gap, rel=0.05)
        assert d.stats["clefts"][key]["mean_um"] == pytest.approx(gap, rel=0.05)


@pytest.mark.parametrize("builder,variant,resolution", CASES, ids=IDS)
def test_every_membrane_face_is_tagged_and_between_its_claimed_pair(built, builder, variant, resolution):
    geo, d = built(builder, variant=variant, resolution=resolution)
    tagged = np.zeros(d.face_cells.shape[1], bool)
    for claim in geo.surfaces:
        fs = d.surfaces[claim.name]
        tagged[fs.faces] = True
        pairs = mesh_checks.surface_pairs(fs.faces, d.face_cells, d.compartment_id, d.compartment_names)
        assert set(pairs) <= {tuple(sorted(x)) for x in claim.between}, claim.name
    untagged_membranes = d.membrane_faces() & ~tagged
    assert not untagged_membranes.any()
    assert d.stats["quality"]["warnings"] == []


def test_the_extruded_punctum_meshes_are_orthogonal(built):
    """pm_punctum: quadrilaterals (r, z) and a polar grid extruded in z (hexahedra, prisms on the
    axis): every face is normal to its centre-to-centre line, as FiPy's fluxes assume."""
    for variant in ("axisymmetric", "3d"):
        _, d = built("pm_punctum", variant=variant, resolution=2.0)
        assert d.stats["quality"]["non_orthogonality_deg"]["max"] < 1e-3     # degrees: round-off


def test_axisymmetric_punctum_measures_are_exact(built):
    geo, d = built("pm_punctum", variant="axisymmetric", resolution=2.0)
    for name, want in geo.reference["volumes"].items():
        assert d.angle * d.volumes[d.compartment_mask(name)].sum() == pytest.approx(want, rel=1e-12)
    for name, want in geo.reference["areas"].items():
        assert d.angle * d.face_areas[d.surfaces[name].faces].sum() == pytest.approx(want, rel=1e-12)


def test_resolution_scales_the_cell_count(built):
    _, fine = built("mam_contact", variant="axisymmetric", resolution=1.0)
    _, coarse = built("mam_contact", variant="axisymmetric", resolution=2.0)
    assert 2.5 < fine.n_cells / coarse.n_cells < 5.5        # ~4 in 2D: every size doubled


def test_several_puncta_in_3d(built):
    geo, d = built("pm_punctum", variant="3d", resolution=2.5, puncta=2, spacing="300 nm",
                   punctum_radius="80 nm", channel_radius="3 nm")
    assert geo.reference["areas"]["pm_punctum_patch"] == pytest.approx(2 * math.pi * 0.08**2)
    for name in ("pm_punctum_patch", "er_punctum_patch", "pm_channel"):
        got = d.angle * d.face_areas[d.surfaces[name].faces].sum()
        assert got == pytest.approx(geo.reference["areas"][name], rel=0.02), name
    x = np.asarray(d.mesh.faceCenters)[0, d.surfaces["pm_channel"].faces]
    assert np.all(np.abs(np.abs(x) - 0.15) < 0.004)          # one pore at each punctum centre


def test_the_mesh_is_cached_by_parameters(mesh_cache):
    cls, p = params("pm_punctum", variant="axisymmetric", resolution=3.0)
    first = cls.build(p)
    again = cls.build(p)
    assert first.path == again.path and first.path.parent == mesh_cache / "meshes"
    assert again.notes["cache_hit"] and first.path.read_text().startswith("$MeshFormat\n2.2")
    _, other = params("pm_punctum", variant="axisymmetric", resolution=3.0, gap="20 nm")
    assert cls.mesh_path(other) != first.path


def test_a_surface_that_lies_elsewhere_than_it_claims_is_refused(built):
    geo, _ = built("pm_punctum", variant="axisymmetric", resolution=2.0)
    wrong = UnstructuredGeometry(geo.path, 2, True, geo.compartments,
                                 (SurfaceClaim("pm_channel", (("er", "cytosol"),)),))
    with pytest.raises(GeometryError, match="pm_channel.*should lie between er | cytosol"):
        build_domain(wrong)


@pytest.mark.parametrize("builder,field,value,message", [
    ("mam_contact", "gap", "3 nm", "between 5 nm and 100 nm"),
    ("er_lysosome", "gap", "150 nm", "between 5 nm and 100 nm"),
    ("mam_contact", "contact_radius", "500 nm", "smaller than er_radius"),
    ("pm_punctum", "puncta", 2, "several puncta need variant"),
])
def test_impossible_layouts_are_refused_with_a_reason(builder, field, value, message):
    cls = builders.get(builder)
    with pytest.raises(ValueError, match=message):
        cls.Params.model_validate({"builder": builder, field: value})


def test_fipy_reads_the_builders_msh22_files_itself(built):
    """The cached files are MSH 2.2 that FiPy's own Gmsh reader accepts, with the same cells."""
    import fipy as fp

    geo, d = built("mam_contact", variant="axisymmetric", resolution=2.0)
    mesh = fp.Gmsh2D(str(geo.path))
    assert mesh.numberOfCells == d.n_cells
    assert set(mesh.physicalCells) == set(d.compartment_names)
    assert set(d.surfaces) <= set(mesh.physicalFaces)
    # FiPy's Gmsh2D reads the (r, z) plane as planar; for triangles ∫ r dA = area × centroid r
    planar, r = np.asarray(mesh.cellVolumes), np.asarray(mesh.cellCenters)[0]
    assert d.volumes.sum() == pytest.approx(float(np.sum(planar * r)), rel=1e-12)
