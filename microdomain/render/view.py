"""What to show: the focus (the source), the region around it, the side of the cut, the camera."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .colours import Scale
from .common import DIRECTIONS
from .rundir import RunDir
from .topology import (Facets, _bounds, _cell_centres, _cell_sizes, _facet_measure,
                       compartment_ids)


@dataclass
class View:
    camera: str                  # iso | top | side | cleft (resolved)
    focus: np.ndarray            # a cell centre at the source
    region: np.ndarray           # (3, 2) bounds of what is shown
    full: np.ndarray             # (3, 2) bounds of the mesh
    keep: np.ndarray             # unit vector: the opaque part lies on this side of the cut
    note: str = ""
    exact: bool = False          # cut the mesh exactly at the region (the geometric cleft)


def find_focus(run: RunDir, grid, values: np.ndarray, facets: Facets | None) -> tuple[np.ndarray, str]:
    """The centre of the cell next to the smallest flux-carrying surface (the channel), else the
    cell of the field's maximum."""
    centres = _cell_centres(grid)
    points = np.asarray(grid.points)
    comp = compartment_ids(grid)
    best = None
    if facets is not None:
        for spec in run.surfaces():
            if spec["role"] != "flux":
                continue
            fl = run.surface_facets(spec["name"], facets, points)
            area, c = _facet_measure(points, fl, run.cylindrical)
            if c is not None and (best is None or area < best[0]):
                best = (area, c, spec["name"])
    if best is not None:
        target = best[1].copy()
        if run.cylindrical:
            target[0] = 0.0 if target[0] < 0.5 * (np.ptp(points[:, 0]) or 1) else target[0]
        i = int(np.argmin(np.sum((centres - target) ** 2, axis=1)))
        return centres[i], f"source: surface {best[2]!r}"
    # no named flux surface (none in the case, or no surfaces.vtu): the maximum of the field in
    # the compartment the smallest flux feeds (the cytosol under a channel), else anywhere
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
               cylindrical: bool, level: float = 0.25) -> np.ndarray:
    """Bounds around the focus that hold the elevated part of the field (in the focus's
    compartment): twice the reach of cells above `level` (a quarter) of the compartment's log
    range."""
    centres = _cell_centres(grid)
    comp = compartment_ids(grid)
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
    hot = same & np.isfinite(t) & (t >= a + level * span)
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


def make_view(run: RunDir, grid, values, scale: Scale, camera: str, facets) -> View:
    full = _bounds(grid)
    focus, why = find_focus(run, grid, values, facets)
    roi = hot_region(grid, values, focus, scale, full, run.cylindrical)
    # a contact geometry records its cleft (two facing patches and the gap): what a picture of
    # a contact is about, so `auto` zooms on it there, whatever the field's spread
    cleft = cleft_region(run, focus, full) if camera in ("auto", "cleft") else None
    resolved = camera
    if camera == "auto":
        resolved = "cleft" if cleft is not None or _fraction(roi, full) < 0.5 else "iso"
    region, exact = full, False
    if resolved == "cleft":
        # on a contact: the cleft, not the elevated field, which spreads over the whole mesh
        if cleft is not None:
            (region, what), exact = cleft, True
            why += f"; {what}"
        else:
            region = roi
            # a field raised over most of the mesh (a cluster after milliseconds): zoom on its
            # steeper part near the source, a higher share of the log range at a time
            level = 0.25
            for higher in (0.5, 0.75):
                if _fraction(region, full) < 0.5:
                    break
                level = higher
                region = hot_region(grid, values, focus, scale, full, run.cylindrical, level)
            if level > 0.25:
                why += f"; region: the cells above {level:.0%} of the field's log range there"
    keep = np.array([0.0, 0.0, -1.0]) if resolved == "top" else np.array([0.0, 1.0, 0.0])
    note = f"camera {resolved}" + (" (auto)" if camera == "auto" else "") + f"; {why}"
    return View(resolved, focus, region, full, keep, note, exact)


def _fraction(region: np.ndarray, full: np.ndarray) -> float:
    """The largest share of the mesh's extent the region spans along any axis."""
    extent = np.ptp(full, axis=1)
    return max((float(np.ptp(region[i]) / extent[i]) for i in range(3) if extent[i] > 0),
               default=1.0)


