"""Pictures of a run directory: PyVista off-screen for 3D, matplotlib (Agg) for maps and layout.

Reads only files a run has already written (fields.pvd, fields/*.vtu, manifest.json), so a run done
on another machine renders here. One picture is a matplotlib figure of exactly the requested size:

* axisymmetric (r, z) runs: the (r, z) map on the left, the same field revolved 270° about the z axis
  on the right (the missing quadrant faces the camera, so the inside shows);
* 3D runs: a section through the source (the cleft / mid-plane) on the left, on the right the mesh cut
  open along that plane with translucent isosurfaces in the part cut away;
* 2D Cartesian runs: the map alone; 1D runs: the profile.

Colours are log-scaled by default, the colour bar spans the data range of the field in the rendered
frame (µM) and carries the isosurface levels as lines. Compartment boundaries are drawn as outlines
(2D) and translucent membranes (3D); surfaces that carry a flux plugin are highlighted.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CAMERAS = ("auto", "iso", "top", "side", "cleft")
CMAP = "viridis"
NAN_COLOR = (0.78, 0.78, 0.78)
SURFACE_COLORS = ("#e4007c", "#ff7f0e", "#17becf", "#d62728", "#8c564b")
MEMBRANE_COLOR = (0.55, 0.55, 0.6)
WEDGE = math.radians(90.0)
# isosurfaces: white glass, like the isolines on the cuts and the level marks on the colour bar
# (coloured by their level they would vanish against the field of the same colour)
ISO_STYLE = dict(color="white", opacity=0.32, ambient=0.25, diffuse=0.6, specular=0.5,
                 specular_power=25.0, smooth_shading=True)
SHEET_OPACITY = 0.18                # membranes; seen from above they would veil the cut: left out          # the quadrant left out of the revolved view


class RenderError(ValueError):
    """A problem the user can fix (unknown field, bad time, not a run directory): no traceback."""


# ---------------------------------------------------------------------------------------------
# run directory


@dataclass(frozen=True)
class FrameRef:
    index: int
    time: float          # ms
    path: Path


@dataclass(frozen=True)
class FrameChoice:
    index: int
    time: float
    note: str            # says which frame was taken and why


def _pyvista():
    """Import PyVista for off-screen use: on a Linux machine without a display, render through EGL."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    return pv


