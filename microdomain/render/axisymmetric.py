"""The 3D panel of an axisymmetric (r, z) run: the field revolved about the z axis, 270° with the
missing quadrant facing the camera, or the layer at the source all the way round (top). Points
of the (r, z) plane are stored as x = r, y = z."""

from __future__ import annotations

import math

import numpy as np

from .colours import Colouring, _iso_style, _mesh_kw, flux_colour
from .common import WEDGE
from .rundir import RunDir
from .scene import Scene, _contours, _interface_lines, _membrane_items, floor_walls
from .topology import _segments, _surface, grid_facets, region_cells, wall_facets
from .view import View


def _revolve_lines(pv, pts_rz: np.ndarray, segs: np.ndarray, thetas: np.ndarray,
                   cell_arrays: dict | None = None, point_arrays: dict | None = None):
    """Sweep segments of the (r, z) plane (x = r, y = z) about the z axis into quads."""
    if segs.size == 0:
        return None
    used, inv = np.unique(segs, return_inverse=True)
    inv = inv.reshape(segs.shape)
    r, z = pts_rz[used, 0], pts_rz[used, 1]
    nt, nu = thetas.size, used.size
    P = np.empty((nt, nu, 3))
    P[..., 0] = np.cos(thetas)[:, None] * r
    P[..., 1] = np.sin(thetas)[:, None] * r
    P[..., 2] = z
    a, b = inv[:, 0], inv[:, 1]
    k = np.arange(nt - 1)[:, None]
    quads = np.stack([k * nu + a, k * nu + b, (k + 1) * nu + b, (k + 1) * nu + a], axis=-1)
    quads = quads.reshape(-1, 4)
    faces = np.hstack([np.full((quads.shape[0], 1), 4), quads]).ravel()
    poly = pv.PolyData(P.reshape(-1, 3), faces=faces)
    for name, v in (cell_arrays or {}).items():
        poly.cell_data[name] = np.tile(np.asarray(v), nt - 1)
    for name, v in (point_arrays or {}).items():
        poly.point_data[name] = np.tile(np.asarray(v)[used], nt)
    return poly


def _place_rz(pv, poly2d, theta: float):
    """A copy of an (r, z) PolyData/grid placed in the half-plane at angle theta."""
    out = poly2d.copy()
    p = np.asarray(poly2d.points)
    q = np.empty_like(p)
    q[:, 0] = p[:, 0] * math.cos(theta)
    q[:, 1] = p[:, 0] * math.sin(theta)
    q[:, 2] = p[:, 1]
    out.points = q
    return out


