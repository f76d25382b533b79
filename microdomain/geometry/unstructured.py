"""Unstructured (Gmsh or any meshio-readable) meshes: what a builder hands to :mod:`microdomain.mesh`.

A builder of this kind writes a mesh file with physical tags and returns an
:class:`UnstructuredGeometry` naming it. This module reads such a file with meshio and turns it
into plain numpy: vertex coordinates (µm), cells in a fixed order, the faces of those cells
(unique, vertex order cyclic, as FiPy wants them) and, per tagged boundary element, the face it
lies on. No FiPy here; :func:`microdomain.mesh.build_domain` makes the FiPy mesh.

Tags: the top-dimensional physical groups are compartments, the groups one dimension lower are
surfaces (membranes or outer walls). An element may carry several surface tags (a pore inside a
punctum patch): each becomes its own face set.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

OUTSIDE = "outside"

# Local faces of each cell type, vertex order cyclic (meshio / VTK node numbering).
CELL_FACES: dict[str, tuple[tuple[int, ...], ...]] = {
    "triangle": ((0, 1), (1, 2), (2, 0)),
    "quad": ((0, 1), (1, 2), (2, 3), (3, 0)),
    "tetra": ((0, 1, 2), (0, 1, 3), (1, 2, 3), (0, 2, 3)),
    "wedge": ((0, 1, 2), (3, 4, 5), (0, 1, 4, 3), (1, 2, 5, 4), (2, 0, 3, 5)),
    "pyramid": ((0, 1, 2, 3), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)),
    "hexahedron": ((0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6),
                   (3, 0, 4, 7)),
}
CELL_DIM = {"triangle": 2, "quad": 2, "tetra": 3, "wedge": 3, "pyramid": 3, "hexahedron": 3}
FACET_TYPES = {2: ("line",), 3: ("triangle", "quad")}
TAG_KEYS = ("gmsh:physical", "medit:ref", "cell_tags", "physical", "tag")


class MeshFileError(ValueError):
    """A mesh file that cannot serve as a domain (unreadable, untagged, wrong tags)."""


@dataclass(frozen=True)
class SurfaceClaim:
    """A named surface and the compartment pairs it must lie between (None: any one pair)."""

    name: str
    between: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class UnstructuredGeometry:
    """A tagged mesh file plus what the builder promises about it.

    `compartments` fixes the order of compartment ids; `surfaces` the face sets to build (each
    checked against its claim at load); `reference` holds the analytic volumes (µm³), areas (µm²)
    and clefts of the idealised shapes the builder meant, for tests and the manifest.
    """

    path: Path
    dim: int
    cylindrical: bool
    compartments: tuple[str, ...]
    surfaces: tuple[SurfaceClaim, ...]
    length_scale: float = 1.0                       # file coordinates × scale = µm
    reference: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    @property
    def axes(self) -> tuple[str, ...]:
        return ("r", "z") if self.cylindrical else ("x", "y", "z")[: self.dim]


@dataclass(frozen=True)
class TaggedMesh:
    """A mesh file read into numpy (coordinates in µm)."""

    points: np.ndarray                     # (n_points, dim)
    cell_blocks: list[tuple[str, np.ndarray]]
    cell_tags: np.ndarray                  # per cell (all blocks, in order): index into cell_tag_names
    cell_tag_names: tuple[str, ...]
    facets: list[tuple[str, np.ndarray, str]]   # (type, connectivity, tag name) per tagged boundary element block
    dim: int

    @property
    def n_cells(self) -> int:
        return int(self.cell_tags.size)


@dataclass(frozen=True)
class Faces:
    """Unique faces of the cells: FiPy's arrays (padded with -1) plus a lookup by vertex set."""

    face_vertices: np.ndarray      # (max vertices per face, n_faces), -1 padded, cyclic order
    cell_faces: np.ndarray         # (max faces per cell, n_cells), -1 padded
    keys: np.ndarray               # (n_faces, max vertices per face) sorted vertex ids, -1 padded

    def lookup(self, facets: np.ndarray) -> np.ndarray:
        """Face index of each facet (rows of vertex ids); -1 where no cell has that face."""
        width = self.keys.shape[1]
        if facets.shape[1] > width:
            return np.full(facets.shape[0], -1)
        k = np.full((facets.shape[0], width), -1, np.int64)
        k[:, : facets.shape[1]] = facets
        k = np.sort(k, axis=1)
        rows = _row_view(self.keys)
        want = _row_view(k)
        order = np.argsort(rows)
        pos = np.searchsorted(rows, want, sorter=order)
        pos = np.clip(pos, 0, rows.size - 1)
        hit = rows[order[pos]] == want
        return np.where(hit, order[pos], -1)


