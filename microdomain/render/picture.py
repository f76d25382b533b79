"""One picture as pixels: title, the map (or 1D profile) on the left, the 3D panel on the right
with its caption, and the colour bar with the isosurface levels, all in one matplotlib figure."""

from __future__ import annotations

import math

import numpy as np

from .axisymmetric import scene_revolved
from .colours import Colouring, _cmap, fmt_conc, fmt_levels
from .common import _figure, _fmt_len, _font_scale, fmt_time, nice_length
from .maps import draw_map
from .rundir import RunDir, field_label
from .scene import Renderer3D
from .topology import _cell_centres, compartment_ids
from .view import View, camera_azimuth
from .volume3d import scene_3d


def compose(pv, renderer: Renderer3D | None, run: RunDir, grid, field_name: str,
            scale: Colouring, view: View, levels: list[float], size: tuple[int, int], time_ms: float, frame: int,
            dpi: float = 100.0):
    """One picture as an RGB array of `size` (width, height) × dpi / 100 pixels."""
    fig = compose_figure(pv, renderer, run, grid, field_name, scale, view, levels, size, time_ms,
                         frame, dpi)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def compose_figure(pv, renderer: Renderer3D | None, run: RunDir, grid, field_name: str,
                   scale: Colouring, view: View, levels: list[float], size: tuple[int, int],
                   time_ms: float, frame: int, dpi: float = 100.0):
    """One picture as a matplotlib Figure of size / 100 inches at `dpi` (the layout is that of
    `size` pixels at 100 dpi; a higher dpi adds pixels, not content). The 3D panel is a raster
    of the figure's resolution in it; everything else is drawn by matplotlib (vector in SVG/PDF).
    `fig.scale_bar` = (length µm, length in pixels at dpi) of the 3D panel's bar, or None."""
    import matplotlib

    fs = 10.5 * _font_scale(size)
    W, H = size
    line = fs * 1.45 / 72 * 100            # one text line in pixels (dpi 100)
    lh, lw = line / H, line / W
    tname = "_t_" + field_name
    grid.cell_data[tname] = scale.coord(np.asarray(grid.cell_data[field_name]),
                                        compartment_ids(grid))
    colouring, scale = scale, scale.default      # the bar of the compartments without their own
    fig = _figure(size, dpi)
    fig.scale_bar = None
    rc = {"font.size": fs, "axes.titlesize": fs, "axes.labelsize": fs,
          "xtick.labelsize": 0.9 * fs, "ytick.labelsize": 0.9 * fs, "legend.fontsize": 0.82 * fs}
    with matplotlib.rc_context(rc):
        label = field_label(run, field_name)
        short = label.replace(" (µM, bound)", "").replace(" (µM)", "")
        title = f"{run.name}:  {short}   t = {fmt_time(time_ms)}   (frame {frame})"
        tfs = min(1.2 * fs, 0.95 * W / (0.62 * len(title)) * 72 / 100)   # fit the width
        fig.text(0.5, 1 - 0.45 * lh, title, ha="center", va="top", fontsize=tfs, weight="bold")
        # vertical layout, bottom up: colour bar label and ticks, bar, caption, panels, title
        cb_y, cb_h = 2.5 * lh, 0.85 * lh
        caption_y = cb_y + cb_h + 0.9 * lh
        top = 1 - 2.1 * lh
        has3d = run.kind in ("axisymmetric", "3d")
        map_left = 4.2 * lw
        map_bottom = caption_y + 1.6 * lh
        map_right = 0.42 if has3d else 0.97
        if run.kind == "1d":
            ax = fig.add_axes([map_left, map_bottom, 0.97 - map_left, top - map_bottom - lh])
            c = _cell_centres(grid)[:, 0]
            v = np.asarray(grid.cell_data[field_name], float)
            comp = (np.asarray(grid.cell_data["compartment"]) if "compartment" in grid.cell_data
                    else np.zeros(c.size, int))
            o = np.argsort(c)
            breaks = np.flatnonzero(np.diff(comp[o]) != 0) + 1
            for part in np.split(o, breaks):           # no line across a membrane
                ax.plot(c[part], v[part], color="C0")
            for k in breaks:
                ax.axvline(0.5 * (c[o[k - 1]] + c[o[k]]), color="black", lw=1.2)
            if scale.log:
                ax.set_yscale("log")
            ax.set_ylim(scale.lo, scale.hi)
            ax.set_xlabel(f"{run.axes[0]} (µm)")
            ax.set_ylabel(label)
        else:
            ax = fig.add_axes([map_left, map_bottom, map_right - map_left,
                               top - map_bottom - 1.2 * lh])
            draw_map(ax, pv, run, grid, tname, field_name, colouring, view, levels)
            if run.kind == "axisymmetric":
                title = "(r, z) plane"
            elif run.kind == "3d":
                title = ("section z = " + _fmt_len(view.focus[2]) if view.camera == "top" else
                         "section y = " + _fmt_len(view.focus[1]))
            else:
                title = "map"
            ax.set_title(title, fontsize=fs)
        if has3d:
            bottom3 = caption_y + 1.2 * lh
            rect = [0.44, bottom3, 0.555, top - bottom3]
            ax3 = fig.add_axes(rect)
            ax3.set_axis_off()
            px = dpi / 100.0
            renderer.size = (int(round(rect[2] * W * px)), int(round(rect[3] * H * px)))
            renderer.line_scale = px
            if run.kind == "axisymmetric":
                scene = scene_revolved(pv, run, grid, tname, colouring, view, levels,
                                       camera_azimuth(view.camera))
                what = ("the layer at the source, revolved about the z axis, from above"
                        if view.camera == "top" else "revolved 270° about the z axis")
            else:
                scene = scene_3d(pv, run, grid, tname, colouring, view, levels)
                what = "cut open along the section"
            img = renderer.render(scene)
            ax3.imshow(img, interpolation="none", aspect="auto")
            fig.scale_bar = draw_scale_bar(ax3, img.shape, renderer.um_per_px, fs)
            ext = np.ptp(scene.bounds, axis=1)
            region_txt = f"region {_fmt_len(ext[0])} × {_fmt_len(ext[1])} × {_fmt_len(ext[2])}"
            fits = (len(what) + len(region_txt) + 2) * 0.55 * 0.82 * fs * 100 / 72 < rect[2] * W
            what += ("; " if fits else "\n") + region_txt
            if levels:
                what += "\nisosurfaces at " + fmt_levels(levels) + " µM"
            fig.text(rect[0] + rect[2] / 2, caption_y, what, ha="center", va="bottom",
                     fontsize=0.82 * fs, color="0.25", linespacing=1.3)
        # the colour bar(s): one, or one per group of compartments sharing a scale
        groups = colour_groups(run, grid, colouring)
        if len(groups) == 1:
            colour_bar(fig, [0.22, cb_y, 0.56, cb_h], groups[0][0],
                       label + ("  ·  log scale" if scale.log else ""), levels, fs, ends=True)
        else:
            n, gap = len(groups), 0.05
            width = (0.9 - gap * (n - 1)) / n
            for j, (s_j, names) in enumerate(groups):
                colour_bar(fig, [0.05 + j * (width + gap), cb_y, width, cb_h], s_j,
                           f"{short} in {', '.join(names)} (µM)", levels, 0.9 * fs,
                           ends=False)
        if colouring.n_grey:
            fig.text(0.995, 0.005, f"grey: {colouring.n_grey} cells where the field is absent",
                     ha="right", va="bottom", fontsize=0.75 * fs, color="0.4")
    del grid.cell_data[tname]
    return fig


