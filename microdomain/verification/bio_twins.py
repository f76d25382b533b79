"""The biology cases in 3D against their (r, z) twins (issue 12, item 6): mam_transfer,
er_lysosome and soce_punctum run on the builders' 3D variant (cases/*_3d.toml, the same physics:
tests/cases/test_3d_twin_cases.py) and on their axisymmetric mesh, and the headline numbers of
docs/cases.md compared.

Each configuration is axisymmetric (the clusters are smeared over centred contact patches, the
puncta centred), so the 3D run should reproduce the (r, z) run up to the 3D mesh's
discretisation error; running the 3D case at two resolutions shows how large that is. Where the
steady twin study (twins.py) measures the solver on a clean problem, this one measures what a
user of the biology cases gets.

Run: python -m microdomain.verification.bio_twins [--cases mam_transfer,er_lysosome,soce_punctum]
          [--resolutions 2,3] [--nonorthogonal none|correct] [--case-dir cases]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

PAIRS = {"mam_transfer": "mam_transfer_3d", "er_lysosome": "er_lysosome_3d",
         "soce_punctum": "soce_punctum_3d"}
CASES = Path(__file__).resolve().parents[2] / "cases"   # the source tree's cases/ (a wheel has none:
                                                        # then pass --case-dir)


# ------------------------------------------------------------- reading a run's tables --

def columns(table) -> dict[str, np.ndarray]:
    """A tidy probes.csv or fluxes.csv as columns: 'time_ms' and '<probe or flux>:<field>'."""
    from ..rundir import wide_rows

    names, rows = wide_rows(table, [table.columns[1], "field"])
    data = np.asarray(rows, float)
    return {"time_ms": data[:, 0], **{f"{a}:{b}": data[:, k + 1] for k, (a, b) in enumerate(names)}}


def at_time(cols: dict, name: str, t: float) -> float:
    """The column's value at the output time nearest t (ms)."""
    return float(cols[name][np.argmin(abs(cols["time_ms"] - t))])


def phase_amount(flows: dict, name: str, start: float, end: float) -> float:
    """Amount (amol) a flux moved in (start, end] ms, from its per-step mean flows."""
    phase = (flows["time_ms"] > start) & (flows["time_ms"] <= end)
    dt = np.diff(flows["time_ms"], prepend=0.0)
    return float(np.sum(flows[name][phase] * dt[phase]))


# -------------------------------------------------------------- the headline numbers --

def _mam_transfer(res) -> dict[str, float]:
    m, p = res.metrics, columns(res.probes)
    released, uptake = m.fluxes["ip3r"]["Ca"].amount_amol, m.fluxes["mcu"]["Ca"].amount_amol
    return {
        "OMM patch peak [Ca²⁺] (µM)": m.surfaces["omm_mam_patch"]["Ca"].peak_uM,
        "OMM facing the cluster at 10 ms (µM)": at_time(p, "omm_facing_cluster:Ca", 10.0),
        "[Ca²⁺]ER under the cluster, lowest (µM)": float(p["er_under_cluster:Ca"].min()),
        "released by the IP3Rs (amol)": released,
        "taken up by MCU (amol)": uptake,
        "fraction reaching the matrix": uptake / released,
        "matrix mean [Ca²⁺] at 20 ms (µM)": m.compartments["matrix"]["Ca"].mean_uM,
    }


def _er_lysosome(res) -> dict[str, float]:
    p, fl = columns(res.probes), columns(res.fluxes)
    uptake = sum(phase_amount(fl, f"{n}:Ca", 10, 20)
                 for n in ("lysosomal_uptake_contact", "lysosomal_uptake"))
    ip3r = phase_amount(fl, "ip3r:Ca", 10, 20)
    return {
        "TPC2 release 0–10 ms (amol)": phase_amount(fl, "tpc2:Ca", 0, 10),
        "lysosome centre at 10 ms (µM)": at_time(p, "lysosome_centre:Ca", 10.0),
        "IP3R release 10–20 ms (amol)": ip3r,
        "lysosomal uptake 10–20 ms (amol)": uptake,
        "uptake share of the IP3R release": uptake / ip3r,
        "lysosome centre at 20 ms (µM)": at_time(p, "lysosome_centre:Ca", 20.0),
        "cleft centre peak (µM)": float(p["cleft_centre:Ca"].max()),
    }


def _soce_punctum(res) -> dict[str, float]:
    m, p, fl = res.metrics, columns(res.probes), columns(res.fluxes)
    orai = fl["orai1:Ca"][1:]               # row 0 is t = 0, before any step
    entry = m.fluxes["orai1"]["Ca"].amount_amol
    return {
        "Orai1 entry at the start (amol/ms)": float(orai[0]),
        "Orai1 entry at 100 ms (amol/ms)": float(orai[-1]),
        "switch-off (change of entry)": float(orai[-1] / orai[0] - 1),
        "ER mean [Ca²⁺] at 100 ms (µM)": m.compartments["er"]["Ca"].mean_uM,
        "entry (amol)": entry,
        "share taken by the punctum SERCA": m.fluxes["serca_punctum"]["Ca"].amount_amol / entry,
        "cleft centre peak (µM)": float(p["cleft_centre:Ca"].max()),
    }


HEADLINES = {"mam_transfer": _mam_transfer, "er_lysosome": _er_lysosome,
             "soce_punctum": _soce_punctum}


