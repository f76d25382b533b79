"""`mesh_file`: any tagged mesh becomes a domain; missing tags are validation errors that list
the tags the mesh has; cells that FiPy's two-point fluxes handle badly are reported."""

import meshio
import numpy as np
import pytest

from microdomain.case import CaseError, case_from_dict
from microdomain.geometry import builders
from microdomain.geometry.unstructured import build_faces
from microdomain.mesh import GeometryError, build_domain
from microdomain.mesh_checks import MeshQualityWarning


def _case(geometry, **extra):
    raw = {"case": {"name": "user_mesh"}, "geometry": geometry,
           "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
           "time": {"end": "1 ms"}}
    raw.update(extra)
    return raw


def _two_boxes(path, nm=False, untagged=False):
    """A 2D mesh of two unit squares side by side: 'left' | 'right', membrane 'wall' between."""
    pts = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]], float)
    if nm:
        pts *= 1000.0
    tris = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
    lines = np.array([[1, 4]])
    tags = np.array([1, 1, 2, 2]) if not untagged else np.array([1, 1, 0, 0])
    mesh = meshio.Mesh(np.column_stack([pts, np.zeros(len(pts))]), [("line", lines), ("triangle", tris)],
                       cell_data={"gmsh:physical": [np.array([3]), tags],
                                  "gmsh:geometrical": [np.array([1]), np.array([1, 1, 2, 2])]},
                       field_data={"left": np.array([1, 2]), "right": np.array([2, 2]),
                                   "wall": np.array([3, 1])})
    meshio.write(path, mesh, file_format="gmsh22", binary=False)
    return path


def test_a_tagged_mesh_becomes_compartments_and_surfaces(tmp_path):
    path = _two_boxes(tmp_path / "boxes.msh")
    case = case_from_dict(_case({"builder": "mesh_file", "path": str(path)}))
    assert case.compartments() == ["left", "right"]
    d = build_domain(case.builder.build(case.geometry))
    assert d.volumes[d.compartment_mask("left")].sum() == pytest.approx(1.0)
    assert d.volumes[d.compartment_mask("right")].sum() == pytest.approx(1.0)
    wall = d.surfaces["wall"]
    assert wall.faces.size == 1 and d.face_areas[wall.faces].sum() == pytest.approx(1.0)
    assert d.membrane_faces()[wall.faces].all()


def test_length_unit_scales_coordinates(tmp_path):
    path = _two_boxes(tmp_path / "boxes_nm.msh", nm=True)     # coordinates 0..2000 (nm)
    case = case_from_dict(_case({"builder": "mesh_file", "path": str(path), "length_unit": "1 nm"}))
    d = build_domain(case.builder.build(case.geometry))
    assert d.volumes.sum() == pytest.approx(2.0)                # two (1 µm)² squares
    as_um = case_from_dict(_case({"builder": "mesh_file", "path": str(path)}))
    assert build_domain(as_um.builder.build(as_um.geometry)).volumes.sum() == pytest.approx(2e6)


def test_a_missing_tag_lists_the_tags_the_mesh_has(tmp_path):
    path = _two_boxes(tmp_path / "boxes.msh")
    with pytest.raises(CaseError) as err:
        case_from_dict(_case({"builder": "mesh_file", "path": str(path),
                              "compartments": ["left", "golgi"], "surfaces": ["wal"]}))
    msg = str(err.value)
    assert "golgi" in msg and "cell tags left, right" in msg and "surface tags wall" in msg


def test_a_case_naming_a_compartment_the_mesh_lacks_is_refused(tmp_path):
    path = _two_boxes(tmp_path / "boxes.msh")
    raw = _case({"builder": "mesh_file", "path": str(path)})
    raw["species"][0]["initial"] = {"left": "0.1 uM", "right": "1 uM", "golgi": "5 uM"}
    with pytest.raises(CaseError, match=r"species\[0\].initial.golgi: no compartment 'golgi'.*left, right"):
        case_from_dict(raw)


def test_missing_file_and_untagged_cells(tmp_path):
    with pytest.raises(CaseError, match="does not exist"):
        case_from_dict(_case({"builder": "mesh_file", "path": str(tmp_path / "nothing.msh")}))
    path = _two_boxes(tmp_path / "half.msh", untagged=True)
    with pytest.raises(CaseError, match="2 cells carry no physical tag"):
        case_from_dict(_case({"builder": "mesh_file", "path": str(path)}))


