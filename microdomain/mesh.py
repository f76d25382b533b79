"""FiPy mesh + named cell sets (compartments) and face sets (surfaces): the Domain.

All geometric arrays the solver needs are pulled out of FiPy once, here, as plain numpy.
For cylindrical meshes FiPy's volumes and areas are per radian (r·dr·dz): `angle` (2π) turns
them into physical amounts; concentrations need no correction because both sides scale alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import fipy as fp
import numpy as np

from .geometry.structured import StructuredGeometry, SurfaceSpec
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
    axes: tuple[str, ...]
    cylindrical: bool
    vtk_points: np.ndarray | None = None          # (n_points, 3) for VTU output
    vtk_cells: list | None = None                 # meshio cell blocks, in FiPy's cell order
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

    def compartment_mask(self, name: str) -> np.ndarray:
        return self.compartment_id == self.compartment_names.index(name)

    def membrane_faces(self) -> np.ndarray:
        """Interior faces between two different compartments: no diffusion crosses them."""
        a, b = self.face_cells
        inner = b >= 0
        mask = np.zeros(a.size, bool)
        mask[inner] = self.compartment_id[a[inner]] != self.compartment_id[b[inner]]
        return mask

    def structured_cell_index(self) -> tuple[np.ndarray, ...]:
        """Per axis cell-centre coordinates of a structured grid (FiPy orders x fastest)."""
        return tuple(0.5 * (n[1:] + n[:-1]) for n in self.nodes)


def _fipy_grid(geo: StructuredGeometry):
    spacings = [np.diff(n) for n in geo.nodes]
    origin = [n[0] for n in geo.nodes]
    if geo.cylindrical:
        mesh = fp.CylindricalGrid2D(dx=spacings[0], dy=spacings[1])
        return mesh + ((0.0,), (origin[1],))
    grid = {1: fp.Grid1D, 2: fp.Grid2D, 3: fp.Grid3D}[len(spacings)]
    keys = ("dx", "dy", "dz")[: len(spacings)]
    mesh = grid(**dict(zip(keys, spacings)))
    return mesh + tuple((o,) for o in origin)


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


def build_domain(geo: StructuredGeometry) -> Domain:
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
        axes=geo.axes,
        cylindrical=geo.cylindrical,
        nodes=geo.nodes,
        stats={"kind": "structured", "axes": list(geo.axes), "cylindrical": geo.cylindrical,
               "cells": int(mesh.numberOfCells), "faces": int(mesh.numberOfFaces),
               "min_spacing_um": float(smallest),
               "max_spacing_um": float(max(np.diff(n).max() for n in geo.nodes))},
    )
