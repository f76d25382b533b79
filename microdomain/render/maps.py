"""The 2D map (matplotlib): the (r, z) plane or 2D mesh itself, or for 3D runs the section
through the source, with isolines, compartment outlines, flux surfaces and baths."""

from __future__ import annotations

import numpy as np

from .colours import NAN_COLOR, Colouring, _cmap, flux_colour
from .common import _length_unit, _pyvista
from .rundir import RunDir
from .scene import _contours
from .topology import (_cell_centres, _cell_sizes, _poly_from_facets, _segments, _touches_region,
                       grid_facets, interfaces)
from .view import View


def _section(pv, run: RunDir, grid, tname: str, view: View):
    """The 2D picture beside the 3D view: (mesh of 2D cells, (i, j) coordinates shown).
    Axisymmetric and 2D runs: the mesh itself; 3D runs: the slice through the focus."""
    if run.kind in ("axisymmetric", "2d"):
        sub = grid
        ij = (0, 1)
    else:
        normal = (0.0, 0.0, 1.0) if view.camera == "top" else (0.0, 1.0, 0.0)
        sub = grid.slice(normal=normal, origin=tuple(view.focus))
        ij = (0, 1) if view.camera == "top" else (0, 2)
    return sub, ij


def _tensor_grid(mesh, ij):
    """(x nodes, y nodes, (i, j) cell indices) if the cells are the rectangles of a tensor grid
    in the plane of axes ij, else None."""
    pts = np.asarray(mesh.points)[:, ij]
    span = np.ptp(pts, axis=0)
    if np.any(span <= 0):
        return None
    tol = 1e-9 * float(span.max())
    xn = _unique_tol(pts[:, 0], tol)
    yn = _unique_tol(pts[:, 1], tol)
    if (xn.size - 1) * (yn.size - 1) != mesh.n_cells:
        return None
    c = _cell_centres(mesh)[:, ij]
    i = np.searchsorted(xn, c[:, 0]) - 1
    j = np.searchsorted(yn, c[:, 1]) - 1
    if i.min() < 0 or j.min() < 0 or np.unique(i * yn.size + j).size != mesh.n_cells:
        return None
    return xn, yn, (i, j)


def _unique_tol(x: np.ndarray, tol: float) -> np.ndarray:
    x = np.sort(x)
    keep = np.concatenate([[True], np.diff(x) > tol])
    return x[keep]


def _polygons(poly_or_grid, ij) -> list[np.ndarray]:
    """Vertices (in the plane of axes ij) of every 2D cell, in cell order."""
    pts = np.asarray(poly_or_grid.points)[:, ij]
    if not isinstance(poly_or_grid, _pyvista().PolyData):
        out: list = [None] * poly_or_grid.n_cells
        types = np.asarray(poly_or_grid.celltypes)
        for ctype, conn in poly_or_grid.cells_dict.items():
            for i, c in zip(np.flatnonzero(types == ctype), np.asarray(conn)):
                out[i] = pts[c]
        return out
    faces = np.asarray(poly_or_grid.faces)
    out, i = [], 0
    while i < faces.size:
        n = int(faces[i])
        out.append(pts[faces[i + 1:i + 1 + n]])
        i += n + 1
    return out