def _row_view(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()


# --------------------------------------------------------------------------- reading --

def _tag_arrays(mesh) -> tuple[str | None, dict[int, str]]:
    key = next((k for k in TAG_KEYS if k in mesh.cell_data), None)
    names: dict[tuple[int, int], str] = {}
    for name, data in (mesh.field_data or {}).items():
        arr = np.atleast_1d(np.asarray(data))
        if arr.size >= 2:
            names[(int(arr[0]), int(arr[1]))] = name
        elif arr.size == 1:
            names[(int(arr[0]), -1)] = name
    return key, names


def _tag_name(names, tag: int, dim: int) -> str:
    return names.get((tag, dim)) or names.get((tag, -1)) or f"tag{tag}"


def read_tagged_mesh(path: str | Path, length_scale: float = 1.0, dim: int | None = None) -> TaggedMesh:
    """Read any meshio format whose cells carry physical tags (Gmsh MSH 2.2/4.1, MEDIT, ...)."""
    import meshio

    path = Path(path)
    _check_mesh_path(path)
    # .msh is also ANSYS's extension; meshio would try (and print a blank line for) that first
    file_format = "gmsh" if path.suffix.lower() == ".msh" else None
    said = io.StringIO()
    try:
        # meshio prints its reader's complaint and then calls sys.exit(1) when no reader
        # succeeds: keep the words for our message and the exit out of the caller's way
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            mesh = meshio.read(path, file_format=file_format)
    except (Exception, SystemExit) as exc:  # meshio raises many types for foreign files
        why = " ".join(said.getvalue().split()) or str(exc)
        raise MeshFileError(f"cannot read mesh file {str(path)!r}: {why}") from None
    present = {b.type for b in mesh.cells}
    if dim is None:
        dim = 3 if present & {"tetra", "wedge", "pyramid", "hexahedron"} else 2
    key, names = _tag_arrays(mesh)
    if key is None:
        raise MeshFileError(f"mesh file {str(path)!r} has no physical tags (cell data "
                            f"{', '.join(mesh.cell_data) or 'none'}); tag compartments and surfaces "
                            "with physical groups")
    blocks, tags, facets = [], [], []
    for block, data in zip(mesh.cells, mesh.cell_data[key]):
        data = np.asarray(data).astype(np.int64)
        if CELL_DIM.get(block.type) == dim:
            blocks.append((block.type, np.asarray(block.data, np.int64)))
            tags.append(data)
        elif block.type in FACET_TYPES[dim]:
            for t in np.unique(data):
                if t == 0:
                    continue
                facets.append((block.type, np.asarray(block.data, np.int64)[data == t],
                               _tag_name(names, int(t), dim - 1)))
        elif CELL_DIM.get(block.type, 0) > dim or (block.type not in CELL_DIM and block.type not in
                                                    ("vertex", "line", "triangle", "quad")):
            raise MeshFileError(f"mesh file {str(path)!r}: cells of type {block.type!r} are not "
                                f"supported in a {dim}D domain (supported: "
                                f"{', '.join(t for t, d in CELL_DIM.items() if d == dim)})")
    if not blocks:
        raise MeshFileError(f"mesh file {str(path)!r} has no {dim}D cells")
    tags_all = np.concatenate(tags)
    if np.any(tags_all == 0):
        raise MeshFileError(f"mesh file {str(path)!r}: {int(np.sum(tags_all == 0))} cells carry no "
                            "physical tag; every cell must belong to a compartment")
    uniq = np.unique(tags_all)
    tag_names = tuple(_tag_name(names, int(t), dim) for t in uniq)
    index = np.searchsorted(uniq, tags_all)
    points = np.asarray(mesh.points, float)[:, :dim] * length_scale
    return TaggedMesh(points, blocks, index, tag_names, facets, dim)


def _check_mesh_path(path: Path) -> None:
    """A mesh file is a non-empty regular file (not a directory, device or FIFO)."""
    if not path.exists():
        raise MeshFileError(f"mesh file {str(path)!r} does not exist")
    if not path.is_file():
        raise MeshFileError(f"mesh file {str(path)!r} is not a regular file")
    if path.stat().st_size == 0:
        raise MeshFileError(f"mesh file {str(path)!r} is empty")


@lru_cache(maxsize=32)
def _tags_cached(path: str, mtime: float) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    m = read_tagged_mesh(path, 1.0)
    return m.dim, m.cell_tag_names, tuple(dict.fromkeys(name for _, _, name in m.facets))


def mesh_tags(path: str | Path) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    """(dimension, compartment tags, surface tags) of a mesh file, cached while it is unchanged."""
    path = Path(path)
    _check_mesh_path(path)
    return _tags_cached(str(path.resolve()), os.path.getmtime(path))


# ----------------------------------------------------------------------------- faces --

def build_faces(cell_blocks: list[tuple[str, np.ndarray]]) -> Faces:
    """Unique faces of all cells (in block order) with FiPy's padding conventions."""
    local_faces, owners, slots = [], [], []
    max_fv = max(len(f) for t, _ in cell_blocks for f in CELL_FACES[t])
    max_fc = max(len(CELL_FACES[t]) for t, _ in cell_blocks)
    offset = 0
    for ctype, conn in cell_blocks:
        for j, lf in enumerate(CELL_FACES[ctype]):
            verts = np.full((conn.shape[0], max_fv), -1, np.int64)
            verts[:, : len(lf)] = conn[:, lf]
            local_faces.append(verts)
            owners.append(np.arange(offset, offset + conn.shape[0]))
            slots.append(np.full(conn.shape[0], j))
        offset += conn.shape[0]
    allf = np.concatenate(local_faces)
    owner = np.concatenate(owners)
    slot = np.concatenate(slots)
    keys = np.sort(allf, axis=1)          # padding (-1) first, then ascending vertex ids
    _, first, inverse = np.unique(_row_view(keys), return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    face_vertices = allf[first].T.copy()
    cell_faces = np.full((max_fc, offset), -1, np.int64)
    cell_faces[slot, owner] = inverse
    return Faces(face_vertices, cell_faces, keys[first])


def polygon_r_moment(points: np.ndarray, conn: np.ndarray) -> np.ndarray:
    """∫ r dA over each polygon (rows of vertex ids, cyclic) in the (r, z) plane: the volume per
    radian of the body of revolution (Pappus), exact for straight-sided cells."""
    x = points[conn, 0]
    y = points[conn, 1]
    x1 = np.roll(x, -1, axis=1)
    y1 = np.roll(y, -1, axis=1)
    cross = x * y1 - x1 * y
    return np.abs(np.sum((x + x1) * cross, axis=1) / 6.0)


def signed_measures(points: np.ndarray, cell_blocks) -> np.ndarray:
    """Signed area (triangles, quads) or volume (tetrahedra) of every cell from its vertex order
    (negative = inverted element); NaN for cell types without a defined orientation here."""
    out = []
    for ctype, conn in cell_blocks:
        p = points[conn]
        if ctype in ("triangle", "quad"):
            x, y = p[..., 0], p[..., 1]
            out.append(0.5 * np.sum(x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y, axis=1))
        elif ctype == "tetra":
            out.append(np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]),
                                 p[:, 3] - p[:, 0]) / 6.0)
        else:
            out.append(np.full(conn.shape[0], np.nan))
    return np.concatenate(out)