class RunDir:
    """The parts of a run directory that pictures need; raises RenderError if it is not one."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise RenderError(f"{self.path}: no such directory")
        pvd = self.path / "fields.pvd"
        if not pvd.is_file():
            raise RenderError(f"{self.path} has no fields.pvd: not a run directory "
                              "(write one with `microdomain run CASE.toml --out DIR`)")
        try:
            sets = ET.parse(pvd).getroot().findall(".//DataSet")
        except ET.ParseError as exc:
            raise RenderError(f"{pvd}: unreadable ({exc})") from None
        frames = []
        for s in sets:
            f = self.path / s.get("file", "")
            if f.is_file():
                frames.append((float(s.get("timestep", "nan")), f))
        if not frames:
            raise RenderError(f"{pvd} lists no frame that exists")
        self.frames = [FrameRef(i, t, f) for i, (t, f) in enumerate(frames)]
        self.times = np.array([f.time for f in self.frames])
        mpath = self.path / "manifest.json"
        self.manifest = json.loads(mpath.read_text()) if mpath.is_file() else {}
        self.case = self.manifest.get("case") or {}
        self._cache: dict[int, object] = {}

    # -- what the run holds
    @property
    def name(self) -> str:
        return (self.case.get("case") or {}).get("name") or self.path.name

    @property
    def mesh_info(self) -> dict:
        return self.manifest.get("mesh") or {}

    @property
    def axes(self) -> tuple[str, ...]:
        axes = self.mesh_info.get("axes")
        if axes:
            return tuple(axes)
        return ("x", "y", "z")[: self.dim]

    @property
    def cylindrical(self) -> bool:
        return bool(self.mesh_info.get("cylindrical", False))

    @property
    def dim(self) -> int:
        if self.mesh_info.get("axes"):
            return len(self.mesh_info["axes"])
        b = np.asarray(self.read(0).bounds).reshape(3, 2)
        return int(np.sum(b[:, 1] - b[:, 0] > 0))

    @property
    def kind(self) -> str:
        if self.cylindrical:
            return "axisymmetric"
        return {1: "1d", 2: "2d", 3: "3d"}[self.dim]

    @property
    def fields(self) -> list[str]:
        return [n for n in self.read(len(self.frames) - 1).cell_data.keys()
                if n != "compartment" and not n.startswith("vtk")]

    @property
    def compartment_names(self) -> list[str]:
        comps = (self.case.get("geometry") or {}).get("compartments") or []
        if comps:
            return list(dict.fromkeys(c["name"] for c in comps))
        return list(self.mesh_info.get("compartments")
                    or self.mesh_info.get("compartment_volumes_um3") or [])

    def compartment_name(self, k: int) -> str:
        names = self.compartment_names
        return names[k] if 0 <= k < len(names) else f"compartment {k}"

    def valence(self, ion: str) -> int | None:
        for s in self.case.get("species") or []:
            if s.get("ion") == ion:
                return s.get("valence")
        return None

    def surfaces(self) -> list[dict]:
        """Named surfaces of the case with their role: 'flux' (carries a plugin), 'bath' or 'membrane'."""
        specs = (self.case.get("geometry") or {}).get("surfaces") or []
        flux = {}
        for f in self.case.get("fluxes") or []:
            flux.setdefault(f["surface"], []).append(f.get("label") or f["model"])
        bath = {b["surface"] for b in self.case.get("boundaries") or []}
        out = []
        for s in specs:
            role = "flux" if s["name"] in flux else "bath" if s["name"] in bath else "membrane"
            out.append({**s, "role": role, "models": flux.get(s["name"], [])})
        return out

    def read(self, index: int):
        if index not in self._cache:
            pv = _pyvista()
            self._cache.clear()                      # keep one frame in memory
            self._cache[index] = pv.read(self.frames[index].path)
        return self._cache[index]

    def check_field(self, name: str | None) -> str:
        fields = self.fields
        if name is None:
            ions = [f for f in fields if "." not in f]
            return (ions or fields)[0]
        if name not in fields:
            close = [f for f in fields if f.lower() == name.lower()]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RenderError(f"no field {name!r} in {self.path}{hint}; fields present: "
                              f"{', '.join(fields)}")
        return name

    # -- which frame
    def choose(self, time: str | float | None = None, frame: int | None = None) -> FrameChoice:
        n = len(self.frames)
        if time is not None and frame is not None:
            raise RenderError("give either a time or a frame, not both")
        if frame is not None:
            if not -n <= frame < n:
                raise RenderError(f"frame {frame} does not exist; frames are 0..{n - 1}")
            i = frame % n
            return FrameChoice(i, self.frames[i].time,
                               f"frame {i} of 0..{n - 1}, t = {fmt_time(self.frames[i].time)}")
        if time is None:
            i = n - 1
            return FrameChoice(i, self.frames[i].time,
                               f"last frame ({i}), t = {fmt_time(self.frames[i].time)}")
        t = parse_time(time)
        i = int(np.argmin(np.abs(self.times - t)))
        ti = self.frames[i].time
        if abs(ti - t) <= 1e-9 * max(abs(t), 1e-12):
            note = f"frame {i}, t = {fmt_time(ti)}"
        else:
            note = f"frame {i} at t = {fmt_time(ti)}, the nearest to the requested {fmt_time(t)}"
            if t > self.times.max() or t < self.times.min():
                note += (f" (frames span {fmt_time(self.times.min())} to "
                         f"{fmt_time(self.times.max())})")
        return FrameChoice(i, ti, note)


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


_SUPER = str.maketrans("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")


def field_label(run: RunDir, name: str) -> str:
    """'Ca' → 'free [Ca²⁺] (µM)', 'EGTA.Ca' → '[EGTA·Ca] (µM)'."""
    if "." not in name:
        z = run.valence(name)
        charge = "" if z is None else (("" if abs(z) == 1 else str(abs(z))) + ("+" if z > 0 else "-"))
        return f"free [{name}{charge.translate(_SUPER)}] (µM)"
    return f"[{name.replace('.', '·')}] (µM, bound)"


# ---------------------------------------------------------------------------------------------
# colour scale


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    log: bool
    data_lo: float
    data_hi: float
    n_nonpositive: int = 0

    def transform(self, v: np.ndarray) -> np.ndarray:
        """Values as the scene colours them: log10 (NaN where ≤ 0) or unchanged."""
        v = np.asarray(v, float)
        if not self.log:
            return v
        out = np.full(v.shape, np.nan)
        pos = v > 0
        out[pos] = np.log10(v[pos])
        return out

    @property
    def tlim(self) -> tuple[float, float]:
        return (math.log10(self.lo), math.log10(self.hi)) if self.log else (self.lo, self.hi)

    def norm(self):
        from matplotlib.colors import LogNorm, Normalize

        return LogNorm(self.lo, self.hi) if self.log else Normalize(self.lo, self.hi)


def make_scale(values: np.ndarray, log: bool = True, clim: tuple[float, float] | None = None) -> Scale:
    """Colour limits = the data range (positive values on a log scale). A uniform field gets ±5 %
    so the bar has a width; `clim` overrides (µM)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise RenderError("the field has no finite value to colour")
    n_nonpos = 0
    if log:
        pos = v[v > 0]
        n_nonpos = int(v.size - pos.size)
        if pos.size == 0:
            log, pos = False, v
        v = pos
    data_lo, data_hi = float(v.min()), float(v.max())
    lo, hi = (data_lo, data_hi) if clim is None else (float(clim[0]), float(clim[1]))
    if clim is not None and (hi <= lo or (log and lo <= 0)):
        raise RenderError(f"colour range {clim} is empty or not positive on a log scale")
    if hi <= lo * (1 + 1e-12) if log else hi <= lo:
        pad = 0.05 * max(abs(lo), 1e-30) if lo != 0 else 1.0
        lo, hi = lo - pad, hi + pad
    return Scale(lo, hi, log, data_lo, data_hi, n_nonpos)


def iso_levels(scale: Scale, lo: float, hi: float, max_levels: int = 4) -> list[float]:
    """Isosurface levels inside (lo, hi): decades if two or more fit, else three round values."""
    if hi <= lo or (scale.log and lo <= 0):
        return []
    if scale.log:
        a, b = math.log10(lo), math.log10(hi)
        margin = 0.12 * (b - a)
        decades = [10.0**k for k in range(math.ceil(a + margin), math.floor(b - margin) + 1)]
        if len(decades) >= 2:
            while len(decades) > max_levels:
                decades = decades[1::2] if len(decades) % 2 == 0 else decades[::2]
            return decades
        return _distinct([10 ** (a + f * (b - a)) for f in (0.25, 0.5, 0.75)], lo, hi)
    return _distinct([lo + f * (hi - lo) for f in (0.25, 0.5, 0.75)], lo, hi)


def _distinct(values: list[float], lo: float, hi: float) -> list[float]:
    """Round to as few significant digits as keep the values distinct and inside (lo, hi)."""
    for sig in range(2, 8):
        r = [_round_sig(v, sig) for v in values]
        if len(set(r)) == len(r) and all(lo < x < hi for x in r):
            return r
    return values


def _round_sig(x: float, sig: int = 2) -> float:
    if x == 0:
        return 0.0
    return float(f"{x:.{sig}g}")


def fmt_conc(c: float, sig: int = 3) -> str:
    if c == 0:
        return "0"
    if abs(c) >= 1e5 or abs(c) < 1e-3:
        return f"{c:.2g}"
    text = f"{c:.{sig}g}"
    if "e" in text:                       # 1e+03 → 1000
        text = f"{c:.{max(0, sig - 1 - math.floor(math.log10(abs(c))))}f}"
    return text


def fmt_levels(levels: list[float]) -> str:
    """Levels with as many digits as keep them apart."""
    for sig in range(2, 8):
        texts = [fmt_conc(x, sig) for x in levels]
        if len(set(texts)) == len(texts):
            return ", ".join(texts)
    return ", ".join(repr(x) for x in levels)


