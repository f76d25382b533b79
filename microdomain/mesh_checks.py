"""Checks of an unstructured mesh at load: cell quality for finite volumes and tag consistency.

FiPy's diffusion term uses two-point fluxes D·A_f·(c_N − c_P)/|x_N − x_P|: exact when the line
joining the two cell centres is normal to the face and passes through its centre, first-order
wrong otherwise. Two numbers per interior face measure the departure (OpenFOAM's definitions):

- non-orthogonality: the angle between the face normal and the centre-to-centre line;
- skewness: the distance from the face centre to where the centre-to-centre line crosses the
  face plane, divided by the centre-to-centre distance.

Statistics of both go to ``Domain.stats`` (and from there into manifest.json). A
:class:`MeshQualityWarning` is issued when more than 0.1 % of the interior faces exceed
OpenFOAM's checkMesh limit for non-orthogonality (70°), when any face exceeds 85°, or when any
face is skewed beyond 4 (checkMesh's limit). A handful of faces just above 70° among tens of
thousands is what a good tetrahedral mesh of curved, thin shells has, and is only counted.

Numpy only: callers pass the geometric arrays.
"""

from __future__ import annotations

import warnings

import numpy as np

NON_ORTHOGONALITY_LIMIT_DEG = 70.0
NON_ORTHOGONALITY_HARD_LIMIT_DEG = 85.0
SEVERE_FRACTION = 1e-3
SKEWNESS_LIMIT = 4.0


class MeshQualityWarning(UserWarning):
    """Cells whose shape costs the finite-volume fluxes accuracy."""


