"""Mesh topology: facets (edges in 2D, faces in 3D) with the cells on either side, compartment
interfaces, the named surfaces of surfaces.vtu placed on a frame's mesh, and small grid helpers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import RenderError

_LOCAL_FACETS = {
    3: [(0, 1)],                                                         # line: itself (1D)
    5: [(0, 1), (1, 2), (2, 0)],                                         # triangle
    9: [(0, 1), (1, 2), (2, 3), (3, 0)],                                 # quad
    10: [(0, 1, 2), (0, 1, 3), (1, 2, 3), (0, 2, 3)],                    # tetra
    12: [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
    13: [(0, 1, 2), (3, 4, 5), (0, 1, 4, 3), (1, 2, 5, 4), (2, 0, 3, 5)],  # wedge
    14: [(0, 3, 2, 1), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)],      # pyramid (clip_box)
}


@dataclass
class Facets:
    """Cell facets grouped by node count: node ids, the owning cell and the neighbour (-1: none)."""

    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]]

    def select(self, predicate) -> list[np.ndarray]:
        """Node-id arrays of the facets for which predicate(owner, neighbour) holds."""
        return [nodes[predicate(a, b)] for nodes, a, b in self.groups]


def cell_facets(cells_by_type: dict[int, tuple[np.ndarray, np.ndarray]]) -> Facets:
    """Facets of cells given as {vtk cell type: ((n, k) node ids, (n,) global cell ids)}."""
    by_size: dict[int, tuple[list, list]] = {}
    for ctype, (conn, ids) in cells_by_type.items():
        if ctype not in _LOCAL_FACETS:
            raise RenderError(f"cells of VTK type {ctype} are not supported")
        for local in _LOCAL_FACETS[ctype]:
            nodes_l, cells_l = by_size.setdefault(len(local), ([], []))
            nodes_l.append(conn[:, local])
            cells_l.append(ids)
    groups = []
    for size, (nodes_l, cells_l) in by_size.items():
        nodes = np.concatenate(nodes_l)
        cells = np.concatenate(cells_l)
        key = np.sort(nodes, axis=1)
        _, first, inverse, counts = np.unique(key, axis=0, return_index=True, return_inverse=True,
                                              return_counts=True)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        owner = cells[order[starts]]
        second = np.where(counts >= 2, order[np.minimum(starts + 1, order.size - 1)], -1)
        neighbour = np.where(second >= 0, cells[np.maximum(second, 0)], -1)
        groups.append((nodes[order[starts]], owner, neighbour))
    return Facets(groups)


def grid_facets(grid) -> Facets:
    cells = {}
    types = np.asarray(grid.celltypes)
    for ctype, conn in grid.cells_dict.items():
        cells[int(ctype)] = (np.asarray(conn), np.flatnonzero(types == ctype))
    return cell_facets(cells)


def poly_facets(poly) -> Facets:
    """Edges of the polygons of a PolyData (all of one size or mixed)."""
    faces = np.asarray(poly.faces)
    conn: dict[int, tuple] = {}
    i = 0
    sizes = []
    while i < faces.size:
        n = int(faces[i])
        sizes.append((n, i + 1))
        i += n + 1
    by_n: dict[int, tuple[list, list]] = {}
    for cell, (n, start) in enumerate(sizes):
        rows, ids = by_n.setdefault(n, ([], []))
        rows.append(faces[start:start + n])
        ids.append(cell)
    for n, (rows, ids) in by_n.items():
        ctype = {3: 5, 4: 9}.get(n)
        if ctype is None:
            continue
        conn[ctype] = (np.asarray(rows), np.asarray(ids))
    return cell_facets(conn)


def nodes_key(f: np.ndarray) -> np.ndarray:
    """One comparable value per facet (its sorted node ids), for np.isin."""
    key = np.ascontiguousarray(np.sort(np.asarray(f, np.int64), axis=1))
    return key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()


def interfaces(fac: Facets, comp: np.ndarray) -> list[np.ndarray]:
    """Facets between cells of different compartments (the membranes)."""
    return fac.select(lambda a, b: (b >= 0) & (comp[a] != comp[np.maximum(b, 0)]))


def _poly_from_facets(pv, points: np.ndarray, facet_lists: list[np.ndarray], clean: bool = True):
    """PolyData of facets: lines (2-node facets) or polygons (cells in the order given)."""
    lines, polys = [], []
    for f in facet_lists:
        if f.size == 0:
            continue
        flat = np.hstack([np.full((f.shape[0], 1), f.shape[1]), f]).ravel()
        (lines if f.shape[1] == 2 else polys).append(flat)
    kw = {}
    if lines:
        kw["lines"] = np.concatenate(lines)
    if polys:
        kw["faces"] = np.concatenate(polys)
    if not kw:
        return None
    poly = pv.PolyData(np.asarray(points, float), **kw)
    return poly.clean() if clean else poly


def _facet_measure(points: np.ndarray, facet_lists: list[np.ndarray], cylindrical: bool):
    """(total measure, centroid) of facets: length (×2πr if cylindrical) or polygon area."""
    total, moment = 0.0, np.zeros(3)
    for f in facet_lists:
        if f.size == 0:
            continue
        p = points[f]
        c = p.mean(axis=1)
        if f.shape[1] == 2:
            m = np.linalg.norm(p[:, 1] - p[:, 0], axis=1)
            if cylindrical:
                m = m * np.maximum(c[:, 0], 1e-3 * m)
        else:
            m = 0.5 * np.linalg.norm(np.cross(p[:, 2] - p[:, 0], p[:, -1] - p[:, 1 % f.shape[1]])
                                     if f.shape[1] == 4 else
                                     np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
        total += float(m.sum())
        moment += (m[:, None] * c).sum(axis=0)
    if total <= 0:
        return 0.0, None
    return total, moment / total


# ---------------------------------------------------------------------------------------------
# named surfaces (surfaces.vtu) on the mesh of a frame


def match_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For each point of src the index of the point of dst at the same place (up to round-off:
    surfaces.vtu holds the solver's vertices, the frames the builder's nodes), -1 where none."""
    from scipy.spatial import cKDTree

    if len(src) == 0 or len(dst) == 0:
        return np.full(len(src), -1, np.int64)
    tol = 1e-9 * max(float(np.max(np.ptp(dst, axis=0))), 1e-30)
    dist, index = cKDTree(dst).query(src, distance_upper_bound=tol)
    return np.where(np.isfinite(dist), index, -1).astype(np.int64)