def draw_map(ax, pv, run: RunDir, grid, tname: str, field_name: str, scale: Colouring, view: View,
             levels: list[float]):
    """The (r, z) map or the 3D section: cells, isolines, compartment outlines, surfaces."""
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.colors import Normalize

    sec, ij = _section(pv, run, grid, tname, view)
    cmap = _cmap()
    region = view.region
    extent = max(float(np.ptp(region[ij[0]])), float(np.ptp(region[ij[1]])))
    unit, f = _length_unit(extent)
    box = (region[ij[0]] * f, region[ij[1]] * f)
    if sec.n_cells:
        # the colour coordinate of the scenes (log10 µM, or the fraction of the compartment's
        # own bar): NaN where the field is absent or ≤ 0 on a log scale
        shown = np.asarray(sec.cell_data[tname], float)
        norm = Normalize(*scale.tlim)
        mesh = _tensor_grid(sec, ij)
        if mesh is not None:                       # rectangles on a tensor grid: one image
            xn, yn, index = mesh
            C = np.full((yn.size - 1, xn.size - 1), np.nan)
            C[index[1], index[0]] = shown
            ax.pcolormesh(xn * f, yn * f, np.ma.masked_invalid(C), cmap=cmap, norm=norm,
                          shading="flat", rasterized=True)
        else:
            inside = _touches_region(sec, region)
            verts = [v * f for k, v in enumerate(_polygons(sec, ij)) if inside[k]]
            colours = cmap(norm(shown[inside]))
            colours[~np.isfinite(shown[inside])] = (*NAN_COLOR, 1.0)
            ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors=colours,
                                             linewidths=0.3, antialiased=False))
    handles = []
    planar = run.kind in ("axisymmetric", "2d")
    # isolines of the same levels as the isosurfaces
    if planar:
        for c in _contours(pv, sec, tname, levels, scale):
            seg = _segments(c)
            p = np.asarray(c.points)[:, ij] * f
            if seg.size:
                ax.add_collection(LineCollection(p[seg], colors="white", linewidths=0.8,
                                                 alpha=0.9))
    else:
        for c in _contours(pv, grid, tname, levels, scale):
            sl = c.slice(normal=(0, 0, 1) if view.camera == "top" else (0, 1, 0),
                         origin=tuple(view.focus))
            if sl.n_points:
                seg = _segments(sl)
                p = np.asarray(sl.points)[:, ij] * f
                ax.add_collection(LineCollection(p[seg], colors="white", linewidths=0.8,
                                                 alpha=0.9))
    # compartment outlines, then the surfaces that carry a flux plugin or a bath (membranes
    # without either are the outlines)
    fac = grid_facets(grid)
    comp = np.asarray(grid.cell_data["compartment"])
    pts = np.asarray(grid.points)
    inter = interfaces(fac, comp)
    shown_surfaces = [s for s in run.surfaces() if s["role"] in ("flux", "bath")]
    if planar:
        segs = np.concatenate(inter) if inter else np.zeros((0, 2), int)
        if segs.size:
            ax.add_collection(LineCollection(pts[segs][:, :, ij] * f, colors="black",
                                             linewidths=1.4))
        for spec in shown_surfaces:
            fl = run.surface_facets(spec["name"], fac, pts)
            s = np.concatenate(fl) if fl else np.zeros((0, 2), int)
            if not s.size:
                continue
            _draw_surface(ax, pts[s][:, :, ij] * f, {**spec, "colour": flux_colour(run, spec["name"])},
                          handles, extent * f, box)
    else:
        normal = (0, 0, 1) if view.camera == "top" else (0, 1, 0)
        mem = _poly_from_facets(pv, pts, inter)
        if mem is not None:
            sl = mem.slice(normal=normal, origin=tuple(view.focus))
            if sl.n_points:
                p = np.asarray(sl.points)[:, ij] * f
                ax.add_collection(LineCollection(p[_segments(sl)], colors="black",
                                                 linewidths=1.4))
        n_ax = 2 if view.camera == "top" else 1
        for spec in shown_surfaces:
            poly = _poly_from_facets(pv, pts, run.surface_facets(spec["name"], fac, pts))
            if poly is None:
                continue
            sl = poly.slice(normal=normal, origin=tuple(view.focus))
            if sl.n_points:
                lines = np.asarray(sl.points)[_segments(sl)][:, :, ij] * f
            else:
                dist = np.abs(np.asarray(poly.points)[:, n_ax] - view.focus[n_ax])
                if dist.max() > 1.01 * float(np.max(_cell_sizes(grid))):
                    continue
                edges = poly.extract_feature_edges(boundary_edges=True, feature_edges=False,
                                                   manifold_edges=False, non_manifold_edges=False)
                lines = np.asarray(edges.points)[_segments(edges)][:, :, ij] * f
            if lines.size:
                _draw_surface(ax, lines, {**spec, "colour": flux_colour(run, spec["name"])},
                              handles, extent * f, box)
    lo, hi = region[ij[0]] * f, region[ij[1]] * f
    ax.set_xlim(*lo)
    ax.set_ylim(*hi)
    ax.set_aspect("equal")
    names = {"axisymmetric": ("r", "z")}.get(run.kind, (run.axes[ij[0]] if ij[0] < len(run.axes)
                                                         else "xyz"[ij[0]],
                                                         run.axes[ij[1]] if ij[1] < len(run.axes)
                                                         else "xyz"[ij[1]]))
    ax.set_xlabel(f"{names[0]} ({unit})")
    ax.set_ylabel(f"{names[1]} ({unit})")
    if handles:
        leg = ax.legend(handles=handles, loc="upper right", framealpha=0.85, borderpad=0.3,
                        handlelength=1.6, labelspacing=0.3)
        leg.set_zorder(10)
    return unit, f


def _draw_surface(ax, lines, spec, handles, view_extent, box):
    """A flux surface as a thick line in its legend colour (a ▲ where it is too small to see),
    a bath as a dashed line; each with a legend entry."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    p = lines.reshape(-1, 2)
    tol = 1e-6 * view_extent
    inside = ((p[:, 0] >= box[0][0] - tol) & (p[:, 0] <= box[0][1] + tol)
              & (p[:, 1] >= box[1][0] - tol) & (p[:, 1] <= box[1][1] + tol))
    if not inside.any():
        return

    role = spec["role"]
    if role == "flux":
        colour = spec["colour"]
        ax.add_collection(LineCollection(lines, colors=colour, linewidths=4.0, zorder=5,
                                         capstyle="butt"))
        size = float(np.max(np.ptp(lines.reshape(-1, 2), axis=0)))
        marker = None
        if size < 0.03 * view_extent:
            c = lines.reshape(-1, 2).mean(axis=0)
            ax.plot([c[0]], [c[1]], marker="^", color=colour, markersize=9,
                    markeredgecolor="black", markeredgewidth=0.6, zorder=6, clip_on=False)
            marker = "^"
        h = Line2D([], [], color=colour, linewidth=4.0, marker=marker, markersize=7,
                   markeredgecolor="black", markeredgewidth=0.5,
                   label=f"{spec['name']} ({', '.join(spec['models'])})")
        handles.append(h)
    elif role == "bath":
        ax.add_collection(LineCollection(lines, colors="0.35", linewidths=1.6, linestyles="--",
                                         zorder=4))
        handles.append(Line2D([], [], color="0.35", linewidth=1.6, linestyle="--",
                              label=f"{spec['name']} (bath)"))
