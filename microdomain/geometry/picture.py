"""Pictures of a tagged mesh (PyVista, off-screen): compartments coloured, a cut through the
contact, and a zoom on the cleft. Used by ``microdomain mesh CASE --png mesh.png``.

Works from plain arrays (the Domain's VTK points and cells, compartment ids), so it needs no
FiPy. Off-screen rendering uses EGL (no display): VTK_DEFAULT_OPENGL_WINDOW is set to
vtkEGLRenderWindow unless the caller chose otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLOURS = {
    "cytosol": "#c8d6e5", "er": "#4daf4a", "ims": "#ff9f1c", "matrix": "#d7263d",
    "lysosome": "#7b2cbf", "extracellular": "#9ad1f5",
}
FALLBACK = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]


def _colours(names):
    out, k = [], 0
    for n in names:
        if n in COLOURS:
            out.append(COLOURS[n])
        else:
            out.append(FALLBACK[k % len(FALLBACK)])
            k += 1
    return out


def _symbol_font() -> str | None:
    """A TrueType font with the ■ glyph (VTK's built-in fonts lack it): matplotlib's DejaVu Sans."""
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return str(path) if path.exists() else None
    except ImportError:
        return None


def _grid(points, cells, compartment_id):
    import meshio
    import pyvista as pv

    grid = pv.from_meshio(meshio.Mesh(points, [(t, np.asarray(c)) for t, c in cells]))
    grid.cell_data["compartment"] = np.asarray(compartment_id, np.int32)
    return grid


def render_mesh_png(path: str | Path, points: np.ndarray, cells, compartment_id: np.ndarray,
                    names: tuple[str, ...], dim: int, cylindrical: bool,
                    focus: tuple[np.ndarray, float] | None = None, title: str = "",
                    size: tuple[int, int] = (1600, 800)) -> "MeshPicture":
    """Write a PNG: the whole domain (a half cut through the axis in 3D, the (r, z) section
    mirrored about the axis in 2D) and, if `focus` = (centre, width) is given, a zoom on it;
    a scale bar in each panel (both are parallel projections)."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    path = Path(path)
    grid = _grid(points, cells, compartment_id)
    if dim == 2 and cylindrical:
        mirrored = grid.copy()
        mirrored.points[:, 0] *= -1.0
        grid = grid.merge(mirrored)
    if dim == 3:
        grid = grid.clip(normal=(0, -1, 0), origin=(0, 0, 0))     # keep y ≥ 0: the cut faces −y
    colours = _colours(names)
    cmap = [colours[i] for i in range(len(names))]
    panels = 2 if focus is not None else 1
    plotter = pv.Plotter(off_screen=True, shape=(1, panels), window_size=list(size), border=False)
    bounds = np.asarray(grid.bounds, float).reshape(3, 2)
    for k in range(panels):
        plotter.subplot(0, k)
        plotter.set_background("white")
        plotter.add_mesh(grid, scalars="compartment", cmap=cmap, clim=(-0.5, len(names) - 0.5),
                         categories=True, show_edges=True, edge_color="#404040",
                         line_width=0.3 if k == 0 else 0.6, show_scalar_bar=False,
                         lighting=dim == 3, ambient=0.55, diffuse=0.5, specular=0.0)
        if dim == 2:
            plotter.view_xy()
            centre = bounds.mean(axis=1)
            extent = bounds[:2, 1] - bounds[:2, 0]
            if k == 1:
                c, w = focus
                centre = np.array([c[0], c[1], 0.0])
                extent = np.array([w, w])
            plotter.camera.focal_point = (centre[0], centre[1], 0.0)
            plotter.camera.position = (centre[0], centre[1], 10.0 * max(extent))
            plotter.camera.up = (0, 1, 0)
            plotter.camera.parallel_projection = True
            plotter.camera.parallel_scale = 0.55 * max(extent[1], extent[0] * size[1] / size[0] * panels)
        else:
            if k == 0:
                centre = bounds.mean(axis=1)
                span = float(np.max(bounds[:, 1] - bounds[:, 0]))
            else:
                c, w = focus
                centre = np.asarray(c, float)
                span = w
            plotter.camera.focal_point = tuple(centre)
            direction = np.array([0.45, -1.0, 0.35]) if k == 0 else np.array([0.12, -1.0, 0.12])
            plotter.camera.position = tuple(centre + direction / np.linalg.norm(direction) * 3 * span)
            plotter.camera.up = (0, 0, 1)
            plotter.camera.parallel_projection = True
            plotter.camera.parallel_scale = (0.62 if k == 0 else 0.5) * span
        label = title if k == 0 else "contact (zoom)"
        plotter.add_text(label, position="upper_left", font_size=10, color="black")
        if k == panels - 1:          # legend: a coloured square and a black name per compartment
            width = size[0] // panels
            for i, n in enumerate(reversed(names)):
                y = 14 + 28 * i
                plotter.add_text("\u25a0", position=(width - 196, y), font_size=14,
                                 color=colours[len(names) - 1 - i], font_file=_symbol_font())
                plotter.add_text(n, position=(width - 160, y + 2), font_size=12, color="black")
    scales = []
    for k in range(panels):
        plotter.subplot(0, k)
        scales.append(float(plotter.camera.parallel_scale))
    img = np.asarray(plotter.screenshot(return_img=True))[..., :3].copy()
    plotter.close()
    bars = _scale_bars(img, scales, panels)
    path.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(img).save(path)
    return MeshPicture(path, bars)


@dataclass(frozen=True)
class MeshPicture:
    path: Path
    scale_bars: list[tuple[float, float]]    # per panel: (length µm, length in pixels)


def _scale_bars(img: np.ndarray, parallel_scales: list[float], panels: int):
    """Draw a black scale bar with its length at the lower left of each panel (parallel
    projections: the parallel scale is half the panel's height in µm)."""
    from PIL import Image, ImageDraw, ImageFont

    from ..render.common import _fmt_len, nice_length

    h, w = img.shape[:2]
    pw = w / panels
    canvas = Image.fromarray(img)
    draw = ImageDraw.Draw(canvas)
    font_file = _symbol_font()
    size = max(10, int(round(h / 50)))
    font = ImageFont.truetype(font_file, size) if font_file else ImageFont.load_default()
    bars = []
    for k, half in enumerate(parallel_scales):
        um_per_px = 2.0 * half / h
        length = nice_length(0.22 * pw * um_per_px)
        n = length / um_per_px
        x0, y = k * pw + 0.05 * pw, 0.93 * h
        thick = max(3, int(round(h / 200)))
        draw.rectangle([x0, y, x0 + n - 1, y + thick - 1], fill=(0, 0, 0))
        draw.text((x0 + n / 2, y - 4), _fmt_len(length), fill=(0, 0, 0), font=font, anchor="md")
        bars.append((length, n))
    img[...] = np.asarray(canvas)
    return bars


def focus_of(domain) -> tuple[np.ndarray, float] | None:
    """Centre and width of a zoom on the first cleft the mesh records (or None)."""
    clefts = domain.stats.get("clefts") or {}
    if not clefts:
        return None
    key = next(iter(clefts))
    surfaces = clefts[key].get("surfaces")
    if not surfaces:
        return None
    centres = np.asarray(domain.mesh.faceCenters)
    faces = np.concatenate([domain.surfaces[s].faces for s in surfaces if s in domain.surfaces])
    pts = centres[:, faces]
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    centre = 0.5 * (lo + hi)
    if domain.cylindrical:
        centre[0] = 0.0
        width = 2.6 * float(hi[0])
    else:
        centre[:2] = 0.0
        width = 1.6 * float(np.max(hi[:2] - lo[:2]))
    width = max(width, 8 * float(clefts[key]["nominal_um"]))
    if domain.dim == 2:
        return centre[:2], width
    return centre, width