def row(name: str, res, cpu_s: float = float("nan")) -> dict:
    """A finished run of case `name` (a twin or its 3D case) as a table row: {"case",
    "resolution", "nonorthogonal", "cells", "cpu_s", "headline": {quantity: value}}."""
    import microdomain as md

    if res.status != md.Status.COMPLETED:
        raise RuntimeError(f"{name} did not complete: {res.status} {res.manifest.message}")
    normal = res.manifest.case
    return {"case": name, "resolution": normal["geometry"]["resolution"],
            "nonorthogonal": (res.manifest.solver or {}).get("nonorthogonal", "none"),
            "cells": res.manifest.mesh.cells, "cpu_s": cpu_s,
            "headline": HEADLINES[name.removesuffix("_3d")](res)}


def case_file(name: str, case_dir: Path = CASES) -> Path:
    """cases/NAME.toml in `case_dir`, or an error that names what is missing and how to point at it."""
    path = Path(case_dir) / f"{name}.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: bio_twins runs the shipped cases of a source "
                                f"checkout; give their folder with --case-dir")
    return path


def run(name: str, resolution: float | None = None, nonorthogonal: str | None = None,
        case_dir: Path = CASES) -> dict:
    """One case of `case_dir`, at its own settings unless given, as a table row (`row`)."""
    import microdomain as md

    changes = {"geometry.resolution": resolution, "solver.nonorthogonal": nonorthogonal}
    changes = {k: v for k, v in changes.items() if v is not None}
    case = md.load_case(case_file(name, case_dir))
    case = case.replace(changes) if changes else case
    start = time.process_time()
    res = md.Simulation(case).run(log_level="WARNING")
    return row(name, res, time.process_time() - start)


def comparison(twin: str, resolutions: list[float], nonorthogonal: str | None = None,
               case_dir: Path = CASES) -> list[dict]:
    """The (r, z) twin as shipped, then its 3D case at each resolution."""
    return [run(twin, case_dir=case_dir)] + [run(PAIRS[twin], res, nonorthogonal, case_dir)
                                             for res in resolutions]


def differences(rows: list[dict]) -> list[dict[str, float]]:
    """Per 3D row, each headline's relative difference from the (r, z) row (the first)."""
    ref = rows[0]["headline"]
    return [{k: v / ref[k] - 1.0 for k, v in row["headline"].items()} for row in rows[1:]]


AGREE = 0.01    # below 1 % the runs agree: the (r, z) twins themselves are within 1 % of their
                # converged solution (docs/geometry.md, "The 3D meshes against their (r, z) twins")


def _number(v: float) -> str:
    return f"{v:.3g}" if 0.01 <= abs(v) < 1e4 else f"{v:.2e}"


def _percent(x: float, sign: str = "+") -> str:
    text = f"{100 * x:{sign}.1f} %"
    return "0.0 %" if text.lstrip("+-") == "0.0 %" else text


def verdict(diff: float, apart: float) -> str:
    """How a 3D run's difference from (r, z) compares with the 3D mesh's estimated error."""
    if abs(diff) < AGREE:
        return "agree (< 1 %)"
    return "within" if abs(diff) <= abs(apart) else "beyond"


def markdown(rows: list[dict], cpu: bool = True) -> str:
    """The comparison as a Markdown table: the (r, z) value, each 3D value with its difference
    from it; with two 3D runs, how far apart they are (the 3D mesh's discretisation error, as
    estimated by the change of resolution) and the first one's `verdict`; the last line the cells (and, with `cpu`, the CPU seconds of each run)."""
    flat, solids = rows[0], rows[1:]
    spread = len(solids) == 2
    head = ["quantity", f"(r, z), resolution {flat['resolution']:g}"]
    head += [f"3D, resolution {r['resolution']:g} ({r['nonorthogonal']})" for r in solids]
    head += ["3D resolutions apart", "verdict"] if spread else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    diffs = differences(rows)
    for k, v in flat["headline"].items():
        cells = [k, _number(v)] + [f"{_number(r['headline'][k])} ({_percent(d[k])})"
                                   for r, d in zip(solids, diffs)]
        if spread:
            apart = solids[1]["headline"][k] / solids[0]["headline"][k] - 1.0
            cells += [_percent(abs(apart), ""), verdict(diffs[0][k], apart)]
        lines.append("| " + " | ".join(cells) + " |")
    last = [f"{r['cells']}" + (f" ({r['cpu_s']:.0f} s)" if cpu else "") for r in rows]
    last += ["", ""] if spread else []
    lines.append(f"| cells{' (CPU s)' if cpu else ''} | " + " | ".join(last) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(PAIRS))
    ap.add_argument("--resolutions", default="2,3",
                    help="3D mesh resolutions (default: 2, as shipped, and 3, coarser)")
    ap.add_argument("--nonorthogonal", default=None, help="none or correct (default: the case's)")
    ap.add_argument("--case-dir", type=Path, default=CASES,
                    help="the folder of the shipped cases (default: the source checkout's cases/)")
    args = ap.parse_args(argv)
    unknown = [t for t in args.cases.split(",") if t not in PAIRS]
    if unknown:
        ap.error(f"--cases: {', '.join(unknown)} not among {', '.join(PAIRS)}")
    for name in [n for twin in args.cases.split(",") for n in (twin, PAIRS[twin])]:
        try:
            case_file(name, args.case_dir)
        except FileNotFoundError as e:
            ap.error(str(e))
    resolutions = [float(x) for x in args.resolutions.split(",")]
    for twin in args.cases.split(","):
        print(f"### {twin}\n\n" + markdown(comparison(twin, resolutions, args.nonorthogonal, args.case_dir))
              + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