def named_facets(points: np.ndarray, faces: list[np.ndarray], fac: Facets,
                 grid_points: np.ndarray) -> list[np.ndarray]:
    """The facets of a mesh (one node-id array per facet group, in its point numbering) that are
    faces of a named surface given as node ids into `points` (surfaces.vtu). Faces not in the
    mesh (outside the part of it shown) are left out."""
    used = np.unique(np.concatenate([f.ravel() for f in faces])) if faces else np.zeros(0, int)
    to_grid = np.full(len(points), -1, np.int64)
    to_grid[used] = match_points(np.asarray(points)[used], np.asarray(grid_points))
    keys: dict[int, list[np.ndarray]] = {}
    for f in faces:
        g = to_grid[f]
        keys.setdefault(f.shape[1], []).append(nodes_key(g[np.all(g >= 0, axis=1)]))
    out = []
    for nodes, _, _ in fac.groups:
        k = keys.get(nodes.shape[1])
        if not k:
            out.append(nodes[:0])
            continue
        out.append(nodes[np.isin(nodes_key(nodes), np.concatenate(k))])
    return out


def _tolerance(extent: np.ndarray) -> float:
    """A length far below the smallest facet (extent: per facet, its largest extent)."""
    pos = extent[extent > 0]
    return 1e-6 * max(float(pos.min()) if pos.size else 1.0, 1e-12)


def face_walls(points: np.ndarray, faces: list[np.ndarray], full: np.ndarray,
               n_axes: int) -> list[tuple[int, str]]:
    """The sides of the mesh's bounding box, (axis, '-' or '+'), that faces lie on."""
    walls = []
    for f in faces:
        if f.size == 0 or f.shape[1] < 2:
            continue
        p = np.asarray(points)[f]
        centre = p.mean(axis=1)
        extent = p.max(axis=1) - p.min(axis=1)
        tol = _tolerance(np.max(extent, axis=1))
        for i in range(n_axes):
            flat = extent[:, i] <= tol
            for side, edge in (("-", full[i, 0]), ("+", full[i, 1])):
                if (i, side) not in walls and np.any(flat & (np.abs(centre[:, i] - edge) <= tol)):
                    walls.append((i, side))
    return walls


