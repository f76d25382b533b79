"""3D against axisymmetric (issue 15, item 4): one compact channel cluster on the axis of a
contact, solved on the builder's 3D mesh and on its (r, z) twin, compared at probes in the
cleft 20–100 nm from the cluster's centre.

The configuration is axisymmetric by construction: the cluster is `er_cluster` (a disk of
`cluster_radius` about the axis on the ER side of the contact), its current enters the cytosol
at a constant rate, the membranes are reflecting and a bath (c = 0) on the cytosol's outer
walls takes it away. The steady state of unbuffered diffusion in the cytosol is then one sparse
solve, T·c = g + s on the cytosol's own block (the membranes carry no diffusion, so the block is
closed), the same on both meshes; only the meshes differ. In 3D each probe radius is read at four
azimuths (0°, 90°, 180°, 270°): their mean is compared, their spread is the 3D mesh's own
asymmetry.

Run: python -m microdomain.verification.twins [--builders mam_contact,er_lysosome]
          [--resolutions 2,1.5,1]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

CURRENT = "0.5 pA"                  # one cluster: 5 channels of 0.1 pA
RADII_NM = (20.0, 50.0, 100.0)      # probe distances from the cluster centre, in the cleft
AZIMUTHS = (0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi)
CLUSTER_RADIUS = "10 nm"
SURFACE = {"mam_contact": "er_cluster", "er_lysosome": "er_cluster"}


def twin_case(builder: str, variant: str, resolution: float) -> dict:
    return {
        "case": {"name": f"twin_{builder}_{variant}"},
        "geometry": {"builder": builder, "variant": variant, "resolution": resolution,
                     "cluster_radius": CLUSTER_RADIUS},
        "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0 uM"}],
        "fluxes": [{"model": "channel_cluster", "surface": SURFACE[builder], "from": "er",
                    "to": "cytosol", "params": {"channels": 5, "unitary_current": "0.1 pA"}}],
        "boundaries": [{"surface": "outer", "concentrations": {"Ca": "0 uM"}}],
        "time": {"end": "1 ms"},
    }


def steady_cleft_profile(builder: str, variant: str, resolution: float) -> dict:
    """{"cells", "gap_um", "c": {r_nm: [values per azimuth]}, "cpu_s"}: the steady [Ca²⁺] (µM)
    at the probes in the middle of the cleft."""
    import scipy.sparse.linalg as spla

    from ..probes import probe_weights
    from ..solver.membrane import evaluate_membrane
    from .studies import build

    start = time.process_time()
    case, domain, system = build(twin_case(builder, variant, resolution))
    cyt = domain.compartment_mask("cytosol")
    inflow = evaluate_membrane(system, system.initial, 0.0, lambda b: True, None, False).inflow[0]
    T = system.transport[0].tocsr()[cyt][:, cyt]
    c_cyt = spla.splu(T.tocsc()).solve(system.boundary_rhs[0][cyt] + inflow[cyt])
    c = np.zeros(domain.n_cells)
    c[cyt] = c_cyt
    gap = case.geometry.gap
    out = {}
    for r_nm in RADII_NM:
        r = r_nm * 1e-3
        if domain.dim == 3:
            points = [(r * np.cos(a), r * np.sin(a), 0.5 * gap) for a in AZIMUTHS]
        else:
            points = [(r, 0.5 * gap)]
        out[r_nm] = [float((probe_weights(domain, p, "cytosol") @ c)[0]) for p in points]
    return {"cells": domain.n_cells, "gap_um": gap, "c": out,
            "cpu_s": time.process_time() - start}


def comparison(builder: str, resolutions: list[float], axi_resolution: float = 1.0) -> list[dict]:
    """Per 3D resolution: cells and, per probe radius, the 3D mean, its azimuthal spread and the
    relative difference from the axisymmetric twin at `axi_resolution`."""
    axi = steady_cleft_profile(builder, "axisymmetric", axi_resolution)
    rows = []
    for res in resolutions:
        d3 = steady_cleft_profile(builder, "3d", res)
        row = {"resolution": res, "cells": d3["cells"], "axi_cells": axi["cells"],
               "cpu_s": d3["cpu_s"], "probes": {}}
        for r_nm in RADII_NM:
            vals = np.array(d3["c"][r_nm])
            ref = axi["c"][r_nm][0]
            row["probes"][r_nm] = {"axi": ref, "mean3d": float(vals.mean()),
                                   "rel": float(vals.mean() / ref - 1),
                                   "spread": float((vals.max() - vals.min()) / ref)}
        rows.append(row)
    return rows


def markdown(builder: str, rows: list[dict]) -> str:
    head = ("| builder | 3D resolution | 3D cells | " +
            " | ".join(f"{r:g} nm: (r, z) µM / 3D mean µM / diff / 3D spread" for r in RADII_NM) + " |")
    lines = [head, "|" + "---|" * (3 + len(RADII_NM))]
    for row in rows:
        cells = [f"{p['axi']:.3f} / {p['mean3d']:.3f} / {100 * p['rel']:+.1f} % / "
                 f"{100 * p['spread']:.1f} %" for p in row["probes"].values()]
        lines.append(f"| {builder} | {row['resolution']:g} | {row['cells']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builders", default="mam_contact,er_lysosome")
    ap.add_argument("--resolutions", default="2,1.5,1")
    ap.add_argument("--axi-resolution", type=float, default=1.0)
    args = ap.parse_args(argv)
    res = [float(x) for x in args.resolutions.split(",")]
    for b in args.builders.split(","):
        rows = comparison(b, res, args.axi_resolution)
        print(markdown(b, rows))
        print(f"(r, z) twin: {rows[0]['axi_cells']} cells at resolution {args.axi_resolution:g}; "
              "3D CPU s per resolution: " + ", ".join(f"{r['cpu_s']:.1f}" for r in rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