def colour_groups(run: RunDir, grid, colouring: Colouring):
    """[(scale, [compartment names])]: the shared bar first (if any compartment uses it), then
    one per compartment with its own."""
    present = [int(k) for k in np.unique(compartment_ids(grid))]
    shared = [run.compartment_name(k) for k in present if k not in colouring.own]
    groups = [(colouring.default, shared)] if shared or not colouring.own else []
    groups += [(colouring.own[k], [run.compartment_name(k)]) for k in present
               if k in colouring.own]
    return groups


def bar_ticks(scale) -> list[float]:
    """The ends of a narrow bar and the decades (log) or one middle value (linear) inside."""
    if scale.log:
        inner = [10.0**k for k in range(math.ceil(math.log10(scale.lo) + 0.15),
                                         math.floor(math.log10(scale.hi) - 0.15) + 1)]
        while len(inner) > 2:
            inner = inner[::2]
    else:
        inner = [0.5 * (scale.lo + scale.hi)]
    return [scale.lo, *inner, scale.hi]


def colour_bar(fig, rect, scale, label: str, levels: list[float], fs: float, ends: bool):
    """A horizontal colour bar of one Scale with the isosurface levels inside it as white marks;
    with `ends` the limits are written beside the bar, else as its end ticks."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.ticker import FuncFormatter, NullFormatter

    cax = fig.add_axes(rect)
    sm = ScalarMappable(norm=scale.norm(), cmap=_cmap())
    cb = fig.colorbar(sm, cax=cax, orientation="horizontal")
    cb.set_label(label, fontsize=fs, labelpad=2)
    if scale.log:
        if scale.hi / scale.lo < 10:          # less than a decade: round linear ticks
            from matplotlib.ticker import MaxNLocator

            loc = MaxNLocator(5)
            ticks = loc.tick_values(scale.lo, scale.hi)
            step = float(np.min(np.diff(ticks))) if len(ticks) > 1 else scale.hi
            dec = max(0, -math.floor(math.log10(step) + 1e-9))
            cb.ax.xaxis.set_major_locator(loc)
            cb.ax.xaxis.set_minor_locator(MaxNLocator(25))
            cb.ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.{dec}f}"))
        else:
            cb.ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_conc(x)))
        cb.ax.xaxis.set_minor_formatter(NullFormatter())
    levels = [x for x in levels if scale.lo < x < scale.hi]
    if levels:
        cb.add_lines(levels, colors=["white"] * len(levels), linewidths=[1.5] * len(levels))
    # the limits at the ends of the bar, unless a tick label already says so (bars side by
    # side: as ticks, the ends have no room for them)
    if not ends:
        cb.set_ticks(bar_ticks(scale))
        cb.ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_conc(x, 3)))
        cb.ax.xaxis.set_minor_formatter(NullFormatter())
        return cb
    for value, x, ha in ((scale.lo, -0.01, "right"), (scale.hi, 1.01, "left")):
        tick = 10.0 ** round(math.log10(value)) if scale.log else None
        on_tick = (scale.log and scale.hi / scale.lo >= 10 and scale.lo <= tick <= scale.hi
                   and abs(math.log10(value / tick)) < 0.02)
        narrow = scale.hi / scale.lo < 10 if scale.log and scale.lo > 0 else True
        sig = (max(3, 2 + math.ceil(math.log10(abs(scale.hi) / max(scale.hi - scale.lo, 1e-300))))
               if narrow and scale.hi != 0 else 3)
        if not on_tick:
            cb.ax.text(x, 0.5, fmt_conc(value, sig), transform=cb.ax.transAxes, ha=ha,
                       va="center", fontsize=0.9 * fs)
    return cb


def draw_scale_bar(ax, shape, um_per_px: float | None, fs: float):
    """A black bar of a round length (1, 2 or 5 × 10^k, about a fifth of the panel) with its
    length written above it, at the lower left of an image axes showing a parallel projection
    of um_per_px µm per image pixel. Returns (length µm, length in image pixels)."""
    if not um_per_px:
        return None
    h, w = shape[:2]
    length = nice_length(0.22 * w * um_per_px)
    n = length / um_per_px
    x0, y = 0.05 * w, 0.93 * h
    from matplotlib.patches import Rectangle

    lim = ax.get_xlim(), ax.get_ylim()
    pad = 0.02 * h            # a white card behind bar and label: legible on any colour
    text_h = 1.6 * 0.85 * fs * ax.figure.dpi / 72 * h / max(ax.bbox.height, 1)   # image px
    ax.add_patch(Rectangle((x0 - pad, y - 0.012 * h - text_h - pad / 2), n + 2 * pad,
                           text_h + 0.012 * h + 1.5 * pad, facecolor="white", alpha=0.85,
                           edgecolor="none"))
    ax.plot([x0, x0 + n], [y, y], color="black", linewidth=3.0, solid_capstyle="butt")
    ax.text(x0 + n / 2, y - 0.012 * h, _fmt_len(length), ha="center", va="bottom",
            fontsize=0.85 * fs)
    ax.set_xlim(*lim[0])
    ax.set_ylim(*lim[1])
    return length, n
