"""Order studies on the 3D Gmsh contact meshes (issue 15, item 2): a manufactured ion + buffer
pair in every compartment, passive permeabilities on every membrane (manufactured.ContactMMS),
solved on each builder's `variant = "3d"` mesh at several `resolution` levels.

h = (cell count)^(−1/3): `resolution` scales every mesh size, but the size field's caps and
the faceting of the curved membranes make the cell count the honest measure of refinement.

The issue's targets (observed order ≥ 1.8 in L2, ≥ 1.5 in max) are *target* rows: reported as
met or missed, not loosened. What each study must pass is a bound on the finest level's error
(the solution is the manufactured one to within a few per cent of its amplitude), so a broken
assembly or membrane flux still fails. The rows without a suffix are FiPy's two-point flux
alone (`solver.nonorthogonal = "none"`, set explicitly); the full run repeats every level with
the non-orthogonal correction (`"correct"`, solver/nonorthogonal.py), what the default "auto"
uses on these 3D meshes, to measure what it does to the order.
"""

from __future__ import annotations

import numpy as np

from .manufactured import ContactMMS, contact_manufactured_system, error_norms
from .studies import Row, StudyResult, build, fixed_dt, integrate, study

# the membranes of each builder's default 3D mesh, as (surface, from, to)
MEMBRANES = {
    "mam_contact": [("er_membrane", "er", "cytosol"), ("er_mam_patch", "er", "cytosol"),
                    ("omm", "ims", "cytosol"), ("omm_mam_patch", "ims", "cytosol"),
                    ("imm", "matrix", "ims")],
    "er_lysosome": [("er_membrane", "er", "cytosol"), ("er_contact_patch", "er", "cytosol"),
                    ("lysosome_membrane", "lysosome", "cytosol"),
                    ("lysosome_contact_patch", "lysosome", "cytosol")],
    "pm_punctum": [("pm", "cytosol", "extracellular"),
                   ("pm_punctum_patch", "cytosol", "extracellular"),
                   ("er_membrane", "er", "cytosol"), ("er_punctum_patch", "er", "cytosol")],
}
# a different amplitude per compartment, so [Ca] jumps across every membrane
SCALES = (("cytosol", 1.0), ("er", 0.6), ("ims", 0.8), ("matrix", 0.4), ("lysosome", 0.5),
          ("extracellular", 0.7))
CONTACT_MMS = ContactMMS(scales=SCALES)

# resolution levels: quick (default CI, two levels) and full (verify --full, four)
LEVELS = {"mam_contact": ([3.0, 2.0], [3.0, 2.0, 1.5, 1.0]),
          "er_lysosome": ([3.0, 2.0], [3.0, 2.0, 1.5, 1.0]),
          "pm_punctum": ([4.0, 2.0], [4.0, 3.0, 2.0, 1.0])}
TARGET_L2, TARGET_MAX = 1.8, 1.5
# what every level must meet: max-norm error of c at most this fraction of its amplitude a
BOUND_REL = 0.15


def studied_sizing(builder: str, variant: str) -> dict:
    """The tetrahedral 3D contacts as the order studies and the twin table were measured on:
    `cleft_cells = 0`, the sizing before issue 15 item 3 (patches at gap/2, graded through the
    cleft), so that the orders, cells and differences docs/ quotes stay true."""
    return {"cleft_cells": 0} if variant == "3d" and builder != "pm_punctum" else {}


def contact_case(builder: str, resolution: float, nonorthogonal: str = "none",
                 variant: str = "3d", mms: ContactMMS = CONTACT_MMS) -> dict:
    """The case the study solves: Ca and a buffer B in every compartment, a passive
    permeability on every membrane, two backward-Euler steps to 1 ms (exact in time)."""
    pair = mms.pair
    comps = sorted({c for _, a, b in MEMBRANES[builder] for c in (a, b)})
    return {
        "case": {"name": f"mms_{builder}"},
        "geometry": {"builder": builder, "variant": variant, "resolution": resolution,
                     **studied_sizing(builder, variant)},
        "species": [{"ion": "Ca", "D": f"{pair.D_c!r} um**2/ms", "initial": f"{pair.c0!r} uM"}],
        "buffers": [{"name": "B", "in": comps, "total": f"{pair.B_total!r} uM",
                     "D": f"{pair.D_B!r} um**2/ms",
                     "sites": [{"ion": "Ca", "kon": f"{pair.kon!r} /uM/ms",
                                "koff": f"{pair.koff!r} /ms"}]}],
        "fluxes": [{"model": "permeability", "surface": s, "from": a, "to": b,
                    "params": {"permeability": f"{mms.permeability!r} um/ms"}}
                   for s, a, b in MEMBRANES[builder]],
        "time": fixed_dt(0.5, 1.0),
        "solver": {"newton_tol": 1e-10, "nonorthogonal": nonorthogonal},
    }


