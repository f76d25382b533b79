"""The microdomain side of the solver benchmark (benchmarks/solver.py): each problem as a plain
case dict, exactly what a user would write in a TOML file (`case_from_dict(raw, "name.toml")`).

Nothing here computes anything: the physics matches the independent anchors
(benchmarks/anchors) so that the benchmark compares like with like.

Units in the strings are parsed by microdomain (µm, ms, µM internally).
"""

from __future__ import annotations

import math

# --------------------------------------------------------------------------------------------
# 1. Steady EGTA nanodomain (cases/nanodomain_egta.toml, references.nanodomain_reference)
# --------------------------------------------------------------------------------------------

NANO_PROBES_UM = (0.05, 0.1, 0.2)        # on the wall (z = 0), the benchmark's error measure


def nanodomain(h_min_nm: float = 0.5, growth: float = 1.05, h_max_nm: float = 50.0) -> dict:
    """0.2 pA through a 2 nm disk on the no-flux wall z = 0, 1 mM EGTA (D 220 µm²/s for both,
    kon 10.5 /µM/s, koff 0.735 /s), bath at r = 3 µm and z = 3 µm, solved for its steady state
    directly. The grid: `h_min_nm` at the pore growing by `growth` per cell up to `h_max_nm`
    (the 2 nm disk's edge is always a grid line, so the source is the same on every grid)."""
    return {
        "case": {"name": "bench_nanodomain"},
        "geometry": {
            "builder": "axisymmetric", "radius": "3 um", "height": "3 um",
            "spacing": {"min": f"{h_min_nm} nm", "max": f"{h_max_nm} nm", "growth": growth,
                        "focus": ["0 nm", "0 nm"]},
            "surfaces": [{"name": "channel", "wall": "z-", "radius": "2 nm"},
                         {"name": "bath", "wall": ["r+", "z+"]}],
        },
        "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
        "buffers": [{"name": "EGTA", "in": "cytosol", "total": "1 mM", "D": "220 um**2/s",
                     "sites": [{"ion": "Ca", "kon": "10.5 /uM/s", "koff": "0.735 /s"}]}],
        "fluxes": [{"model": "channel_cluster", "surface": "channel", "from": "outside",
                    "to": "cytosol",
                    "params": {"channels": 1, "unitary_current": "0.2 pA", "ion": "Ca"}}],
        "boundaries": [{"surface": "bath"}],
        "time": {"mode": "steady", "end": "500 ms", "dt": {"initial": "1 us", "max": "50 ms"}},
    }


# --------------------------------------------------------------------------------------------
# 2. CalC's octant problem (b20/b40/b80; references.octant_reference)
# --------------------------------------------------------------------------------------------

OCTANT_SOURCE_NM = 5.0     # side of the square source at the corner, fixed for every grid


def octant(h_min_nm: float = 5.0, growth: float = 1.1, h_max_nm: float = 150.0,
           atol_uM: float | None = None, rtol: float | None = None,
           source_nm: float = OCTANT_SOURCE_NM, solver: dict | None = None) -> dict:
    """3D octant [0, 3]³ µm; 0.000125 pA of Ca²⁺ enters through a `source_nm` × `source_nm`
    square of the z = 0 wall at the corner (the same square on every grid: its edges are grid
    lines); Ca D 0.22 µm²/ms, 0.1 µM; mobile buffer B (D 0.05 µm²/ms, KD 1 µM, k− 0.5 /ms,
    100 µM, in equilibrium at t = 0); no flux on x = 0, y = 0, z = 0; bath on the far faces;
    20 ms. Spacing graded from `h_min_nm` at the corner. Time-step control and solver at the
    defaults unless `atol_uM` / `rtol` / `solver` (a [solver] table) are given."""
    s = f"{source_nm} nm"
    time = {"end": "20 ms", "dt": {"initial": "1 us", "max": "1 ms"}}
    if atol_uM is not None:
        time["atol"] = f"{atol_uM} uM"
    if rtol is not None:
        time["rtol"] = rtol
    return {
        "case": {"name": "bench_octant"},
        "geometry": {
            "builder": "box", "size": ["3 um", "3 um", "3 um"],
            "spacing": {"min": f"{h_min_nm} nm", "max": f"{h_max_nm} nm", "growth": growth,
                        "focus": ["0 um", "0 um", "0 um"]},
            "surfaces": [{"name": "src", "wall": "z-", "x": ["0 nm", s], "y": ["0 nm", s]},
                         {"name": "bath", "wall": ["x+", "y+", "z+"]}],
        },
        "species": [{"ion": "Ca", "D": "0.22 um**2/ms", "initial": "0.1 uM"}],
        "buffers": [{"name": "B", "in": "cytosol", "total": "100 uM", "D": "0.05 um**2/ms",
                     "sites": [{"ion": "Ca", "kon": "0.5 /uM/ms", "koff": "0.5 /ms"}]}],
        "fluxes": [{"model": "channel_cluster", "surface": "src", "from": "outside",
                    "to": "cytosol",
                    "params": {"channels": 1, "unitary_current": "0.000125 pA", "ion": "Ca"}}],
        "boundaries": [{"surface": "bath"}],
        "time": time,
        **({"solver": dict(solver)} if solver else {}),
    }


