"""The 3D panel: a Scene (meshes with their add_mesh styles), the parts both 3D views share
(compartment outlines, isosurfaces, membranes, flux patches, the floor) and the off-screen
Plotter that turns a Scene into pixels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .colours import MEMBRANE_COLOR, SHEET_OPACITY, Colouring, flux_colour
from .common import DIRECTIONS
from .rundir import RunDir
from .topology import (Facets, _facet_measure, _poly_from_facets, compartment_ids, face_walls,
                       interfaces, poly_facets)
from .view import fit_camera


@dataclass
class Scene:
    """What the 3D panel shows, ready for a Plotter: (mesh, add_mesh keyword arguments)."""

    items: list[tuple[object, dict]] = field(default_factory=list)
    bounds: np.ndarray | None = None
    focus: np.ndarray | None = None
    camera: str = "iso"
    note: str = ""


def _interface_lines(pv, surf, comp_name="compartment"):
    """Lines on a surface where the compartment id changes (outlines of compartments)."""
    if surf is None or surf.n_cells == 0 or comp_name not in surf.cell_data:
        return None
    fac = poly_facets(surf)
    comp = np.asarray(surf.cell_data[comp_name])
    return _poly_from_facets(pv, np.asarray(surf.points), interfaces(fac, comp))


def _contours(pv, grid, tname: str, levels: list[float], scale: Colouring):
    """Isosurfaces (3D) or isolines (2D) of the transformed field, per compartment so no value is
    interpolated across a membrane. Point array 'level' holds the level in transformed units."""
    if not levels:
        return []
    comp = compartment_ids(grid)
    out = []
    for k in np.unique(comp):
        tlev = [float(x) for x in scale.level_coords(levels, k)]   # per compartment's own bar
        sub = grid.extract_cells(np.flatnonzero(comp == k))
        t = np.asarray(sub.cell_data[tname])
        if not np.any(np.isfinite(t)):
            continue
        sub.cell_data[tname] = np.where(np.isfinite(t), t, np.nanmin(t) - 1.0)
        pts = sub.cell_data_to_point_data(pass_cell_data=False)
        lev = [x for x in tlev if np.nanmin(t) < x < np.nanmax(t)]
        if not lev:
            continue
        c = pts.contour(isosurfaces=lev, scalars=tname)
        if c.n_points:
            c.point_data["level"] = np.asarray(c.point_data[tname])
            out.append(c)
    return out


def floor_walls(run: RunDir, camera: str, full: np.ndarray) -> list[tuple[int, str]]:
    """Sides of the mesh, (axis, '-' or '+'), that carry a flux surface (the membrane with the
    channel) and face away from the camera: drawn in the part cut away, so isosurfaces stand on
    the membrane they come from. Axisymmetric runs: only the z sides (r = r_max is a cylinder)."""
    sset = run.surface_set()
    if sset is None:
        return []
    d = np.asarray(DIRECTIONS[camera][0], float)
    d /= np.linalg.norm(d)
    walls = []
    for spec in run.surfaces():
        if spec["role"] != "flux":
            continue
        for k, side in face_walls(sset.points, sset.faces[spec["name"]], full, len(run.axes)):
            if (k, side) in walls or (run.cylindrical and k == 0):
                continue
            normal = np.zeros(3)
            normal[2 if run.cylindrical else k] = -1.0 if side == "-" else 1.0
            if normal @ d < -0.1:
                walls.append((k, side))
    return walls


def _membrane_items(run: RunDir, fac: Facets, pts, comp, cylindrical, make, sheets: bool = True):
    """Membranes (compartment interfaces) as neutral translucent sheets, and the small
    flux-carrying surfaces (a channel, a cluster) as opaque patches in their legend colour.
    Returns (items, {surface name: facets}) so callers can trace every flux surface on a cut."""
    items, flux = [], {}
    exterior = fac.select(lambda a, b: b < 0)
    boundary_area, _ = _facet_measure(pts, exterior, cylindrical)
    for spec in run.surfaces():
        if spec["role"] != "flux":
            continue
        fl = run.surface_facets(spec["name"], fac, pts)
        flux[spec["name"]] = fl
        area, _ = _facet_measure(pts, fl, cylindrical)
        if area <= 0 or area >= 0.02 * max(boundary_area, 1e-300):
            continue                  # a whole membrane or wall: shown as membrane / by its trace
        poly = make(fl)
        if poly is not None and poly.n_cells:
            items.append((poly, dict(color=flux_colour(run, spec["name"]), opacity=1.0,
                                     ambient=0.6)))
    if sheets:
        mem = make(interfaces(fac, comp))
        if mem is not None and mem.n_cells:
            items.insert(0, (mem, dict(color=MEMBRANE_COLOR, opacity=SHEET_OPACITY,
                                       ambient=0.5)))
    return items, flux


class Renderer3D:
    """One off-screen Plotter reused for every picture of a call (animations)."""

    def __init__(self, pv, size: tuple[int, int]):
        self.pv = pv
        self.size = size
        self.plotter = None
        self.um_per_px: float | None = None      # of the last picture
        self.line_scale = 1.0                    # line widths × this (pictures above 100 dpi)

    def render(self, scene: Scene) -> np.ndarray:
        pv = self.pv
        if self.plotter is None:
            self.plotter = pv.Plotter(off_screen=True, window_size=list(self.size))
            self.plotter.set_background("white")
            # no depth peeling: with EGL + llvmpipe it drops translucent surfaces altogether
        p = self.plotter
        p.clear_actors()
        for mesh, kw in scene.items:
            if "line_width" in kw:
                kw = {**kw, "line_width": kw["line_width"] * self.line_scale}
            p.add_mesh(mesh, render=False, **kw)
        d, up = DIRECTIONS[scene.camera]
        # parallel projection in every view: one length per pixel everywhere in the picture,
        # so a scale bar is true wherever it is read (a perspective view has none)
        pos, focal, up, half = fit_camera(scene.bounds, d, up, self.size, True)
        # projection first: PyVista moves the camera when it switches projection
        p.enable_parallel_projection()
        p.camera_position = [pos, focal, up]
        p.camera.parallel_scale = half
        p.renderer.ResetCameraClippingRange()
        p.render()
        img = np.asarray(p.screenshot(return_img=True))[..., :3]
        self.um_per_px = 2.0 * half / img.shape[0]        # parallel scale: half the height
        return img

    def close(self):
        if self.plotter is not None:
            self.plotter.close()
            self.plotter = None
