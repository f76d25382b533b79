"""The 3D MAM transient at 10⁶ cells (issue 15 item 3): cases/mam_contact_3d.toml's physics on a
mesh of at least 10⁶ tetrahedra, for 10 ms, with the default solver settings.

    nice -n 10 python benchmarks/mam_3d_million.py --resolution 0.5 --log million.jsonl

Meshes with Gmsh on two threads (HXT) into the usual cache, then runs. Reports mesh CPU and wall
seconds, cells, then one JSON line per time step in --log (t, dt, steps, CPU s, wall s, resident
memory) so that a run stopped early still says how far it got, and a summary at the end (CPU s,
wall s, peak RSS, cells, steps, status). Stops itself, after the current step, when its resident
memory passes --max-gib (the machine is shared) or at --deadline (a UTC wall-clock time, HH:MM).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_gib() -> float:
    """Current resident memory of this process (GiB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def case_dict(resolution: float, threads: int, end_ms: float) -> dict:
    raw = tomllib.loads((ROOT / "cases" / "mam_contact_3d.toml").read_text())
    raw["geometry"].update(resolution=resolution, threads=threads)
    raw["time"]["end"] = f"{end_ms:g} ms"
    return raw


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolution", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2, help="Gmsh threads (HXT when > 1)")
    ap.add_argument("--end-ms", type=float, default=10.0)
    ap.add_argument("--min-cells", type=int, default=1_000_000)
    ap.add_argument("--max-gib", type=float, default=8.0)
    ap.add_argument("--deadline", default=None, help="UTC HH:MM: stop after the step running then")
    ap.add_argument("--log", default="mam_3d_million.jsonl")
    ap.add_argument("--out", default=None, help="run directory (default: none written)")
    args = ap.parse_args(argv)

    import microdomain as md
    from microdomain.geometry import builders

    raw = case_dict(args.resolution, args.threads, args.end_ms)
    case = md.case_from_dict(raw, "benchmarks/mam_3d_million.py")
    cls = builders.get("mam_contact")
    params = cls.Params.model_validate({k: v for k, v in raw["geometry"].items()})
    c0, w0 = time.process_time(), time.time()
    geo = cls.build(params)
    mesh = {"mesh_cpu_s": time.process_time() - c0, "mesh_wall_s": time.time() - w0,
            "cache_hit": geo.notes["cache_hit"], "mesh_peak_gib": peak_gib()}
    print(json.dumps(mesh), flush=True)

    c0, w0 = time.process_time(), time.time()
    sim = md.Simulation(case)
    cells = sim.domain.n_cells
    setup = {"cells": cells, "setup_cpu_s": time.process_time() - c0,
             "setup_wall_s": time.time() - w0, "rss_gib": rss_gib()}
    print(json.dumps(setup), flush=True)
    if cells < args.min_cells:
        print(f"only {cells} cells (< {args.min_cells}): lower --resolution", file=sys.stderr)
        return 2

    deadline = None
    if args.deadline:
        hh, mm = (int(x) for x in args.deadline.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    log = open(args.log, "w")
    steps = {"n": 0}
    c0, w0 = time.process_time(), time.time()

    def progress(t, t_end, step_dt):
        steps["n"] += 1
        log.write(json.dumps({"t_ms": t, "dt_ms": step_dt, "steps": steps["n"],
                              "cpu_s": time.process_time() - c0, "wall_s": time.time() - w0,
                              "rss_gib": rss_gib()}) + "\n")
        log.flush()

    def stop():
        if rss_gib() > args.max_gib:
            return "memory"
        if deadline and dt.datetime.now(dt.timezone.utc) >= deadline:
            return "deadline"
        return None

    res = sim.run(out=args.out, progress=progress, stop=stop)
    summary = {"cells": cells, "status": str(res.status), "t_ms": res.metrics.time_ms,
               "steps": steps["n"], "run_cpu_s": time.process_time() - c0,
               "run_wall_s": time.time() - w0, "peak_rss_gib": peak_gib(), **mesh}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
