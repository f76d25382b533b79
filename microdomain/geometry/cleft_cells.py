"""How many cells span a contact's cleft (0 < z < gap over the contact disk), two ways.

- by size: gap / h, h the mean over the cells in the cleft of the edge of the regular
  tetrahedron with the cell's volume, (6√2·V)^(1/3). A tetrahedron of edge h is 0.82 h tall, so
  this counts fewer cells than a column of them would stack: the figure the builders guarantee.
- by lines: the distinct cells met along segments normal to the cleft (vertical) at five points
  of the contact disk, averaged. On an extruded mesh it is the number of layers; on tetrahedra a
  line grazes more cells than there are layers, so it is an upper count.

"Cells in the cleft" are those whose centres lie in it within 90 % of the contact radius (the
rim, where the cleft opens into the cytosol, is graded already).
"""

from __future__ import annotations

import math

import numpy as np

LINE_POINTS = ((0.05, 0.1), (0.3, 0.2), (-0.5, 0.4), (0.1, -0.7), (-0.6, -0.3))
SAMPLES = 400


def contact_radius(p) -> float:
    return getattr(p, "contact_radius", None) or getattr(p, "punctum_radius")


def cleft_mask(domain, p) -> np.ndarray:
    """Cells whose centres lie in the cleft, within 90 % of the contact radius (3D domains)."""
    x, y, z = domain.cell_centers
    return (np.hypot(x, y) < 0.9 * contact_radius(p)) & (z > 0) & (z < p.gap)


def across_by_size(domain, p) -> tuple[float, float, int]:
    """(gap / h, h, cells in the cleft), h the mean tetrahedron-equivalent edge there."""
    mask = cleft_mask(domain, p)
    h = float(np.mean((6 * math.sqrt(2) * domain.volumes[mask]) ** (1 / 3)))
    return p.gap / h, h, int(mask.sum())


def across_by_lines(domain, p) -> float:
    from ..probes import locate

    radius = contact_radius(p)
    zs = [p.gap * (k + 0.5) / SAMPLES for k in range(SAMPLES)]
    counts = [len({locate(domain, (fx * radius, fy * radius, z)) for z in zs})
              for fx, fy in LINE_POINTS]
    return sum(counts) / len(counts)


def cells_across(domain, p) -> dict:
    by_size, h, n = across_by_size(domain, p)
    return {"across_by_size": by_size, "edge_nm": h * 1e3, "cleft_cells": n,
            "across_by_lines": across_by_lines(domain, p)}
