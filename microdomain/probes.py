"""Probes: a point's value as a fixed linear combination of cell values (a sparse row).

**Structured grids**: tensor-product Lagrange interpolation through four cell centres per axis
(two where the compartment is too thin for four), from cells of the probe's compartment only,
the stencil slid inside that compartment along each axis. A probe between two centres
interpolates; a probe on an outer wall or a membrane — half a cell beyond the last centre of its
compartment — is extrapolated one-sidedly to the face. Cubic weights there are exact for cubic
profiles: the face value of a smooth profile within O(h⁴), where the nearest centre is O(h) off
(a 1D steady profile decaying into a membrane: tests/unit/test_probes.py).

**Unstructured meshes** (Gmsh builders, mesh files): linear reconstruction from the cell P that
holds the point, c(x) = c_P + g·(x − x_P), g the least-squares gradient from P's face neighbours
in the same compartment (inverse-square distance weights; the neighbours' neighbours join when
the first ring does not span every direction, as at a corner). Exact for linear fields, so
second order on a smooth profile, on faces (walls, membranes) as inside.

**Which side of a membrane**: a probe's `in` names its compartment; without it, the compartment
of the cell holding the point (on a structured grid's face: the cell after it along each axis;
on a mesh: the cell whose centre is nearest). A point in no cell, or not in or on its `in`
compartment, is a ProbeError: `probe_problems` reports them as case problems once the mesh is
built.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

CONTAIN_RTOL = 1e-9     # a point this far (× the domain's extent) outside a cell's face is on it
NEAR_FACE = 1e-3        # curved or warped cells: up to this fraction of the cell's half-width out
SPAN_RTOL = 1e-6        # neighbour offsets whose smallest singular value is below this × the largest


class ProbeError(ValueError):
    """A probe that lies outside the mesh or outside the compartment it names; `field` is the
    probe's key to blame ("at" or "in")."""

    def __init__(self, message: str, field: str = "at"):
        super().__init__(message)
        self.field = field


def probe_weights(domain, point, compartment: str | None = None) -> sp.csr_matrix:
    """Row of weights over cells: the probe value is `row @ U[k]` for any unknown k."""
    point = np.asarray(point, float)
    cells, weights = (_structured(domain, point, compartment) if domain.nodes is not None
                      else _unstructured(domain, point, compartment))
    return sp.csr_matrix((weights, (np.zeros(cells.size, int), cells)), shape=(1, domain.n_cells))


def probe_problems(probes, domain) -> list[tuple[str, str]]:
    """(case field path, message) for each probe outside the mesh or its compartment."""
    out = []
    for k, probe in enumerate(probes):
        if len(probe.at) != domain.dim:
            continue                      # reported when the case was read
        try:
            locate(domain, probe.at, probe.compartment)
        except ProbeError as exc:
            out.append((f"output.probes[{k}].{exc.field}", f"{exc} (probe {probe.name!r})"))
    return out


def locate(domain, point, compartment: str | None = None) -> int:
    """The cell holding `point` (in `compartment` when given)."""
    point = np.asarray(point, float)
    return (_structured_holder(domain, point, compartment) if domain.nodes is not None
            else _unstructured_holder(domain, point, compartment))


def _where(domain, point) -> str:
    return ", ".join(f"{a} = {x:.6g}" for a, x in zip(domain.axes, point)) + " um"


def _compartment_id(domain, compartment: str | None) -> int | None:
    if compartment is None:
        return None
    if compartment not in domain.compartment_names:
        raise ProbeError(f"no compartment {compartment!r}; compartments: "
                         f"{', '.join(domain.compartment_names)}", "in")
    return domain.compartment_names.index(compartment)


# --------------------------------------------------------------------------------- structured --

def _structured_holder(domain, point, compartment) -> int:
    """The cell holding the point; on a face between cells, the one after it along each axis
    (as before), or the one in `compartment`."""
    want = _compartment_id(domain, compartment)
    options = []
    for nodes, x in zip(domain.nodes, point):
        tol = 1e-9 * (nodes[-1] - nodes[0])
        if not nodes[0] - tol <= x <= nodes[-1] + tol:
            raise ProbeError(f"the probe at {_where(domain, point)} lies outside the grid")
        after = int(np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, nodes.size - 2))
        before = int(np.clip(np.searchsorted(nodes, x, side="left") - 1, 0, nodes.size - 2))
        near = [after] + ([before] if before != after else [])
        if abs(x - nodes[after]) <= tol and after > 0:
            near.append(after - 1)        # on the node: the cell before it touches the point too
        options.append(list(dict.fromkeys(near)))
    shape = [n.size - 1 for n in domain.nodes]
    for combo in np.ndindex(*[len(o) for o in options]):
        cell = int(np.ravel_multi_index([options[a][j] for a, j in enumerate(combo)], shape, order="F"))
        if want is None or domain.compartment_id[cell] == want:
            return cell
    raise ProbeError(f"the probe at {_where(domain, point)} is not in or on compartment "
                     f"{compartment!r}", "in")


def _lagrange(nodes: np.ndarray, x: float) -> np.ndarray:
    w = np.ones(nodes.size)
    for j in range(nodes.size):
        for m in range(nodes.size):
            if m != j:
                w[j] *= (x - nodes[m]) / (nodes[j] - nodes[m])
    return w


def _run(ids: np.ndarray, i: int) -> tuple[int, int]:
    """The stretch [lo, hi] of equal compartment ids along a line of cells that contains i."""
    lo = i
    while lo > 0 and ids[lo - 1] == ids[i]:
        lo -= 1
    hi = i
    while hi < ids.size - 1 and ids[hi + 1] == ids[i]:
        hi += 1
    return lo, hi


