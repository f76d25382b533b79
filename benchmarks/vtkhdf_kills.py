"""How often a SIGKILL during a fields.vtkhdf write leaves the file unreadable (a measurement).

    python benchmarks/vtkhdf_kills.py 30

Each trial starts a process that does nothing but create a fields.vtkhdf and append frames to
it (20 000 triangles, two float arrays and `compartment`), kills it with SIGKILL after a seeded
random 0.05-0.6 s, and tries to read the file and cut it back to its complete steps as a resume
would. A kill before the file is in place leaves none (it is created under a temporary name):
a run killed then has no checkpoint either and starts again at t = 0.
As the process is always writing, this is the worst case: in a run the frame writer takes a
small share of the time (docs/run-directory.md), and only a kill inside it can damage the file.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from microdomain.vtkhdf import VTKHDFError, read_times, truncate

CHILD = r"""
import sys
import numpy as np
from microdomain.io import vtk_grid
from microdomain.vtkhdf import VTKHDFSeries
n = 20000
rng = np.random.default_rng(0)
grid = vtk_grid(rng.random((n + 2, 3)), [("triangle", np.stack([np.arange(n) + k for k in range(3)], 1))])
series = VTKHDFSeries(sys.argv[1], grid, {"axes": ["x"]})
print("go", flush=True)
t = 0.0
while True:
    series.write(t, {"Ca": rng.random(n), "B": rng.random(n), "compartment": np.zeros(n, np.int32)})
    t += 1.0
"""


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rng = random.Random(1)
    damaged = missing = 0
    with tempfile.TemporaryDirectory() as work:
        for i in range(trials):
            out = Path(work) / str(i)
            out.mkdir()
            proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE, text=True)
            proc.stdout.readline()
            time.sleep(rng.uniform(0.05, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if not (out / "fields.vtkhdf").exists():
                missing += 1
                continue
            try:
                truncate(out / "fields.vtkhdf", len(read_times(out / "fields.vtkhdf")))
            except VTKHDFError as exc:
                damaged += 1
                print(f"trial {i}: {exc}")
    print(f"{trials} kills while writing: {missing} before the file was in place, "
          f"{trials - missing - damaged} files readable, {damaged} unreadable")


if __name__ == "__main__":
    main()
