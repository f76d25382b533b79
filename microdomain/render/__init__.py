"""Pictures of a run directory: PyVista off-screen for 3D, matplotlib (Agg) for maps and layout.

Reads only files a run has already written (fields.pvd, fields/*.vtu or fields.vtkhdf,
surfaces.vtu, manifest.json), so a run done on another machine renders here. One picture is a matplotlib
figure of exactly the requested size:

* axisymmetric (r, z) runs: the (r, z) map on the left, the same field revolved 270° about the z axis
  on the right (the missing quadrant faces the camera, so the inside shows);
* 3D runs: a section through the source (the cleft / mid-plane) on the left, on the right the mesh cut
  open along that plane with translucent isosurfaces in the part cut away;
* 2D Cartesian runs: the map alone; 1D runs: the profile.

Colours are log-scaled by default, the colour bar spans the data range of the field in the rendered
frame (µM) and carries the isosurface levels as lines; compartments can have colour bars of their
own (`clim={"er": (100, 600)}`, `per_compartment=True`). Compartment boundaries are drawn as
outlines (2D) and translucent membranes (3D); the named surfaces (surfaces.vtu) that carry a flux
plugin are highlighted and baths dashed. 3D views are parallel projections with a scale bar; the
`cleft` camera zooms on the cleft a contact geometry records (manifest mesh.clefts). A picture is
saved as PNG, SVG or PDF (by the file's suffix) at any dpi, or handed back as a matplotlib Figure
(`figure`, `Result.render`).

Modules: common (errors, cameras, times, sizes, figures, file formats), colours (colour scales,
per compartment, levels, styles), rundir (the run directory), topology (facets, named surfaces on
a frame's mesh), view (focus, region, the cleft, camera), scene (shared 3D parts, off-screen
plotter), axisymmetric and volume3d (the 3D panel of (r, z) and 3D runs), maps (the 2D map),
picture (one composed picture: colour bars, scale bar), pipeline (`render`, `figure`).
"""

from .colours import Scale, fmt_conc, fmt_levels, iso_levels, make_scale
from .common import (CAMERAS, RenderError, _figure, _font_scale, _pyvista, fmt_time, parse_size,
                     parse_time)
from .pipeline import RenderResult, figure, render
from .rundir import FrameChoice, FrameRef, RunDir, SurfaceSet, field_label

__all__ = [
    "CAMERAS", "FrameChoice", "FrameRef", "RenderError", "RenderResult", "RunDir", "Scale",
    "SurfaceSet", "field_label", "figure", "fmt_conc", "fmt_levels", "fmt_time", "iso_levels",
    "make_scale", "parse_size", "parse_time", "render",
]