def face_quality(face_centers: np.ndarray, face_normals: np.ndarray, face_cells: np.ndarray,
                 cell_centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(non-orthogonality in degrees, skewness) of every interior face."""
    a, b = face_cells
    inner = b >= 0
    xa = cell_centers[:, a[inner]]
    xb = cell_centers[:, b[inner]]
    d = xb - xa
    n = face_normals[:, inner]
    xf = face_centers[:, inner]
    dist = np.sqrt(np.sum(d * d, axis=0))
    dn = np.sum(d * n, axis=0)
    cos = np.clip(np.abs(dn) / np.maximum(dist, 1e-300), 0.0, 1.0)
    angle = np.degrees(np.arccos(cos))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.sum((xf - xa) * n, axis=0) / dn
    xi = xa + d * t
    skew = np.sqrt(np.sum((xf - xi) ** 2, axis=0)) / np.maximum(dist, 1e-300)
    skew = np.where(np.isfinite(skew), skew, np.inf)
    return angle, skew


def overshared_faces(cell_faces: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Faces that more than two cells claim, and the groups of cells among their claimants that
    have the same faces (one element repeated). A conforming mesh has at most two cells on a
    face; FiPy keeps two, so a third cell's volume and fluxes come out wrong (a duplicated
    tetrahedron in a Gmsh mesh has shown up as a negative cell volume). cell_faces: (k, cells)
    face ids, −1 padding."""
    ids = cell_faces[cell_faces >= 0]
    faces = np.flatnonzero(np.bincount(ids) > 2)
    if not faces.size:
        return faces, []
    cells = np.flatnonzero(np.isin(cell_faces, faces).any(axis=0))
    keys = {}
    for c in cells:
        keys.setdefault(tuple(np.sort(cell_faces[:, c])), []).append(int(c))
    return faces, [group for group in keys.values() if len(group) > 1]


def quality_stats(angle: np.ndarray, skew: np.ndarray, warn: bool = True, label: str = "mesh") -> dict:
    """Summary statistics; warns (MeshQualityWarning) above the limits."""
    if angle.size == 0:
        return {"interior_faces": 0}
    stats = {
        "interior_faces": int(angle.size),
        "non_orthogonality_deg": {"max": float(angle.max()), "mean": float(angle.mean()),
                                  "p99": float(np.percentile(angle, 99)),
                                  "faces_above_45": int(np.sum(angle > 45.0)),
                                  "faces_above_limit": int(np.sum(angle > NON_ORTHOGONALITY_LIMIT_DEG)),
                                  "limit": NON_ORTHOGONALITY_LIMIT_DEG},
        "skewness": {"max": float(skew.max()), "mean": float(skew.mean()),
                     "p99": float(np.percentile(skew, 99)),
                     "faces_above_limit": int(np.sum(skew > SKEWNESS_LIMIT)),
                     "limit": SKEWNESS_LIMIT},
    }
    problems = []
    severe = stats["non_orthogonality_deg"]["faces_above_limit"]
    if severe > SEVERE_FRACTION * angle.size or angle.max() > NON_ORTHOGONALITY_HARD_LIMIT_DEG:
        problems.append(f"{severe} faces more than {NON_ORTHOGONALITY_LIMIT_DEG:g}° non-orthogonal "
                        f"(max {stats['non_orthogonality_deg']['max']:.1f}°)")
    if stats["skewness"]["faces_above_limit"]:
        problems.append(f"{stats['skewness']['faces_above_limit']} faces with skewness above "
                        f"{SKEWNESS_LIMIT:g} (max {stats['skewness']['max']:.2f})")
    stats["warnings"] = problems
    if warn and problems:
        warnings.warn(f"{label}: " + "; ".join(problems) + ": two-point fluxes lose accuracy there; "
                      "refine or smooth the mesh", MeshQualityWarning, stacklevel=3)
    return stats


def surface_pairs(faces: np.ndarray, face_cells: np.ndarray, comp_id: np.ndarray,
                  names: tuple[str, ...], outside: str = "outside") -> dict[tuple[str, str], int]:
    """{(compartment, compartment or outside): number of faces} over the given faces."""
    a, b = face_cells[0, faces], face_cells[1, faces]
    ca = comp_id[a]
    cb = np.where(b >= 0, comp_id[np.maximum(b, 0)], -1)
    out: dict[tuple[str, str], int] = {}
    for x, y in zip(ca, cb):
        key = tuple(sorted((names[x], names[y] if y >= 0 else outside)))
        out[key] = out.get(key, 0) + 1
    return out


def check_claims(claims, surfaces: dict, face_cells: np.ndarray, comp_id: np.ndarray,
                 names: tuple[str, ...], outside: str = "outside") -> list[str]:
    """Problems with surfaces that do not lie where they claim (empty list: all good).

    A claim with `between` pairs: every face lies between one of those pairs. A claim without:
    every face lies between the same two compartments (or one compartment and the outside),
    and never inside one compartment.
    """
    problems = []
    for claim in claims:
        fs = surfaces.get(claim.name)
        if fs is None:
            continue
        found = surface_pairs(fs.faces, face_cells, comp_id, names, outside)
        inside = {k: n for k, n in found.items() if k[0] == k[1]}
        if inside:
            where = ", ".join(f"{n} inside {k[0]}" for k, n in inside.items())
            problems.append(f"surface {claim.name!r} has faces that separate no compartments ({where})")
        if claim.between is not None:
            want = {tuple(sorted(p)) for p in claim.between}
            wrong = {k: n for k, n in found.items() if k not in want and k[0] != k[1]}
            if wrong:
                listing = "; ".join(f"{n} faces between {k[0]} and {k[1]}" for k, n in wrong.items())
                claimed = " or ".join(f"{x} | {y}" for x, y in claim.between)
                problems.append(f"surface {claim.name!r} should lie between {claimed}, but has {listing}")
        else:
            real = [k for k in found if k[0] != k[1]]
            if len(real) > 1:
                listing = "; ".join(f"{found[k]} faces between {k[0]} and {k[1]}" for k in real)
                problems.append(f"surface {claim.name!r} lies between several compartment pairs "
                                f"({listing}); split it into one tag per pair")
    return problems


def surface_gap(face_centers: np.ndarray, face_normals: np.ndarray, faces_a: np.ndarray,
                faces_b: np.ndarray) -> dict:
    """Width of the cleft between two facing surfaces: for each face of `a`, the distance along
    its normal to the nearest face centre of `b` (exact for parallel flat patches)."""
    from scipy.spatial import cKDTree

    xa = face_centers[:, faces_a].T
    xb = face_centers[:, faces_b].T
    _, j = cKDTree(xb).query(xa)
    gap = np.abs(np.sum((xb[j] - xa) * face_normals[:, faces_a].T, axis=1))
    return {"mean": float(gap.mean()), "min": float(gap.min()), "max": float(gap.max())}