def _structured(domain, point, compartment):
    holder = _structured_holder(domain, point, compartment)
    shape = [n.size - 1 for n in domain.nodes]
    home = np.unravel_index(holder, shape, order="F")
    comp = domain.compartment_id.reshape(shape, order="F")
    mine = comp[home]
    centres = domain.structured_cell_index()
    for order in (4, 2):
        per_axis = []
        for a, (c, x) in enumerate(zip(centres, point)):
            line = comp[tuple(slice(None) if b == a else home[b] for b in range(len(shape)))]
            lo, hi = _run(line, home[a])
            k = min(order, hi - lo + 1)
            below = int(np.searchsorted(c, x)) - 1          # the centre just below x
            start = int(np.clip(below - (k // 2 - 1), lo, hi - k + 1))
            idx = np.arange(start, start + k)
            per_axis.append((idx, _lagrange(c[idx], x) if k > 1 else np.ones(1)))
        cells, weights = [], []
        for combo in np.ndindex(*[len(ix) for ix, _ in per_axis]):
            ids = tuple(per_axis[a][0][j] for a, j in enumerate(combo))
            cells.append(int(np.ravel_multi_index(ids, shape, order="F")))
            weights.append(float(np.prod([per_axis[a][1][j] for a, j in enumerate(combo)])))
        cells = np.array(cells)
        if np.all(domain.compartment_id[cells] == mine):
            return cells, np.array(weights)
    # a compartment whose cells around the probe are no box (a corner of a nested one)
    return np.array([holder]), np.ones(1)


# ------------------------------------------------------------------------------ unstructured --

def _outward_excess(domain, point) -> np.ndarray:
    """Per cell, the largest signed distance of `point` beyond the planes of its faces (≤ 0
    inside a convex cell). FiPy's face normals point out of face_cells[0]."""
    a, b = domain.face_cells
    s = np.sum((point[:, None] - domain.face_centers) * domain.face_normals, axis=0)
    out = np.full(domain.n_cells, -np.inf)
    np.maximum.at(out, a, s)
    inner = b >= 0
    np.maximum.at(out, b[inner], -s[inner])
    return out


def _half_width(domain) -> np.ndarray:
    """Per cell, the largest centre-to-face-plane distance."""
    a, b = domain.face_cells
    out = np.zeros(domain.n_cells)
    np.maximum.at(out, a, domain.normal_distance(a, np.arange(a.size)))
    inner = b >= 0
    faces = np.flatnonzero(inner)
    np.maximum.at(out, b[inner], domain.normal_distance(b[inner], faces))
    return out


def _unstructured_holder(domain, point, compartment) -> int:
    want = _compartment_id(domain, compartment)
    excess = _outward_excess(domain, point)
    extent = float(np.max(np.ptp(domain.face_centers, axis=1)))
    inside = excess <= CONTAIN_RTOL * extent
    if not inside.any():
        # curved or warped faces: a point on the surface may sit a hair outside every plane
        best = int(np.argmin(excess / np.maximum(_half_width(domain), 1e-300)))
        if excess[best] <= NEAR_FACE * _half_width(domain)[best]:
            inside[best] = True
        else:
            raise ProbeError(f"the probe at {_where(domain, point)} lies outside the mesh")
    cells = np.flatnonzero(inside)
    if want is not None:
        cells = cells[domain.compartment_id[cells] == want]
        if cells.size == 0:
            raise ProbeError(f"the probe at {_where(domain, point)} is not in or on compartment "
                             f"{compartment!r}", "in")
    d2 = np.sum((domain.cell_centers[:, cells] - point[:, None]) ** 2, axis=0)
    return int(cells[np.argmin(d2)])


def _spans(A: np.ndarray, dim: int) -> bool:
    """Do the offsets (rows of A) span every direction? Not when they lie in one layer, as the
    neighbours of a cell in a flat boundary layer of prisms do (centres level to round-off)."""
    s = np.linalg.svd(A, compute_uv=False)
    return s.size >= dim and s[dim - 1] > SPAN_RTOL * s[0]


def _neighbours(domain, cells: np.ndarray, comp: int) -> np.ndarray:
    """Face neighbours of `cells` in compartment `comp`."""
    a, b = domain.face_cells
    inner = b >= 0
    mask = np.zeros(domain.n_cells, bool)
    mask[cells] = True
    out = np.concatenate([b[inner & mask[np.maximum(a, 0)]], a[inner & mask[np.maximum(b, 0)]]])
    out = np.unique(out)
    return out[domain.compartment_id[out] == comp]


def _unstructured(domain, point, compartment):
    P = _unstructured_holder(domain, point, compartment)
    comp = domain.compartment_id[P]
    xP = domain.cell_centers[:, P]
    ring = _neighbours(domain, np.array([P]), comp)
    ring = ring[ring != P]
    dim = domain.dim
    for _ in range(3):
        A = (domain.cell_centers[:, ring] - xP[:, None]).T          # (m, dim)
        if ring.size >= dim and _spans(A, dim):
            break
        grown = _neighbours(domain, np.append(ring, P), comp)
        grown = grown[grown != P]
        if grown.size == ring.size:
            break
        ring = grown
    if ring.size == 0:
        return np.array([P]), np.ones(1)
    A = (domain.cell_centers[:, ring] - xP[:, None]).T
    w = 1.0 / np.sum(A * A, axis=1)
    # g = (AᵀWA)⁺ AᵀW (c_j − c_P); the value c_P + d·g, d = x − x_P, is linear in the c's
    G = np.linalg.pinv((A.T * w) @ A, rcond=SPAN_RTOL**2) @ (A.T * w)   # (dim, m)
    coeff = (point - xP) @ G                                          # weight of each c_j − c_P
    cells = np.append(ring, P)
    weights = np.append(coeff, 1.0 - coeff.sum())
    return cells, weights
