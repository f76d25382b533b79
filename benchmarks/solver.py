"""The solver benchmark: microdomain side by side with independent anchors, with ratios.

    python benchmarks/solver.py --calc /path/to/CalC            # everything (~20 min)
    python benchmarks/solver.py --quick                         # small sizes (~2-3 min)
    python benchmarks/solver.py --only nanodomain,floor --out /tmp/bench

Comparisons (`--only` picks them; each is a function below):

1. nanodomain    steady EGTA nanodomain: microdomain on a ladder of grids, CalC (cylindrical,
                 N = 60-120) and the naive FiPy script, all against references.nanodomain_reference
                 at r = 50, 100, 200 nm on the wall; CPU to reach <= 0.1 % and ratios.
2. octant        CalC's b20/b40/b80 problem (3D octant, point source at the corner, one mobile
                 buffer, 20 ms): microdomain's CPU-error curve interpolated at CalC's errors.
3. floor         64³ box, 1 mM EGTA, 5 fixed steps of 0.01 ms: anchors/floor.py (one linearised
                 backward-Euler pass, CG) against microdomain with bdf1 and trbdf2; CPU per step,
                 setup, peak memory, deviation from floor.converged_be.
4. mam_transfer  cases/mam_transfer.toml to its end.
5. scaling       the box at n = 32 ... 128, 3 fixed steps: cost per step ∝ N^p, p fitted.
6. weak_buffer   a slow weak mobile buffer, steady: a 30 µm domain with a bath, a 3 µm domain
                 with the open (far-field) boundary; against anchors/weak_buffer.py.

How it measures. Every variant runs in its own process, one after the other, in one invocation,
so machine load hits them alike. Two CPU figures (user + sys, never wall time; one BLAS thread
everywhere):
* "solver" CPU: measured inside the child with time.process_time() around Stepper.run alone
  (microdomain); the anchors' own timed region for them (CalC: CalC's whole process; naive
  FiPy: mesh, terms and solves; floor: the steps);
* "process" CPU: the parent's RUSAGE_CHILDREN delta around the child: interpreter start-up,
  imports (Python + FiPy + microdomain: ~1-2 s on this machine), building the mesh and the
  system, the run and reading results out. For CalC (a C program) it is CalC's own CPU.
Peak memory: the child's own high-water resident set (VmHWM, which starts afresh at exec; the
anchors report ru_maxrss, and the parent stays small, without numpy, so that is theirs too).
The raw numbers go to benchmarks/results/solver-<date>.json (…-quick.json with --quick; -2, -3 …
appended rather than overwrite an earlier run of the day), or to --out DIR.

All microdomain problems are plain case dicts in benchmarks/problems.py; only the package's
stable entry points are used (case_from_dict, build_domain, build_system, Stepper, run.run,
observers.probe_weights).
"""

from __future__ import annotations

import os

# one BLAS thread in this process and in every child (inherited), before anything imports numpy
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import problems  # noqa: E402  (plain dicts and math only: no numpy here)

TARGET_ERR = 1e-3              # "CPU to reach <= 0.1 %"
CHILD_TIMEOUT_S = 3600

# sizes: full run / --quick
SETTINGS = {
    "full": {
        # (h_min nm, growth, h_max nm) of microdomain's graded (r, z) grid; 2 nm channel disk
        "nano_md": [(2, 1.12, 150), (2, 1.10, 100), (2, 1.08, 100), (2, 1.06, 100),
                    (1.5, 1.06, 100), (1, 1.04, 50), (0.5, 1.05, 50)],
        "nano_calc": [60, 80, 100, 120],
        "nano_naive": [(0.001, 1.10, 0.1), (0.001, 1.07, 0.1), (0.002, 1.07, 0.1)],
        "oct_md": [(30, 1.4, 500), (20, 1.3, 400), (10, 1.15, 200), (7, 1.12, 150),
                   (5, 1.1, 150)],
        "oct_md_iterative": [(30, 1.4, 500)],
        "oct_calc": [20, 40, 80],
        "floor_n": 64, "floor_steps": 5, "face_check_n": [8, 16, 21, 33, 64],
        "floor_jacobi_diagnostic": True,
        "scaling_n": [32, 48, 64, 96, 128], "scaling_steps": 3,
        "weak_growth": [1.1, 1.05],
    },
    "quick": {
        "nano_md": [(2, 1.12, 150), (2, 1.08, 100)],
        "nano_calc": [60, 80],
        "nano_naive": [(0.004, 1.3, 0.4)],
        "oct_md": [(30, 1.4, 500)],
        "oct_md_iterative": [(30, 1.4, 500)],
        "oct_calc": [20],
        "floor_n": 16, "floor_steps": 5, "face_check_n": [8, 16, 21],
        "floor_jacobi_diagnostic": False,
        "scaling_n": [16, 24, 32], "scaling_steps": 3,
        "weak_growth": [1.1],
    },
}

# =================================================================================== child side ==