# ---------------------------------------------------------------------------------------------
# mesh topology: facets (edges in 2D, faces in 3D), interfaces, named surfaces

_LOCAL_FACETS = {
    3: [(0, 1)],                                                         # line: itself (1D)
    5: [(0, 1), (1, 2), (2, 0)],                                         # triangle
    9: [(0, 1), (1, 2), (2, 3), (3, 0)],                                 # quad
    10: [(0, 1, 2), (0, 1, 3), (1, 2, 3), (0, 2, 3)],                    # tetra
    12: [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
    13: [(0, 1, 2), (3, 4, 5), (0, 1, 4, 3), (1, 2, 5, 4), (2, 0, 3, 5)],  # wedge
}


@dataclass
class Facets:
    """Cell facets grouped by node count: node ids, the owning cell and the neighbour (-1: none)."""

    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]]

    def select(self, predicate) -> list[np.ndarray]:
        """Node-id arrays of the facets for which predicate(owner, neighbour) holds."""
        return [nodes[predicate(a, b)] for nodes, a, b in self.groups]


def cell_facets(cells_by_type: dict[int, np.ndarray], n_facet_nodes: int | None = None) -> Facets:
    """Facets of cells given as {vtk cell type: (n, k) node ids, global cell ids as column -1}."""
    by_size: dict[int, tuple[list, list]] = {}
    for ctype, (conn, ids) in cells_by_type.items():
        if ctype not in _LOCAL_FACETS:
            raise RenderError(f"cells of VTK type {ctype} are not supported")
        for local in _LOCAL_FACETS[ctype]:
            nodes_l, cells_l = by_size.setdefault(len(local), ([], []))
            nodes_l.append(conn[:, local])
            cells_l.append(ids)
    groups = []
    for size, (nodes_l, cells_l) in by_size.items():
        nodes = np.concatenate(nodes_l)
        cells = np.concatenate(cells_l)
        key = np.sort(nodes, axis=1)
        _, first, inverse, counts = np.unique(key, axis=0, return_index=True, return_inverse=True,
                                              return_counts=True)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        owner = cells[order[starts]]
        second = np.where(counts >= 2, order[np.minimum(starts + 1, order.size - 1)], -1)
        neighbour = np.where(second >= 0, cells[np.maximum(second, 0)], -1)
        groups.append((nodes[order[starts]], owner, neighbour))
    return Facets(groups)


def grid_facets(grid) -> Facets:
    cells = {}
    types = np.asarray(grid.celltypes)
    for ctype, conn in grid.cells_dict.items():
        cells[int(ctype)] = (np.asarray(conn), np.flatnonzero(types == ctype))
    return cell_facets(cells)


def poly_facets(poly) -> Facets:
    """Edges of the polygons of a PolyData (all of one size or mixed)."""
    faces = np.asarray(poly.faces)
    conn: dict[int, list] = {}
    i, cell = 0, 0
    sizes = []
    while i < faces.size:
        n = int(faces[i])
        sizes.append((n, i + 1))
        i += n + 1
    by_n: dict[int, tuple[list, list]] = {}
    for cell, (n, start) in enumerate(sizes):
        rows, ids = by_n.setdefault(n, ([], []))
        rows.append(faces[start:start + n])
        ids.append(cell)
    for n, (rows, ids) in by_n.items():
        ctype = {3: 5, 4: 9}.get(n)
        if ctype is None:
            continue
        conn[ctype] = (np.asarray(rows), np.asarray(ids))
    return cell_facets(conn)


def nodes_key(f: np.ndarray) -> np.ndarray:
    """One comparable value per facet (its sorted node ids), for np.isin."""
    key = np.ascontiguousarray(np.sort(f, axis=1))
    return key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()


def _poly_from_facets(pv, points: np.ndarray, facet_lists: list[np.ndarray], clean: bool = True):
    """PolyData of facets: lines (2-node facets) or polygons (cells in the order given)."""
    lines, polys = [], []
    for f in facet_lists:
        if f.size == 0:
            continue
        flat = np.hstack([np.full((f.shape[0], 1), f.shape[1]), f]).ravel()
        (lines if f.shape[1] == 2 else polys).append(flat)
    kw = {}
    if lines:
        kw["lines"] = np.concatenate(lines)
    if polys:
        kw["faces"] = np.concatenate(polys)
    if not kw:
        return None
    poly = pv.PolyData(np.asarray(points, float), **kw)
    return poly.clean() if clean else poly


def surface_facets(spec: dict, facets: Facets, points: np.ndarray, comp: np.ndarray,
                   names: list[str], axes: tuple[str, ...], cylindrical: bool,
                   full_bounds: np.ndarray | None = None) -> list[np.ndarray]:
    """Facets of a named surface from its case specification (wall / between, bounds, disk).

    Mirrors mesh._surface_faces on the written mesh; TODO(core): read the face sets from the run
    directory once it stores them."""
    coord_of = {a: i for i, a in enumerate(axes)}
    if full_bounds is None:
        lo, hi = points.min(axis=0), points.max(axis=0)
    else:
        lo, hi = full_bounds[:, 0], full_bounds[:, 1]
    out = []
    for nodes, a, b in facets.groups:
        p = points[nodes]                                  # (n, k, 3)
        centre = p.mean(axis=1)
        extent = p.max(axis=1) - p.min(axis=1)
        scale = np.max(extent, axis=1)
        tol = 1e-6 * max(float(np.min(scale[scale > 0])) if np.any(scale > 0) else 1.0, 1e-12)
        if spec.get("wall"):
            mask = np.zeros(len(a), bool)
            for wall in spec["wall"]:
                i = coord_of.get(wall[0])
                if i is None:
                    continue
                edge = lo[i] if wall[1] == "-" else hi[i]
                mask |= (b < 0) & (np.abs(centre[:, i] - edge) <= tol) & (extent[:, i] <= tol)
        elif spec.get("between"):
            first, second = spec["between"]
            if first not in names or second not in names:
                out.append(nodes[:0])
                continue
            ia, ib = names.index(first), names.index(second)
            inner = b >= 0
            ca = np.where(inner, comp[a], -1)
            cb = np.where(inner, comp[np.maximum(b, 0)], -1)
            mask = inner & (((ca == ia) & (cb == ib)) | ((ca == ib) & (cb == ia)))
        else:
            out.append(nodes[:0])                # one entry per facet group, always
            continue
        for axis in "xyzr":
            bounds = spec.get(axis)
            if bounds is not None and axis in coord_of:
                i = coord_of[axis]
                mask &= (centre[:, i] >= bounds[0] - tol) & (centre[:, i] <= bounds[1] + tol)
        if spec.get("radius") is not None:
            normal_axis = np.argmax(np.where(extent[:, : len(axes)] <= tol, 1, 0), axis=1)
            center = spec.get("center") or [0.0] * len(axes)
            d2 = np.zeros(len(a))
            for i, axis in enumerate(axes):
                if cylindrical and axis == "z":
                    continue
                d2 += np.where(normal_axis != i, (centre[:, i] - center[i]) ** 2, 0.0)
            mask &= np.sqrt(d2) <= spec["radius"] + tol
        out.append(nodes[mask])
    return out