def contact_errors(builder: str, resolution: float, nonorthogonal: str = "none",
                   variant: str = "3d") -> dict:
    """Errors of one solve: {"cells", "L2": (c, cb), "max": (c, cb), "quality"} in µM."""
    _, domain, system = build(contact_case(builder, resolution, nonorthogonal, variant))
    system = contact_manufactured_system(system, CONTACT_MMS)
    U, t, _ = integrate(system, 1.0)
    norms = error_norms(U, CONTACT_MMS.exact(domain, t), domain.volumes)
    return {"cells": domain.n_cells, "L2": [float(v) for v in norms["L2"]],
            "max": [float(v) for v in norms["max"]], "quality": domain.stats.get("quality", {})}


def observed_orders(builder: str, nonorthogonal: str, levels: list[float] | None = None) -> dict:
    """{"cells": [...], "errors": [contact_errors per level], (quantity, norm): order} of the
    manufactured solution with one `solver.nonorthogonal` at the full levels: the least-squares
    slope of log error against log h, h = cells^(−1/3), as the study rows compute it. For
    schemes the full study does not repeat (the symmetric one: docs/geometry.md, "Accuracy on
    the 3D meshes")."""
    levels = levels or LEVELS[builder][1]
    runs = [contact_errors(builder, res, nonorthogonal) for res in levels]
    log_h = np.log([r["cells"] ** (-1.0 / 3.0) for r in runs])
    out: dict = {"cells": [r["cells"] for r in runs], "errors": runs}
    for k, q in enumerate(("c", "cb")):
        for norm in ("L2", "max"):
            out[(q, norm)] = float(np.polyfit(log_h, np.log([r[norm][k] for r in runs]), 1)[0])
    return out


def _rows(runs: list[dict], label: str) -> list[Row]:
    hs = [r["cells"] ** (-1.0 / 3.0) for r in runs]
    rows = []
    for k, q in enumerate(("c (free ion)", "cb (bound buffer)")):
        for norm, name, target in (("L2", "L2(V)", TARGET_L2), ("max", "max", TARGET_MAX)):
            rows.append(Row(f"{q}{label}", name, "h = cells^(-1/3)", hs,
                            [r[norm][k] for r in runs], "target", target, None, "uM"))
    return rows


def _quality_note(runs: list[dict]) -> str:
    parts = []
    for r in runs:
        q = r["quality"].get("non_orthogonality_deg")
        if q:
            parts.append(f"{r['cells']} cells: mean {q['mean']:.1f}°, max {q['max']:.1f}°, "
                         f"{q['faces_above_45']} faces > 45°")
    return "non-orthogonality per level: " + "; ".join(parts) if parts else ""


def contact_study(builder: str, quick: bool) -> StudyResult:
    levels = LEVELS[builder][0 if quick else 1]
    runs = [contact_errors(builder, res) for res in levels]
    rows = _rows(runs, "")
    a = CONTACT_MMS.pair.a
    rows.append(Row("c (free ion), max error / amplitude a", "max rel.", "h = cells^(-1/3)",
                    [r["cells"] ** (-1.0 / 3.0) for r in runs],
                    [r["max"][0] / a for r in runs], "bound", tol=BOUND_REL))
    notes = [f"resolutions {levels}, cells {[r['cells'] for r in runs]}", _quality_note(runs)]
    if not quick:
        corrected = [contact_errors(builder, res, "correct") for res in levels]
        rows += _rows(corrected, ', nonorthogonal = "correct"')
    return StudyResult("", "", f"{builder}, variant 3d, resolution {levels}; ContactMMS "
                       "(every compartment, permeabilities, buffer).", rows,
                       notes=[n for n in notes if n])


@study("mms_mam_contact_3d", "MMS on the 3D MAM contact mesh (tetrahedra)")
def mms_mam_contact_3d(quick: bool) -> StudyResult:
    """cytosol, ER, IMS, matrix; permeabilities on er_membrane, er_mam_patch, omm,
    omm_mam_patch, imm."""
    return contact_study("mam_contact", quick)


@study("mms_er_lysosome_3d", "MMS on the 3D ER–lysosome contact mesh (tetrahedra)")
def mms_er_lysosome_3d(quick: bool) -> StudyResult:
    """cytosol, ER, lysosome; permeabilities on er_membrane, er_contact_patch,
    lysosome_membrane, lysosome_contact_patch."""
    return contact_study("er_lysosome", quick)


@study("mms_pm_punctum_3d", "MMS on the 3D ER–PM punctum mesh (extruded hexahedra + prisms)")
def mms_pm_punctum_3d(quick: bool) -> StudyResult:
    """cytosol, ER, extracellular space; permeabilities on pm, pm_punctum_patch, er_membrane,
    er_punctum_patch."""
    return contact_study("pm_punctum", quick)
