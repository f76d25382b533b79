"""Mesh generation by `resolution` for the 3D contact builders: cells, time, peak memory, and
how many cells span the cleft.

    python benchmarks/mesh_sizes.py                                  # default ladder
    python benchmarks/mesh_sizes.py --builders mam_contact --resolutions 2,1 --threads 2

Each mesh is generated in its own process into an empty cache (so Gmsh really meshes), one after
the other. Reported per mesh: cells; CPU seconds (user + sys of all the child's threads) and wall
seconds for Gmsh alone (builder.build: geometry, size field, meshing, optimisation, writing the
.msh); CPU seconds for building the Domain from the file (reading, FiPy mesh, checks); the
child's peak resident memory (ru_maxrss, which includes the ~150 MB of the imported Python
stack); cells across the cleft, by size and by lines (microdomain/geometry/cleft_cells.py).
Gmsh meshes on one thread by default (deterministic meshes); --threads 2 uses HXT, in parallel.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")            # coarse ladders may warn about face quality
from microdomain.geometry import builders
from microdomain.geometry.cleft_cells import cells_across
from microdomain.mesh import build_domain
b, res, extra = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
cls = builders.get(b)
p = cls.Params.model_validate({"builder": b, "variant": "3d", "resolution": res, **extra})
t0, w0 = time.process_time(), time.time()
geo = cls.build(p)
t1, w1 = time.process_time(), time.time()
dom = build_domain(geo)
t2 = time.process_time()
q = dom.stats["quality"]["non_orthogonality_deg"]
print(json.dumps({"builder": b, "resolution": res, "cells": dom.n_cells, "gmsh_cpu_s": t1 - t0,
                  "gmsh_wall_s": w1 - w0, "domain_cpu_s": t2 - t1,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "nonorth_mean": q["mean"], "nonorth_max": q["max"], **cells_across(dom, p)}))
"""


def measure(builder: str, resolution: float, extra: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", CHILD, builder, str(resolution),
                              json.dumps(extra or {})],
                             capture_output=True, text=True, check=True,
                             env={**__import__("os").environ, "MICRODOMAIN_CACHE": cache})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builders", default="mam_contact,er_lysosome,pm_punctum")
    ap.add_argument("--resolutions", default="3,2,1.5,1,0.75,0.5")
    ap.add_argument("--threads", type=int, default=1, help="Gmsh threads (> 1: HXT, parallel)")
    args = ap.parse_args(argv)
    print("| builder | resolution | threads | cells | Gmsh CPU s | Gmsh wall s | Domain CPU s | "
          "peak memory MB | non-orthogonality mean / max | across the cleft: by size / by lines |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for b in args.builders.split(","):
        for r in (float(x) for x in args.resolutions.split(",")):
            m = measure(b, r, {"threads": args.threads} if args.threads > 1 else None)
            # the tetrahedron-equivalent size means nothing on the extruded punctum's hexahedra
            by_size = "—" if b == "pm_punctum" else f"{m['across_by_size']:.1f}"
            print(f"| {b} | {r:g} | {args.threads} | {m['cells']} | {m['gmsh_cpu_s']:.1f} | "
                  f"{m['gmsh_wall_s']:.0f} | {m['domain_cpu_s']:.1f} | {m['peak_mb']:.0f} | "
                  f"{m['nonorth_mean']:.1f}° / {m['nonorth_max']:.1f}° | "
                  f"{by_size} / {m['across_by_lines']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