def _facet_measure(points: np.ndarray, facet_lists: list[np.ndarray], cylindrical: bool):
    """(total measure, centroid) of facets: length (×2πr if cylindrical) or polygon area."""
    total, moment = 0.0, np.zeros(3)
    for f in facet_lists:
        if f.size == 0:
            continue
        p = points[f]
        c = p.mean(axis=1)
        if f.shape[1] == 2:
            m = np.linalg.norm(p[:, 1] - p[:, 0], axis=1)
            if cylindrical:
                m = m * np.maximum(c[:, 0], 1e-3 * m)
        else:
            m = 0.5 * np.linalg.norm(np.cross(p[:, 2] - p[:, 0], p[:, -1] - p[:, 1 % f.shape[1]])
                                     if f.shape[1] == 4 else
                                     np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
        total += float(m.sum())
        moment += (m[:, None] * c).sum(axis=0)
    if total <= 0:
        return 0.0, None
    return total, moment / total


# ---------------------------------------------------------------------------------------------
# what to show: focus, region, cut


@dataclass
class View:
    camera: str                  # iso | top | side | cleft (resolved)
    focus: np.ndarray            # a cell centre at the source
    region: np.ndarray           # (3, 2) bounds of what is shown
    full: np.ndarray             # (3, 2) bounds of the mesh
    keep: np.ndarray             # unit vector: the opaque part lies on this side of the cut
    note: str = ""


def _surface(grid):
    """Outer surface with cell data (PyVista ≥ 0.47 asks for the algorithm explicitly)."""
    try:
        return grid.extract_surface(algorithm=None)
    except TypeError:
        return grid.extract_surface()


def _cell_centres(grid) -> np.ndarray:
    return np.asarray(grid.cell_centers().points)


def find_focus(run: RunDir, grid, values: np.ndarray, facets: Facets | None) -> tuple[np.ndarray, str]:
    """The centre of the cell next to the smallest flux-carrying surface (the channel), else the
    cell of the field's maximum."""
    centres = _cell_centres(grid)
    points = np.asarray(grid.points)
    comp = np.asarray(grid.cell_data["compartment"]) if "compartment" in grid.cell_data else \
        np.zeros(grid.n_cells, int)
    best = None
    if facets is not None:
        for spec in run.surfaces():
            if spec["role"] != "flux":
                continue
            fl = surface_facets(spec, facets, points, comp, run.compartment_names, run.axes,
                                run.cylindrical)
            area, c = _facet_measure(points, fl, run.cylindrical)
            if c is not None and (best is None or area < best[0]):
                best = (area, c, spec["name"])
    if best is not None:
        target = best[1].copy()
        if run.cylindrical:
            target[0] = 0.0 if target[0] < 0.5 * (np.ptp(points[:, 0]) or 1) else target[0]
        i = int(np.argmin(np.sum((centres - target) ** 2, axis=1)))
        return centres[i], f"source: surface {best[2]!r}"
    # surfaces not rebuildable (e.g. Gmsh physical groups): the maximum of the field in the
    # compartment the smallest flux feeds (the cytosol under a channel), else anywhere
    v = np.where(np.isfinite(values), values, -np.inf)
    where, why = np.ones(v.size, bool), "source: the field's maximum"
    names = run.compartment_names
    areas = run.mesh_info.get("surface_areas_um2") or {}
    fluxes = sorted(run.case.get("fluxes") or [], key=lambda f: areas.get(f["surface"], np.inf))
    for f in fluxes[:1]:
        target = f.get("to") if f.get("to") in names else f.get("from")
        if target in names:
            inside = comp == names.index(target)
            if np.any(inside & (v > -np.inf)):
                where = inside
                why = f"source: the field's maximum in {target!r} (fed by {f['surface']!r})"
    v = np.where(where, v, -np.inf)
    top = np.flatnonzero(v >= v.max())
    i = top[np.argmin(np.sum((centres[top] - centres[top].mean(axis=0)) ** 2, axis=1))]
    return centres[i], why


def hot_region(grid, values: np.ndarray, focus: np.ndarray, scale: Scale, full: np.ndarray,
               cylindrical: bool) -> np.ndarray:
    """Bounds around the focus that hold the elevated part of the field (in the focus's
    compartment): twice the reach of cells above a quarter of the compartment's log range."""
    centres = _cell_centres(grid)
    comp = np.asarray(grid.cell_data["compartment"]) if "compartment" in grid.cell_data else \
        np.zeros(grid.n_cells, int)
    i0 = int(np.argmin(np.sum((centres - focus) ** 2, axis=1)))
    same = comp == comp[i0]
    t = scale.transform(values)
    tv = t[same & np.isfinite(t)]
    if tv.size == 0:
        return full.copy()
    a, b = float(tv.min()), float(tv.max())
    span = (b - a)
    if span < (1e-6 if scale.log else 1e-6 * max(abs(b), 1e-30)):      # uniform: no source
        return full.copy()
    hot = same & np.isfinite(t) & (t >= a + 0.25 * span)
    sizes = _cell_sizes(grid)
    d = np.sqrt(np.sum((centres[hot] - focus) ** 2, axis=1)) + 0.5 * sizes[hot]
    reach = 2.0 * float(d.max()) if d.size else 0.0
    reach = max(reach, 6.0 * float(sizes[i0]))
    region = np.stack([focus - reach, focus + reach], axis=1)
    if cylindrical:
        region[0, 0] = 0.0
    region[:, 0] = np.maximum(region[:, 0], full[:, 0])
    region[:, 1] = np.minimum(region[:, 1], full[:, 1])
    return region


def _cell_sizes(grid) -> np.ndarray:
    sized = grid.compute_cell_sizes(length=True, area=True, volume=True)
    dim = int(np.sum(np.ptp(np.asarray(grid.points), axis=0) > 0))
    key = {1: "Length", 2: "Area", 3: "Volume"}[max(dim, 1)]
    m = np.abs(np.asarray(sized.cell_data[key]))
    return m ** (1.0 / max(dim, 1))


def _in_region(grid, region: np.ndarray) -> np.ndarray:
    c = _cell_centres(grid)
    return np.all((c >= region[:, 0] - 1e-12) & (c <= region[:, 1] + 1e-12), axis=1)


def _bounds(grid) -> np.ndarray:
    return np.asarray(grid.bounds, float).reshape(3, 2)


def make_view(run: RunDir, grid, values, scale: Scale, camera: str, facets) -> View:
    full = _bounds(grid)
    focus, why = find_focus(run, grid, values, facets)
    roi = hot_region(grid, values, focus, scale, full, run.cylindrical)
    extent = np.ptp(full, axis=1)
    frac = max(float(np.ptp(roi[i]) / extent[i]) for i in range(3) if extent[i] > 0)
    resolved = camera
    if camera == "auto":
        resolved = "cleft" if frac < 0.5 else "iso"
    region = roi if resolved == "cleft" else full
    keep = np.array([0.0, 0.0, -1.0]) if resolved == "top" else np.array([0.0, 1.0, 0.0])
    note = f"camera {resolved}" + (" (auto)" if camera == "auto" else "") + f"; {why}"
    return View(resolved, focus, region, full, keep, note)


# ---------------------------------------------------------------------------------------------
# 3D scenes (PyVista)


@dataclass
class Scene:
    """What the 3D panel shows, ready for a Plotter: (mesh, add_mesh keyword arguments)."""

    items: list[tuple[object, dict]] = field(default_factory=list)
    bounds: np.ndarray | None = None
    focus: np.ndarray | None = None
    camera: str = "iso"
    note: str = ""


def _iso_style(camera: str) -> dict:
    """Isosurfaces seen edge-on from the side would veil the cut they stand in front of."""
    return {**ISO_STYLE, "opacity": 0.12} if camera == "side" else ISO_STYLE


def _mesh_kw(scale: Scale, **extra) -> dict:
    kw = dict(cmap=CMAP, clim=scale.tlim, show_scalar_bar=False, nan_color=NAN_COLOR,
              ambient=0.7, diffuse=0.4, specular=0.0)
    kw.update(extra)
    return kw


def _interface_lines(pv, surf, comp_name="compartment"):
    """Lines on a surface where the compartment id changes (outlines of compartments)."""
    if surf is None or surf.n_cells == 0 or comp_name not in surf.cell_data:
        return None
    fac = poly_facets(surf)
    comp = np.asarray(surf.cell_data[comp_name])
    edges = fac.select(lambda a, b: (b >= 0) & (comp[a] != comp[np.maximum(b, 0)]))
    return _poly_from_facets(pv, np.asarray(surf.points), edges)


def _contours(pv, grid, tname: str, levels: list[float], scale: Scale):
    """Isosurfaces (3D) or isolines (2D) of the transformed field, per compartment so no value is
    interpolated across a membrane. Point array 'level' holds the level in transformed units."""
    if not levels:
        return []
    comp = np.asarray(grid.cell_data["compartment"]) if "compartment" in grid.cell_data else \
        np.zeros(grid.n_cells, int)
    tlev = [float(x) for x in scale.transform(np.asarray(levels))]
    out = []
    for k in np.unique(comp):
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


def scene_3d(pv, run: RunDir, grid, tname: str, scale: Scale, view: View, levels: list[float]):
    scene = Scene(camera=view.camera, focus=view.focus)
    sub = grid.extract_cells(np.flatnonzero(_in_region(grid, view.region)))
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
    # membranes between compartments, and the named surfaces
    fac = grid_facets(sub)
    comp = np.asarray(sub.cell_data["compartment"])
    if view.camera != "top":
        floor = []
        values = []
        tv = np.asarray(sub.cell_data[tname])
        for w in _floor_walls(run, view.camera):
            fl = surface_facets({"wall": [w]}, fac, pts, comp, run.compartment_names, run.axes,
                                False, view.full)
            owners = [a[np.isin(nodes_key(n), nodes_key(f))] for (n, a, _), f in
                      zip(fac.groups, fl)]
            for f, own in zip(fl, owners):
                centre = pts[f].mean(axis=1)
                out = (centre - view.focus) @ view.keep < (cut - view.focus) @ view.keep
                floor.append(f[out])
                values.append(tv[own[out]])
        poly = _poly_from_facets(pv, pts, floor, clean=False)
        if poly is not None:
            poly.cell_data[tname] = np.concatenate(values)
            scene.items.append((poly, _mesh_kw(scale, scalars=tname)))
    items, flux = _membrane_items(run, fac, pts, comp, view.full, False,
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


def _floor_walls(run: RunDir, camera: str) -> list[str]:
    """Walls that carry a flux surface (the membrane with the channel) and face away from the
    camera: drawn in the part cut away, so isosurfaces stand on the membrane they come from."""
    d = np.asarray(_DIRECTIONS[camera][0], float)
    d /= np.linalg.norm(d)
    axes = run.axes
    walls = []
    for spec in run.surfaces():
        if spec["role"] != "flux" or not spec.get("wall"):
            continue
        for w in spec["wall"]:
            if w[0] not in axes or w in walls or (run.cylindrical and w[0] == "r"):
                continue
            i = "xyz".index(w[0]) if not run.cylindrical else 2
            normal = np.zeros(3)
            normal[i] = -1.0 if w[1] == "-" else 1.0
            if normal @ d < -0.1:
                walls.append(w)
    return walls


def flux_colour(run: RunDir, name: str) -> str:
    names = [s["name"] for s in run.surfaces() if s["role"] == "flux"]
    return SURFACE_COLORS[names.index(name) % len(SURFACE_COLORS)] if name in names else "black"


def _membrane_items(run: RunDir, fac: Facets, pts, comp, full_bounds, cylindrical, make,
                    sheets: bool = True):
    """Membranes (compartment interfaces) as neutral translucent sheets, and the small
    flux-carrying surfaces (a channel, a cluster) as opaque patches in their legend colour.
    Returns (items, {surface name: facets}) so callers can trace every flux surface on a cut."""
    items, flux = [], {}
    exterior = fac.select(lambda a, b: b < 0)
    boundary_area, _ = _facet_measure(pts, exterior, cylindrical)
    for spec in run.surfaces():
        if spec["role"] != "flux":
            continue
        fl = surface_facets(spec, fac, pts, comp, run.compartment_names, run.axes, cylindrical,
                            full_bounds)
        flux[spec["name"]] = fl
        area, _ = _facet_measure(pts, fl, cylindrical)
        if area <= 0 or area >= 0.02 * max(boundary_area, 1e-300):
            continue                  # a whole membrane or wall: shown as membrane / by its trace
        poly = make(fl)
        if poly is not None and poly.n_cells:
            items.append((poly, dict(color=flux_colour(run, spec["name"]), opacity=1.0,
                                     ambient=0.6)))
    if sheets:
        inter = fac.select(lambda a, b: (b >= 0) & (comp[a] != comp[np.maximum(b, 0)]))
        mem = make(inter)
        if mem is not None and mem.n_cells:
            items.insert(0, (mem, dict(color=MEMBRANE_COLOR, opacity=SHEET_OPACITY,
                                       ambient=0.5)))
    return items, flux


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


def _segments(poly) -> np.ndarray:
    """Two-node segments of the lines of a PolyData."""
    lines = np.asarray(poly.lines)
    segs, i = [], 0
    while i < lines.size:
        n = int(lines[i])
        ids = lines[i + 1:i + 1 + n]
        segs.append(np.stack([ids[:-1], ids[1:]], axis=1))
        i += n + 1
    return np.concatenate(segs) if segs else np.zeros((0, 2), int)


def scene_revolved(pv, run: RunDir, grid, tname: str, scale: Scale, view: View,
                   levels: list[float], azimuth: float):
    """The (r, z) field revolved about the z axis: 270° with the missing quadrant facing the
    camera (iso/side/cleft), or the layer at the source height all the way round (top)."""
    scene = Scene(camera=view.camera)
    sub = grid.extract_cells(np.flatnonzero(_in_region(grid, view.region)))
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
        for w in _floor_walls(run, view.camera):
            fl = surface_facets({"wall": [w]}, fac, pts, comp, run.compartment_names, run.axes,
                                True, view.full)
            for (n, a, _), f in zip(fac.groups, fl):
                if not f.size:
                    continue
                own = a[np.isin(nodes_key(n), nodes_key(f))]
                floor = _revolve_lines(pv, pts, f, th_iso, cell_arrays={tname: tval[own]})
                if floor is not None:
                    scene.items.append((floor, _mesh_kw(scale, scalars=tname)))
    # membranes (compartment interfaces) and named surfaces, swept all the way round
    th_all = np.linspace(0, 2 * np.pi, n_full + 1)
    items, flux = _membrane_items(
        run, fac, pts, comp, view.full, True,
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


_DIRECTIONS = {
    "iso": ((0.55, -1.0, 0.72), (0, 0, 1)),
    "cleft": ((0.55, -1.0, 0.72), (0, 0, 1)),
    "side": ((0.0, -1.0, 0.0), (0, 0, 1)),
    "top": ((0.0, -0.0001, 1.0), (0, 1, 0)),
}


def camera_azimuth(camera: str) -> float:
    d = _DIRECTIONS[camera][0]
    return math.atan2(d[1], d[0])


def fit_camera(bounds: np.ndarray, direction, up, size, parallel: bool, margin: float = 1.06,
               view_angle: float = 24.0):
    """Camera looking along -direction that frames the box `bounds` tightly (not its bounding
    sphere, as VTK's reset does): (position, focal point, view up, parallel scale or angle)."""
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    v = np.asarray(up, float) - np.dot(up, d) * d
    v /= np.linalg.norm(v)
    u = np.cross(v, d)
    corners = np.array(np.meshgrid(*bounds, indexing="ij")).reshape(3, -1).T
    cu, cv, cd = corners @ u, corners @ v, corners @ d
    aspect = size[0] / size[1]
    centre = u * (cu.max() + cu.min()) / 2 + v * (cv.max() + cv.min()) / 2 + d * (cd.max() + cd.min()) / 2
    half = 0.5 * max(np.ptp(cv), np.ptp(cu) / aspect, 1e-12) * margin
    depth = 0.5 * max(np.ptp(cd), 1e-12)
    if parallel:
        dist = 4 * depth + 4 * half
        return tuple(centre + dist * d), tuple(centre), tuple(v), half
    dist = depth + half / math.tan(math.radians(view_angle / 2))
    return tuple(centre + dist * d), tuple(centre), tuple(v), view_angle


class Renderer3D:
    """One off-screen Plotter reused for every picture of a call (animations)."""

    def __init__(self, pv, size: tuple[int, int]):
        self.pv = pv
        self.size = size
        self.plotter = None

    def render(self, scene: Scene) -> np.ndarray:
        pv = self.pv
        if self.plotter is None:
            self.plotter = pv.Plotter(off_screen=True, window_size=list(self.size))
            self.plotter.set_background("white")
            # no depth peeling: with EGL + llvmpipe it drops translucent surfaces altogether
        p = self.plotter
        p.clear_actors()
        for mesh, kw in scene.items:
            p.add_mesh(mesh, render=False, **kw)
        d, up = _DIRECTIONS[scene.camera]
        parallel = scene.camera in ("top", "side")
        pos, focal, up, scale_or_angle = fit_camera(scene.bounds, d, up, self.size, parallel)
        # projection first: PyVista moves the camera when it switches projection
        if parallel:
            p.enable_parallel_projection()
        else:
            p.disable_parallel_projection()
        p.camera_position = [pos, focal, up]
        if parallel:
            p.camera.parallel_scale = scale_or_angle
        else:
            p.camera.view_angle = scale_or_angle
        p.renderer.ResetCameraClippingRange()
        p.render()
        img = p.screenshot(return_img=True)
        return np.asarray(img)[..., :3]

    def close(self):
        if self.plotter is not None:
            self.plotter.close()
            self.plotter = None


# ---------------------------------------------------------------------------------------------
# 2D maps (matplotlib)


def _length_unit(extent_um: float) -> tuple[str, float]:
    return ("nm", 1e3) if extent_um <= 0.6 else ("µm", 1.0)


def _section(pv, run: RunDir, grid, tname: str, view: View):
    """The 2D picture under the 3D view: (polygons in 2D, values, axis names, (i, j) coordinates).
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


def draw_map(ax, pv, run: RunDir, grid, tname: str, field_name: str, scale: Scale, view: View,
             levels: list[float]):
    """The (r, z) map or the 3D section: cells, isolines, compartment outlines, surfaces."""
    from matplotlib.collections import LineCollection, PolyCollection

    sec, ij = _section(pv, run, grid, tname, view)
    cmap = _cmap()
    region = view.region
    extent = max(float(np.ptp(region[ij[0]])), float(np.ptp(region[ij[1]])))
    unit, f = _length_unit(extent)
    box = (region[ij[0]] * f, region[ij[1]] * f)
    if sec.n_cells:
        vals = np.asarray(sec.cell_data[field_name], float)
        shown = np.where(vals > 0, vals, np.nan) if scale.log else vals
        mesh = _tensor_grid(sec, ij)
        if mesh is not None:                       # rectangles on a tensor grid: one image
            xn, yn, index = mesh
            C = np.full((yn.size - 1, xn.size - 1), np.nan)
            C[index[1], index[0]] = shown
            ax.pcolormesh(xn * f, yn * f, np.ma.masked_invalid(C), cmap=cmap, norm=scale.norm(),
                          shading="flat", rasterized=True)
        else:
            inside = _in_region(sec, region)
            verts = [v * f for k, v in enumerate(_polygons(sec, ij)) if inside[k]]
            colours = cmap(scale.norm()(shown[inside]))
            colours[~np.isfinite(shown[inside])] = (*NAN_COLOR, 1.0)
            ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors=colours,
                                             linewidths=0.3, antialiased=False))
    handles = []
    # isolines of the same levels as the isosurfaces
    if run.kind in ("axisymmetric", "2d"):
        iso_src = sec
    else:
        iso_src = None
    if iso_src is not None:
        for c in _contours(pv, iso_src, tname, levels, scale):
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
    # compartment outlines
    if run.kind in ("axisymmetric", "2d"):
        fac = grid_facets(grid)
        comp = np.asarray(grid.cell_data["compartment"])
        pts = np.asarray(grid.points)
        inter = fac.select(lambda a, b: (b >= 0) & (comp[a] != comp[np.maximum(b, 0)]))
        segs = np.concatenate(inter) if inter else np.zeros((0, 2), int)
        if segs.size:
            ax.add_collection(LineCollection(pts[segs][:, :, ij] * f, colors="black",
                                             linewidths=1.4))
        for j, spec in enumerate(run.surfaces()):
            fl = surface_facets(spec, fac, pts, comp, run.compartment_names, run.axes,
                                run.cylindrical)
            s = np.concatenate(fl) if fl else np.zeros((0, 2), int)
            if not s.size:
                continue
            _draw_surface(ax, pts[s][:, :, ij] * f, {**spec, "colour": flux_colour(run, spec["name"])},
                          j, handles, extent * f, box)
    else:
        fac = grid_facets(grid)
        comp = np.asarray(grid.cell_data["compartment"])
        pts = np.asarray(grid.points)
        normal = (0, 0, 1) if view.camera == "top" else (0, 1, 0)
        inter = fac.select(lambda a, b: (b >= 0) & (comp[a] != comp[np.maximum(b, 0)]))
        mem = _poly_from_facets(pv, pts, inter)
        if mem is not None:
            sl = mem.slice(normal=normal, origin=tuple(view.focus))
            if sl.n_points:
                p = np.asarray(sl.points)[:, ij] * f
                ax.add_collection(LineCollection(p[_segments(sl)], colors="black",
                                                 linewidths=1.4))
        n_ax = 2 if view.camera == "top" else 1
        for j, spec in enumerate(run.surfaces()):
            fl = surface_facets(spec, fac, pts, comp, run.compartment_names, run.axes, False)
            poly = _poly_from_facets(pv, pts, fl)
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
                _draw_surface(ax, lines, {**spec, "colour": flux_colour(run, spec["name"])}, j,
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


def _draw_surface(ax, lines, spec, j, handles, view_extent, box):
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


def _cmap():
    import matplotlib

    return matplotlib.colormaps[CMAP].with_extremes(bad=NAN_COLOR)


# ---------------------------------------------------------------------------------------------
# one picture


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


def _figure(size: tuple[int, int]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _font_scale(size) -> float:
    """Text grows more slowly than the picture: 1 at 1024x768, 0.56 at 320x240."""
    return min(max(0.5, min(size[0] / 1024, size[1] / 768) ** 0.5), 1.8)


def compose(pv, renderer: Renderer3D | None, run: RunDir, grid, field_name: str, scale: Scale,
            view: View, levels: list[float], size: tuple[int, int], time_ms: float, frame: int):
    """One picture as an RGB array of exactly `size` (width, height)."""
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fs = 10.5 * _font_scale(size)
    W, H = size
    line = fs * 1.45 / 72 * 100            # one text line in pixels (dpi 100)
    lh, lw = line / H, line / W
    tname = "_t_" + field_name
    grid.cell_data[tname] = scale.transform(np.asarray(grid.cell_data[field_name]))
    fig = _figure(size)
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
            draw_map(ax, pv, run, grid, tname, field_name, scale, view, levels)
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
            renderer.size = (int(round(rect[2] * W)), int(round(rect[3] * H)))
            if run.kind == "axisymmetric":
                scene = scene_revolved(pv, run, grid, tname, scale, view, levels,
                                       camera_azimuth(view.camera))
                what = ("the layer at the source, revolved about the z axis, from above"
                        if view.camera == "top" else "revolved 270° about the z axis")
            else:
                scene = scene_3d(pv, run, grid, tname, scale, view, levels)
                what = "cut open along the section"
            img = renderer.render(scene)
            ax3.imshow(img, interpolation="none", aspect="auto")
            ext = np.ptp(scene.bounds, axis=1)
            region_txt = f"region {_fmt_len(ext[0])} × {_fmt_len(ext[1])} × {_fmt_len(ext[2])}"
            fits = (len(what) + len(region_txt) + 2) * 0.55 * 0.82 * fs * 100 / 72 < rect[2] * W
            what += ("; " if fits else "\n") + region_txt
            if levels:
                what += "\nisosurfaces at " + fmt_levels(levels) + " µM"
            fig.text(rect[0] + rect[2] / 2, caption_y, what, ha="center", va="bottom",
                     fontsize=0.82 * fs, color="0.25", linespacing=1.3)
        # the colour bar
        cax = fig.add_axes([0.22, cb_y, 0.56, cb_h])
        sm = ScalarMappable(norm=scale.norm(), cmap=_cmap())
        cb = fig.colorbar(sm, cax=cax, orientation="horizontal")
        cb.set_label(label + ("  ·  log scale" if scale.log else ""), fontsize=fs, labelpad=2)
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
        if levels:
            cb.add_lines(levels, colors=["white"] * len(levels), linewidths=[1.5] * len(levels))
        # the limits at the ends of the bar, unless a tick label already says so
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
        if scale.n_nonpositive:
            fig.text(0.995, 0.005, f"grey: {scale.n_nonpositive} cells ≤ 0 (field absent there)",
                     ha="right", va="bottom", fontsize=0.75 * fs, color="0.4")
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
    del grid.cell_data[tname]
    return rgba[..., :3].copy()


def _fmt_len(um: float) -> str:
    return f"{um * 1e3:.3g} nm" if abs(um) < 1 else f"{um:.3g} µm"


# ---------------------------------------------------------------------------------------------
# entry point


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[x×X,]\s*(\d+)\s*", str(text))
    if not m:
        raise RenderError(f"cannot read size {text!r}; write WIDTHxHEIGHT, e.g. 1024x768")
    w, h = int(m.group(1)), int(m.group(2))
    if not (160 <= w <= 8192 and 120 <= h <= 8192):
        raise RenderError(f"size {w}x{h} is out of range (160x120 to 8192x8192)")
    return w, h


def _save_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(img).save(tmp, format="PNG")
    os.replace(tmp, path)


def render(run_dir, field: str | None = None, time=None, frame: int | None = None,
           camera: str = "auto", size=(1024, 768), out=None, animate: bool = False,
           log: bool = True, clim: tuple[float, float] | None = None, fps: float = 4.0,
           log_to=None) -> RenderResult:
    """Render one frame (PNG) or, with animate, the whole series (GIF, and MP4 if imageio-ffmpeg
    is installed). Returns what was written and the colour limits used."""
    if camera not in CAMERAS:
        raise RenderError(f"unknown camera {camera!r}; cameras: {', '.join(CAMERAS)}")
    if isinstance(size, str):
        size = parse_size(size)
    run = RunDir(run_dir)
    name = run.check_field(field)
    out_dir = Path(out) if out else run.path / "render"
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
            spans.append(_compartment_range(run.read(i), v, focus, None))
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
        focus_lo, focus_hi = _compartment_range(grid, values, view.focus, scale)
    notes.append(view.note)
    levels = iso_levels(scale, focus_lo, focus_hi)
    if scale.n_nonpositive and log:
        notes.append(f"{scale.n_nonpositive} cells hold {name} ≤ 0 (where it is absent): drawn grey")
    renderer = Renderer3D(pv, size)
    images, paths = [], []
    try:
        for i in indices:
            g = run.read(i)
            img = compose(pv, renderer, run, g, name, scale, view, levels, size,
                          run.frames[i].time, i)
            if not animate:
                path = out_dir / f"{_safe(name)}_f{i:05d}_{view.camera}.png"
                _save_png(img, path)
                paths.append(path)
            else:
                images.append(img)
            if log_to is not None and animate:
                print(f"  frame {i + 1}/{len(indices)}", file=log_to, flush=True)
    finally:
        renderer.close()
    if animate:
        paths += _write_animation(images, out_dir / f"{_safe(name)}_{view.camera}", fps, notes)
    return RenderResult(paths, name, indices, [run.frames[i].time for i in indices],
                        (scale.lo, scale.hi), (scale.data_lo, scale.data_hi), scale.log,
                        view.camera, levels, notes)


def _compartment_range(grid, values, focus, scale: Scale | None) -> tuple[float, float]:
    """Range of the field in the compartment of the focus (isosurfaces are drawn there);
    positive values only on a log scale (scale None: positive values, not clipped)."""
    comp = np.asarray(grid.cell_data["compartment"]) if "compartment" in grid.cell_data else \
        np.zeros(grid.n_cells, int)
    c = _cell_centres(grid)
    i0 = int(np.argmin(np.sum((c - focus) ** 2, axis=1)))
    v = values[(comp == comp[i0]) & np.isfinite(values)]
    if scale is None or scale.log:
        v = v[v > 0]
    if v.size == 0:
        return (scale.lo, scale.hi) if scale else (1.0, 1.0)
    if scale is None:
        return float(v.min()), float(v.max())
    return max(float(v.min()), scale.lo), min(float(v.max()), scale.hi)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


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
                     "(pip install imageio imageio-ffmpeg)")
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