def wall_facets(fac: Facets, points: np.ndarray, axis: int, edge: float):
    """Exterior facets in the plane coordinate[axis] = edge: [(node ids, owner cells)] per group."""
    out = []
    for nodes, a, b in fac.groups:
        p = points[nodes]
        centre = p.mean(axis=1)
        extent = p.max(axis=1) - p.min(axis=1)
        tol = _tolerance(np.max(extent, axis=1))
        mask = (b < 0) & (np.abs(centre[:, axis] - edge) <= tol) & (extent[:, axis] <= tol)
        out.append((nodes[mask], a[mask]))
    return out


# ---------------------------------------------------------------------------------------------
# grids


def compartment_ids(grid) -> np.ndarray:
    return (np.asarray(grid.cell_data["compartment"]) if "compartment" in grid.cell_data else
            np.zeros(grid.n_cells, int))


def _surface(grid):
    """Outer surface with cell data (PyVista ≥ 0.47 asks for the algorithm explicitly)."""
    try:
        return grid.extract_surface(algorithm=None)
    except TypeError:
        return grid.extract_surface()


def _cell_centres(grid) -> np.ndarray:
    return np.asarray(grid.cell_centers().points)


def _cell_sizes(grid) -> np.ndarray:
    sized = grid.compute_cell_sizes(length=True, area=True, volume=True)
    dim = int(np.sum(np.ptp(np.asarray(grid.points), axis=0) > 0))
    key = {1: "Length", 2: "Area", 3: "Volume"}[max(dim, 1)]
    m = np.abs(np.asarray(sized.cell_data[key]))
    return m ** (1.0 / max(dim, 1))


def _in_region(grid, region: np.ndarray) -> np.ndarray:
    c = _cell_centres(grid)
    return np.all((c >= region[:, 0] - 1e-12) & (c <= region[:, 1] + 1e-12), axis=1)


def _touches_region(grid, region: np.ndarray) -> np.ndarray:
    """Cells whose bounding box overlaps the region (a map clipped by its axes shows them)."""
    pts = np.asarray(grid.points)
    lo = np.full((grid.n_cells, 3), np.inf)
    hi = np.full((grid.n_cells, 3), -np.inf)
    types = np.asarray(grid.celltypes) if hasattr(grid, "celltypes") else None
    if types is None:                                  # PolyData: one polygon at a time
        faces, i, k = np.asarray(grid.faces), 0, 0
        while i < faces.size:
            n = int(faces[i])
            p = pts[faces[i + 1:i + 1 + n]]
            lo[k], hi[k] = p.min(axis=0), p.max(axis=0)
            i, k = i + n + 1, k + 1
    else:
        for ctype, conn in grid.cells_dict.items():
            ids = np.flatnonzero(types == ctype)
            p = pts[np.asarray(conn)]
            lo[ids], hi[ids] = p.min(axis=1), p.max(axis=1)
    tol = 1e-12
    return np.all((hi >= region[:, 0] - tol) & (lo <= region[:, 1] + tol), axis=1)


def region_cells(grid, region: np.ndarray, exact: bool):
    """The part of a grid shown in a region: the cells cut exactly at its box (exact; cells
    split by VTK's box clip, cell data kept) or the cells whose centres lie inside."""
    if exact:
        box = np.array(region, float)
        flat = box[:, 1] - box[:, 0] <= 0             # (r, z) and 2D grids: z = 0 only
        box[flat] += np.array([-1.0, 1.0])
        return grid.clip_box(tuple(box.ravel()), invert=False)
    return grid.extract_cells(np.flatnonzero(_in_region(grid, region)))


def _bounds(grid) -> np.ndarray:
    return np.asarray(grid.bounds, float).reshape(3, 2)


def _segments(poly) -> np.ndarray:
    """Two-node segments of the lines of a PolyData."""
    lines = np.asarray(poly.lines)
    segs, i = [], 0
    while i < lines.size:
        n = int(lines[i])
        ids = lines[i + 1:i + 1 + n]
        segs.append(np.stack([ids[:-1], ids[1:]], axis=1))
        i += n + 1
    return np.concatenate(segs) if segs else np.zeros((0, 2), int)
