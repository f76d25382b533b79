"""Mesh generation by `resolution` for the 3D contact builders: cells, CPU time and peak memory.

    python benchmarks/mesh_sizes.py                                  # default ladder
    python benchmarks/mesh_sizes.py --builders mam_contact --resolutions 2,1

Each mesh is generated in its own process into an empty cache (so Gmsh really meshes), one after
the other. Reported per mesh: cells; CPU seconds (user + sys of the child) for Gmsh alone
(builder.build: geometry, size field, meshing, optimisation, writing the .msh) and for
building the Domain from the file (reading, FiPy mesh, checks); the child's peak resident memory
(ru_maxrss, which includes the ~150 MB of the imported Python stack); and how many cells span
the cleft (distinct cells along vertical lines through it at five points of the contact disk,
averaged). Gmsh meshes on one thread
(gmsh_tools.gmsh_session sets General.NumThreads = 1: deterministic meshes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, resource, sys, time, warnings
warnings.simplefilter("ignore")            # coarse ladders may warn about face quality
from microdomain.geometry import builders
from microdomain.mesh import build_domain
b, res = sys.argv[1], float(sys.argv[2])
cls = builders.get(b)
t0 = time.process_time()
geo = cls.build(cls.Params.model_validate({"builder": b, "variant": "3d", "resolution": res}))
t1 = time.process_time()
dom = build_domain(geo)
t2 = time.process_time()
q = dom.stats["quality"]["non_orthogonality_deg"]
# cells across the cleft: distinct cells met along vertical lines through it (0 < z < gap) at
# five points of the contact disk, averaged
from microdomain.probes import locate
p = cls.Params.model_validate({"builder": b, "variant": "3d", "resolution": res})
radius = getattr(p, "contact_radius", None) or getattr(p, "punctum_radius")
counts = []
for fx, fy in ((0.05, 0.1), (0.3, 0.2), (-0.5, 0.4), (0.1, -0.7), (-0.6, -0.3)):
    zs = [p.gap * (k + 0.5) / 400 for k in range(400)]
    counts.append(len({locate(dom, (fx * radius, fy * radius, z)) for z in zs}))
across = sum(counts) / len(counts)
print(json.dumps({"builder": b, "resolution": res, "cells": dom.n_cells, "gmsh_cpu_s": t1 - t0,
                  "domain_cpu_s": t2 - t1,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "nonorth_mean": q["mean"], "nonorth_max": q["max"], "across": across}))
"""


def measure(builder: str, resolution: float) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", CHILD, builder, str(resolution)],
                             capture_output=True, text=True, check=True,
                             env={**__import__("os").environ, "MICRODOMAIN_CACHE": cache})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builders", default="mam_contact,er_lysosome,pm_punctum")
    ap.add_argument("--resolutions", default="3,2,1.5,1,0.75,0.5")
    args = ap.parse_args(argv)
    print("| builder | resolution | cells | Gmsh CPU s | Domain CPU s | peak memory MB | "
          "non-orthogonality mean / max | cells across the cleft |")
    print("|---|---|---|---|---|---|---|---|")
    for b in args.builders.split(","):
        for r in (float(x) for x in args.resolutions.split(",")):
            m = measure(b, r)
            print(f"| {b} | {r:g} | {m['cells']} | {m['gmsh_cpu_s']:.1f} | {m['domain_cpu_s']:.1f} | "
                  f"{m['peak_mb']:.0f} | {m['nonorth_mean']:.1f}° / {m['nonorth_max']:.1f}° | "
                  f"{m['across']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
