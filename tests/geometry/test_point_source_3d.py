"""One open channel on the pm_punctum mesh, no buffer, steady state: on the 3D mesh the
concentration along and under the plasma membrane matches the half-space solution σ/(2πDr)
within 3 % at 20–100 nm (1.2 %, as docs/geometry.md says, measured); on the (r, z) mesh within
0.8 % at 10–200 nm.

The test asks about the discretisation on this mesh, so the cortical ER is made transparent
(every cell one compartment, no membrane faces): the cytosol under the PM is then a half-space
cut off by a bath (c = 0) on the outer walls. The bath adds a smooth harmonic term H to the
free-space solution; H is computed on the same mesh (Laplace with H = −σ/(2πD|x|) on the bath
faces), so the reference is σ/(2πDr) + H, the exact solution of the bounded problem up to the
(small, smooth) discretisation error of H itself."""

import dataclasses

import numpy as np
import scipy.sparse.linalg as spla

from microdomain.assembly import _transport, build_system
from microdomain.solver.membrane import evaluate_membrane
from microdomain.case import case_from_dict
from microdomain.units import current_to_molar_flow

D = 0.22            # µm²/ms
CURRENT = 0.2       # pA


def _bounded_point_source(built, variant: str):
    """(c, exact, r, domain) on the pm_punctum mesh of `variant`: the steady state of one
    0.2 pA channel with the ER transparent, and σ/(2πDr) + H (r from the pore)."""
    geometry = {"builder": "pm_punctum", "variant": variant, "resolution": 1.0,
                "extracellular": "boundary"}
    geo, domain = built("pm_punctum", variant=variant, resolution=1.0, extracellular="boundary")
    raw = {
        "case": {"name": "point_source"},
        "geometry": geometry,
        "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0 uM"}],
        "fluxes": [{"model": "channel_cluster", "surface": "pm_channel", "from": "outside",
                    "to": "cytosol", "params": {"channels": 1, "unitary_current": "0.2 pA"}}],
        "boundaries": [{"surface": "outer", "concentrations": {"Ca": "0 uM"}}],
        "time": {"end": "1 ms"},
    }
    case = case_from_dict(raw)
    merged = dataclasses.replace(domain, compartment_id=np.zeros(domain.n_cells, int))
    assert not merged.membrane_faces().any()
    system = build_system(case, merged)
    T, g = system.transport[0], system.boundary_rhs[0]
    source = evaluate_membrane(system, system.initial, 0.0, lambda b: True, None, False).inflow[0]
    sigma = current_to_molar_flow(CURRENT, 2)
    assert abs(source.sum() * merged.angle - sigma) < 1e-12 * sigma   # the whole channel flow enters

    lu = spla.splu(T.tocsc())
    c = lu.solve(g + source)
    pore = np.array([0.0, 0.0, case.geometry.gap][-merged.dim:])     # (r, z) or (x, y, z)
    bath = merged.surfaces["outer"]
    x_bath = np.asarray(merged.mesh.faceCenters)[:, bath.faces]
    r_bath = np.sqrt(np.sum((x_bath - pore[:, None]) ** 2, axis=0))
    T_H, g_H = _transport(merged, np.full(merged.n_cells, D),
                          [(bath.faces, -sigma / (2 * np.pi * D * r_bath))])
    assert abs(T_H - T).max() < 1e-12                               # the same operator
    H = lu.solve(g_H)

    x = merged.cell_centers
    r = np.sqrt(np.sum((x - pore[:, None]) ** 2, axis=0))
    return c, sigma / (2 * np.pi * D * r) + H, r, merged, sigma


def test_point_source_matches_the_half_space_solution(built):
    c, exact, r, merged, sigma = _bounded_point_source(built, "3d")
    shell = (r >= 0.020) & (r <= 0.100)
    under_pm = np.zeros(merged.n_cells, bool)
    for name in ("pm", "pm_punctum_patch"):
        under_pm[merged.surfaces[name].cells_a] = True
    err = c / exact - 1.0
    assert shell.sum() > 1000 and (shell & under_pm).sum() > 100
    assert np.abs(err[shell & under_pm]).max() < 0.03        # along the membrane
    assert np.abs(err[shell]).max() < 0.03                   # everywhere in the 20-100 nm shell
    # docs/geometry.md: "within 1.2 % everywhere in the 20–100 nm shell (3 % required)"
    assert round(100 * np.abs(err[shell]).max(), 1) <= 1.2, np.abs(err[shell]).max()
    # and the bath correction matters at this distance: the bare half-space is off by more
    halfspace = sigma / (2 * np.pi * D * r)
    assert np.abs(c[shell] / halfspace[shell] - 1).max() > 0.05


def test_point_source_on_the_axisymmetric_mesh_within_0_8_percent(built):
    # docs/geometry.md: the pm_punctum (r, z) mesh "matches the bounded half-space solution
    # within 0.8 % at 10–200 nm" (0.79 % measured)
    c, exact, r, merged, _ = _bounded_point_source(built, "axisymmetric")
    assert merged.cylindrical
    shell = (r >= 0.010) & (r <= 0.200)
    assert shell.sum() > 1000
    assert round(100 * np.abs(c[shell] / exact[shell] - 1).max(), 1) <= 0.8