# the cleft view: how far beyond the contact patch (× its radius) and the gap (× the larger of
# the gap and 0.3 × the patch radius, so the membranes on either side show) the region reaches
CLEFT_LATERAL = 1.35
CLEFT_NORMAL = 1.5


def cleft_region(run: RunDir, focus: np.ndarray, full: np.ndarray):
    """(bounds, description) of the region around the cleft nearest the focus, from the cleft
    the mesh records (manifest mesh.clefts: two facing surfaces and the nominal gap, written by
    the contact builders) and the surfaces' faces in surfaces.vtu; None where there is none.

    Where a surface has several patches (puncta), the patch nearest the focus is taken. The
    region spans CLEFT_LATERAL × the patch's radius around its centre (from the axis in (r, z))
    and, across the cleft, the gap plus a margin on both sides."""
    clefts = run.mesh_info.get("clefts") or {}
    sset = run.surface_set()
    if not clefts or sset is None:
        return None
    best = None
    for key, c in clefts.items():
        names = [n for n in c.get("surfaces") or [] if n in sset.faces]
        if len(names) != 2:
            continue
        patches = [_patch_points(sset, n, focus) for n in names]
        d = min(float(np.min(np.sum((p - focus) ** 2, axis=1))) for p in patches)
        if best is None or d < best[0]:
            best = (d, key, patches, float(c.get("nominal_um") or 0.0))
    if best is None:
        return None
    _, key, (pa, pb), gap = best
    both = np.vstack([pa, pb])
    dim = len(run.axes)
    span = np.ptp(both[:, :dim], axis=0)
    normal = int(np.argmin(span))                     # the axis across the cleft
    lateral = [k for k in range(dim) if k != normal]
    if run.cylindrical:
        radius = float(max(pa[:, 0].max(), pb[:, 0].max()))    # patches start on the axis
    else:
        radius = 0.5 * float(max(np.ptp(pa[:, lateral], axis=0).max(),
                                 np.ptp(pb[:, lateral], axis=0).max()))
    gap = gap or float(span[normal])
    region = full.copy()
    centre = 0.5 * (both.min(axis=0) + both.max(axis=0))
    for k in lateral:
        if run.cylindrical and k == 0:
            region[k] = (0.0, CLEFT_LATERAL * radius)
        else:
            region[k] = (centre[k] - CLEFT_LATERAL * radius, centre[k] + CLEFT_LATERAL * radius)
    margin = CLEFT_NORMAL * max(gap, 0.3 * radius)
    region[normal] = (both[:, normal].min() - margin, both[:, normal].max() + margin)
    region[:, 0] = np.maximum(region[:, 0], full[:, 0])
    region[:, 1] = np.minimum(region[:, 1], full[:, 1])
    return region, (f"cleft {key!r}: {gap * 1e3:.3g} nm gap, contact radius "
                    f"{radius * 1e3:.3g} nm")


def _patch_points(sset, name: str, focus: np.ndarray) -> np.ndarray:
    """Points of the named surface's connected patch nearest the focus (faces sharing nodes)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    faces = sset.faces[name]
    used = np.unique(np.concatenate([f.ravel() for f in faces]))
    rows, cols = [], []
    for f in faces:                                   # chain each face's nodes together
        local = np.searchsorted(used, f)
        for j in range(1, f.shape[1]):
            rows.append(local[:, 0])
            cols.append(local[:, j])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size), (r, c)), shape=(used.size, used.size))
    _, label = connected_components(graph, directed=False)
    pts = sset.points[used]
    nearest = int(np.argmin(np.sum((pts - focus) ** 2, axis=1)))
    return pts[label == label[nearest]]


def focus_compartment(grid, focus) -> int:
    """The compartment id of the cell nearest the focus."""
    c = _cell_centres(grid)
    return int(compartment_ids(grid)[int(np.argmin(np.sum((c - focus) ** 2, axis=1)))])


def compartment_range(grid, values, focus, scale: Scale | None) -> tuple[float, float]:
    """Range of the field in the compartment of the focus (isosurfaces are drawn there);
    positive values only on a log scale (scale None: positive values, not clipped)."""
    comp = compartment_ids(grid)
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


# ---------------------------------------------------------------------------------------------
# cameras


def camera_azimuth(camera: str) -> float:
    d = DIRECTIONS[camera][0]
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
