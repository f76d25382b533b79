"""`render`: a run directory → PNG (one frame) or GIF/MP4 (every frame), and what was used."""

from __future__ import annotations

import os
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import numpy as np

from .colours import Colouring, iso_levels, make_colouring
from .common import (CAMERAS, RenderError, _pyvista, _safe, check_dpi, output_target, parse_size,
                     pixels, save_figure)
from .picture import compose_figure
from .rundir import RunDir
from .scene import Renderer3D
from .topology import compartment_ids, grid_facets
from .view import compartment_range, find_focus, focus_compartment, make_view


@dataclass
class RenderResult:
    paths: list[Path]
    field: str
    frames: list[int]
    times: list[float]
    clim: tuple[float, float]        # colour-bar limits, µM (of the compartments without their own)
    data_range: tuple[float, float]  # min and max of the field's positive values (log) or all
    log: bool
    camera: str
    levels: list[float]
    notes: list[str]
    region: tuple[tuple[float, float], ...] = ()   # the part of the mesh shown: (lo, hi) per axis, µm
    scale_bar: tuple[float, float] | None = None   # 3D panel: (length µm, length in pixels)
    clims: dict[str, tuple[float, float]] = dc_field(default_factory=dict)  # per compartment, µM


def render(run_dir, field: str | None = None, time=None, frame: int | None = None,
           camera: str = "auto", size=(1024, 768), out=None, animate: bool = False,
           log: bool = True, clim=None, fps: float = 4.0, log_to=None, dpi: float = 100.0,
           per_compartment: bool = False) -> RenderResult:
    """Render one frame (PNG, or SVG/PDF when `out` is a file name with that suffix) or, with
    animate, the whole series (GIF, and MP4 if imageio-ffmpeg is installed). `size` is the
    layout in pixels at 100 dpi; `dpi` sets the resolution (a PNG of size × dpi / 100 pixels;
    in SVG/PDF that of the 3D panel's raster). `clim`: (lo, hi) µM, or {compartment: (lo, hi)}
    for colour bars of their own ("*": the rest); `per_compartment`: a bar per compartment.
    Returns what was written and the colour limits."""
    if isinstance(size, str):
        size = parse_size(size)
    dpi = check_dpi(dpi)
    run = RunDir(run_dir)
    out_dir, out_file = output_target(out, run.path / "render")
    if out_file is not None and animate:
        raise RenderError(f"--animate writes a GIF (and MP4) per field into a directory; give "
                          f"--out a directory, not {out_file.name!r}")
    plan = _plan(run, field, time, frame, camera, animate, log, clim, per_compartment)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot write to {out_dir} ({exc.strerror}); choose --out") from None
    name, view, colouring = plan.field, plan.view, plan.colouring
    renderer = Renderer3D(plan.pv, size)
    images, paths, bar = [], [], None
    try:
        for i in plan.indices:
            fig = compose_figure(plan.pv, renderer, run, run.read(i), name, colouring, view,
                                 plan.levels, size, run.frames[i].time, i, dpi)
            bar = fig.scale_bar
            if not animate:
                path = out_file or out_dir / f"{_safe(name)}_f{i:05d}_{view.camera}.png"
                save_figure(fig, path)
                paths.append(path)
            else:
                images.append(pixels(fig))
            if log_to is not None and animate:
                print(f"  frame {i + 1}/{len(plan.indices)}", file=log_to, flush=True)
    finally:
        renderer.close()
    notes = plan.notes
    if animate:
        paths += _write_animation(images, out_dir / f"{_safe(name)}_{view.camera}", fps, notes)
    return _result(run, plan, paths, bar)


def figure(run_dir, field: str | None = None, time=None, frame: int | None = None,
           camera: str = "auto", size=(1024, 768), log: bool = True, clim=None,
           dpi: float = 100.0, per_compartment: bool = False):
    """The picture of one frame as a matplotlib Figure (nothing written): what `render` would
    save, with the same options. `fig.render_result` holds the RenderResult (paths empty)."""
    if isinstance(size, str):
        size = parse_size(size)
    dpi = check_dpi(dpi)
    run = RunDir(run_dir)
    plan = _plan(run, field, time, frame, camera, False, log, clim, per_compartment)
    renderer = Renderer3D(plan.pv, size)
    try:
        i = plan.indices[0]
        fig = compose_figure(plan.pv, renderer, run, run.read(i), plan.field, plan.colouring,
                             plan.view, plan.levels, size, run.frames[i].time, i, dpi)
    finally:
        renderer.close()
    fig.render_result = _result(run, plan, [], fig.scale_bar)
    return fig


@dataclass
class _Plan:
    pv: object
    field: str
    indices: list[int]
    colouring: Colouring
    view: object
    levels: list[float]
    notes: list[str]


