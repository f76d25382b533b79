"""Run CalC (Calcium Calculator, V. Matveev; GPL-3.0) as an external program on our inputs.

Nothing of CalC is part of this project: build it yourself from its public repository
(`make noGraphs`) and pass the binary's path (or set MICRODOMAIN_CALC).

    python -m benchmarks.anchors.calc --calc PATH nanodomain --N 100     # cylindrical, to 50 ms
    python -m benchmarks.anchors.calc --calc PATH octant --N 20          # b20; also 40, 80
    python -m benchmarks.anchors.calc --calc PATH spherical              # 1D octant equivalent

Each prints one JSON dict: CalC's results, the independent reference (references.py), the errors,
and CalC's own CPU seconds (user + sys of the child) and peak memory.

What CalC writes (found by running it): `plot.print NAME.` makes one file per plot in the
working directory, two whitespace-separated columns. `plot P0` gives `NAME.P0`, a trace
(time, value) — the last row is the final value. `plot 1D Ca x 0 0` gives the profile at the
end, named after the line CalC actually samples, e.g. `NAME.Ca[x,0.05,0.05]` (position, value):
CalC's nodes are cell centres, so the "x axis" is the row of nodes at y = z = h/2, and a probe
`Ca[r, 0]` interpolates at z = h/2 too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.anchors import THREAD_VARS

import numpy as np  # noqa: E402

NANO_PROBES_UM = (0.01, 0.02, 0.05, 0.1, 0.2)


# ------------------------------------------------------------------------------- inputs --

def write_nanodomain_par(path, N=100, X=0.01, factor=1.05, T=50.0, dtmax=5.0, acc=4e-4) -> Path:
    """Axisymmetric nanodomain: 0.2 pA point source at (r, z) = (0, 0) on a no-flux wall, 1 mM
    EGTA (D 0.22 µm²/ms, KD 0.07 µM, k− 0.000735 /ms), Ca D 0.22, 0.1 µM; bath (Dirichlet) at
    r = 3 µm and z = 3 µm; an N×N grid, uniform on [0, X] µm and stretched by `factor` beyond;
    adaptive steps (dtMax, accuracy) to T ms; probes on the wall at r = 10–200 nm."""
    path = Path(path)
    lines = [
        "% axisymmetric half-space nanodomain: 0.2 pA point source at (r,z)=(0,0), 1 mM EGTA,"
        " bath at r=3, z=3 um",
        "geometry = cylindrical", "volume 0 3 0 3", f"grid {N} {N}",
        f"stretch.factor = {factor}", f"stretch r 0 {X}", f"stretch z 0 {X}",
        "Ca.D = 0.22", "Ca.bgr = 0.1", "Ca.source 0 0",
        "Ca.bc Noflux Dirichlet Noflux Dirichlet",
        "buffer EGTA", "EGTA.D = 0.22", "EGTA.KD = 0.07", "EGTA.kminus = 0.000735",
        "EGTA.total = 1000", "EGTA.bc Noflux Dirichlet Noflux Dirichlet",
        f"adaptive.dtMax = {dtmax}", f"adaptive.accuracy = {acc}",
        *(f"P{i} := Ca[{r}, 0]" for i, r in enumerate(NANO_PROBES_UM)),
        f"Run adaptive {T}", "current = 0.2 pA",
        "plot.method mute", "plot.1D.steps = 1", "plot 1D Ca r 0",
        *(f"plot P{i}" for i in range(len(NANO_PROBES_UM))),
        f"plot.print {path.stem}.",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


_BUFFER_B = ["buffer B", "B.D = 0.05", "B.KD = 1", "B.kminus = 0.5", "B.total = 100"]


def write_octant_par(path, N=20) -> Path:
    """3D octant [0, 3]³ µm, point source at the corner (0.000125 pA into the octant), one mobile
    buffer (D 0.05, KD 1 µM, k− 0.5 /ms, 100 µM), Ca D 0.22 / 0.1 µM, no flux on the three
    symmetry faces, bath on the far faces; N³ grid uniform on [0, 0.25] µm, stretched 1.05
    beyond; 20 ms; the Ca profile along the x axis at the end."""
    path = Path(path)
    bc = "Noflux Dirichlet Noflux Dirichlet Noflux Dirichlet"
    lines = [
        "% 3D octant: point source at corner + mobile buffer, Dirichlet far faces",
        "volume 0 L 0 L 0 L", "L = 3", "grid N N N", f"N = {N}",
        "stretch.factor = 1.05", "stretch x 0 0.25", "stretch y 0 0.25", "stretch z 0 0.25",
        "Ca.D = 0.22", "Ca.bgr = 0.1", "Ca.source 0 0 0", f"Ca.bc {bc}",
        *_BUFFER_B, f"B.bc {bc}",
        "Run adaptive 20", "current = 0.000125 pA",
        "plot.method mute", "plot.1D.steps = 1", "plot 1D Ca x 0 0",
        f"plot.print {path.stem}.",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_spherical_par(path, N=2400, acc=1e-5) -> Path:
    """The octant problem's free-space equivalent in CalC's spherical 1D geometry: 0.001 pA
    (8× the octant's), bath at R = 3 µm, N uniform cells, accuracy `acc`, 20 ms."""
    path = Path(path)
    lines = [
        "% spherical 1D reference for the octant problem: point source + mobile buffer,"
        " Dirichlet at R, 20 ms",
        "geometry = spherical", "R = 3", "volume 0 R", f"grid {N}",
        "Ca.D = 0.22", "Ca.bgr = 0.1", "Ca.source 0", "Ca.bc Neumann Dirichlet",
        *_BUFFER_B, "B.bc Neumann Dirichlet",
        f"adaptive.accuracy = {acc}", "Run adaptive 20", "current = 0.001 pA",
        "plot.method mute", "plot.1D.steps = 1", "plot 1D Ca",
        f"plot.print {path.stem}.",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------- runner --

# Started as `python -I -S -c _LAUNCHER CALC PAR`: forks CalC and reports CalC's own rusage.
# Why not subprocess from here: a child's ru_maxrss keeps the high-water mark of the process it
# was forked (or vforked) from across exec, so CalC spawned from this numpy-laden process would
# report ~80 MB. Forked from the bare launcher it starts from ~5 MB (the floor of this method;
# CalC itself peaks at ~6 MB on the nanodomain, so small runs read as ~6 MB either way).
_LAUNCHER = """
import json, os, resource, sys
pid = os.fork()
if pid == 0:
    try:
        os.dup2(1, 2)
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)   # the launcher has exactly one child
sys.stderr.write(json.dumps({"cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}))
sys.exit(code if code >= 0 else 128 - code)
"""


def run_calc(binary, par) -> dict:
    """Run `binary par` in a fresh temporary directory and read what it wrote.

    Returns {"probes": {"P0": final value, …}, "profiles": {file suffix: {"x": […], "ca": […]}},
    "cpu_s", "peak_mb", "charge_loss_pct"}. cpu_s is CalC's user+sys CPU (RUSAGE_CHILDREN of a
    launcher whose only child is CalC); cpu_s_with_launcher is this process's RUSAGE_CHILDREN
    delta around the run, which adds the launcher's ~0.02 s Python start-up."""
    binary, par = Path(binary).resolve(), Path(par).resolve()
    prefix = re.search(r"^plot\.print\s+(\S+)", par.read_text(), re.M).group(1)
    env = {**os.environ, **{v: "1" for v in THREAD_VARS}}
    with tempfile.TemporaryDirectory(prefix="calc_") as tmp:
        shutil.copy(par, tmp)
        log = Path(tmp) / "calc.log"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(log, "w") as out:      # CalC is chatty; stdin closed so it can never prompt
            proc = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(binary),
                                   par.name], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.PIPE, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        text = log.read_text(errors="replace")
        usage = json.loads(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else None
        if proc.returncode or usage is None or "Simulation completed" not in text:
            raise RuntimeError(f"CalC failed ({proc.stderr.strip()}):\n{text[-2000:]}")
        probes, profiles = {}, {}
        for f in sorted(Path(tmp).glob(prefix + "*")):
            suffix = f.name[len(prefix):]
            if re.fullmatch(r"P\d+", suffix):
                probes[suffix] = float(np.loadtxt(f, ndmin=2)[-1, 1])
            elif suffix.startswith("Ca["):
                data = np.loadtxt(f, ndmin=2)
                profiles[suffix] = {"x": data[:, 0].tolist(), "ca": data[:, 1].tolist()}
    # CalC's "charge loss": the share of the Ca that entered which is no longer in the domain
    # (it left through the bath) — 84 % at the nanodomain's steady state; not an error measure
    loss = re.search(r"charge loss = ([-\d.e+]+)%", text)
    return {"probes": probes, "profiles": profiles,
            "charge_loss_pct": float(loss.group(1)) if loss else None,
            "cpu_s": usage["cpu_s"], "peak_mb": usage["maxrss_kb"] / 1024,
            "cpu_s_with_launcher": (after.ru_utime - before.ru_utime)
            + (after.ru_stime - before.ru_stime)}


# ------------------------------------------------------------------------- comparisons --

def nanodomain(binary, **kw) -> dict:
    """CalC's nanodomain against references.nanodomain_reference at the wall probes."""
    from benchmarks.anchors.references import nanodomain_reference

    with tempfile.TemporaryDirectory() as tmp:
        out = run_calc(binary, write_nanodomain_par(Path(tmp) / "nano.par", **kw))
    r = np.array(NANO_PROBES_UM)
    ca = np.array([out["probes"][f"P{i}"] for i in range(r.size)])
    ref = nanodomain_reference(r)
    err = ca / ref - 1
    return {"problem": "nanodomain", "settings": kw, "r_um": r.tolist(), "ca_uM": ca.tolist(),
            "reference_uM": ref.tolist(), "rel_err": err.tolist(),
            "max_rel_err_50_200nm": float(np.abs(err[r >= 0.05]).max()),
            "cpu_s": out["cpu_s"], "peak_mb": out["peak_mb"],
            "charge_loss_pct": out["charge_loss_pct"]}


def octant(binary, N=20) -> dict:
    """CalC's octant profile against the spherical reference. CalC samples the row of nodes
    (x, y0, z0), y0 = z0 = h/2, so each node is compared at its true distance from the corner;
    the error is that of the excess over 0.1 µM (a few % of Ca at most), max over 0.1 ≤ x ≤ 0.5."""
    from scipy.interpolate import CubicSpline

    from benchmarks.anchors.references import OCTANT, octant_solve, radial_faces

    with tempfile.TemporaryDirectory() as tmp:
        out = run_calc(binary, write_octant_par(Path(tmp) / f"b{N}.par", N))
    (name, prof), = out["profiles"].items()
    x, ca = np.array(prof["x"]), np.array(prof["ca"])
    # the file name gives the line's y0, z0 to 3 digits ("Ca[x,0.0167,0.0167]"); the grid is the
    # same along x, y, z, so take the exact values from the nearest x nodes
    y0, z0 = (x[np.abs(x - float(v)).argmin()] for v in name[name.index("[") + 1:-1].split(",")[1:])
    keep = (x >= 0.1 - 1e-9) & (x <= 0.5 + 1e-9)
    rc, c, _, _ = octant_solve(radial_faces(refine=2))
    dist = np.sqrt(x[keep] ** 2 + y0**2 + z0**2)
    ref = CubicSpline(rc, c)(dist)
    bg = OCTANT["c_inf"]
    err = (ca[keep] - bg) / (ref - bg) - 1
    return {"problem": "octant", "N": N, "line": name, "x_um": x[keep].tolist(),
            "distance_um": dist.tolist(), "ca_uM": ca[keep].tolist(), "reference_uM": ref.tolist(),
            "excess_rel_err": err.tolist(), "max_excess_rel_err": float(np.abs(err).max()),
            "max_ca_rel_err": float(np.abs(ca[keep] / ref - 1).max()),
            "cpu_s": out["cpu_s"], "peak_mb": out["peak_mb"],
            "charge_loss_pct": out["charge_loss_pct"]}


def spherical(binary, N=2400, acc=1e-5) -> dict:
    """CalC's spherical 1D run against references.octant_reference at r = 0.1–0.5 µm (its
    profile read with a cubic spline, as the reference's)."""
    from scipy.interpolate import CubicSpline

    from benchmarks.anchors.references import OCTANT_PROBES_UM, octant_reference

    with tempfile.TemporaryDirectory() as tmp:
        out = run_calc(binary, write_spherical_par(Path(tmp) / f"s{N}.par", N, acc))
    (prof,) = out["profiles"].values()
    r = np.array(OCTANT_PROBES_UM)
    ca = CubicSpline(prof["x"], prof["ca"])(r)
    ref = octant_reference(r)
    err = (ca - 0.1) / (ref - 0.1) - 1
    return {"problem": "spherical", "N": N, "accuracy": acc, "r_um": r.tolist(),
            "ca_uM": ca.tolist(), "reference_uM": ref.tolist(), "excess_rel_err": err.tolist(),
            "max_excess_rel_err": float(np.abs(err).max()),
            "max_ca_rel_err": float(np.abs(ca / ref - 1).max()),
            "cpu_s": out["cpu_s"], "peak_mb": out["peak_mb"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calc", default=os.environ.get("MICRODOMAIN_CALC"),
                   help="path to a CalC binary (default: $MICRODOMAIN_CALC)")
    sub = p.add_subparsers(dest="problem", required=True)
    n = sub.add_parser("nanodomain")
    for arg, default in (("N", 100), ("X", 0.01), ("factor", 1.05), ("T", 50.0),
                         ("dtmax", 5.0), ("acc", 4e-4)):
        n.add_argument(f"--{arg}", type=type(default), default=default)
    sub.add_parser("octant").add_argument("--N", type=int, default=20)
    s = sub.add_parser("spherical")
    s.add_argument("--N", type=int, default=2400)
    s.add_argument("--acc", type=float, default=1e-5)
    a = p.parse_args()
    if not a.calc:
        p.error("give --calc PATH or set MICRODOMAIN_CALC")
    if a.problem == "nanodomain":
        out = nanodomain(a.calc, N=a.N, X=a.X, factor=a.factor, T=a.T, dtmax=a.dtmax, acc=a.acc)
    elif a.problem == "octant":
        out = octant(a.calc, a.N)
    else:
        out = spherical(a.calc, a.N, a.acc)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
