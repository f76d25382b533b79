"""The 3D panel of a 3D run: the mesh cut open along the section through the source, the part
behind the cut opaque with its cut face coloured, and in the part cut away the membrane with the
source, the isosurfaces (white glass), membranes and the flux-carrying surfaces."""

from __future__ import annotations

import numpy as np

from .colours import Colouring, _iso_style, _mesh_kw, flux_colour
from .rundir import RunDir
from .scene import Scene, _contours, _interface_lines, _membrane_items, floor_walls
from .topology import _bounds, _poly_from_facets, _surface, grid_facets, region_cells, wall_facets
from .view import View


def scene_3d(pv, run: RunDir, grid, tname: str, scale: Colouring, view: View, levels: list[float]):
    scene = Scene(camera=view.camera, focus=view.focus)
    sub = region_cells(grid, view.region, view.exact)
    pts = np.asarray(sub.points)
    s_nodes = (pts - view.focus) @ view.keep
    cells = sub.cells_dict
    types = np.asarray(sub.celltypes)
    smax = np.full(sub.n_cells, -np.inf)
    smin = np.full(sub.n_cells, np.inf)
    for ctype, conn in cells.items():
        ids = np.flatnonzero(types == ctype)
        smax[ids] = s_nodes[np.asarray(conn)].max(axis=1)
        smin[ids] = s_nodes[np.asarray(conn)].min(axis=1)
    extent = float(np.max(np.ptp(pts, axis=0)))
    kept = smax > 1e-9 * extent
    solid = _surface(sub.extract_cells(np.flatnonzero(kept)))
    scene.items.append((solid, _mesh_kw(scale, scalars=tname)))
    outline = _interface_lines(pv, solid)
    if outline is not None:
        scene.items.append((outline, dict(color="black", line_width=2.0)))
    # the cut face lies where the kept cells begin; isosurfaces fill the part cut away, and
    # their traces on the cut face are drawn as white lines (as on the section map)
    cut = view.focus + view.keep * float(smin[kept].min() if kept.any() else 0.0)
    lift = cut - view.keep * 2e-3 * extent
    for c in _contours(pv, sub, tname, levels, scale):
        trace = c.slice(normal=tuple(view.keep), origin=tuple(lift))
        c = c.clip(normal=tuple(-view.keep), origin=tuple(cut), invert=False)
        if c.n_points:
            c = c.compute_normals(auto_orient_normals=False, consistent_normals=True)
            scene.items.append((c, _iso_style(view.camera)))
        if trace.n_points:
            scene.items.append((trace, dict(color="white", line_width=1.5)))
    # the wall with the source in the part cut away, membranes, and the named surfaces
    fac = grid_facets(sub)
    comp = np.asarray(sub.cell_data["compartment"])
    if view.camera != "top":
        floor = []
        values = []
        tv = np.asarray(sub.cell_data[tname])
        for k, side in floor_walls(run, view.camera, view.full):
            edge = view.full[k, 0 if side == "-" else 1]
            for f, own in wall_facets(fac, pts, k, edge):
                centre = pts[f].mean(axis=1)
                out = (centre - view.focus) @ view.keep < (cut - view.focus) @ view.keep
                floor.append(f[out])
                values.append(tv[own[out]])
        poly = _poly_from_facets(pv, pts, floor, clean=False)
        if poly is not None:
            poly.cell_data[tname] = np.concatenate(values)
            scene.items.append((poly, _mesh_kw(scale, scalars=tname)))
    items, flux = _membrane_items(run, fac, pts, comp, False,
                                  lambda fl: _poly_from_facets(pv, pts, fl),
                                  sheets=view.camera != "top")
    scene.items += items
    for name, fl in flux.items():                 # traces of the flux surfaces on the cut
        poly = _poly_from_facets(pv, pts, fl)
        if poly is None:
            continue
        trace = poly.slice(normal=tuple(view.keep), origin=tuple(lift))
        if trace.n_points:
            scene.items.append((trace, dict(color=flux_colour(run, name), line_width=4.0)))
    scene.items.append((sub.outline(), dict(color="grey", line_width=1.0)))
    scene.bounds = _bounds(sub)
    return scene