def _plan(run: RunDir, field, time, frame, camera, animate, log, clim, per_compartment) -> _Plan:
    """What to draw: the frames, the colouring, the view and the isosurface levels."""
    if camera not in CAMERAS:
        raise RenderError(f"unknown camera {camera!r}; cameras: {', '.join(CAMERAS)}")
    name = run.check_field(field)
    pv = _pyvista()
    notes: list[str] = []
    names = run.compartment_names
    if run.kind == "1d" and (per_compartment or isinstance(clim, dict)):
        # a profile has one concentration axis: the limits of all compartments
        notes.append("colour limits per compartment do not apply to a 1D profile: one axis")
        clim = clim.get("*") if isinstance(clim, dict) else clim
        per_compartment = False
    if animate:
        indices = list(range(len(run.frames)))
        if time is not None or frame is not None:
            notes.append("--animate uses every frame; --time/--frame ignored")
        # one colour scale, one region and one set of levels for the whole series: the region
        # from the frame where the field varies most around the source
        last = run.read(indices[-1])
        facets = grid_facets(last) if run.kind != "1d" else None
        focus, _ = find_focus(run, last, np.asarray(last.cell_data[name], float), facets)
        comp = compartment_ids(last)
        every, spans = [], []
        for i in indices:
            v = np.asarray(run.read(i).cell_data[name], float)
            every.append(v)
            spans.append(compartment_range(run.read(i), v, focus, None))
        colouring = make_colouring(np.concatenate(every), np.tile(comp, len(indices)), names, log,
                                   clim, per_compartment)
        width = [(np.log10(b / a) if log and a > 0 else b - a) for a, b in spans]
        ref = int(np.argmax(width))
        grid = run.read(ref)
        values = np.asarray(grid.cell_data[name], float)
        facets = grid_facets(grid) if run.kind != "1d" else None
        view = make_view(run, grid, values, colouring.default, camera, facets)
        focal = colouring.scale_of(focus_compartment(grid, view.focus))
        focus_lo = max(min(a for a, _ in spans), focal.lo)
        focus_hi = min(max(b for _, b in spans), focal.hi)
        n_grey = int(round(colouring.n_grey / len(indices)))
    else:
        choice = run.choose(time, frame)
        indices = [choice.index]
        notes.append(choice.note)
        grid = run.read(choice.index)
        values = np.asarray(grid.cell_data[name], float)
        colouring = make_colouring(values, compartment_ids(grid), names, log, clim,
                                   per_compartment)
        facets = grid_facets(grid) if run.kind != "1d" else None
        view = make_view(run, grid, values, colouring.default, camera, facets)
        focal = colouring.scale_of(focus_compartment(grid, view.focus))
        focus_lo, focus_hi = compartment_range(grid, values, view.focus, focal)
        n_grey = colouring.n_grey
    notes.append(view.note)
    if run.kind != "1d" and run.surface_set() is None and run.surface_note:
        notes.append(run.surface_note)              # an older run directory: no surfaces.vtu
    levels = iso_levels(focal, focus_lo, focus_hi)
    if n_grey:
        notes.append(f"{n_grey} cells where {name} is absent (NaN) or ≤ 0 on a log "
                     "scale: drawn grey")
    return _Plan(pv, name, indices, colouring, view, levels, notes)


def _result(run: RunDir, plan: _Plan, paths, bar) -> RenderResult:
    c, grid = plan.colouring, run.read(plan.indices[-1])
    clims = {}
    for k in np.unique(compartment_ids(grid)):
        s = c.scale_of(k)
        clims[run.compartment_name(int(k))] = (s.lo, s.hi)
    return RenderResult(paths, plan.field, plan.indices, [run.frames[i].time for i in plan.indices],
                        (c.default.lo, c.default.hi), (c.default.data_lo, c.default.data_hi),
                        c.log, plan.view.camera, plan.levels, plan.notes,
                        tuple(map(tuple, plan.view.region.tolist())), bar, clims)


def _write_animation(images: list[np.ndarray], stem: Path, fps: float, notes: list[str]):
    from PIL import Image

    paths = []
    gif = stem.with_suffix(".gif")
    # one palette for the whole series, from every frame (median cut), no dithering: frames
    # stay comparable and the colour bar keeps its steps fine
    step = max(1, int(np.sqrt(len(images) * images[0].shape[0] * images[0].shape[1] / 2e6)))
    montage = Image.fromarray(np.concatenate([im[::step, ::step] for im in images], axis=0))
    palette = montage.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    frames = [Image.fromarray(im).quantize(palette=palette, dither=Image.Dither.NONE)
              for im in images]
    tmp = gif.with_name(f".{gif.name}.tmp")
    frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                   duration=int(round(1000 / fps)), loop=0, disposal=1)
    os.replace(tmp, gif)
    paths.append(gif)
    import importlib.util

    if importlib.util.find_spec("imageio") is None or importlib.util.find_spec("imageio_ffmpeg") is None:
        notes.append("MP4 skipped: imageio and imageio-ffmpeg are not installed "
                     "(pip install 'microdomain[video]')")
        return paths
    import imageio.v2 as imageio

    mp4 = stem.with_suffix(".mp4")
    tmp = mp4.with_name(f".{mp4.stem}.tmp.mp4")
    even = [im[: im.shape[0] // 2 * 2, : im.shape[1] // 2 * 2] for im in images]
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8,
                            macro_block_size=2) as writer:
        for im in even:
            writer.append_data(im)
    os.replace(tmp, mp4)
    paths.append(mp4)
    return paths
