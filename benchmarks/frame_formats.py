"""[output] format: the run directory's size and the CPU time spent writing frames, "vtu" (a .vtu
per frame listed in fields.pvd) against "vtkhdf" (every frame in fields.vtkhdf).

    python benchmarks/frame_formats.py                          # cases/mam_contact_3d.toml
    python benchmarks/frame_formats.py cases/er_lysosome_contact_3d.toml --every "0.25 ms"

Runs the case once per format into a temporary directory and reports: frames, cells, the bytes
of the frame files (fields.pvd + fields/ or fields.vtkhdf) and of the whole directory, and the
CPU seconds (process time) spent in the frame writer's `frame` (arrays and file writes),
summed over the run. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tomllib
from pathlib import Path

import microdomain as md
from microdomain.observers import FrameWriter


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(raw: dict, fmt: str, out: Path, file: str) -> dict:
    raw = {**raw, "output": {**raw.get("output", {}), "format": fmt}}
    spent = [0.0]
    frame = FrameWriter.frame

    def timed(self, U, t):
        t0 = time.process_time()
        frame(self, U, t)
        spent[0] += time.process_time() - t0

    FrameWriter.frame = timed
    try:
        sim = md.Simulation(md.case_from_dict(raw, file))
        t0 = time.process_time()
        result = sim.run(out=out)
        total = time.process_time() - t0
    finally:
        FrameWriter.frame = frame
    files = ["fields.vtkhdf"] if fmt == "vtkhdf" else ["fields.pvd", "fields"]
    return {"format": fmt, "frames": len(result.times), "cells": sim.domain.n_cells,
            "frame_bytes": sum(size(out / f) for f in files), "dir_bytes": size(out),
            "write_cpu_s": spent[0], "run_cpu_s": total}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("case", nargs="?", default="cases/mam_contact_3d.toml")
    p.add_argument("--every", help="override output.every (e.g. '0.25 ms')")
    args = p.parse_args()
    raw = tomllib.loads(Path(args.case).read_text())
    if args.every:
        raw.setdefault("output", {})["every"] = args.every
    with tempfile.TemporaryDirectory() as work:
        rows = [run(raw, fmt, Path(work) / fmt, args.case) for fmt in ("vtu", "vtkhdf")]
    print(f"{args.case}: {rows[0]['cells']} cells, {rows[0]['frames']} frames")
    for r in rows:
        print(f"  {r['format']:7s} frame files {r['frame_bytes'] / 1e6:8.3f} MB   directory "
              f"{r['dir_bytes'] / 1e6:8.3f} MB   frame writing {r['write_cpu_s']:6.2f} CPU s "
              f"(run {r['run_cpu_s']:.1f} CPU s)")
    print(f"  vtkhdf / vtu frame files: {rows[1]['frame_bytes'] / rows[0]['frame_bytes']:.3f}")


if __name__ == "__main__":
    main()