def scene_revolved(pv, run: RunDir, grid, tname: str, scale: Colouring, view: View,
                   levels: list[float], azimuth: float):
    """The (r, z) field revolved about the z axis: 270° with the missing quadrant facing the
    camera (iso/side/cleft), or the layer at the source height all the way round (top)."""
    scene = Scene(camera=view.camera)
    sub = region_cells(grid, view.region, view.exact)
    pts = np.asarray(sub.points)
    comp = np.asarray(sub.cell_data["compartment"])
    tval = np.asarray(sub.cell_data[tname])
    fac = grid_facets(sub)
    rmax = float(pts[:, 0].max())
    n_full = 96
    if view.camera == "top":
        th_solid = np.linspace(0, 2 * np.pi, n_full + 1)
        th_iso = th_solid
        types_conn = sub.cells_dict
        zmin = np.full(sub.n_cells, np.inf)
        for ctype, conn in types_conn.items():
            ids = np.flatnonzero(np.asarray(sub.celltypes) == ctype)
            zmin[ids] = pts[np.asarray(conn), 1].min(axis=1)
        kept = zmin < view.focus[1] - 1e-12 * max(rmax, 1)
        cut_faces = []
    else:
        t0 = azimuth + WEDGE / 2
        th_solid = np.linspace(t0, t0 + 2 * np.pi - WEDGE, int(n_full * 0.75) + 1)
        th_iso = np.linspace(azimuth - WEDGE / 2, azimuth + WEDGE / 2, n_full // 4 + 1)
        kept = np.ones(sub.n_cells, bool)
        cut_faces = [th_solid[0], th_solid[-1]]
    # boundary of the kept cells, swept (skip edges on the axis)
    segs, vals, comps = [], [], []
    for nodes, a, b in fac.groups:
        ka = kept[a]
        kb = np.where(b >= 0, kept[np.maximum(b, 0)], False)
        edge = ka != kb
        on_axis = np.all(pts[nodes][:, :, 0] <= 1e-12 * max(rmax, 1), axis=1)
        edge &= ~on_axis
        owner = np.where(ka, a, b)
        segs.append(nodes[edge])
        vals.append(tval[owner[edge]])
        comps.append(comp[owner[edge]])
    skin = _revolve_lines(pv, pts, np.concatenate(segs), th_solid,
                          cell_arrays={tname: np.concatenate(vals), "compartment": np.concatenate(comps)})
    if skin is not None:
        scene.items.append((skin, _mesh_kw(scale, scalars=tname)))
    plane = _surface(sub.extract_cells(np.flatnonzero(kept)))
    for th in cut_faces:
        face = _place_rz(pv, plane, th)
        scene.items.append((face, _mesh_kw(scale, scalars=tname)))
        outline = _interface_lines(pv, face)
        if outline is not None:
            scene.items.append((outline, dict(color="black", line_width=2.0)))
    # isosurfaces: contour lines of the (r, z) field swept over the part left out, and the
    # same lines on the cut faces (a hair towards the opening so they are not hidden)
    lift = math.radians(0.4)
    for c in _contours(pv, sub, tname, levels, scale):
        if view.camera == "top":
            c = c.clip(normal=(0, -1, 0), origin=(0, view.focus[1], 0), invert=True)
        seg = _segments(c) if c.n_points else np.zeros((0, 2), int)
        shell = _revolve_lines(pv, np.asarray(c.points), seg, th_iso,
                               point_arrays={"level": np.asarray(c.point_data["level"])})
        if shell is not None:
            scene.items.append((shell, _iso_style(view.camera)))
        if cut_faces and seg.size:
            for th in (cut_faces[0] - lift, cut_faces[1] + lift):
                scene.items.append((_place_rz(pv, c, th), dict(color="white", line_width=1.5)))
    # the membrane with the source, in the part left out (the isosurfaces stand on it)
    if cut_faces:
        for k, side in floor_walls(run, view.camera, view.full):
            edge = view.full[k, 0 if side == "-" else 1]
            for f, own in wall_facets(fac, pts, k, edge):
                if not f.size:
                    continue
                floor = _revolve_lines(pv, pts, f, th_iso, cell_arrays={tname: tval[own]})
                if floor is not None:
                    scene.items.append((floor, _mesh_kw(scale, scalars=tname)))
    # membranes (compartment interfaces) and named surfaces, swept all the way round
    th_all = np.linspace(0, 2 * np.pi, n_full + 1)
    items, flux = _membrane_items(
        run, fac, pts, comp, True,
        lambda fl: _revolve_lines(pv, pts, np.concatenate(fl) if fl else np.zeros((0, 2), int),
                                  th_all),
        sheets=view.camera != "top")
    scene.items += items
    for name, fl in flux.items():                 # traces of the flux surfaces on the cuts
        segs = np.concatenate(fl) if fl else np.zeros((0, 2), int)
        if not segs.size or not cut_faces:
            continue
        lines = pv.PolyData(pts, lines=np.hstack([np.full((len(segs), 1), 2), segs]).ravel())
        for th in (cut_faces[0] - lift, cut_faces[1] + lift):
            scene.items.append((_place_rz(pv, lines, th),
                                dict(color=flux_colour(run, name), line_width=4.0)))
    # the axis
    z0, z1 = float(pts[:, 1].min()), float(pts[:, 1].max())
    scene.items.append((pv.Line((0, 0, z0), (0, 0, z1 + 0.08 * (z1 - z0))),
                        dict(color="black", line_width=1.0)))
    scene.bounds = np.array([[-rmax, rmax], [-rmax, rmax], [z0, z1]])
    scene.focus = np.array([0.0, 0.0, view.focus[1]])
    return scene