def _peak_mb() -> float:
    """This process's high-water RSS (VmHWM: reset at exec, unlike ru_maxrss, which keeps the
    parent's mark through a fork/vfork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _counters(st) -> dict:
    c = st.counters
    return {"steps": c.steps, "rejected": c.rejected, "newton_iterations": c.newton_iterations,
            "linear_solves": c.linear_solves, "factorisations": c.factorisations,
            "stepper_cpu_s": c.cpu_s, "extra": {k: v for k, v in c.extra.items()
                                                if isinstance(v, (str, int, float, dict))}}


def worker_case(spec: dict) -> dict:
    """Build one problems.py case, time Stepper.run, then read probes / save Ca (untimed)."""
    cpu_start = time.process_time()              # interpreter start-up is already in here
    import microdomain  # noqa: F401  (first: one BLAS thread)
    from microdomain.assembly import build_system
    from microdomain.case import case_from_dict
    from microdomain.mesh import build_domain
    from microdomain.solver import Stepper

    import numpy as np

    import_cpu = time.process_time() - cpu_start
    raw = getattr(problems, spec["problem"])(**spec.get("kwargs", {}))
    c0 = time.process_time()
    case = case_from_dict(raw, f"{spec['problem']}.toml")
    domain = build_domain(case.builder.build(case.geometry))
    if spec.get("surface_cells"):            # only the cells behind a surface's faces: no run
        return {"cells": int(domain.n_cells), "surface_cells":
                sorted(int(c) for c in domain.surfaces[spec["surface_cells"]].cells_a)}
    system = build_system(case, domain)
    st = Stepper(system, observers=[])
    c1 = time.process_time()
    U, t, status = st.run(case.time.end, [case.time.end])
    c2 = time.process_time()
    out = {"cells": int(domain.n_cells), "unknowns": int(U.size), "status": status, "t_ms": t,
           "import_cpu_s": import_cpu, "setup_cpu_s": c1 - c0, "solver_cpu_s": c2 - c1,
           **_counters(st), "ca_max_uM": float(U[0].max())}
    if getattr(domain, "nodes", None) is not None:
        out["grid"] = [len(n) - 1 for n in domain.nodes]
    if spec.get("probes"):
        from microdomain.observers import probe_weights

        out["probes_uM"] = [float((probe_weights(domain, tuple(p)) @ U[0])[0])
                            for p in spec["probes"]]
    if spec.get("save"):
        np.save(spec["save"], U[0])
    if spec.get("corner_rows"):
        out["corner_rows"] = _corner_rows(domain, U[0], *spec["corner_rows"])
    out["peak_mb"] = _peak_mb()
    return out


def _corner_rows(domain, ca, lo: float, hi: float) -> dict:
    """Cell-centre values of a 3D tensor grid graded toward the corner (0, 0, 0) with their true
    distances from it, within [lo, hi]: the row of cells along the x edge (first y and z cells,
    like CalC's row of nodes next to the edge) and the cells nearest the body diagonal. Uses
    only the cell centres (the grid's axes are read back from them)."""
    import numpy as np

    centres = np.asarray(domain.cell_centers, float)
    axes, where = zip(*(np.unique(np.round(c, 9), return_inverse=True) for c in centres))
    lookup = np.full([a.size for a in axes], -1)
    lookup[where] = np.arange(centres.shape[1])
    xc, yc, zc = axes
    rows = {"edge": [], "diagonal": []}
    for i, x in enumerate(xc):
        for name, j, k in (("edge", 0, 0),
                           ("diagonal", int(np.argmin(np.abs(yc - x))),
                            int(np.argmin(np.abs(zc - x))))):
            cell = lookup[i, j, k]
            d = float(np.sqrt(x * x + yc[j] ** 2 + zc[k] ** 2))
            if cell >= 0 and lo - 1e-9 <= d <= hi + 1e-9:
                rows[name].append([d, float(ca[cell])])
    return rows


def worker_run(spec: dict) -> dict:
    """A whole `microdomain run` of a case file (all its output) into a temporary directory."""
    cpu_start = time.process_time()
    import microdomain  # noqa: F401
    from microdomain.case import load_case
    from microdomain.run import run

    import_cpu = time.process_time() - cpu_start
    c0 = time.process_time()
    case = load_case(ROOT / spec["case"])
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        status, _ = run(case, Path(tmp), quiet=True)
        manifest = json.loads((Path(tmp) / "manifest.json").read_text())
    c1 = time.process_time()
    solver = manifest.get("solver") or {}
    return {"status": status, "import_cpu_s": import_cpu, "run_cpu_s": c1 - c0,
            "solver_cpu_s": solver.get("cpu_s"), "steps": manifest["steps"],
            "rejected": manifest["rejected_steps"],
            "newton_iterations": manifest["newton_iterations"],
            "linear_solves": manifest["linear_solves"],
            "factorisations": solver.get("factorisations"),
            "cells": (manifest.get("mesh") or {}).get("cells"),
            "linear_strategy": solver.get("linear_strategy"), "peak_mb": _peak_mb()}


def worker_stepper_file(spec: dict) -> dict:
    """A case file through Stepper alone (no observers, no output)."""
    cpu_start = time.process_time()
    import microdomain  # noqa: F401
    from microdomain.assembly import build_system
    from microdomain.case import load_case
    from microdomain.mesh import build_domain
    from microdomain.solver import Stepper

    import_cpu = time.process_time() - cpu_start
    c0 = time.process_time()
    case = load_case(ROOT / spec["case"])
    domain = build_domain(case.builder.build(case.geometry))
    system = build_system(case, domain)
    st = Stepper(system, observers=[])
    c1 = time.process_time()
    U, t, status = st.run(case.time.end, [case.time.end])
    c2 = time.process_time()
    return {"status": status, "cells": int(domain.n_cells), "import_cpu_s": import_cpu,
            "setup_cpu_s": c1 - c0, "solver_cpu_s": c2 - c1, **_counters(st),
            "peak_mb": _peak_mb()}


def worker_floor_faces(spec: dict) -> dict:
    """The floor's channel cells (anchors/floor.box) at each n: what microdomain must match."""
    from benchmarks.anchors import floor

    import numpy as np

    out = {}
    for n in spec["n"]:
        _, src, _ = floor.box(n)
        out[str(n)] = [int(i) for i in np.flatnonzero(src)]
    return out


def worker_converged_be(spec: dict) -> dict:
    from benchmarks.anchors import cpu_self, floor

    import numpy as np

    c0 = cpu_self()
    c, cb = floor.converged_be(spec["n"], spec["steps"], spec["dt"])
    np.save(spec["save"], np.stack([c, cb]))
    return {"cpu_s": cpu_self() - c0, "peak_mb": _peak_mb()}


def worker_compare(spec: dict) -> dict:
    """Per candidate and reference: max over cells of |Ca − Ca_ref| / Ca_ref."""
    import numpy as np

    def ca(path):
        a = np.load(path)
        return a[0] if a.ndim == 2 else a

    refs = {k: ca(p) for k, p in spec["refs"].items()}
    return {name: {k: float(np.max(np.abs(ca(path) - ref) / ref)) for k, ref in refs.items()}
            for name, path in spec["candidates"].items()}


def worker_octant_reference(spec: dict) -> dict:
    from benchmarks.anchors import cpu_self
    from benchmarks.anchors.references import octant_reference

    c0 = cpu_self()
    ca = octant_reference(spec["r_um"])
    return {"r_um": list(spec["r_um"]), "ca_uM": [float(v) for v in ca], "cpu_s": cpu_self() - c0}


WORKERS = {"case": worker_case, "run": worker_run, "stepper_file": worker_stepper_file,
           "floor_faces": worker_floor_faces, "converged_be": worker_converged_be,
           "compare": worker_compare, "octant_reference": worker_octant_reference}


# ================================================================================== parent side ==

def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def child(cmd: list[str], label: str) -> dict:
    """Run one child; return its last stdout line as JSON plus process_cpu_s (the parent's
    RUSAGE_CHILDREN delta: everything the child and its own children spent). On failure
    {"error": ...} so the comparison goes on."""
    _log(f"  {label} ...")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"label": label, "error": f"timed out after {CHILD_TIMEOUT_S} s"}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        _log(f"    FAILED ({proc.returncode}): " + " | ".join(tail))
        return {"label": label, "error": "\n".join(tail), "process_cpu_s": cpu}
    out = json.loads(lines[-1])
    out["process_cpu_s"] = cpu
    out["label"] = label
    return out


def worker(kind: str, spec: dict, label: str) -> dict:
    return child([sys.executable, str(Path(__file__).resolve()), "--worker", kind,
                  json.dumps(spec)], label)


def anchor(module: str, args: list, label: str) -> dict:
    return child([sys.executable, "-m", f"benchmarks.anchors.{module}", *map(str, args)], label)


# ------------------------------------------------------------------------------- formatting --

def fmt(v, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        return "-"
    return format(v, spec)


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.3f}%"


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def table(title: str, headers: list[str], rows: list[list], notes: list[str] = ()) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    out = [f"\n== {title} ==", line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    out += [f"  {n}" for n in notes]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def ok(r: dict) -> bool:
    return "error" not in r


# ------------------------------------------------------------------------- curve utilities --

def cheapest_reaching(rows: list[dict], target: float, cost: str = "solver_cpu_s",
                      err: str = "max_err") -> dict | None:
    good = [r for r in rows if ok(r) and r.get(err) is not None and r[err] <= target]
    return min(good, key=lambda r: r[cost]) if good else None


def cpu_at_error(rows: list[dict], target: float, cost: str = "solver_cpu_s",
                 err: str = "max_err") -> tuple[float | None, str]:
    """CPU at error `target` on a CPU-error curve: log-log interpolation between the cheapest
    point that reaches it and the most expensive cheaper point that does not. (The cheapest
    point's CPU, an upper bound, when it already reaches the target; None when no point does.)"""
    pts = sorted((r[cost], r[err]) for r in rows if ok(r) and r.get(err) is not None)
    reach = [(c, e) for c, e in pts if e <= target]
    if not reach:
        return None, "not reached"
    c_hi, e_hi = reach[0]
    miss = [(c, e) for c, e in pts if c < c_hi and e > target]
    if not miss:
        return c_hi, "at most: the cheapest point reaches it"
    c_lo, e_lo = miss[-1]
    if e_lo == e_hi:
        return c_hi, "point"
    w = math.log(e_lo / target) / math.log(e_lo / e_hi)
    return math.exp(math.log(c_lo) + w * (math.log(c_hi) - math.log(c_lo))), "interpolated"


def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y against log x."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


# ============================================================================== comparisons ==

def cmp_nanodomain(S: dict, calc: str | None, tmp: Path) -> dict:
    ref = anchor("references", ["nanodomain"], "reference: nanodomain_reference")
    if not ok(ref):
        raise RuntimeError(f"nanodomain reference failed: {ref['error']}")
    ref_at = dict(zip(ref["r_um"], ref["ca_uM"]))
    ref_vals = [ref_at[r] for r in problems.NANO_PROBES_UM]

    md = []
    for h_min, growth, h_max in S["nano_md"]:
        r = worker("case", {"problem": "nanodomain",
                            "kwargs": {"h_min_nm": h_min, "growth": growth, "h_max_nm": h_max},
                            "probes": [[x, 0.0] for x in problems.NANO_PROBES_UM]},
                   f"microdomain nanodomain {h_min} nm / {growth} / {h_max} nm")
        r["setting"] = f"{h_min} nm, {growth}, {h_max} nm"
        if ok(r):
            r["rel_err"] = [v / f - 1 for v, f in zip(r["probes_uM"], ref_vals)]
            r["max_err"] = max(abs(e) for e in r["rel_err"])
        md.append(r)

    cc = []
    for N in (S["nano_calc"] if calc else []):
        r = anchor("calc", ["--calc", calc, "nanodomain", "--N", N], f"CalC nanodomain N = {N}")
        r["setting"] = f"N = {N}"
        if ok(r):
            r["harness_cpu_s"] = r["process_cpu_s"]     # Python launcher + reference, not CalC
            r["solver_cpu_s"] = r["process_cpu_s"] = r["cpu_s"]
            r["max_err"] = r["max_rel_err_50_200nm"]
        cc.append(r)

    nv = []
    for h_min, growth, h_max in S["nano_naive"]:
        r = anchor("naive_fipy", ["--h-min", h_min, "--growth", growth, "--h-max", h_max],
                   f"naive FiPy nanodomain {h_min * 1e3:g} nm / {growth} / {h_max * 1e3:g} nm")
        r["setting"] = f"{h_min * 1e3:g} nm, {growth}, {h_max * 1e3:g} nm"
        if ok(r):
            r["solver_cpu_s"] = r["cpu_s"]
            r["max_err"] = r["max_rel_err_50_200nm"]
        nv.append(r)

    rows = []
    for tool, rs in (("microdomain", md), ("CalC", cc), ("naive FiPy", nv)):
        for r in rs:
            if not ok(r):
                rows.append([tool, r["setting"], "failed", "", "", "", "", "", ""])
                continue
            cells = r.get("cells") or (f"{r['settings']['N']}²" if tool == "CalC" else "-")
            errs = r.get("rel_err")
            if tool != "microdomain":
                errs = [e for x, e in zip(r["r_um"], r["rel_err"]) if x >= 0.05 - 1e-12]
            rows.append([tool, r["setting"], cells, *[pct(e) for e in errs], pct(r["max_err"]),
                         fmt(r["solver_cpu_s"], ".2f"), fmt(r.get("setup_cpu_s"), ".2f"),
                         fmt(r["process_cpu_s"], ".2f"), fmt(r.get("peak_mb"), ".0f")])
    best = {t: cheapest_reaching(rs, TARGET_ERR) for t, rs in
            (("microdomain", md), ("CalC", cc), ("naive FiPy", nv))}
    best_p = {t: cheapest_reaching(rs, TARGET_ERR, cost="process_cpu_s") for t, rs in
              (("microdomain", md), ("CalC", cc), ("naive FiPy", nv))}
    notes = ["solver = microdomain: Stepper.run (the steady solve) only; setup = case, mesh, "
             "system; CalC: its own CPU; naive FiPy: mesh, terms, sweeps (no import).",
             "process = the whole child process: Python start-up and imports (FiPy + "
             f"microdomain: {_span([r.get('import_cpu_s') for r in md if ok(r)])} s here), "
             "setup, run; naive FiPy's also includes its untimed reference solve; CalC's is "
             "CalC alone."]
    for t in best:
        b, bp = best[t], best_p[t]
        notes.append(f"CPU to reach <= 0.1 % ({t}): " + (
            f"solver {b['solver_cpu_s']:.2f} s ({b['setting']}), process "
            f"{bp['process_cpu_s']:.2f} s ({bp['setting']})" if b else "not reached"))
    get = lambda t, k: best[t][k] if best[t] else None  # noqa: E731
    getp = lambda t: best_p[t]["process_cpu_s"] if best_p[t] else None  # noqa: E731
    summary = {
        "cpu_to_0.1pct": {t: {"solver_cpu_s": get(t, "solver_cpu_s"), "setting": get(t, "setting"),
                              "process_cpu_s": getp(t)} for t in best},
        "microdomain_over_calc_solver": _div(get("microdomain", "solver_cpu_s"),
                                             get("CalC", "solver_cpu_s")),
        "microdomain_over_calc_process": _div(getp("microdomain"), getp("CalC")),
        "naive_over_microdomain_solver": _div(get("naive FiPy", "solver_cpu_s"),
                                              get("microdomain", "solver_cpu_s")),
        "naive_over_microdomain_process": _div(getp("naive FiPy"), getp("microdomain")),
    }
    # like for like with naive FiPy's timed region (mesh + terms + solves): microdomain's setup +
    # solver
    for r in md:
        if ok(r):
            r["compute_cpu_s"] = r["setup_cpu_s"] + r["solver_cpu_s"]
    bc = cheapest_reaching(md, TARGET_ERR, cost="compute_cpu_s")
    summary["naive_over_microdomain_setup_plus_solver"] = _div(
        get("naive FiPy", "solver_cpu_s"), bc["compute_cpu_s"] if bc else None)
    notes += [
        "at <= 0.1 %: microdomain / CalC = "
        f"{_r(summary['microdomain_over_calc_solver'])} (solver), "
        f"{_r(summary['microdomain_over_calc_process'])} (process)",
        "at <= 0.1 %: naive FiPy / microdomain = "
        f"{_r(summary['naive_over_microdomain_solver'])} (solver), "
        f"{_r(summary['naive_over_microdomain_setup_plus_solver'])} (naive's timed region "
        "against microdomain's setup + solver), "
        f"{_r(summary['naive_over_microdomain_process'])} (process)"]
    if not calc:
        notes.append("CalC: not run (give --calc PATH or set MICRODOMAIN_CALC)")
    text = table("nanodomain: steady EGTA nanodomain, error on the wall vs "
                 "references.nanodomain_reference",
                 ["tool", "setting", "cells", "err 50nm", "err 100nm", "err 200nm", "max err",
                  "solver s", "setup s", "process s", "peak MB"], rows, notes)
    return {"reference": ref, "microdomain": md, "calc": cc, "naive_fipy": nv,
            "summary": summary, "table": text}


def _span(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"


def _div(a, b):
    return a / b if a is not None and b else None


def _r(v) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def cmp_octant(S: dict, calc: str | None, tmp: Path) -> dict:
    lo, hi, bg = 0.1, 0.5, 0.1
    md = []
    variants = [(g, None) for g in S["oct_md"]] + [(g, {"linear": "iterative"})
                                                   for g in S["oct_md_iterative"]]
    for (h_min, growth, h_max), solver in variants:
        kw = {"h_min_nm": h_min, "growth": growth, "h_max_nm": h_max}
        if solver:
            kw["solver"] = solver
        tag = " [linear = iterative]" if solver else ""
        r = worker("case", {"problem": "octant", "kwargs": kw, "corner_rows": [lo, hi]},
                   f"microdomain octant {h_min} nm / {growth} / {h_max} nm{tag}")
        r["setting"] = f"{h_min} nm, {growth}, {h_max} nm{tag}"
        r["default_solver"] = solver is None
        md.append(r)
    # the reference at every distance any variant reported (one child, untimed)
    dists = sorted({d for r in md if ok(r) for row in r["corner_rows"].values() for d, _ in row})
    ref = worker("octant_reference", {"r_um": dists or [lo]}, "reference: octant_reference")
    if not ok(ref):
        raise RuntimeError(f"octant reference failed: {ref['error']}")
    ref_at = dict(zip(ref["r_um"], ref["ca_uM"]))
    for r in md:
        if ok(r):
            r["excess_rel_err"] = {k: [[d, (v - bg) / (ref_at[d] - bg) - 1] for d, v in row]
                                   for k, row in r["corner_rows"].items()}
            for k, errs in r["excess_rel_err"].items():
                r[f"err_{k}"] = max(abs(e) for _, e in errs) if errs else None
            r["max_err"] = r["err_edge"]

    cc = []
    for N in (S["oct_calc"] if calc else []):
        r = anchor("calc", ["--calc", calc, "octant", "--N", N], f"CalC octant b{N}")
        r["setting"] = f"b{N} (N = {N})"
        if ok(r):
            r["harness_cpu_s"] = r["process_cpu_s"]
            r["solver_cpu_s"] = r["process_cpu_s"] = r["cpu_s"]
            r["max_err"] = r["max_excess_rel_err"]
        cc.append(r)

    rows = []
    for r in md:
        if not ok(r):
            rows.append(["microdomain", r["setting"], "failed"] + [""] * 9)
            continue
        x = r["extra"]
        rows.append(["microdomain", r["setting"], r["cells"], pct(r["err_edge"]),
                     pct(r["err_diagonal"]), fmt(r["solver_cpu_s"], ".2f"),
                     fmt(r["setup_cpu_s"], ".2f"), fmt(r["process_cpu_s"], ".2f"),
                     fmt(r["peak_mb"], ".0f"), f"{r['steps']}/{r['rejected']}",
                     r["factorisations"], x.get("linear_strategy", "?")])
    for r in cc:
        if not ok(r):
            rows.append(["CalC", r["setting"], "failed"] + [""] * 9)
            continue
        rows.append(["CalC", r["setting"], f"{r['N']}³", pct(r["max_err"]), "-",
                     fmt(r["solver_cpu_s"], ".2f"), "-", fmt(r["process_cpu_s"], ".2f"),
                     fmt(r["peak_mb"], ".0f"), "-", "-", "ADI"])
    default = [r for r in md if r.get("default_solver")]
    # a Krylov solver throughout: the forced variants and the default ones that chose it
    iterative = [r for r in md if ok(r) and r["extra"].get("linear_strategy") == "iterative"]
    summary = {"at_calc": []}
    notes = [f"error = max |relative error of the excess over {bg} µM| over the cells (CalC: "
             f"nodes) at {lo}-{hi} µm from the corner, each at its true distance: 'edge' = the "
             "row of cells along the x edge (CalC's measure: its row of nodes next to the edge), "
             "'diag' = the cells nearest the body diagonal. The 'edge' error is the one compared.",
             f"microdomain's source: a fixed {problems.OCTANT_SOURCE_NM:g} nm × "
             f"{problems.OCTANT_SOURCE_NM:g} nm square of the z = 0 wall at the corner on every "
             "grid (its extent shifts values near the edge by ~(a/r)²/6 = 0.04 % at 0.1 µm).",
             "steps = accepted/rejected; factor. = factorisations (direct) or preconditioner "
             "builds (iterative); solver = Stepper.run; process = whole child."]
    for c in cc:
        if not ok(c):
            continue
        entry = {"calc": c["setting"], "calc_err": c["max_err"], "calc_cpu_s": c["cpu_s"]}
        for name, rows_ in (("default", default), ("all-iterative", iterative)):
            if not rows_:
                continue
            s_cpu, how = cpu_at_error(rows_, c["max_err"])
            p_cpu, how_p = cpu_at_error(rows_, c["max_err"], cost="process_cpu_s")
            entry[name] = {"solver_cpu_s": s_cpu, "how": how, "process_cpu_s": p_cpu,
                           "how_process": how_p, "ratio_solver": _div(s_cpu, c["cpu_s"]),
                           "ratio_process": _div(p_cpu, c["cpu_s"])}
            notes.append(f"at CalC {c['setting']}'s error {pct(c['max_err'])}: microdomain "
                         f"({name} solver) {fmt(s_cpu, '.2f')} s solver ({how}), "
                         f"{fmt(p_cpu, '.2f')} s process; vs CalC's {c['cpu_s']:.2f} s: "
                         f"{_r(entry[name]['ratio_solver'])} (solver), "
                         f"{_r(entry[name]['ratio_process'])} (process)")
        summary["at_calc"].append(entry)
    if not calc:
        notes.append("CalC: not run (give --calc PATH or set MICRODOMAIN_CALC)")
    text = table("octant: CalC's b20/b40/b80 problem, 3D, 20 ms, vs references.octant_reference",
                 ["tool", "setting", "cells", "err edge", "err diag", "solver s", "setup s",
                  "process s", "peak MB", "steps", "factor.", "linear"], rows, notes)
    return {"reference": ref, "microdomain": md, "calc": cc, "summary": summary, "table": text}


def cmp_floor(S: dict, calc: str | None, tmp: Path) -> dict:
    n, steps, dt = S["floor_n"], S["floor_steps"], 0.01
    # 1. the channel faces: microdomain's surface against the floor's cells, at several n
    face_n = sorted(set(S["face_check_n"]) | {n})
    floor_cells = worker("floor_faces", {"n": face_n}, "floor channel cells")
    faces = {}
    for m in face_n:
        r = worker("case", {"problem": "box", "kwargs": {"n": m, "steps": 1},
                            "surface_cells": "ch"}, f"microdomain channel faces n = {m}")
        if ok(r) and ok(floor_cells):
            faces[m] = {"same": r["surface_cells"] == floor_cells[str(m)],
                        "microdomain": len(r["surface_cells"]),
                        "floor": len(floor_cells[str(m)])}
        else:
            faces[m] = {"same": None, "error": r.get("error") or floor_cells.get("error")}
    # 2. the runs
    be = worker("converged_be", {"n": n, "steps": steps, "dt": dt, "save": str(tmp / "be.npy")},
                f"floor.converged_be n = {n} (reference, untimed)")
    exact = anchor("box_ode", ["--n", n, "--t-end", repr(steps * dt), "--save", tmp / "exact.npy"],
                   f"box_ode n = {n} (time-accurate reference, untimed)")
    fl = anchor("floor", ["--n", n, "--steps", steps, "--dt", dt, "--save", tmp / "floor.npy"],
                f"floor n = {n}")
    md = {}
    # the default solver, then a diagnostic: the same with the Jacobi preconditioner forced
    # (shows what the default's choice of preconditioner costs or saves; D·dt/h² ≈ 9 at n = 64)
    runs = [("bdf1", None), ("trbdf2", None)]
    if S["floor_jacobi_diagnostic"]:
        runs += [("bdf1", "jacobi"), ("trbdf2", "jacobi")]
    for method, pc in runs:
        key = method if pc is None else f"{method} [preconditioner = {pc}]"
        kw = {"n": n, "steps": steps, "dt_ms": dt, "method": method}
        if pc:
            kw["solver"] = {"preconditioner": pc}
        md[key] = worker("case", {"problem": "box", "kwargs": kw,
                                  "save": str(tmp / f"md_{len(md)}.npy")},
                         f"microdomain box n = {n} {key}")
        md[key]["npy"] = str(tmp / f"md_{len(md) - 1}.npy")
    cands = {"floor": tmp / "floor.npy", **{k: Path(r["npy"]) for k, r in md.items()}}
    refs = {k: str(tmp / f"{k}.npy") for k, r in (("be", be), ("exact", exact)) if ok(r)}
    dev = worker("compare", {"refs": refs, "candidates": {k: str(v) for k, v in cands.items()
                                                          if v.exists()}},
                 "deviations from the references") if refs else {"error": "no reference"}
    rows = []
    fl_step = fl.get("cpu_s_per_step")
    fl_mb = fl.get("peak_mb")
    if ok(fl):
        d = dev.get("floor", {})
        rows.append(["floor (BE, 1 GS pass, CG+Jacobi)", n**3, fmt(fl_step, ".3f"), "1.00x",
                     fmt(fl["setup_cpu_s"], ".2f"), fmt(fl["process_cpu_s"], ".2f"),
                     fmt(fl_mb, ".0f"), "1.00x", fmt(d.get("be"), ".2e"),
                     pct(d.get("exact")), "-"])
    for method, r in md.items():
        if not ok(r):
            rows.append([f"microdomain {method}", "failed"] + [""] * 9)
            continue
        per = r["solver_cpu_s"] / r["steps"]
        r["cpu_s_per_step"] = per
        d = dev.get(method, {})
        rows.append([f"microdomain {method}", r["cells"], fmt(per, ".3f"), ratio(per, fl_step),
                     fmt(r["setup_cpu_s"], ".2f"), fmt(r["process_cpu_s"], ".2f"),
                     fmt(r["peak_mb"], ".0f"), ratio(r["peak_mb"], fl_mb),
                     fmt(d.get("be"), ".2e"), pct(d.get("exact")),
                     f"{r['newton_iterations']}/{r['linear_solves']}"])
    face_txt = ", ".join(f"n={m}: " + ("same" if f.get("same") else "DIFFERENT" if
                                       f.get("same") is False else "?") +
                         (f" ({f['floor']} faces)" if "floor" in f else "")
                         for m, f in faces.items())
    notes = [f"{steps} fixed steps of {dt} ms; per step = timed steps / steps (setup excluded); "
             "setup = case, mesh, system, Stepper (floor: operator and source); process = whole "
             "child.",
             "dev vs BE = max over cells of |Ca − Ca_BE|/Ca_BE, Ca_BE = floor.converged_be "
             "(backward Euler solved to 1e-10): how well each solves the BE equations (trbdf2 is "
             "a different method: its figure is BE's time error, not its own).",
             "time err = the same against anchors/box_ode.py (this semi-discrete problem "
             "integrated by DOP853 at rtol 1e-10): each variant's error from its time steps.",
             "Newton/linear: microdomain's Newton iterations / linear solves over all steps. "
             "The [preconditioner = jacobi] rows are a diagnostic, not defaults.",
             f"channel faces, microdomain's surface vs the floor's cells: {face_txt}"]
    if ok(be):
        notes.append(f"references (untimed): converged_be {be['cpu_s']:.1f} CPU s, box_ode "
                     f"{fmt(exact.get('cpu_s'), '.1f')} CPU s")
    text = table(f"floor: {n}³ box, Ca + 1 mM EGTA, 10 × 0.2 pA, fixed dt", [
        "variant", "cells", "s/step", "vs floor", "setup s", "process s", "peak MB", "vs floor",
        "dev vs BE", "time err", "Newton/lin"], rows, notes)
    return {"n": n, "steps": steps, "dt_ms": dt, "faces": faces, "floor": fl,
            "microdomain": md, "converged_be": be, "box_ode": exact, "deviations": dev,
            "table": text}


def cmp_mam_transfer(S: dict, calc: str | None, tmp: Path) -> dict:
    full = worker("run", {"case": "cases/mam_transfer.toml"}, "microdomain run mam_transfer")
    bare = worker("stepper_file", {"case": "cases/mam_transfer.toml"},
                  "microdomain Stepper mam_transfer (no output)")
    rows = []
    for name, r in (("run (all output)", full), ("Stepper only", bare)):
        if not ok(r):
            rows.append([name, "failed"] + [""] * 8)
            continue
        rows.append([name, r["status"], r.get("cells") or "-", fmt(r["solver_cpu_s"], ".2f"),
                     fmt(r["process_cpu_s"], ".2f"), r["steps"], r["rejected"],
                     r["newton_iterations"], r["factorisations"], fmt(r["peak_mb"], ".0f")])
    notes = ["solver = Stepper.run's own CPU (with the run's observers in the first row); "
             "process = whole child (imports, mesh, system, run, output files)."]
    text = table("mam_transfer: cases/mam_transfer.toml to its end (20 ms)",
                 ["variant", "status", "cells", "solver s", "process s", "steps", "rejected",
                  "Newton", "factor.", "peak MB"], rows, notes)
    return {"run": full, "stepper": bare, "table": text}


def cmp_scaling(S: dict, calc: str | None, tmp: Path) -> dict:
    steps = S["scaling_steps"]
    md, fl = [], []
    for n in S["scaling_n"]:
        r = worker("case", {"problem": "box", "kwargs": {"n": n, "steps": steps}},
                   f"microdomain box n = {n} ({steps} steps, trbdf2)")
        if ok(r):
            r["cpu_s_per_step"] = r["solver_cpu_s"] / r["steps"]
        r["n"] = n
        md.append(r)
        f = anchor("floor", ["--n", n, "--steps", steps], f"floor n = {n}")
        f["n"] = n
        fl.append(f)
    rows = []
    for r, f in zip(md, fl):
        rows.append([r["n"], r["n"] ** 3,
                     fmt(r.get("cpu_s_per_step"), ".3f") if ok(r) else "failed",
                     fmt(r.get("setup_cpu_s"), ".2f"), fmt(r.get("peak_mb"), ".0f"),
                     f"{r['newton_iterations']}/{r['linear_solves']}" if ok(r) else "-",
                     fmt(f.get("cpu_s_per_step"), ".3f") if ok(f) else "failed",
                     fmt(f.get("peak_mb"), ".0f"),
                     ratio(r.get("cpu_s_per_step"), f.get("cpu_s_per_step")) if ok(r) and ok(f)
                     else "n/a"])
    good = [r for r in md if ok(r)]
    p_md = fit_exponent([r["n"] ** 3 for r in good], [r["cpu_s_per_step"] for r in good])
    p_mem = fit_exponent([r["n"] ** 3 for r in good], [r["peak_mb"] for r in good])
    goodf = [f for f in fl if ok(f)]
    p_fl = fit_exponent([f["n"] ** 3 for f in goodf], [f["cpu_s_per_step"] for f in goodf])
    notes = [f"{steps} fixed steps of 0.01 ms, default method (trbdf2) and solver; the floor "
             "(anchors/floor.py) alongside for scale.",
             f"least-squares fit, CPU per step ∝ N^p (N = cells): microdomain p = "
             f"{fmt(p_md, '.2f')}, floor p = {fmt(p_fl, '.2f')}; microdomain peak memory ∝ "
             f"N^{fmt(p_mem, '.2f')}"]
    text = table("scaling: the floor's box at growing n", [
        "n", "cells", "md s/step", "md setup s", "md peak MB", "Newton/lin", "floor s/step",
        "floor MB", "md/floor"], rows, notes)
    return {"microdomain": md, "floor": fl, "p_microdomain": p_md, "p_floor": p_fl,
            "p_memory_microdomain": p_mem, "table": text}


def cmp_weak_buffer(S: dict, calc: str | None, tmp: Path) -> dict:
    ref = anchor("weak_buffer", [], "reference: anchors/weak_buffer")
    if not ok(ref):
        raise RuntimeError(f"weak-buffer reference failed: {ref['error']}")
    md = []
    for boundary, size in (("bath", 30.0), ("open", 3.0)):
        for g in S["weak_growth"]:
            r = worker("case", {"problem": "weak_buffer",
                                "kwargs": {"boundary": boundary, "size_um": size, "growth": g},
                                "probes": [[problems.WEAK_PROBE_UM, 0.0]]},
                       f"microdomain weak buffer {boundary} {size:g} um growth {g}")
            r.update(boundary=boundary, size_um=size, growth=g)
            if ok(r):
                r["reference_uM"] = ref[f"{boundary}_uM"]
                r["rel_err"] = r["probes_uM"][0] / r["reference_uM"] - 1
            md.append(r)
    rows = []
    for r in md:
        if not ok(r):
            rows.append([r["boundary"], r["size_um"], r["growth"], "failed"] + [""] * 7)
            continue
        rows.append([f"{r['boundary']} at {r['size_um']:g} um", f"0.5 nm, {r['growth']}",
                     r["cells"], fmt(r["probes_uM"][0], ".5f"), fmt(r["reference_uM"], ".5f"),
                     pct(r["rel_err"]), fmt(r["solver_cpu_s"], ".2f"),
                     fmt(r["process_cpu_s"], ".2f"), fmt(r["peak_mb"], ".0f"),
                     r["status"], r["newton_iterations"]])
    notes = ["buffer 100 µM, D 20 µm²/s, kon 100 /µM/s, koff 50 /s; 0.2 pA through a 2 nm disk; "
             "steady state solved directly (mode = 'steady').",
             f"reference (anchors/weak_buffer.py, solve_bvp, point source 2σ in free space): "
             f"bath at R_eff = {ref['bath_radius_um']:.2f} µm (the 30 µm cylinder's) "
             f"{ref['bath_uM']:.5f} µM; free space {ref['open_uM']:.5f} µM (compared with the "
             "open boundary).",
             "grid: 0.5 nm at the channel, growing by the factor shown to 1/20 of the domain."]
    text = table("weak buffer: slow mobile buffer, steady, Ca at 200 nm on the wall",
                 ["domain", "grid", "cells", "Ca uM", "reference", "error", "solver s",
                  "process s", "peak MB", "status", "Newton"], rows, notes)
    return {"reference": ref, "microdomain": md, "table": text}


COMPARISONS = {"nanodomain": cmp_nanodomain, "octant": cmp_octant, "floor": cmp_floor,
               "mam_transfer": cmp_mam_transfer, "scaling": cmp_scaling,
               "weak_buffer": cmp_weak_buffer}


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calc", default=os.environ.get("MICRODOMAIN_CALC"),
                   help="CalC binary (default: $MICRODOMAIN_CALC); without it CalC is skipped")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test, ~2-3 min)")
    p.add_argument("--only", help=f"comma-separated subset of: {', '.join(COMPARISONS)}")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                   help="directory for solver-<date>.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(WORKERS[a.worker](json.loads(a.spec))))
        return
    names = [s.strip() for s in a.only.split(",")] if a.only else list(COMPARISONS)
    unknown = [s for s in names if s not in COMPARISONS]
    if unknown:
        p.error(f"unknown comparison(s) {', '.join(unknown)}; choose from {', '.join(COMPARISONS)}")
    if a.calc and not os.access(a.calc, os.X_OK):
        p.error(f"--calc {a.calc}: not an executable file")
    mode = "quick" if a.quick else "full"
    S = SETTINGS[mode]
    stamp = datetime.datetime.now()
    a.out.mkdir(parents=True, exist_ok=True)
    stem = f"solver-{stamp:%Y-%m-%d}" + ("-quick" if a.quick else "")
    path, k = a.out / f"{stem}.json", 1
    while path.exists():                  # never overwrite an earlier run of the same day
        k += 1
        path = a.out / f"{stem}-{k}.json"
    meta = {"started": stamp.isoformat(timespec="seconds"), "mode": mode,
            "argv": sys.argv, "git_commit": _git_commit(), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "calc": str(Path(a.calc).resolve()) if a.calc else None,
            "settings": S, "loadavg_start": os.getloadavg()}
    results = {"meta": meta, "comparisons": {}}
    print(f"solver benchmark ({mode}), {', '.join(names)}; CPU seconds (user + sys), one BLAS "
          f"thread; load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_solver_") as tmp:
        for name in names:
            _log(f"{name}:")
            t0 = time.perf_counter()
            try:
                out = COMPARISONS[name](S, a.calc, Path(tmp))
            except Exception as exc:          # one broken comparison must not lose the others
                out = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"\n== {name}: FAILED: {out['error']} ==", flush=True)
            out["elapsed_wall_s"] = time.perf_counter() - t0      # bookkeeping only
            results["comparisons"][name] = out
            meta["loadavg_end"] = os.getloadavg()
            path.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nraw numbers: {path}", flush=True)


if __name__ == "__main__":
    main()