def test_a_builder_output_read_back_as_a_user_mesh_is_the_same_domain(built):
    geo, d = built("mam_contact", variant="axisymmetric", resolution=2.0)
    p = builders.get("mesh_file").Params(path=str(geo.path), axisymmetric=True)
    again = build_domain(builders.get("mesh_file").build(p))
    assert set(again.compartment_names) == set(d.compartment_names)
    for name in d.compartment_names:
        assert again.volumes[again.compartment_mask(name)].sum() == \
            pytest.approx(d.volumes[d.compartment_mask(name)].sum(), rel=1e-12)
    for name, fs in d.surfaces.items():
        assert again.face_areas[again.surfaces[name].faces].sum() == \
            pytest.approx(d.face_areas[fs.faces].sum(), rel=1e-12)


def test_skewed_cells_are_reported_and_warned_about(tmp_path):
    # two triangles whose centre-to-centre line crosses their common face at ~78°
    pts = np.array([[0, 0, 0], [1, 0, 0], [0.5, 0.05, 0], [0.98, -0.05, 0]], float)
    mesh = meshio.Mesh(pts, [("triangle", np.array([[0, 1, 2], [0, 3, 1]]))],
                       cell_data={"gmsh:physical": [np.array([1, 1])]},
                       field_data={"cytosol": np.array([1, 2])})
    path = tmp_path / "skewed.msh"
    meshio.write(path, mesh, file_format="gmsh22", binary=False)
    p = builders.get("mesh_file").Params(path=str(path))
    with pytest.warns(MeshQualityWarning, match="non-orthogonal"):
        d = build_domain(builders.get("mesh_file").build(p))
    assert d.stats["quality"]["non_orthogonality_deg"]["max"] > 70


def test_faces_are_shared_once_and_found_by_their_vertices():
    conn = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])          # two tetrahedra sharing face (1, 2, 3)
    faces = build_faces([("tetra", conn)])
    assert faces.face_vertices.shape == (3, 7) and faces.cell_faces.shape == (4, 2)
    shared = set(faces.cell_faces[:, 0]) & set(faces.cell_faces[:, 1])
    assert len(shared) == 1
    assert faces.lookup(np.array([[3, 1, 2], [0, 1, 4]])).tolist() == [shared.pop(), -1]


def test_a_relative_path_is_read_beside_the_case_file(tmp_path, monkeypatch):
    from microdomain.case import load_case

    (tmp_path / "meshes").mkdir()
    _two_boxes(tmp_path / "meshes" / "two.msh")
    case_file = tmp_path / "case.toml"
    case_file.write_text('[case]\nname = "rel"\n[geometry]\nbuilder = "mesh_file"\n'
                         'path = "meshes/two.msh"\n[[species]]\nion = "Ca"\nD = "220 um**2/s"\n'
                         'initial = "0.1 uM"\n[time]\nend = "1 ms"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    case = load_case(case_file)
    assert case.compartments() == ["left", "right"]
    assert build_domain(case.builder.build(case.geometry)).n_cells == 4


def test_a_repeated_element_is_refused_naming_its_cells(tmp_path):
    """A Gmsh mesh once held one tetrahedron three times (mam_contact 3D, er_network, resolution
    1.5): FiPy then computed a negative volume. The load names the repeated element instead."""
    path = _two_boxes(tmp_path / "boxes.msh")
    mesh = meshio.read(path)
    tris = mesh.cells_dict["triangle"]
    mesh = meshio.Mesh(mesh.points, [("line", mesh.cells_dict["line"]),
                                     ("triangle", np.vstack([tris, tris[2:3]]))],
                       cell_data={"gmsh:physical": [np.array([3]), np.array([1, 1, 2, 2, 2])],
                                  "gmsh:geometrical": [np.array([1]), np.array([1, 1, 2, 2, 2])]},
                       field_data=mesh.field_data)
    meshio.write(path, mesh, file_format="gmsh22", binary=False)
    case = case_from_dict(_case({"builder": "mesh_file", "path": str(path)}))
    with pytest.raises(GeometryError, match=r"1 face\(s\) shared by more than two cells .*cells 2, 4 "
                                        r"\(right\) are one element repeated"):
        build_domain(case.builder.build(case.geometry))
