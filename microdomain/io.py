"""Files of the run directory, each written atomically (temporary file, then rename), so an
interrupted run leaves only complete files behind."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import quoteattr

import meshio
import numpy as np


def umask() -> int:
    """The process's umask, read without changing it where Linux tells it (os.umask would set
    it for a moment, which other threads creating files would see)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600 files: give the mode a plain open() would, so a colleague on a
        # shared directory can read the run as far as the user's umask allows
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_csv(path: Path, header: list[str], rows: list[list[float]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{x:.10g}" for x in row])
    atomic_write_text(path, buf.getvalue())


def structured_cells(nodes: tuple[np.ndarray, ...], cylindrical: bool):
    """Points and VTK cells of a tensor-product grid, in FiPy's cell order (first axis fastest).

    Cylindrical (r, z) grids are written in the plane x = r, y = z.
    """
    shape = [n.size for n in nodes]
    grids = np.meshgrid(*nodes, indexing="ij")
    points = np.zeros((int(np.prod(shape)), 3))
    for i, g in enumerate(grids):
        points[:, i] = g.ravel(order="F")       # first axis fastest, like FiPy
    node_id = np.arange(points.shape[0]).reshape(shape, order="F")
    if len(nodes) == 1:
        return points, [("line", np.stack([node_id[:-1], node_id[1:]], axis=1))]
    if len(nodes) == 2:
        n = node_id
        quads = np.stack([n[:-1, :-1], n[1:, :-1], n[1:, 1:], n[:-1, 1:]], axis=-1)
        return points, [("quad", quads.reshape(-1, 4, order="F"))]
    n = node_id
    hexes = np.stack([n[:-1, :-1, :-1], n[1:, :-1, :-1], n[1:, 1:, :-1], n[:-1, 1:, :-1],
                      n[:-1, :-1, 1:], n[1:, :-1, 1:], n[1:, 1:, 1:], n[:-1, 1:, 1:]], axis=-1)
    return points, [("hexahedron", hexes.reshape(-1, 8, order="F"))]


REVOLVED_CELL = {"quad": "hexahedron", "triangle": "wedge"}


def revolved_cells(points: np.ndarray, cells, segments: int):
    """An axisymmetric (r, z) mesh, written in the plane x = r, y = z, turned into the 3D solid
    it stands for: `segments` copies of the section about the z axis, each (r, z) cell swept
    into a hexahedron (quads) or wedge (triangles) between consecutive angles. Points on the
    axis are repeated per angle (degenerate faces, which ParaView and VTK accept). Returns
    points, cell blocks and, per 3D cell, the index of its (r, z) cell (to repeat cell data).

    The swept cells have chords, not arcs: their volumes sum to the exact 2π∫r dA times
    sin(2π/N)/(2π/N) (0.989 at N = 24); the (r, z) frames stay the data of record."""
    (kind, conn), = cells
    if kind not in REVOLVED_CELL:
        raise ValueError(f"cannot revolve {kind} cells; an (r, z) mesh has quads or triangles")
    conn = np.asarray(conn)
    r, z = points[:, 0], points[:, 1]
    theta = 2.0 * np.pi * np.arange(segments) / segments
    points3 = np.concatenate([np.stack([r * np.cos(t), r * np.sin(t), z], axis=1) for t in theta])
    # VTK's hexahedron and wedge want the first face ordered so that the swept volume is
    # positive: clockwise in (r, z) when sweeping towards +θ
    x, y = r[conn], z[conn]
    ccw = np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1) > 0
    conn = np.where(ccw[:, None], conn[:, ::-1], conn)
    n = points.shape[0]
    swept = [np.concatenate([conn + j * n, conn + (j + 1) % segments * n], axis=1)
             for j in range(segments)]
    return (points3, [(REVOLVED_CELL[kind], np.concatenate(swept))],
            np.tile(np.arange(conn.shape[0]), segments))


def vtk_grid(points: np.ndarray, cells) -> "pyvista.UnstructuredGrid":  # noqa: F821
    """A PyVista grid of meshio-style cell blocks, cells in the order given (FiPy's)."""
    import pyvista as pv

    return pv.from_meshio(meshio.Mesh(points, cells))


def set_field_data(grid, values: dict) -> None:
    """VTK field data: lists of strings become string arrays (names, units), numbers arrays."""
    for key, value in values.items():
        grid.field_data[key] = np.asarray(value) if len(value) else np.asarray([""])


def write_vtu(path: Path, grid) -> None:
    """One VTU (binary, zlib), written to a temporary name and renamed into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.vtu")
    try:
        grid.save(tmp, binary=True)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


class VTKSeries:
    """NAME.pvd + NAME/frame_NNNNN.vtu (NAME = "fields" by default), the PVD rewritten after
    every frame. `field_data` (names, units) goes into every frame, with the frame's time as
    `TimeValue`."""

    def __init__(self, out_dir: Path, grid, field_data: dict | None = None, name: str = "fields"):
        self.dir = Path(out_dir)
        self.name = name
        (self.dir / name).mkdir(parents=True, exist_ok=True)
        self.grid = grid
        self.field_data = dict(field_data or {})
        self.entries: list[tuple[float, str]] = []

    def write(self, t: float, arrays: dict[str, np.ndarray]) -> Path:
        name = f"{self.name}/frame_{len(self.entries):05d}.vtu"
        grid = self.grid            # one grid, its arrays replaced frame by frame
        grid.clear_cell_data()
        for key, value in arrays.items():
            grid.cell_data[key] = np.ascontiguousarray(value)
        set_field_data(grid, {**self.field_data, "TimeValue": [float(t)]})
        target = self.dir / name
        write_vtu(target, grid)
        self.entries.append((t, name))
        datasets = "\n".join(f'    <DataSet timestep="{t!r}" part="0" file={quoteattr(f)}/>'
                             for t, f in self.entries)
        atomic_write_text(self.dir / f"{self.name}.pvd",
                          '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n'
                          f"  <Collection>\n{datasets}\n  </Collection>\n</VTKFile>\n")
        return target


def write_surfaces(path: Path, vertex_coords: np.ndarray, face_vertices: np.ndarray,
                   surfaces: dict[str, np.ndarray], field_data: dict | None = None) -> None:
    """The named face sets as one VTU: points (1D), lines (2D), triangles or quads (3D), with a cell
    array `surface` indexing the names in the order given (manifest.json's mesh.surfaces)."""
    points = np.zeros((vertex_coords.shape[1], 3))
    points[:, : vertex_coords.shape[0]] = vertex_coords.T
    kinds = {1: "vertex", 2: "line", 3: "triangle", 4: "quad"}
    blocks: dict[str, tuple[list, list]] = {}
    for index, faces in enumerate(surfaces.values()):
        fv = face_vertices[:, faces]
        for n_vertices, kind in kinds.items():
            # a column is a face; masked (or -1) entries pad faces with fewer vertices
            sel = np.sum(fv >= 0, axis=0) == n_vertices
            if np.any(sel):
                conn, ids = blocks.setdefault(kind, ([], []))
                conn.append(fv[:n_vertices, sel].T)
                ids.append(np.full(int(sel.sum()), index, np.int32))
    if not blocks:
        return
    cells = [(kind, np.concatenate(conn)) for kind, (conn, _) in blocks.items()]
    grid = vtk_grid(points, cells)
    grid.cell_data["surface"] = np.concatenate([np.concatenate(ids) for _, ids in blocks.values()])
    set_field_data(grid, field_data or {})
    write_vtu(path, grid)


def read_pvd(path: Path) -> list[tuple[float, str]]:
    """(time, file) of every frame listed in a fields.pvd."""
    root = ET.parse(path).getroot()
    return [(float(d.get("timestep")), d.get("file")) for d in root.iter("DataSet")]


def read_csv_rows(path: Path) -> list[list[float]]:
    rows = list(csv.reader(Path(path).read_text().splitlines()))
    return [[float(x) for x in row] for row in rows[1:]]
