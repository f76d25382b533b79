"""What every part of the renderer shares: the user-facing error, off-screen PyVista, cameras,
times, sizes, lengths and the matplotlib figure of exactly the requested size."""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import numpy as np

CAMERAS = ("auto", "iso", "top", "side", "cleft")
WEDGE = math.radians(90.0)          # the quadrant left out of the revolved view
# camera: (direction from the focal point towards the camera, view up)
DIRECTIONS = {
    "iso": ((0.55, -1.0, 0.72), (0, 0, 1)),
    "cleft": ((0.55, -1.0, 0.72), (0, 0, 1)),
    "side": ((0.0, -1.0, 0.0), (0, 0, 1)),
    "top": ((0.0, -0.0001, 1.0), (0, 1, 0)),
}


class RenderError(ValueError):
    """A problem the user can fix (unknown field, bad time, not a run directory): no traceback."""


def _pyvista():
    """Import PyVista for off-screen use: on a Linux machine without a display, render through EGL."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    return pv


# ---------------------------------------------------------------------------------------------
# times, sizes, lengths

_TIME_UNITS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ns": 1e-6,
               "min": 6e4}


def parse_time(text: str | float) -> float:
    """'5ms', '5 ms', '500 us', '0.5 s' → milliseconds; a bare number is in ms."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip()
    m = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Zµμ]*)", s)
    if not m:
        raise RenderError(f"cannot read {text!r} as a time; write e.g. '5 ms', '500 us', '0.2 s'")
    value, unit = float(m.group(1)), m.group(2)
    if not unit:
        return value
    if unit not in _TIME_UNITS:
        raise RenderError(f"unknown time unit {unit!r} in {text!r}; use one of "
                          f"{', '.join(sorted(set(_TIME_UNITS) - {'μs'}))}")
    return value * _TIME_UNITS[unit]


def fmt_time(t_ms: float) -> str:
    if t_ms == 0:
        return "0 ms"
    a = abs(t_ms)
    if a < 1e-3:
        return f"{t_ms * 1e6:.4g} ns"
    if a < 1:
        return f"{t_ms * 1e3:.4g} µs"
    if a < 1e3:
        return f"{t_ms:.4g} ms"
    return f"{t_ms / 1e3:.4g} s"


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[x×X,]\s*(\d+)\s*", str(text))
    if not m:
        raise RenderError(f"cannot read size {text!r}; write WIDTHxHEIGHT, e.g. 1024x768")
    w, h = int(m.group(1)), int(m.group(2))
    if not (160 <= w <= 8192 and 120 <= h <= 8192):
        raise RenderError(f"size {w}x{h} is out of range (160x120 to 8192x8192)")
    return w, h


def _length_unit(extent_um: float) -> tuple[str, float]:
    return ("nm", 1e3) if extent_um <= 0.6 else ("µm", 1.0)


def _fmt_len(um: float) -> str:
    return f"{um * 1e3:.3g} nm" if abs(um) < 1 else f"{um:.3g} µm"


def nice_length(at_most_um: float) -> float:
    """The longest 1, 2 or 5 × 10^k µm not above at_most_um (the length of a scale bar)."""
    k = math.floor(math.log10(at_most_um))
    for m in (5.0, 2.0, 1.0):
        if m * 10.0**k <= at_most_um * (1 + 1e-9):
            return m * 10.0**k
    return 10.0**k


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


# ---------------------------------------------------------------------------------------------
# figures and files


def _figure(size: tuple[int, int], dpi: float = 100.0):
    """A figure of size / 100 inches (size pixels at 100 dpi) drawn at `dpi`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _font_scale(size) -> float:
    """Text grows more slowly than the picture: 1 at 1024x768, 0.56 at 320x240."""
    return min(max(0.5, min(size[0] / 1024, size[1] / 768) ** 0.5), 1.8)


FORMATS = (".png", ".svg", ".pdf")
# picture formats not written: a file named so is a mistake, not a directory (any other name is one)
OTHER_FORMATS = (".jpg", ".jpeg", ".tif", ".tiff", ".eps", ".ps", ".gif", ".bmp", ".webp", ".mp4")


def check_dpi(dpi) -> float:
    try:
        value = float(dpi)
    except (TypeError, ValueError):
        value = float("nan")
    if not 20 <= value <= 1200:
        raise RenderError(f"--dpi {dpi!r} is out of range; give a number from 20 to 1200 "
                          "(default 100: one pixel per pixel of --size)")
    return value


def output_target(out, default: Path) -> tuple[Path, Path | None]:
    """(directory, file or None): `out` names a file when its suffix is .png, .svg or .pdf,
    else a directory (default: `default`)."""
    if not out:
        return default, None
    path = Path(out)
    if path.suffix.lower() in FORMATS:
        return path.parent, path
    if path.suffix.lower() in OTHER_FORMATS and not path.is_dir():
        raise RenderError(f"--out {out!r}: unknown picture format {path.suffix!r}; write a "
                          f"directory or a file ending in {', '.join(FORMATS)}")
    return path, None


def pixels(fig) -> np.ndarray:
    """The figure drawn by Agg at its dpi, as an RGB array."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_figure(fig, path: Path) -> None:
    """PNG (exactly the figure's pixels), SVG or PDF (vector; rasters embedded at the figure's
    dpi), by the suffix of path; written beside it first, then moved into place."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "png":
        _save_png(pixels(fig), path)
        return
    tmp = path.with_name(f".{path.stem}.tmp.{fmt}")
    fig.savefig(tmp, format=fmt, dpi=fig.dpi, metadata={"Creator": "microdomain"} if fmt == "pdf"
                else None)
    os.replace(tmp, path)


def _save_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(img).save(tmp, format="PNG")
    os.replace(tmp, path)
