"""`render`: a run directory → PNG (one frame) or GIF/MP4 (every frame), and what was used."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .colours import iso_levels, make_scale
from .common import (CAMERAS, RenderError, _pyvista, _safe, check_dpi, output_target, parse_size,
                     pixels, save_figure)
from .picture import compose_figure
from .rundir import RunDir
from .scene import Renderer3D
from .topology import grid_facets
from .view import compartment_range, find_focus, make_view


@dataclass
class RenderResult:
    paths: list[Path]
    field: str
    frames: list[int]
    times: list[float]
    clim: tuple[float, float]        # colour-bar limits, µM
    data_range: tuple[float, float]  # min and max of the field's positive values (log) or all
    log: bool
    camera: str
    levels: list[float]
    notes: list[str]
    region: tuple[tuple[float, float], ...] = ()   # the part of the mesh shown: (lo, hi) per axis, µm
    scale_bar: tuple[float, float] | None = None   # 3D panel: (length µm, length in pixels)


def render(run_dir, field: str | None = None, time=None, frame: int | None = None,
           camera: str = "auto", size=(1024, 768), out=None, animate: bool = False,
           log: bool = True, clim: tuple[float, float] | None = None, fps: float = 4.0,
           log_to=None, dpi: float = 100.0) -> RenderResult:
    """Render one frame (PNG, or SVG/PDF when `out` is a file name with that suffix) or, with
    animate, the whole series (GIF, and MP4 if imageio-ffmpeg is installed). `size` is the
    layout in pixels at 100 dpi; `dpi` sets the resolution (a PNG of size × dpi / 100 pixels;
    in SVG/PDF that of the 3D panel's raster). Returns what was written and the colour limits."""
    if camera not in CAMERAS:
        raise RenderError(f"unknown camera {camera!r}; cameras: {', '.join(CAMERAS)}")
    if isinstance(size, str):
        size = parse_size(size)
    dpi = check_dpi(dpi)
    run = RunDir(run_dir)
    name = run.check_field(field)
    out_dir, out_file = output_target(out, run.path / "render")
    if out_file is not None and animate:
        raise RenderError(f"--animate writes a GIF (and MP4) per field into a directory; give "
                          f"--out a directory, not {out_file.name!r}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot write to {out_dir} ({exc.strerror}); choose --out") from None
    pv = _pyvista()
    notes: list[str] = []
    if animate:
        indices = list(range(len(run.frames)))
        if time is not None or frame is not None:
            notes.append("--animate uses every frame; --time/--frame ignored")
        # one colour scale, one region and one set of levels for the whole series: the region
        # from the frame where the field varies most around the source
        last = run.read(indices[-1])
        facets = grid_facets(last) if run.kind != "1d" else None
        focus, _ = find_focus(run, last, np.asarray(last.cell_data[name], float), facets)
        lo, hi, spans = [], [], []
        for i in indices:
            v = np.asarray(run.read(i).cell_data[name], float)
            pos = v[v > 0] if log else v[np.isfinite(v)]
            if pos.size:
                lo.append(pos.min())
                hi.append(pos.max())
            spans.append(compartment_range(run.read(i), v, focus, None))
        scale = make_scale(np.array(lo + hi) if lo else np.asarray(last.cell_data[name]), log, clim)
        width = [(np.log10(b / a) if log and a > 0 else b - a) for a, b in spans]
        ref = int(np.argmax(width))
        grid = run.read(ref)
        values = np.asarray(grid.cell_data[name], float)
        facets = grid_facets(grid) if run.kind != "1d" else None
        view = make_view(run, grid, values, scale, camera, facets)
        focus_lo = max(min(a for a, _ in spans), scale.lo)
        focus_hi = min(max(b for _, b in spans), scale.hi)
    else:
        choice = run.choose(time, frame)
        indices = [choice.index]
        notes.append(choice.note)
        scale = make_scale(np.asarray(run.read(choice.index).cell_data[name], float), log, clim)
        grid = run.read(choice.index)
        values = np.asarray(grid.cell_data[name], float)
        facets = grid_facets(grid) if run.kind != "1d" else None
        view = make_view(run, grid, values, scale, camera, facets)
        focus_lo, focus_hi = compartment_range(grid, values, view.focus, scale)
    notes.append(view.note)
    if run.kind != "1d" and run.surface_set() is None and run.surface_note:
        notes.append(run.surface_note)              # an older run directory: no surfaces.vtu
    levels = iso_levels(scale, focus_lo, focus_hi)
    if scale.n_nonpositive:
        notes.append(f"{scale.n_nonpositive} cells where {name} is absent (NaN) or ≤ 0 on a log "
                     "scale: drawn grey")
    renderer = Renderer3D(pv, size)
    images, paths, bar = [], [], None
    try:
        for i in indices:
            g = run.read(i)
            fig = compose_figure(pv, renderer, run, g, name, scale, view, levels, size,
                                 run.frames[i].time, i, dpi)
            bar = fig.scale_bar
            if not animate:
                path = out_file or out_dir / f"{_safe(name)}_f{i:05d}_{view.camera}.png"
                save_figure(fig, path)
                paths.append(path)
            else:
                images.append(pixels(fig))
            if log_to is not None and animate:
                print(f"  frame {i + 1}/{len(indices)}", file=log_to, flush=True)
    finally:
        renderer.close()
    if animate:
        paths += _write_animation(images, out_dir / f"{_safe(name)}_{view.camera}", fps, notes)
    return RenderResult(paths, name, indices, [run.frames[i].time for i in indices],
                        (scale.lo, scale.hi), (scale.data_lo, scale.data_hi), scale.log,
                        view.camera, levels, notes, tuple(map(tuple, view.region.tolist())), bar)


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
