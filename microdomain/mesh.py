"""FiPy mesh + named cell sets (compartments) and face sets (surfaces): the Domain.

All geometric arrays the solver needs are pulled out of FiPy once, here, as plain numpy.
For cylindrical meshes FiPy's volumes and areas are per radian (r·dr·dz): `angle` (2π) turns
them into physical amounts; concentrations need no correction because both sides scale alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import fipy as fp
import numpy as np

from .geometry.structured import StructuredGeometry, SurfaceSpec
from .geometry.unstructured import UnstructuredGeometry
from .io import structured_cells


class GeometryError(ValueError):
    pass


@dataclass(frozen=True)
class FaceSet:
    """Faces of one named surface; `inner`/`outer` are the adjacent cells (-1 = outside the mesh)."""

    name: str
    faces: np.ndarray
    cells_a: np.ndarray
    cells_b: np.ndarray  # -1 for exterior faces

    @property
    def exterior(self) -> bool:
        return bool(np.all(self.cells_b < 0))


@dataclass(frozen=True)
class Domain:
    mesh: fp.meshes.mesh.Mesh
    compartment_names: tuple[str, ...]
    compartment_id: np.ndarray         # per cell
    surfaces: dict[str, FaceSet]
    volumes: np.ndarray                # per cell (per radian if cylindrical)
    face_areas: np.ndarray             # per face (per radian if cylindrical)
    face_cells: np.ndarray             # (2, n_faces), -1 where there is no second cell
    cell_centers: np.ndarray           # (dim, n_cells)
    face_centers: np.ndarray           # (dim, n_faces)
    face_normals: np.ndarray           # (dim, n_faces), unit length
    axes: tuple[str, ...]
    cylindrical: bool
    vtk_points: np.ndarray | None = None          # (n_points, 3) for VTU output
    vtk_cells: list | None = None                 # meshio cell blocks, in FiPy's cell order
    # named surfaces for surfaces.vtu: (vertex coords (dim, n_v), face vertices (k, n_f), -1 pad;
    # name → columns of its faces), kept so the FiPy mesh can be released after assembly
    surface_mesh: tuple | None = None
    nodes: tuple[np.ndarray, ...] | None = None   # structured grids: node coordinates per axis
    stats: dict = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return self.volumes.size

    @property
    def dim(self) -> int:
        return self.cell_centers.shape[0]

    @property
    def angle(self) -> float:
        return 2 * np.pi if self.cylindrical else 1.0

    def without_mesh(self) -> "Domain":
        """The same domain without FiPy's mesh: once the operator is assembled nothing needs it,
        and on a 64³ box it holds most of the process's memory."""
        return replace(self, mesh=None)

    def compartment_mask(self, name: str) -> np.ndarray:
        return self.compartment_id == self.compartment_names.index(name)

    def membrane_faces(self) -> np.ndarray:
        """Interior faces between two different compartments: no diffusion crosses them."""
        a, b = self.face_cells
        inner = b >= 0
        mask = np.zeros(a.size, bool)
        mask[inner] = self.compartment_id[a[inner]] != self.compartment_id[b[inner]]
        return mask

    def normal_distance(self, cells: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Distance from each cell centre to the plane of its face, along the face normal
        (half the cell width on a structured grid); 0 where there is no cell (-1)."""
        ok = cells >= 0
        d = np.zeros(faces.size)
        offset = self.face_centers[:, faces[ok]] - self.cell_centers[:, cells[ok]]
        d[ok] = np.abs(np.sum(offset * self.face_normals[:, faces[ok]], axis=0))
        return d

    def structured_cell_index(self) -> tuple[np.ndarray, ...]:
        """Per axis cell-centre coordinates of a structured grid (FiPy orders x fastest)."""
        return tuple(0.5 * (n[1:] + n[:-1]) for n in self.nodes)


def surface_mesh(mesh, surfaces: dict) -> tuple | None:
    """The vertices and faces of the named surfaces only (see Domain.surface_mesh)."""
    if not surfaces:
        return None
    faces = np.concatenate([fs.faces for fs in surfaces.values()])
    if hasattr(mesh, "faceVertexIDs"):
        fv = np.ma.filled(mesh.faceVertexIDs, -1)[:, faces]
    else:                   # FiPy's uniform 1D grid: face i is vertex i
        fv = faces[None, :].astype(np.int64)
    used = np.unique(fv[fv >= 0])
    remap = np.full(int(used.max()) + 1, -1)
    remap[used] = np.arange(used.size)
    fv = np.where(fv >= 0, remap[np.maximum(fv, 0)], -1)
    columns, start = {}, 0
    for name, fs in surfaces.items():
        columns[name] = np.arange(start, start + fs.faces.size)
        start += fs.faces.size
    return np.asarray(mesh.vertexCoords)[:, used], fv, columns


def _fipy_grid(geo: StructuredGeometry):
    """FiPy's grid for the node coordinates. Evenly spaced axes are passed as one spacing and a
    count: FiPy then builds its uniform grid, which computes geometry on demand (a 64³ box:
    0.16 GB instead of 1.1 GB for the same grid given as 64 spacings per axis)."""
    spacings = [np.diff(n) for n in geo.nodes]
    origin = [n[0] for n in geo.nodes]
    uniform = all(np.allclose(s, s[0], rtol=1e-12, atol=0) for s in spacings)
    if uniform:
        sizes = {k: v for k, d, n in zip(("dx", "dy", "dz"), spacings, ("nx", "ny", "nz"))
                 for k, v in ((k, float(d[0])), (n, int(d.size)))}
    else:
        sizes = dict(zip(("dx", "dy", "dz"), spacings))
    if geo.cylindrical:
        return fp.CylindricalGrid2D(**sizes) + ((0.0,), (origin[1],))
    grid = {1: fp.Grid1D, 2: fp.Grid2D, 3: fp.Grid3D}[len(spacings)]
    return grid(**sizes) + tuple((o,) for o in origin)


def _in_bounds(coords: dict[str, np.ndarray], bounds: dict[str, tuple[float, float]], tol: float):
    mask = np.ones(next(iter(coords.values())).shape, bool)
    for axis, (lo, hi) in bounds.items():
        if axis not in coords:
            raise GeometryError(f"axis {axis!r} does not exist here; axes are {', '.join(coords)}")
        mask &= (coords[axis] >= lo - tol) & (coords[axis] <= hi + tol)
    return mask


def _surface_faces(spec: SurfaceSpec, geo, mesh, comp_id, names, face_cells, tol) -> np.ndarray:
    fc = np.asarray(mesh.faceCenters)
    coords = {a: fc[i] for i, a in enumerate(geo.axes)}
    a, b = face_cells
    if spec.wall is not None:
        mask = np.zeros(a.size, bool)
        exterior = b < 0
        for wall in spec.wall:
            axis, side = wall[0], wall[1]
            if axis not in coords:
                raise GeometryError(f"surface {spec.name!r}: wall {wall!r} needs an axis {axis!r}; "
                                    f"axes are {', '.join(geo.axes)}")
            i = geo.axes.index(axis)
            edge = geo.nodes[i][0] if side == "-" else geo.nodes[i][-1]
            mask |= exterior & (np.abs(coords[axis] - edge) <= tol)
    else:
        first, second = spec.between
        for n in (first, second):
            if n not in names:
                raise GeometryError(f"surface {spec.name!r}: no compartment {n!r}")
        ia, ib = names.index(first), names.index(second)
        inner = b >= 0
        ca = np.where(inner, comp_id[a], -1)
        cb = np.where(inner, comp_id[np.where(inner, b, 0)], -1)
        mask = inner & (((ca == ia) & (cb == ib)) | ((ca == ib) & (cb == ia)))
    mask &= _in_bounds(coords, spec.bounds(), tol) if spec.bounds() else True
    if spec.radius is not None:
        # distance in the plane of the face from `center` (the axis for cylindrical meshes)
        normal_axis = np.argmax(np.abs(np.asarray(mesh.faceNormals)), axis=0)
        center = spec.center or (0.0,) * len(geo.axes)
        d2 = np.zeros(a.size)
        for i, axis in enumerate(geo.axes):
            if geo.cylindrical and axis == "z":
                continue
            in_plane = normal_axis != i
            d2 += np.where(in_plane, (coords[axis] - center[i]) ** 2, 0.0)
        mask &= np.sqrt(d2) <= spec.radius + tol
    return np.flatnonzero(mask)


def build_domain(geo: StructuredGeometry | UnstructuredGeometry) -> Domain:
    if isinstance(geo, UnstructuredGeometry):
        return build_unstructured_domain(geo)
    mesh = _fipy_grid(geo)
    centers = np.asarray(mesh.cellCenters)
    coords = {a: centers[i] for i, a in enumerate(geo.axes)}
    smallest = min(np.diff(n).min() for n in geo.nodes)
    tol = 1e-6 * smallest

    names = tuple(dict.fromkeys(c.name for c in geo.compartments))
    comp_id = np.full(mesh.numberOfCells, -1)
    for spec in geo.compartments:
        comp_id[_in_bounds(coords, spec.bounds(), tol) if spec.bounds() else slice(None)] = \
            names.index(spec.name)
    if np.any(comp_id < 0):
        raise GeometryError(f"{int(np.sum(comp_id < 0))} cells lie in no compartment; list a bulk "
                            "compartment without bounds first")
    for i, n in enumerate(names):
        if not np.any(comp_id == i):
            raise GeometryError(f"compartment {n!r} contains no cell; check its bounds")

    fcells = np.asarray(mesh.faceCellIDs.filled(-1)).astype(np.int64)
    surfaces = {}
    for spec in geo.surfaces:
        faces = _surface_faces(spec, geo, mesh, comp_id, names, fcells, tol)
        if faces.size == 0:
            raise GeometryError(f"surface {spec.name!r} selects no face; check wall/between/radius")
        surfaces[spec.name] = FaceSet(spec.name, faces, fcells[0, faces], fcells[1, faces])
    points, cells = structured_cells(geo.nodes, geo.cylindrical)
    return Domain(
        mesh=mesh,
        vtk_points=points,
        vtk_cells=cells,
        compartment_names=names,
        compartment_id=comp_id,
        surfaces=surfaces,
        volumes=np.asarray(mesh.cellVolumes, float),
        face_areas=np.asarray(mesh._faceAreas, float),
        face_cells=fcells,
        cell_centers=centers,
        face_centers=np.asarray(mesh.faceCenters, float),
        face_normals=np.asarray(mesh.faceNormals, float),
        axes=geo.axes,
        cylindrical=geo.cylindrical,
        nodes=geo.nodes,
        surface_mesh=surface_mesh(mesh, surfaces),
        stats={"kind": "structured", "axes": list(geo.axes), "cylindrical": geo.cylindrical,
               "cells": int(mesh.numberOfCells), "faces": int(mesh.numberOfFaces),
               "min_spacing_um": float(smallest),
               "max_spacing_um": float(max(np.diff(n).max() for n in geo.nodes))},
    )


# ------------------------------------------------------------------ unstructured meshes --
# Gmsh builders and user mesh files (microdomain/geometry/unstructured.py). FiPy has no
# cylindrical counterpart of its Gmsh2D mesh, so the (r, z) variant weights the 2D mesh by r
# here exactly as FiPy's CylindricalGrid2D does: face areas × r of the face centre (exact for
# straight faces by Pappus), cell volumes = ∫ r dA over the polygon (exact), both per radian.

class CylindricalMesh2D(fp.meshes.mesh2D.Mesh2D):
    """An unstructured 2D mesh in the (r, z) half-plane (x = r ≥ 0) read as a body of revolution:
    areas and volumes per radian, as in FiPy's CylindricalGrid2D."""

    def __init__(self, vertexCoords, faceVertexIDs, cellFaceIDs, r_volumes):
        self._r_volumes = np.asarray(r_volumes, float)
        super().__init__(vertexCoords, faceVertexIDs, cellFaceIDs)

    def _calcFaceAreas(self):
        return super()._calcFaceAreas() * self._faceCenters[0]

    def _calcCellVolumes(self):
        return self._r_volumes


# Degenerate (collapsed) stand-ins: node lists of a wider cell type that trace the same cell.
_AS_HEX = {"hexahedron": [0, 1, 2, 3, 4, 5, 6, 7], "wedge": [0, 1, 2, 2, 3, 4, 5, 5],
           "pyramid": [0, 1, 2, 3, 4, 4, 4, 4], "tetra": [0, 1, 2, 2, 3, 3, 3, 3]}
_AS_QUAD = {"quad": [0, 1, 2, 3], "triangle": [0, 1, 2, 2]}


def _one_vtk_block(blocks):
    """The cells as a single meshio block, in FiPy's order: io.VTKSeries attaches one array per
    field, which meshio accepts only for one block. Mixed meshes (the polar pm_punctum grid:
    hexahedra plus wedges on the axis) are written as degenerate hexahedra (quads in 2D), which
    VTK readers display as the original cells."""
    if len(blocks) <= 1:
        return [(t, c) for t, c in blocks]
    table, kind = (_AS_QUAD, "quad") if blocks[0][0] in _AS_QUAD else (_AS_HEX, "hexahedron")
    return [(kind, np.concatenate([c[:, table[t]] for t, c in blocks]))]


def build_unstructured_domain(geo: UnstructuredGeometry, warn_quality: bool = True) -> Domain:
    """Domain of a tagged mesh file: compartments from its cell tags, face sets from its
    boundary-element tags, checked (tags, claims, cell quality) on the way in."""
    from . import mesh_checks
    from .geometry.unstructured import (MeshFileError, build_faces, polygon_r_moment,
                                        read_tagged_mesh, signed_measures)

    try:
        tm = read_tagged_mesh(geo.path, geo.length_scale, geo.dim)
    except MeshFileError as exc:
        raise GeometryError(str(exc)) from None
    names = tuple(geo.compartments)
    unknown = [t for t in tm.cell_tag_names if t not in names]
    if unknown:
        raise GeometryError(f"{geo.path}: cells tagged {', '.join(map(repr, unknown))} belong to no "
                            f"compartment of the case; compartments: {', '.join(names)}")
    missing = [c for c in names if c not in tm.cell_tag_names]
    if missing:
        raise GeometryError(f"{geo.path}: no cells tagged {', '.join(map(repr, missing))}; the mesh "
                            f"has cell tags {', '.join(tm.cell_tag_names)}")
    comp_id = np.array([names.index(t) for t in tm.cell_tag_names])[tm.cell_tags]
    faces = build_faces(tm.cell_blocks)
    overshared, repeated = mesh_checks.overshared_faces(faces.cell_faces)
    if overshared.size:
        which = ""
        if repeated:
            first = repeated[0]
            which = (f"; cells {', '.join(map(str, first))} "
                     f"({tm.cell_tag_names[tm.cell_tags[first[0]]]}) are one element repeated"
                     + (f" ({len(repeated)} such groups)" if len(repeated) > 1 else ""))
        raise GeometryError(f"{geo.path}: {overshared.size} face(s) shared by more than two cells "
                            f"(a non-conforming mesh){which}; finite volumes cannot use it: remesh "
                            "(for a Gmsh builder, a slightly different `resolution` gives another mesh)")
    points = tm.points
    if geo.cylindrical:
        if geo.dim != 2:
            raise GeometryError("an axisymmetric (r, z) mesh must be two-dimensional")
        if points[:, 0].min() < -1e-9 * max(1.0, np.abs(points).max()):
            raise GeometryError(f"{geo.path}: an axisymmetric mesh lies in x = r ≥ 0, but reaches "
                                f"x = {points[:, 0].min():.3g} um")
        r_vol = np.concatenate([polygon_r_moment(points, conn) for _, conn in tm.cell_blocks])
        mesh = CylindricalMesh2D(points.T.copy(), faces.face_vertices, faces.cell_faces, r_vol)
    elif geo.dim == 2:
        mesh = fp.meshes.mesh2D.Mesh2D(points.T.copy(), faces.face_vertices, faces.cell_faces)
    else:
        mesh = fp.meshes.mesh.Mesh(points.T.copy(), faces.face_vertices, faces.cell_faces)
    fcells = np.asarray(mesh.faceCellIDs.filled(-1)).astype(np.int64)

    surfaces = {}
    problems = []
    for claim in geo.surfaces:
        blocks = [conn for _, conn, tag in tm.facets if tag == claim.name]
        if not blocks:
            problems.append(f"no boundary elements tagged {claim.name!r}")
            continue
        ids = np.concatenate([faces.lookup(conn) for conn in blocks])
        if np.any(ids < 0):
            problems.append(f"{int(np.sum(ids < 0))} elements tagged {claim.name!r} are not faces of "
                            "any cell (a non-conforming surface)")
        ids = np.unique(ids[ids >= 0])
        if ids.size:
            surfaces[claim.name] = FaceSet(claim.name, ids, fcells[0, ids], fcells[1, ids])
    if problems:
        have = sorted({tag for _, _, tag in tm.facets})
        raise GeometryError(f"{geo.path}: " + "; ".join(problems) +
                            f". The mesh has surface tags {', '.join(have) or '(none)'}")
    problems = mesh_checks.check_claims(geo.surfaces, surfaces, fcells, comp_id, names)
    if problems:
        raise GeometryError(f"{geo.path}: " + "; ".join(problems))

    volumes = np.asarray(mesh.cellVolumes, float)
    if np.any(volumes <= 0):
        raise GeometryError(f"{geo.path}: {int(np.sum(volumes <= 0))} cells have no positive volume")
    face_centers = np.asarray(mesh.faceCenters)
    face_normals = np.asarray(mesh.faceNormals)
    centers = np.asarray(mesh.cellCenters)
    angle, skew = mesh_checks.face_quality(face_centers, face_normals, fcells, centers)
    quality = mesh_checks.quality_stats(angle, skew, warn=warn_quality, label=str(geo.path))
    signed = signed_measures(points, tm.cell_blocks)
    angle_factor = 2 * np.pi if geo.cylindrical else 1.0
    areas = np.asarray(mesh._faceAreas, float)
    stats = {
        "kind": "unstructured", "dim": geo.dim, "axes": list(geo.axes), "cylindrical": geo.cylindrical,
        "cells": int(mesh.numberOfCells), "faces": int(mesh.numberOfFaces),
        "cell_types": {t: int(c.shape[0]) for t, c in tm.cell_blocks},
        # vertex order: one sign throughout is consistent (Gmsh's 2D cells may all turn clockwise)
        "orientation": {"positive": int(np.sum(signed > 0)), "negative": int(np.sum(signed < 0)),
                        "undefined": int(np.sum(~np.isfinite(signed)))},
        "min_cell_size_um": float(np.min(np.asarray(mesh.cellVolumes) / (centers[0] if geo.cylindrical
                                                                           else 1.0)) ** (1 / geo.dim)),
        "compartment_volumes_um3": {n: float(volumes[comp_id == i].sum() * angle_factor)
                                    for i, n in enumerate(names)},
        "surface_areas_um2": {n: float(areas[fs.faces].sum() * angle_factor)
                              for n, fs in surfaces.items()},
        "quality": quality,
        "membranes_checked": True,
        **geo.notes,
    }
    clefts = {}
    for key, (sa, sb, nominal) in geo.reference.get("clefts", {}).items():
        if sa in surfaces and sb in surfaces:
            clefts[key] = {"surfaces": [sa, sb], "nominal_um": nominal,
                           **{f"{k}_um": v for k, v in mesh_checks.surface_gap(
                               face_centers, face_normals, surfaces[sa].faces, surfaces[sb].faces).items()}}
    if clefts:
        stats["clefts"] = clefts
    vtk_points = np.zeros((points.shape[0], 3))
    vtk_points[:, : geo.dim] = points
    vtk_cells = _one_vtk_block(tm.cell_blocks)
    if len(vtk_cells) != len(tm.cell_blocks):
        stats["vtk_cells"] = ("mixed cell types written as one block of degenerate "
                              f"{vtk_cells[0][0]} (io.VTKSeries writes one block)")
    return Domain(
        mesh=mesh,
        compartment_names=names,
        compartment_id=comp_id,
        surfaces=surfaces,
        volumes=volumes,
        face_areas=areas,
        face_cells=fcells,
        cell_centers=centers,
        face_centers=face_centers,
        face_normals=face_normals,
        axes=geo.axes,
        cylindrical=geo.cylindrical,
        vtk_points=vtk_points,
        vtk_cells=vtk_cells,
        nodes=None,
        surface_mesh=surface_mesh(mesh, surfaces),
        stats=stats,
    )