# --------------------------------------------------------------------------------------------
# 3./5. The 3D box of the floor (anchors/floor.py) and of the scaling study
# --------------------------------------------------------------------------------------------

def floor_patch_radius_um(n: int) -> float:
    """The channel cluster's radius on an n³ grid of the unit box: 50 nm, or — on grids too
    coarse to have a wall-face centre within 50 nm of (0.5, 0.5) µm — the distance to the
    nearest face centres (the floor's rule, anchors/floor.py docstring). Face centres lie at
    (i + ½)/n, so the nearest are ½/n·√2 away when n is even and on the point when n is odd."""
    h = 1.0 / n
    nearest = min(abs((i + 0.5) * h - 0.5) for i in range(n))
    return max(0.05, math.hypot(nearest, nearest))


def box(n: int, dt_ms: float = 0.01, steps: int = 5, method: str = "trbdf2",
        solver: dict | None = None) -> dict:
    """[0, 1]³ µm, uniform n³ cubes; Ca²⁺ (D 0.22 µm²/ms, 0.1 µM) + 1 mM EGTA (D 0.22, kon
    0.0105 /µM/ms, koff 0.000735 /ms, in equilibrium); no-flux walls; 10 × 0.2 pA through the
    z = 0 faces whose centres lie within floor_patch_radius_um(n) of (0.5, 0.5) µm; `steps`
    fixed steps of `dt_ms` (no error control) by `method`; `solver`: a [solver] table."""
    radius_nm = floor_patch_radius_um(n) * 1e3 * (1 + 1e-9)
    return {
        "case": {"name": f"bench_box{n}"},
        "geometry": {
            "builder": "box", "size": ["1 um", "1 um", "1 um"], "cells": [n, n, n],
            "surfaces": [{"name": "ch", "wall": "z-", "center": ["0.5 um", "0.5 um", "0 um"],
                          "radius": f"{radius_nm!r} nm"}],
        },
        "species": [{"ion": "Ca", "D": "0.22 um**2/ms", "initial": "0.1 uM"}],
        "buffers": [{"name": "EGTA", "in": "cytosol", "total": "1 mM", "D": "0.22 um**2/ms",
                     "sites": [{"ion": "Ca", "kon": "0.0105 /uM/ms", "koff": "0.000735 /ms"}]}],
        "fluxes": [{"model": "channel_cluster", "surface": "ch", "from": "outside",
                    "to": "cytosol",
                    "params": {"channels": 10, "unitary_current": "0.2 pA", "ion": "Ca"}}],
        "time": {"end": f"{dt_ms * steps!r} ms", "method": method, "adaptive": False,
                 "dt": {"initial": f"{dt_ms!r} ms", "max": f"{dt_ms!r} ms"}},
        **({"solver": dict(solver)} if solver else {}),
    }


# --------------------------------------------------------------------------------------------
# 6. A weak, slow mobile buffer around one channel (steady)
# --------------------------------------------------------------------------------------------

WEAK = dict(B_total="100 uM", D_B="20 um**2/s", kon="100 /uM/s", koff="50 /s")
WEAK_PROBE_UM = 0.2


def weak_buffer(boundary: str = "bath", size_um: float = 30.0, h_min_nm: float = 0.5,
                growth: float = 1.1, h_max_nm: float | None = None) -> dict:
    """0.2 pA through a 2 nm disk on the no-flux wall z = 0; Ca D 220 µm²/s, 0.1 µM; a mobile
    buffer of 100 µM, D 20 µm²/s, kon 100 /µM/s, koff 50 /s (KD 0.5 µM); steady state, solved
    directly. `boundary` "bath": the far walls (r = z = size_um) held at rest; "open": the
    far-field (1/ρ) condition there, about the channel."""
    h_max_nm = h_max_nm if h_max_nm is not None else size_um * 1e3 / 20
    far = {"surface": "far"}
    if boundary == "open":
        far.update(type="open", center=["0 um", "0 um"])
    return {
        "case": {"name": f"bench_weak_{boundary}"},
        "geometry": {
            "builder": "axisymmetric", "radius": f"{size_um} um", "height": f"{size_um} um",
            "spacing": {"min": f"{h_min_nm} nm", "max": f"{h_max_nm} nm", "growth": growth,
                        "focus": ["0 nm", "0 nm"]},
            "surfaces": [{"name": "channel", "wall": "z-", "radius": "2 nm"},
                         {"name": "far", "wall": ["r+", "z+"]}],
        },
        "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
        "buffers": [{"name": "B", "in": "cytosol", "total": WEAK["B_total"], "D": WEAK["D_B"],
                     "sites": [{"ion": "Ca", "kon": WEAK["kon"], "koff": WEAK["koff"]}]}],
        "fluxes": [{"model": "channel_cluster", "surface": "channel", "from": "outside",
                    "to": "cytosol",
                    "params": {"channels": 1, "unitary_current": "0.2 pA", "ion": "Ca"}}],
        "boundaries": [far],
        "time": {"mode": "steady", "end": "10 s", "dt": {"initial": "1 us", "max": "1 s"}},
    }
